"""SHA-256 of files and buffers, and the encodings S3 wants."""
from __future__ import annotations

import base64
import hashlib

CHUNK = 1 << 20


def sha256_file(path, progress=None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                break
            h.update(block)
            if progress is not None:
                progress(len(block))
    return h.hexdigest()


def hex_to_b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def b64_to_hex(b64: str) -> str:
    return base64.b64decode(b64).hex()
