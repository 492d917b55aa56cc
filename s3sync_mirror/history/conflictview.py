"""A table's side of the conflict prompt's [d]iff: what each side changed against the
baseline (its bytes from the remote's archive or this clone's trash), by the diff engine."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..compare.files import compare
from ..compare.tables import key_for, table_format
from ..core import layout
from ..core.errors import RemoteNotFound
from ..ui import changes
from . import sources
from ..core.hashing import sha256_hex

ROWS = 10  # rows and cells shown per side
MAX_BYTES = 256 << 20  # larger tables: no table view (the text rule still applies)


class TableView:
    """``handles(path)``, then ``lines(action, local, remote)`` for diffview."""

    MAX_BYTES = MAX_BYTES

    def __init__(self, s, patterns=None):
        self.s = s
        self.patterns = patterns or {}

    def handles(self, path: str) -> bool:
        return table_format(path) is not None

    def _baseline(self, checksum: str) -> Optional[bytes]:
        try:
            data, _ = self.s.remote.get_bytes(layout.content_key(checksum))
        except (RemoteNotFound, OSError):
            data = None
        if data is None or sha256_hex(data) != checksum:
            data = None
            for r in sources.trash_rows(self.s.layout):
                if r.checksum == checksum:
                    data = Path(self.s.layout.data_dir, *r.kept_at.split("/")).read_bytes()
                    break
        return data if data is not None and sha256_hex(data) == checksum \
            else None

    def lines(self, action, local: Optional[bytes], remote: Optional[bytes]) -> list[str]:
        key = key_for(action.path, self.patterns)
        base = self._baseline(action.base.checksum) if action.base is not None else None
        if base is None:
            d = compare(action.path, remote, local, key=key, old_label="remote",
                        new_label="local")
            return ["no copy of the baseline is kept: remote -> local"] + \
                changes.lines(d, ROWS)
        out = []
        for who, data in (("local", local), ("remote", remote)):
            d = compare(action.path, base, data, key=key, old_label="baseline",
                        new_label=who)
            out += [f"{who} changes against the baseline:"] + \
                [f"  {ln}" for ln in changes.lines(d, ROWS)[2:]]
        return out
