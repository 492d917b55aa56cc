"""The remote state's log, the pure part (docs/state-files.md#the-state-log).

The remote state is a checkpoint, ``.S3/versions_remote.csv`` (complete, in the format
of docs/state-files.md), plus an ordered log of small commits after it, in the manner of
Delta Lake's ``_delta_log``: ``.S3/state_log/<id>/<n>.csv.gz``, where ``<id>`` names the checkpoint
(the start of the SHA-256 of its bytes) and ``n`` counts from 1. A writer commits by
creating entry ``n + 1`` only if it is absent, so two members never both commit ``n + 1``.
The entry that ends a log is *sealed*: the state after it is the next checkpoint, which
its writer (or, if the writer died, the next reader) puts in place of
``versions_remote.csv``, conditional on the old checkpoint's ETag.

An entry is a gzipped CSV: the state columns (File, Edited By, Time Edited, Checksum,
Size), ``ETag``, ``Mtime Ns``, then ``Change`` (``set``: the path is now this version;
``remove``: the path left the state, this being the version it had) and ``Ends`` (``checkpoint <id>`` on every row of a sealed entry: the
log id of the checkpoint that follows it). A checkpoint names its own log in a last column
``Log <id>`` (random, so a checkpoint whose rows come back never finds an old log); one
without it (written by hand, or by an older release) is named by its SHA-256.
"""
from __future__ import annotations

import csv
import io
import os
import re
from typing import Mapping, NamedTuple, Optional

from ..core.hashing import sha256_hex
from ..core import layout
from ..core.errors import StateError
from .csvfiles import writer
from ..core.model import FileState
from ..core.paths import unsafe_reason

HEADER = ("File", "Edited By", "Time Edited", "Checksum", "Size", "ETag", "Mtime Ns",
          "Change", "Ends")
SET, REMOVE, SEALED = "set", "remove", "checkpoint"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_INT = re.compile(r"-?\d+")
_ENTRY = re.compile(r"(\d{10})\.csv\.gz")
_LOG = re.compile(r"[0-9a-f]{32}")
_FIX = ("Nothing was changed. Run `python -m s3sync_mirror reset --remote` to rebuild the "
        "remote state from the files themselves.")


