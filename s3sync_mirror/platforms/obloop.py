"""Requests of an obstore store (Rust ``object_store``, any provider) driven from one asyncio
event loop in one daemon thread, so that a batch of thousands of small files is one loop
run (``many``) instead of a Python thread per file handing each request to native code.

``LoopClient`` is what the S3, GCS and Azure Blob transports on obstore share: the loop
(started on first use: a run that only reads the state needs none), the threads that write
big downloads to disk, one request from a thread (``run``), a batch (``many``), and the
reading of a GET's body (``read_into``): hashed as it comes, a small object returned whole
(``Fetched``) for the batch's own thread to write. Each subclass says what a failure means
(``failure``: its provider's one table) and may retry what its provider throttles
(``call``)."""
from __future__ import annotations

from abc import ABC, abstractmethod
import functools
import queue
import re
import threading
from typing import TYPE_CHECKING, Iterator, Optional

from ..core.background import thread_pool
from ..core.backoff import pause
from ..core.errors import RemoteError, RemoteUnreachable, S3SyncMirrorError
from ..core.hashing import CHUNK, sha256_hasher
from ..core.diskio import write_file
from .base import Cancelled, Fetched, Transfer

if TYPE_CHECKING:
    import concurrent.futures

CONCURRENCY = 64  # requests in flight in one batch
MIB = 1 << 20
BATCH_MAX = MIB  # downloads below this go in batches (each read whole into memory)
INLINE_MAX = 16 << 10  # a GET's body up to this size is read without yielding (read_into)
RANGED_MIN = 64 * MIB  # downloads below this are one GET; above: the provider's ranges
# object_store's HTTP client, for every provider: a request's deadline (its body included)
# and connect timeout, and the idle connections kept for a batch's requests in flight
CLIENT_OPTIONS = {"timeout": "120s", "connect_timeout": "10s",
                  "pool_max_idle_per_host": str(CONCURRENCY)}
_STATUS = re.compile(r"\bstatus(?: code)?:? (\d{3})\b")
_CODE = re.compile(r"<Code>([^<]+)</Code>")
_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
_NETWORK = ("error sending request", "connection refused", "connection reset", "dns error",
            "timed out", "operation timed out", "connection closed", "broken pipe", "tcp connect")


def answer(exc: BaseException) -> tuple:
    """(HTTP status or 0, the service's error code or the failure's name, the server's
    message) of an obstore failure: what each provider's table is asked."""
    from obstore import exceptions as ox

    text = str(exc)
    found = _STATUS.search(text)
    status = int(found.group(1)) if found else 0
    code = _CODE.search(text)
    name = code.group(1) if code else ""
    if isinstance(exc, (ox.PreconditionError, ox.AlreadyExistsError)):
        status, name = 412, name or "PreconditionFailed"
    elif isinstance(exc, (ox.NotFoundError, FileNotFoundError)):
        status, name = 404, name or "NoSuchKey"
    elif isinstance(exc, (ox.PermissionDeniedError, ox.UnauthenticatedError)):
        status, name = status or 403, name or "AccessDenied"
    elif not status and not name:
        lower = text.lower()
        name = "ConnectionError" if any(w in lower for w in _NETWORK) \
            else type(exc).__name__
    msg = _MESSAGE.search(text)
    return status, name or str(status), msg.group(1) if msg else text.splitlines()[0][:300]


_PROXY_VARS = ("https_proxy", "http_proxy", "all_proxy")


def plain_http(url: str) -> dict:
    """object_store's client options for ``url``: on a plain http:// endpoint, HTTP allowed
    and, unless a proxy is set (whose own TLS is verified), no root certificates loaded:
    there is no TLS to verify (loading the system's roots took 5-10 ms per store, at
    every start). On https://, nothing: object_store's verified TLS."""
    import os

    if not url.startswith("http://"):
        return {"allow_http": False}
    if any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARS):
        return {"allow_http": True}
    return {"allow_http": True, "allow_invalid_certificates": True}


def available() -> bool:
    """Whether obstore is installed (it is a default dependency; a stripped install may
    lack it, and every transport then keeps its library's own path)."""
    import importlib.util

    return importlib.util.find_spec("obstore") is not None


def retry_config(retries: int, deadline: float = 60.0) -> dict:
    """object_store's retries (5xx, no answer) as a connection's own are set: at most
    ``retries`` (0: none), for at most ``deadline`` seconds, with a growing back-off."""
    from datetime import timedelta

    if not retries or not deadline:
        return {"max_retries": 0, "retry_timeout": timedelta(seconds=1)}
    return {"max_retries": retries, "retry_timeout": timedelta(seconds=deadline),
            "backoff": {"init_backoff": timedelta(milliseconds=100),
                        "max_backoff": timedelta(seconds=5), "base": 2}}


