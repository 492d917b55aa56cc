"""A small JSON document on the remote, changed only by compare-and-swap: read it with its
ETag, compute the new one, put it only if the ETag still holds (or, for a new document,
only if there is none); on a lost race re-read and compute again. The shared metadata and
the team store are such documents (docs/metadata.md#how-writes-are-shared)."""
from __future__ import annotations

import json
import random
import time
from typing import Callable, Optional

from ..core.logs import log
from ..core.errors import PreconditionFailed, RemoteError, RemoteNotFound, StateError


ATTEMPTS = 80  # twenty members writing at the same instant all get through


def parse(data: bytes, where: str, fmt: int) -> dict:
    """The document as a dict; a damaged or newer one is named, never guessed at."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise StateError(f"{where} is not readable JSON ({exc}). Nothing was changed: "
                         f"repair it (it is JSON) or put back a copy of it") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("format"), int):
        raise StateError(f"{where} is not a document of this tool (no format number). "
                         f"Nothing was changed")
    if doc["format"] > fmt:
        raise StateError(f"{where} was written by a newer version of s3sync_mirror "
                         f"(format {doc['format']}): upgrade to use it")
    return doc


def render(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def read(remote, key: str, fmt: int, known: Optional[str] = None):
    """(document or None when there is none, ETag). With ``known``, an ETag this clone
    holds a copy of: (None, known) when it did not change (nothing downloaded)."""
    try:
        got = remote.get_bytes(key, if_none_match=known)
    except RemoteNotFound:
        return None, None
    if got is None:
        return None, known
    data, etag = got
    return parse(data, remote.url(key), fmt), etag


def update(remote, key: str, fmt: int, change: Callable) -> tuple:
    """Apply ``change(doc or None) -> (new doc or None for no write, result)`` with
    compare-and-swap until it holds. Returns (result, the document now, its ETag)."""
    for attempt in range(ATTEMPTS):
        doc, etag = read(remote, key, fmt)
        new, result = change(doc)
        if new is None:
            return result, doc, etag
        try:
            new_etag = remote.put_bytes(key, render(new), if_match=etag,
                                        if_none_match=etag is None)
        except PreconditionFailed:
            log.info("%s changed meanwhile; reading it again", key)
            time.sleep(random.uniform(0.005, 0.03) * min(attempt + 1, 12))
            continue
        return result, new, new_etag
    raise RemoteError(f"could not write {remote.url(key)} after {ATTEMPTS} attempts: other "
                      f"members keep writing it; run again")
