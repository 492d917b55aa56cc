"""Typed values for metadata, marks and the team store (docs/metadata.md#typed-values):
int, float, bool, time (a UTC datetime) and str; how a typed word becomes one, how each is
kept in JSON, and how a ``--where`` filter compares them, as their type. Pure: no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from .errors import UsageError

from .valuenames import TYPES  # noqa: E402
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+\.?\d*[eE][-+]?\d+)")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?")
_TRUE, _FALSE = ("true", "yes", "on"), ("false", "no", "off")
_OPS = ("!=", ">=", "<=", "=", ">", "<")  # longest first: `a>=1` is `>=`, not `>`
KEY = re.compile(r"[^\x00-\x1f\x7f=<>!]{1,200}")


def type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, datetime):
        return "time"
    if isinstance(value, str):
        return "str"
    raise UsageError(f"{value!r}: a value is an int, float, bool, datetime or str, "
                     f"not {type(value).__name__}")


def parse_time(text: str) -> Optional[datetime]:
    """An ISO 8601 time (a date alone is its midnight), as an aware UTC datetime."""
    t = text.strip()
    if not _TIME.fullmatch(t):
        return None
    try:
        dt = datetime.fromisoformat(t.replace(" ", "T", 1))
    except ValueError:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def infer(text: str) -> Any:
    """The value a typed word stands for: ``2024`` an int, ``0.5`` a float, ``true`` a
    bool, ``2026-11-21T14:03:05Z`` a time; anything else the text itself."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return parse_time(text) or text


def convert(text: str, kind: str) -> Any:
    """``text`` as a value of type ``kind``; UsageError when it is not one."""
    value = _coerce(text, kind)
    if value is None:
        raise UsageError(f"{text!r} is not {'an' if kind == 'int' else 'a'} {kind}"
                         + (" (write 2026-11-21 or 2026-11-21T14:03:05Z, UTC)"
                            if kind == "time" else ""))
    return value


def _coerce(text: str, kind: str) -> Any:
    t = text.strip()
    if kind == "str":
        return text
    if kind == "int":
        return int(t) if _INT.fullmatch(t) else None
    if kind == "float":
        return float(t) if _INT.fullmatch(t) or _FLOAT.fullmatch(t) else None
    if kind == "bool":
        return True if t.lower() in _TRUE + ("1",) else \
            False if t.lower() in _FALSE + ("0",) else None
    if kind == "time":
        from .clock import parse_when

        found = parse_time(t)
        if found is None and re.fullmatch(r"\d+\s*[mhdw]", t):  # an age: 7d ago
            found = parse_time(parse_when(t))
        return found
    raise UsageError(f"unknown type {kind!r}: one of {', '.join(TYPES)}")


def iso(dt: datetime) -> str:
    """``2026-11-21T14:03:05Z`` (fractional seconds kept when there are any)."""
    dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    text = dt.replace(tzinfo=None).isoformat()
    return text + "Z"


def encode(value: Any) -> dict:
    """The JSON form kept in the files: ``{"type": ..., "value": ...}``."""
    kind = type_of(value)
    return {"type": kind, "value": iso(value) if kind == "time" else value}


def decode(entry: dict) -> Any:
    kind, value = entry.get("type"), entry.get("value")
    if kind == "time":
        return parse_time(str(value))
    if kind == "float":
        return float(value)
    return value


def same(a: Optional[dict], b: Optional[dict]) -> bool:
    """Whether two kept entries hold the same typed value (who set it does not count)."""
    if a is None or b is None:
        return a is b
    return a.get("type") == b.get("type") and decode(a) == decode(b)


def shown(value: Any) -> str:
    """A value as the user reads and types it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    return "" if value is None else str(value)


def check_key(key: str) -> str:
    if not isinstance(key, str) or not KEY.fullmatch(key) or key != key.strip():
        raise UsageError(f"{key!r} is not a usable name: 1 to 200 characters, no "
                         f"surrounding spaces, no control character, '=', '<', '>' or '!'")
    return key


def assignment(text: str, as_text: bool = False) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (key, typed value); ``as_text`` keeps the value a str."""
    key, eq, value = text.partition("=")
    if not eq:
        raise UsageError(f"{text!r}: write KEY=VALUE (e.g. year=2024)")
    return check_key(key.strip()), value if as_text else infer(value)


@dataclass(frozen=True)
class Filter:
    """One ``--where`` condition. ``op`` is one of =, !=, <, <=, >, >=; ``text`` the
    typed word, compared as the kept value's type; or, from the API, ``value`` (a
    Python value, None for "not set") or ``test`` (a predicate on the value)."""

    key: str
    op: str = "="
    text: Optional[str] = None
    value: Any = None
    test: Optional[Callable[[Any], bool]] = None

    @classmethod
    def parse(cls, text: str) -> "Filter":
        """``year=2024``, ``year>=2023``, ``status!=done``, ``imported=`` (not set)."""
        at = min(((text.find(op), -len(op), op) for op in _OPS if op in text),
                 default=None)
        if at is None or at[0] <= 0:
            raise UsageError(f"{text!r}: write KEY=VALUE, or KEY!=, <, <=, >, >= VALUE "
                             f"(KEY= matches files without KEY)")
        i, _, op = at
        return cls(check_key(text[:i].strip()), op, text[i + len(op):])

    @classmethod
    def of(cls, key: str, wanted: Any) -> "Filter":
        """A keyword of the API: a value (None: not set) or a predicate."""
        if callable(wanted) and not isinstance(wanted, type):
            return cls(key, test=wanted)
        if wanted is not None:
            type_of(wanted)
        return cls(key, value=wanted)

    def matches(self, value: Any) -> bool:
        if self.test is not None:
            return value is not None and bool(self.test(value))
        if self.text is None:  # from the API: equality, in the kept value's type
            return value is None if self.value is None else \
                value is not None and _compare(value, self.value, "=")
        if self.text == "":
            return (value is None) == (self.op == "=")
        if value is None:
            return self.op == "!="
        wanted = _coerce(self.text, type_of(value))
        if wanted is None:
            return self.op == "!="
        return _compare(value, wanted, self.op)


def _compare(have: Any, wanted: Any, op: str) -> bool:
    if type_of(have) != type_of(wanted):
        if isinstance(wanted, str):
            wanted = _coerce(wanted, type_of(have))
        elif {type_of(have), type_of(wanted)} <= {"int", "float"}:
            pass  # numbers compare as numbers
        else:
            wanted = None
        if wanted is None:
            return op == "!="
    try:
        return {"=": have == wanted, "!=": have != wanted, "<": have < wanted,
                "<=": have <= wanted, ">": have > wanted, ">=": have >= wanted}[op]
    except TypeError:
        return False


def filters(texts=(), keywords: Optional[dict] = None) -> list[Filter]:
    """The filters of ``--where`` words and of API keywords."""
    out = [Filter.parse(t) for t in texts or ()]
    out += [Filter.of(k, v) for k, v in (keywords or {}).items()]
    return out


def select(row: dict, conditions) -> bool:
    return all(f.matches(row.get(f.key)) for f in conditions)
