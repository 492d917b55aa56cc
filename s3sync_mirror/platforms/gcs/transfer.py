"""The media transfers of ``GCSConnection``, through google-resumable-media on the
connection's authorized session: the multipart upload of a whole object (``put``), the
resumable upload of a big file chunk by chunk (``upload``), and downloads, whole or in
parallel ranges pinned to one generation.

Each function takes the connection first: its URLs, conditions, retry strategy and error
translation (``conn._errors``, i.e. ``gcserrors.classify``). Uploads and downloads take a
``base.Transfer``: cancelling it (Ctrl-C) stops them at their next chunk or block; a
resumable upload then is cancelled on the server, so no object is created.
"""
from __future__ import annotations

import os
from typing import Optional

from ...core.logs import log
from ...core.errors import RemoteError, RemoteNotFound
from ...core.hashing import CHUNK, sha256_hasher
from ..base import RemoteObject, changed
from .errors import classify
from ..parts import download_ranges as in_ranges


UNIT = 256 * 1024  # a resumable upload's chunks are multiples of this
OCTET = "application/octet-stream"
TIMEOUT = (10, 120)  # connect, read




def _retrying(conn, request):
    """``request`` (an upload or download of google-resumable-media) with the connection's
    retry strategy."""
    request._retry_strategy = conn.strategy()
    return request


# -- whole objects ---------------------------------------------------------------------------
def put(conn, key: str, data: bytes, sha256: str, condition: dict) -> str:
    """One multipart upload of ``data`` (its SHA-256 in the metadata, its CRC32C checked by
    the server), whatever its size: the server checks ``condition`` with the write.
    Returns the new generation."""
    from google.resumable_media.requests import MultipartUpload

    upload = _retrying(conn, MultipartUpload(conn.upload_url("multipart", **condition),
                                             checksum="crc32c"))
    meta = {"name": conn._key(key), "metadata": {"sha256": sha256}}
    with conn._errors(key, conditional=bool(condition)):
        response = upload.transmit(conn.transport, data, meta, OCTET, timeout=TIMEOUT)
    return str(response.json()["generation"])


class _Buffer:
    """A small download's stream: its blocks, in memory."""

    def __init__(self):
        self.parts: list = []

    def write(self, block: bytes) -> None:
        self.parts.append(block)


def get_bytes(conn, key: str, if_none_match: Optional[str]):
    """(bytes, generation), or None when the server answers 304 to ``if_none_match``."""
    from google.resumable_media import common
    from google.resumable_media.requests import RawDownload

    params = {"ifGenerationNotMatch": if_none_match} if if_none_match else {}
    sink = _Buffer()
    download = _retrying(conn, RawDownload(conn.media_url(key, **params), stream=sink,
                                           checksum="crc32c"))
    with conn._errors(key):
        try:
            response = download.consume(conn.transport, timeout=TIMEOUT)
        except common.InvalidResponse as exc:
            if exc.response.status_code == 304:
                return None
            raise
    return b"".join(sink.parts), response.headers.get("x-goog-generation", "")


# -- downloads -------------------------------------------------------------------------------
class _Sink:
    """A download's stream: each block is written at its offset of ``fd`` (hashed too when
    ``hashing``) and reported to the transfer once per ``CHUNK``; once the transfer is
    cancelled, the next block raises Cancelled."""

    def __init__(self, fd: int, offset: int, transfer, hashing: bool = False):
        self.fd, self.offset, self.transfer = fd, offset, transfer
        self.sha = sha256_hasher() if hashing else None
        self.pending = 0

    def write(self, block: bytes) -> None:
        self.transfer.check()
        os.pwrite(self.fd, block, self.offset)
        self.offset += len(block)
        if self.sha is not None:
            self.sha.update(block)
        self.pending += len(block)
        if self.pending >= CHUNK:
            self.flush()

    def flush(self) -> None:
        done, self.pending = self.pending, 0
        self.transfer.advance(done)


def download_whole(conn, key: str, dest, transfer, if_match: Optional[str]) -> str:
    """One GET of ``key`` (of generation ``if_match`` when given) into ``dest``, its
    CRC32C checked; returns the SHA-256 hex of the bytes written."""
    from google.resumable_media.requests import RawDownload

    pin = {"generation": if_match, "ifGenerationMatch": if_match} if if_match else {}
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        sink = _Sink(fd, 0, transfer, hashing=True)
        download = _retrying(conn, RawDownload(conn.media_url(key, **pin), stream=sink,
                                               checksum="crc32c"))
        try:
            with conn._errors(key):
                download.consume(conn.transport, timeout=TIMEOUT)
        except RemoteNotFound as exc:
            raise conn.gone(key, if_match, exc) from None
        sink.flush()
    finally:
        os.close(fd)
    return sink.sha.hexdigest()


def _fetch_range(conn, key, url, transfer, fd, start: int, end: int) -> None:
    from google.resumable_media.requests import RawDownload

    sink = _Sink(fd, start, transfer)
    download = _retrying(conn, RawDownload(url, stream=sink, start=start, end=end,
                                           checksum=None))
    with conn._errors(f"{key} (bytes {start}-{end})"):
        download.consume(conn.transport, timeout=TIMEOUT)
    sink.flush()
    if sink.offset != end + 1:
        raise RemoteError(f"{key}: short read of bytes {start}-{end}: run the sync again")


