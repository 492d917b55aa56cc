"""The parts of ``S3Connection`` that move an object in pieces, all on botocore: multipart
upload (each part with its ``ChecksumSHA256``, the whole file hashed on the way, part
buffers bounded by the connection's ``_part_slots``), ranged download (parallel ranges
pinned to one ETag by If-Match) and part copy (for objects above CopyObject's 5 GiB).

Each function takes the connection as its first argument: its client, key prefix, error
translation (``conn._errors``, i.e. ``s3errors.classify``) and part thread pool. Uploads
and downloads take a ``base.Transfer``: cancelling it (Ctrl-C) stops every part at its
next block (a part's body checks it on each read, and botocore does not retry it), drops
the parts not started, and aborts a multipart upload once its parts have stopped.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Optional

from ...core.logs import log
from ...core.errors import ChecksumMismatch, PreconditionFailed, RemoteError
from ...core.hashing import CHUNK, hex_to_b64, sha256_hex
from ..base import Cancelled, RemoteObject, changed, signature
from ..parts import (CancellableBody, NotPartial, Parts, download_ranges, quoted, read_parts,
                     unquoted)


MIB = 1 << 20
MULTIPART_THRESHOLD = 8 * MIB
PART_SIZE = 8 * MIB
MAX_PARTS = 10_000
PART_MEMORY = 64 * MIB  # part buffers in flight, all transfers together
COPY_LIMIT = 5 * 1024 * MIB  # CopyObject's limit; larger objects are copied in parts
COPY_PART = 512 * MIB


def conditions(if_match: Optional[str], if_none_match: bool) -> dict:
    """botocore's arguments for a conditional write."""
    if if_match is not None:
        return {"IfMatch": quoted(if_match)}
    if if_none_match:
        return {"IfNoneMatch": "*"}
    return {}