class Loop:
    """One asyncio event loop running in a daemon thread."""

    def __init__(self, name: str):
        import asyncio

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=name)
        self.thread.start()

    def submit(self, coro) -> concurrent.futures.Future:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        """Cancel what still runs on the loop (a batch's last step, GETs read ahead that no
        batch took) and wait for it, as ``asyncio.run`` does, then stop the loop: no task
        is left pending, to be reported when it is collected."""
        import asyncio

        if not self.thread.is_alive():
            return  # closed already

        async def finish() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(finish(), self.loop).result(timeout=5)
        except Exception:  # noqa: BLE001 - best effort: the loop stops next anyway
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class LoopClient(ABC):
    """The loop, the writer threads and the batches of one store (see the module)."""

    name = "obstore"

    def __init__(self):
        self._loop_made: Optional[Loop] = None
        self._writer: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._loop_lock = threading.Lock()
        self._ahead: dict = {}  # read ahead: {key: _Ahead}, touched on the loop only
        self._ahead_run: Optional[concurrent.futures.Future] = None

    # -- what a provider says ----------------------------------------------------------------
    @abstractmethod
    def failure(self, exc: BaseException, method: str, conditional: bool,
                what: str) -> S3SyncMirrorError:
        """The project's exception for an obstore failure (the provider's table)."""

    attempts = 5

    def throttled(self, status: int, code: str) -> bool:
        """Whether the answer says the service is throttling: asked again after a back-off
        (object_store retries 5xx and network failures itself)."""
        return status == 429

    async def call(self, request, method: str, conditional: bool, what: str):
        """``await request()``, again after a back-off while the service is throttling;
        any failure as the project's exception."""
        import asyncio

        for attempt in range(self.attempts):
            try:
                return await request()
            except Exception as exc:  # noqa: BLE001 - every failure goes through the table
                status, code, _ = answer(exc)
                if attempt + 1 >= self.attempts or not self.throttled(status, code):
                    raise self.failure(exc, method, conditional, what) from None
            await asyncio.sleep(pause(attempt))

    # -- plumbing ------------------------------------------------------------------------
    @property
    def _loop(self) -> Loop:
        if self._loop_made is None:
            with self._loop_lock:
                if self._loop_made is None:
                    self._loop_made = Loop(self.name)
        return self._loop_made

    def start(self) -> None:
        """Start the loop now (``_loop`` starts it on first use otherwise)."""
        self._loop  # noqa: B018

    def writers(self) -> concurrent.futures.ThreadPoolExecutor:
        """The threads that write downloaded bytes to disk, started on first use."""
        if self._writer is None:
            with self._loop_lock:
                if self._writer is None:
                    self._writer = thread_pool(4, f"{self.name}-write")
        return self._writer

    def run(self, coro, transfer: Optional[Transfer]):
        """``coro`` on the loop, from a thread; cancelling ``transfer`` cancels it."""
        import concurrent.futures

        fut = self._loop.submit(coro)
        if transfer is not None:
            transfer.on_cancel(fut.cancel)
        try:
            return fut.result()
        except concurrent.futures.CancelledError:
            raise Cancelled() from None

    async def fetch(self, request, dest, *, transfer: Transfer, what: str, conditional: bool,
                    fetched: bool = False):
        """The GET ``request()`` and its body (``read_into``). One that got no answer, or
        whose body broke off, is sent again, twice at most (after 0.2 s, 0.4 s): a read
        is idempotent, pinned to its version, and its file is written from the start.
        Measured: one GET in about 40,000 of a benchmark's run failed so on `rclone
        serve s3` ("request or response body error", object_store's own retries spent
        within a second), which had failed the whole sync."""
        import asyncio

        for attempt in range(3):
            try:
                r = await self.call(request, "GET", conditional, what)
                return await self.read_into(r, dest, transfer=transfer, what=what,
                                            conditional=conditional, fetched=fetched)
            except RemoteError as exc:
                if attempt == 2 or type(exc) not in (RemoteUnreachable, RemoteError):
                    raise  # an answer (not found, refused, a lost race) is final
            await asyncio.sleep(0.2 * 2 ** attempt)

    async def read_into(self, r, dest, *, transfer: Transfer, what: str, conditional: bool,
                        fetched: bool = False):
        """The body of the GET ``r`` into ``dest``; the SHA-256 hex of the bytes written.
        An object that comes in one piece is written by a writer thread (disks block),
        or, with ``fetched``, returned as ``Fetched`` for the caller to write: a batch
        writes it in the thread that takes its results (``many``), so that a small file
        costs no hand-over to a writer thread and back (measured on S3 at 2,000 files:
        178,000 futex calls, most of the run's system time, then 87,000).

        A body of at most ``INLINE_MAX`` bytes is read at once, without yielding the loop:
        it is on its way with the answer's head, and awaiting it costs a second hand-over
        from obstore's threads to the loop's (each awaited result takes the GIL from a
        thread of its own). Measured, 2,000 x 4 KiB from `rclone serve s3`, fresh clones
        on tmpfs, medians of 9: 1.16 s -> 1.07 s."""
        import asyncio

        h = sha256_hasher()
        try:
            # A stream holds a buffer of min_chunk_size: a small object comes in one piece.
            size = r.meta["size"]
            stream = r.stream(min_chunk_size=CHUNK) if size > CHUNK else None
            whole = b"" if stream is not None else r.bytes() if size <= INLINE_MAX \
                else await r.bytes_async()
        except Exception as exc:  # noqa: BLE001 - every failure goes through the table
            raise self.failure(exc, "GET", conditional, what) from None
        if stream is None:
            h.update(whole)
            transfer.advance(len(whole))
            if fetched:
                return Fetched(h.hexdigest(), whole)
            await asyncio.get_running_loop().run_in_executor(self.writers(), write_file,
                                                             dest, whole)
            return h.hexdigest()
        with open(dest, "wb") as fo:  # local failures are OSError, as on every transport
            while True:
                try:
                    chunk = await stream.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:  # noqa: BLE001 - the connection failed
                    raise self.failure(exc, "GET", conditional, what) from None
                h.update(chunk)
                fo.write(chunk)
                transfer.advance(len(chunk))
        return h.hexdigest()

    def many(self, jobs: list, transfer: Transfer) -> Iterator[tuple]:
        """Run the coroutine functions ``jobs`` (each called with no argument) in one loop
        run, ``CONCURRENCY`` at a time; yield (index, result or exception) as each ends.
        Cancelling ``transfer`` cancels those in flight and those not started: each then
        yields Cancelled. ``CONCURRENCY`` workers take the jobs in turn, rather than one
        task per job waiting on a semaphore: the first requests leave at once, not after
        thousands of tasks were made (2,000 jobs: the first answer came 4-16 ms after the
        loop run started, 37 ms before)."""
        import asyncio

        out: queue.SimpleQueue = queue.SimpleQueue()

        todo = iter(range(len(jobs)))  # one iterator for all workers: each job taken once

        async def worker() -> None:
            for i in todo:
                try:
                    transfer.check()
                    result = await jobs[i]()
                except asyncio.CancelledError:
                    out.put((i, Cancelled()))
                    raise
                except Exception as exc:  # noqa: BLE001 - handed to the caller
                    result = exc
                out.put((i, result))

        async def main() -> None:
            await asyncio.gather(*(worker() for _ in range(min(CONCURRENCY, len(jobs)))))

        fut = self._loop.submit(main())
        transfer.on_cancel(fut.cancel)
        left = set(range(len(jobs)))
        try:
            while left:
                try:
                    i, result = out.get(timeout=0.1)
                except queue.Empty:
                    if fut.done() and out.empty():
                        break  # cancelled before they started
                    continue
                left.discard(i)
                yield i, result
            for i in sorted(left):
                yield i, Cancelled()
        finally:
            fut.cancel()

    # -- reading ahead -------------------------------------------------------------------
    def read_ahead(self, items, job) -> None:
        """Start the GETs of ``items`` ([(key, if_match, size)]) now, ``CONCURRENCY`` at a
        time, each the coroutine function ``job(key, None, if_match, transfer, size)``
        makes (a ``Fetched``: only objects below ``BATCH_MAX`` are read whole), and keep
        each answer in memory under (key, if_match) until a batch asks for it
        (``batch_jobs``): a sync reads the small files it will most likely download while
        it still plans (``pipeline/ahead.py``). Nothing is written anywhere; what no batch
        takes is dropped by ``drop_ahead`` or with the loop. Returns at once."""
        idle = Transfer()
        jobs = [((key, if_match), job(key, None, if_match, idle, size))
                for key, if_match, size in items if size < BATCH_MAX]
        if jobs:
            self._ahead_run = self._loop.submit(self._read_ahead(jobs))

    def batch_jobs(self, items, transfer: Transfer, job) -> list:
        """The jobs of a batch of (key, dest, if_match), each ``job(key, dest, if_match,
        transfer)`` answered from what was read ahead where it can be (``ahead``)."""
        return [self.ahead((key, if_match), job(key, dest, if_match, transfer), transfer)
                for key, dest, if_match in items]

    def drop_ahead(self) -> None:
        """Stop reading ahead and drop what no batch took (after the run's batches, or at
        Ctrl-C). Safe from any thread."""
        run, self._ahead_run = self._ahead_run, None
        loop = self._loop_made
        if run is not None and loop is not None:
            run.cancel()  # its GETs in flight are cancelled with it
            loop.loop.call_soon_threadsafe(self._ahead.clear)

    async def _read_ahead(self, jobs: list) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        # Every key is known before the first await: a batch submitted after this call
        # finds them all (the loop runs its tasks in the order they were submitted).
        slots = []
        for key, job in jobs:
            slot = self._ahead[key] = _Ahead(loop.create_future())
            slots.append((slot, job))
        todo = iter(slots)

        async def worker() -> None:
            for slot, job in todo:
                if slot.taken:
                    continue  # a batch asked before it started: it sends its own GET
                slot.started = True
                got = None  # cancelled: a batch waiting for it sends its own GET
                try:
                    got = await job()
                except Exception as exc:  # noqa: BLE001 - the batch then asks again itself
                    got = exc
                finally:
                    if not slot.fut.done():
                        slot.fut.set_result(got)

        await asyncio.gather(*(worker() for _ in range(min(CONCURRENCY, len(slots)))))

    def ahead(self, key, job, transfer: Transfer):
        """``job`` (a coroutine function returning a ``Fetched``), answered from what was
        read ahead under ``key`` when that GET started: its bytes, counted as moved now;
        a GET not started yet, or one that failed, is sent again by ``job`` itself, so
        every failure is the usual one, raised by the usual request."""
        async def run():
            slot = self._ahead.pop(key, None)
            if slot is not None:
                slot.taken = True
                if slot.started:  # (an answer already here is taken without a pause)
                    got = slot.fut.result() if slot.fut.done() else await slot.fut
                    if isinstance(got, Fetched):
                        transfer.advance(len(got.data))
                        return got
            return await job()
        return run

    def download_many(self, jobs: list, dests: list, transfer: Transfer,
                      keep: bool = False) -> Iterator[tuple]:
        """``many`` of GETs made with ``fetched``: each small object written to its
        ``dests[i]`` here (with ``keep``: yielded as it is, a ``Fetched``); yields (index,
        the SHA-256 hex, or the exception); a failed one's file is removed."""
        import os

        for i, got in self.many(jobs, transfer):
            if isinstance(got, Fetched) and not keep:
                try:
                    got = got.write(dests[i])
                except OSError as exc:  # as a transfer raises it
                    got = exc
            if isinstance(got, BaseException):
                try:
                    os.unlink(dests[i])
                except FileNotFoundError:
                    pass
            yield i, got

    def close(self) -> None:
        with self._loop_lock:
            loop, self._loop_made = self._loop_made, None
        if loop is not None:
            loop.close()  # ends what is still read ahead, too
            self._ahead.clear()
        if self._writer is not None:
            self._writer.shutdown(wait=True)


