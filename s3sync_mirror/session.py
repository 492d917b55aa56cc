"""The one context every command opens: the settings, the ``.S3`` layout, this clone's
lock and state folder, the remote connection, the run's clock stamp and the reporter.
``sync``, ``status`` and ``reset`` start here."""
from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from .core.records import dataclass
from functools import cached_property

from .state import historyindex as history
from .core import layout
from .ui import report
from .core.clock import run_stamp
from .core.errors import ConfigError
from .core.layout import Layout
from .options import DEFAULT_JOBS
from .platforms import connect
from .platforms.base import DataPlatformConnection
from .ui.report import Reporter
from .pipeline.scan import ignore_matcher
from .state.clonestate import StateDir


@dataclass
class Session:
    """One run's settings, local state, remote connection and output."""

    settings: object  # config.Settings
    layout: Layout
    statedir: StateDir
    remote: DataPlatformConnection
    out: Reporter
    stamp: str  # when the session started, UTC: 20261121T140305Z
    jobs: int = DEFAULT_JOBS
    writes: bool = True  # False for status and --dry-run: not even a cache is written

    @property
    def user(self) -> str:
        return self.settings.user

    @property
    def data_dir(self):
        return self.settings.data_dir

    def new_run(self) -> str:
        """A fresh name for one pass of execution: its archive and trash folder. Never
        reused, so no archived copy is ever overwritten."""
        return layout.run_name(self.stamp, self.user, os.urandom(3).hex())

    def prepare(self) -> None:
        """Make the local state folder ready for a run that writes, and drop the partial
        downloads a killed run left behind."""
        if self.writes:
            self.statedir.ensure()
            self.statedir.clean_tmp()
            if self.layout.history_pending.exists():  # a killed run's history rows
                history.recover(self.remote, self.statedir)

    @cached_property
    def owner(self) -> str:
        """The mark of this clone's baseline: this remote, this clone, this folder."""
        return layout.baseline_owner(self.remote.describe(), self.statedir.clone_id(),
                                     self.data_dir)

    def check_prefix(self) -> None:
        """Stop (ConfigError, exit 2) when this clone's baseline was made for another remote
        prefix than the config names now (a clone copied to a folder of another name under
        ``namespace: MIRROR``, a changed namespace): syncing on would start an empty remote
        and fork the team's data. Records the prefix when nothing is recorded yet."""
        prefix = getattr(self.settings, "prefix", None)
        if prefix is None:
            return
        recorded = self.statedir.recorded_prefix()
        if recorded == prefix:
            return
        if recorded is not None and self.layout.versions_local.exists():
            raise ConfigError(report.another_prefix(self.layout.versions_local, recorded,
                                                    prefix))
        if self.writes:
            self.statedir.record_prefix(prefix)

    def load_baseline(self) -> dict:
        self.check_prefix()
        base = self.statedir.load_baseline(self.owner)
        if self.statedir.foreign_baseline:
            self.out.warn(report.foreign_baseline(self.layout.versions_local))
        return base

    @cached_property
    def _patterns(self) -> list[str]:
        """The team's patterns (s3sync_mirror.yml ``ignore``), then this clone's own."""
        return [*getattr(self.settings, "ignore", ()), *self.statedir.ignore_patterns()]

    @cached_property
    def selection(self):
        """This clone's sparse selection (meta/selection.py), or None when it holds everything."""
        if not self.layout.sparse.exists():  # the usual case: no need to load the module
            return None
        from .meta import selection as sparse

        return sparse.load(self.layout)

    @cached_property
    def metadata(self) -> tuple:
        """The team's shared metadata as on the remote now: ({path: {key: entry}}, ETag)."""
        from .meta import shared as metadata

        return metadata.fetch(self.remote, self.statedir)

    @cached_property
    def _outside(self) -> tuple:
        """(a matcher for the paths outside the sparse selection or None, its signature)."""
        sel = self.selection
        if sel is None:
            return None, ""
        files, etag = self.metadata if sel.uses_metadata else ({}, "")
        return sel.outside(files), sel.signature(etag)

    def outside(self):
        """True for a path outside this clone's sparse selection (None: holds all)."""
        return self._outside[0]

    @cached_property
    def _matcher(self):
        ignored, outside = ignore_matcher(self._patterns), self.outside()
        if outside is None or ignored is None:
            return ignored or outside
        return lambda path: ignored(path) or outside(path)

    def ignore_patterns(self) -> list[str]:
        """This clone's ignore patterns (read once per session); a sparse selection adds
        a comment naming its signature, so the quick no-change check sees it change."""
        sig = self._outside[1]
        return [*self._patterns, f"# sparse selection {sig}"] if sig else self._patterns

    def ignored(self):
        """A matcher for what this session leaves alone on every side: the ignored paths
        and those outside the sparse selection (docs/metadata.md#sparse-selection); None
        when there are none."""
        return self._matcher


@contextmanager
def open_session(settings, *, writes: bool = True, jobs: int = DEFAULT_JOBS,
                 out: Reporter | None = None):
    """Lock this clone (when the command writes), connect to the remote, and yield the
    session; the connection is closed and the lock released on the way out."""
    statedir = StateDir(settings.data_dir, read_only=not writes)
    with connect(settings, jobs=jobs) as remote:
        if writes and not statedir.root.exists():
            # A first run here: reach the remote before making anything locally, so a
            # missing bucket or an unreachable server leaves the clone as it was.
            next(iter(remote.list(layout.STATE_DIR + "/")), None)
        if writes:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        with statedir.run_lock() if writes else nullcontext():
            yield Session(settings=settings, layout=statedir.layout, statedir=statedir,
                          remote=remote, out=out or Reporter(), stamp=run_stamp(),
                          jobs=jobs, writes=writes)
