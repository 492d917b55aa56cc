"""``diff()`` and ``diffs()``: what changed inside files between two versions the history
holds (docs/diff.md). The CLI's ``diff`` calls ``diffs``; each result is a FileDiff with
pandas DataFrames of the rows added, removed and the cells changed."""
from __future__ import annotations

import os
from typing import Iterable

from ..compare.files import compare
from ..compare.tables import key_for
from ..core.errors import UsageError
from ..history import sides as siding
from ..session import open_session
from .scope import data_paths, settings_at


def _keys(key) -> tuple:
    if key is None:
        return ()
    if isinstance(key, str):
        key = [key]
    return tuple(c.strip() for k in key for c in str(k).split(",") if c.strip())


def compare_entries(path: str, a, b, key=(), patterns=None):
    """One FileDiff from two side entries (either may be None: absent)."""
    old = a.read() if a is not None else None
    new = b.read() if b is not None else None
    return compare(path, old, new, key=_keys(key) or key_for(path, patterns),
                   old_label=a.label if a else "", new_label=b.label if b else "")


def diffs(paths: Iterable = (), path: str | os.PathLike = ".", old=None, new=None, key=None,
          *, config=None, changed_only: bool = True) -> tuple[bool, list]:
    """(whether a folder was asked about, [FileDiff, ...]) between ``old`` (default: the
    remote's live version) and ``new`` (default: this clone's file), for the files under
    ``paths`` (all when empty). Unchanged files are left out when ``changed_only``."""
    settings = settings_at(path, config)
    scope = data_paths(settings, list(paths))
    old, new = old or "remote", new or "local"
    with open_session(settings, writes=False) as s:
        sides = siding.Sides(s)
        a, b = sides.entries(old, scope), sides.entries(new, scope)
        lost = siding.missing(scope, a, b)
        if lost:
            raise UsageError(f"{', '.join(lost)}: on neither side ({siding.describe(old)}, "
                             f"{siding.describe(new)}); `log` lists what the history holds")
        folder = siding.is_folder(scope, a, b)
        out = []
        for p in sorted(set(a) | set(b)):
            ea, eb = a.get(p), b.get(p)
            if folder and changed_only and ea is not None and eb is not None and \
                    ea.checksum == eb.checksum:
                continue  # a folder lists what changed; one file is always compared
            d = compare_entries(p, ea, eb, key, settings.diff_keys)
            if d.status != "same" or not (folder and changed_only):
                out.append(d)
    return folder, out


def diff(file, path: str | os.PathLike = ".", old=None, new=None, key=None, *,
         config=None):
    """What changed in ``file`` from ``old`` to ``new`` (revision words: "local",
    "remote", ``{"version": 2}``, ``{"at": "2026-11-20"}``, ``{"checksum": "1a2b"}``,
    ``{"tag": "v1"}``; default: the remote's live version to this clone's file). The
    value has ``.added``, ``.removed`` (DataFrames of rows), ``.changed`` (DataFrame: key,
    column, old, new), ``.columns_added``, ``.columns_removed``, ``.summary``."""
    _folder, found = diffs([file], path, old, new, key, config=config, changed_only=False)
    if len(found) != 1:
        raise UsageError(f"{file}: names {len(found)} files; diff() compares one (use "
                         f"diffs() for a folder)")
    return found[0]
