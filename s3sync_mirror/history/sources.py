"""Read everything ``log`` and ``restore`` need: the history index (indexing the previous
archive layouts, ``.S3/deleted/<run>/<path>`` and S3Synchrony's ``.S3/deleted/<path>``,
once on first use), the remote state's live
versions, and this clone's trash; ``versions.assemble`` merges them."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from ..pipeline import evidence
from ..state import historyindex as history, remotestate as remote_state
from ..core import layout
from ..core.clock import iso_from_ns, ns_from_iso, parse_run_name
from ..core.errors import PreconditionFailed, RemoteNotFound
from ..core.hashing import sha256_file
from ..core.paths import unsafe_reason
from ..state.historyindex import Row
from ..state.csvfiles import write_atomic
from .versions import Version, assemble

def _before(iso: str) -> str:
    """The second before ``iso``: a replaced version was made before the run replaced it."""
    ns = ns_from_iso(iso)
    return iso if ns is None else iso_from_ns(ns - 1_000_000_000)


def _legacy_rows(remote, objects, deletions: dict, tmp_dir) -> list[Row]:
    rows = []
    for o in objects:
        rel = o.key[len(layout.ARCHIVE_ROOT) + 1:]
        run, _, path = rel.partition("/")
        found = parse_run_name(run)
        d = deletions.get(o.key)
        if found and path:
            # The version's own time is not known: it was made before the run replaced it.
            when = _before(found[0])
        elif unsafe_reason(rel) is None:  # S3Synchrony 0.4's archive: .S3/deleted/<path>
            path, when = rel, str(d["Time Edited"]) if d is not None else o.modified
        else:
            continue
        digest = o.sha256 or remote.checksum(o.key, tmp_dir)
        rows.append(Row(path, "", when, digest, o.size, "", o.key))
        if d is not None:
            rows.append(Row(path, str(d["Edited By"]), str(d["Time Edited"]), digest, o.size,
                            "deleted", o.key))
    return rows


def index_legacy(remote, indexed: set, tmp_dir=None) -> list[Row]:
    """Index what the previous archive layout holds and the history does not list yet
    (``indexed``: the keys it lists), as a segment of its own (a member still on an older
    release may go on archiving there); returns the rows written."""
    objects = [o for o in remote.list(layout.ARCHIVE_ROOT + "/") if o.key not in indexed]
    if not objects:
        return []
    deletions = {str(r["Where"]): r for r in evidence.deletion_log(remote) if r.get("Where")}
    rows = _legacy_rows(remote, objects, deletions, tmp_dir)
    name = layout.LEGACY_HISTORY if not indexed else \
        layout.history_key(f"legacy-archive-{min(o.key for o in objects).split('/')[2]}")
    try:
        remote.put_bytes(name, history.render(rows), if_none_match=True)
    except PreconditionFailed:
        return []  # a teammate indexed them at the same moment
    return rows


def _trash_sums(lay: layout.Layout) -> dict:
    try:
        return json.loads((lay.cache / "trash_sums.json").read_text())
    except (OSError, ValueError):
        return {}


def trash_rows(lay: layout.Layout) -> list[Row]:
    """This clone's trashed versions: ``.S3/trash/<stamp>-<user>-<run>/<path>``; each file
    hashed once (``.S3/cache/trash_sums.json`` remembers it by size and mtime)."""
    rows, known, seen = [], _trash_sums(lay), {}
    root = Path(lay.trash)
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            p = Path(dirpath, name)
            run, _, path = p.relative_to(root).as_posix().partition("/")
            if not path:
                continue
            st, rel = p.stat(), p.relative_to(lay.data_dir).as_posix()
            sig = [st.st_size, st.st_mtime_ns]
            digest = known[rel][2] if known.get(rel, [None])[:2] == sig else sha256_file(p)
            seen[rel] = sig + [digest]
            rows.append(Row(path, "", iso_from_ns(st.st_mtime_ns), digest, st.st_size, "",
                            rel, "trash"))
    if seen != known and Path(lay.cache).is_dir():
        write_atomic(lay.cache / "trash_sums.json", json.dumps(seen).encode())
    return rows


def pruned(remote) -> dict:
    """{archive key: when a prune removed it} (``.S3/pruned.csv``)."""
    try:
        data, _ = remote.get_bytes(layout.PRUNED)
    except RemoteNotFound:
        return {}
    rows = csv.DictReader(io.StringIO(data.decode("utf-8", "replace")))
    return {r["Key"]: r["Pruned At"] for r in rows if r.get("Key")}


def gather(s) -> list[Version]:
    """Every version of every file, for a session ``s`` (reads the remote; writes at most
    the legacy index)."""
    rows = history.read_all(s.remote, jobs=s.jobs)
    rows += index_legacy(s.remote, {r.kept_at for r in rows if r.kept_at},
                         s.layout.tmp if s.layout.tmp.is_dir() else None)
    live = remote_state.fetch(s.remote, s.statedir, save_cache=False, jobs=s.jobs).files
    return assemble(rows, live, trash_rows(s.layout), pruned(s.remote))
