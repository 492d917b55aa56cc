"""DataPlatformConnection: the remote as a handful of primitives. Everything else (the sync,
archiving, state files) is written once above them. Keys are POSIX paths relative to the
remote's root (the S3 prefix or the remote folder); the caller has validated them.

Every error leaving a connection is one of the project's exceptions (``errors.py``).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from .. import layout

Advance = Optional[Callable[[int], None]]


@dataclass(frozen=True)
class RemoteObject:
    key: str
    size: int
    etag: str  # opaque version token for conditional writes
    sha256: str = ""  # hex, when the remote knows it without reading the content
    modified: str = ""  # ISO 8601 UTC, when known


class DataPlatformConnection(ABC):
    """The abstract remote. Subclasses: ``S3Connection``, ``LocalConnection``."""

    platform = ""

    @abstractmethod
    def describe(self) -> str:
        """Where this remote is, for messages (``s3://bucket/prefix`` or a folder)."""

    @abstractmethod
    def url(self, key: str) -> str:
        """The full address of ``key`` (``s3://...`` or an absolute path)."""

    @abstractmethod
    def list(self, under: str = "") -> Iterator[RemoteObject]:
        """Every object whose key starts with ``under`` (a folder key, or "")."""

    @abstractmethod
    def head(self, key: str) -> Optional[RemoteObject]:
        """The object's metadata, or None if there is none."""

    @abstractmethod
    def get_bytes(self, key: str, if_none_match: Optional[str] = None):
        """(bytes, etag); None when ``if_none_match`` equals the current ETag.
        Raises RemoteNotFound."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, *, if_match: Optional[str] = None,
                  if_none_match: bool = False) -> str:
        """Write a small object; returns its ETag. ``if_match``: only if the object still
        has that ETag; ``if_none_match``: only if there is no object. Raises
        PreconditionFailed otherwise."""

    @abstractmethod
    def upload(self, key: str, source: Path, *, sha256: str, size: int,
               if_match: Optional[str] = None, if_none_match: bool = False,
               advance: Advance = None) -> RemoteObject:
        """Send a local file. The bytes sent are hashed on the way and must equal
        ``sha256``, else ChecksumMismatch and the remote is unchanged. Conditions as for
        ``put_bytes``."""

    @abstractmethod
    def download(self, key: str, dest: Path, *, advance: Advance = None,
                 size_hint: int = -1, if_match: Optional[str] = None) -> str:
        """Write the object's bytes to ``dest`` (a temp file); returns their SHA-256 hex.
        ``if_match``: only if the object still has that ETag (else PreconditionFailed).
        Raises RemoteNotFound."""

    @abstractmethod
    def copy(self, src: str, dst: str, *, if_match: Optional[str] = None,
             size_hint: int = -1) -> str:
        """Server-side copy to a new key (never overwriting one); returns the new ETag.
        Raises RemoteNotFound, PreconditionFailed."""

    @abstractmethod
    def delete(self, key: str, *, if_match: Optional[str] = None) -> None:
        """Remove ``key``; a missing key is not an error. Conditions as ``put_bytes``."""

    PROBE_KEY = layout.PROBE_KEY

    def honours_conditional_writes(self) -> bool:
        """Whether the remote refuses a write whose condition does not hold. Some
        S3-compatible servers ignore If-None-Match/If-Match; the no-lost-update promise
        needs them honoured. (Costs three small requests: callers check once per remote.)"""
        from ..errors import PreconditionFailed

        try:
            self.put_bytes(self.PROBE_KEY, b"probe")
            try:
                self.put_bytes(self.PROBE_KEY, b"probe", if_none_match=True)
            except PreconditionFailed:
                return True
            return False
        finally:
            self.delete(self.PROBE_KEY)

    def checksum(self, key: str, tmp_dir=None) -> str:
        """The object's SHA-256 hex: from metadata when present, else by reading it (into
        a temp file of its own in ``tmp_dir`` when that folder exists)."""
        import os
        import tempfile

        obj = self.head(key)
        if obj is not None and obj.sha256:
            return obj.sha256
        folder = tmp_dir if tmp_dir is not None and os.path.isdir(tmp_dir) else None
        fd, name = tempfile.mkstemp(dir=folder, prefix="checksum-", suffix=".part")
        os.close(fd)
        try:
            return self.download(key, Path(name))
        finally:
            Path(name).unlink(missing_ok=True)

    def close(self) -> None:
        """Release connections and threads."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
