"""The one time-format helper: ISO 8601 UTC for state rows, the compact stamp that names a
run's archive and trash folders, and the conversions between them and nanoseconds."""
from __future__ import annotations

import calendar
import time
from typing import Optional

ISO = "%Y-%m-%dT%H:%M:%SZ"
STAMP = "%Y%m%dT%H%M%SZ"


def iso_from_ns(ns: int) -> str:
    """``2026-11-21T14:03:05Z`` for a time in nanoseconds since the epoch (whole seconds,
    rounded down; times before 1970 included)."""
    return time.strftime(ISO, time.gmtime(ns // 1_000_000_000))


def ns_from_iso(text: str) -> Optional[int]:
    """Nanoseconds since the epoch of an ISO 8601 UTC time, or None when it is not one."""
    try:
        return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) * 1_000_000_000
    except (ValueError, TypeError):
        return None


def now_iso() -> str:
    return time.strftime(ISO, time.gmtime())


def run_stamp() -> str:
    """``20261121T140305Z``: when a run started, in the names of its folders."""
    return time.strftime(STAMP, time.gmtime())
