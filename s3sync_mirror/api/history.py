"""The history's Python API (docs/interface.md#history): ``log``, ``restore``,
``read_version``, ``manifest``, ``tag``, ``tags``. The CLI's ``log``, ``restore``, ``tag``
and ``tags`` call these; tables are pandas DataFrames."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..history import restore as restoring
from ..history import tags as tagging
from ..history import sources as timeline, versions
from ..core.clock import parse_when
from ..session import open_session
from .scope import data_paths, settings_at

LOG_COLUMNS = ["path", "version", "time", "author", "size", "checksum", "event", "where"]


def versions_of(path=".", paths=(), since=None, author=None, config=None) -> list:
    """The ``log`` rows (versions.Version), newest first."""
    settings = settings_at(path, config)
    scope = data_paths(settings, paths)
    with open_session(settings, writes=False) as s:
        every = timeline.gather(s)
    _check_known(settings, scope, every)
    return versions.select(every, scope, parse_when(since) if since else "", author or "")


def versions_with_deltas(path=".", paths=(), since=None, author=None, config=None,
                         limit: int = 0) -> tuple[list, dict]:
    """The ``log`` rows and, for the first ``limit`` (all when 0), what each version
    changed against the one before it: {(path, version): FileDiff or a message}."""
    from ..history import deltas

    settings = settings_at(path, config)
    scope = data_paths(settings, paths)
    with open_session(settings, writes=False) as s:
        every = timeline.gather(s)
        _check_known(settings, scope, every)
        rows = versions.select(every, scope, parse_when(since) if since else "", author or "")
        shown = rows[:limit] if limit else rows
        return rows, deltas.of(s, every, shown, settings.diff_keys)


def _check_known(settings, scope, every) -> None:
    """A path named to ``log`` must be in the history or in the data folder, as for
    ``status`` and ``restore``: a typo is an error (exit 2), not an empty history."""
    from ..core.errors import UsageError

    for item in scope:
        if item in ("", ".") or "*" in item or "?" in item:
            continue
        if any(versions.select([v], [item]) for v in every):
            continue
        if (settings.data_dir / item).exists():
            continue
        raise UsageError(f"{item}: matches no file of the history or of the data folder "
                         f"(paths are relative to the data folder; `s3sync-mirror log` "
                         f"lists the files the history knows)")


def log(path: str | os.PathLike = ".", paths=(), since=None, author=None, *, config=None):
    """Every version of the files under ``paths`` (all when empty) as a pandas DataFrame:
    path, version (1 = newest), time, author, size, checksum, event, where."""
    import pandas as pd

    rows = [v.as_json() for v in versions_of(path, paths, since, author, config)]
    return pd.DataFrame(rows, columns=LOG_COLUMNS)


def _chosen(s, paths, version, at, checksum, tag):
    every = timeline.gather(s)
    return restoring.choose(s, every, paths, version=version, at=parse_when(at, True) if at else "",
                            checksum=checksum or "", tag=tag or "")


def restore(paths, path: str | os.PathLike = ".", at=None, version=None, checksum=None,
            tag=None, to=None, *, pin=None, config=None) -> list[dict]:
    """Bring back versions (see ``restore --help``); returns one dict per file: path,
    version, checksum, what happened (restored, already, written) and where the replaced
    file was kept (or where ``to`` wrote it)."""
    settings = settings_at(path, config)
    scope = data_paths(settings, [paths] if isinstance(paths, (str, os.PathLike)) else paths)
    if pin is not None:  # the data a commit was made with: the tag its lock names
        from .pins import pin_tag

        tag = pin_tag(settings, str(pin))
    with open_session(settings, writes=True) as s:
        # chosen before prepare() publishes a killed run's history rows: as `log` lists
        # and numbers the versions (it writes nothing), so --version N is the N it showed
        chosen = _chosen(s, scope or [""], version, at, checksum, tag)
        s.prepare()
        done = restoring.to_dir(s, chosen, Path(to)) if to is not None \
            else restoring.into_folder(s, chosen)
    return [{"path": v.path, "version": v.version, "checksum": v.checksum, "done": what,
             "kept": kept} for v, what, kept in done]


def read_version(file, path: str | os.PathLike = ".", version=None, checksum=None, at=None,
                 *, config=None) -> bytes:
    """The bytes of one version of ``file`` (SHA-256 verified); the newest one when no
    selector is given."""
    settings = settings_at(path, config)
    (rel,) = data_paths(settings, [file])
    with open_session(settings, writes=False) as s:
        every = timeline.gather(s)
        v = versions.pick(every, rel, version=version, checksum=checksum or "",
                          at=parse_when(at, True) if at else "")
        if v is None:
            from ..core.errors import UsageError

            raise UsageError(f"{rel}: no such version; `log {rel}` lists them")
        return restoring.read(s, v)


def tag(name: str, message: str = "", path: str | os.PathLike = ".", *, config=None) -> int:
    """Freeze the remote's current state as tag ``name``; returns how many files it names."""
    with open_session(settings_at(path, config), writes=False) as s:
        return tagging.create(s, name, message)


def tags(path: str | os.PathLike = ".", *, config=None) -> list[dict]:
    with open_session(settings_at(path, config), writes=False) as s:
        return tagging.listing(s.remote)


def manifest(tag: Optional[str] = None, path: str | os.PathLike = ".", *, config=None):
    """A tag's manifest (or, without one, the live remote state) as a pandas DataFrame."""
    import pandas as pd

    from ..state import remotestate as remote_state, csvfiles as state

    with open_session(settings_at(path, config), writes=False) as s:
        if tag:
            return tagging.frame(s.remote, tag)
        files = remote_state.fetch(s.remote, s.statedir, use_cache=False,
                                   save_cache=False).files
    import io

    return pd.read_csv(io.BytesIO(state.render_versions(files, local=False)), dtype=str,
                       keep_default_na=False)
