"""S3Connection: an S3 prefix (AWS, or any S3-compatible server via ``endpoint_url``).

boto3 is imported only when this backend is used. Every botocore error is translated
here into the project's exceptions. Uploads carry ``ChecksumSHA256`` (per part for
multipart) and the content's SHA-256 as metadata; the bytes sent are hashed on the way
and must match the planned checksum, so a file edited mid-upload is never recorded.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from ..errors import (ChecksumMismatch, PreconditionFailed, RemoteError, RemoteNotFound,
                      RemotePermissionError, RemoteUnreachable)
from ..hashing import CHUNK, hex_to_b64
from . import s3crt
from .base import Advance, DataPlatformConnection, RemoteObject

log = logging.getLogger("s3sync_mirror")

MIB = 1 << 20
MULTIPART_THRESHOLD = 8 * MIB
PART_SIZE = 8 * MIB
MAX_PARTS = 10_000
PART_MEMORY = 64 * MIB  # part buffers in flight, all transfers together
COPY_LIMIT = 5 * 1024 * MIB  # CopyObject's limit; larger objects are copied in parts

_CRED_HELP = ("set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE (or storage.profile), "
              "or log in with `aws sso login`")


def _q(etag: str) -> str:
    return f'"{etag}"'


def _unq(etag: Optional[str]) -> str:
    return (etag or "").strip('"')


class S3Connection(DataPlatformConnection):
    """``bucket`` and key ``prefix``; ``endpoint_url`` for MinIO, Ceph, R2, moto..."""

    platform = "S3"

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: Optional[str] = None,
                 profile: Optional[str] = None, region: Optional[str] = None, jobs: int = 16,
                 multipart_threshold: int = MULTIPART_THRESHOLD, part_size: int = PART_SIZE,
                 client=None, use_crt: Optional[bool] = None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") \
            or os.environ.get("AWS_ENDPOINT_URL")
        self.profile = profile
        self.region = region
        self.jobs = max(1, jobs)
        self.multipart_threshold = max(multipart_threshold, 5 * MIB)
        self.part_size = max(part_size, 5 * MIB)
        self._client = client
        self._session = None
        # Small files go through the AWS Common Runtime when it is installed (see s3crt).
        self._use_crt = s3crt.available() if use_crt is None else use_crt
        self._crt = None
        self._client_lock = threading.Lock()
        self._parts: Optional[ThreadPoolExecutor] = None
        # Bounds the memory held by part buffers across all concurrent transfers.
        self._part_slots = threading.BoundedSemaphore(max(2, PART_MEMORY // self.part_size))
        self._delete_if_match = True

    # -- plumbing ------------------------------------------------------------------------
    @property
    def client(self):
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self):
        import botocore.session
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        attempts = os.environ.get("AWS_MAX_ATTEMPTS", "")
        cfg = Config(
            max_pool_connections=max(10, self.jobs * 2),
            retries={"total_max_attempts": int(attempts) if attempts.isdigit() else 7,
                     "mode": os.environ.get("AWS_RETRY_MODE") or "standard"},
            connect_timeout=10, read_timeout=120,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"} if self.endpoint_url else {},
        )
        try:
            self._session = botocore.session.Session(profile=self.profile)
            return self._session.create_client("s3", region_name=self.region,
                                               endpoint_url=self.endpoint_url, config=cfg)
        except BotoCoreError as exc:
            raise RemoteError(f"cannot set up the S3 client: {exc}") from None

    @property
    def crt(self):
        """The CRT transport for whole-object PUTs and GETs, or None to use botocore."""
        if self._crt is None and self._use_crt:
            client = self.client
            with self._client_lock:
                if self._crt is None:
                    with self._errors("the S3 credentials"):
                        creds = self._session.get_credentials() if self._session else None
                    if creds is None:
                        raise RemotePermissionError(f"no usable AWS credentials: {_CRED_HELP}")
                    self._crt = s3crt.CrtTransport(
                        bucket=self.bucket, endpoint_url=client.meta.endpoint_url,
                        region=client.meta.region_name or "us-east-1", credentials=creds,
                        path_style=bool(self.endpoint_url),
                        max_connections=max(16, 2 * self.jobs), describe=self.describe())
        return self._crt

    def _pool(self) -> ThreadPoolExecutor:
        with self._client_lock:
            if self._parts is None:
                self._parts = ThreadPoolExecutor(max_workers=self.jobs,
                                                 thread_name_prefix="s3-part")
        return self._parts

    def close(self) -> None:
        if self._parts is not None:
            self._parts.shutdown(wait=True)
            self._parts = None
        if self._crt is not None:
            self._crt.close()
            self._crt = None

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    @contextmanager
    def _errors(self, what: str, not_found_is_precondition: bool = False):
        """Translate botocore's exceptions into the project's, naming ``what``."""
        from botocore.exceptions import (BotoCoreError, ClientError, ConnectionError,
                                         NoCredentialsError, PartialCredentialsError,
                                         ProfileNotFound)
        try:
            yield
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = err.get("Message") or code
            if code in ("NoSuchBucket",):
                raise RemoteNotFound(f"bucket {self.bucket!r} does not exist "
                                     f"(at {self.endpoint_url or 'AWS'})") from None
            if code in ("NoSuchKey", "404", "NotFound") or status == 404:
                if not_found_is_precondition:
                    raise PreconditionFailed(f"{what}: the object is gone") from None
                raise RemoteNotFound(f"{what}: not found on the remote") from None
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict") \
                    or status in (412, 409):
                raise PreconditionFailed(f"{what}: changed on the remote since it was read") \
                    from None
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                        "ExpiredToken", "AllAccessDisabled") or status == 403:
                raise RemotePermissionError(f"{what}: access denied by S3 ({code}); "
                                            f"check your credentials: {_CRED_HELP}") from None
            if code in ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"):
                raise ChecksumMismatch(f"{what}: S3 rejected the bytes: they do not match "
                                       f"their SHA-256 ({code})") from None
            if code in ("SlowDown", "503", "ServiceUnavailable", "RequestTimeout") \
                    or status == 503:
                raise RemoteError(f"{what}: S3 is throttling or unavailable ({code}) even "
                                  f"after retries; run again later") from None
            raise RemoteError(f"{what}: S3 error {code}: {message}") from None
        except (NoCredentialsError, PartialCredentialsError):
            raise RemotePermissionError(f"no usable AWS credentials: {_CRED_HELP}") from None
        except ProfileNotFound as exc:
            raise RemotePermissionError(f"{exc}: {_CRED_HELP}") from None
        except ConnectionError as exc:
            where = self.endpoint_url or "S3"
            raise RemoteUnreachable(f"{what}: cannot reach {where} "
                                    f"({type(exc).__name__})") from None
        except BotoCoreError as exc:
            raise RemoteError(f"{what}: {exc}") from None

    # -- primitives ----------------------------------------------------------------------
    def list(self, under: str = "") -> Iterator[RemoteObject]:
        base = f"{self.prefix}/" if self.prefix else ""
        with self._errors(f"listing {self.describe()}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base + under)
            for page in pages:
                for obj in page.get("Contents", ()):
                    key = obj["Key"][len(base):]
                    if not under and (key == ".S3" or key.startswith(".S3/")):
                        continue
                    if not key or key.endswith("/"):
                        continue
                    yield RemoteObject(key, obj["Size"], _unq(obj.get("ETag")),
                                       modified=obj["LastModified"].strftime(
                                           "%Y-%m-%dT%H:%M:%SZ"))

    def head(self, key: str) -> Optional[RemoteObject]:
        try:
            with self._errors(key):
                r = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except RemoteNotFound:
            return None
        meta = {k.lower(): v for k, v in (r.get("Metadata") or {}).items()}
        return RemoteObject(key, r["ContentLength"], _unq(r.get("ETag")),
                            sha256=meta.get("sha256", ""),
                            modified=r["LastModified"].strftime("%Y-%m-%dT%H:%M:%SZ"))

    def get_bytes(self, key: str, if_none_match: Optional[str] = None):
        from botocore.exceptions import ClientError

        kwargs = {"Bucket": self.bucket, "Key": self._key(key)}
        if if_none_match:
            kwargs["IfNoneMatch"] = _q(if_none_match)
        with self._errors(key):
            try:
                r = self.client.get_object(**kwargs)
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 304 or exc.response.get("Error", {}).get("Code") == "304":
                    return None
                raise
            return r["Body"].read(), _unq(r.get("ETag"))

    def _conditions(self, if_match, if_none_match) -> dict:
        if if_match is not None:
            return {"IfMatch": _q(if_match)}
        if if_none_match:
            return {"IfNoneMatch": "*"}
        return {}

    def put_bytes(self, key: str, data: bytes, *, if_match: Optional[str] = None,
                  if_none_match: bool = False) -> str:
        digest = hashlib.sha256(data).hexdigest()
        with self._errors(key, not_found_is_precondition=if_match is not None):
            r = self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                       ChecksumAlgorithm="SHA256",
                                       ChecksumSHA256=hex_to_b64(digest),
                                       Metadata={"sha256": digest},
                                       **self._conditions(if_match, if_none_match))
        return _unq(r.get("ETag"))

    def upload(self, key: str, source: Path, *, sha256: str, size: int,
               if_match: Optional[str] = None, if_none_match: bool = False,
               advance: Advance = None) -> RemoteObject:
        if size >= self.multipart_threshold:
            return self._upload_multipart(key, source, sha256, size, if_match,
                                          if_none_match, advance)
        with open(source, "rb") as f:
            data = f.read(size + 1)
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != size or digest != sha256:
            raise ChecksumMismatch(f"{key}: the file changed while it was being uploaded")
        crt = self.crt
        if crt is not None:
            etag = crt.put(self._key(key), data, digest, if_match=if_match,
                           if_none_match=if_none_match, label=key)
            if advance is not None:
                advance(size)
            return RemoteObject(key, size, etag, sha256=digest)
        with self._errors(key, not_found_is_precondition=if_match is not None):
            r = self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                       ChecksumAlgorithm="SHA256",
                                       ChecksumSHA256=hex_to_b64(digest),
                                       Metadata={"sha256": digest},
                                       **self._conditions(if_match, if_none_match))
        if advance is not None:
            advance(size)
        return RemoteObject(key, size, _unq(r.get("ETag")), sha256=digest)

    def _part_size(self, size: int) -> int:
        need = -(-size // MAX_PARTS)
        return max(self.part_size, -(-need // MIB) * MIB)

    def _upload_multipart(self, key, source, sha256, size, if_match, if_none_match, advance):
        full = self._key(key)
        with self._errors(key):
            up = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=full, ChecksumAlgorithm="SHA256",
                Metadata={"sha256": sha256})
        upload_id = up["UploadId"]
        pool, part_size = self._pool(), self._part_size(size)

        def send(number: int, buf: bytes):
            try:
                b64 = hex_to_b64(hashlib.sha256(buf).hexdigest())
                with self._errors(f"{key} (part {number})"):
                    r = self.client.upload_part(Bucket=self.bucket, Key=full,
                                                UploadId=upload_id, PartNumber=number,
                                                Body=buf, ChecksumAlgorithm="SHA256",
                                                ChecksumSHA256=b64)
                if advance is not None:
                    advance(len(buf))
                return {"PartNumber": number, "ETag": r["ETag"], "ChecksumSHA256": b64}
            finally:
                self._part_slots.release()

        futures, whole, sent = [], hashlib.sha256(), 0
        try:
            with open(source, "rb") as f:
                number = 0
                while True:
                    self._part_slots.acquire()
                    try:
                        buf = f.read(part_size)
                    except BaseException:
                        self._part_slots.release()
                        raise
                    if not buf:
                        self._part_slots.release()
                        break
                    number += 1
                    whole.update(buf)
                    sent += len(buf)
                    futures.append(pool.submit(send, number, buf))
                    del buf
            parts = [fut.result() for fut in futures]
            if sent != size or whole.hexdigest() != sha256:
                raise ChecksumMismatch(f"{key}: the file changed while it was being uploaded")
            with self._errors(key, not_found_is_precondition=if_match is not None):
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=full, UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    **self._conditions(if_match, if_none_match))
        except BaseException:
            for fut in futures:
                fut.cancel()
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full,
                                                   UploadId=upload_id)
            except Exception:  # the upload already failed; abort is best effort  # noqa: BLE001
                log.debug("could not abort multipart upload of %s", key)
            raise
        # Some S3-compatible servers answer the completion with another ETag than the one
        # they report afterwards: record the one later requests will be compared with.
        obj = self.head(key)
        if obj is None or obj.size != size:
            raise RemoteError(f"{key}: the multipart upload completed but the object is "
                              f"missing or of the wrong size")
        return RemoteObject(key, size, obj.etag, sha256=sha256)

    def download(self, key: str, dest: Path, *, advance: Advance = None,
                 size_hint: int = -1, if_match: Optional[str] = None) -> str:
        if size_hint >= self.multipart_threshold:
            return self._download_ranges(key, dest, size_hint, advance, if_match)
        crt = self.crt
        if crt is not None:
            return crt.get(self._key(key), dest, if_match=if_match, advance=advance, label=key)
        h = hashlib.sha256()
        extra = {"IfMatch": _q(if_match)} if if_match is not None else {}
        with self._errors(key):
            r = self.client.get_object(Bucket=self.bucket, Key=self._key(key), **extra)
            with open(dest, "wb") as fo:
                for block in r["Body"].iter_chunks(CHUNK):
                    h.update(block)
                    fo.write(block)
                    if advance is not None:
                        advance(len(block))
        return h.hexdigest()

    def _download_ranges(self, key, dest, size, advance, if_match=None) -> str:
        full = self._key(key)
        with self._errors(key):
            first = self.client.head_object(Bucket=self.bucket, Key=full)
        etag, size = first["ETag"], first["ContentLength"]
        if if_match is not None and _unq(etag) != if_match:
            raise PreconditionFailed(f"{key}: changed on the remote since it was read")
        part = self._part_size(size)
        pool = self._pool()
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, size)

            def fetch(start: int):
                end = min(start + part, size) - 1
                with self._errors(f"{key} (bytes {start}-{end})"):
                    r = self.client.get_object(Bucket=self.bucket, Key=full, IfMatch=etag,
                                               Range=f"bytes={start}-{end}")
                    offset = start
                    for block in r["Body"].iter_chunks(CHUNK):
                        os.pwrite(fd, block, offset)
                        offset += len(block)
                        if advance is not None:
                            advance(len(block))
                if offset != end + 1:
                    raise RemoteError(f"{key}: short read of bytes {start}-{end}")

            futures = [pool.submit(fetch, s) for s in range(0, size, part)]
            try:
                for fut in futures:
                    fut.result()
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
        finally:
            os.close(fd)
        h = hashlib.sha256()
        with open(dest, "rb") as f:
            while True:
                block = f.read(4 * CHUNK)
                if not block:
                    break
                h.update(block)
        return h.hexdigest()

    def copy(self, src: str, dst: str, *, if_match: Optional[str] = None,
             size_hint: int = -1) -> str:
        source = {"Bucket": self.bucket, "Key": self._key(src)}
        if size_hint > COPY_LIMIT:
            return self._copy_parts(src, dst, source, if_match, size_hint)
        extra = {"CopySourceIfMatch": _q(if_match)} if if_match is not None else {}
        with self._errors(f"archiving {src}"):
            r = self.client.copy_object(Bucket=self.bucket, Key=self._key(dst),
                                        CopySource=source, **extra)
        return _unq(r["CopyObjectResult"]["ETag"])

    def _copy_parts(self, src, dst, source, if_match, size) -> str:
        full = self._key(dst)
        with self._errors(f"archiving {src}"):
            meta = self.client.head_object(Bucket=self.bucket, Key=self._key(src))
            up = self.client.create_multipart_upload(Bucket=self.bucket, Key=full,
                                                     Metadata=meta.get("Metadata") or {})
        upload_id, part = up["UploadId"], max(self._part_size(size), 512 * MIB)
        extra = {"CopySourceIfMatch": _q(if_match)} if if_match is not None else {}
        try:
            parts = []
            for number, start in enumerate(range(0, size, part), 1):
                end = min(start + part, size) - 1
                with self._errors(f"archiving {src}"):
                    r = self.client.upload_part_copy(
                        Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=number,
                        CopySource=source, CopySourceRange=f"bytes={start}-{end}", **extra)
                parts.append({"PartNumber": number, "ETag": r["CopyPartResult"]["ETag"]})
            with self._errors(f"archiving {src}"):
                r = self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=full, UploadId=upload_id,
                    MultipartUpload={"Parts": parts})
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full,
                                                   UploadId=upload_id)
            except Exception:  # best effort after a failure  # noqa: BLE001
                log.debug("could not abort multipart copy of %s", src)
            raise
        return _unq(r.get("ETag"))

    def delete(self, key: str, *, if_match: Optional[str] = None) -> None:
        kwargs = {"Bucket": self.bucket, "Key": self._key(key)}
        if if_match is not None and self._delete_if_match:
            kwargs["IfMatch"] = _q(if_match)
        from botocore.exceptions import ClientError

        with self._errors(key, not_found_is_precondition="IfMatch" in kwargs):
            try:
                self.client.delete_object(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NotImplemented" \
                        or "IfMatch" not in kwargs:
                    raise
                # Some S3-compatible servers lack conditional deletes: the archive copy
                # above was conditional, so fall back to a plain delete.
                self._delete_if_match = False
                del kwargs["IfMatch"]
                self.client.delete_object(**kwargs)
