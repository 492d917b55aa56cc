"""The one table of Azure Blob errors: what an answer (or a failure to get one) means, as
the project's exception, with a message naming the problem and the fix.

``azure_errors`` reduces every azure.core exception to (HTTP status, error code) and asks
``classify``: an ``HttpResponseError`` gives the status and the service's error code (the
``x-ms-error-code`` header); a failure with no answer (connection refused, a credential
that could not be had) has status 0 and the exception's class name as its code.
Throttling (503 ServerBusy, 500 OperationTimedOut) is retried with back-off by the SDK's
retry policy, configured in ``platforms/blob/connection.py``; what still fails after it reaches this table.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import NamedTuple

from ...core.layout import CONFIG_NAME
from ...core.errors import (ChecksumMismatch, PreconditionFailed, RemoteError, RemoteNotFound,
                            RemotePermissionError, RemoteUnreachable, S3SyncMirrorError)
from ..base import last_rules

CRED_HELP = ("set AZURE_STORAGE_CONNECTION_STRING, or set storage.endpoint_url (or "
             "AZURE_STORAGE_ACCOUNT_URL) and log in with `az login`")

NO_CREDENTIALS = {"ClientAuthenticationError", "CredentialUnavailableError"}
DENIED = {"AuthenticationFailed", "AuthorizationFailure", "AuthorizationPermissionMismatch",
          "InsufficientAccountPermissions", "AccountIsDisabled"}
DIGEST = {"Md5Mismatch", "InvalidMd5", "Crc64Mismatch"}
THROTTLED = {"ServerBusy", "OperationTimedOut", "InternalError"}
# Failures with no answer that mean the server was not reached (or stopped answering).
UNREACHABLE = {"ServiceRequestError", "ServiceResponseError", "ServiceRequestTimeoutError",
               "ServiceResponseTimeoutError", "IncompleteReadError"}


class ContainerNotFound(RemoteNotFound):
    """The container itself is missing (not just a blob): ``head`` and ``delete`` raise it
    where a missing blob is an answer."""


class Failure(NamedTuple):
    """What a row of the table looks at."""

    status: int  # the HTTP status; 0 when no answer came
    code: str  # the service's error code, or the exception's class name
    conditional: bool  # the request carried If-Match / If-None-Match (or a copy's)
    write: bool  # a write (put, commit, delete): a blob gone under If-Match lost a race


_AGAIN = "run the sync again to take that into account"
# (row, applies to, exception, message). The first row that applies wins. Message fields:
# {lead} ("<what>: "), {code}, {status}, {where} (the account's endpoint), {container},
# {message} (the service's words), {cfg}, {creds}.
TABLE = (
    ("no credentials", lambda f: not f.status and f.code in NO_CREDENTIALS,
     RemotePermissionError, "{lead}no usable Azure credentials ({message}): {creds}"),
    ("no such container", lambda f: f.code == "ContainerNotFound", ContainerNotFound,
     "container {container!r} does not exist at {where}: create it, or fix storage.tenant "
     "in {cfg}"),
    ("gone before a conditional write",
     lambda f: f.status == 404 and f.conditional and f.write, PreconditionFailed,
     "{lead}removed from the remote since this sync read it: " + _AGAIN),
    ("not found", lambda f: f.status == 404, RemoteNotFound,
     "{lead}not found on the remote (removed meanwhile?): " + _AGAIN),
    ("precondition", lambda f: f.status == 412 or (f.status == 409 and f.conditional
                                                   and f.code == "BlobAlreadyExists"),
     PreconditionFailed, "{lead}changed on the remote since this sync read it: " + _AGAIN),
    ("denied", lambda f: f.status in (401, 403) or f.code in DENIED, RemotePermissionError,
     "{lead}access denied by Azure Storage ({code}) on container {container!r}: check your "
     "credentials and their rights (a Storage Blob Data role); {creds}"),
    ("bad digest", lambda f: f.code in DIGEST, ChecksumMismatch,
     "{lead}Azure Storage rejected the bytes: they do not match their MD5 ({code}): run "
     "again; if it persists, something between you and {where} alters the data (a proxy?)"),
    ("throttled", lambda f: f.status in (429, 503) or f.code in THROTTLED, RemoteError,
     "{lead}Azure Storage is throttling or unavailable ({code}) even after retries: run "
     "again later, or with fewer --jobs"),
    ("unreachable", lambda f: not f.status and f.code in UNREACHABLE, RemoteUnreachable,
     "{lead}cannot reach {where} ({code}): is the server running? check "
     "storage.endpoint_url in {cfg} and AZURE_STORAGE_CONNECTION_STRING"),
    *last_rules("Azure Storage", where_code=True),
)


def classify(status, code: str, *, conditional: bool = False, write: bool = False,
             what: str = "", container: str = "", where: str = "",
             message: str = "") -> S3SyncMirrorError:
    """The exception an Azure failure means (the first row of ``TABLE`` that applies).
    ``status``: the HTTP status (0 or None: no answer); ``code``: the service's error code,
    or the exception's class name; ``conditional``: the request carried a condition;
    ``write``: it was a put, commit or delete; ``what``: the blob, for the message;
    ``container``, ``where``: the container and the account's endpoint; ``message``: the
    service's own words."""
    status = int(status or 0)
    failure = Failure(status, str(code or status or ""), bool(conditional), bool(write))
    _row, _applies, cls, text = next(row for row in TABLE if row[1](failure))
    # an unreachable server is about the server, not a file (least of all a state file)
    lead = f"{what}: " if what and cls is not RemoteUnreachable else ""
    return cls(text.format(lead=lead, code=failure.code,
                           status=status, where=where or "Azure Storage",
                           container=container, message=message or failure.code,
                           cfg=CONFIG_NAME, creds=CRED_HELP))


def _code(exc) -> str:
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)  # StorageErrorCode is an enum
    return str(code or type(exc).__name__)


def _words(exc) -> str:
    """The first line of the exception's text: the service's message, never a header."""
    text = str(getattr(exc, "message", None) or getattr(exc, "reason", None) or exc).strip()
    return text.splitlines()[0] if text else ""


@contextmanager
def azure_errors(what: str, *, conditional: bool = False, write: bool = False,
                 container: str = "", where: str = ""):
    """Raise what ``classify`` makes of any azure.core exception of the body."""
    from azure.core.exceptions import AzureError, HttpResponseError

    try:
        yield
    except HttpResponseError as exc:
        raise classify(exc.status_code, _code(exc), conditional=conditional, write=write,
                       what=what, container=container, where=where,
                       message=_words(exc)) from None
    except AzureError as exc:
        raise classify(0, type(exc).__name__, conditional=conditional, write=write,
                       what=what, container=container, where=where,
                       message=_words(exc)) from None
