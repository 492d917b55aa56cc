"""The bulk data path of S3Connection on ``obstore`` (Rust ``object_store``): whole-object
PUTs and GETs of data files driven from one asyncio event loop in one thread, so that a
batch of thousands of small files is one loop run (``put_many`` / ``get_many``) instead of
a Python thread per file handing each request to native code.

S3Connection resolves the endpoint, region and credentials with botocore (the same chain:
environment, profile, SSO, instance role) and hands them over; the state file, listing,
copy, delete and multipart stay on botocore. Requests carry the same conditions
(``If-None-Match: *`` / ``If-Match``), the ``x-amz-checksum-sha256`` of the bytes sent
(computed by object_store, the server checks it) and the SHA-256 as metadata; the bytes
are read once and hashed here before sending, so an edited file is never sent as the
planned content. A download is hashed as it is written. Failures go through the one table
(``s3errors.classify``), so every transport raises the same exception for the same answer.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import queue
import random
import re
import threading
from datetime import datetime, timedelta, timezone
from typing import Iterator, NamedTuple, Optional

from ...core.errors import ChecksumMismatch, S3SyncMirrorError
from ...core.hashing import CHUNK
from ..base import Cancelled, Transfer
from ..parts import quoted, unquoted
from .errors import THROTTLED, classify

CONCURRENCY = 64  # requests in flight in one batch
TIMEOUT = 120  # seconds for one request, its body included (object_store has no read timeout)
TIMED = 64 << 20  # a body above this gets a deadline grown with its size: at least 0.5 MiB/s
_STATUS = re.compile(r"\bstatus(?: code)?:? (\d{3})\b")
_CODE = re.compile(r"<Code>([^<]+)</Code>")
_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
_NETWORK = ("error sending request", "connection refused", "connection reset", "dns error",
            "timed out", "operation timed out", "connection closed", "broken pipe", "tcp connect")
_VIRTUAL_OK = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
OPERATIONS = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject",
              "DELETE": "DeleteObject", "LIST": "ListObjectsV2"}


def _asyncio():
    import asyncio

    return asyncio


def _write_file(dest, data: bytes) -> None:
    with open(dest, "wb") as fo:  # local failures are OSError, as on every transport
        fo.write(data)


class Fetched(NamedTuple):
    """A small object's bytes, fetched and hashed, for the caller to write to disk."""

    digest: str
    data: bytes

    def write(self, dest) -> str:
        _write_file(dest, self.data)
        return self.digest


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("obstore") is not None


def changed(key: str) -> ChecksumMismatch:
    return ChecksumMismatch(f"{key}: the file changed while it was being uploaded: run the "
                            f"sync again to send its new content")


