"""The parts of ``BlobConnection`` that move a blob in pieces: block upload (Put Block per
block in the connection's pool, the whole file hashed on the way, block buffers bounded by
the connection's ``_part_slots``, and Put Block List, with the write's condition, only once
the whole file hashed to the expected SHA-256) and ranged download (parallel ranges pinned
to one ETag by If-Match, written at their offsets).

The waiting for a buffer slot, the gathering of the blocks and their stopping on a cancel
are S3's and GCS's too (``parts``): the same ``base.Transfer``, the same bounds. An upload that is
cancelled, fails or does not match its checksum commits nothing: its staged blocks stay
uncommitted, invisible to every read and listing, and Azure discards them (at the blob's
next write, or after a week).
"""
from __future__ import annotations

import os
import uuid
from typing import Optional

from ...core.errors import PreconditionFailed, RemoteError
from ..base import RemoteObject, changed
from ..parts import CancellableBody, Parts, download_ranges, quoted, read_parts, unquoted

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




def block_size(conn, size: int) -> int:
    """The connection's block size, grown in whole MiB to keep within 50,000 blocks."""
    need = -(-size // MAX_BLOCKS)
    return max(conn.block_size, -(-need // MIB) * MIB)


# -- upload ----------------------------------------------------------------------------------
def _stage(conn, key: str, blob, block_id: str, buf: bytes, transfer) -> str:
    with conn._errors(f"{key} (block {int(block_id[-5:]) + 1})"):
        blob.stage_block(block_id, CancellableBody(buf, transfer), length=len(buf),
                         validate_content=True)
    transfer.advance(len(buf))
    return block_id


def upload(conn, key: str, source, sha256: str, size: int, if_match: Optional[str],
           if_none_match: bool, transfer) -> RemoteObject:
    """Block upload of ``source``; the block list is committed (conditionally, with the
    ``sha256`` metadata) only if the bytes read hash to ``sha256``. Cancelling ``transfer``
    (Ctrl-C) stops the blocks in flight at their next read and drops those not started."""
    from azure.storage.blob import BlobBlock

    blob, token = conn._blob(key), uuid.uuid4().hex
    blocks = Parts(transfer, conn._pool(), conn._part_slots)

    def stage(index: int, buf: bytes) -> str:  # the ids of one blob all have one length
        return _stage(conn, key, blob, f"{token}-{index:05d}", buf, transfer)

    try:
        digest, sent = read_parts(blocks, source, block_size(conn, size), size, stage)
        ids = blocks.gather()
        if sent != size or digest != sha256:
            raise changed(key)
        transfer.check()  # interrupted with every block staged: nothing is committed
        with conn._errors(key, conditional=if_match is not None or if_none_match,
                          write=True):
            r = blob.commit_block_list([BlobBlock(block_id=i) for i in ids],
                                       metadata={"sha256": sha256},
                                       **conditions(if_match, if_none_match))
    except BaseException:
        blocks.stop()
        raise
    return RemoteObject(key, size, unquoted(r["etag"]), sha256=sha256)


# -- ranged download -------------------------------------------------------------------------
def _fetch(conn, key: str, blob, etag: str, transfer, fd: int, start: int, end: int) -> None:
    offset = start
    with conn._errors(f"{key} (bytes {start}-{end})", conditional=True):
        stream = blob.download_blob(offset=start, length=end + 1 - start,
                                    **conditions(etag, False))
        for chunk in stream.chunks():
            os.pwrite(fd, chunk, offset)
            offset += len(chunk)
            transfer.advance(len(chunk))
    if offset != end + 1:
        raise RemoteError(f"{key}: short read of bytes {start}-{end}: run the sync again")


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

    def fetch(fd: int, start: int, end: int) -> None:
        _fetch(conn, key, blob, etag, transfer, fd, start, end)

    return download_ranges(transfer, conn._pool(), dest, size, block_size(conn, size), fetch)