def _knob(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


# A checkpoint of at most this many files is rewritten by every commit (cheap, and the
# remote's versions_remote.csv is then always current); above it, every CHECKPOINT_EVERY
# entries, or once the log holds a tenth as many rows as the checkpoint.
CHECKPOINT_FILES = _knob("S3SYNC_CHECKPOINT_FILES", 20_000)
CHECKPOINT_EVERY = _knob("S3SYNC_CHECKPOINT_EVERY", 100)
KEEP_OLD_LOGS_NS = _knob("S3SYNC_KEEP_OLD_LOGS_S", 3600) * 1_000_000_000


class Pos(NamedTuple):
    """Where a reader is: the checkpoint (its ETag and how many files it lists), how many
    log entries after it were applied, and how many rows they held."""

    etag: str
    log: str  # the checkpoint's log id (log_id of its bytes)
    n: int = 0
    base_files: int = 0
    rows: int = 0
    sealed: bool = False  # entry n ends the log: the next checkpoint is due
    next_log: str = ""  # when sealed: the log id the next checkpoint names

    @property
    def token(self) -> str:
        """The version of the state, compared by the quick no-change check."""
        return f"{self.etag}#{self.log}#{self.n}"

    @classmethod
    def parse(cls, token: Optional[str]) -> Optional["Pos"]:
        parts = (token or "").rsplit("#", 2)
        if len(parts) != 3 or not parts[0] or not parts[2].isdigit():
            return None
        return cls(parts[0], parts[1], int(parts[2]))


def log_id(checkpoint: bytes) -> str:
    """The id of the log that follows a checkpoint with these bytes: its ``Log <id>``
    column, else (a file without it) the start of its SHA-256."""
    first = checkpoint[:checkpoint.find(b"\n")].decode("utf-8", "replace").rstrip("\r")
    last = first.rsplit(",", 1)[-1]
    if last.startswith("Log ") and _LOG.fullmatch(last[4:]):
        return last[4:]
    return sha256_hex(checkpoint)[:32]


def new_log() -> str:
    return os.urandom(16).hex()


def log_root(log: str) -> str:
    return f"{layout.STATE_LOG_ROOT}/{log}"


def entry_key(log: str, n: int) -> str:
    return f"{log_root(log)}/{n:010d}.csv.gz"


def entry_number(name: str) -> Optional[int]:
    """The entry number of a file name in a log folder (None: not an entry)."""
    m = _ENTRY.fullmatch(name.rsplit("/", 1)[-1])
    return int(m.group(1)) if m else None


def following(numbers, n: int) -> list:
    """The entry numbers that follow ``n`` without a gap (a gap ends the log: an entry
    can only be written by a member who read the one before it)."""
    out, want = [], n + 1
    for k in sorted(set(numbers)):
        if k == want:
            out.append(k)
            want += 1
        elif k > want:
            break
    return out


def seals(pos: Pos, changed: int) -> bool:
    """Whether the entry after ``pos`` with ``changed`` rows ends the log."""
    return (pos.base_files <= CHECKPOINT_FILES or pos.n + 1 >= CHECKPOINT_EVERY
            or pos.rows + changed >= max(1000, pos.base_files // 10))


def diff(old: Mapping[str, FileState], new: Mapping[str, FileState]) -> dict:
    """{path: new state, or None when it left} for every path that differs."""
    out = {p: st for p, st in new.items() if old.get(p) != st}
    out.update({p: None for p in old if p not in new})
    return out


def apply(files: dict, changes: Mapping[str, Optional[FileState]]) -> None:
    for p, st in changes.items():
        if st is None:
            files.pop(p, None)
        else:
            files[p] = st


def render(changes: Mapping[str, Optional[FileState]], before: Mapping[str, FileState],
           next_log: str = "") -> bytes:
    """One entry: ``changes`` over ``before`` (the state it applies to), gzipped CSV;
    ``next_log``: the entry ends the log, and the next checkpoint's log has this id."""
    out = io.StringIO()
    write = writer(out)
    write(HEADER)
    ends = f"{SEALED} {next_log}" if next_log else ""
    for p in sorted(changes):
        st, change = changes[p], SET
        if st is None:
            st, change = before[p], REMOVE
        write((p, st.edited_by, st.time_edited, st.checksum, st.size, st.etag,
               st.mtime_ns, change, ends))
    import gzip

    return gzip.compress(out.getvalue().encode("utf-8"), compresslevel=6, mtime=0)


def _row(name: str, i: int, row: list) -> tuple:
    where = f"{name}: line {i}"
    if len(row) != len(HEADER):
        raise StateError(f"{where}: {len(row)} fields, expected {len(HEADER)}. {_FIX}")
    path, who, when, checksum, size, etag, mtime, change, ends = row
    why = unsafe_reason(path)
    if why is not None:
        raise StateError(f"{where}: the path {path!r} {why}. {_FIX}")
    if not _HEX64.fullmatch(checksum) or not size.isdigit() or not _INT.fullmatch(mtime):
        raise StateError(f"{where}: a malformed Checksum, Size or Mtime Ns. {_FIX}")
    sealed, _, nxt = ends.partition(" ")
    if change not in (SET, REMOVE) or (ends and (sealed != SEALED or not _LOG.fullmatch(nxt))):
        raise StateError(f"{where}: unknown Change {change!r} or Ends {ends!r}. {_FIX}")
    st = FileState(checksum, int(size), who, when, int(mtime), etag)
    return path, (st if change == SET else None), nxt


def parse(data: bytes, name: str) -> tuple[dict, str]:
    """(changes, the next checkpoint's log id when the entry ends the log, else "") of one
    entry; a damaged entry is named, never guessed at."""
    import gzip

    try:
        text = gzip.decompress(data).decode("utf-8")
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise StateError(f"{name}: not a gzipped UTF-8 CSV ({exc}). {_FIX}") from None
    if not rows or tuple(rows[0]) != HEADER:
        raise StateError(f"{name}: the header is not {','.join(HEADER)}. {_FIX}")
    changes, ends = {}, set()
    for i, row in enumerate(rows[1:], start=2):
        path, st, nxt = _row(name, i, row)
        if path in changes:
            raise StateError(f"{name}: line {i}: {path!r} is listed twice. {_FIX}")
        changes[path] = st
        ends.add(nxt)
    if len(ends) > 1 or not changes:
        problem = "no rows" if not changes else "Ends differs by row"
        raise StateError(f"{name}: {problem}. {_FIX}")
    return changes, ends.pop()
