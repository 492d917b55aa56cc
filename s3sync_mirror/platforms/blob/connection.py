"""BlobConnection: a blob prefix in an Azure Storage container (or in Azurite).

azure-storage-blob is imported only when this backend is used. Credentials come only from
Azure's standard chain: ``AZURE_STORAGE_CONNECTION_STRING`` when it is set; else the
account URL (``storage.endpoint_url``, ``AZURE_STORAGE_ACCOUNT_URL``, or
``https://$AZURE_STORAGE_ACCOUNT.blob.core.windows.net``) with ``DefaultAzureCredential``
(``az login``, a managed identity, ...). None is ever logged or written.

Every blob carries its content's SHA-256 in its metadata (``sha256``), which ``head`` and
``list`` return. An upload below ``threshold`` is read, hashed, compared, then sent as one
Put Blob (its Content-MD5 checked by the service); a larger one is staged block by block
and committed only once the whole file hashed to the expected SHA-256 (``blobblocks``).
Conditional writes are If-Match / If-None-Match: * on the write itself; a copy never
overwrites its destination. ETags are kept unquoted, as ``S3Connection`` keeps them.
Every failure is translated by the one table, ``bloberrors.classify``.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
import time
from datetime import timezone
from pathlib import Path
from typing import Iterator, Optional

from ...core.clock import ISO
from ...core.layout import CONFIG_NAME
from ...core.errors import ConfigError, RemoteError, RemoteNotFound
from . import blocks as blobblocks
from ..base import Advance, DataPlatformConnection, PrefixedKeys, RemoteObject, read_whole
from .blocks import conditions
from .errors import CRED_HELP, ContainerNotFound, azure_errors
from ..obloop import RANGED_MIN, Reads
from ..parts import quoted, unquoted
from ...core.hashing import sha256_hasher, sha256_hex

MIB = 1 << 20
BLOCK_SIZE = 8 * MIB
THRESHOLD = 8 * MIB  # from this size on, uploads go in blocks and downloads in ranges
BLOCK_MEMORY = 64 * MIB  # block buffers in flight, all uploads of a connection together
GET_CHUNK = 4 * MIB  # a read's chunk: what one range holds in memory at a time
RETRIES = 5  # throttling (503) and server errors; refused connections: 2


def _iso(stamp) -> str:
    return stamp.astimezone(timezone.utc).strftime(ISO)


def _meta(metadata) -> dict:
    return {k.lower(): v for k, v in (metadata or {}).items()}


def _transport(jobs: int):
    """requests with a connection pool for every thread (urllib3's own retries off: the
    SDK's retry policy decides)."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from urllib3.util.retry import Retry

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(
        pool_maxsize=max(10, 2 * jobs),
        max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    return RequestsTransport(session=session, session_owner=True, connection_timeout=10,
                             read_timeout=120)


def _quiet_azure() -> None:
    """The SDK's loggers speak only where the application set logging up: their warnings
    (DefaultAzureCredential's list of attempts, say) repeat what the error says."""
    azure = logging.getLogger("azure")
    if not any(isinstance(h, logging.NullHandler) for h in azure.handlers):
        azure.addHandler(logging.NullHandler())


def _account_url(endpoint_url: Optional[str]) -> Optional[str]:
    account = os.environ.get("AZURE_STORAGE_ACCOUNT")
    return endpoint_url or os.environ.get("AZURE_STORAGE_ACCOUNT_URL") or (
        f"https://{account}.blob.core.windows.net" if account else None)


class BlobConnection(PrefixedKeys, Reads, DataPlatformConnection):
    """``container`` and blob ``prefix``; ``endpoint_url``: the account URL when no
    connection string is set. ``block_size``, ``threshold``: the block upload's (and the
    ranged download's) piece and where it starts; ``retries``: the SDK's retry budget."""

    platform = "Blob"
    scheme = "az://"

    def __init__(self, container: str, prefix: str = "", *,
                 endpoint_url: Optional[str] = None, jobs: int = 16,
                 block_size: int = BLOCK_SIZE, threshold: int = THRESHOLD,
                 retries: int = RETRIES):
        self.container = container
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.jobs = max(1, jobs)
        self.block_size = max(1, block_size)
        self.threshold = max(1, threshold)
        # Bounds the memory held by block buffers across all concurrent uploads.
        self._part_slots = threading.BoundedSemaphore(
            max(2, min(self.jobs, BLOCK_MEMORY // self.block_size)))
        self._lock = threading.Lock()
        self._credential = None
        self.retries = retries
        self.service = self._make_service(retries)
        self.where = self.service.url.split("?")[0].rstrip("/")  # never a SAS token
        self.client = self.service.get_container_client(container)

    def _make_service(self, retries: int):
        from azure.storage.blob import BlobServiceClient, ExponentialRetry

        _quiet_azure()
        options = {"retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2,
                                                    retry_total=retries, retry_status=retries,
                                                    retry_connect=2,
                                                    random_jitter_range=1),
                   "transport": _transport(self.jobs),
                   "max_single_get_size": GET_CHUNK, "max_chunk_get_size": GET_CHUNK}
        connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
        if connection_string:
            try:
                return BlobServiceClient.from_connection_string(connection_string, **options)
            except ValueError:
                raise ConfigError(
                    "AZURE_STORAGE_CONNECTION_STRING is not a valid connection string. Fix: "
                    "copy it again (Azure portal: the storage account's Access keys), or "
                    "unset it and use storage.endpoint_url with `az login`") from None
        url = _account_url(self.endpoint_url)
        if not url:
            raise ConfigError(f"no Azure Storage account is named for container "
                              f"{self.container!r}. Fix: {CRED_HELP}")
        if not url.startswith("https://"):
            raise ConfigError(
                f"storage.endpoint_url {url} is not https: Azure credentials (`az login`) "
                f"are only sent over https. Fix: use the https URL in {CONFIG_NAME}, or, for "
                f"an emulator, set AZURE_STORAGE_CONNECTION_STRING")
        from azure.identity import DefaultAzureCredential

        self._credential = DefaultAzureCredential()
        return BlobServiceClient(url, credential=self._credential, **options)

    # -- plumbing ------------------------------------------------------------------------
    def _errors(self, what: str, conditional: bool = False, write: bool = False):
        """Translate azure.core's exceptions (``bloberrors.classify``), naming ``what``."""
        return azure_errors(what, conditional=conditional, write=write,
                            container=self.container, where=self.where)

    def _blob(self, key: str):
        return self.client.get_blob_client(self._key(key))

    def make_reader(self):
        """Downloads on obstore (``blobreader``), where it can speak for this connection."""
        from . import reader as blobreader

        return blobreader.make(self)

    def download_many(self, items, advance: Advance = None,
                      keep: bool = False) -> Iterator[tuple]:
        """``download`` of each (key, dest, if_match) below ``download_batch_limit`` in
        one event loop run (``blobreader``); yields (index, the SHA-256 hex, or the
        exception ``download`` would raise) as each ends. ``keep``: see the base class."""
        reader = self.reader
        with self.transfers.track(advance) as transfer:
            jobs = reader.batch_jobs(items, transfer, functools.partial(self._read_job, reader))
            yield from reader.download_many(jobs, [d for _k, d, _m in items], transfer, keep)

    def _read_job(self, reader, key, dest, if_match, transfer, size=0):
        return functools.partial(reader.get_async, self._key(key), dest, if_match=if_match,
                                 transfer=transfer, label=key)

    def close(self) -> None:
        self._close_pool()
        self.close_reader()
        self.service.close()
        if self._credential is not None:
            self._credential.close()

    @property
    def tenant(self) -> str:
        return self.container

    # -- primitives ----------------------------------------------------------------------
    def list(self, under: str = "") -> Iterator[RemoteObject]:
        base = f"{self.prefix}/" if self.prefix else ""
        with self._errors(f"listing {self.describe()}"):
            for b in self.client.list_blobs(name_starts_with=base + under,
                                            include=["metadata"]):
                key, meta = b.name[len(base):], _meta(b.metadata)
                if not key or key.endswith("/") or meta.get("hdi_isfolder") == "true":
                    continue  # a folder marker (hierarchical namespace), not a file
                yield RemoteObject(key, b.size, unquoted(b.etag), sha256=meta.get("sha256", ""),
                                   modified=_iso(b.last_modified))

    def head(self, key: str) -> Optional[RemoteObject]:
        try:
            with self._errors(key):
                p = self._blob(key).get_blob_properties()
        except ContainerNotFound:
            raise
        except RemoteNotFound:
            return None
        return RemoteObject(key, p.size, unquoted(p.etag),
                            sha256=_meta(p.metadata).get("sha256", ""),
                            modified=_iso(p.last_modified))

    def get_bytes(self, key: str, if_none_match: Optional[str] = None):
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError

        unchanged = {"etag": quoted(if_none_match),
                     "match_condition": MatchConditions.IfModified} if if_none_match else {}
        with self._errors(key, conditional=bool(if_none_match)):
            try:
                stream = self._blob(key).download_blob(**unchanged)
            except HttpResponseError as exc:
                if exc.status_code == 304:
                    return None
                raise
            return stream.readall(), unquoted(stream.properties.etag)

    def _put(self, key: str, data: bytes, digest: str, if_match: Optional[str],
             if_none_match: bool) -> str:
        with self._errors(key, conditional=if_match is not None or if_none_match, write=True):
            r = self._blob(key).upload_blob(data, overwrite=True, metadata={"sha256": digest},
                                            validate_content=True,
                                            **conditions(if_match, if_none_match))
        return unquoted(r["etag"])

    def put_bytes(self, key: str, data: bytes, *, if_match: Optional[str] = None,
                  if_none_match: bool = False) -> str:
        return self._put(key, data, sha256_hex(data), if_match, if_none_match)

    def upload(self, key: str, source: Path, *, sha256: str, size: int,
               if_match: Optional[str] = None, if_none_match: bool = False,
               advance: Advance = None) -> RemoteObject:
        with self.transfers.track(advance) as transfer:
            if size >= self.threshold:
                return blobblocks.upload(self, key, source, sha256, size, if_match,
                                         if_none_match, transfer)
            data, digest = read_whole(source, size, sha256, key)
            transfer.check()
            etag = self._put(key, data, digest, if_match, if_none_match)
            transfer.moved(size)  # sent: recorded even if Ctrl-C came meanwhile
            return RemoteObject(key, size, etag, sha256=digest)

    def download(self, key: str, dest: Path, *, advance: Advance = None,
                 size_hint: int = -1, if_match: Optional[str] = None) -> str:
        with self.transfers.track(advance) as transfer:
            reader = self.reader if size_hint < RANGED_MIN else None
            if reader is not None:  # one GET on obstore's loop, hashed as it comes
                return reader.run(reader.get_async(self._key(key), dest, if_match=if_match,
                                                   transfer=transfer, label=key,
                                                   fetched=False), transfer)
            if size_hint >= self.threshold:
                return blobblocks.download(self, key, dest, transfer, if_match)
            h = sha256_hasher()
            with self._errors(key, conditional=if_match is not None):
                stream = self._blob(key).download_blob(**conditions(if_match, False))
                with open(dest, "wb") as fo:
                    for chunk in stream.chunks():
                        h.update(chunk)
                        fo.write(chunk)
                        transfer.advance(len(chunk))
            return h.hexdigest()

    def copy(self, src: str, dst: str, *, if_match: Optional[str] = None,
             size_hint: int = -1) -> str:
        """Copy Blob (synchronous within an account, else awaited); the metadata, and with
        it the ``sha256``, goes along."""
        from azure.core import MatchConditions

        source = {"source_etag": quoted(if_match),
                  "source_match_condition": MatchConditions.IfNotModified} \
            if if_match is not None else {}
        target = self._blob(dst)
        with self._errors(f"archiving {src}", conditional=True):
            r = target.start_copy_from_url(self._blob(src).url,
                                           match_condition=MatchConditions.IfMissing, **source)
            while r.get("copy_status") == "pending":
                time.sleep(0.5)
                p = target.get_blob_properties()
                r = {"copy_status": p.copy.status, "etag": p.etag}
        if r.get("copy_status") != "success":
            raise RemoteError(f"archiving {src}: the server-side copy ended "
                              f"{r.get('copy_status')}: run the sync again")
        return unquoted(r["etag"])

    def delete(self, key: str, *, if_match: Optional[str] = None) -> None:
        try:
            with self._errors(key, conditional=if_match is not None, write=True):
                self._blob(key).delete_blob(**conditions(if_match, False))
        except ContainerNotFound:
            raise
        except RemoteNotFound:
            pass  # already gone (under If-Match the table made it PreconditionFailed)
