"""DataPlatformConnection: the remote as a handful of primitives. Everything else (the sync,
archiving, state files) is written once above them. Keys are POSIX paths relative to the
remote's root (the S3 prefix or the remote folder); the caller has validated them.

Every error leaving a connection is one of the project's exceptions (``core/errors.py``).
"""
from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager
from ..core.records import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, NamedTuple, Optional

from ..core.background import thread_pool
from ..core.diskio import write_file
from ..core.logs import log
from ..core import layout
from ..core.errors import ChecksumMismatch
from ..core.hashing import sha256_hex

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

Advance = Optional[Callable[[int], None]]
STALE_TMP_SECONDS = 3600.0  # a remote temp file not written for this long was abandoned


class Fetched(NamedTuple):
    """A small object's bytes, fetched and hashed, for the caller to write to disk
    (``download_many`` with ``keep``)."""

    digest: str
    data: bytes

    def write(self, dest) -> str:
        write_file(dest, self.data)
        return self.digest


class Cancelled(Exception):
    """The run is being interrupted (Ctrl-C): the transfer stopped at its next block and
    gave up what it had started (a multipart upload aborted, a temp file removed)."""


class Transfer:
    """One transfer in flight on a connection. ``cancel`` (Ctrl-C, or a part of it that
    failed) makes its blocks, parts and requests stop at their next step: each one calls
    ``check`` or ``advance``, which raise Cancelled from then on, and what cannot poll
    (a request in native code) registers a callback with ``on_cancel``."""

    def __init__(self, advance: Advance = None):
        self._advance = advance
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._on_cancel: list = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()

    def advance(self, n: int) -> None:
        """``n`` more bytes moved; raises Cancelled when the transfer is to stop (the
        caller's ``advance`` raises it too when the run is stopping)."""
        self.check()
        if self._advance is not None:
            self._advance(n)

    def moved(self, n: int) -> None:
        """``n`` bytes moved and committed: progress only, never Cancelled (what is done
        is done, and is recorded)."""
        if self._advance is not None:
            try:
                self._advance(n)
            except Cancelled:
                pass

    def wait(self, timeout: float) -> bool:
        """Sleep until cancelled or ``timeout`` seconds passed; True when cancelled."""
        return self._event.wait(timeout)

    def on_cancel(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` when the transfer is cancelled (at once if it already is)."""
        with self._lock:
            if not self._event.is_set():
                self._on_cancel.append(fn)
                return
        fn()

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._on_cancel = self._on_cancel, []
        for fn in callbacks:
            try:
                fn()
            except Exception:  # cancelling is best effort  # noqa: BLE001
                log.debug("cancelling a transfer", exc_info=True)


class Transfers:
    """The transfers in flight on one connection, so that ``interrupt`` reaches each."""

    def __init__(self):
        self._lock = threading.Lock()
        self._live: set = set()

    @contextmanager
    def track(self, advance: Advance = None) -> Iterator[Transfer]:
        """A new transfer, cancelled by ``interrupt`` while the body runs. It first calls
        ``advance(0)``: the executor's raises Cancelled once the run is stopping, so a
        transfer that starts after ``interrupt`` looked at the live ones stops at once."""
        t = Transfer(advance)
        with self._lock:
            self._live.add(t)
        try:
            t.advance(0)
            yield t
        finally:
            with self._lock:
                self._live.discard(t)

    def interrupt(self) -> None:
        with self._lock:
            live = list(self._live)
        for t in live:
            t.cancel()


@dataclass(frozen=True)
class RemoteObject:
    """One object as a listing or a HEAD of the remote found it."""

    key: str
    size: int
    etag: str  # opaque version token for conditional writes
    sha256: str = ""  # hex, when the remote knows it without reading the content
    modified: str = ""  # ISO 8601 UTC, when known


class PrefixedKeys:
    """Keys of a bucket-like remote: ``<scheme><tenant>/<prefix>/<key>``. The subclass
    sets ``scheme`` and ``prefix`` and has a ``tenant`` (its bucket or container)."""

    scheme = ""
    prefix = ""
    tenant = ""

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe(self) -> str:
        return f"{self.scheme}{self.tenant}/{self.prefix}".rstrip("/")

    def url(self, key: str) -> str:
        return f"{self.scheme}{self.tenant}/{self._key(key)}"


def last_rules(service: str, where_code: bool = False) -> tuple:
    """The two rows that end every provider's error table: a request that got no answer,
    and any other answer, each with what to do. ``where_code``: name the failure's code
    when no answer came."""
    from ..core.errors import RemoteError

    failed = "({code}: {message})" if where_code else "({message})"
    return (("no answer", lambda f: not f.status, RemoteError,
             "{lead}the request to {where} failed " + failed + ": run again; if it "
             "persists, run with -vv to see why"),
            ("other", lambda f: True, RemoteError,
             "{lead}" + service + " error {code} (HTTP {status}) from {where}: {message}: "
             "run again; if it persists, run with -vv to see the request"))


def changed(key: str) -> ChecksumMismatch:
    """The error of a file that changed while it was being sent (nothing is stored)."""
    return ChecksumMismatch(f"{key}: the file changed while it was being uploaded: run the "
                            f"sync again to send its new content")


def signature(path) -> tuple:
    """(size, mtime_ns, (ctime_ns, inode, device)): what the scan recorded with a hash."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, (st.st_ctime_ns, st.st_ino, st.st_dev)


def read_whole(source, size: int, sha256: str, key: str,
               scanned: Optional[tuple] = None) -> tuple:
    """(bytes, SHA-256) of a small file about to be sent in one request, read once; raises
    ``changed(key)`` when the file is no longer the size and checksum the scan saw. Hashed
    once: when ``scanned`` (the file's ``signature`` when ``sha256`` was computed) holds
    before the read and after it, no write came between (each moves the ctime), so the
    bytes are the ones the scan hashed."""
    before = signature(source) if scanned is not None else None
    with open(source, "rb") as f:
        data = f.read(size + 1)
    if before is not None and before == scanned == signature(source) and len(data) == size:
        return data, sha256
    digest = sha256_hex(data)
    if len(data) != size or digest != sha256:
        raise changed(key)
    return data, digest


class LazyClient:
    """A provider's client made on first use, by one thread (``_make_client``); set
    ``self._client`` (None, or a client the caller gave) and ``self._client_lock``."""

    @property
    def client(self):
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self):
        raise NotImplementedError


class DataPlatformConnection(ABC):
    """The abstract remote. Subclasses: ``S3Connection``, ``GCSConnection``,
    ``BlobConnection``, ``LocalConnection``.

    Optional features, declared here with the default a backend without them has:
    ``hashes_once`` (``upload`` takes the scan's hash as ``scanned=``), ``batch_limit``
    with ``upload_many`` and ``download_batch_limit`` with ``download_many`` (small files
    in one batch), ``jobs`` (threads
    for the parts of big transfers), ``interrupt`` and ``clean_tmp``."""

    platform = ""
    hashes_once = False
    jobs = 8

    @property
    def batch_limit(self) -> int:
        """Files below this size may go in one batch (``upload_many``/``download_many``);
        0: this remote has no batches."""
        return 0

    @property
    def download_batch_limit(self) -> int:
        """Downloads below this size may go in one batch (``download_many``); 0: none."""
        return self.batch_limit

    def upload_many(self, items, advance=None) -> Iterator[tuple]:
        """Upload each (key, source, sha256, size, if_match, if_none_match) below
        ``batch_limit`` in one batch; yields (index, RemoteObject or the exception)."""
        raise NotImplementedError(f"{type(self).__name__} has no batches (batch_limit 0)")

    def download_many(self, items, advance=None, keep: bool = False) -> Iterator[tuple]:
        """Download each (key, dest, if_match) below ``download_batch_limit`` in one
        batch; yields (index, the SHA-256 hex written, or the exception). With ``keep``,
        an object read whole is yielded as it is in memory (``Fetched``: its SHA-256 and
        bytes), not written to ``dest``, for the caller to write where it goes."""
        raise NotImplementedError(f"{type(self).__name__} has no batches (batch_limit 0)")

    def read_ahead(self, items) -> None:
        """Start reading into memory each (key, if_match, size) that a batch of this run
        will likely download (``download_many`` with ``keep`` then takes the answers
        instead of asking again); returns at once, writes nothing. Nothing by default: a
        connection without batches reads when it downloads."""

    def drop_read_ahead(self) -> None:
        """Stop reading ahead and drop what no batch took (the run's batches are over, or
        Ctrl-C). Safe from any thread."""

    def warm(self) -> None:
        """Make now, in this thread, what the first request builds (a client, a store):
        work that holds the GIL, done before requests that wait on the network run
        beside a walk of the folder. Nothing by default."""

    def warm_transfers(self) -> None:
        """Start now what the first transfer starts (an event loop): called while this
        thread would only wait for the remote state. Nothing by default."""

    @abstractmethod
    def describe(self) -> str:
        """Where this remote is, for messages (``s3://bucket/prefix`` or a folder)."""

    @abstractmethod
    def url(self, key: str) -> str:
        """The full address of ``key`` (``s3://...`` or an absolute path)."""

    @abstractmethod
    def list(self, under: str = "") -> Iterator[RemoteObject]:
        """Every object whose key starts with ``under`` (a folder key, or "")."""

    @abstractmethod
    def head(self, key: str) -> Optional[RemoteObject]:
        """The object's metadata, or None if there is none."""

    @abstractmethod
    def get_bytes(self, key: str, if_none_match: Optional[str] = None):
        """(bytes, etag); None when ``if_none_match`` equals the current ETag.
        Raises RemoteNotFound."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, *, if_match: Optional[str] = None,
                  if_none_match: bool = False) -> str:
        """Write a small object; returns its ETag. ``if_match``: only if the object still
        has that ETag; ``if_none_match``: only if there is no object. Raises
        PreconditionFailed otherwise."""

    @abstractmethod
    def upload(self, key: str, source: Path, *, sha256: str, size: int,
               if_match: Optional[str] = None, if_none_match: bool = False,
               advance: Advance = None) -> RemoteObject:
        """Send a local file. The bytes sent are hashed on the way and must equal
        ``sha256``, else ChecksumMismatch and the remote is unchanged. Conditions as for
        ``put_bytes``."""

    @abstractmethod
    def download(self, key: str, dest: Path, *, advance: Advance = None,
                 size_hint: int = -1, if_match: Optional[str] = None) -> str:
        """Write the object's bytes to ``dest`` (a temp file); returns their SHA-256 hex.
        ``if_match``: only if the object still has that ETag (else PreconditionFailed).
        Raises RemoteNotFound."""

    @abstractmethod
    def copy(self, src: str, dst: str, *, if_match: Optional[str] = None,
             size_hint: int = -1) -> str:
        """Server-side copy to a new key (never overwriting one); returns the new ETag.
        Raises RemoteNotFound, PreconditionFailed."""

    @abstractmethod
    def delete(self, key: str, *, if_match: Optional[str] = None) -> None:
        """Remove ``key``; a missing key is not an error. Conditions as ``put_bytes``."""

    PROBE_KEY = layout.PROBE_KEY

    def honours_conditional_writes(self) -> bool:
        """Whether the remote refuses a write whose condition does not hold. Some
        S3-compatible servers ignore If-None-Match/If-Match; the no-lost-update promise
        needs them honoured. (Costs three small requests: callers check once per remote.)"""
        from ..core.errors import PreconditionFailed

        try:
            self.put_bytes(self.PROBE_KEY, b"probe")
            try:
                self.put_bytes(self.PROBE_KEY, b"probe", if_none_match=True)
            except PreconditionFailed:
                return True
            return False
        finally:
            self.delete(self.PROBE_KEY)

    def checksum(self, key: str, tmp_dir=None) -> str:
        """The object's SHA-256 hex: from metadata when present, else by reading it (into
        a temp file of its own in ``tmp_dir`` when that folder exists)."""
        import os
        import tempfile

        obj = self.head(key)
        if obj is not None and obj.sha256:
            return obj.sha256
        folder = tmp_dir if tmp_dir is not None and os.path.isdir(tmp_dir) else None
        fd, name = tempfile.mkstemp(dir=folder, prefix="checksum-", suffix=".part")
        os.close(fd)
        try:
            return self.download(key, Path(name))
        finally:
            Path(name).unlink(missing_ok=True)

    @property
    def transfers(self) -> Transfers:
        """The transfers in flight (``upload``, ``download``), for ``interrupt``."""
        found = self.__dict__.get("_transfers")
        if found is None:
            found = self.__dict__.setdefault("_transfers", Transfers())
        return found

    def _pool(self) -> ThreadPoolExecutor:
        """The threads that carry the parts of big transfers (``self.jobs`` of them), made
        on first use and shut down by ``close``."""
        pool = self.__dict__.get("_part_pool")
        if pool is None:
            with self.__dict__.setdefault("_part_pool_lock", threading.Lock()):
                pool = self.__dict__.get("_part_pool")
                if pool is None:
                    pool = self.__dict__["_part_pool"] = thread_pool(
                        self.jobs, f"{self.platform.lower()}-part")
        return pool

    def _close_pool(self) -> None:
        pool = self.__dict__.pop("_part_pool", None)
        if pool is not None:
            pool.shutdown(wait=True)

    def interrupt(self) -> None:
        """Ctrl-C: every transfer in flight stops at its next block (raising Cancelled)
        and gives up what it started. Calls made afterwards work as usual (the run still
        records what completed). Safe from any thread."""
        self.transfers.interrupt()
        self.drop_read_ahead()

    def clean_tmp(self, max_age: float = STALE_TMP_SECONDS) -> int:
        """Remove the temp files on the remote that no one wrote for ``max_age`` seconds
        (an interrupted or killed run's); returns how many. Remotes that keep none have
        nothing to do."""
        return 0

    def close(self) -> None:
        """Release connections and threads."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
