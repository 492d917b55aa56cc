"""Whole-object PUT and GET through botocore (the ``botocore`` transport of
S3Connection, and its ``put_bytes`` when the transport has no small requests of its own)."""
from __future__ import annotations

from typing import Optional

from ...core.hashing import CHUNK, hex_to_b64, sha256_hasher
from . import multipart as s3multipart
from ..parts import CancellableBody, quoted, unquoted
from .multipart import conditions


class BotocoreObjects:
    """Whole-object PUT and GET through botocore: the same calls as ``CrtTransport``."""

    def __init__(self, conn: "S3Connection"):
        self.conn = conn

    def put(self, key: str, data: bytes, sha256: str, *, if_match: Optional[str],
            if_none_match: bool, label: str = "", transfer=None) -> str:
        """PUT ``data`` (already checked against ``sha256``) at the full ``key``; returns
        the ETag. ``label`` names the file in messages; cancelling ``transfer`` stops the
        request at its next block."""
        conn = self.conn
        # A body that checks the transfer on each read (botocore then sends it with
        # Expect: 100-continue, a round trip): only worth it for more than a block.
        body = data if transfer is None or len(data) <= CHUNK \
            else CancellableBody(data, transfer)
        with conn._errors(label or key, conditional=if_match is not None or if_none_match), \
                s3multipart.acting_for(transfer):
            r = conn.client.put_object(Bucket=conn.bucket, Key=key, Body=body,
                                       ChecksumAlgorithm="SHA256",
                                       ChecksumSHA256=hex_to_b64(sha256),
                                       Metadata={"sha256": sha256},
                                       **conditions(if_match, if_none_match))
        return unquoted(r.get("ETag"))

    def get(self, key: str, dest, *, if_match: Optional[str], advance, label: str = "",
            transfer=None) -> str:
        """GET the full ``key`` into ``dest``; returns the SHA-256 hex of the bytes written.
        ``advance`` is called per block (``transfer.advance`` when a transfer is given)."""
        conn, h = self.conn, sha256_hasher()
        if transfer is not None:
            advance = transfer.advance
        extra = {"IfMatch": quoted(if_match)} if if_match is not None else {}
        with conn._errors(label or key, conditional=if_match is not None), \
                s3multipart.acting_for(transfer):
            r = conn.client.get_object(Bucket=conn.bucket, Key=key, **extra)
            body = r["Body"]
            try:
                with open(dest, "wb") as fo:
                    for block in body.iter_chunks(CHUNK):
                        h.update(block)
                        fo.write(block)
                        if advance is not None:
                            advance(len(block))
            finally:
                body.close()  # stopped early: the connection is dropped, not drained
        return h.hexdigest()

    def close(self) -> None:
        pass
