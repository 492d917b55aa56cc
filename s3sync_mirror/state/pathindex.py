"""The index of the last run that left everything in sync: every visible path's baseline
row and remote-state row, read by path or by a range of paths without loading the rest
(SQLite, in ``.S3/cache/paths.sqlite``). pipeline/delta.py plans a run from it when the
walk and the state log name only a few paths as changed: one change then costs one
change, also among a million files.

It is derived data, like everything in ``.S3/cache``: it holds the baseline file's
signature and the remote state's position it was made at, and it is used only while
both are still what the clone and the quick-check record say. Anything else (missing,
torn, another format, another baseline) means the full path, which makes it again.
A baseline of fewer than ``INDEX_FILES`` files is not indexed: the full path over it
takes a fraction of a second.
"""
from __future__ import annotations

import marshal
import os
import sqlite3
from typing import Iterable, Mapping, Optional

from ..core.model import FileState
from .remotelog import Pos

NAME = "paths.sqlite"
FORMAT = 1
try:
    INDEX_FILES = int(os.environ.get("S3SYNC_INDEX_FILES", "20000"))
except ValueError:
    INDEX_FILES = 20000
_SCHEMA = ("CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID",
           "CREATE TABLE rows (path TEXT PRIMARY KEY, base BLOB NOT NULL, remote BLOB) "
           "WITHOUT ROWID")


def _pack(st: FileState) -> bytes:
    return marshal.dumps((bytes.fromhex(st.checksum), *st[1:]))


def _unpack(blob: bytes) -> FileState:
    raw, *rest = marshal.loads(blob)
    return FileState(raw.hex(), *rest)


def _row(path: str, base: FileState, remote: FileState) -> tuple:
    # the remote row is stored only where it is not the baseline row without its stat node
    same = remote == base._replace(node=())
    return path, _pack(base), None if same else _pack(remote)


def _pair(base: bytes, remote: Optional[bytes]) -> tuple[FileState, FileState]:
    b = _unpack(base)
    return b, (b._replace(node=()) if remote is None else _unpack(remote))


class PathIndex:
    """An open index; ``sig``: the baseline signature, ``pos``: the remote state's
    position (statelog.Pos) it describes; ``count``: how many paths."""

    def __init__(self, conn: sqlite3.Connection, sig: tuple, pos: Pos, count: int):
        self.conn, self.sig, self.pos, self.count = conn, sig, pos, count

    def close(self) -> None:
        self.conn.close()

    def between(self, lo: Optional[str], hi: Optional[str]) -> dict:
        """{path: baseline row} of the paths from ``lo`` up to, not including, ``hi``
        (None: no bound)."""
        q, args = "SELECT path, base FROM rows", []
        if lo is not None or hi is not None:
            terms = []
            if lo is not None:
                terms.append("path >= ?")
                args.append(lo)
            if hi is not None:
                terms.append("path < ?")
                args.append(hi)
            q += " WHERE " + " AND ".join(terms)
        return {p: _unpack(b) for p, b in self.conn.execute(q, args)}

    def rows(self, paths: Iterable[str]) -> dict:
        """{path: (baseline row, remote row)} of those of ``paths`` it holds."""
        out = {}
        for p in paths:
            hit = self.conn.execute("SELECT base, remote FROM rows WHERE path = ?",
                                    (p,)).fetchone()
            if hit is not None:
                out[p] = _pair(*hit)
        return out

    def under(self, folder: str, limit: int) -> list:
        """Up to ``limit`` paths inside ``folder``."""
        return [p for (p,) in self.conn.execute(
            "SELECT path FROM rows WHERE path >= ? AND path < ? LIMIT ?",
            (folder + "/", folder + "0", limit))]

    def update(self, pairs: Mapping[str, Optional[tuple]], sig: tuple, pos: Pos) -> None:
        """Set each path of ``pairs`` to (baseline row, remote row), or remove it (None),
        and move the index to ``sig`` and ``pos``, in one transaction."""
        held = len(self.rows(pairs))
        with self.conn:
            gone = [(p,) for p, v in pairs.items() if v is None]
            self.conn.executemany("DELETE FROM rows WHERE path = ?", gone)
            rows = [_row(p, *v) for p, v in pairs.items() if v is not None]
            self.conn.executemany("INSERT OR REPLACE INTO rows VALUES (?, ?, ?)", rows)
            count = self.count - held + len(rows)
            _write_meta(self.conn, sig, pos, count)
        self.count = count
        self.sig, self.pos = sig, pos


def _write_meta(conn, sig: tuple, pos: Pos, count: int) -> None:
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
        ("format", FORMAT), ("sig", marshal.dumps(tuple(sig))),
        ("pos", marshal.dumps(tuple(pos))), ("count", count)])


def _path(statedir):
    return statedir.cache / NAME


def open_index(statedir) -> Optional[PathIndex]:
    """The index, or None when there is none that can be read."""
    path = _path(statedir)
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, check_same_thread=False)
        meta = dict(conn.execute("SELECT k, v FROM meta"))
        if meta.get("format") != FORMAT:
            conn.close()
            return None
        return PathIndex(conn, marshal.loads(meta["sig"]), Pos(*marshal.loads(meta["pos"])),
                         int(meta["count"]))
    except (sqlite3.Error, KeyError, ValueError, TypeError, EOFError):
        return None


def build(statedir, pairs: Iterable[tuple], sig: tuple, pos: Pos) -> None:
    """Write a new index of ``pairs`` [(path, baseline row, remote row)] in path order,
    in place of the old one (a new file, renamed into place)."""
    path = _path(statedir)
    tmp = path.with_name(NAME + ".tmp")
    tmp.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        for stmt in _SCHEMA:
            conn.execute(stmt)
        count = 0
        with conn:
            cur = conn.cursor()
            batch = []
            for p, b, r in pairs:
                batch.append(_row(p, b, r))
                if len(batch) >= 10_000:
                    cur.executemany("INSERT INTO rows VALUES (?, ?, ?)", batch)
                    count += len(batch)
                    batch.clear()
            cur.executemany("INSERT INTO rows VALUES (?, ?, ?)", batch)
            count += len(batch)
            _write_meta(conn, sig, pos, count)
    finally:
        conn.close()
    os.replace(tmp, path)


def drop(statedir) -> None:
    for p in (_path(statedir), _path(statedir).with_name(NAME + ".tmp")):
        try:
            p.unlink()
        except OSError:
            pass
