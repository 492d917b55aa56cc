"""The Python API of metadata, marks, sparse selection, the store and ``info``
(docs/metadata.md#python-api): ``files``, ``set_meta``, ``get_meta``, ``import_meta``,
``mark``, ``store``, ``info`` (exported), and ``sparse_change``, ``holds``, ``file_rows``,
``change_meta`` for the CLI, whose commands call these."""
from __future__ import annotations

import os

from ..meta import files as filesview, marks, shared as metadata, sidecars, selection as sparse
from ..core import typed
from ..core.clock import now_iso
from ..core.errors import UsageError
from ..meta.shared import MetadataConflict
from ..core.paths import unsafe_reason
from ..session import open_session
from .scope import data_paths, settings_at

PathLike = str | os.PathLike


def _one(settings, file) -> str:
    scope = data_paths(settings, [file])
    if len(scope) != 1 or unsafe_reason(scope[0]) is not None:
        raise UsageError(f"{file}: name one file of the data folder (e.g. raw/a.csv)")
    return scope[0]


def file_rows(path: PathLike = ".", paths=(), status=None, conditions=(), *, config=None,
              out=None) -> tuple[list, list]:
    """(columns, rows) of the files table (see ``files``)."""
    settings = settings_at(path, config)
    scope = data_paths(settings, paths)
    with open_session(settings, writes=False, out=out) as s:
        return filesview.table(s, scope, status, conditions)


def files(path: PathLike = ".", paths=(), status=None, *, config=None, **where):
    """The files of the remote and this clone merged, as a pandas DataFrame: File, Edited
    By, Time Edited, Checksum, Size, status, then one column per metadata key and per
    mark. ``status``: one of ``filesview.STATUSES``; ``where``: KEY=value (compared as
    the kept value's type; None: not set) or KEY=predicate."""
    import pandas as pd

    from ..ui.report import Reporter

    columns, rows = file_rows(path, paths, status, typed.filters((), where), config=config,
                              out=Reporter(json=True))
    frame = pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object)
                          for c in columns}, columns=columns)
    if rows:
        frame["Size"] = frame["Size"].astype("int64")
    return frame


def change_meta(file, changes: dict, path: PathLike = ".", *, config=None):
    """(what was written, the file's metadata now); ``changes`` {key: value or None}."""
    settings = settings_at(path, config)
    rel = _one(settings, file)
    with open_session(settings, writes=False) as s:
        _must_exist(s, rel)
        at = now_iso()
        wanted = {typed.check_key(k): None if v is None else metadata.entry(v, s.user, at)
                  for k, v in changes.items()}
        done = metadata.write(s.remote, s.statedir, {rel: wanted})
        return done, metadata.values(metadata.seen(s.statedir)[0], rel)


def _must_exist(s, rel: str) -> None:
    from ..state import remotestate as remote_state

    if s.data_dir.joinpath(*rel.split("/")).is_file():
        return
    if rel in remote_state.fetch(s.remote, s.statedir, save_cache=False).files:
        return
    raise UsageError(f"{rel}: no such file here or on the remote (paths are relative to "
                     f"the data folder)")


def set_meta(file, path: PathLike = ".", *, config=None, **values) -> dict:
    """Set shared metadata on ``file`` (a value of None removes the key); returns its
    metadata now. Raises MetadataConflict for keys a teammate changed since this clone
    last read them (the other keys are written)."""
    from ..ui import metaview as metareport

    done, now = change_meta(file, values, path, config=config)
    if done.conflicts:
        raise MetadataConflict(metareport.conflict_text(done.conflicts), done.conflicts)
    return now


def get_meta(file, path: PathLike = ".", *, config=None) -> dict:
    """The shared metadata of ``file`` as on the remote now ({key: typed value}); what it
    shows counts as seen by this clone."""
    settings = settings_at(path, config)
    rel = _one(settings, file)
    with open_session(settings, writes=False) as s:
        files, _ = metadata.fetch(s.remote, s.statedir, save=True)
        return metadata.values(files, rel)


