"""The value one comparison returns (``FileDiff``) and its ``diff --json`` form."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class FileDiff:
    path: str
    kind: str  # table | text | binary
    status: str  # changed | added | removed | same
    old: str = ""  # what the old side is (e.g. "remote v1 1a2b3c4d5e6f"); "" when absent
    new: str = ""
    key: tuple = ()  # the key columns of a keyed table comparison; () compares by row
    rows_added: int = 0
    rows_removed: int = 0
    rows_changed: int = 0
    rows_old: int = 0
    rows_new: int = 0
    columns_added: tuple = ()
    columns_removed: tuple = ()
    columns_retyped: tuple = ()  # ((column, old dtype, new dtype), ...)
    added: Any = None  # DataFrame of the rows added (tables)
    removed: Any = None  # DataFrame of the rows removed
    changed: Any = None  # DataFrame: key, column, old, new (keyed tables)
    text: str = ""  # the unified diff (text)
    lines_added: int = 0
    lines_removed: int = 0
    old_size: Optional[int] = None
    new_size: Optional[int] = None
    old_checksum: str = ""
    new_checksum: str = ""
    notes: list = field(default_factory=list)  # e.g. why a table was compared as text

    @property
    def summary(self) -> dict:
        """The counts of ``diff --json`` (never capped)."""
        return {"path": self.path, "kind": self.kind, "status": self.status,
                "old": self.old, "new": self.new, "rows_added": self.rows_added,
                "rows_removed": self.rows_removed, "rows_changed": self.rows_changed,
                "columns_added": list(self.columns_added),
                "columns_removed": list(self.columns_removed),
                "columns_retyped": [list(c) for c in self.columns_retyped],
                "lines_added": self.lines_added, "lines_removed": self.lines_removed,
                "old_size": self.old_size, "new_size": self.new_size,
                "old_checksum": self.old_checksum, "new_checksum": self.new_checksum}

    def as_json(self, max_rows: int = 1000) -> dict:
        """SPEC's ``diff --json`` entry: lists capped at ``max_rows``, counts never."""
        out = self.summary
        out["key"] = list(self.key)
        out["changes"] = records(self.changed, max_rows)
        out["added"] = records(self.added, max_rows)
        out["removed"] = records(self.removed, max_rows)
        out["text"] = self.text
        out["notes"] = list(self.notes)
        return out


def plain(value):
    """A cell as JSON can hold it: None for a missing value, Python numbers, else text."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, bytes)):
        try:
            value = item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is not None and value.__class__.__name__ in ("NaTType", "NAType"):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def records(frame, limit: int) -> list:
    if frame is None or len(frame) == 0:
        return []
    head = frame.head(limit) if limit >= 0 else frame
    cols = list(head.columns)
    return [{c: plain(v) for c, v in zip(cols, row)}
            for row in head.itertuples(index=False, name=None)]
