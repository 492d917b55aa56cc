"""The .S3 state files (docs/state-files.md): read and validate the CSVs, write them atomically.

Every CSV starts with ``File,Edited By,Time Edited,Checksum,Size``; versions files may add
``Mtime Ns`` (local hash cache) and ``ETag`` (remote object version). A file that does not
parse or validate is named with its row and column, and nothing is guessed.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from typing import Iterable, Mapping, Optional

from ..core import paths
from ..core.errors import StateError, UnsafePathError
from ..core.diskio import write_atomic  # noqa: F401 (the state modules write through it)
from ..core.model import FileState

COLUMNS = ["File", "Edited By", "Time Edited", "Checksum", "Size"]
LOCAL_EXTRA = ["Mtime Ns", "ETag", "Ctime Ns", "Inode", "Device", "Baseline Of"]
REMOTE_EXTRA = ["ETag", "Mtime Ns"]
LOG_EXTRA = ["Where"]  # deleted_*.csv: where the deleted copy was kept (archive / trash)

_HEX64 = r"[0-9a-f]{64}"
_ISO = r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00))?"
_FIX = ("Nothing was changed. Restore the file, or run `python -m s3sync_mirror reset` "
        "to rebuild the sync state from the files themselves.")


def _frame(data: bytes, name: str):
    import pandas as pd  # lazy: only runs that read state pay for pandas

    if not data.strip():
        raise StateError(f"{name} is empty: it has no header. {_FIX}")
    try:
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False,
                           na_filter=False, encoding="utf-8", skipinitialspace=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StateError(f"{name} is not a readable CSV ({first}). {_FIX}") from None


def _fail(name: str, df, mask, column: str, problem: str):
    if mask.any():
        i = int(mask.to_numpy().nonzero()[0][0])
        value = df[column].iloc[i]
        raise StateError(f"{name}: line {i + 2}, column {column!r}: {problem} "
                         f"(found {value!r}). {_FIX}")


def _validate(df, name: str):
    """Check the columns shared by every state CSV; returns the NFC file names."""
    header = list(df.columns)
    if header[:len(COLUMNS)] != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        what = f"missing column(s) {missing}" if missing else f"columns out of order {header[:5]}"
        raise StateError(f"{name}: {what}; the header must start with "
                         f"{','.join(COLUMNS)}. {_FIX}")
    files = df["File"].tolist()
    for i, f in enumerate(files):
        why = paths.unsafe_reason(f)
        if why is not None:
            raise UnsafePathError(f"{name}: line {i + 2}: refused path {f!r}: it {why}. {_FIX}")
    if not all(unicodedata.is_normalized("NFC", f) for f in files):
        files = [paths.nfc(f) for f in files]
    _fail(name, df, ~df["Checksum"].str.fullmatch(_HEX64), "Checksum",
          "not a lowercase hex SHA-256")
    _fail(name, df, ~df["Size"].str.fullmatch(r"\d{1,18}"), "Size",
          "not a non-negative whole number of bytes")
    _fail(name, df, ~df["Time Edited"].str.fullmatch(_ISO), "Time Edited",
          "not an ISO 8601 UTC time like 2026-11-21T14:03:05Z")
    return files


_NS = r"-?\d{1,20}|"  # nanoseconds since 1970 (before it too); empty: unknown
_INT = r"\d{1,20}|"
_PLAIN_CHECKS = {"Checksum": re.compile(_HEX64), "Size": re.compile(r"\d{1,18}"),
                 "Time Edited": re.compile(_ISO), "Mtime Ns": re.compile(_NS),
                 "Ctime Ns": re.compile(_NS), "Inode": re.compile(_INT),
                 "Device": re.compile(_INT)}


def _num(text: str) -> int:
    return int(text) if text else -1


def _node(ctime: str, inode: str, device: str) -> tuple:
    if not ctime or not inode or not device:
        return ()
    return (int(ctime), int(inode), int(device))


def _states(files, checksums, sizes, editors, times, cols: dict) -> dict:
    """{path: FileState} from columns; ``cols`` holds the optional ones by name."""
    n = len(files)
    blank = [""] * n
    mtimes, etags = cols.get("Mtime Ns", blank), cols.get("ETag", blank)
    nodes = zip(cols.get("Ctime Ns", blank), cols.get("Inode", blank),
                cols.get("Device", blank))
    return {f: FileState(c, int(sz), e, t, _num(mt), et, _node(*nd))
            for f, c, sz, e, t, mt, et, nd in zip(files, checksums, sizes, editors, times,
                                                  mtimes, etags, nodes)}


def _parse_plain(data: bytes) -> Optional[tuple[dict, set]]:
    """The common case without pandas: a CSV in which every row has every column and every
    value passes the checks of :func:`_validate`. Anything else (a defect to report, blank
    lines, a BOM, ...) returns None and is left to pandas, which names the defect."""
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        return None
    if not rows:
        return None
    header, body = rows[0], rows[1:]
    width = len(header)
    if header[:len(COLUMNS)] != COLUMNS or len(set(header)) != width \
            or any(len(r) != width for r in body) \
            or any(c in name for name in header for c in ',"\r\n'):  # an unclosed quote
        return None
    col = {c: i for i, c in enumerate(header)}
    for column, rx in _PLAIN_CHECKS.items():
        i = col.get(column)
        if i is not None and not all(rx.fullmatch(r[i]) for r in body):
            return None
    files = [r[0] for r in body]
    if any(paths.unsafe_reason(f) is not None or not unicodedata.is_normalized("NFC", f)
           for f in files) or len(set(files)) != len(files):
        return None
    optional = {c: [r[col[c]] for r in body] for c in (*LOCAL_EXTRA, *REMOTE_EXTRA)
                if c in col}
    return _states(files, [r[3] for r in body], [r[4] for r in body],
                   [r[1] for r in body], [r[2] for r in body], optional), \
        set(optional.get("Baseline Of", ()))


def parse_versions(data: bytes, name: str) -> dict[str, FileState]:
    """A versions CSV -> {path: FileState}. Raises StateError naming ``name`` on any defect."""
    return parse_owned(data, name)[0]


def parse_owned(data: bytes, name: str) -> tuple[dict, set]:
    """(the states of a versions CSV, the set of its "Baseline Of" values: empty when the
    file has no such column)."""
    plain = _parse_plain(data)
    if plain is not None:
        states, owners = plain
        return states, owners
    df = _frame(data, name)
    files = _validate(df, name)
    seen = set()
    for i, f in enumerate(files):
        if f in seen:
            raise StateError(f"{name}: line {i + 2}: {f!r} is listed twice. {_FIX}")
        seen.add(f)
    for column in ("Mtime Ns", "Ctime Ns", "Inode", "Device"):
        if column in df.columns:
            _fail(name, df, ~df[column].str.fullmatch(_PLAIN_CHECKS[column].pattern), column,
                  "not a whole number")
    optional = {c: df[c].tolist() for c in (*LOCAL_EXTRA, *REMOTE_EXTRA) if c in df.columns}
    owners = set(optional.get("Baseline Of", ()))
    return _states(files, df["Checksum"].tolist(), df["Size"].tolist(),
                   df["Edited By"].tolist(), df["Time Edited"].tolist(), optional), owners


def writer(out):
    """Rows written as pandas' ``to_csv`` writes them; a row with a carriage return in a
    field (a user name, say) fully quoted, since the csv module quotes only the characters
    of its line terminator."""
    plain = csv.writer(out, lineterminator="\n")
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def write(row) -> None:
        (quoted if any("\r" in f for f in row if isinstance(f, str)) else plain).writerow(row)

    return write


def render_versions(states: Mapping[str, FileState], *, local: bool, owner: str = "",
                    log: str = "") -> bytes:
    """{path: FileState} -> CSV bytes, sorted by path. ``local``: the baseline's columns,
    every row marked with ``owner`` (the remote and clone it belongs to). ``log``: a
    remote state checkpoint's log id, as a last column named ``Log <id>`` whose values are
    empty (state/remotelog.py). Written with the csv module (the bytes pandas' ``to_csv`` writes,
    without importing pandas)."""
    header = COLUMNS + (LOCAL_EXTRA if local else REMOTE_EXTRA) + ([f"Log {log}"] if log else [])
    items = sorted(states.items())
    out = io.StringIO()
    plain = csv.writer(out, lineterminator="\n")
    plain.writerow(header)
    plain.writerows(_rows(items, local, owner, bool(log)))  # the csv module's loop, in C
    text = out.getvalue()
    if "\r" in text:  # a field with a carriage return: its row is quoted (see writer)
        out = io.StringIO()
        write = writer(out)
        write(header)
        for row in _rows(items, local, owner, bool(log)):
            write(row)
        text = out.getvalue()
    return text.encode("utf-8")


def _rows(items, local: bool, owner: str, logged: bool = False):
    for p, s in items:
        if local:
            yield (p, s.edited_by, s.time_edited, s.checksum, s.size, s.mtime_ns, s.etag,
                   *(s.node or ("", "", "")), owner)
        elif logged:
            yield (p, s.edited_by, s.time_edited, s.checksum, s.size, s.etag, s.mtime_ns, "")
        else:
            yield (p, s.edited_by, s.time_edited, s.checksum, s.size, s.etag, s.mtime_ns)


def parse_log(data: bytes, name: str) -> list[dict]:
    """A deleted_*.csv -> list of rows (a path may appear many times: one per deletion).
    A leading unnamed index column (what pandas' ``to_csv`` adds by default, as S3Synchrony
    0.4 writes this file) is dropped."""
    df = _frame(data, name)
    if len(df.columns) > len(COLUMNS) and str(df.columns[0]).startswith("Unnamed: 0") \
            and list(df.columns[1:len(COLUMNS) + 1]) == COLUMNS:
        df = df.drop(columns=df.columns[0])
    files = _validate(df, name)
    rows = df.to_dict("records")
    for row, f in zip(rows, files):
        row["File"] = f
    return rows


def render_log(rows: Iterable[dict]) -> bytes:
    out = io.StringIO()
    write = writer(out)
    header = COLUMNS + LOG_EXTRA
    write(header)
    for row in rows:
        write(["" if row.get(c) is None else str(row.get(c)) for c in header])
    return out.getvalue().encode("utf-8")


def log_row(path: str, state: FileState, who: str, when: str, where: str) -> dict:
    return {"File": path, "Edited By": who, "Time Edited": when, "Checksum": state.checksum,
            "Size": state.size, "Where": where}
