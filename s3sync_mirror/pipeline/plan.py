"""PURE: (baseline, local, remote) -> Plan. The decision table (docs/decision-table.md),
written once.

No filesystem, no network, no clock, no prompt: values in, a value out. Each rule is
written for "one side moved, the other did not" and applied in both directions, so the
table is symmetric by construction (swapping local and remote mirrors the plan).
"""
from __future__ import annotations

from typing import Mapping, Optional

from ..core import model as m
from .moves import pair_moves
from ..core.model import Action, FileState, Plan
from ..core.paths import conflict_name, in_scope

# How one side stands against the baseline.
UNCHANGED, CHANGED, NEW, DELETED, ABSENT = "unchanged", "changed", "new", "deleted", "absent"
# Gone from a side that records no deletion of it (a stale or rebuilt remote state, a state
# put back from a backup): no evidence of a deletion, so the other side's file comes back.
MISSING = "missing"
_QUIET = (UNCHANGED, ABSENT)
_CATEGORY = {NEW: "new", CHANGED: "modified", DELETED: "deleted"}


def classify(base: Optional[FileState], side: Optional[FileState], gone: bool = True) -> str:
    """How one side stands against the baseline. ``gone``: whether this side's absence is
    a recorded deletion (else it is MISSING)."""
    if side is None:
        if base is None:
            return ABSENT
        return DELETED if gone else MISSING
    if base is None:
        return NEW
    return UNCHANGED if side.checksum == base.checksum else CHANGED


def _describe(change: str, where: str, state: Optional[FileState], who="") -> str:
    """``changed on remote by bob``; ``who``: the deleter, when a deletion names one."""
    text = f"{change} {where}"
    if where == "on remote" and state is not None and state.edited_by:
        text += f" by {state.edited_by}"
    elif where == "on remote" and state is None and isinstance(who, str) and who:
        text += f" by {who}"
    return text


def _restore(lc: str, rc: str, local, remote) -> tuple[Optional[str], str, str]:
    """One side lost the file without a recorded deletion: bring the other's back."""
    if local is None and remote is None:
        return m.FORGET, "gone on both sides", ""
    if rc == MISSING:
        return m.UPLOAD, "missing on remote (no deletion recorded): upload it again", "new"
    return m.DOWNLOAD, "missing locally (no deletion recorded): download it again", "new"


def decide(base: Optional[FileState], local: Optional[FileState],
           remote: Optional[FileState], *, local_gone=True,
           remote_gone=True, first_sync=True) -> tuple[Optional[str], str, str]:
    """The decision table (docs/decision-table.md) for one path: (kind or None, reason,
    category). ``*_gone``: whether that side's absence is a recorded deletion (for the
    remote, the deleter's name counts as yes and is named in the reason). ``first_sync``:
    this clone has no baseline at all, so a file on both sides without one says so; in a
    clone that has one, such a file is new on both sides."""
    lc, rc = classify(base, local, bool(local_gone)), classify(base, remote, bool(remote_gone))
    if MISSING in (lc, rc):
        return _restore(lc, rc, local, remote)
    if local is not None and remote is not None and local.checksum == remote.checksum:
        if lc == UNCHANGED:
            return None, "in sync", ""
        return m.RECORD, "same content on both sides", ""
    if local is None and remote is None:
        return (m.FORGET, "deleted on both sides", "") if base is not None else (None, "", "")
    if lc in _QUIET and rc in _QUIET:
        return None, "in sync", ""
    if lc in _QUIET:  # only the remote moved: bring it here
        kind = m.DELETE_LOCAL if rc == DELETED else m.DOWNLOAD
        return kind, _describe(rc, "on remote", remote, remote_gone), _CATEGORY[rc]
    if rc in _QUIET:  # only this side moved: take it there
        kind = m.DELETE_REMOTE if lc == DELETED else m.UPLOAD
        return kind, _describe(lc, "locally", local), _CATEGORY[lc]
    if base is None and first_sync:
        why = "differs between local and remote (no baseline to tell which is newer)"
    else:
        why = (f"{_describe(lc, 'locally', local)}, "
               f"{_describe(rc, 'on remote', remote, remote_gone)}")
    return m.CONFLICT, why, "conflict"


