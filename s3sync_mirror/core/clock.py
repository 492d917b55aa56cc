"""The one time-format helper: ISO 8601 UTC for state rows, the compact stamp that names a
run's archive and trash folders, and the conversions between them and nanoseconds.

``now_ns`` is the time every version time, run name, tag, mark and prune cutoff is taken
from. Tests move it forward without sleeping: ``S3SYNC_MIRROR_TEST_CLOCK_OFFSET`` (whole
seconds, a test-only name) is added to it. Nothing else (locks, quick-check limits,
timeouts) reads this clock."""
from __future__ import annotations

import os
import time
from typing import Optional

TEST_CLOCK_OFFSET = "S3SYNC_MIRROR_TEST_CLOCK_OFFSET"

ISO = "%Y-%m-%dT%H:%M:%SZ"
STAMP = "%Y%m%dT%H%M%SZ"


def now_ns() -> int:
    """Nanoseconds since the epoch, now, plus the test offset when one is set (an offset
    that is not a whole number of seconds is ignored)."""
    offset = os.environ.get(TEST_CLOCK_OFFSET, "")
    try:
        shift = int(offset) * 1_000_000_000 if offset else 0
    except ValueError:
        shift = 0
    return time.time_ns() + shift


def iso_from_ns(ns: int) -> str:
    """``2026-11-21T14:03:05Z`` for a time in nanoseconds since the epoch (whole seconds,
    rounded down; times before 1970 included)."""
    return time.strftime(ISO, time.gmtime(ns // 1_000_000_000))


def ns_from_iso(text: str) -> Optional[int]:
    """Nanoseconds since the epoch of an ISO 8601 UTC time, or None when it is not one."""
    import calendar  # here: it brings datetime, off the start of a sync that reads no time

    try:
        return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) * 1_000_000_000
    except (ValueError, TypeError):
        return None


def now_iso() -> str:
    return iso_from_ns(now_ns())


def run_stamp() -> str:
    """``20261121T140305Z``: when a run started, in the names of its folders."""
    return time.strftime(STAMP, time.gmtime(now_ns() // 1_000_000_000))


def parse_when(text: str, end_of_day: bool = False) -> str:
    """A time the user typed, as ISO 8601 UTC: ``2026-11-20``, ``2026-11-20T14:30``,
    ``2026-11-20T14:30:05Z``, or an age: ``90m``, ``12h``, ``7d``, ``2w`` ago. A date alone
    is its first second, or with ``end_of_day`` its last (``--at 2026-11-20``: as it was
    that evening)."""
    import re

    from .errors import UsageError

    t = str(text).strip()
    age = re.fullmatch(r"(\d+)\s*([mhdw])", t)
    if age:
        seconds = int(age.group(1)) * {"m": 60, "h": 3600, "d": 86400, "w": 604800}[age.group(2)]
        return iso_from_ns(now_ns() - seconds * 1_000_000_000)
    for fmt, width in (("%Y-%m-%dT%H:%M:%S", 19), ("%Y-%m-%dT%H:%M", 16), ("%Y-%m-%d", 10)):
        try:
            parsed = time.strptime(t.rstrip("Z").replace(" ", "T")[:width], fmt)
        except ValueError:
            continue
        if len(t.rstrip("Z")) == width:
            if width == 10 and end_of_day:
                return time.strftime("%Y-%m-%dT23:59:59Z", parsed)
            return time.strftime(ISO, parsed)
    raise UsageError(f"{text!r} is not a time: write 2026-11-20, 2026-11-20T14:30 (UTC) or an "
                     f"age such as 90m, 12h, 7d")


_RUN_NAME = None


def parse_run_name(name: str) -> Optional[tuple]:
    """A run's name, ``<stamp>-<user>-<hex>`` (its archive folder or history segment), as
    (the ISO time its stamp says, the user); None when ``name`` is not one."""
    global _RUN_NAME
    if _RUN_NAME is None:
        import re

        _RUN_NAME = re.compile(r"(\d{8}T\d{6}Z)-(.+)-[0-9a-f]+")
    found = _RUN_NAME.fullmatch(name)
    if not found:
        return None
    s = found.group(1)
    return f"{s[0:4]}-{s[4:6]}-{s[6:8]}T{s[9:11]}:{s[11:13]}:{s[13:15]}Z", found.group(2)
