"""Detect, for a few changes among many files: when the last run left everything in sync
and indexed it (state/pathindex.py), the paths to plan are those whose chunk of the walk
no longer has the recorded digest and differ from the index there (pipeline/quickcheck.py),
and those the remote state's log entries after the indexed position name
(state/remotestate.py ``read_delta``). Every other path is as that run left it, on all
three sides: its plan is empty. So the run reads, plans, carries out and records only
those paths, with the same stages and rules as the full path, and the walk stays its only
pass over every file.

Any doubt means the full path (None from :func:`detect`): no index, or one made for
another baseline or remote position; a walk that warned; a sparse selection; a
case-folding disk; paths given; a journal or restored files left to settle; too many
changes; a name that is a file on one side and a folder on another among the changed
paths and the rest. sync.py also takes the full path when the plan holds a conflict or a
problem (the names a kept copy may take, and the wording, need every path).
"""
from __future__ import annotations

from typing import NamedTuple, Optional

from . import evidence
from .detect import Detected, Quick
from .scan import case_insensitive, scan
from .schedule import folders_of
from ..core import model as m
from ..core.paths import nfc
from ..state import pathindex, remotestate as remote_state

MAX_CHUNKS = 64  # chunks of the walk compared path by path (about 4,096 paths each)
MAX_PATHS = 10_000  # paths planned


class Delta(NamedTuple):
    base: dict  # the planned paths' baseline rows
    found: Detected  # their state here and on the remote, with the totals
    paths: frozenset  # the planned paths
    index: pathindex.PathIndex
    quick: Quick  # the walk, its order and fingerprint


def eligible(s, opts, quick: Quick) -> bool:
    """Whether this run may be planned from the index at all (cheap checks first)."""
    if quick.record is None or quick.sorted_walk is None or opts.paths or opts.must_match:
        return False
    if s.selection is not None or s.layout.sparse_before.exists():
        return False
    if s.statedir.restored() or s.statedir.open_journal().load():
        return False
    return not case_insensitive(s.data_dir)


def detect(s, opts, quick: Quick) -> Optional[Delta]:
    """The changed paths and their three sides, or None: take the full path."""
    if not eligible(s, opts, quick):
        return None
    index = pathindex.open_index(s.statedir)
    if index is None:
        return None
    try:
        out = _detect(s, quick, index)
    except BaseException:
        index.close()
        raise
    if out is None:
        index.close()
    return out


def _local_changes(quick: Quick, index) -> Optional[set]:
    """The paths whose walk entry is not the index's (new, changed or gone here)."""
    was, now = quick.record[4], quick.printed
    if len(was.digests) != len(now.digests):
        return None
    changed = [i for i, (a, b) in enumerate(zip(was.digests, now.digests)) if a != b]
    if len(changed) > MAX_CHUNKS:
        return None
    bounds, (entries, cuts) = was.bounds, quick.sorted_walk
    out = set()
    for i in changed:
        rows = index.between(bounds[i - 1] if i > 0 else None,
                             bounds[i] if i < len(bounds) else None)
        for rel, size, mtime_ns, node in entries[cuts[i]:cuts[i + 1]]:
            if not rel.isascii() and nfc(rel) != rel:
                return None  # a name in another Unicode form: the scan's rules need all
            b = rows.pop(rel, None)
            if b is None or b.size != size or b.mtime_ns != mtime_ns or b.node != node:
                out.add(rel)
        out.update(rows)  # in the index, gone from the walk
    return out


def _tangled(index, paths: frozenset) -> bool:
    """Whether a planned path meets a path left out as file against folder."""
    for p in paths:
        if any(f not in paths for f in index.rows(folders_of(p))):
            return True
        if any(q not in paths for q in index.under(p, len(paths) + 1)):
            return True
    return False


def _detect(s, quick: Quick, index) -> Optional[Delta]:
    rec = quick.record
    sig = s.statedir.baseline_signature()
    if tuple(index.sig) != tuple(sig or ()) or tuple(rec[2]) != tuple(index.sig) \
            or index.pos.token != rec[1]:
        return None
    local = _local_changes(quick, index)
    if local is None or len(local) > MAX_PATHS:
        return None
    if quick.remote_etag is not None:  # the quick check found the remote unchanged
        seen, head_etag = s.statedir.seen_head()
        moved = remote_state.Delta({}, index.pos, seen, (seen, head_etag))
        s.statedir.last_pos = index.pos
    else:
        moved = remote_state.read_delta(s.remote, s.statedir, index.pos, save=s.writes)
        if moved is None:
            return None
    paths = frozenset(local | moved.changes.keys())
    if len(paths) > MAX_PATHS or _tangled(index, paths):
        return None
    s.check_prefix()
    rows = index.rows(paths)
    base = {p: b for p, (b, _r) in rows.items()}
    remote = {p: r for p, (_b, r) in rows.items()}
    for p, st in moved.changes.items():
        if st is None:
            remote.pop(p, None)
        else:
            remote[p] = st
    entries = [e for e in quick.walked[0] if e[0] in paths]
    scanned = scan(s.data_dir, base, s.ignore_patterns(), jobs=min(s.jobs, 8),
                   progress_factory=s.out.hash_progress, walked=(entries, [], [], []))
    if scanned.warnings or scanned.unreadable or scanned.clashes or scanned.disk:
        return None
    rs = remote_state.RemoteState(remote, moved.pos, seen=moved.seen,
                                  head_read=moved.head_read, partial=True)
    evidence.verify(s.remote, rs, base, local=scanned.files, jobs=s.jobs,
                    tmp_dir=s.layout.tmp)
    remote_n = index.count + sum(1 for p, st in moved.changes.items() if st is not None
                                 and p not in rows) \
        - sum(1 for p, st in moved.changes.items() if st is None and p in rows)
    found = Detected(scanned, rs, [], totals=(quick.printed.count, remote_n, index.count))
    return Delta(base, found, paths, index, quick)


def plan_is_simple(plan) -> bool:
    """Whether a plan from some paths is the full plan's for them: no conflict, no
    problem (a kept copy's name and the problems' wording need every path)."""
    return not plan.problems and not any(a.kind == m.CONFLICT for a in plan.actions)

