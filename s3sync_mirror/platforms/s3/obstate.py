"""The small requests of S3Connection on obstore, without an event loop: HEAD (with the
object's metadata), LIST of this tool's own ``.S3/`` keys, GET of a small object (with
If-None-Match), PUT of a small object (with If-Match / If-None-Match) and an unconditional
DELETE. Each runs obstore's blocking call in a helper thread while the caller waits
interruptibly (Ctrl-C is not held up by native code); a throttled answer is retried with
back-off as on the loop (``ObstoreTransport.call``); every failure goes through the one
table (``ObstoreTransport.failure`` -> ``s3errors.classify``).

Listing goes through obstore only under ``.S3/``: object_store's paths cannot tell a
folder marker (``dir/``) from an object ``dir`` and refuse keys with empty or ``.``
segments, which another tool may have written among the data files but never there. A
listing that still meets such a key raises ``Unlistable``: the caller lists on botocore.
Elsewhere obstore only says whether a prefix is empty (``empty``): a first sync to a new
prefix lists nothing, and makes no botocore client for it.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from ...core.hashing import sha256_hex
from ...core.backoff import pause
from ...core.clock import ISO as _ISO
from ..base import RemoteObject
from ..parts import quoted, unquoted
from .errors import THROTTLED

class Unlistable(Exception):
    """obstore cannot represent a key of this listing."""


def blocking(fn: Callable):
    """``fn()`` in a daemon thread; the caller waits interruptibly (KeyboardInterrupt
    reaches it at once; the request then ends on its own)."""
    box: list = []
    done = threading.Event()

    def run() -> None:
        try:
            box.append((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, daemon=True, name="s3-request").start()
    while not done.wait(0.2):
        pass
    ok, value = box[0]
    if ok:
        return value
    raise value


def call(objects, request: Callable, method: str, conditional: bool, what: str):
    """``request()`` (blocking), again after a back-off while the server throttles; any
    failure as the project's exception."""
    for attempt in range(objects.attempts):
        try:
            return blocking(request)
        except Unlistable:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure goes through the table
            _status, code, _ = objects.answer(exc)
            if attempt + 1 >= objects.attempts or code not in THROTTLED:
                raise objects.failure(exc, method, conditional, what) from None
        time.sleep(pause(attempt))


def head(objects, full: str, key: str) -> Optional[RemoteObject]:
    """The object's size, ETag, modification time and SHA-256 metadata; None if absent."""
    import obstore
    from obstore import exceptions as ox

    def request():
        try:
            return obstore.get(objects.store, full, options={"head": True})
        except (ox.NotFoundError, FileNotFoundError):
            return None

    r = call(objects, request, "HEAD", False, key)
    if r is None:
        return None
    meta, attrs = r.meta, {str(k).lower(): v for k, v in (r.attributes or {}).items()}
    return RemoteObject(key, meta["size"], unquoted(meta.get("e_tag")),
                        sha256=str(attrs.get("sha256", "")),
                        modified=meta["last_modified"].strftime(_ISO))


def listing(objects, prefix: str, base: str, what: str) -> list:
    """Every object under ``prefix`` (a folder key), keys relative to ``base``. Raises
    Unlistable when obstore cannot represent a key."""
    def request() -> list:
        return [m for batch in _batches(objects, prefix, 1000) for m in batch]

    folder = prefix if prefix.endswith("/") else prefix + "/"
    return [RemoteObject(m["path"][len(base):], m["size"], unquoted(m.get("e_tag")),
                         modified=m["last_modified"].strftime(_ISO))
            for m in call(objects, request, "LIST", False, what)
            if m["path"].startswith(folder)]  # not a marker of the folder itself


def empty(objects, prefix: str, what: str) -> bool:
    """Whether no key at all is under ``prefix`` (a folder key, or "": the bucket). An
    empty answer is one obstore cannot have misread (no folder marker, no odd key): the
    caller then needs no listing of its own (on botocore)."""
    def request() -> bool:
        try:
            return not next(_batches(objects, prefix, 1), [])
        except Unlistable:  # an odd key: there is something
            return False

    return call(objects, request, "LIST", False, what)


def _batches(objects, prefix: str, chunk_size: int):
    """obstore's listing of ``prefix``, batch by batch; Unlistable at a key object_store
    cannot represent."""
    import obstore
    from obstore import exceptions as ox

    try:
        yield from obstore.list(objects.store, prefix.rstrip("/") or None,
                                chunk_size=chunk_size)
    except Exception as exc:  # noqa: BLE001 - a key object_store cannot represent
        if isinstance(exc, ox.InvalidPathError) or "invalid path" in str(exc).lower():
            raise Unlistable(str(exc)) from None
        raise


def get_bytes(objects, full: str, key: str, if_none_match: Optional[str]):
    """(bytes, ETag) of a small object; None when its ETag is still ``if_none_match``."""
    import obstore
    from obstore import exceptions as ox

    options = {"if_none_match": quoted(if_none_match)} if if_none_match else None

    def request():
        try:
            r = obstore.get(objects.store, full, options=options)
        except ox.NotModifiedError:
            return None
        return bytes(r.bytes()), unquoted(r.meta.get("e_tag"))

    return call(objects, request, "GET", bool(if_none_match), key)


def put_bytes(objects, full: str, key: str, data: bytes, *, if_match: Optional[str],
              if_none_match: bool) -> str:
    """PUT a small object with its SHA-256 (checksum header and metadata); its ETag."""
    import obstore

    mode = {"e_tag": quoted(if_match)} if if_match is not None \
        else ("create" if if_none_match else "overwrite")
    sha256 = sha256_hex(data)
    r = call(objects, lambda: obstore.put(objects.store, full, data, mode=mode,
                                          attributes={"sha256": sha256},
                                          use_multipart=False),
             "PUT", if_match is not None or if_none_match, key)
    return unquoted(r.get("e_tag"))


def delete(objects, full: str, key: str) -> None:
    """Remove ``full`` (unconditionally; a missing key is no error)."""
    import obstore
    from obstore import exceptions as ox

    def request() -> None:
        try:
            obstore.delete(objects.store, full)
        except (ox.NotFoundError, FileNotFoundError):
            pass

    call(objects, request, "DELETE", False, key)
