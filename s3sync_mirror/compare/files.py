"""Compare two versions of one file given as bytes (None: the file is absent on that side):
a table when its name says so and both sides parse, else text, else binary."""
from __future__ import annotations

import difflib
from typing import Optional

from ..core.textbytes import as_text
from . import tables
from .result import FileDiff
from ..core.hashing import sha256_hex


def _status(old, new) -> str:
    if old is None:
        return "added"
    if new is None:
        return "removed"
    return "same" if old == new else "changed"


def compare(path: str, old: Optional[bytes], new: Optional[bytes], *, key=(),
            old_label: str = "", new_label: str = "") -> FileDiff:
    """What changed in ``path`` from ``old`` to ``new``."""
    d = FileDiff(path, "binary", _status(old, new), old_label if old is not None else "",
                 new_label if new is not None else "")
    for side, data in (("old", old), ("new", new)):
        if data is not None:
            setattr(d, f"{side}_size", len(data))
            setattr(d, f"{side}_checksum", sha256_hex(data))
    fmt = tables.table_format(path)
    if fmt is not None:
        try:
            return _table(d, fmt, old, new, tuple(key))
        except tables.Unreadable as exc:
            d.notes.append(f"not read as a {fmt} table ({exc}): compared as text")
    texts = [None if data is None else as_text(data) for data in (old, new)]
    if any(t is None and data is not None for t, data in zip(texts, (old, new))):
        return d  # binary: sizes and checksums say it
    return _text(d, texts[0], texts[1])


def _table(d: FileDiff, fmt: str, old, new, key) -> FileDiff:
    import pandas as pd

    frames = [tables.read(data, fmt, key) if data is not None else None
              for data in (old, new)]
    empty = next((f.iloc[0:0] for f in frames if f is not None), pd.DataFrame())
    a = frames[0] if frames[0] is not None else empty
    b = frames[1] if frames[1] is not None else empty
    if frames[0] is None or frames[1] is None:
        key = ()  # a whole file added or removed: every row, no key needed
    d.kind = "table"
    for name, value in tables.compare(d.path, a, b, key).items():
        setattr(d, name, value)
    return d


def _text(d: FileDiff, old: Optional[str], new: Optional[str]) -> FileDiff:
    d.kind = "text"
    lines = list(difflib.unified_diff(
        (old or "").splitlines(), (new or "").splitlines(),
        fromfile=f"a/{d.path}" if old is not None else "/dev/null",
        tofile=f"b/{d.path}" if new is not None else "/dev/null", lineterm=""))
    d.lines_added = sum(1 for ln in lines[2:] if ln.startswith("+"))
    d.lines_removed = sum(1 for ln in lines[2:] if ln.startswith("-"))
    d.text = "\n".join(lines) + ("\n" if lines else "")
    return d
