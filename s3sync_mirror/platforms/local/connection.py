"""LocalConnection: a remote that is a plain folder (a network share, or a local folder).

A create-if-absent is a hard link of the staged file (atomic: it fails when the name is
taken) and an unconditional write a rename, neither under a lock; a share without hard
links, and every replace-if-unchanged, copy and delete, take an exclusive lock file
(``layout.REMOTE_LOCK`` under the root), held only for the instant of a check-and-rename,
and fenced: its token is
checked right before each rename (``locallock.FencedLock``). A lock whose holder died (same
host, dead pid) or that was not renewed for ``LOCK_STALE_SECONDS`` by the share's own clock
is broken with a warning, so a killed run never blocks the team. ``list`` shows every
file, the state folder's too.

An upload is written to ``.S3/tmp/<random>.part`` and renamed into place. An interrupted
one (Ctrl-C: ``interrupt``) stops at its next block and removes its part; ``clean_tmp``
removes the parts a killed run left behind, once no one has written them for an hour.
"""
from __future__ import annotations

import errno
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from ...core import layout
from ...core.errors import (PreconditionFailed, RemoteError, RemoteNotFound,
                            RemotePermissionError, RemoteUnreachable)
from ...core.hashing import CHUNK, sha256_file, sha256_hasher
from ...core.clock import iso_from_ns
from ...core.diskio import prune_empty_dirs
from ..base import (STALE_TMP_SECONDS, Advance, DataPlatformConnection, RemoteObject,
                    changed)
from .lock import LOCK_STALE_SECONDS, LOCK_WAIT_SECONDS, FencedLock, share_now_ns


def _etag(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns:x}-{st.st_size:x}-{st.st_ino:x}"


_iso = iso_from_ns


