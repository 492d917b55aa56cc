"""Relative data paths: the one place that says which names are safe and how they map.

A path is POSIX, relative to the data folder, NFC-normalised. Paths read from a remote are
hostile until proven otherwise (docs/promises.md#bad-input-is-refused): nothing absolute, no ``..``, no backslash, no
NUL, nothing inside ``.S3/``.
"""
from __future__ import annotations

import re
from fnmatch import fnmatchcase
import unicodedata

from .errors import UnsafePathError

from .layout import STATE_DIR  # noqa: E402  (re-exported: scan uses it)

# One regex so that checking 100,000 rows stays cheap; each branch names a refusal below.
_UNSAFE = re.compile(
    r"""(
        ^$                    # empty
      | ^/                    # absolute
      | ^[A-Za-z]:            # a Windows drive
      | \\                    # backslash
      | \x00                  # NUL
      | [\x01-\x1f\x7f]       # other control characters
      | (^|/)\.{1,2}(/|$)     # "." or ".." component
      | //                    # empty component
      | /$                    # a folder, not a file
      | ^\.[sS]3(/|$)         # the state folder, in any case
    )""",
    re.VERBOSE,
)

_REASONS = (
    (re.compile(r"^$"), "is empty"),
    (re.compile(r"\x00"), "holds a NUL character"),
    (re.compile(r"^/|^[A-Za-z]:"), "is absolute"),
    (re.compile(r"\\"), "holds a backslash"),
    (re.compile(r"(^|/)\.\.(/|$)"), "holds '..'"),
    (re.compile(r"^\.[sS]3(/|$)"), "points into .S3/"),
    (re.compile(r"[\x01-\x1f\x7f]"), "holds a control character"),
)


def nfc(path: str) -> str:
    return unicodedata.normalize("NFC", path)


def unsafe_reason(path: str) -> str | None:
    """Why ``path`` may not name a data file, or None when it is safe."""
    if not isinstance(path, str):
        return "is not text"
    if not _UNSAFE.search(path):
        return None
    for rx, why in _REASONS:
        if rx.search(path):
            return why
    return "is not a plain relative file path"


def check(path: str, where: str = "") -> str:
    """Return ``path`` NFC-normalised, or raise UnsafePathError naming it and ``where``."""
    why = unsafe_reason(path)
    if why is None:
        path = nfc(path)
        why = unsafe_reason(path)
    if why is not None:
        place = f"{where}: " if where else ""
        raise UnsafePathError(f"{place}refused path {path!r}: it {why}")
    return path


def in_scope(path: str, scope) -> bool:
    """True when ``path`` is one of the ``scope`` paths or lies under one of them. A scope
    component may hold shell wildcards (``etl/jobs/*/lift``: every run's folder)."""
    if not scope:
        return True
    for s in scope:
        if s == "" or path == s or path.startswith(s + "/"):
            return True
        if "*" in s or "?" in s:
            want = s.split("/")
            have = path.split("/")
            if len(have) >= len(want) and all(
                    fnmatchcase(h, w) for h, w in zip(have, want)):
                return True
    return False


def join_key(prefix: str, path: str) -> str:
    return f"{prefix}/{path}" if prefix else path


def _conflict_parts(path: str, user: str) -> tuple:
    """(folder and stem, ``.conflict-<user>-``, dot and extension) of ``path``'s copies."""
    folder, _, base = path.rpartition("/")
    stem, dot, ext = base.rpartition(".")
    if not stem:  # no extension, or a dotfile such as ".env"
        stem, dot, ext = base, "", ""
    who = re.sub(r"[^\w.-]+", "_", user).strip("_") or "user"
    return (f"{folder}/{stem}" if folder else stem), f".conflict-{who}-", dot + ext


def conflict_name(path: str, user: str, stamp: str, taken=frozenset(), start: int = 0) -> str:
    """``dir/name.conflict-<user>-<stamp>.ext`` (docs/decision-table.md#keep-both), unique among
    ``taken``; from ``start`` on, a counter (``-1``, ``-2``...) follows the stamp."""
    head, tag, tail = _conflict_parts(path, user)
    n = start
    while True:
        candidate = f"{head}{tag}{stamp}" + (f"-{n}" if n else "") + tail
        if candidate not in taken:
            return candidate
        n += 1


def conflict_copy_of(name: str, path: str, user: str) -> bool:
    """Whether ``name`` is one that :func:`conflict_name` gives ``user``'s copies of
    ``path`` (any stamp, any counter)."""
    head, tag, tail = _conflict_parts(path, user)
    stamp = name[len(head) + len(tag):len(name) - len(tail)]
    return name.startswith(head + tag) and name.endswith(tail) and bool(stamp) \
        and "/" not in stamp and "." not in stamp
