"""The bulk data path of S3Connection on the AWS Common Runtime (awscrt): single-request
PUTs and GETs of data files, signed, pooled and retried in native code, so that thousands
of small files cost microseconds of Python each instead of a millisecond of botocore.

S3Connection resolves the endpoint, region and credentials with botocore (the same chain:
environment, profile, SSO, instance role) and hands them over; everything else (the state
file, listing, copy, delete, multipart) stays on botocore. Requests carry the same
conditional headers and SHA-256 as there, and their failures go through the same table
(``s3errors.classify``), so both transports raise the same exception for the same answer.
"""
from __future__ import annotations

import io
import re
import threading
from typing import Callable, Optional
from urllib.parse import quote, urlsplit

from ...core.hashing import hex_to_b64, sha256_hasher
from .errors import classify

_CODE = re.compile(rb"<Code>([^<]+)</Code>")
_MESSAGE = re.compile(rb"<Message>([^<]*)</Message>")
_VIRTUAL_OK = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("awscrt") is not None


def _header(headers, name: str) -> Optional[str]:
    name = name.lower()
    for k, v in headers or ():
        if k.lower() == name:
            return v
    return None


class CrtTransport:
    """PUT and GET of whole objects of one bucket through an awscrt S3Client."""

    def __init__(self, *, bucket: str, endpoint_url: str, region: str, credentials,
                 path_style: bool, max_connections: int, endpoint: Optional[str] = None):
        from awscrt import auth, io as crtio

        self.bucket = bucket
        self.endpoint = endpoint  # as configured, for messages (None: AWS)
        self._credentials = credentials  # botocore Credentials (may refresh)
        self._elg = crtio.EventLoopGroup()
        self._bootstrap = crtio.ClientBootstrap(self._elg, crtio.DefaultHostResolver(self._elg))
        self._provider = auth.AwsCredentialsProvider.new_delegate(self._get_credentials)
        self._max = max_connections
        url = urlsplit(endpoint_url)
        self._tls = url.scheme == "https"
        use_path = path_style or not _VIRTUAL_OK.match(bucket)
        self._host = url.netloc if use_path else f"{bucket}.{url.netloc}"
        self._prefix = f"/{bucket}/" if use_path else "/"
        self._lock = threading.Lock()
        self._client = self._make(region)

    def _get_credentials(self):
        from awscrt.auth import AwsCredentials

        c = self._credentials.get_frozen_credentials()
        return AwsCredentials(c.access_key, c.secret_key, c.token)

    def _make(self, region: str):
        from awscrt import s3

        self.region = region
        return s3.S3Client(
            bootstrap=self._bootstrap, region=region, credential_provider=self._provider,
            tls_mode=s3.S3RequestTlsMode.ENABLED if self._tls else s3.S3RequestTlsMode.DISABLED,
            part_size=8 << 20, multipart_upload_threshold=5 << 30,
            max_active_connections_override=self._max)

    # -- one request -----------------------------------------------------------------------
    def _send(self, method: str, key: str, headers, body: Optional[bytes] = None,
              on_body: Optional[Callable] = None, transfer=None) -> dict:
        from awscrt import http, s3

        path = self._prefix + quote(key, safe="/-_.~")
        all_headers = [("Host", self._host), *headers]
        stream = None
        if body is not None:
            all_headers.append(("Content-Length", str(len(body))))
            stream = io.BytesIO(body)
        out: dict = {}
        done = threading.Event()  # on_done came, or the transfer was cancelled
        finished: list = []

        def on_headers(status_code, headers, **_kw):
            out["status"], out["headers"] = status_code, headers

        def on_done(error=None, error_headers=None, error_body=None, status_code=None, **_kw):
            out.update(error=error, error_headers=error_headers, error_body=error_body or b"")
            if status_code:
                out["status"] = status_code
            finished.append(True)
            done.set()

        request = http.HttpRequest(method, path, http.HttpHeaders(all_headers), stream)
        made = self._client.make_request(
            type=s3.S3RequestType.DEFAULT, request=request,
            operation_name="PutObject" if method == "PUT" else "GetObject",
            on_headers=on_headers, on_body=on_body, on_done=on_done)
        if transfer is not None:
            transfer.on_cancel(made.cancel)  # at once if the transfer already is cancelled
            transfer.on_cancel(done.set)
        done.wait()
        if not finished:
            # Cancelled. This CRT honours cancel() only between the requests of a meta
            # request: one already on the wire runs to its end (seconds, on a slow link).
            # Not waiting for it: it ends in the background, its callbacks then do
            # nothing (the caller's on_body checks the transfer), and a PUT that still
            # lands is found by content by the next run, as after a crash.
            transfer.check()
        return out

    def _request(self, method, key, headers, body=None, on_body=None, what="",
                 transfer=None) -> dict:
        out = self._send(method, key, headers, body, on_body, transfer)
        if out.get("error") is None:
            return out
        if transfer is not None:
            transfer.check()  # cancelled (Ctrl-C): that is why it failed
        status = out.get("status") or 0
        region = _header(out.get("error_headers"), "x-amz-bucket-region")
        if status == 301 and region and region != self.region:
            with self._lock:  # the bucket lives elsewhere: follow it, as botocore does
                if region != self.region:
                    self._client = self._make(region)
            out = self._send(method, key, headers, body, on_body, transfer)
            if out.get("error") is None:
                return out
            if transfer is not None:
                transfer.check()
        raise self._failure(method, headers, out, what or key)

    def _failure(self, method: str, headers, out: dict, what: str):
        """The project's exception for a failed request, from the one table (s3errors)."""
        status = out.get("status") or 0
        body = out.get("error_body") or b""
        found = _CODE.search(body)
        error = out.get("error")
        name = str(getattr(error, "name", type(error).__name__))
        code = found.group(1).decode("utf-8", "replace") if found \
            else (str(status) if status else name)
        msg = _MESSAGE.search(body)
        conditional = any(k in ("If-Match", "If-None-Match") for k, _ in headers)
        return classify(status, code, "PutObject" if method == "PUT" else "GetObject",
                        conditional, what, bucket=self.bucket, endpoint=self.endpoint,
                        message=msg.group(1).decode("utf-8", "replace") if msg else "")

    # -- the two operations ------------------------------------------------------------------
    def put(self, key: str, data: bytes, sha256: str, *, if_match: Optional[str],
            if_none_match: bool, label: str = "", transfer=None) -> str:
        """PUT ``data`` (already checked against ``sha256``); returns the ETag. ``label``
        names the file in messages; cancelling ``transfer`` cancels the request."""
        headers = [("x-amz-sdk-checksum-algorithm", "SHA256"),
                   ("x-amz-checksum-sha256", hex_to_b64(sha256)),
                   ("x-amz-meta-sha256", sha256)]
        if if_match is not None:
            headers.append(("If-Match", f'"{if_match}"'))
        elif if_none_match:
            headers.append(("If-None-Match", "*"))
        out = self._request("PUT", key, headers, body=data, what=label or key,
                            transfer=transfer)
        return (_header(out.get("headers"), "etag") or "").strip('"')

    def get(self, key: str, dest, *, if_match: Optional[str], advance, label: str = "",
            transfer=None) -> str:
        """GET the object into ``dest``; returns the SHA-256 hex of the bytes written.
        ``advance`` is called per block (``transfer.advance`` when a transfer is given);
        an exception it raises, Cancelled included, cancels the request and is raised
        here. Cancelling ``transfer`` cancels the request."""
        from ..base import Transfer

        h = sha256_hasher()
        headers = [("If-Match", f'"{if_match}"')] if if_match is not None else []
        own = transfer if transfer is not None else Transfer(advance)
        with open(dest, "wb") as fo:
            failure: list = []

            def on_body(chunk, offset=0, **_kw):
                if failure or own.cancelled:
                    return
                try:
                    h.update(chunk)
                    fo.write(chunk)
                    own.advance(len(chunk))
                except BaseException as exc:  # raised again below, in the caller's thread
                    failure.append(exc)
                    own.cancel()

            try:
                self._request("GET", key, headers, on_body=on_body, transfer=own,
                              what=label or key)
            except Exception:
                if not failure:
                    raise
            if failure:
                raise failure[0]
        return h.hexdigest()

    def close(self) -> None:
        self._client = None