class LocalConnection(DataPlatformConnection):
    """A folder remote. ``root`` is the folder that mirrors the data folder."""

    platform = "Local"

    def __init__(self, root, *, user: str = "", lock_stale: float = LOCK_STALE_SECONDS,
                 lock_wait: float = LOCK_WAIT_SECONDS):
        self.root = Path(root)
        self.user = user
        self.lock_stale = lock_stale
        self.lock_wait = lock_wait
        self._tmp = self.root.joinpath(*layout.REMOTE_TMP.split("/"))
        self._lock_path = self.root.joinpath(*layout.REMOTE_LOCK.split("/"))

    # -- helpers -------------------------------------------------------------------------
    def describe(self) -> str:
        return str(self.root)

    def url(self, key: str) -> str:
        return str(self.root.joinpath(*key.split("/")))

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or "\\" in key or "\x00" in key or \
                ".." in key.split("/"):
            raise RemoteError(f"refused remote key {key!r}")
        return self.root.joinpath(*key.split("/"))

    def _new_tmp(self) -> Path:
        self._tmp.mkdir(parents=True, exist_ok=True)
        return self._tmp / f"{os.urandom(8).hex()}.part"

    @staticmethod
    def _translate(exc: OSError, what: str) -> RemoteError:
        if isinstance(exc, FileNotFoundError):
            return RemoteNotFound(f"{what}: not found on the remote folder")
        if isinstance(exc, PermissionError):
            return RemotePermissionError(f"{what}: permission denied on the remote folder")
        if exc.errno == errno.ENOSPC:
            return RemoteError(f"{what}: the remote folder's disk is full")
        if exc.errno in (errno.EIO, errno.ENOTCONN, errno.EHOSTDOWN, errno.EHOSTUNREACH,
                         errno.ESTALE, errno.ETIMEDOUT):
            return RemoteUnreachable(f"{what}: the remote folder is unreachable "
                                     f"({exc.strerror})")
        if isinstance(exc, (NotADirectoryError, IsADirectoryError, FileExistsError)):
            return RemoteError(f"{what}: a file and a folder of the same name collide "
                               f"on the remote folder")
        return RemoteError(f"{what}: {exc.strerror or exc}")

    # -- the lock ------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[FencedLock]:
        """Hold the lock file (``layout.REMOTE_LOCK``) exclusively for the body; the body
        calls ``fence`` on what it yields right before each write it commits."""
        lock = FencedLock(self._lock_path, user=self.user, stale=self.lock_stale,
                          wait=self.lock_wait, translate=self._translate)
        lock.acquire()
        try:
            yield lock
        finally:
            lock.release()

    def _check(self, path: Path, key: str, if_match, if_none_match) -> None:
        try:
            current = _etag(os.stat(path))
        except FileNotFoundError:
            current = None
        if if_none_match and current is not None:
            raise PreconditionFailed(f"{key} already exists on the remote")
        if if_match is not None and current != if_match:
            raise PreconditionFailed(f"{key} changed on the remote since it was read")

    def _place(self, tmp: Path, key: str, if_match, if_none_match) -> RemoteObject:
        dest = self._path(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if if_match is None and self._place_unlocked(tmp, dest, key, if_none_match):
                st = os.stat(dest)
                return RemoteObject(key, st.st_size, _etag(st), modified=_iso(st.st_mtime_ns))
            with self.locked() as lock:
                self._check(dest, key, if_match, if_none_match)
                lock.fence(key)
                os.replace(tmp, dest)
                st = os.stat(dest)
        except OSError as exc:
            raise self._translate(exc, key) from None
        finally:
            tmp.unlink(missing_ok=True)
        return RemoteObject(key, st.st_size, _etag(st), modified=_iso(st.st_mtime_ns))

    def _place_unlocked(self, tmp: Path, dest: Path, key: str, if_none_match) -> bool:
        """Put ``tmp`` at ``dest`` without the lock where the file system itself makes the
        write atomic: create-if-absent is a hard link (it fails if ``dest`` exists), an
        unconditional write a rename. False: a share without hard links (take the lock).
        Only a replace-if-unchanged (``if_match``) needs the lock: it checks, then writes."""
        if not if_none_match:
            os.replace(tmp, dest)
            return True
        try:
            os.link(tmp, dest)
        except FileExistsError:
            raise PreconditionFailed(f"{key} already exists on the remote") from None
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                             errno.EMLINK, errno.ENOSYS):
                return False
            raise
        return True

    def honours_conditional_writes(self) -> bool:
        return True  # by construction: every conditional write runs under the lock

    # -- primitives ----------------------------------------------------------------------
    def list(self, under: str = "") -> Iterator[RemoteObject]:
        start = self._path(under.rstrip("/")) if under else self.root
        if not start.is_dir():
            return
        for folder, dirs, files in os.walk(start):
            rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
            rel = "" if rel == "." else rel
            dirs.sort()
            for name in sorted(files):
                p = os.path.join(folder, name)
                try:
                    st = os.stat(p, follow_symlinks=False)
                except OSError:
                    continue
                if not os.path.isfile(p) or os.path.islink(p):
                    continue
                key = f"{rel}/{name}" if rel else name
                yield RemoteObject(key, st.st_size, _etag(st), modified=_iso(st.st_mtime_ns))

    def head(self, key: str) -> Optional[RemoteObject]:
        try:
            st = os.stat(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._translate(exc, key) from None
        if not stat.S_ISREG(st.st_mode):
            return None  # a folder of that name is no object
        return RemoteObject(key, st.st_size, _etag(st), modified=_iso(st.st_mtime_ns))

    def checksum(self, key: str, tmp_dir=None) -> str:
        try:
            return sha256_file(self._path(key))
        except OSError as exc:
            raise self._translate(exc, key) from None

    def get_bytes(self, key: str, if_none_match: Optional[str] = None):
        try:
            with open(self._path(key), "rb") as f:
                etag = _etag(os.fstat(f.fileno()))
                if if_none_match is not None and etag == if_none_match:
                    return None
                return f.read(), etag
        except OSError as exc:
            raise self._translate(exc, key) from None

    def put_bytes(self, key: str, data: bytes, *, if_match: Optional[str] = None,
                  if_none_match: bool = False) -> str:
        tmp = self._new_tmp()
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise self._translate(exc, key) from None
        return self._place(tmp, key, if_match, if_none_match).etag

    def upload(self, key: str, source: Path, *, sha256: str, size: int,
               if_match: Optional[str] = None, if_none_match: bool = False,
               advance: Advance = None) -> RemoteObject:
        with self.transfers.track(advance) as transfer:
            tmp = self._new_tmp()
            try:
                self._write_tmp(key, source, tmp, sha256, size, transfer)
                transfer.check()  # a Ctrl-C during the copy: the remote stays as it was
            except BaseException:
                tmp.unlink(missing_ok=True)  # an interrupted upload leaves no .part
                raise
            return self._place(tmp, key, if_match, if_none_match)

    def _write_tmp(self, key: str, source: Path, tmp: Path, sha256: str, size: int,
                   transfer) -> None:
        h = sha256_hasher()
        sent = 0
        try:
            with open(source, "rb") as fi, open(tmp, "wb") as fo:
                while True:
                    block = fi.read(CHUNK)
                    if not block:
                        break
                    h.update(block)
                    fo.write(block)
                    sent += len(block)
                    transfer.advance(len(block))
        except FileNotFoundError:
            raise
        except OSError as exc:
            if exc.filename and Path(exc.filename) == Path(source):
                raise
            raise self._translate(exc, key) from None
        if sent != size or h.hexdigest() != sha256:
            raise changed(key)

    def download(self, key: str, dest: Path, *, advance: Advance = None,
                 size_hint: int = -1, if_match: Optional[str] = None) -> str:
        with self.transfers.track(advance) as transfer:
            return self._copy_out(key, dest, if_match, transfer)

    def _copy_out(self, key: str, dest: Path, if_match: Optional[str], transfer) -> str:
        h = sha256_hasher()
        try:
            fi = open(self._path(key), "rb")
        except OSError as exc:
            raise self._translate(exc, key) from None
        if if_match is not None and _etag(os.fstat(fi.fileno())) != if_match:
            fi.close()
            raise PreconditionFailed(f"{key}: changed on the remote since it was read")
        with fi, open(dest, "wb") as fo:
            while True:
                try:
                    block = fi.read(CHUNK)
                except OSError as exc:
                    raise self._translate(exc, key) from None
                if not block:
                    break
                h.update(block)
                fo.write(block)
                transfer.advance(len(block))
        return h.hexdigest()

    def clean_tmp(self, max_age: float = STALE_TMP_SECONDS) -> int:
        """Remove the ``.part`` files in the remote's ``.S3/tmp/`` that were not written
        for ``max_age`` seconds by the share's clock (a probe file's mtime, never this
        member's clock): an interrupted or killed run's. A member sending one right now
        keeps its mtime fresh, so it is never taken."""
        try:
            parts = [e.path for e in os.scandir(self._tmp)
                     if e.name.endswith(".part") and e.is_file(follow_symlinks=False)]
        except (FileNotFoundError, NotADirectoryError):
            return 0
        except OSError as exc:
            raise self._translate(exc, layout.REMOTE_TMP) from None
        if not parts:
            return 0
        try:
            now = share_now_ns(self._tmp / "clean-tmp")
        except OSError as exc:
            raise self._translate(exc, layout.REMOTE_TMP) from None
        removed = 0
        for path in parts:
            try:
                if now - os.stat(path, follow_symlinks=False).st_mtime_ns > max_age * 1e9:
                    os.unlink(path)
                    removed += 1
            except FileNotFoundError:
                continue  # another member cleaned it, or its upload was placed
            except OSError as exc:
                raise self._translate(exc, layout.REMOTE_TMP) from None
        return removed

    def copy(self, src: str, dst: str, *, if_match: Optional[str] = None,
             size_hint: int = -1) -> str:
        s, d = self._path(src), self._path(dst)
        try:
            d.parent.mkdir(parents=True, exist_ok=True)
            with self.locked() as lock:
                try:
                    current = _etag(os.stat(s))
                except FileNotFoundError:
                    raise RemoteNotFound(f"{src}: not found on the remote folder") from None
                if if_match is not None and current != if_match:
                    raise PreconditionFailed(f"{src} changed on the remote since it was read")
                lock.fence(dst)
                try:
                    os.link(s, d)  # files are only ever replaced, never edited: a link is a copy
                except FileExistsError:
                    raise PreconditionFailed(f"{dst} already exists; archives are never "
                                             f"overwritten") from None
                except OSError:
                    tmp = self._new_tmp()
                    import shutil  # off the start (README "Performance", W2)

                    shutil.copyfile(s, tmp)
                    try:
                        os.link(tmp, d)
                    finally:
                        tmp.unlink(missing_ok=True)
                return _etag(os.stat(d))
        except OSError as exc:
            raise self._translate(exc, dst) from None

    def delete(self, key: str, *, if_match: Optional[str] = None) -> None:
        p = self._path(key)
        try:
            with self.locked() as lock:
                try:
                    current = _etag(os.stat(p))
                except FileNotFoundError:
                    if if_match is not None:
                        raise PreconditionFailed(f"{key} is gone from the remote") from None
                    return
                if if_match is not None and current != if_match:
                    raise PreconditionFailed(f"{key} changed on the remote since it was read")
                lock.fence(key)
                os.unlink(p)
        except OSError as exc:
            raise self._translate(exc, key) from None
        prune_empty_dirs(p.parent, self.root)