class _Loop:
    """One asyncio event loop running in a daemon thread."""

    def __init__(self):
        import asyncio  # on first use: a run that only reads the state needs no loop

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="s3-obstore")
        self.thread.start()

    def submit(self, coro) -> concurrent.futures.Future:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class ObstoreTransport:
    """PUT and GET of whole objects of one bucket through an obstore S3Store."""

    def __init__(self, *, bucket: str, endpoint_url: str, region: str, credentials,
                 path_style: bool, max_connections: int, endpoint: Optional[str] = None,
                 max_attempts: int = 7, part_size: int = 8 << 20):
        self.bucket = bucket
        self.endpoint = endpoint  # as configured, for messages (None: AWS)
        # botocore Credentials (may refresh), or a dict of keys the environment gave
        self._credentials = credentials
        self._endpoint_url = endpoint_url
        self._path_style = path_style or not _VIRTUAL_OK.match(bucket)
        self._max = max_connections
        self._attempts = max(1, max_attempts)
        self.store = self._make(region)
        self._stores = {TIMEOUT: self.store}  # by their deadline in seconds
        self._loop_made: Optional[_Loop] = None
        self._writer: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self.part = part_size  # the first range of a big download
        self._loop_lock = threading.Lock()

    @property
    def _loop(self) -> _Loop:
        """The event loop, started on first use (a HEAD or a LIST needs none)."""
        if self._loop_made is None:
            with self._loop_lock:
                if self._loop_made is None:
                    self._loop_made = _Loop()
        return self._loop_made

    def _credential(self) -> dict:
        c = self._credentials.get_frozen_credentials()
        # Asked again every few minutes: botocore refreshes what expires.
        return {"access_key_id": c.access_key, "secret_access_key": c.secret_key,
                "token": c.token, "expires_at": datetime.now(timezone.utc)
                + timedelta(minutes=5)}

    def store_for(self, size: int):
        """The store whose deadline a request with a body of ``size`` bytes can keep:
        TIMEOUT up to TIMED bytes, doubled with each doubling of the size above it (256
        MiB: 480 s), so a big file on a slow link is not cut off while its bytes flow."""
        seconds = TIMEOUT
        while size > TIMED * seconds // TIMEOUT:
            seconds *= 2
        if seconds not in self._stores:
            with self._loop_lock:
                if seconds not in self._stores:
                    self._stores[seconds] = self._make(self.region, seconds)
        return self._stores[seconds]

    def _make(self, region: str, timeout: int = TIMEOUT):
        from obstore.store import S3Store

        self.region = region
        config = {"region": region, "virtual_hosted_style_request": not self._path_style,
                  "checksum_algorithm": "sha256",
                  # The body is covered by its x-amz-checksum-sha256 (a signed header the
                  # server checks): signing it again would hash every byte once more.
                  "unsigned_payload": True}
        if self.endpoint:
            config["endpoint"] = self._endpoint_url
        client = {"allow_http": self._endpoint_url.startswith("http://"),
                  "pool_max_idle_per_host": str(self._max), "connect_timeout": "10s",
                  "timeout": f"{timeout}s"}
        retry = {"max_retries": self._attempts - 1, "retry_timeout": timedelta(seconds=60),
                 "backoff": {"init_backoff": timedelta(milliseconds=100),
                             "max_backoff": timedelta(seconds=5), "base": 2}}
        if isinstance(self._credentials, dict):  # static keys: no provider to call
            config.update({k: v for k, v in self._credentials.items() if v})
            return S3Store(self.bucket, config=config, client_options=client,
                           retry_config=retry)
        return S3Store(self.bucket, config=config, client_options=client,
                       retry_config=retry, credential_provider=self._credential)

    # -- errors ----------------------------------------------------------------------------
    @staticmethod
    def answer(exc: BaseException) -> tuple:
        """(HTTP status or 0, S3's error code or the failure's name, the server's message)
        of an obstore failure."""
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

    def failure(self, exc: BaseException, method: str, conditional: bool,
                what: str) -> S3SyncMirrorError:
        """The project's exception for a failed request (the one table, ``s3errors``)."""
        status, code, message = self.answer(exc)
        return classify(status, code, OPERATIONS.get(method, method), conditional, what,
                        bucket=self.bucket, endpoint=self.endpoint, message=message)

    async def call(self, request, method: str, conditional: bool, what: str):
        """``await request()``, again after a back-off while the server says it is
        throttling (object_store retries 5xx and network failures itself, not a 400
        SlowDown); any failure as the project's exception."""
        for attempt in range(self._attempts):
            try:
                return await request()
            except Exception as exc:  # noqa: BLE001 - every failure goes through the table
                status, code, _ = self.answer(exc)
                if attempt + 1 >= self._attempts or code not in THROTTLED:
                    raise self.failure(exc, method, conditional, what) from None
            await _asyncio().sleep(min(5.0, 0.1 * 2 ** attempt) * random.uniform(0.5, 1.0))

    # -- one request, as a coroutine -------------------------------------------------------
    async def put_async(self, key: str, data: bytes, sha256: str, *, if_match, if_none_match,
                        label: str = "") -> str:
        import obstore

        mode = {"e_tag": quoted(if_match)} if if_match is not None \
            else ("create" if if_none_match else "overwrite")
        r = await self.call(lambda: obstore.put_async(
            self.store_for(len(data)), key, data, mode=mode, attributes={"sha256": sha256},
            use_multipart=False), "PUT", if_match is not None or if_none_match, label or key)
        return unquoted(r.get("e_tag"))

    async def get_async(self, key: str, dest, *, if_match, transfer: Transfer,
                        label: str = "", size: int = 0, fetched: bool = False):
        """GET ``key`` into ``dest``; the SHA-256 hex written. With ``fetched``, an object
        that comes in one piece is not written here but returned as ``Fetched``: a batch
        writes it in the thread that takes its results (``many``), so that a small file
        costs no hand-over to a writer thread and back (measured at 2,000 files: 178,000
        futex calls, most of the run's system time)."""
        import obstore

        options = {"if_match": quoted(if_match)} if if_match is not None else None
        h, what, store = hashlib.sha256(), label or key, self.store_for(size)
        r = await self.call(lambda: obstore.get_async(store, key, options=options),
                            "GET", if_match is not None, what)
        try:
            # A stream holds a buffer of min_chunk_size: a small object comes in one piece.
            stream = r.stream(min_chunk_size=CHUNK) if r.meta["size"] > CHUNK else None
            whole = await r.bytes_async() if stream is None else b""
        except Exception as exc:  # noqa: BLE001 - every failure goes through the table
            raise self.failure(exc, "GET", if_match is not None, what) from None
        if stream is None:  # created and written off the loop (disks block)
            h.update(whole)
            if fetched:
                transfer.advance(len(whole))
                return Fetched(h.hexdigest(), whole)
            await _asyncio().get_running_loop().run_in_executor(
                self.writers(), _write_file, dest, whole)
            transfer.advance(len(whole))
            return h.hexdigest()
        with open(dest, "wb") as fo:  # local failures are OSError, as on every transport
            while True:
                try:
                    chunk = await stream.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:  # noqa: BLE001 - the connection failed
                    raise self.failure(exc, "GET", if_match is not None, what) from None
                h.update(chunk)
                fo.write(chunk)
                transfer.advance(len(chunk))
        return h.hexdigest()

    async def get_async_raw(self, key: str, options: dict):
        """obstore's GET of ``key`` with ``options``, retried while throttled; its own
        exception otherwise (the caller translates it)."""
        import obstore

        for attempt in range(self._attempts):
            try:
                return await obstore.get_async(self.store, key, options=options)
            except Exception as exc:  # noqa: BLE001 - the caller translates it
                if attempt + 1 >= self._attempts or self.answer(exc)[1] not in THROTTLED:
                    raise
            await _asyncio().sleep(min(5.0, 0.1 * 2 ** attempt) * random.uniform(0.5, 1.0))

    async def put_file_async(self, key: str, source, sha256: str, size: int, *, if_match,
                             if_none_match, label: str, transfer: Transfer) -> str:
        """Read ``source`` (once), check it is the planned content, PUT it."""
        transfer.check()
        with open(source, "rb") as f:
            data = f.read(size + 1)
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != size or digest != sha256:
            raise changed(label or key)
        etag = await self.put_async(key, data, digest, if_match=if_match,
                                    if_none_match=if_none_match, label=label)
        transfer.moved(size)  # sent: recorded even if Ctrl-C came meanwhile
        return etag

    # -- from a thread: one request, or a batch ----------------------------------------------
    def _run(self, coro, transfer: Optional[Transfer]):
        fut = self._loop.submit(coro)
        if transfer is not None:
            transfer.on_cancel(fut.cancel)
        try:
            return fut.result()
        except concurrent.futures.CancelledError:
            raise Cancelled() from None

    def put(self, key: str, data: bytes, sha256: str, *, if_match: Optional[str],
            if_none_match: bool, label: str = "", transfer=None) -> str:
        """PUT ``data`` (already checked against ``sha256``); returns the ETag."""
        return self._run(self.put_async(key, data, sha256, if_match=if_match,
                                        if_none_match=if_none_match, label=label), transfer)

    def get(self, key: str, dest, *, if_match: Optional[str], advance, label: str = "",
            transfer=None, size: int = 0) -> str:
        """GET the object (of about ``size`` bytes, for its deadline) into ``dest``;
        returns the SHA-256 hex of the bytes written."""
        own = transfer if transfer is not None else Transfer(advance)
        return self._run(self.get_async(key, dest, if_match=if_match, transfer=own,
                                        label=label, size=size), own)

    def get_big(self, key: str, dest, *, step: int, if_match: Optional[str], label: str,
                transfer: Transfer) -> str:
        """Ranged GETs of one version into ``dest`` (``s3ranges``); their SHA-256 hex."""
        from . import ranges as s3ranges

        return self._run(s3ranges.download(self, key, label or key, dest, step=step,
                                           if_match=if_match, transfer=transfer,
                                           writer=self.writers()), transfer)

    def writers(self) -> concurrent.futures.ThreadPoolExecutor:
        """The threads that write downloaded bytes to disk, started on first use."""
        if self._writer is None:
            with self._loop_lock:
                if self._writer is None:
                    self._writer = concurrent.futures.ThreadPoolExecutor(
                        max_workers=4, thread_name_prefix="s3-write")
        return self._writer

    def many(self, jobs: list, transfer: Transfer) -> Iterator[tuple]:
        """Run the coroutine functions ``jobs`` (each called with no argument) in one loop
        run, ``CONCURRENCY`` at a time; yield (index, result or exception) as each ends.
        Cancelling ``transfer`` cancels those in flight and those not started: each then
        yields Cancelled."""
        import asyncio

        out: queue.SimpleQueue = queue.SimpleQueue()

        async def one(i: int, sem) -> None:
            try:
                async with sem:
                    transfer.check()
                    result = await jobs[i]()
            except asyncio.CancelledError:
                result = Cancelled()
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                result = exc
            out.put((i, result))

        async def main() -> None:
            sem = asyncio.Semaphore(CONCURRENCY)
            await asyncio.gather(*(one(i, sem) for i in range(len(jobs))))

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

    def close(self) -> None:
        if self._loop_made is not None:
            self._loop_made.close()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