def download_ranges(conn, key: str, dest, transfer, if_match: Optional[str]) -> str:
    """Parallel ranged GETs of one generation (the current one, which must be ``if_match``
    when given) into ``dest``; returns the SHA-256 hex of what was written. Cancelling
    ``transfer`` stops every range at its next block; ``dest`` is closed only once none of
    them writes to it any more."""
    obj = conn.head(key)
    if obj is None:
        raise conn.missing(key)
    if if_match is not None and obj.etag != if_match:
        raise classify(412, "conditionNotMet", what=key)
    url = conn.media_url(key, generation=obj.etag)

    def fetch(fd: int, start: int, end: int) -> None:
        _fetch_range(conn, key, url, transfer, fd, start, end)

    try:
        return in_ranges(transfer, conn._pool(), dest, obj.size, conn.chunk_size, fetch)
    except RemoteNotFound as exc:  # the generation was replaced or removed meanwhile
        raise conn.gone(key, obj.etag, exc) from None


# -- resumable upload ------------------------------------------------------------------------
class _Window:
    """The stream a resumable upload reads: the chunk of the file being sent now, at its
    offset in the file. Loading the next chunk drops the previous one."""

    def __init__(self):
        self.start, self.data, self.pos = 0, b"", 0

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def load(self, data: bytes) -> None:
        self.start, self.data, self.pos = self.end, data, self.end

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence != 0 or not self.start <= pos <= self.end:
            raise ValueError(f"cannot seek to {pos} outside {self.start}-{self.end}")
        self.pos = pos
        return pos

    def read(self, size: int = -1) -> bytes:
        i = self.pos - self.start
        out = self.data[i:] if size is None or size < 0 else self.data[i:i + size]
        self.pos += len(out)
        return out


def _next_chunk(conn, key, f, window: _Window, whole, size: int, sha256: str,
                condition: dict) -> None:
    """Read, hash and load the next chunk. Before the last one (the server creates the
    object on it) the bytes read must hash to ``sha256`` and the condition still hold."""
    want = min(conn.chunk_size, size - window.end)
    data = f.read(want)
    whole.update(data)
    window.load(data)
    if window.end < size and len(data) == want:
        return
    if len(data) != want or f.read(1) or whole.hexdigest() != sha256:
        raise changed(key)
    gen = condition.get("ifGenerationMatch")
    conn.check(key, None if gen is None or gen == 0 else str(gen), gen == 0)


def _send_chunks(conn, key, upload, source, size, sha256, condition, transfer):
    """Send the file chunk by chunk; returns the final response (the object's resource)."""
    window, whole, reported = _Window(), sha256_hasher(), 0
    upload.initiate(conn.transport, window, {"name": conn._key(key),
                                             "metadata": {"sha256": sha256}},
                    OCTET, total_bytes=size, stream_final=False, timeout=TIMEOUT)
    with open(source, "rb") as f:
        while True:
            transfer.advance(upload.bytes_uploaded - reported)  # Cancelled once stopping
            reported = upload.bytes_uploaded
            if reported >= window.end:
                _next_chunk(conn, key, f, window, whole, size, sha256, condition)
                if window.end == size:
                    transfer.check()  # interrupted before the last chunk: cancelled
            window.seek(reported)
            response = upload.transmit_next_chunk(conn.transport, timeout=TIMEOUT)
            if upload.finished:
                transfer.moved(size - reported)  # stored: recorded even after Ctrl-C
                return response


def _cancel(conn, upload, key: str) -> None:
    """Abandon a resumable upload on the server (best effort: an unfinished session
    creates nothing and expires anyway)."""
    if upload.resumable_url is None or upload.finished:
        return
    try:
        conn.transport.delete(upload.resumable_url, timeout=TIMEOUT)
    except Exception:  # noqa: BLE001
        log.debug("could not cancel the resumable upload of %s", key)


def _discard(conn, key: str, response) -> None:
    """Remove the object a corrupted upload created (that generation only)."""
    try:
        gen = int(response.json()["generation"])
        conn.client.bucket(conn.bucket).blob(conn._key(key)).delete(if_generation_match=gen)
    except Exception:  # noqa: BLE001
        log.warning("%s: could not remove the object of a corrupted upload", key)


def upload(conn, key: str, source, sha256: str, size: int, condition: dict,
           transfer) -> RemoteObject:
    """Resumable upload of ``source``, chunk by chunk; the last chunk is sent only if the
    bytes read hash to ``sha256`` and ``condition`` holds, else the session is cancelled
    and nothing is created. The server's CRC32C of the object is checked at the end."""
    from google.resumable_media import common
    from google.resumable_media.requests import ResumableUpload

    url = conn.upload_url("resumable", **condition)
    up = _retrying(conn, ResumableUpload(url, conn.chunk_size, checksum="crc32c"))
    try:
        with conn._errors(key, conditional=bool(condition)):
            try:
                response = _send_chunks(conn, key, up, source, size, sha256, condition,
                                        transfer)
            except common.DataCorruption as exc:  # stored, but not the bytes sent
                _discard(conn, key, exc.response)
                raise
    except BaseException:
        _cancel(conn, up, key)
        raise
    return RemoteObject(key, size, str(response.json()["generation"]), sha256=sha256)
