"""Big downloads on obstore: parallel ranged GETs of one version in the transport's event
loop (``ObstoreTransport``), written in order and SHA-256-hashed as the contiguous prefix
completes, in a helper thread, while the next ranges are on the wire.

The first range learns the object's size and ETag; the others carry ``If-Match`` on that
ETag (on ``if_match`` when given, for the first too), so every byte is of one version.
Memory is bounded across all big downloads of the connection: each range in flight or
waiting to be written holds one of ``RANGE_MEMORY // part`` slots. A cancelled transfer
(Ctrl-C, or a failed range) cancels the ranges in flight at once; ``dest`` is closed only
once the helper thread stopped writing to it. The caller compares the SHA-256 returned
with the one planned before the file is placed.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections import deque
from typing import Optional

from ...core.hashing import sha256_hasher
from ...core.errors import RemoteError
from ..parts import NotPartial, quoted, unquoted

MIB = 1 << 20
RANGE_MEMORY = 64 * MIB  # range buffers held, all big downloads of a connection together
WINDOW = 8  # ranges in flight per file, at most


class Ranges:
    """One big download: the ranges launched, each holding a slot until written."""

    def __init__(self, objects, full: str, key: str, transfer):
        self.objects, self.full, self.key, self.transfer = objects, full, key, transfer
        self.slots = slots(objects)
        self.pending: deque = deque()
        self.etag: Optional[str] = None

    async def fetch(self, start: int, end: int):
        """(the object's meta, the bytes of [start, end))."""
        options = {"range": (start, end)}
        if self.etag is not None:
            options["if_match"] = quoted(self.etag)
        what, cond = f"{self.key} (bytes {start}-{end - 1})", self.etag is not None
        try:
            r = await self.objects.get_async_raw(self.full, options)
        except Exception as exc:  # noqa: BLE001 - every failure goes through the table
            if "non-partial" in str(exc):
                raise NotPartial() from None
            raise self.objects.failure(exc, "GET", cond, what) from None
        try:
            data = await r.bytes_async()
        except Exception as exc:  # noqa: BLE001 - the connection failed mid-body
            raise self.objects.failure(exc, "GET", cond, what) from None
        if memoryview(data).nbytes != min(end, r.meta["size"]) - start:
            raise RemoteError(f"{self.key}: short read of bytes {start}-{end - 1}: run the "
                              f"sync again")
        return r.meta, data

    async def launch(self, start: int, end: int, wait: bool) -> bool:
        """Start the range [start, end) once a slot is held; False (nothing started) when
        none is free and not ``wait``."""
        if not wait and self.slots.locked():
            return False
        await self.slots.acquire()
        try:
            self.pending.append(asyncio.ensure_future(self.fetch(start, end)))
        except BaseException:
            self.slots.release()
            raise
        return True

    async def stop(self) -> None:
        """Cancel the ranges in flight and give back their slots."""
        for task in self.pending:
            task.cancel()
        await asyncio.gather(*self.pending, return_exceptions=True)
        for _ in self.pending:
            self.slots.release()
        self.pending.clear()


def slots(objects) -> asyncio.Semaphore:
    """The connection's range slots (made in the loop on first use)."""
    found = getattr(objects, "_range_slots", None)
    if found is None:
        found = objects._range_slots = asyncio.Semaphore(max(2, RANGE_MEMORY // objects.part))
    return found


def _write(fd: int, h, data) -> None:
    view = memoryview(data)
    h.update(view)
    while view:
        view = view[os.write(fd, view):]


async def download(objects, full: str, key: str, dest, *, step: int, if_match: Optional[str],
                   transfer, writer: concurrent.futures.Executor) -> str:
    """Fill ``dest`` with the object's bytes in ranges of ``step``; their SHA-256 hex.
    Raises NotPartial when the server does not answer ranges with 206 (and remembers it:
    the caller then streams the object in one GET)."""
    if getattr(objects, "_no_ranges", False):
        raise NotPartial()
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        return await _ranges(objects, full, key, fd, step=step, if_match=if_match,
                             transfer=transfer, writer=writer)
    except NotPartial:
        objects._no_ranges = True
        raise
    finally:
        os.close(fd)


async def _ranges(objects, full: str, key: str, fd: int, *, step: int,
                  if_match: Optional[str], transfer, writer) -> str:
    job = ranges = None
    h = sha256_hasher()
    try:
        ranges = Ranges(objects, full, key, transfer)
        ranges.etag = if_match
        await ranges.launch(0, objects.part, wait=True)
        meta, data = await ranges.pending[0]
        size, ranges.etag = meta["size"], unquoted(meta.get("e_tag"))
        starts = iter(range(min(objects.part, size), size, step))
        more = next(starts, None)
        while ranges.pending:
            while more is not None and len(ranges.pending) < WINDOW and await ranges.launch(
                    more, min(more + step, size), wait=len(ranges.pending) == 0):
                more = next(starts, None)
            if data is None:
                _meta, data = await ranges.pending[0]
            job = writer.submit(_write, fd, h, data)
            await asyncio.wrap_future(job)
            transfer.advance(memoryview(data).nbytes)
            data = None
            ranges.pending.popleft()
            ranges.slots.release()
            if not ranges.pending and more is not None:
                await ranges.launch(more, min(more + step, size), wait=True)
                more = next(starts, None)
        return h.hexdigest()
    finally:
        if job is not None:
            concurrent.futures.wait([job])  # not writing to fd any more
        if ranges is not None:
            await ranges.stop()
