"""The one table of Google Cloud Storage errors: what an answer (or a failure to get one)
means, as the project's exception, with a message naming the problem and the fix.

The JSON API calls of google-cloud-storage raise ``google.api_core`` exceptions, the media
transfers of google-resumable-media raise ``InvalidResponse`` / ``DataCorruption``, and a
request that got no answer raises a ``requests`` or ``google.auth`` exception. ``gcs_errors``
reduces each to (HTTP status, code) and asks ``classify``; a connection that failed before
any answer has status 0 and the failure's name as its code. Throttling (429, 503) and other
transient failures were already retried with backoff by the libraries (``platforms/gcs/connection.py`` configures
that): what reaches this table is final.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, NamedTuple, Optional

from ...core.layout import CONFIG_NAME
from ...core.errors import (ChecksumMismatch, ConfigError, PreconditionFailed, RemoteError,
                            RemoteNotFound, RemotePermissionError, RemoteUnreachable,
                            S3SyncMirrorError)
from ..base import last_rules

CRED_HELP = ("run `gcloud auth application-default login`, or set "
             "GOOGLE_APPLICATION_CREDENTIALS to a service account key file")
NO_BUCKET = "NoSuchBucket"  # the code of a 404 once the bucket itself is found missing
NO_CREDENTIALS = {"DefaultCredentialsError", "RefreshError"}
UNREACHABLE = {"ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout", "SSLError",
               "ProxyError", "TransportError", "ChunkedEncodingError", "ProtocolError"}
THROTTLED = {429, 500, 502, 503, 504}


class Failure(NamedTuple):
    """What a row of the table looks at."""

    status: int  # the HTTP status; 0 when no answer came
    code: str  # the error's reason, or the failure's name when no answer came
    conditional: bool  # a write that carried ifGenerationMatch
    endpoint: Optional[str]  # as configured; None for Google Cloud Storage itself


_AGAIN = "run the sync again to take that into account"
# (row, applies to, exception, message). The first row that applies wins. Messages name
# the problem and the fix; their fields: {lead} ("<what>: "), {code}, {status}, {where},
# {bucket}, {message} (the server's words), {cfg}, {creds}.
TABLE = (
    ("no credentials", lambda f: f.code in NO_CREDENTIALS, RemotePermissionError,
     "{lead}no usable Google credentials ({code}): {creds}"),
    ("no such bucket", lambda f: f.code == NO_BUCKET, RemoteNotFound,
     "bucket {bucket!r} does not exist at {where}: create it, or fix storage.tenant in "
     "{cfg}"),
    # A write conditional on a generation, answered "not found": the object was removed
    # since it was read (GCS itself answers 412 there; some servers 404).
    ("gone before a conditional write", lambda f: f.status == 404 and f.conditional,
     PreconditionFailed, "{lead}removed from the remote since this sync read it: " + _AGAIN),
    ("not found", lambda f: f.status == 404, RemoteNotFound,
     "{lead}not found on the remote (removed meanwhile?): " + _AGAIN),
    # 409: another request changed the object at the same time: a lost race as well.
    ("precondition", lambda f: f.status in (412, 409), PreconditionFailed,
     "{lead}changed on the remote since this sync read it: " + _AGAIN),
    ("denied", lambda f: f.status in (401, 403), RemotePermissionError,
     "{lead}access denied by {where} (HTTP {status}: {message}) on bucket {bucket!r}: check "
     "that your account may read and write it; {creds}"),
    ("bad checksum", lambda f: f.code == "DataCorruption", ChecksumMismatch,
     "{lead}the bytes stored do not match the bytes sent or read ({message}): run again; "
     "if it persists, something between you and {where} alters the data (a proxy?)"),
    ("throttled", lambda f: f.status in THROTTLED, RemoteError,
     "{lead}{where} is throttling or unavailable (HTTP {status}) even after retries: run "
     "again later, or with fewer --jobs"),
    ("unreachable server", lambda f: not f.status and f.code in UNREACHABLE and bool(
        f.endpoint), RemoteUnreachable,
     "{lead}cannot reach {where} ({code}): is the server running? check "
     "storage.endpoint_url in {cfg}"),
    ("unreachable Google", lambda f: not f.status and f.code in UNREACHABLE,
     RemoteUnreachable, "{lead}cannot reach Google Cloud Storage ({code}): check your "
     "network connection (and any proxy settings)"),
    *last_rules("Google Cloud Storage"),
)


def classify(status: Optional[int], code: str = "", conditional: bool = False,
             what: str = "", *, bucket: str = "", endpoint: Optional[str] = None,
             message: str = "") -> S3SyncMirrorError:
    """The exception a GCS failure means (the first row of ``TABLE`` that applies).
    ``status``: the HTTP status (0 or None: no answer); ``code``: the error's reason, or
    the failure's name; ``conditional``: a write that carried a generation condition;
    ``what``: the file or key, for the message; ``bucket``, ``endpoint`` (None: Google):
    where; ``message``: the server's own words."""
    status = int(status or 0)
    failure = Failure(status, str(code or status or ""), bool(conditional), endpoint or None)
    _row, _applies, cls, text = next(row for row in TABLE if row[1](failure))
    # an unreachable server is about the server, not a file (least of all a state file)
    lead = f"{what}: " if what and cls is not RemoteUnreachable else ""
    return cls(text.format(lead=lead, code=failure.code, status=status,
                           where=endpoint or "Google Cloud Storage", bucket=bucket,
                           message=message or failure.code, cfg=CONFIG_NAME,
                           creds=CRED_HELP))


