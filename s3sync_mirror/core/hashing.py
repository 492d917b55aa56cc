"""SHA-256 of files and buffers, and the encodings S3 wants; BLAKE2b for what this tool
keeps for itself (fingerprints, caches).

`hashlib` is imported at the first SHA-256, not with this module: it loads OpenSSL (2.4 ms
of every start, measured), and a no-change sync hashes nothing. BLAKE2b is built into
CPython (`_blake2`, which `hashlib` itself serves it from), so it costs no such load."""
from __future__ import annotations

try:
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter without CPython's builtin module
    from hashlib import blake2b

CHUNK = 1 << 20


def sha256_file(path, progress=None) -> str:
    h = sha256_hasher()
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
    import base64

    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def b64_to_hex(b64: str) -> str:
    import base64

    return base64.b64decode(b64).hex()


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of a buffer, in hex."""
    import hashlib

    return hashlib.sha256(data).hexdigest()


def sha256_hasher():
    """hashlib's SHA-256 object, to be fed block by block."""
    import hashlib

    return hashlib.sha256()
