"""The [d]iff answer at a conflict prompt: a unified diff (difflib) of the file on disk
against the remote version, for text files (CSV included) up to 1 MiB, at most 40 lines.

The remote version comes from a ``fetch_remote(path) -> bytes | None`` callable the caller
passes in: this module imports no cloud client. Nothing here writes anything.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Callable, Optional

from ..core.textbytes import as_text  # noqa: F401  (also this module's name for it)
from ..core.hashing import sha256_hex

MAX_BYTES = 1 << 20  # larger than this on either side: no diff
MAX_LINES = 40  # diff lines shown (headers included); the rest is counted
NO_DIFF = "binary or large file: no diff"


def unified(path: str, local: Optional[bytes], remote: Optional[bytes], *,
            limit: int = MAX_LINES) -> list[str]:
    """Diff lines from the local version (``-``) to the remote one (``+``); a side that is
    None (deleted) is ``/dev/null``, as git shows it. At most ``limit`` lines, then a line
    counting the rest."""
    if any(d is not None and len(d) > MAX_BYTES for d in (local, remote)):
        return [NO_DIFF]
    texts = []
    for data in (local, remote):
        text = "" if data is None else as_text(data)
        if text is None:
            return [NO_DIFF]
        texts.append(text)
    lines = list(difflib.unified_diff(
        texts[0].splitlines(), texts[1].splitlines(),
        fromfile=f"local/{path}" if local is not None else "/dev/null",
        tofile=f"remote/{path}" if remote is not None else "/dev/null", lineterm=""))
    if not lines:
        return ["no line differs: only the line endings or the encoding do"]
    if len(lines) > limit:
        rest = len(lines) - limit
        lines = lines[:limit] + [f"... {rest} more line{'s' if rest != 1 else ''} not shown"]
    return lines


def _read_local(file: Path) -> bytes:
    with open(file, "rb") as f:
        return f.read(MAX_BYTES + 1)


def conflict_diff(action, data_dir, fetch_remote: Optional[Callable],
                  tables=None) -> list[str]:
    """The lines to show for [d]iff on the conflict ``action``: the file as it is on disk
    under ``data_dir`` against the remote version ``fetch_remote(path)`` returns. Sizes
    are checked before anything is read or fetched. ``tables`` (history/conflictview.py's
    TableView, given by the caller) adds, for a table, what each side changed in rows."""
    table = []
    if tables is not None and tables.handles(action.path):
        table = _table_lines(action, data_dir, fetch_remote, tables)
    return table + _text_lines(action, data_dir, fetch_remote)


def _table_lines(action, data_dir, fetch_remote, tables) -> list[str]:
    limit = getattr(tables, "MAX_BYTES", 256 << 20)
    if data_dir is None or any(side is not None and side.size > limit
                               for side in (action.local, action.remote)):
        return []
    try:
        local = Path(data_dir).joinpath(*action.path.split("/")).read_bytes() \
            if action.local is not None else None
        remote = fetch_remote(action.path) if action.remote is not None and fetch_remote \
            else None
        return tables.lines(action, local, remote)
    except Exception as exc:  # a table view is a help: say why it is missing, go on
        return [f"no table view: {exc}"]


def _text_lines(action, data_dir, fetch_remote) -> list[str]:
    loc, rem = action.local, action.remote
    if any(side is not None and side.size > MAX_BYTES for side in (loc, rem)):
        return [NO_DIFF]
    notes = []
    local = remote = None
    if loc is not None:
        if data_dir is None:
            return ["no diff: the local file is not known here"]
        try:
            local = _read_local(Path(data_dir).joinpath(*action.path.split("/")))
        except OSError as exc:
            return [f"no diff: cannot read the local file ({exc.strerror or exc})"]
        if len(local) <= MAX_BYTES and sha256_hex(local) != loc.checksum:
            notes.append("note: the local file changed since the plan was made; "
                         "this is its content now")
    if rem is not None:
        if fetch_remote is None:
            return ["no diff: the remote version cannot be fetched here"]
        try:
            remote = fetch_remote(action.path)
        except Exception as exc:  # a network or permission error: say it, ask again
            return [f"no diff: cannot fetch the remote version ({exc})"]
        if remote is None:
            return ["no diff: the remote version is gone (deleted since the plan was made?)"]
        if len(remote) <= MAX_BYTES and sha256_hex(remote) != rem.checksum:
            notes.append("note: the remote version changed since the plan was made; "
                         "this is its content now")
    return notes + unified(action.path, local, remote)
