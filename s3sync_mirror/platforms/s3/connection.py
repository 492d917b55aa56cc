"""S3Connection: an S3 prefix (AWS, or any S3-compatible server via ``endpoint_url``).

Whole objects below the multipart threshold go through one transport chosen when the
connection is made (``TRANSPORTS``): obstore (``s3obstore``, one asyncio loop; batches of
small files in one loop run, ``upload_many`` / ``download_many``) when installed, else the
AWS Common Runtime (``s3crt``), else botocore (``BotocoreObjects``); ``transport=`` or the
environment variable ``S3SYNC_MIRROR_S3_TRANSPORT`` forces one. On obstore, HEAD, GET and
PUT of the state files, the listing of ``.S3/``, plain DELETEs (``s3obstate``) and big
downloads (ranged GETs, ``s3ranges``) go through it too, so do files up to
``MEMORY_PUT_MAX`` (one PUT from memory) and the question whether a prefix is empty, and
botocore is not even imported when the environment gives the keys and the region
(``env_credentials``). The full listing of a prefix that holds something, copy,
conditional delete, streamed PUTs (``s3streamed``) and multipart uploads (``s3multipart``)
are on botocore
(on the other transports, everything but whole objects is). Every failure of any transport
is translated by the one table, ``s3errors.classify``.

Uploads carry ``ChecksumSHA256`` (per part for multipart) and the content's SHA-256 as
metadata; the bytes sent are hashed on the way and must match the planned checksum, so a
file edited mid-upload is never recorded.

Every upload and download is a ``base.Transfer``: ``interrupt`` (Ctrl-C) cancels those in
flight, which stop at their next block: a multipart upload is aborted once its parts have
stopped, ranged GETs stop writing, a CRT request is cancelled in native code.
"""
from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Iterator, Optional

from ...core.hashing import sha256_hex
from ...core.errors import RemoteError, RemoteNotFound, S3SyncMirrorError
from . import crt as s3crt, multipart as s3multipart, obstate as s3obstate, obstore as s3obstore
from . import streamed as s3streamed
from ..obloop import BATCH_MAX, RANGED_MIN, available as obstore_available
from ..parts import ByteBudget, NotPartial, quoted, unquoted
from .boto import BotocoreObjects
from ...core.clock import ISO
from ...core.layout import STATE_DIR
from ..base import (Advance, DataPlatformConnection, LazyClient, PrefixedKeys, RemoteObject,
                    read_whole)
from .errors import botocore_errors, no_credentials
from .multipart import COPY_LIMIT, MIB, MULTIPART_THRESHOLD, PART_MEMORY, PART_SIZE

__all__ = ["S3Connection", "BotocoreObjects", "MIB", "MULTIPART_THRESHOLD", "PART_SIZE"]

# Every data body carries its x-amz-checksum-sha256 (a signed header: a server that checks
# it refuses other bytes) and is checked by this tool as it goes out: it is not hashed a
# second time for botocore's signature (as it is over plain HTTP otherwise).
UNSIGNED = {"payload_signing_enabled": False}
# A file above the multipart threshold and up to this size goes up in one PUT streamed
# from disk (``s3streamed``); a bigger one in parts, which real S3 carries faster over a
# long path than one stream. S3SYNC_MIRROR_SINGLE_PUT_MAX (bytes) overrides it; 0: every
# file above the threshold in parts.
SINGLE_PUT_MAX = 512 * MIB
SINGLE_PUT_ENV = "S3SYNC_MIRROR_SINGLE_PUT_MAX"
# On obstore a file below this goes up in one PUT read whole into memory (the threshold
# there, where botocore's is MULTIPART_THRESHOLD): the streamed PUT and the parts need
# botocore's client, 0.25-0.33 s of CPU to import and make (measured), which a first
# upload of files of 8-64 MiB then no longer pays. Such PUTs hold at most MEMORY_PUTS
# bytes at once, all transfers together.
MEMORY_PUT_MAX = 64 * MIB
MEMORY_PUTS = 256 * MIB
# A download from RANGED_MIN (obloop: 64 MiB) on goes in parallel ranges; a smaller one in
# one GET on the transport's loop (with the other files of the plan in flight, one stream
# each is enough; rclone's own cut-off is 256 MiB). On `rclone serve s3` ranges need
# botocore's client, about 0.3 s to make: 5 x 20 MiB in a fresh clone cost more in ranges
# than in one GET each. Batches take files below BATCH_MAX (obloop: 1 MiB).

