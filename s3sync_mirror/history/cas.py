"""The artifact store (docs/artifacts.md): each content once under its SHA-256 in
``.S3/cas/xx/rest``, hashfs's ``depth=1, width=2`` layout, so that cas-manifest's
``Registry`` over a ``HashFS``/``S3HashFS`` of that folder reads it. A content already on
the remote (in the archive, or a live file) is copied server-side, never sent again; every
read is SHA-256-checked."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Optional

from ..core import layout
from ..core.errors import ChecksumMismatch, PreconditionFailed, RemoteNotFound, UsageError
from ..core.hashing import sha256_file, sha256_hex

_HEX = re.compile(r"[0-9a-f]{4,64}")


def _verified_copy(remote, src: str, key: str, checksum: str, tmp_dir) -> bool:
    """Copy ``src`` to ``key`` server-side; True when the copy holds ``checksum`` (a live
    file can change between reading the state and the copy: then the copy is undone)."""
    try:
        remote.copy(src, key)
    except PreconditionFailed:
        return True  # a teammate stored the same content meanwhile
    except RemoteNotFound:
        return False
    if remote.checksum(key, tmp_dir) == checksum:
        return True
    remote.delete(key)
    return False


def store_file(remote, source: Path, checksum: str, size: int, *, copy_from: Iterable = (),
               tmp_dir=None, repair: bool = False) -> str:
    """Put ``source`` (whose SHA-256 is ``checksum``) in the store; returns what it took:
    ``kept`` (already there), ``copied`` (server-side from a key of ``copy_from`` that
    holds that content) or ``sent``. ``repair``: replace a stored copy that is damaged."""
    key = layout.cas_key(checksum)
    found = remote.head(key)
    if found is not None and not repair:
        return "kept"
    if found is not None and remote.checksum(key, tmp_dir) == checksum:
        return "kept"
    if found is None:
        for src in copy_from:
            if remote.head(src) is not None and _verified_copy(remote, src, key, checksum,
                                                               tmp_dir):
                return "copied"
    try:
        remote.upload(key, Path(source), sha256=checksum, size=size,
                      if_none_match=found is None)
    except PreconditionFailed:
        return "kept"  # the same content, stored by a teammate meanwhile
    return "sent"


def store_bytes(remote, data: bytes) -> tuple[str, str]:
    """Put a small object (a manifest) in the store; returns (its SHA-256, kept|sent)."""
    checksum = sha256_hex(data)
    key = layout.cas_key(checksum)
    if remote.head(key) is not None:
        return checksum, "kept"
    try:
        remote.put_bytes(key, data, if_none_match=True)
    except PreconditionFailed:
        return checksum, "kept"
    return checksum, "sent"


def resolve(remote, given: str) -> str:
    """The full SHA-256 of a stored object named by its hash or a unique prefix of it
    (4 hex digits at least)."""
    h = (given or "").strip().lower()
    if not _HEX.fullmatch(h):
        raise UsageError(f"{given!r} is not an artifact hash: give the SHA-256 (64 hex "
                         f"digits) that `artifact put` printed, or its first 4 or more; "
                         f"`artifact list` shows them")
    if len(h) == 64:
        return h
    under = f"{layout.CAS_ROOT}/{h[:2]}/"
    found = sorted(o.key[len(under) - 3:].replace("/", "") for o in remote.list(under)
                   if o.key.startswith(under + h[2:]))
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageError(f"no artifact {h}...: `artifact list` shows what the store holds")
    raise UsageError(f"{h} names {len(found)} artifacts ({', '.join(f[:12] for f in found)}"
                     f"): give more digits")


def fetch(remote, checksum: str, dest: Path, *, key: Optional[str] = None) -> None:
    """Write the object ``checksum`` to ``dest``, every byte checked against its SHA-256
    (a damaged copy is removed from ``dest`` and refused with the fix)."""
    key = key or layout.cas_key(checksum)
    try:
        digest = remote.download(key, dest)
    except RemoteNotFound:
        raise UsageError(f"no artifact {checksum[:16]} at {remote.url(key)}: "
                         f"`artifact list` shows what the store holds") from None
    if digest != checksum:
        Path(dest).unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"artifact {checksum[:16]} is damaged: {remote.url(key)} holds bytes whose "
            f"SHA-256 is {digest[:16]}, not {checksum[:16]}; nothing was written. Fix: if "
            f"you have the original, `artifact put --repair FILE` stores it again")


def read(remote, checksum: str, tmp: Path, *, key: Optional[str] = None) -> bytes:
    """The bytes of object ``checksum``, verified (through the temp file ``tmp``)."""
    Path(tmp).parent.mkdir(parents=True, exist_ok=True)
    try:
        fetch(remote, checksum, tmp, key=key)
        return Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)


def hash_file(path: Path) -> tuple[str, int]:
    """(SHA-256, size) of a local file, refused with the fix when it is not one."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{path}: no such file (artifact put stores files; a folder "
                         f"stores the files inside it)")
    return sha256_file(p), p.stat().st_size
