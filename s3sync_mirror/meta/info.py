"""``info``: a summary of the remote and of this clone (docs/metadata.md#info): files and
bytes on the remote, the members and their last change (from the history index: one
segment per run that changed the remote, named ``<stamp>-<member>-<run>``, and each
member's own record, meta/members.py, for those who only download), the latest
changes, the archive's size, what this clone holds, the shared metadata and the store."""
from __future__ import annotations


from ..core import layout
from ..core.clock import parse_run_name
from ..state import remotestate as remote_state
from . import members as member_records, store as teamstore
from ..history import sources as timeline, versions

LATEST = 10


def members(run_keys, live: dict, synced=None) -> list[dict]:
    """PURE. [{"name", "last_change", "last_sync", "runs"}], newest first: each member's
    runs that changed the remote (history segment keys), the editors of the live files,
    and ``synced`` ({name: last sync}, the members' own records: those who only download)."""
    out: dict = {}
    for who, when in (synced or {}).items():
        out[who] = {"name": who, "last_change": "", "last_sync": when, "runs": 0}
    for key in run_keys:
        found = parse_run_name(key.rsplit("/", 1)[-1].removesuffix(".csv"))
        if not found:
            continue
        when, who = found
        m = out.setdefault(who, {"name": who, "last_change": "", "last_sync": "",
                                 "runs": 0})
        m["runs"] += 1
        m["last_change"] = max(m["last_change"], when)
    for st in live.values():
        if st.edited_by:
            m = out.setdefault(st.edited_by, {"name": st.edited_by, "last_change": "",
                                              "last_sync": "", "runs": 0})
            m["last_change"] = max(m["last_change"], st.time_edited)
    return sorted(out.values(), key=lambda m: (max(m["last_change"], m["last_sync"]),
                                               m["name"]), reverse=True)


def _size_under(remote, *roots) -> tuple[int, int]:
    objects = [o for root in roots for o in remote.list(root + "/")]
    return len(objects), sum(o.size for o in objects)


def holds_of(s, live=None) -> dict:
    """This clone's selection, what it selects of the remote, and what is in sync here."""
    if live is None:
        live = remote_state.fetch(s.remote, s.statedir, save_cache=False, jobs=s.jobs).files
    sel, base = s.selection, s.statedir.load_baseline(s.owner)
    outside = s.outside()
    held = [p for p in live if outside is None or not outside(p)]
    return {"selection": None if sel is None else [r.shown() for r in sel.rules],
            "selected_files": len(held), "selected_bytes": sum(live[p].size for p in held),
            "synced_files": len(base), "synced_bytes": sum(b.size for b in base.values())}


def gather(s) -> dict:
    """The summary for session ``s`` (read-only; see the module's docstring)."""
    live = remote_state.fetch(s.remote, s.statedir, save_cache=False, jobs=s.jobs).files
    runs = [o.key for o in s.remote.list(layout.HISTORY_ROOT + "/")]
    archived, archive_bytes = _size_under(s.remote, layout.CONTENT_ROOT, layout.ARCHIVE_ROOT)
    latest = versions.select(timeline.gather(s), [], "", "")[:LATEST]  # newest first
    shared, _ = s.metadata
    store = teamstore.read(s.remote)
    return {
        "remote": s.remote.describe(),
        "files": len(live), "bytes": sum(st.size for st in live.values()),
        "members": members(runs, live, member_records.read_all(s.remote)),
        "latest": [v.as_json() for v in latest],
        "archive": {"versions": archived, "bytes": archive_bytes},
        "holds": holds_of(s, live),
        "metadata": {"files": len(shared),
                     "keys": sorted({k for keys in shared.values() for k in keys})},
        "store": sorted(store),
    }