TRANSPORT_ENV = "S3SYNC_MIRROR_S3_TRANSPORT"
TRANSPORTS = {"obstore": obstore_available, "crt": s3crt.available,
              "botocore": lambda: True}  # in order of preference


def choose_transport(transport: Optional[str], use_crt: Optional[bool]) -> str:
    """The whole-object transport: ``transport`` (or ``use_crt``: True "crt", False
    "botocore"), else the environment's ``S3SYNC_MIRROR_S3_TRANSPORT``, else the first
    installed one of ``TRANSPORTS``."""
    if transport is None and use_crt is not None:
        transport = "crt" if use_crt else "botocore"
    transport = transport or os.environ.get(TRANSPORT_ENV, "").strip().lower()
    if not transport:
        return next(name for name, installed in TRANSPORTS.items() if installed())
    if transport not in TRANSPORTS:
        raise S3SyncMirrorError(f"{TRANSPORT_ENV}={transport!r} is not an S3 transport: use "
                                f"one of {', '.join(TRANSPORTS)}, or unset it")
    return transport


def env_credentials(profile: Optional[str], region: Optional[str]) -> Optional[tuple]:
    """(region, keys) when the environment alone decides them as botocore's chain would:
    access keys in the environment, no profile chosen, and a region (the config's, or
    AWS_REGION / AWS_DEFAULT_REGION). None: botocore resolves them (profile, SSO, role)."""
    env = os.environ
    if profile or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE"):
        return None
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not (key and secret and region):
        return None
    return region, {"access_key_id": key, "secret_access_key": secret,
                    "token": env.get("AWS_SESSION_TOKEN") or None}


def _iso(stamp) -> str:
    return stamp.strftime(ISO)