class _Ahead:
    """One GET read ahead: its answer (a Fetched or the exception), whether it started,
    and whether a batch took it."""

    __slots__ = ("fut", "started", "taken")

    def __init__(self, fut):
        self.fut, self.started, self.taken = fut, False, False


class Reads:
    """A connection (GCS, Azure Blob) whose downloads go through an obstore ``LoopClient``
    where one can be made for it (``make_reader``: None where obstore cannot stand in):
    the small files in batches (``download_batch_limit``), files below ``RANGED_MIN`` in
    one GET; made on first use, once."""

    _reader = None  # the reader once made; False: none can be made for this connection
    _reader_lock = threading.Lock()

    @abstractmethod
    def make_reader(self) -> Optional[LoopClient]:
        """The reader of this connection, or None."""

    @property
    def reader(self) -> Optional[LoopClient]:
        if self._reader is None:
            with self._reader_lock:
                if self._reader is None:
                    self._reader = self.make_reader() or False
        return self._reader or None

    @property
    def download_batch_limit(self) -> int:
        return BATCH_MAX if self.reader is not None else 0

    @abstractmethod
    def _read_job(self, reader: LoopClient, key: str, dest, if_match: Optional[str],
                  transfer: Transfer, size: int = 0):
        """The coroutine function of one batched GET of ``key`` (a ``Fetched``)."""

    def drop_read_ahead(self) -> None:
        if self._reader:
            self._reader.drop_ahead()

    def read_ahead(self, items) -> None:
        reader = self.reader
        if reader is not None:
            reader.read_ahead(items, functools.partial(self._read_job, reader))

    def close_reader(self) -> None:
        if self._reader:
            self._reader.close()
