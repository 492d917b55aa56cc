"""``log --stat``: what each version changed against the version before it (rows for a
table, lines for text), by the diff engine; bytes read once per content, SHA-256 checked."""
from __future__ import annotations

from ..compare.files import compare
from ..compare.tables import key_for
from ..core.errors import S3SyncMirrorError
from . import restore as restoring


def of(s, every: list, shown: list, patterns=None) -> dict:
    """{(path, version): FileDiff} for the versions ``shown`` (deletions have none)."""
    by_path: dict = {}
    for v in every:
        by_path.setdefault(v.path, []).append(v)
    cache: dict = {}

    def data(v):
        if v.checksum not in cache:
            cache[v.checksum] = restoring.read(s, v)
        return cache[v.checksum]

    out = {}
    for v in shown:
        if v.event == "deleted":
            continue
        older = next((w for w in sorted(by_path[v.path], key=lambda w: w.version)
                      if w.version > v.version), None)
        prev = older if older is not None and older.event != "deleted" else None
        try:
            out[(v.path, v.version)] = compare(
                v.path, data(prev) if prev is not None else None, data(v),
                key=key_for(v.path, patterns))
        except S3SyncMirrorError as exc:  # a version no longer readable: say so, go on
            out[(v.path, v.version)] = str(exc)
    return out
