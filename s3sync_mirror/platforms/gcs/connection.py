"""GCSConnection: a Google Cloud Storage prefix (Google itself, a sovereign cloud through
``endpoint_url``, or an emulator named by ``STORAGE_EMULATOR_HOST``).

google-cloud-storage (JSON API: metadata, listing, rewrite, delete) and google-resumable-
media (media uploads and downloads) are imported only when this backend is used.
Credentials come from Google's standard chain only: application default credentials, or
none at all for an emulator (``STORAGE_EMULATOR_HOST``).

The ETag of this interface is the object's generation, as a string; conditions are
``ifGenerationMatch`` (0: "no object"). Small objects and the state file always go in one
multipart upload (never a resumable one, whatever their size), whose condition the server
checks atomically with the write: the no-lost-update promise rests on it. Files from
``threshold`` bytes on go in a resumable upload sent chunk by chunk (``gcstransfer``),
hashed on the way; its final chunk is sent only when the bytes read hash to the planned
SHA-256, so a file edited mid-upload is never stored. The content's SHA-256 is kept in the
object's metadata (``sha256``).

fake-gcs-server (the tests' emulator) checks ``ifGenerationMatch`` on simple and multipart
uploads only, not on resumable uploads, deletes, rewrites (copies) or reads. Those still
carry the native condition (what Google checks, atomically), and the connection first
checks it itself with a metadata GET (``check``), so a condition that no longer holds is
refused there too, although not atomically; reads pin the generation they expect.
Every failure is translated by ``gcserrors``.
"""
from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Iterator, Optional
from urllib.parse import quote, urlencode

from ...core.clock import ISO
from ...core.errors import PreconditionFailed, RemoteNotFound
from . import transfer as gcstransfer
from ..base import (Advance, DataPlatformConnection, LazyClient, PrefixedKeys, RemoteObject,
                    read_whole)
from .errors import NO_BUCKET, classify, gcs_errors, no_credentials
from ..obloop import RANGED_MIN, Reads
from ...core.hashing import sha256_hex

MIB = 1 << 20
THRESHOLD = 8 * MIB  # from this size on, files go in a resumable upload, chunk by chunk
CHUNK_SIZE = 8 * MIB  # a chunk of a resumable upload, or a range of a parallel download
RETRY_DEADLINE = 60.0  # seconds of retries (backoff) for throttling and transient failures
TIMEOUT = gcstransfer.TIMEOUT