def import_meta(path: PathLike = ".", paths=(), *, config=None) -> tuple:
    """Read the sidecar files ``name.ext.meta.json`` under ``paths`` (default: the whole
    data folder) into the shared metadata; returns (sidecars read, Written, warnings)."""
    settings = settings_at(path, config)
    scope = data_paths(settings, paths)
    with open_session(settings, writes=False) as s:
        kept, _ = metadata.fetch(s.remote, s.statedir)
        changes, warnings, read = sidecars.gather(s.data_dir, s.ignored(), kept, s.user,
                                                  now_iso(), scope)
        done = metadata.write(s.remote, s.statedir, changes) if changes \
            else metadata.Written()
    return read, done, warnings


def import_mmmeta(path: PathLike = ".", *, config=None) -> tuple:
    """Read what mmmeta left (meta/mmmeta.py) into the shared metadata and the team store;
    returns (metadata files and db rows read, Written, warnings, store keys set). A store
    key the team store already has is left as it is."""
    from ..meta import mmmeta, store as teamstore

    settings = settings_at(path, config)
    with open_session(settings, writes=False) as s:
        kept, _ = metadata.fetch(s.remote, s.statedir)
        changes, values, warnings, read = mmmeta.changes(
            s.data_dir, s.ignored(), settings.repo_root, kept, s.user, now_iso())
        done = metadata.write(s.remote, s.statedir, changes) if changes \
            else metadata.Written()
        have = teamstore.read(s.remote) if values else {}
        stored = []
        for key, value in values.items():
            if key not in have:
                teamstore.put(s.remote, key, value, s.user)
                stored.append(key)
    return read, done, warnings, stored


def mark(file, path: PathLike = ".", *, config=None, **flags) -> dict:
    """Set this clone's own marks on ``file`` (None removes one); returns its marks now.
    Marks stay in this clone's ``.S3/marks.json``: never uploaded."""
    settings = settings_at(path, config)
    rel = _one(settings, file)
    from ..state.clonestate import StateDir

    statedir = StateDir(settings.data_dir, read_only=True)
    known = settings.data_dir.joinpath(*rel.split("/")).is_file() or \
        rel in (statedir.load_remote_copy() or {}) or rel in statedir.load_baseline()
    if not known:
        raise UsageError(f"{rel}: no such file here or in the remote state as last read "
                         f"(sync first, or check the path)")
    return marks.set_marks(statedir.layout, rel, flags)


def store(path: PathLike = ".", *, config=None):
    """The team store: a mutable mapping of typed values with ``.touch(key)``."""
    from ..meta.store import TeamStore

    return TeamStore(settings_at(path, config))


def sparse_change(patterns=(), where=(), *, add=False, off=False, path: PathLike = ".",
                  config=None, out=None) -> tuple:
    """Set (or ``add`` to, or turn ``off``) this clone's sparse selection; returns (what
    was done, the rules now). See selecting.apply."""
    from . import sparse as selecting
    from ..core.layout import Layout

    settings = settings_at(path, config)

    current = sparse.load(Layout(settings.data_dir))
    if add and current is None:
        raise UsageError("this clone holds every file: `sparse set PATTERN...` chooses "
                         "what it holds")
    new = None if off else sparse.changed(current, patterns, where, add=add)
    done = selecting.apply(settings, new, out=out)
    return done, [] if new is None else [r.shown() for r in new.rules]


def holds(path: PathLike = ".", *, config=None) -> dict:
    """What this clone holds: its selection and how much of the remote it selects."""
    from ..meta.info import holds_of

    with open_session(settings_at(path, config), writes=False) as s:
        return holds_of(s)


def info(path: PathLike = ".", *, config=None) -> dict:
    """A summary of the remote and of this clone (the ``info --json`` object)."""
    from ..meta import info as summary

    with open_session(settings_at(path, config), writes=False) as s:
        return summary.gather(s)


__all__ = ["files", "set_meta", "get_meta", "import_meta", "mark", "store", "info",
           "MetadataConflict"]
