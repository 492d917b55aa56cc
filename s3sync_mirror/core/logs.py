"""The tool's logger ("s3sync_mirror"), with `logging` imported at its first use.

`logging` brings traceback, string and weakref with it: about 5 ms of every start
(measured), and a sync with nothing to report never logs. ``log`` stands in for the
logger: any attribute of it imports `logging` and answers from the real logger. The
command line's level and handler (``configure``) are put on the logger then, or at once
if `logging` is already loaded."""
from __future__ import annotations

import sys

NAME = "s3sync_mirror"
_wanted = None  # the command line's (verbose, quiet), until the logger is made


def _apply(logger, verbose: int, quiet: bool) -> None:
    import logging

    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else logging.WARNING
    if quiet:
        level = logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def logger():
    """The real logger, with the command line's settings on it."""
    global _wanted
    import logging

    real = logging.getLogger(NAME)
    if _wanted is not None:
        _apply(real, *_wanted)
        _wanted = None
    return real


def configure(verbose: int, quiet: bool) -> None:
    """The command line's -v/-q: on the logger now if `logging` is loaded, else at its
    first use."""
    global _wanted
    _wanted = (verbose, quiet)
    if "logging" in sys.modules:
        logger()


def shutdown() -> None:
    """Flush and close the handlers, if anything made them."""
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()


class _Log:
    __slots__ = ()

    def __getattr__(self, name: str):
        return getattr(logger(), name)


log = _Log()
