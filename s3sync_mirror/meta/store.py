"""The team store (docs/metadata.md#the-team-store): a small typed key-value store in one
JSON object on the remote (``layout.STORE_KEY``). Every read is one GET (no sync needed);
every write a compare-and-swap of the whole object, re-read and applied again on a lost
race, so members setting different keys at once lose none of them."""
from __future__ import annotations

from collections.abc import MutableMapping
from contextlib import ExitStack
from datetime import datetime, timezone
from typing import Any, Iterator

from ..state import swapdoc as casdoc
from ..core import layout, typed
from ..core.clock import now_iso

FORMAT = 1


def entries(doc) -> dict:
    """{key: {"type", "value", "by", "at"}} of a store document (none when absent)."""
    values = (doc or {}).get("values") or {}
    return values if isinstance(values, dict) else {}


def put(remote, key: str, value: Any, user: str) -> dict:
    """Set ``key`` (None: remove it) with compare-and-swap; returns the entries now."""
    typed.check_key(key)
    new = None if value is None else {**typed.encode(value), "by": user, "at": now_iso()}

    def change(doc):
        have = entries(doc)
        if new is None and key not in have:
            return None, False
        values = {k: v for k, v in have.items() if k != key}
        if new is not None:
            values[key] = new
        return {"format": FORMAT, "values": values}, True

    _, doc, _ = casdoc.update(remote, layout.STORE_KEY, FORMAT, change)
    return entries(doc)


def read(remote) -> dict:
    doc, _ = casdoc.read(remote, layout.STORE_KEY, FORMAT)
    return entries(doc)


class TeamStore(MutableMapping):
    """``s3sync_mirror.store(path)``: the team store as a mutable mapping of typed values
    (int, float, bool, str, datetime in UTC). Reads and writes go to the remote at once.
    Use it in a ``with`` block, or call ``close()``, to release the connection."""

    def __init__(self, settings):
        self._settings = settings
        self._stack = None
        self._remote = None

    @property
    def remote(self):
        if self._remote is None:
            from ..platforms import connect

            self._stack = ExitStack()
            self._remote = self._stack.enter_context(connect(self._settings, jobs=2))
        return self._remote

    def entries(self) -> dict:
        """{key: {"type", "value", "by", "at"}}: each value with who set it and when."""
        return read(self.remote)

    def __getitem__(self, key: str) -> Any:
        found = self.entries().get(key)
        if found is None:
            raise KeyError(key)
        return typed.decode(found)

    def __setitem__(self, key: str, value: Any) -> None:
        if value is None:
            raise TypeError("the store keeps no None: `del store[key]` removes a key")
        typed.type_of(value)
        put(self.remote, key, value, self._settings.user)

    def __delitem__(self, key: str) -> None:
        if key not in self.entries():
            raise KeyError(key)
        put(self.remote, key, None, self._settings.user)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.entries()))

    def __len__(self) -> int:
        return len(self.entries())

    def touch(self, key: str) -> datetime:
        """Set ``key`` to the time now (UTC); returns it."""
        now = datetime.now(timezone.utc).replace(microsecond=0)
        self[key] = now
        return now

    def as_dict(self) -> dict:
        return {k: typed.decode(e) for k, e in sorted(self.entries().items())}

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack, self._remote = None, None

    def __enter__(self) -> "TeamStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TeamStore of {self._settings.data_dir}>"
