"""An existing hashfs store (a ``HashFS`` folder, or cas-manifest's ``S3HashFS`` prefix) seen
through a connection: its keys are the SHA-256 cut into folders (any depth and width:
hashfs's default ``a/b/c/d/rest``, S3HashFS's ``xx/rest``), optionally with an extension.
Read-only: this module never writes to the store it reads."""
from __future__ import annotations

import re
from typing import Iterator, Optional

_SHA = re.compile(r"[0-9a-f]{64}")
# (depth, width) of the layouts looked at first when reading one hash: S3HashFS's and
# this tool's, then hashfs's default; `entries` finds any other by walking.
LAYOUTS = ((1, 2), (4, 1), (2, 2), (3, 2), (0, 0))


def unshard(key: str) -> Optional[str]:
    """The SHA-256 a hashfs key stands for (its folders and name joined, the extension
    dropped), or None when the key is no hashfs entry."""
    folder, _, name = key.rpartition("/")
    stem = name.split(".", 1)[0]
    digest = (folder.replace("/", "") + stem).lower()
    return digest if _SHA.fullmatch(digest) else None


def entries(conn) -> Iterator[tuple[str, str, int]]:
    """Every (SHA-256, key, size) of the store; keys that are no hashfs entry are skipped
    (hashfs keeps nothing else there; a stray file is no artifact)."""
    for obj in conn.list(""):
        digest = unshard(obj.key)
        if digest is not None:
            yield digest, obj.key, obj.size


def shard(checksum: str, depth: int, width: int) -> str:
    parts = [checksum[i * width:(i + 1) * width] for i in range(depth)]
    return "/".join([p for p in parts if p] + [checksum[depth * width:]])


def find(conn, checksum: str) -> Optional[str]:
    """The key of ``checksum`` in the store, with or without an extension, or None."""
    for depth, width in LAYOUTS:
        key = shard(checksum, depth, width)
        if conn.head(key) is not None:
            return key
        folder = key.rpartition("/")[0]
        for obj in conn.list(folder + "/" if folder else ""):
            if obj.key.startswith(key + ".") and "/" not in obj.key[len(key):]:
                return obj.key
    return None
