"""The one table of S3 errors: what an answer (or a failure to get one) means, as the
project's exception, with a message naming the problem and the fix.

Both transports of ``S3Connection`` reduce their failures to (HTTP status, error code) and
ask ``classify``: botocore's ``ClientError`` gives them from the parsed response, the
AWS Common Runtime from its error body, and a connection that failed before any answer has
status 0 and the failure's name as its code.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import NamedTuple, Optional

from ...core.layout import CONFIG_NAME
from ...core.errors import (ChecksumMismatch, PreconditionFailed, RemoteError, RemoteNotFound,
                            RemotePermissionError, RemoteUnreachable, S3SyncMirrorError)
from ..base import last_rules

CRED_HELP = ("set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE (or storage.profile), "
             "or log in with `aws sso login`")

NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "ProfileNotFound",
                  "NoCredentials"}
NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict"}
DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch",
          "ExpiredToken", "AllAccessDisabled"}
DIGEST = {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"}
THROTTLED = {"SlowDown", "503", "ServiceUnavailable", "RequestTimeout", "Throttling",
             "ThrottlingException", "RequestLimitExceeded"}
# Requests whose If-Match makes a missing object a lost race rather than a missing file:
# the object was removed since it was read.
CONDITIONAL_WRITES = {"PutObject", "CompleteMultipartUpload", "DeleteObject"}
# Failures with no answer that mean the server was not reached (or stopped answering):
# botocore's exception names, and words in awscrt's AWS_IO_* / AWS_ERROR_* names.
UNREACHABLE = {"ConnectionError", "EndpointConnectionError", "ConnectTimeoutError",
               "ProxyConnectionError", "SSLError", "ConnectionClosedError",
               "ReadTimeoutError"}
_CRT_NETWORK = ("SOCKET", "DNS", "CONNECT", "TLS", "TIMEOUT", "HOST", "NETWORK")


class Failure(NamedTuple):
    """What a row of the table looks at."""

    status: int  # the HTTP status; 0 when no answer came
    code: str  # S3's error code, or the failure's name when no answer came
    operation: str  # PutObject, GetObject, CompleteMultipartUpload, ...
    conditional: bool  # the request carried If-Match / If-None-Match
    endpoint: Optional[str]  # as configured; None for AWS


def _throttled(f: Failure) -> bool:
    upper = f.code.upper()
    return f.code in THROTTLED or f.status == 503 or "SLOW_DOWN" in upper \
        or "THROTTL" in upper


def _unreachable(f: Failure) -> bool:
    return not f.status and (f.code in UNREACHABLE or (
        f.code.startswith("AWS_") and any(word in f.code for word in _CRT_NETWORK)))


def _not_found(f: Failure) -> bool:
    return f.code in NOT_FOUND or f.status == 404


_AGAIN = "run the sync again to take that into account"
# (row, applies to, exception, message). The first row that applies wins. Messages name
# the problem and the fix; their fields: {lead} ("<what>: "), {code}, {status}, {where}
# (the endpoint, or AWS S3), {bucket}, {message} (the server's words), {cfg}, {creds}.
TABLE = (
    ("no credentials", lambda f: f.code in NO_CREDENTIALS, RemotePermissionError,
     "{message}: {creds}"),
    ("no such bucket", lambda f: f.code == "NoSuchBucket", RemoteNotFound,
     "bucket {bucket!r} does not exist at {where}: create it, or fix storage.tenant in "
     "{cfg}"),
    ("upload ended", lambda f: f.code == "NoSuchUpload", RemoteError,
     "{lead}the multipart upload was ended on the server meanwhile (a lifecycle rule?): "
     "run the sync again"),
    ("gone before a conditional write",
     lambda f: _not_found(f) and f.conditional and f.operation in CONDITIONAL_WRITES,
     PreconditionFailed, "{lead}removed from the remote since this sync read it: " + _AGAIN),
    ("not found", _not_found, RemoteNotFound,
     "{lead}not found on the remote (removed meanwhile?): " + _AGAIN),
    ("precondition", lambda f: f.code in PRECONDITION or f.status in (412, 409),
     PreconditionFailed, "{lead}changed on the remote since this sync read it: " + _AGAIN),
    ("denied", lambda f: f.code in DENIED or f.status == 403, RemotePermissionError,
     "{lead}access denied by S3 ({code}) on bucket {bucket!r}: check your credentials and "
     "their rights; {creds}"),
    ("bad digest", lambda f: f.code in DIGEST, ChecksumMismatch,
     "{lead}S3 rejected the bytes: they do not match their SHA-256 ({code}): run again; if "
     "it persists, something between you and {where} alters the data (a proxy?)"),
    ("throttled", _throttled, RemoteError,
     "{lead}S3 is throttling or unavailable ({code}) even after retries: run again later, "
     "or with fewer --jobs"),
    ("unreachable server", lambda f: _unreachable(f) and bool(f.endpoint), RemoteUnreachable,
     "{lead}cannot reach {where} ({code}): is the server running? check "
     "storage.endpoint_url in {cfg}"),
    ("unreachable AWS", _unreachable, RemoteUnreachable,
     "{lead}cannot reach AWS S3 ({code}): check your network connection, and "
     "storage.region in {cfg}"),
    *last_rules("S3"),
)


def classify(status: Optional[int], code: str, operation: str = "", conditional: bool = False,
             what: str = "", *, bucket: str = "", endpoint: Optional[str] = None,
             message: str = "") -> S3SyncMirrorError:
    """The exception an S3 failure means (the first row of ``TABLE`` that applies).
    ``status``: the HTTP status (0 or None: no answer); ``code``: S3's error code, or the
    failure's name when there was no answer; ``operation``: the request (``PutObject``,
    ``GetObject``...); ``conditional``: whether it carried If-Match / If-None-Match;
    ``what``: the file or key, for the message; ``bucket``, ``endpoint`` (None: AWS):
    where; ``message``: the server's own words. Returns a RemoteError subclass, or
    ChecksumMismatch when S3 refused the bytes."""
    status = int(status or 0)
    failure = Failure(status, str(code or status or ""), operation or "", bool(conditional),
                      endpoint or None)
    _row, _applies, cls, text = next(row for row in TABLE if row[1](failure))
    default = "no usable AWS credentials" if cls is RemotePermissionError else failure.code
    # an unreachable server is about the server, not a file (least of all a state file)
    lead = f"{what}: " if what and cls is not RemoteUnreachable else ""
    return cls(text.format(lead=lead, code=failure.code, status=status,
                           where=endpoint or "AWS S3", bucket=bucket,
                           message=message or default, cfg=CONFIG_NAME, creds=CRED_HELP))


def no_credentials() -> RemotePermissionError:
    return classify(0, "NoCredentials")


@contextmanager
def botocore_errors(what: str, *, conditional: bool = False, bucket: str = "",
                    endpoint: Optional[str] = None):
    """Raise what ``classify`` makes of any botocore exception of the body."""
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError

    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise classify(status, str(err.get("Code", "")), exc.operation_name, conditional,
                       what, bucket=bucket, endpoint=endpoint,
                       message=str(err.get("Message") or "")) from None
    except BotoCoreError as exc:
        name = type(exc).__name__
        if isinstance(exc, ConnectionError) and name not in UNREACHABLE:
            name = "ConnectionError"
        raise classify(0, name, "", conditional, what, bucket=bucket, endpoint=endpoint,
                       message=str(exc)) from None
