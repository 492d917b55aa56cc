"""The bulk data path of S3Connection on ``obstore`` (Rust ``object_store``): whole-object
PUTs and GETs of data files driven from one asyncio event loop in one thread, so that a
batch of thousands of small files is one loop run (``obloop.LoopClient.many``) instead of
a Python thread per file handing each request to native code.

S3Connection resolves the endpoint, region and credentials with botocore (the same chain:
environment, profile, SSO, instance role) and hands them over; the state file, listing,
copy, delete and multipart stay on botocore. Requests carry the same conditions
(``If-None-Match: *`` / ``If-Match``), the ``x-amz-checksum-sha256`` of the bytes sent
(computed by object_store, the server checks it) and the SHA-256 as metadata; the bytes
are read once and hashed here before sending, so an edited file is never sent as the
planned content. A download is hashed as it is written. Failures go through the one table
(``s3errors.classify``), so every transport raises the same exception for the same answer.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Optional

from ...core.backoff import pause
from ...core.errors import S3SyncMirrorError
from ..base import Transfer, read_whole
from ..obloop import LoopClient, answer, plain_http
from ..parts import quoted, unquoted
from .errors import THROTTLED, classify

TIMEOUT = 120  # seconds for one request, its body included (object_store has no read timeout)
TIMED = 64 << 20  # a body above this gets a deadline grown with its size: at least 0.5 MiB/s
_VIRTUAL_OK = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
OPERATIONS = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject",
              "DELETE": "DeleteObject", "LIST": "ListObjectsV2"}


def _asyncio():
    import asyncio

    return asyncio




class ObstoreTransport(LoopClient):
    """PUT and GET of whole objects of one bucket through an obstore S3Store."""

    name = "s3-obstore"

    def __init__(self, *, bucket: str, endpoint_url: str, region: str, credentials,
                 path_style: bool, max_connections: int, endpoint: Optional[str] = None,
                 max_attempts: int = 7, part_size: int = 8 << 20):
        self.bucket = bucket
        self.endpoint = endpoint  # as configured, for messages (None: AWS)
        # botocore Credentials (may refresh), or a dict of keys the environment gave
        self._credentials = credentials
        self._endpoint_url = endpoint_url
        self._path_style = path_style or not _VIRTUAL_OK.match(bucket)
        self._max = max_connections
        self.attempts = max(1, max_attempts)
        super().__init__()
        self.store = self._make(region)
        self._stores = {TIMEOUT: self.store}  # by their deadline in seconds
        self.part = part_size  # the first range of a big download

    def _credential(self) -> dict:
        c = self._credentials.get_frozen_credentials()
        # Asked again every few minutes: botocore refreshes what expires.
        return {"access_key_id": c.access_key, "secret_access_key": c.secret_key,
                "token": c.token, "expires_at": datetime.now(timezone.utc)
                + timedelta(minutes=5)}

    def store_for(self, size: int):
        """The store whose deadline a request with a body of ``size`` bytes can keep:
        TIMEOUT up to TIMED bytes, doubled with each doubling of the size above it (256
        MiB: 480 s), so a big file on a slow link is not cut off while its bytes flow."""
        seconds = TIMEOUT
        while size > TIMED * seconds // TIMEOUT:
            seconds *= 2
        if seconds not in self._stores:
            with self._loop_lock:
                if seconds not in self._stores:
                    self._stores[seconds] = self._make(self.region, seconds)
        return self._stores[seconds]

    def _make(self, region: str, timeout: int = TIMEOUT):
        from obstore.store import S3Store

        self.region = region
        config = {"region": region, "virtual_hosted_style_request": not self._path_style,
                  "checksum_algorithm": "sha256",
                  # The body is covered by its x-amz-checksum-sha256 (a signed header the
                  # server checks): signing it again would hash every byte once more.
                  "unsigned_payload": True}
        if self.endpoint:
            config["endpoint"] = self._endpoint_url
        client = {**plain_http(self._endpoint_url),
                  "pool_max_idle_per_host": str(self._max), "connect_timeout": "10s",
                  "timeout": f"{timeout}s"}
        retry = {"max_retries": self.attempts - 1, "retry_timeout": timedelta(seconds=60),
                 "backoff": {"init_backoff": timedelta(milliseconds=100),
                             "max_backoff": timedelta(seconds=5), "base": 2}}
        if isinstance(self._credentials, dict):  # static keys: no provider to call
            config.update({k: v for k, v in self._credentials.items() if v})
            return S3Store(self.bucket, config=config, client_options=client,
                           retry_config=retry)
        return S3Store(self.bucket, config=config, client_options=client,
                       retry_config=retry, credential_provider=self._credential)

    # -- errors ----------------------------------------------------------------------------
    answer = staticmethod(answer)

    def failure(self, exc: BaseException, method: str, conditional: bool,
                what: str) -> S3SyncMirrorError:
        """The project's exception for a failed request (the one table, ``s3errors``)."""
        status, code, message = self.answer(exc)
        return classify(status, code, OPERATIONS.get(method, method), conditional, what,
                        bucket=self.bucket, endpoint=self.endpoint, message=message)

    def throttled(self, status: int, code: str) -> bool:
        return code in THROTTLED  # a 400 SlowDown (object_store retries 5xx itself)

    # -- one request, as a coroutine -------------------------------------------------------
    async def put_async(self, key: str, data: bytes, sha256: str, *, if_match, if_none_match,
                        label: str = "") -> str:
        import obstore

        mode = {"e_tag": quoted(if_match)} if if_match is not None \
            else ("create" if if_none_match else "overwrite")
        r = await self.call(lambda: obstore.put_async(
            self.store_for(len(data)), key, data, mode=mode, attributes={"sha256": sha256},
            use_multipart=False), "PUT", if_match is not None or if_none_match, label or key)
        return unquoted(r.get("e_tag"))

    async def get_async(self, key: str, dest, *, if_match, transfer: Transfer,
                        label: str = "", size: int = 0, fetched: bool = False):
        """GET ``key`` into ``dest``; the SHA-256 hex written (``fetch``; with
        ``fetched``, a small object is returned as ``Fetched``)."""
        import obstore

        options = {"if_match": quoted(if_match)} if if_match is not None else None
        what, store = label or key, self.store_for(size)
        return await self.fetch(lambda: obstore.get_async(store, key, options=options), dest,
                                transfer=transfer, what=what, conditional=if_match is not None,
                                fetched=fetched)

    async def get_async_raw(self, key: str, options: dict):
        """obstore's GET of ``key`` with ``options``, retried while throttled; its own
        exception otherwise (the caller translates it)."""
        import obstore

        for attempt in range(self.attempts):
            try:
                return await obstore.get_async(self.store, key, options=options)
            except Exception as exc:  # noqa: BLE001 - the caller translates it
                if attempt + 1 >= self.attempts or self.answer(exc)[1] not in THROTTLED:
                    raise
            await _asyncio().sleep(pause(attempt))

    async def put_file_async(self, key: str, source, sha256: str, size: int, *, if_match,
                             if_none_match, label: str, transfer: Transfer) -> str:
        """Read ``source`` (once), check it is the planned content, PUT it."""
        transfer.check()
        data, digest = read_whole(source, size, sha256, label or key)
        etag = await self.put_async(key, data, digest, if_match=if_match,
                                    if_none_match=if_none_match, label=label)
        transfer.moved(size)  # sent: recorded even if Ctrl-C came meanwhile
        return etag

    # -- from a thread: one request -------------------------------------------------------
    def put(self, key: str, data: bytes, sha256: str, *, if_match: Optional[str],
            if_none_match: bool, label: str = "", transfer=None) -> str:
        """PUT ``data`` (already checked against ``sha256``); returns the ETag."""
        return self.run(self.put_async(key, data, sha256, if_match=if_match,
                                        if_none_match=if_none_match, label=label), transfer)

    def get(self, key: str, dest, *, if_match: Optional[str], advance, label: str = "",
            transfer=None, size: int = 0) -> str:
        """GET the object (of about ``size`` bytes, for its deadline) into ``dest``;
        returns the SHA-256 hex of the bytes written."""
        own = transfer if transfer is not None else Transfer(advance)
        return self.run(self.get_async(key, dest, if_match=if_match, transfer=own,
                                        label=label, size=size), own)

    def presign(self, key: str) -> str:
        """A URL for a GET of ``key`` signed with the store's keys, valid for an hour."""
        import obstore

        return obstore.sign(self.store, "GET", key, timedelta(hours=1))

    def get_big(self, key: str, dest, *, step: int, if_match: Optional[str], label: str,
                transfer: Transfer) -> str:
        """Ranged GETs of one version into ``dest`` (``s3ranges``); their SHA-256 hex."""
        from . import ranges as s3ranges

        return self.run(s3ranges.download(self, key, label or key, dest, step=step,
                                           if_match=if_match, transfer=transfer,
                                           writer=self.writers()), transfer)
