"""The parts of ``BlobConnection`` that move a blob in pieces: block upload (Put Block per
block in the connection's pool, the whole file hashed on the way, block buffers bounded by
the connection's ``_part_slots``, and Put Block List, with the write's condition, only once
the whole file hashed to the expected SHA-256) and ranged download (parallel ranges pinned
to one ETag by If-Match, written at their offsets).

The waiting for a buffer slot, the gathering of the blocks and their stopping on a cancel
are S3's (``s3multipart``): the same ``base.Transfer``, the same bounds. An upload that is
cancelled, fails or does not match its checksum commits nothing: its staged blocks stay
uncommitted, invisible to every read and listing, and Azure discards them (at the blob's
next write, or after a week).
"""
from __future__ import annotations

import hashlib
import os
import uuid
from concurrent.futures import wait
from typing import Optional

from ..errors import ChecksumMismatch, PreconditionFailed, RemoteError
from .base import Cancelled, RemoteObject
from .s3multipart import (CancellableBody, _failing, _gather, _settle, _sha256_of, _take_slot,
                          quoted, unquoted)

MIB = 1 << 20
MAX_BLOCKS = 50_000  # blocks in one blob


def conditions(if_match: Optional[str], if_none_match: bool) -> dict:
    """The SDK's arguments for a conditional write (or a read pinned by If-Match)."""
    from azure.core import MatchConditions

    if if_match is not None:
        return {"etag": quoted(if_match), "match_condition": MatchConditions.IfNotModified}
    if if_none_match:
        return {"match_condition": MatchConditions.IfMissing}
    return {}


def changed(key: str) -> ChecksumMismatch:
    return ChecksumMismatch(f"{key}: the file changed while it was being uploaded: run the "
                            f"sync again to send its new content")


def block_size(conn, size: int) -> int:
    """The connection's block size, grown in whole MiB to keep within 50,000 blocks."""
    need = -(-size // MAX_BLOCKS)
    return max(conn.block_size, -(-need // MIB) * MIB)


# -- upload ----------------------------------------------------------------------------------
def _stage(conn, key: str, blob, block_id: str, buf: bytes, transfer, failed: list) -> None:
    try:
        transfer.check()
        with conn._errors(f"{key} (block {int(block_id[-5:]) + 1})"):
            blob.stage_block(block_id, CancellableBody(buf, transfer), length=len(buf),
                             validate_content=True)
        transfer.advance(len(buf))
    except BaseException as exc:
        _failing(exc, failed, transfer)
        raise
    finally:
        conn._part_slots.release()


def _stage_blocks(conn, key: str, blob, source, size: int, transfer, futures: list):
    """Read ``source`` block by block (waiting for a free buffer slot before each read) and
    stage the blocks in the pool; returns (block ids, SHA-256 hex of the bytes read,
    count). Stops reading once more than ``size`` bytes came: that is a mismatch anyway."""
    pool, step, token = conn._pool(), block_size(conn, size), uuid.uuid4().hex
    whole, sent, ids, failed = hashlib.sha256(), 0, [], []
    with open(source, "rb") as f:
        while not failed and sent <= size:
            try:
                _take_slot(conn, transfer)
            except Cancelled:
                break  # _gather raises why: a block's failure, else the cancel
            try:
                buf = f.read(step)
                if buf:  # ids of one blob must all have the same length
                    ids.append(f"{token}-{len(ids):05d}")
                    futures.append(pool.submit(_stage, conn, key, blob, ids[-1], buf,
                                               transfer, failed))
            except BaseException:
                conn._part_slots.release()
                raise
            if not buf:
                conn._part_slots.release()
                break
            whole.update(buf)
            sent += len(buf)
            del buf
    _gather(futures, failed, transfer)
    return ids, whole.hexdigest(), sent


def upload(conn, key: str, source, sha256: str, size: int, if_match: Optional[str],
           if_none_match: bool, transfer) -> RemoteObject:
    """Block upload of ``source``; the block list is committed (conditionally, with the
    ``sha256`` metadata) only if the bytes read hash to ``sha256``. Cancelling ``transfer``
    (Ctrl-C) stops the blocks in flight at their next read and drops those not started."""
    from azure.storage.blob import BlobBlock

    blob, futures = conn._blob(key), []
    try:
        ids, digest, sent = _stage_blocks(conn, key, blob, source, size, transfer, futures)
        if sent != size or digest != sha256:
            raise changed(key)
        transfer.check()  # interrupted with every block staged: nothing is committed
        with conn._errors(key, conditional=if_match is not None or if_none_match,
                          write=True):
            r = blob.commit_block_list([BlobBlock(block_id=i) for i in ids],
                                       metadata={"sha256": sha256},
                                       **conditions(if_match, if_none_match))
    except BaseException:
        transfer.cancel()
        _settle(conn, futures)
        raise
    return RemoteObject(key, size, unquoted(r["etag"]), sha256=sha256)


# -- ranged download -------------------------------------------------------------------------
def _fetch(conn, key: str, blob, etag: str, fd: int, start: int, length: int, transfer,
           failed: list) -> None:
    try:
        transfer.check()
        offset, end = start, start + length
        with conn._errors(f"{key} (bytes {start}-{end - 1})", conditional=True):
            stream = blob.download_blob(offset=start, length=length,
                                        **conditions(etag, False))
            for chunk in stream.chunks():
                os.pwrite(fd, chunk, offset)
                offset += len(chunk)
                transfer.advance(len(chunk))
        if offset != end:
            raise RemoteError(f"{key}: short read of bytes {start}-{end - 1}: run the sync "
                              f"again")
    except BaseException as exc:
        _failing(exc, failed, transfer)
        raise


def download(conn, key: str, dest, transfer, if_match: Optional[str]) -> str:
    """Parallel ranged reads of one version (the ETag the blob has now, which must be
    ``if_match`` when given) into ``dest``; returns the SHA-256 hex of what was written.
    Cancelling ``transfer`` stops every range at its next chunk; ``dest`` is closed only
    once none of them writes to it any more."""
    blob = conn._blob(key)
    with conn._errors(key):
        props = blob.get_blob_properties()
    etag, size = unquoted(props.etag), props.size
    if if_match is not None and etag != if_match:
        raise PreconditionFailed(f"{key}: changed on the remote since this sync read it: "
                                 f"run the sync again to take that change into account")
    step, pool, failed, futures = block_size(conn, size), conn._pool(), [], []
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, size)
        for start in range(0, size, step):
            futures.append(pool.submit(_fetch, conn, key, blob, etag, fd, start,
                                       min(step, size - start), transfer, failed))
        _gather(futures, failed, transfer)
    except BaseException:
        transfer.cancel()
        for fut in futures:
            fut.cancel()
        wait(futures)
        raise
    finally:
        os.close(fd)
    return _sha256_of(dest, transfer)
