"""The parts of ``S3Connection`` that move an object in pieces, all on botocore: multipart
upload (each part with its ``ChecksumSHA256``, the whole file hashed on the way, part
buffers bounded by the connection's ``_part_slots``), ranged download (parallel ranges
pinned to one ETag by If-Match) and part copy (for objects above CopyObject's 5 GiB).

Each function takes the connection as its first argument: its client, key prefix, error
translation (``conn._errors``, i.e. ``s3errors.classify``) and part thread pool.
"""
from __future__ import annotations

import hashlib
import logging
import os
from typing import Optional

from ..errors import ChecksumMismatch, PreconditionFailed, RemoteError
from ..hashing import CHUNK, hex_to_b64
from .base import RemoteObject

log = logging.getLogger("s3sync_mirror")

MIB = 1 << 20
MULTIPART_THRESHOLD = 8 * MIB
PART_SIZE = 8 * MIB
MAX_PARTS = 10_000
PART_MEMORY = 64 * MIB  # part buffers in flight, all transfers together
COPY_LIMIT = 5 * 1024 * MIB  # CopyObject's limit; larger objects are copied in parts
COPY_PART = 512 * MIB


def quoted(etag: str) -> str:
    return f'"{etag}"'


def unquoted(etag: Optional[str]) -> str:
    return (etag or "").strip('"')


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


# -- upload ----------------------------------------------------------------------------------
def _send_part(conn, key, full, upload_id, number: int, buf: bytes, advance) -> dict:
    try:
        b64 = hex_to_b64(hashlib.sha256(buf).hexdigest())
        with conn._errors(f"{key} (part {number})"):
            r = conn.client.upload_part(Bucket=conn.bucket, Key=full, UploadId=upload_id,
                                        PartNumber=number, Body=buf,
                                        ChecksumAlgorithm="SHA256", ChecksumSHA256=b64)
        if advance is not None:
            advance(len(buf))
        return {"PartNumber": number, "ETag": r["ETag"], "ChecksumSHA256": b64}
    finally:
        conn._part_slots.release()


def _send_parts(conn, key, full, upload_id, source, size, advance, futures: list):
    """Read ``source`` part by part (waiting for a free part slot before each read) and
    send the parts in the pool; returns (parts, SHA-256 hex of the bytes read, count)."""
    pool, part = conn._pool(), part_size(conn, size)
    whole, sent, number = hashlib.sha256(), 0, 0
    with open(source, "rb") as f:
        while True:
            conn._part_slots.acquire()
            try:
                buf = f.read(part)
            except BaseException:
                conn._part_slots.release()
                raise
            if not buf:
                conn._part_slots.release()
                break
            number += 1
            whole.update(buf)
            sent += len(buf)
            futures.append(pool.submit(_send_part, conn, key, full, upload_id, number, buf,
                                       advance))
            del buf
    return [fut.result() for fut in futures], whole.hexdigest(), sent


def upload(conn, key: str, source, sha256: str, size: int, if_match: Optional[str],
           if_none_match: bool, advance) -> RemoteObject:
    """Multipart upload of ``source``; completed (conditionally) only if the bytes read
    hash to ``sha256``, else aborted."""
    full = conn._key(key)
    with conn._errors(key):
        up = conn.client.create_multipart_upload(Bucket=conn.bucket, Key=full,
                                                 ChecksumAlgorithm="SHA256",
                                                 Metadata={"sha256": sha256})
    upload_id, futures = up["UploadId"], []
    try:
        parts, digest, sent = _send_parts(conn, key, full, upload_id, source, size, advance,
                                          futures)
        if sent != size or digest != sha256:
            raise ChecksumMismatch(f"{key}: the file changed while it was being uploaded: "
                                   f"run the sync again to send its new content")
        with conn._errors(key, conditional=if_match is not None or if_none_match):
            conn.client.complete_multipart_upload(
                Bucket=conn.bucket, Key=full, UploadId=upload_id,
                MultipartUpload={"Parts": parts}, **conditions(if_match, if_none_match))
    except BaseException:
        for fut in futures:
            fut.cancel()
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
def _fetch_range(conn, key, full, etag, fd, start: int, end: int, advance) -> None:
    with conn._errors(f"{key} (bytes {start}-{end})", conditional=True):
        r = conn.client.get_object(Bucket=conn.bucket, Key=full, IfMatch=etag,
                                   Range=f"bytes={start}-{end}")
        offset = start
        for block in r["Body"].iter_chunks(CHUNK):
            os.pwrite(fd, block, offset)
            offset += len(block)
            if advance is not None:
                advance(len(block))
    if offset != end + 1:
        raise RemoteError(f"{key}: short read of bytes {start}-{end}: run the sync again")


def _sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(4 * CHUNK)
            if not block:
                return h.hexdigest()
            h.update(block)


def download(conn, key: str, dest, size: int, advance, if_match: Optional[str]) -> str:
    """Parallel ranged GETs of one version (the ETag HEAD reports, which must be
    ``if_match`` when given) into ``dest``; returns the SHA-256 hex of what was written."""
    full = conn._key(key)
    with conn._errors(key):
        first = conn.client.head_object(Bucket=conn.bucket, Key=full)
    etag, size = first["ETag"], first["ContentLength"]
    if if_match is not None and unquoted(etag) != if_match:
        raise PreconditionFailed(f"{key}: changed on the remote since this sync read it: "
                                 f"run the sync again to take that change into account")
    part, pool = part_size(conn, size), conn._pool()
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, size)
        futures = [pool.submit(_fetch_range, conn, key, full, etag, fd, start,
                               min(start + part, size) - 1, advance)
                   for start in range(0, size, part)]
        try:
            for fut in futures:
                fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    finally:
        os.close(fd)
    return _sha256_of(dest)


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
        with conn._errors(what):
            r = conn.client.complete_multipart_upload(
                Bucket=conn.bucket, Key=full, UploadId=upload_id,
                MultipartUpload={"Parts": parts})
    except BaseException:
        _abort(conn, full, upload_id, src)
        raise
    return unquoted(r.get("ETag"))