def _action(path, base, loc, rem, blocked, gone: tuple,
            first_sync: bool = True) -> Optional[Action]:
    """The decision for one path, or None; a blocked path's becomes a problem (reported,
    left alone): "error" (an unreadable file: a failure) or "blocked" (a name clash)."""
    if path in blocked and base is None and loc is None and rem is None:
        category, reason = blocked[path]  # known only as a problem (an unreadable file)
        return Action(path=path, kind=m.CONFLICT, reason=reason, category=category)
    local_gone, remote_gone = (True if g is None else (g.get(path, False) or path in g)
                               if isinstance(g, Mapping) else path in g for g in gone)
    kind, reason, category = decide(base, loc, rem, local_gone=local_gone,
                                    remote_gone=remote_gone, first_sync=first_sync)
    if kind is None:
        return None
    if path in blocked:
        category, reason = blocked[path]
        kind = m.CONFLICT
    return Action(path=path, kind=kind, reason=reason, category=category, base=base,
                  local=loc, remote=rem)


def make_plan(baseline: Mapping[str, FileState], local: Mapping[str, FileState],
              remote: Mapping[str, FileState], scope=None, blocked=None, *,
              deleted_local=None, deleted_remote=None, first_sync=None) -> Plan:
    """Decide every path. ``scope`` limits the plan to some paths (the rest is left for a
    later run, baseline untouched); ``blocked`` maps paths that must not be acted on to
    ``(category, reason)``: "error" (e.g. an unreadable file: a failure) or "blocked" (e.g.
    a name clash on a case-insensitive disk): they become problems, reported, left alone.
    ``deleted_*``: the paths whose absence from that side is a recorded deletion (None:
    every absence is; a mapping may name who deleted each); any other absence is MISSING,
    and nothing is deleted for it. ``first_sync``: whether this clone has no baseline at
    all (None: when ``baseline`` is empty; the caller says so when it passes only some
    paths' baseline)."""
    gone = (deleted_local, deleted_remote)
    first_sync = not baseline if first_sync is None else first_sync
    blocked = blocked or {}
    actions, records, problems = [], [], []

    def consider(path, base, loc, rem):
        if scope and not in_scope(path, scope):
            return
        action = _action(path, base, loc, rem, blocked, gone, first_sync)
        if action is None:
            return
        if action.path in blocked:
            problems.append(action)
        else:
            (records if action.kind in (m.RECORD, m.FORGET) else actions).append(action)

    # Every path once, without building and sorting the union: the common case, a file
    # identical on all three sides, costs two lookups and a comparison.
    base_get, remote_get = baseline.get, remote.get
    for path, loc in local.items():
        base, rem = base_get(path), remote_get(path)
        if base is not None and rem is not None and loc.checksum == base.checksum \
                and rem.checksum == base.checksum and path not in blocked:
            continue
        consider(path, base, loc, rem)
    for path, rem in remote.items():
        if path not in local:
            consider(path, base_get(path), None, rem)
    for path, base in baseline.items():
        if path not in local and path not in remote:
            consider(path, base, None, None)
    for path in blocked:
        if path not in local and path not in remote and path not in baseline:
            consider(path, None, None, None)
    by_path = lambda a: a.path  # noqa: E731
    return Plan(actions=pair_moves(actions),
                records=tuple(sorted(records, key=by_path)),
                problems=tuple(sorted(problems, key=by_path)))


def resolve(action: Action, resolution: str, *, user: str, stamp: str,
            taken=frozenset()) -> Optional[Action]:
    """Turn a conflict and the user's choice into the action to carry out (pure).

    ``stamp`` is the UTC time for a keep-both name; ``taken`` the paths already in use.
    Returns None for "skip"."""
    if action.kind != m.CONFLICT or resolution == m.SKIP:
        return None
    loc, rem = action.local, action.remote
    if resolution == m.BOTH and loc is not None and rem is not None:
        name = conflict_name(action.path, user, stamp, taken)
        return action.with_(kind=m.KEEP_BOTH, resolution=m.BOTH, conflict_path=name)
    if resolution == m.BOTH:  # one side deleted: the surviving version is "both"
        resolution_kind = m.UPLOAD if loc is not None else m.DOWNLOAD
    elif resolution == m.KEEP_LOCAL:
        resolution_kind = m.UPLOAD if loc is not None else m.DELETE_REMOTE
    elif resolution == m.KEEP_REMOTE:
        resolution_kind = m.DOWNLOAD if rem is not None else m.DELETE_LOCAL
    else:
        raise ValueError(f"unknown conflict resolution {resolution!r}")
    return action.with_(kind=resolution_kind, resolution=resolution)


def deletion_share(plan_actions, local_count: int, remote_count: int) -> tuple[float, float]:
    """Percent of the local and of the remote files the actions would delete."""
    dl = sum(1 for a in plan_actions if a.kind == m.DELETE_LOCAL)
    dr = sum(1 for a in plan_actions if a.kind == m.DELETE_REMOTE)
    pl = 100.0 * dl / local_count if local_count else 0.0
    pr = 100.0 * dr / remote_count if remote_count else 0.0
    return pl, pr
