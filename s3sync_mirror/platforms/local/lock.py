"""The folder remote's fenced lock: one exclusive lock file (``layout.REMOTE_LOCK``).

* Each hold writes a random ``token`` into the lock's JSON (host, pid, user, token, time).
* Age is judged by the share's clock only: a probe file written next to the lock gives the
  share's "now", compared with the lock's mtime. A member's own clock never enters it.
* While held, a heartbeat thread renews the lock's mtime every ``stale / 3`` seconds, as long
  as the token in the file is still ours.
* ``fence`` re-checks the token (and renews the mtime) right before each commit; a lock that
  is no longer ours raises ``LockLost`` and nothing is written. ``release`` never removes
  another's lock.
* A lock is broken when its holder's process is gone (same host) or its mtime is older than
  ``stale`` by the share's clock: it is renamed aside to a unique name, and deleted only if
  the renamed file is exactly the lock judged stale (same bytes, so same token, and same
  mtime: not renewed since); otherwise it is put back.

What remains: a holder stalled for longer than ``stale`` between its fence and its rename
could still rename after its lock was broken; the heartbeat keeps that to a stall of the
whole process (or of the share) longer than ``stale``.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ...core.logs import log
from ...core.errors import LockBusy, PreconditionFailed


LOCK_STALE_SECONDS = 30.0
LOCK_WAIT_SECONDS = 120.0


class LockLost(PreconditionFailed, LockBusy):
    """Our lock was broken (judged stale) and may be another's now: nothing was written.
    A ``PreconditionFailed``, so a conditional write's caller re-reads and tries again."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError included: someone else's live process
        return True
    return True


@dataclass(frozen=True)
class Seen:
    """One look at a lock file: its bytes (the token names it), parsed JSON, mtime."""

    raw: bytes
    info: dict
    mtime_ns: int

    @property
    def token(self) -> Optional[str]:
        return self.info.get("token")

    def same(self, other: Optional["Seen"]) -> bool:
        return other is not None and other.raw == self.raw and \
            other.mtime_ns == self.mtime_ns


def look(path: Path) -> Optional[Seen]:
    """The lock file at ``path`` as it is now, or None when there is none."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
            mtime_ns = os.fstat(f.fileno()).st_mtime_ns
    except FileNotFoundError:
        return None
    try:
        info = json.loads(raw.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError):
        info = {}
    return Seen(raw, info if isinstance(info, dict) else {}, mtime_ns)


def share_now_ns(lock: Path) -> int:
    """The share's clock: the mtime of a probe file written now next to ``lock``."""
    probe = lock.with_name(f"{lock.name}.clock-{os.urandom(6).hex()}")
    try:
        with open(probe, "wb") as f:
            f.write(b"clock\n")
        return os.stat(probe).st_mtime_ns
    finally:
        probe.unlink(missing_ok=True)