def no_credentials(where: str, endpoint: Optional[str]) -> ConfigError:
    """No Google credentials were found when the client was made."""
    emulator = (f", or, if {endpoint} is an emulator, set STORAGE_EMULATOR_HOST to it"
                if endpoint else "")
    return ConfigError(f"no Google credentials found for {where}: {CRED_HELP}{emulator}")


def _server_words(response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except Exception:  # not JSON: the body itself, short  # noqa: BLE001
        return (getattr(response, "text", "") or "").strip()[:200]


def _answer(exc: BaseException):
    """(status, code, message) of a library exception, or None when it is none of them."""
    from google.api_core import exceptions as api
    from google.resumable_media import common

    if isinstance(exc, api.RetryError) and exc.cause is not None:
        return _answer(exc.cause) or (0, type(exc.cause).__name__, str(exc.cause))
    if isinstance(exc, common.DataCorruption):
        return 0, "DataCorruption", str(exc.args[1] if len(exc.args) > 1 else exc)
    if isinstance(exc, common.InvalidResponse):
        response = exc.response
        return response.status_code, str(response.reason or ""), _server_words(response)
    if isinstance(exc, api.GoogleAPICallError):
        return int(exc.code or 0), str(exc.reason or type(exc).__name__), exc.message
    return None


def _no_answer(exc: BaseException) -> Optional[str]:
    """The failure's name when ``exc`` is a request that got no answer, else None."""
    import requests
    from google.auth import exceptions as auth

    if isinstance(exc, (auth.DefaultCredentialsError, auth.RefreshError)):
        return type(exc).__name__
    if isinstance(exc, (requests.exceptions.RequestException, auth.TransportError,
                        ConnectionError, TimeoutError)):
        name = type(exc).__name__
        return name if name in UNREACHABLE else "ConnectionError"
    return None


@contextmanager
def gcs_errors(what: str, *, conditional: bool = False, bucket: str = "",
               endpoint: Optional[str] = None,
               bucket_exists: Optional[Callable[[], bool]] = None):
    """Raise what ``classify`` makes of any google-cloud or requests exception of the body.
    ``bucket_exists`` is asked after a 404, to tell a missing bucket from a missing object."""
    try:
        yield
    except S3SyncMirrorError:
        raise
    except Exception as exc:  # noqa: BLE001  (translated or re-raised below)
        answer = _answer(exc)
        if answer is None:
            name = _no_answer(exc)
            if name is None:
                raise
            answer = (0, name, str(exc))
        status, code, message = answer
        if status == 404 and bucket_exists is not None and not bucket_exists():
            code = NO_BUCKET
        raise classify(status, code, conditional, what, bucket=bucket, endpoint=endpoint,
                       message=message) from None
