"""The project's exceptions, and the exit code each one means on the command line.

Everything the tool raises on purpose is an ``S3SyncMirrorError``; botocore's errors are
translated into these inside ``platforms/`` and never travel further.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNCONFIRMED = 3


class S3SyncMirrorError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with when this stops a run."""

    exit_code = EXIT_FAILURE


class ConfigError(S3SyncMirrorError):
    """The configuration file (or the options) cannot be used; nothing was touched."""

    exit_code = EXIT_USAGE


class UsageError(S3SyncMirrorError):
    """A bad command-line or API argument."""

    exit_code = EXIT_USAGE


class StateError(S3SyncMirrorError):
    """A state CSV (local or remote) is corrupt or unsafe; it is named, never guessed at."""


class UnsafePathError(StateError):
    """A path that would escape the data folder or reach into ``.S3/``."""


class RemoteError(S3SyncMirrorError):
    """The remote could not be reached or refused an operation."""


class RemoteUnreachable(RemoteError):
    """The remote cannot be reached at all (server down, network gone): later transfers of
    the run are not attempted."""


class RemoteNotFound(RemoteError):
    """The object or bucket does not exist."""


class RemotePermissionError(RemoteError, PermissionError):
    """Access to the remote was denied."""


class PreconditionFailed(RemoteError):
    """A conditional write lost: the object changed since it was read."""


class LockBusy(RemoteError):
    """A folder remote's lock is held by another member for longer than we wait."""


class ChecksumMismatch(S3SyncMirrorError):
    """Bytes read or written do not match the SHA-256 they should have."""


class MaxDeleteExceeded(S3SyncMirrorError):
    """The plan deletes more than ``--max-delete`` percent of a side; needs ``--force``."""

    exit_code = EXIT_UNCONFIRMED

    @classmethod
    def of(cls, side: str, n: int, total: int, pct: float, limit: float) -> "MaxDeleteExceeded":
        from .layout import CONTENT_ROOT, STATE_DIR, TRASH

        kept = f"{STATE_DIR}/{TRASH}/" if side == "local" else f"the remote archive, {CONTENT_ROOT}/"
        return cls(f"this sync would delete {n} of the {total} {side} files ({pct:.0f}%), more "
                   f"than --max-delete {limit:g}%. Nothing was changed. If that is what you "
                   f"want, run again with --force (deleted files are kept in {kept}).")


class SyncFailed(S3SyncMirrorError):
    """Some files failed; the others were done and recorded. ``result`` holds them all."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result