def part_size(conn, size: int) -> int:
    """The connection's part size, grown in whole MiB to keep within 10,000 parts."""
    need = -(-size // MAX_PARTS)
    return max(conn.part_size, -(-need // MIB) * MIB)


def _abort(conn, full: str, upload_id: str, what: str) -> None:
    try:
        conn.client.abort_multipart_upload(Bucket=conn.bucket, Key=full, UploadId=upload_id)
    except Exception:  # the transfer already failed; abort is best effort  # noqa: BLE001
        log.debug("could not abort the multipart upload of %s", what)


# -- cancelling ------------------------------------------------------------------------------
_acting = threading.local()  # .transfer: the transfer this thread's requests belong to


@contextmanager
def acting_for(transfer):
    """The requests this thread makes in the body belong to ``transfer``: once it is
    cancelled, botocore does not retry them (``no_retry_when_cancelled``)."""
    before = getattr(_acting, "transfer", None)
    _acting.transfer = transfer
    try:
        yield
    finally:
        _acting.transfer = before


def no_retry_when_cancelled(caught_exception=None, response=None, **_kw) -> None:
    """botocore's ``needs-retry`` hook: a request that stopped because its transfer was
    cancelled (botocore wraps the body's Cancelled in an HTTPClientError), or that failed
    for a transfer cancelled meanwhile, is not retried after a back-off: Cancelled goes
    straight to the caller."""
    if isinstance(caught_exception, (Cancelled, ChecksumMismatch)):
        raise caught_exception
    inner = (getattr(caught_exception, "kwargs", None) or {}).get("error")
    if isinstance(inner, (Cancelled, ChecksumMismatch)):
        raise inner  # a body that refused to go on (``s3streamed.CheckedBody``)
    transfer = getattr(_acting, "transfer", None)
    if transfer is None or not transfer.cancelled:
        return
    status = getattr(response[0], "status_code", 0) if response else 0
    if caught_exception is not None or status >= 400:
        raise Cancelled()


def no_expect(model=None, params=None, **_kw) -> None:
    """botocore's ``before-call`` hook (after its own, which adds ``Expect: 100-continue``
    to every body it can read): none on an UploadPart. A part carries no condition for the server to
    refuse before its bytes come, and a server that answers the header late (``rclone
    serve s3`` under parallel parts) holds the part for botocore's 1 s wait: measured,
    one part of 32 in each 256 MiB upload took 1.06 s instead of 0.03-0.15 s."""
    if params is not None and getattr(model, "name", "") == "UploadPart":
        params.get("headers", {}).pop("Expect", None)


# -- upload ----------------------------------------------------------------------------------
def _send_part(conn, key, full, upload_id, index: int, buf: bytes, transfer) -> dict:
    number = index + 1
    b64 = hex_to_b64(sha256_hex(buf))
    with conn._errors(f"{key} (part {number})"), acting_for(transfer):
        r = conn.client.upload_part(Bucket=conn.bucket, Key=full, UploadId=upload_id,
                                    PartNumber=number, Body=CancellableBody(buf, transfer),
                                    ChecksumAlgorithm="SHA256", ChecksumSHA256=b64)
    transfer.advance(len(buf))
    return {"PartNumber": number, "ETag": r["ETag"], "ChecksumSHA256": b64}


def upload(conn, key: str, source, sha256: str, size: int, if_match: Optional[str],
           if_none_match: bool, transfer, scanned: Optional[tuple] = None) -> RemoteObject:
    """Multipart upload of ``source``; completed (conditionally) only if the bytes read
    hash to ``sha256``, else aborted. Hashed once: when ``scanned`` (the file's
    ``signature`` when ``sha256`` was computed) still holds before reading and after the
    last part is sent, the file did not change and is not hashed again (each part still
    carries its own SHA-256, checked by the server). Cancelling ``transfer`` (Ctrl-C)
    stops the parts in flight at their next block, drops those not started and aborts
    the upload, so no part is left on the server."""
    full = conn._key(key)
    with conn._errors(key):
        up = conn.client.create_multipart_upload(Bucket=conn.bucket, Key=full,
                                                 ChecksumAlgorithm="SHA256",
                                                 Metadata={"sha256": sha256})
    upload_id = up["UploadId"]
    parts = Parts(transfer, conn._pool(), conn._part_slots)

    def send(index: int, buf: bytes) -> dict:
        return _send_part(conn, key, full, upload_id, index, buf, transfer)

    try:
        trusted = scanned is not None and signature(source) == scanned
        digest, sent = read_parts(parts, source, part_size(conn, size), size, send,
                                  whole=not trusted)
        done = parts.gather()
        if trusted and signature(source) != scanned:
            digest = None  # changed meanwhile: what was sent is not known to be sha256
        elif trusted:
            digest = sha256
        if sent != size or digest != sha256:
            raise changed(key)
        transfer.check()  # interrupted with every part sent: aborted, not completed
        with conn._errors(key, conditional=if_match is not None or if_none_match):
            conn.client.complete_multipart_upload(
                Bucket=conn.bucket, Key=full, UploadId=upload_id,
                MultipartUpload={"Parts": done}, **conditions(if_match, if_none_match))
    except BaseException:
        parts.stop()  # aborted after its parts stopped: none lands after it
        _abort(conn, full, upload_id, key)
        raise
    # Some S3-compatible servers answer the completion with another ETag than the one
    # they report afterwards: record the one later requests will be compared with.
    obj = conn.head(key)
    if obj is None or obj.size != size:
        raise RemoteError(f"{key}: the multipart upload completed but the object is missing "
                          f"or of the wrong size: run the sync again")
    return RemoteObject(key, size, obj.etag, sha256=sha256)


# -- ranged download -------------------------------------------------------------------------
def _fetch_range(conn, key, full, etag, transfer, fd, start: int, end: int) -> None:
    with conn._errors(f"{key} (bytes {start}-{end})", conditional=True), \
            acting_for(transfer):
        r = conn.client.get_object(Bucket=conn.bucket, Key=full, IfMatch=etag,
                                   Range=f"bytes={start}-{end}")
        body, offset = r["Body"], start
        if r.get("ContentLength") != end + 1 - start:
            body.close()  # the whole object, not its range: nothing written
            raise NotPartial()
        try:
            for block in body.iter_chunks(CHUNK):
                os.pwrite(fd, block, offset)
                offset += len(block)
                transfer.advance(len(block))
        finally:
            body.close()
    if offset != end + 1:
        raise RemoteError(f"{key}: short read of bytes {start}-{end}: run the sync again")


def download(conn, key: str, dest, size: int, transfer, if_match: Optional[str]) -> str:
    """Parallel ranged GETs of one version (the ETag HEAD reports, which must be
    ``if_match`` when given) into ``dest``; returns the SHA-256 hex of what was written.
    Cancelling ``transfer`` stops every range at its next block; ``dest`` is closed only
    once none of them writes to it any more."""
    full = conn._key(key)
    with conn._errors(key):
        first = conn.client.head_object(Bucket=conn.bucket, Key=full)
    etag, size = first["ETag"], first["ContentLength"]
    if if_match is not None and unquoted(etag) != if_match:
        raise PreconditionFailed(f"{key}: changed on the remote since this sync read it: "
                                 f"run the sync again to take that change into account")

    def fetch(fd: int, start: int, end: int) -> None:
        _fetch_range(conn, key, full, etag, transfer, fd, start, end)

    return download_ranges(transfer, conn._pool(), dest, size, part_size(conn, size), fetch)


# -- part copy -------------------------------------------------------------------------------
def copy(conn, src: str, dst: str, if_match: Optional[str], size: int) -> str:
    """Server-side copy in ranges of at least 512 MiB (UploadPartCopy), each conditional on
    the source's ETag when ``if_match`` is given; returns the new ETag."""
    full, what = conn._key(dst), f"archiving {src}"
    source = {"Bucket": conn.bucket, "Key": conn._key(src)}
    with conn._errors(what):
        meta = conn.client.head_object(**source)
        up = conn.client.create_multipart_upload(Bucket=conn.bucket, Key=full,
                                                 Metadata=meta.get("Metadata") or {})
    upload_id, part = up["UploadId"], max(part_size(conn, size), COPY_PART)
    extra = {"CopySourceIfMatch": quoted(if_match)} if if_match is not None else {}
    try:
        parts = []
        for number, start in enumerate(range(0, size, part), 1):
            end = min(start + part, size) - 1
            with conn._errors(what):
                r = conn.client.upload_part_copy(
                    Bucket=conn.bucket, Key=full, UploadId=upload_id, PartNumber=number,
                    CopySource=source, CopySourceRange=f"bytes={start}-{end}", **extra)
            parts.append({"PartNumber": number, "ETag": r["CopyPartResult"]["ETag"]})
        with conn._errors(what, conditional=True):
            r = conn.client.complete_multipart_upload(
                Bucket=conn.bucket, Key=full, UploadId=upload_id,
                MultipartUpload={"Parts": parts}, IfNoneMatch="*")  # never over an object
    except BaseException:
        _abort(conn, full, upload_id, src)
        raise
    return unquoted(r.get("ETag"))
