"""Commit, the pure part: from what completed, the new remote state and the new baseline.

The remote merge starts from the remote state as it is *now* (which may hold other
members' commits) and applies only this run's completed changes whose path nobody else
changed since this run read it; the others are rejected and left for the next run.
"""
from __future__ import annotations

from typing import Mapping, Optional

from ..core import model as m
from ..core.model import FileState

RACY_NS = 2_000_000_000  # mtimes this close to "now" may hide a same-tick edit: rehash


def _same(x: Optional[FileState], y: Optional[FileState]) -> bool:
    if x is None or y is None:
        return x is y
    return x.checksum == y.checksum and x.etag == y.etag


def remote_changes(outcome) -> list:
    """[(path, new remote FileState or None for deleted)] this outcome made."""
    if outcome.status != m.DONE:
        return []
    a = outcome.action
    if a.kind == m.UPLOAD:
        return [(a.path, outcome.remote_state)]
    if a.kind == m.DELETE_REMOTE:
        return [(a.path, None)]
    if a.kind == m.KEEP_BOTH:
        return [(p, rs) for p, _ls, rs in outcome.extra]
    if a.kind == m.MOVE_REMOTE:
        return [(a.path, outcome.remote_state), (a.moved_from, None)]
    return []


def merge_remote(current: Mapping[str, FileState], read: Mapping[str, FileState],
                 outcomes, repairs: Optional[Mapping] = None) -> tuple[dict, set]:
    """(new remote state, paths of actions rejected because their path changed remotely
    since ``read``). ``repairs``: {path: FileState or None} that the objects themselves
    showed this run, applied where nobody changed the path since ``read``."""
    new = dict(current)
    rejected = set()
    for p, st in (repairs or {}).items():
        if _same(current.get(p), read.get(p)):
            if st is None:
                new.pop(p, None)
            else:
                new[p] = st
    for o in outcomes:
        changes = remote_changes(o)
        if not changes:
            continue
        if all(_same(current.get(p), read.get(p)) or _same(current.get(p), st)
               for p, st in changes):
            for p, st in changes:
                if st is None:
                    new.pop(p, None)
                else:
                    new[p] = st
        else:
            rejected.add(o.action.path)
    return new, rejected


def changes_remote(outcomes) -> bool:
    return any(remote_changes(o) for o in outcomes)


def new_baseline(base: Mapping[str, FileState], local: Mapping[str, FileState], records,
                 outcomes, rejected: set, now_ns: int, remote_committed: bool = True) -> dict:
    """The baseline after this run: what is now the same on both sides.

    ``remote_committed`` False means the remote state could not be written: then nothing
    that changed the remote may enter the baseline (the next run would read its absence
    from the remote state as a remote deletion)."""
    out = dict(base)
    touched = set()
    for r in records:
        touched.add(r.path)
        if r.kind == m.RECORD:
            out[r.path] = r.remote._replace(mtime_ns=r.local.mtime_ns, node=r.local.node)
        else:
            out.pop(r.path, None)
    for o in outcomes:
        a = o.action
        if o.status != m.DONE or a.path in rejected:
            continue
        if not remote_committed and remote_changes(o):
            continue
        touched.add(a.path)
        if a.kind in (m.UPLOAD, m.DOWNLOAD, m.KEEP_BOTH):
            out[a.path] = o.local_state
            for p, ls, _rs in o.extra:
                out[p] = ls
                touched.add(p)
        elif a.kind in (m.DELETE_REMOTE, m.DELETE_LOCAL):
            out.pop(a.path, None)
        elif a.kind in (m.MOVE_REMOTE, m.MOVE_LOCAL):
            out[a.path] = o.local_state
            out.pop(a.moved_from, None)
            touched.add(a.moved_from)
    limit = now_ns - RACY_NS
    for p, b in out.items():
        mt, node = b.mtime_ns, b.node
        if p not in touched:
            loc = local.get(p)
            if loc is not None and loc.checksum == b.checksum:
                mt, node = loc.mtime_ns, loc.node
        if mt > limit:
            mt = -1
        if mt != b.mtime_ns or node != b.node:
            out[p] = b._replace(mtime_ns=mt, node=node)
    return out
