"""Pure: which recorded version a file without a baseline is (after `reset`, or a first
sync), so a conflict says whose it is and which side is newer instead of guessing."""
from __future__ import annotations

from dataclasses import replace

from ..core import model as m


def _unknown(a) -> bool:
    return a.kind == m.CONFLICT and a.base is None and a.local is not None \
        and a.remote is not None and not a.resolution


def worth_asking(plan) -> bool:
    """Whether the plan has a conflict the history could explain (reading it costs a
    few requests, so only then)."""
    return any(_unknown(a) for a in plan.actions)


def explain(plan, versions) -> m.Plan:
    """The plan, each conflict without a baseline whose two sides are versions of the
    history worded as such (``yours is alice's version of <time> (v2 in `log`); the
    remote's, by bob, is newer``), its local side carrying that version's author. Still
    a conflict: which side to keep is the user's choice."""
    by_path: dict = {}
    for v in versions:
        if v.event != "deleted":
            by_path.setdefault(v.path, []).append(v)
    actions = []
    for a in plan.actions:
        mine = by_path.get(a.path) if _unknown(a) else None
        here = next((v for v in mine if v.checksum == a.local.checksum), None) if mine \
            else None
        there = next((v for v in mine if v.checksum == a.remote.checksum), None) if mine \
            else None
        if here is not None and there is not None and here.version != there.version:
            newer = "the remote's, by {}, is newer".format(there.author or "?") \
                if there.version < here.version else \
                "it is newer than the remote's, by {}".format(there.author or "?")
            who = here.author or "?"
            a = a.with_(reason=f"yours is {who}'s version of {here.time} (v{here.version} "
                               f"in `log`); {newer}",
                        local=a.local._replace(edited_by=here.author,
                                               time_edited=here.time))
        actions.append(a)
    return replace(plan, actions=tuple(actions))
