"""A derived snapshot of a parsed versions CSV, so unchanged state loads in milliseconds
and without pandas (the CSVs stay the source of truth).

A snapshot is used only if the CSV still has the signature recorded with it (size,
mtime_ns, ctime_ns, inode: ctime cannot be set back by hand) and the snapshot's own
BLAKE2b digest checks out. Anything else, a torn or stale or foreign snapshot included, means
"parse the CSV", never a guess.
"""
from __future__ import annotations

import marshal
import os
from pathlib import Path
from typing import Mapping, Optional

from ..core.hashing import blake2b
from ..core.model import FileState

FORMAT = 2  # 2: states with their stat node, and the CSV's owners


def signature(path: Path) -> Optional[tuple]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def read_blob(path: Path):
    """The object stored by :func:`write_blob` at ``path``, or None when it is missing,
    torn or foreign."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    digest, payload = blob[:32], blob[32:]
    if len(digest) != 32 or blake2b(payload, digest_size=32).digest() != digest:
        return None
    try:
        return marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None


def write_blob(path: Path, obj) -> None:
    """Store ``obj`` (marshal-able) at ``path`` with its digest, atomically; best effort:
    a derived file that cannot be written only costs the slow way next time."""
    payload = marshal.dumps(obj)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(blake2b(payload, digest_size=32).digest() + payload)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def load(cache: Path, sig: tuple) -> Optional[tuple[dict, set]]:
    """(the states, the owners) recorded for a CSV of signature ``sig``, or None."""
    try:
        fmt, recorded, paths, rows, owners = read_blob(cache)
    except (TypeError, ValueError):
        return None
    if fmt != FORMAT or tuple(recorded) != tuple(sig) or len(paths) != len(rows):
        return None
    make = FileState._make
    try:
        return {p: make(r) for p, r in zip(paths, rows)}, set(owners)
    except TypeError:
        return None


def store(cache: Path, sig: Optional[tuple], states: Mapping[str, FileState],
          owners=()) -> None:
    """Record ``states`` (and the CSV's owners) as the parse of the CSV whose signature is
    ``sig`` (best effort: a snapshot that cannot be written only costs a parse next time)."""
    if sig is None:
        return
    # marshal takes plain tuples only (not a NamedTuple)
    write_blob(cache, (FORMAT, sig, list(states), list(map(tuple, states.values())),
                       sorted(owners)))