class GCSConnection(LazyClient, PrefixedKeys, Reads, DataPlatformConnection):
    """``bucket`` and object-name ``prefix``; ``endpoint_url``: the API endpoint (an
    emulator, a sovereign cloud), else ``STORAGE_EMULATOR_HOST`` or Google's own.
    ``threshold``, ``chunk_size`` (rounded up to 256 KiB): when and how files move in
    chunks; ``retry_deadline``: seconds of retries with backoff (0: none)."""

    platform = "GCS"
    scheme = "gs://"

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: Optional[str] = None,
                 jobs: int = 16, threshold: int = THRESHOLD, chunk_size: int = CHUNK_SIZE,
                 retry_deadline: float = RETRY_DEADLINE, client=None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url or None
        # Where requests go, for messages: the configured endpoint or the emulator's.
        self.endpoint = self.endpoint_url or os.environ.get("STORAGE_EMULATOR_HOST") or None
        self.jobs = max(1, jobs)
        unit = gcstransfer.UNIT
        self.chunk_size = max(unit, -(-chunk_size // unit) * unit)
        self.threshold = max(1, threshold)
        self.retry_deadline = max(0.0, float(retry_deadline))
        self._client, self._own_client = client, client is None
        self._client_lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------
    def _make_client(self):
        import requests.adapters
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import storage

        project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT")
        options = {"api_endpoint": self.endpoint_url} if self.endpoint_url else None
        try:
            # project None: none is needed to use the objects of an existing bucket.
            client = storage.Client(project=project, client_options=options)
        except DefaultCredentialsError:
            raise no_credentials(self.describe(), self.endpoint_url) from None
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(10, 2 * self.jobs))
        for scheme in ("https://", "http://"):
            client._http.mount(scheme, adapter)
        return client

    @property
    def transport(self):
        """The authorized ``requests`` session media transfers go through."""
        return self.client._http

    @property
    def api(self) -> str:
        return self.client._connection.API_BASE_URL.rstrip("/")

    @property
    def retry(self):
        """The JSON API calls' retry: backoff on 429, 5xx and connection failures."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        return DEFAULT_RETRY.with_timeout(self.retry_deadline) if self.retry_deadline else None

    def strategy(self):
        """The media transfers' retry, with the same deadline."""
        from google.resumable_media import common

        if not self.retry_deadline:
            return common.RetryStrategy(max_retries=0)
        return common.RetryStrategy(max_cumulative_retry=self.retry_deadline)

    def _errors(self, what: str, conditional: bool = False):
        """Translate the libraries' exceptions (``gcserrors.classify``), naming ``what``;
        ``conditional``: a write carrying a generation condition."""
        return gcs_errors(what, conditional=conditional, bucket=self.bucket,
                          endpoint=self.endpoint, bucket_exists=self._bucket_exists)

    def _bucket_exists(self) -> bool:
        """Whether the bucket is there (asked after a 404). Listing needs only the object
        rights a member has; any other failure leaves the 404 to the object."""
        from google.api_core.exceptions import NotFound

        try:
            next(iter(self.client.list_blobs(self.bucket, max_results=1, retry=self.retry,
                                             timeout=TIMEOUT)), None)
        except NotFound:
            return False
        except Exception:  # noqa: BLE001  (not the question asked)
            return True
        return True

    def make_reader(self):
        """Downloads on obstore (``gcsreader``), where it can speak for this connection."""
        from . import reader as gcsreader

        return gcsreader.make(self)

    def download_many(self, items, advance: Advance = None,
                      keep: bool = False) -> Iterator[tuple]:
        """``download`` of each (key, dest, if_match) below ``download_batch_limit`` in
        one event loop run (``gcsreader``); yields (index, the SHA-256 hex, or the
        exception ``download`` would raise) as each ends. ``keep``: see the base class."""
        reader = self.reader
        with self.transfers.track(advance) as transfer:
            jobs = reader.batch_jobs(items, transfer, functools.partial(self._read_job, reader))
            for i, got in reader.download_many(jobs, [d for _k, d, _m in items], transfer,
                                               keep):
                if isinstance(got, RemoteNotFound):
                    got = self._not_found(items[i][0], items[i][2], got)
                yield i, got

    def _not_found(self, key: str, if_match: Optional[str], exc: RemoteNotFound):
        """What a 404 of obstore's GET means: the pinned generation replaced, the object
        or the bucket gone (``gone``, ``missing``), as the one-by-one path says it."""
        return self.gone(key, if_match, exc) if if_match is not None else self.missing(key)

    def _read_job(self, reader, key, dest, if_match, transfer, size=0):
        return functools.partial(self._pinned_get, reader, key, dest, if_match, transfer)

    async def _pinned_get(self, reader, key, dest, if_match, transfer, fetched=True):
        if if_match is not None:
            self._generation(key, if_match)
        return await reader.get_async(self._key(key), dest, generation=if_match,
                                      transfer=transfer, label=key, fetched=fetched)

    def close(self) -> None:
        self._close_pool()
        self.close_reader()
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    @property
    def tenant(self) -> str:
        return self.bucket

    def media_url(self, key: str, **params) -> str:
        """The JSON API's download URL of ``key``; ``params``: generation, conditions."""
        query = urlencode({"alt": "media", **params})
        return f"{self.api}/download/storage/v1/b/{self.bucket}/o/" \
               f"{quote(self._key(key), safe='')}?{query}"

    def upload_url(self, kind: str, **params) -> str:
        """The JSON API's upload URL; ``kind``: multipart or resumable."""
        return f"{self.api}/upload/storage/v1/b/{self.bucket}/o?" \
               f"{urlencode({'uploadType': kind, **params})}"

    # -- conditions ----------------------------------------------------------------------
    @staticmethod
    def _generation(key: str, etag: str) -> int:
        try:
            return int(etag)
        except ValueError:
            raise PreconditionFailed(f"{key}: {etag!r} is not a generation of this remote: "
                                     f"run the sync again to take the remote as it is") from None

    def conditions(self, key: str, if_match: Optional[str], if_none_match: bool) -> dict:
        """The query parameters of a conditional write."""
        if if_match is not None:
            return {"ifGenerationMatch": self._generation(key, if_match)}
        return {"ifGenerationMatch": 0} if if_none_match else {}

    def check(self, key: str, if_match: Optional[str], if_none_match: bool = False) -> None:
        """Raise PreconditionFailed when the condition does not hold now (a metadata GET):
        for the requests whose native condition an emulator ignores (see the top)."""
        if if_match is None and not if_none_match:
            return
        obj = self.head(key)
        lost = obj is not None if if_none_match else obj is None or obj.etag != if_match
        if lost:
            raise classify(412, "conditionNotMet", what=key)

    def missing(self, key: str, what: str = "") -> RemoteNotFound:
        """The error for ``key`` not found: naming the bucket when that is what is missing."""
        return classify(404, "notFound" if self._bucket_exists() else NO_BUCKET,
                        what=what or key, bucket=self.bucket, endpoint=self.endpoint)

    def gone(self, key: str, if_match: Optional[str], exc: RemoteNotFound):
        """A read pinned to generation ``if_match`` found nothing: the object changed
        (PreconditionFailed) or is gone (``exc``)."""
        if if_match is not None and self.head(key) is not None:
            return classify(412, "conditionNotMet", what=key)
        return exc

    # -- primitives ----------------------------------------------------------------------
    @staticmethod
    def _object(key: str, blob) -> RemoteObject:
        return RemoteObject(key, int(blob.size or 0), str(blob.generation),
                            sha256=(blob.metadata or {}).get("sha256", ""),
                            modified=blob.updated.strftime(ISO) if blob.updated else "")

    def list(self, under: str = "") -> Iterator[RemoteObject]:
        base = f"{self.prefix}/" if self.prefix else ""
        with self._errors(f"listing {self.describe()}"):
            for blob in self.client.list_blobs(self.bucket, prefix=base + under,
                                               retry=self.retry, timeout=TIMEOUT):
                key = blob.name[len(base):]
                if key and not key.endswith("/"):
                    yield self._object(key, blob)

    def blob(self, key: str):
        """The object's metadata (a ``Blob``), or None if there is none."""
        with self._errors(key):
            return self.client.bucket(self.bucket).get_blob(
                self._key(key), retry=self.retry, timeout=TIMEOUT)

    def head(self, key: str) -> Optional[RemoteObject]:
        blob = self.blob(key)
        return None if blob is None else self._object(key, blob)

    def get_bytes(self, key: str, if_none_match: Optional[str] = None):
        if if_none_match:
            # The emulator ignores ifGenerationNotMatch: the metadata GET answers first.
            now = self.head(key)
            if now is None:
                raise self.missing(key)
            if now.etag == if_none_match:
                return None
        got = gcstransfer.get_bytes(self, key, if_none_match)
        if got is None or got[1] == if_none_match:
            return None
        return got

    def put_bytes(self, key: str, data: bytes, *, if_match: Optional[str] = None,
                  if_none_match: bool = False) -> str:
        return gcstransfer.put(self, key, data, sha256_hex(data),
                               self.conditions(key, if_match, if_none_match))

    def upload(self, key: str, source: Path, *, sha256: str, size: int,
               if_match: Optional[str] = None, if_none_match: bool = False,
               advance: Advance = None) -> RemoteObject:
        condition = self.conditions(key, if_match, if_none_match)
        with self.transfers.track(advance) as transfer:
            if size >= self.threshold:
                return gcstransfer.upload(self, key, source, sha256, size, condition,
                                          transfer)
            data, digest = read_whole(source, size, sha256, key)
            transfer.check()
            etag = gcstransfer.put(self, key, data, digest, condition)
            transfer.moved(size)  # sent: recorded even if Ctrl-C came meanwhile
            return RemoteObject(key, size, etag, sha256=digest)

    def download(self, key: str, dest: Path, *, advance: Advance = None,
                 size_hint: int = -1, if_match: Optional[str] = None) -> str:
        if if_match is not None:
            self._generation(key, if_match)
        with self.transfers.track(advance) as transfer:
            reader = self.reader if size_hint < RANGED_MIN else None
            if reader is not None:  # one GET on obstore's loop, hashed as it comes
                try:
                    return reader.run(self._pinned_get(reader, key, dest, if_match,
                                                       transfer, fetched=False), transfer)
                except RemoteNotFound as exc:
                    raise self._not_found(key, if_match, exc) from None
            if size_hint >= self.threshold:
                return gcstransfer.download_ranges(self, key, dest, transfer, if_match)
            return gcstransfer.download_whole(self, key, dest, transfer, if_match)

    def copy(self, src: str, dst: str, *, if_match: Optional[str] = None,
             size_hint: int = -1) -> str:
        what = f"archiving {src}"
        source = self.blob(src)
        if source is None:
            raise self.missing(src, what)
        if if_match is not None and str(source.generation) != if_match:
            raise classify(412, "conditionNotMet", what=what)
        if self.head(dst) is not None:  # the emulator would overwrite it (see the top)
            raise PreconditionFailed(f"{what}: {dst} already exists on the remote and a copy "
                                     f"never replaces one: run the sync again")
        target = self.client.bucket(self.bucket).blob(self._key(dst))
        target.metadata, target.content_type = source.metadata, source.content_type
        extra = {"if_source_generation_match": source.generation} if if_match else {}
        token = None
        try:
            with self._errors(what):
                while True:  # a rewrite of a large object takes several calls
                    token, _done, _total = target.rewrite(
                        source, token=token, if_generation_match=0, retry=self.retry,
                        timeout=TIMEOUT, **extra)
                    if token is None:
                        return str(target.generation)
        except RemoteNotFound as exc:  # the source generation was replaced meanwhile
            raise self.gone(src, if_match, exc) from None

    def delete(self, key: str, *, if_match: Optional[str] = None) -> None:
        from google.api_core.exceptions import NotFound

        gen = None if if_match is None else self._generation(key, if_match)
        self.check(key, if_match)  # the emulator ignores the condition (see the top)
        blob = self.client.bucket(self.bucket).blob(self._key(key))
        with self._errors(key, conditional=gen is not None):
            try:
                blob.delete(if_generation_match=gen, retry=self.retry, timeout=TIMEOUT)
            except NotFound:
                if gen is not None or not self._bucket_exists():
                    raise