class FencedLock:
    """One hold of the lock file at ``path``: ``acquire``, ``fence`` before each commit,
    ``release``. ``translate`` turns an OSError into the remote's error."""

    def __init__(self, path: Path, *, user: str = "", stale: float = LOCK_STALE_SECONDS,
                 wait: float = LOCK_WAIT_SECONDS,
                 translate: Optional[Callable[[OSError, str], Exception]] = None):
        self.path = Path(path)
        self.user, self.stale, self.wait = user, stale, wait
        self.token = os.urandom(16).hex()
        self._translate = translate
        self._stop = threading.Event()
        self._beat: Optional[threading.Thread] = None

    # -- taking it ----------------------------------------------------------------------
    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        delay = 0.001
        try:
            while not self._create():
                seen = look(self.path)
                if seen is None:
                    continue
                why, age = self._judge(seen)
                if why:
                    self.break_stale(seen, why)
                    continue
                if time.monotonic() > deadline:
                    raise LockBusy(self._busy(seen, age))
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        except OSError as exc:
            if self._translate is None:
                raise
            raise self._translate(exc, "locking the remote folder") from None
        self._beat = threading.Thread(target=self._heartbeat, daemon=True,
                                      name=f"remote-lock-heartbeat-{self.token[:8]}")
        self._beat.start()

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return False
        except FileExistsError:
            return False
        body = {"host": socket.gethostname(), "pid": os.getpid(), "user": self.user,
                "token": self.token, "time": time.time()}
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(body, f)
        except OSError:
            self.path.unlink(missing_ok=True)  # never leave a lock without its token
            raise
        return True

    def _judge(self, seen: Seen) -> tuple[Optional[str], Optional[float]]:
        """(why it is stale or None, its age in seconds by the share's clock or None)."""
        info = seen.info
        if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int) \
                and not _pid_alive(info["pid"]):
            return "its process is gone", None
        age = (share_now_ns(self.path) - seen.mtime_ns) / 1e9
        if age > self.stale:
            return f"it was not renewed for {age:.0f}s (by the remote folder's clock)", age
        return None, age

    def _busy(self, seen: Seen, age: Optional[float]) -> str:
        info = seen.info
        held = f" for {age:.0f}s" if age is not None else ""
        return (f"the remote folder is locked by {info.get('user') or 'someone'} "
                f"(pid {info.get('pid', '?')} on {info.get('host', '?')}){held}. "
                f"If no sync is running, delete {self.path}.")

    # -- breaking another's, race-safe ------------------------------------------------------
    def break_stale(self, judged: Seen, why: str) -> bool:
        """Remove the lock judged stale, and only it. True when it was removed."""
        if not self._set_aside(judged.same):
            return False
        info = judged.info
        log.warning("broke the remote folder's lock left by %s (pid %s on %s): %s",
                    info.get("user") or "another member", info.get("pid", "?"),
                    info.get("host", "?"), why)
        return True

    def _set_aside(self, remove_if: Callable[[Optional[Seen]], bool]) -> bool:
        """Rename the lock to a unique name; delete it if ``remove_if(what was renamed)``,
        else put it back. True when it was deleted."""
        aside = self.path.with_name(f"{self.path.name}.broken-{os.urandom(6).hex()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return False
        if remove_if(look(aside)):
            aside.unlink(missing_ok=True)
            return True
        self._put_back(aside)
        return False

    def _put_back(self, aside: Path) -> None:
        try:
            os.link(aside, self.path)  # never over a lock taken meanwhile
        except FileNotFoundError:
            return
        except FileExistsError:
            log.info("a lock taken meanwhile replaced %s; its holder will find it lost",
                     self.path)
        except OSError:  # a share without hard links
            if not os.path.lexists(self.path):
                os.replace(aside, self.path)
                return
        aside.unlink(missing_ok=True)

    # -- holding it -------------------------------------------------------------------------
    def renew(self) -> bool:
        """If the lock file is still ours, set its mtime to the share's now. True if ours.
        The token is read and the time set through one open file: the very file checked."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            with os.fdopen(fd, "rb", closefd=False) as f:
                raw = f.read()
            try:
                info = json.loads(raw.decode("utf-8") or "{}")
            except (UnicodeDecodeError, ValueError):
                return False
            if not isinstance(info, dict) or info.get("token") != self.token:
                return False
            os.utime(fd if os.utime in os.supports_fd else self.path)
            return True
        finally:
            os.close(fd)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.stale / 3):
            try:
                if not self.renew():
                    log.warning("the remote folder's lock %s is no longer ours", self.path)
                    return
            except OSError as exc:
                log.debug("renewing the remote folder's lock: %s", exc)

    def fence(self, what: str) -> None:
        """Raise ``LockLost`` unless the lock file is still ours (and renew it)."""
        if not self.renew():
            raise LockLost(
                f"{what}: this run's lock on the remote folder was broken by another member "
                f"(it was judged stale: a stalled share or process); nothing was written. "
                f"Run the sync again.")

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        seen = look(self.path)
        if seen is None or seen.token != self.token:
            log.warning("the remote folder's lock %s was taken over; left to its holder",
                        self.path)
            return
        self._set_aside(lambda s: s is not None and s.token == self.token)
