"""The baseline's changes since it was last written whole (docs/state-files.md).

A baseline of more than ``statelog.CHECKPOINT_FILES`` files is not rewritten by a sync
that changes a few of them: ``versions_local.csv`` stays as it is, and
``versions_local.changes.csv`` holds every row changed since, each with ``Change`` (``set``
or ``remove``) and ``Of`` (the signature of the ``versions_local.csv`` it applies to: a
changes file left from before the last whole rewrite is never applied). Once it holds a
tenth as many rows as the baseline, the baseline is written whole again.

The signature is (size, mtime, inode): every whole rewrite makes a new file (a new inode),
while a chmod or a new hard link, which move only the ctime, does not orphan the changes.
"""
from __future__ import annotations

import csv
import io
import os
from typing import Mapping, Optional

from ..core.hashing import sha256_hex
from ..core.errors import StateError
from ..core.model import FileState
from ..core.paths import unsafe_reason
from .csvfiles import COLUMNS, LOCAL_EXTRA, writer

HEADER = (*COLUMNS, *LOCAL_EXTRA, "Change", "Of")
SET, REMOVE = "set", "remove"
MIN_ROWS = int(os.environ.get("S3SYNC_BASELINE_CHANGES", "1000") or 1000)
_FIX = ("Nothing was changed. Delete that file (the next sync checks the files it listed "
        "again), or run `python -m s3sync_mirror reset`.")


def too_many(changed: int, total: int) -> bool:
    """Whether the baseline is to be written whole rather than as its changes."""
    return changed > max(MIN_ROWS, total // 10)


def of(sig: Optional[tuple]) -> str:
    """The name of a ``versions_local.csv`` by its statecache signature (size, mtime,
    ctime, inode), the ctime left out."""
    size, mtime, _ctime, inode = sig or (0, 0, 0, 0)
    return sha256_hex(repr((size, mtime, inode)).encode())[:16]


def render(changes: Mapping[str, Optional[FileState]], owner: str, base_of: str) -> bytes:
    out = io.StringIO()
    write = writer(out)
    write(HEADER)
    for p in sorted(changes):
        st = changes[p]
        if st is None:
            write((p, "", "", "", 0, -1, "", "", "", "", owner, REMOVE, base_of))
            continue
        node = st.node or ("", "", "")
        write((p, st.edited_by, st.time_edited, st.checksum, st.size, st.mtime_ns,
               st.etag, *node, owner, SET, base_of))
    return out.getvalue().encode("utf-8")


def _int(text: str, where: str) -> int:
    try:
        return int(text) if text else -1
    except ValueError:
        raise StateError(f"{where}: {text!r} is not a whole number. {_FIX}") from None


def _row(row: list, where: str) -> tuple:
    if len(row) != len(HEADER):
        raise StateError(f"{where}: {len(row)} fields, expected {len(HEADER)}. {_FIX}")
    path, who, when, checksum, size, mtime, etag, ctime, inode, dev, owner, change, _ = row
    why = unsafe_reason(path)
    if why is not None:
        raise StateError(f"{where}: the path {path!r} {why}. {_FIX}")
    if change == REMOVE:
        return path, None, owner
    if change != SET or len(checksum) != 64 or not size.isdigit():
        raise StateError(f"{where}: a malformed Checksum, Size or Change. {_FIX}")
    node = (_int(ctime, where), _int(inode, where), _int(dev, where)) if ctime else ()
    return path, FileState(checksum, int(size), who, when, _int(mtime, where), etag,
                           node), owner


def parse(data: bytes, name: str, base_of: str) -> tuple[dict, set]:
    """({path: FileState or None for removed}, owners) of a changes file that applies to
    the baseline named ``base_of``; ({}, set()) when it applies to another one."""
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise StateError(f"{name}: not a UTF-8 CSV ({exc}). {_FIX}") from None
    if not rows or tuple(rows[0]) != HEADER:
        raise StateError(f"{name}: the header is not {','.join(HEADER)}. {_FIX}")
    if len(rows) == 1 or rows[1][-1:] != [base_of]:
        return {}, set()
    changes, owners = {}, set()
    for i, row in enumerate(rows[1:], start=2):
        path, st, owner = _row(row, f"{name}: line {i}")
        if row[-1] != base_of:
            raise StateError(f"{name}: line {i}: Of differs from the first row's. {_FIX}")
        changes[path] = st
        owners.add(owner)
    return changes, owners
