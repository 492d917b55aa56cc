"""Moving one object in parts, whatever the provider: the parts of a transfer run in the
connection's thread pool (``Parts``), an upload's part buffers are bounded by the
connection's slots (a ``threading.BoundedSemaphore`` shared by all its transfers), and the
first real failure of a part is the one the caller sees.

S3 multipart uploads and ranged downloads (``s3multipart``), Azure block uploads and
ranged downloads (``blobblocks``) and GCS ranged downloads (``gcstransfer``) are built on
it. Every part checks the transfer (``base.Transfer``) as it goes: a failing part cancels
the transfer, so its siblings stop at their next block, and the reader stops waiting for
a slot; ``gather`` then raises that part's failure, not the ``Cancelled`` the others
raised because of it (nor one the reader would raise). A cancel from outside (Ctrl-C)
ends as ``Cancelled``.
"""
from __future__ import annotations

import io
import os
import threading
from typing import TYPE_CHECKING, Callable, Optional

from ..core.hashing import CHUNK, sha256_hasher
from .base import Cancelled, Transfer

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor


def quoted(etag: str) -> str:
    """An ETag as HTTP carries it (S3 and Azure keep them unquoted in this project)."""
    return f'"{etag}"'


def unquoted(etag: Optional[str]) -> str:
    return (etag or "").strip('"')


class ByteBudget:
    """At most ``limit`` bytes held at once by the transfers of one connection that read a
    whole file into memory (``hold``); one transfer alone may hold more, so that a file
    bigger than the budget still goes, by itself."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self._cond = threading.Condition()

    def hold(self, n: int, transfer: Transfer) -> "_Held":
        with self._cond:
            while self.used and self.used + n > self.limit:
                transfer.check()  # Ctrl-C stops the wait
                self._cond.wait(0.1)
            self.used += n
        return _Held(self, n)

    def _release(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


class _Held:
    def __init__(self, budget: ByteBudget, n: int):
        self.budget, self.n = budget, n

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.budget._release(self.n)


class NotPartial(Exception):
    """The server answered a ranged GET with 200: with the whole object (it ignores
    ranges), or with the range labelled 200 (``rclone serve s3``, which obstore refuses)."""


SEND_BLOCK = 1 << 20  # bytes handed to the socket per read of a part


class CancellableBody(io.BytesIO):
    """A part's bytes as an HTTP client sends them: every read first checks the transfer,
    so a cancelled upload stops within a few KiB instead of sending the rest of the part."""

    def __init__(self, data: bytes, transfer: Transfer):
        super().__init__(data)
        self._transfer = transfer

    def read(self, size=-1):
        self._transfer.check()
        # http.client asks for 8 KiB at a time: one send of up to SEND_BLOCK instead
        return super().read(size if size is None or size < 0 else max(size, SEND_BLOCK))


class Parts:
    """The parts of one transfer, in flight in ``pool``. With ``slots``, each part holds
    a buffer slot (taken by the reader with ``take_slot`` before it reads the part's bytes)
    until it ends."""

    def __init__(self, transfer: Transfer, pool: ThreadPoolExecutor,
                 slots: Optional[threading.BoundedSemaphore] = None):
        self.transfer, self.pool, self.slots = transfer, pool, slots
        self.futures: list[Future] = []
        self.failed: list[BaseException] = []

    def take_slot(self) -> bool:
        """Wait for a free buffer slot; True once one is held. False when the transfer was
        cancelled meanwhile (a part failed, or Ctrl-C): the reader stops, holding no slot,
        and ``gather`` says why. It never raises Cancelled itself: that would hide the
        failure of the part that cancelled the transfer."""
        while not self.slots.acquire(timeout=0.1):
            if self.transfer.cancelled:
                return False
        if self.transfer.cancelled:
            self.slots.release()
            return False
        return True

    def give_slot(self) -> None:
        """Give back a slot the reader took and did not hand to a part."""
        self.slots.release()

    def submit(self, fn: Callable, *args) -> None:
        """Run ``fn(*args)`` in the pool as the next part (holding the slot the reader
        took, when there are slots)."""
        try:
            self.futures.append(self.pool.submit(self._run, fn, args))
        except BaseException:
            if self.slots is not None:
                self.slots.release()
            raise

    def _run(self, fn: Callable, args: tuple):
        try:
            self.transfer.check()
            return fn(*args)
        except BaseException as exc:
            if not isinstance(exc, Cancelled):  # a Cancelled is no reason: its cause is
                self.failed.append(exc)
            self.transfer.cancel()  # the siblings stop at their next block
            raise
        finally:
            if self.slots is not None:
                self.slots.release()

    def gather(self) -> list:
        """The parts' results, in order, once all have ended; the first real failure
        among them wins, else a cancel raises Cancelled."""
        from concurrent.futures import wait  # here: it imports logging, off the start

        wait(self.futures)
        if self.failed:
            raise self.failed[0]
        self.transfer.check()
        return [fut.result() for fut in self.futures]

    def stop(self) -> None:
        """Cancel the transfer, drop the parts not started (their slots back) and wait for
        the running ones, which stop at their next block: afterwards none is running."""
        self.transfer.cancel()
        running = []
        for fut in self.futures:
            if fut.cancel():
                if self.slots is not None:
                    self.slots.release()
            else:
                running.append(fut)
        from concurrent.futures import wait

        wait(running)


def read_parts(parts: Parts, source, step: int, limit: int, send: Callable,
               whole: bool = True) -> tuple:
    """Read ``source`` ``step`` bytes at a time, each read only once a buffer slot is held,
    and submit ``send(index, bytes)`` (index from 0) for each part. Stops at the end of the
    file, once the transfer is cancelled (a part failed: ``parts.gather`` raises why), or
    once more than ``limit`` bytes came (the file grew: a mismatch anyway). Returns (the
    SHA-256 hex of the bytes read, or None when not ``whole``, their count)."""
    digest, sent, index = sha256_hasher() if whole else None, 0, 0
    with open(source, "rb") as f:
        while sent <= limit and parts.take_slot():
            try:
                buf = f.read(step)
            except BaseException:
                parts.give_slot()
                raise
            if not buf:
                parts.give_slot()
                break
            parts.submit(send, index, buf)
            index += 1
            if digest is not None:
                digest.update(buf)
            sent += len(buf)
            del buf
    return (digest.hexdigest() if digest is not None else None), sent


def sha256_of(path, transfer: Transfer) -> str:
    """The SHA-256 hex of a file written in ranges, read back (stopping at a cancel)."""
    h = sha256_hasher()
    with open(path, "rb") as f:
        while True:
            transfer.check()
            block = f.read(4 * CHUNK)
            if not block:
                return h.hexdigest()
            h.update(block)


def download_ranges(transfer: Transfer, pool: ThreadPoolExecutor, dest, size: int, step: int,
                    fetch: Callable) -> str:
    """Fill ``dest`` with ``size`` bytes in parallel ranges of ``step``: ``fetch(fd, start,
    end)`` (``end`` included) writes its range at its offset of ``fd``. Returns the SHA-256
    hex of the file written. A failing range cancels the others, which stop at their next
    block; ``dest`` is closed only once none of them writes to it any more."""
    parts = Parts(transfer, pool)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, size)
        for start in range(0, size, step):
            parts.submit(fetch, fd, start, min(start + step, size) - 1)
        parts.gather()
    except BaseException:
        parts.stop()
        raise
    finally:
        os.close(fd)
    return sha256_of(dest, transfer)