class S3Connection(LazyClient, PrefixedKeys, DataPlatformConnection):
    """``bucket`` and key ``prefix``; ``endpoint_url`` for MinIO, Ceph, R2, moto...
    ``transport``: the whole-object transport ("obstore", "crt", "botocore"; see
    ``choose_transport``); ``use_crt`` True or False is the same as "crt" or "botocore"."""

    platform = "S3"
    scheme = "s3://"
    hashes_once = True  # upload takes ``scanned=``

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: Optional[str] = None,
                 profile: Optional[str] = None, region: Optional[str] = None, jobs: int = 16,
                 multipart_threshold: Optional[int] = None, part_size: int = PART_SIZE,
                 client=None, use_crt: Optional[bool] = None,
                 transport: Optional[str] = None, single_put_max: Optional[int] = None,
                 ranged_min: int = RANGED_MIN):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") \
            or os.environ.get("AWS_ENDPOINT_URL")
        self.profile = profile
        self.region = region
        self.jobs = max(1, jobs)
        self.part_size = max(part_size, 5 * MIB)
        self._client = client
        if client is not None:
            self._hook(client)
        self._session = None
        self._client_lock = threading.Lock()
        self._objects_lock = threading.Lock()
        # Bounds the memory held by part buffers across all concurrent transfers.
        self._part_slots = threading.BoundedSemaphore(max(2, PART_MEMORY // self.part_size))
        if single_put_max is None:
            found = os.environ.get(SINGLE_PUT_ENV, "").strip()
            single_put_max = int(found) if found.isdigit() else SINGLE_PUT_MAX
        self.single_put_max = min(single_put_max, COPY_LIMIT)  # S3's limit of one PUT
        self._memory_puts = ByteBudget(MEMORY_PUTS)
        self._delete_if_match = True
        self._botocore = BotocoreObjects(self)
        # The whole-object transport: chosen here, made on first use (the CRT needs the
        # credentials botocore resolves).
        self.transport = choose_transport(transport, use_crt)
        self._make_objects = {"obstore": self._make_obstore, "crt": self._make_crt,
                              "botocore": lambda: self._botocore}[self.transport]
        self._objects = None
        if multipart_threshold is None:  # one PUT from memory on obstore, unless the
            # single PUT is capped below that (S3SYNC_MIRROR_SINGLE_PUT_MAX=0: in parts)
            multipart_threshold = MEMORY_PUT_MAX if self.transport == "obstore" and \
                self.single_put_max >= MEMORY_PUT_MAX else MULTIPART_THRESHOLD
        self.multipart_threshold = max(multipart_threshold, 5 * MIB)
        self.ranged_min = max(ranged_min, self.multipart_threshold)

    # -- plumbing ------------------------------------------------------------------------
    def _make_client(self):
        import botocore.session
        from botocore.config import Config

        attempts = os.environ.get("AWS_MAX_ATTEMPTS", "")
        cfg = Config(
            max_pool_connections=max(10, self.jobs * 2),
            retries={"total_max_attempts": int(attempts) if attempts.isdigit() else 7,
                     "mode": os.environ.get("AWS_RETRY_MODE") or "standard"},
            connect_timeout=10, read_timeout=120,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path", **UNSIGNED} if self.endpoint_url else UNSIGNED,
        )
        with self._errors("setting up the S3 client"):
            self._session = botocore.session.Session(profile=self.profile)
            client = self._session.create_client("s3", region_name=self.region,
                                                 endpoint_url=self.endpoint_url, config=cfg)
        return self._hook(client)

    @staticmethod
    def _hook(client):
        """A request stopped by a cancelled transfer (Ctrl-C) is not retried; a part is
        sent without ``Expect: 100-continue`` (``s3multipart.no_expect``)."""
        events = getattr(getattr(client, "meta", None), "events", None)
        if events is not None:
            events.register_first("needs-retry.s3", s3multipart.no_retry_when_cancelled,
                                  unique_id="s3sync-mirror-no-retry-when-cancelled")
            events.register_last("before-call.s3", s3multipart.no_expect,
                                 unique_id="s3sync-mirror-no-expect")
        return client

    def _credentials(self):
        client = self.client
        with self._errors("the S3 credentials"):
            creds = self._session.get_credentials() if self._session else None
        if creds is None:
            raise no_credentials()
        return client, creds

    def _make_obstore(self):
        """obstore's store; botocore resolves the credentials and region unless the
        environment gives both (``env_credentials``), and no client was handed in."""
        static = env_credentials(self.profile, self.region) if self._client is None else None
        if static is not None:
            region, creds = static
            url = self.endpoint_url or f"https://s3.{region}.amazonaws.com"
        else:
            client, creds = self._credentials()
            url, region = client.meta.endpoint_url, client.meta.region_name or "us-east-1"
        attempts = os.environ.get("AWS_MAX_ATTEMPTS", "")
        return s3obstore.ObstoreTransport(
            bucket=self.bucket, endpoint_url=url, region=region, credentials=creds,
            path_style=bool(self.endpoint_url), max_connections=max(64, 4 * self.jobs),
            endpoint=self.endpoint_url, max_attempts=int(attempts) if attempts.isdigit() else 7,
            part_size=self.part_size)

    def warm(self) -> None:
        self._small  # noqa: B018 - the obstore store, made here (~8 ms: TLS roots)

    def warm_transfers(self) -> None:
        if self._small is not None:
            self._small.start()  # imports asyncio (~16 ms) and starts the loop's thread

    @property
    def _small(self):
        """The obstore transport when it also carries HEAD, the state's LIST, GET and PUT
        and plain DELETEs (``s3obstate``); None on the other transports."""
        return self.objects if self.transport == "obstore" else None

    def _make_crt(self):
        client, creds = self._credentials()
        return s3crt.CrtTransport(
            bucket=self.bucket, endpoint_url=client.meta.endpoint_url,
            region=client.meta.region_name or "us-east-1", credentials=creds,
            path_style=bool(self.endpoint_url), max_connections=max(16, 2 * self.jobs),
            endpoint=self.endpoint_url)

    @property
    def objects(self):
        """The transport of whole-object PUTs and GETs (``ObstoreTransport``,
        ``CrtTransport`` or ``BotocoreObjects``), chosen when the connection was made."""
        if self._objects is None:
            with self._objects_lock:
                if self._objects is None:
                    self._objects = self._make_objects()
        return self._objects

    def _errors(self, what: str, conditional: bool = False):
        """Translate botocore's exceptions (``s3errors.classify``), naming ``what``."""
        return botocore_errors(what, conditional=conditional, bucket=self.bucket,
                               endpoint=self.endpoint_url)

    def close(self) -> None:
        self._close_pool()
        if self._objects is not None:
            self._objects.close()
            self._objects = None

    @property
    def tenant(self) -> str:
        return self.bucket

    # -- primitives ----------------------------------------------------------------------
    def list(self, under: str = "") -> Iterator[RemoteObject]:
        base = f"{self.prefix}/" if self.prefix else ""
        if self._small is not None and under.startswith(STATE_DIR + "/"):
            try:  # this tool's own keys: no folder markers, no odd segments
                yield from s3obstate.listing(self._small, base + under, base,
                                             f"listing {self.describe()}")
                return
            except s3obstate.Unlistable:
                pass
        elif self._small is not None and (not under or under.endswith("/")) and \
                s3obstate.empty(self._small, base + under, f"listing {self.describe()}"):
            return  # nothing there: no botocore client made to list it
        with self._errors(f"listing {self.describe()}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base + under)
            for page in pages:
                for obj in page.get("Contents", ()):
                    key = obj["Key"][len(base):]
                    if not key or key.endswith("/"):
                        continue
                    yield RemoteObject(key, obj["Size"], unquoted(obj.get("ETag")),
                                       modified=_iso(obj["LastModified"]))

    def head(self, key: str) -> Optional[RemoteObject]:
        if self._small is not None:
            return s3obstate.head(self._small, self._key(key), key)
        try:
            with self._errors(key):
                r = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except RemoteNotFound:
            return None
        meta = {k.lower(): v for k, v in (r.get("Metadata") or {}).items()}
        return RemoteObject(key, r["ContentLength"], unquoted(r.get("ETag")),
                            sha256=meta.get("sha256", ""), modified=_iso(r["LastModified"]))

    def get_bytes(self, key: str, if_none_match: Optional[str] = None):
        if self._small is not None:
            return s3obstate.get_bytes(self._small, self._key(key), key, if_none_match)
        from botocore.exceptions import ClientError

        kwargs = {"Bucket": self.bucket, "Key": self._key(key)}
        if if_none_match:
            kwargs["IfNoneMatch"] = quoted(if_none_match)
        with self._errors(key, conditional=bool(if_none_match)):
            try:
                r = self.client.get_object(**kwargs)
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 304 or exc.response.get("Error", {}).get("Code") == "304":
                    return None
                raise
            return r["Body"].read(), unquoted(r.get("ETag"))

    def put_bytes(self, key: str, data: bytes, *, if_match: Optional[str] = None,
                  if_none_match: bool = False) -> str:
        if self._small is not None:
            return s3obstate.put_bytes(self._small, self._key(key), key, data,
                                       if_match=if_match, if_none_match=if_none_match)
        return self._botocore.put(self._key(key), data, sha256_hex(data),
                                  if_match=if_match, if_none_match=if_none_match, label=key)

    def upload(self, key: str, source: Path, *, sha256: str, size: int,
               if_match: Optional[str] = None, if_none_match: bool = False,
               advance: Advance = None, scanned: Optional[tuple] = None) -> RemoteObject:
        """As the contract says; ``scanned``: the file's ``s3multipart.signature`` when
        ``sha256`` was computed, so that a big file is not hashed again if it still holds."""
        with self.transfers.track(advance) as transfer:
            if self.multipart_threshold <= size <= self.single_put_max:
                return s3streamed.upload(self, key, source, sha256, size, if_match,
                                         if_none_match, transfer, scanned)
            if size >= self.multipart_threshold:
                return s3multipart.upload(self, key, source, sha256, size, if_match,
                                          if_none_match, transfer, scanned)
            with self._memory_puts.hold(size, transfer):
                data, digest = read_whole(source, size, sha256, key, scanned)
                etag = self.objects.put(self._key(key), data, digest, if_match=if_match,
                                        if_none_match=if_none_match, label=key,
                                        transfer=transfer)
                del data
            transfer.moved(size)  # sent: recorded even if Ctrl-C came meanwhile
            return RemoteObject(key, size, etag, sha256=digest)

    def download(self, key: str, dest: Path, *, advance: Advance = None,
                 size_hint: int = -1, if_match: Optional[str] = None) -> str:
        with self.transfers.track(advance) as transfer:
            if size_hint >= self.ranged_min:
                return self._download_big(key, dest, size_hint, transfer, if_match)
            return self.objects.get(self._key(key), dest, if_match=if_match, advance=None,
                                    label=key, transfer=transfer, **self._sized(size_hint))

    def _sized(self, size: int) -> dict:
        """obstore's GET takes the size for its deadline (``store_for``)."""
        return {"size": size} if self.transport == "obstore" and size > 0 else {}

    def _download_big(self, key, dest, size, transfer, if_match) -> str:
        """Parallel ranges, hashed in order as they come. On AWS: on obstore's loop. On
        another server (``endpoint_url``): over ``http.client`` on URLs obstore presigns
        (``s3httpranges``), which takes a range answered 206 and one labelled 200 with
        its Content-Range (``rclone serve s3``), which obstore refuses; such a refused
        GET also cost the server's hash of the object twice (rclone drops the hash of a
        request cut short). Where a proxy is set, obstore's ranges (``http.client`` would
        bypass it). One streamed GET on obstore, hashed as it is written, where the server
        ignores ranges or obstore refused them (remembered for the connection's other big
        files). Measured at 256 MiB on ``rclone serve s3``, one download after the
        server hashed the object: 0.30-0.43 s in four ranges, 0.55-0.6 s in one stream,
        1.0-1.1 s in botocore's ranges (its client alone costs ~0.3 s, and it reads the
        file back to hash it). The other transports keep botocore's ranges (one streamed
        GET where the server ignores them)."""
        if self.transport == "obstore":
            from . import httpranges as s3httpranges  # http.client: ~10 ms, only here

            objects, full = self.objects, self._key(key)
            plain = bool(self.endpoint_url) and s3httpranges.usable(self.endpoint_url)
            if plain and not getattr(objects, "_ignores_ranges", False):
                try:
                    return s3httpranges.download(objects, full, key, dest, size=size,
                                                 if_match=if_match, transfer=transfer)
                except NotPartial:
                    objects._ignores_ranges = True
            elif not plain:
                try:
                    return objects.get_big(full, dest,
                                           step=s3multipart.part_size(self, size),
                                           if_match=if_match, label=key, transfer=transfer)
                except NotPartial:
                    pass
            return objects.get(full, dest, if_match=if_match, advance=None, label=key,
                               transfer=transfer, **self._sized(size))
        try:
            return s3multipart.download(self, key, dest, size, transfer, if_match)
        except NotPartial:
            raise RemoteError(f"{key}: the server answers ranged GETs with the whole "
                              f"object: set S3SYNC_MIRROR_S3_TRANSPORT=obstore") from None

    # -- batches of small files (obstore only) -------------------------------------------
    @property
    def batch_limit(self) -> int:
        """Files below this size may go in one batch (``upload_many``, ``download_many``);
        0 when the transport has no batches."""
        return min(self.multipart_threshold, BATCH_MAX) if self.transport == "obstore" else 0

    def upload_many(self, items, advance: Advance = None) -> Iterator[tuple]:
        """``upload`` of each (key, source, sha256, size, if_match, if_none_match) below
        ``batch_limit``, all in one event loop run; yields (index, RemoteObject or the
        exception ``upload`` would raise) as each ends. Ctrl-C (``interrupt``) cancels
        those in flight and not started: each yields Cancelled."""
        objects = self.objects
        with self.transfers.track(advance) as transfer:
            jobs = [functools.partial(objects.put_file_async, self._key(key), src, sha, size,
                                      if_match=if_match, if_none_match=if_none_match,
                                      label=key, transfer=transfer)
                    for key, src, sha, size, if_match, if_none_match in items]
            for i, etag in objects.many(jobs, transfer):
                key, _src, sha, size = items[i][:4]
                yield i, etag if isinstance(etag, BaseException) \
                    else RemoteObject(key, size, etag, sha256=sha)

    def download_many(self, items, advance: Advance = None,
                      keep: bool = False) -> Iterator[tuple]:
        """``download`` of each (key, dest, if_match) below ``batch_limit``, all in one
        event loop run; yields (index, the SHA-256 hex written, or the exception) as each
        ends; a failed one's ``dest`` is removed. ``keep``: see the base class."""
        objects = self.objects
        with self.transfers.track(advance) as transfer:
            jobs = objects.batch_jobs(items, transfer, functools.partial(self._get_job, objects))
            yield from objects.download_many(jobs, [dest for _k, dest, _m in items], transfer,
                                             keep)

    def read_ahead(self, items) -> None:
        objects = self._small
        if objects is not None and self.download_batch_limit:
            objects.read_ahead(items, functools.partial(self._get_job, objects))

    def drop_read_ahead(self) -> None:
        if self._objects is not None and self.transport == "obstore":
            self._objects.drop_ahead()

    def _get_job(self, objects, key, dest, if_match, transfer, size=0):
        return functools.partial(objects.get_async, self._key(key), dest, if_match=if_match,
                                 transfer=transfer, label=key, size=size, fetched=True)

    def copy(self, src: str, dst: str, *, if_match: Optional[str] = None,
             size_hint: int = -1) -> str:
        if size_hint > COPY_LIMIT:
            return s3multipart.copy(self, src, dst, if_match, size_hint)
        source = {"Bucket": self.bucket, "Key": self._key(src)}
        extra = {"CopySourceIfMatch": quoted(if_match)} if if_match is not None else {}
        # Never over an existing object: a copy makes a new key (an archive, a moved or
        # copied file), and a teammate's object of that name must not be replaced. The
        # server computes the copy's own full-object SHA-256: a source sent in parts has a
        # composite one, which, inherited as is, fails every stock client's read check.
        with self._errors(f"copying {src}", conditional=True):
            r = self.client.copy_object(Bucket=self.bucket, Key=self._key(dst),
                                        CopySource=source, IfNoneMatch="*",
                                        ChecksumAlgorithm="SHA256", **extra)
        return unquoted(r["CopyObjectResult"]["ETag"])

    def delete(self, key: str, *, if_match: Optional[str] = None) -> None:
        if if_match is None and self._small is not None:
            return s3obstate.delete(self._small, self._key(key), key)
        from botocore.exceptions import ClientError

        kwargs = {"Bucket": self.bucket, "Key": self._key(key)}
        if if_match is not None and self._delete_if_match:
            kwargs["IfMatch"] = quoted(if_match)
        with self._errors(key, conditional="IfMatch" in kwargs):
            try:
                self.client.delete_object(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NotImplemented" \
                        or "IfMatch" not in kwargs:
                    raise
                # Some S3-compatible servers lack conditional deletes: the archive copy
                # before it was conditional, so fall back to a plain delete.
                self._delete_if_match = False
                del kwargs["IfMatch"]
                self.client.delete_object(**kwargs)
