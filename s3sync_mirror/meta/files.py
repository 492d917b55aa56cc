"""``files``: the remote state and this clone's folder merged, one row per path, with the
sync status each path would have in a sync now (the sync's own detect and plan stages,
run read-only: nothing transferred, nothing written), the shared metadata and this
clone's marks as columns (docs/metadata.md#the-files-table)."""
from __future__ import annotations

from typing import Mapping, Optional

from ..pipeline import detect
from . import marks
from ..core import typed
from ..core import model as m
from ..core.clock import iso_from_ns
from ..core.errors import UsageError
from ..core.paths import in_scope
from ..pipeline.scan import ignore_matcher

from ..core.valuenames import CONFLICT, IN_SYNC, NOT_HELD, STATUSES  # noqa: F401  (re-exported)
STATE_COLUMNS = ["File", "Edited By", "Time Edited", "Checksum", "Size"]
MARK = " (mark)"


def _one(a: m.Action) -> dict:
    """{path: status} an action stands for (a move: the new path and the old one)."""
    k = a.kind
    if a.resolution or k in (m.CONFLICT, m.KEEP_BOTH):
        return {a.path: CONFLICT}
    if k == m.UPLOAD:
        return {a.path: "new here" if a.base is None or a.remote is None else "modified here"}
    if k == m.DOWNLOAD:
        return {a.path: "new on remote" if a.base is None or a.local is None
                else "changed on remote"}
    if k == m.DELETE_REMOTE:
        return {a.path: "deleted here"}
    if k == m.DELETE_LOCAL:
        return {a.path: "deleted on remote"}
    moved = getattr(a, "moved_from", "")
    if k == getattr(m, "MOVE_REMOTE", None):  # renamed here
        return {a.path: "new here", moved: "deleted here"}
    if k == getattr(m, "MOVE_LOCAL", None):  # renamed on the remote
        return {a.path: "new on remote", moved: "deleted on remote"}
    return {a.path: k}


def statuses(plan: m.Plan, local: Mapping, remote: Mapping, not_held=()) -> dict:
    """PURE. {path: status} for every path held here or on the remote (as this clone
    sees them), the paths of the remote outside the sparse selection ``not held``."""
    out = {p: NOT_HELD for p in not_held}
    for p in (*local, *remote):
        out[p] = IN_SYNC
    for a in plan.records:
        if a.kind == m.RECORD:
            out[a.path] = IN_SYNC
    for a in plan.actions:
        out.update({p: st for p, st in _one(a).items() if p})
    for a in plan.problems:
        out[a.path] = CONFLICT
    return out


def state_row(path: str, st: Optional[m.FileState]) -> dict:
    if st is None:
        return {"File": path, "Edited By": "", "Time Edited": "", "Checksum": "", "Size": 0}
    when = st.time_edited or (iso_from_ns(st.mtime_ns) if st.mtime_ns != -1 else "")
    return {"File": path, "Edited By": st.edited_by, "Time Edited": when,
            "Checksum": st.checksum, "Size": st.size}


def check_status(status) -> Optional[str]:
    if status is not None and status not in STATUSES:
        raise UsageError(f"unknown status {status!r}: one of "
                         f"{', '.join(repr(s) for s in STATUSES)}")
    return status


def _sides(s, scope):
    """(plan, visible local, visible remote, {remote path not held: its state})."""
    base = s.load_baseline()
    found = detect.detect(s, base)
    detect.check_scope(scope, found, base)
    plan = detect.plan_for(s, base, found, scope or None)
    hide = detect.hidden(s.ignored(), found.scanned.skipped)
    local = detect.visible(found.scanned.files, hide)
    remote = detect.visible(found.remote.files, hide)
    outside, ignored = s.outside(), ignore_matcher(s.ignore_patterns())
    not_held = {p: st for p, st in found.remote.files.items() if outside is not None
                and outside(p) and not (ignored is not None and ignored(p))}
    return plan, local, remote, not_held


def table(s, scope=(), status=None, conditions=()) -> tuple[list, list]:
    """(columns, rows) of the files table for session ``s``."""
    check_status(status)
    plan, local, remote, not_held = _sides(s, scope)
    shared, _etag = s.metadata
    own = marks.load(s.layout)
    rows, extra = [], {}
    for path, st in sorted(statuses(plan, local, remote, not_held).items()):
        if scope and not in_scope(path, scope) or status and st != status:
            continue
        row = state_row(path, remote.get(path) or local.get(path) or not_held.get(path))
        row["status"] = st
        _add(row, shared.get(path, {}), extra, " (meta)")
        _add(row, own.get(path, {}), extra, MARK)
        if typed.select(row, conditions):
            rows.append(row)
    return STATE_COLUMNS + ["status"] + sorted(extra, key=extra.get), rows


def _add(row: dict, kept: Mapping, columns: dict, suffix: str) -> None:
    """Add typed values as columns; a name already taken (a state column, or a mark named
    like a metadata key) gets ``suffix``: ``status (meta)``, ``year (mark)``."""
    for key, e in kept.items():
        name = key if key not in row else key + suffix
        row[name] = typed.decode(e)
        columns.setdefault(name, (suffix == MARK, name))


def as_json(value):
    return typed.iso(value) if hasattr(value, "tzinfo") else value
