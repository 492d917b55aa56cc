"""Read S3Synchrony 0.4's state CSVs (MD5 checksums, naive times, pandas index column) and
keep a copy of each legacy file before this tool replaces it (docs/state-files.md#s3synchrony)."""
from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path
from typing import Optional

from ..core import paths
from ..core.errors import StateError
from ..core.model import FileState

COLUMNS = ["File", "Edited By", "Time Edited", "Checksum"]
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # S3Synchrony's, in the writer's local time
COPY_DIR = "s3synchrony-0.4"  # under .S3/, locally and on the remote: the kept legacy files
_FIX = ("Nothing was changed. Restore the file from the copy in .S3/s3synchrony-0.4/ if "
        "there is one, or run `python -m s3sync_mirror reset` to rebuild the sync state.")


def _header(data: bytes) -> list:
    first = data.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
    return next(csv.reader([first.rstrip("\r")]), [])


def is_legacy(data: Optional[bytes]) -> bool:
    """Whether ``data`` is an S3Synchrony 0.4 CSV: exactly its four columns, possibly after
    the unnamed index column pandas writes (its ``deleted_remote.csv``)."""
    if not data:
        return False
    header = _header(data)
    return header == COLUMNS or (len(header) == 5 and header[1:] == COLUMNS
                                 and header[0] in ("", "Unnamed: 0"))


def iso_time(text: str) -> str:
    """S3Synchrony's naive local time -> this tool's ISO 8601 UTC ('' stays '')."""
    if not text:
        return ""
    from datetime import datetime, timezone

    when = datetime.strptime(text, TIME_FORMAT)  # naive: the writer's local zone
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rows(data: bytes, name: str) -> list[dict]:
    """The rows of a legacy CSV: File (NFC, checked), Edited By, Time Edited (ISO UTC),
    MD5. A defect is named with its line, and nothing is guessed."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig", "replace"), newline=""))
    header = next(reader, [])
    skip = 1 if len(header) == 5 else 0
    out = []
    for n, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise StateError(f"{name}: line {n}: {len(row)} fields, the header has "
                             f"{len(header)}. {_FIX}")
        f, who, when, md5 = row[skip:]
        f = unicodedata.normalize("NFC", f)
        why = paths.unsafe_reason(f)
        if why is not None:
            raise StateError(f"{name}: line {n}: refused path {f!r}: it {why}. {_FIX}")
        md5 = md5.strip().lower()
        if len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5):
            raise StateError(f"{name}: line {n}, column 'Checksum': not an MD5 "
                             f"(found {md5!r}). {_FIX}")
        try:
            when = iso_time(when.strip())
        except ValueError:
            raise StateError(f"{name}: line {n}, column 'Time Edited': not a time like "
                             f"2022-06-01 14:03:05 (found {when!r}). {_FIX}") from None
        out.append({"File": f, "Edited By": who, "Time Edited": when, "MD5": md5})
    return out


def hashes(path: Path) -> tuple[str, str, int]:
    """(MD5, SHA-256, size) of a file in one read."""
    import hashlib

    md5, sha, size = hashlib.md5(usedforsecurity=False), hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    return md5.hexdigest(), sha.hexdigest(), size


def adopt_baseline(data: bytes, data_dir: Path, name: str) -> dict[str, FileState]:
    """A member's S3Synchrony ``versions_local.csv`` as this tool's baseline: each file
    on disk whose MD5 equals its row is recorded as in sync, with the row's author and
    time; the others are left out (no baseline: they are compared as on a first sync)."""
    out = {}
    for row in rows(data, name):
        p = data_dir / row["File"]
        try:
            if p.is_symlink() or not p.is_file():
                continue
            md5, sha, size = hashes(p)
        except OSError:
            continue
        if md5 == row["MD5"]:
            out[row["File"]] = FileState(sha, size, row["Edited By"], row["Time Edited"])
    return out


def keep_local_copy(path: Path) -> None:
    """Before a legacy state file is replaced: copy it to ``.S3/s3synchrony-0.4/`` (once;
    an earlier copy is never overwritten)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return
    if not is_legacy(head):
        return
    dest = path.parent / COPY_DIR / path.name
    if not dest.exists():
        import shutil

        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
