"""Pure: a deletion and a new file with the same content in one plan are a move
(docs/decision-table.md#moves). ``move_remote``: deleted here at P, new here at Q with P's
content: the remote copies P to Q itself and archives and deletes P, no bytes sent.
``move_local``: the same seen on the remote: Q is made here from P (a rename), P's copy
kept in the trash, nothing downloaded. Empty files are not paired (nothing to save)."""
from __future__ import annotations

from ..core import model as m
from ..core.model import Action


def _moved(new: Action, gone: Action, kind: str) -> Action:
    from_state = gone.remote if kind == m.MOVE_REMOTE else gone.local
    who = new.remote.edited_by if kind == m.MOVE_LOCAL and new.remote is not None else ""
    by = f" by {who}" if who else ""
    return new.with_(kind=kind, moved_from=gone.path, from_state=from_state,
                     reason=(f"renamed locally from {gone.path}" if kind == m.MOVE_REMOTE
                             else f"renamed on remote{by} from {gone.path}"),
                     category="moved")


def _pair(actions: list, new_kind: str, gone_kind: str, kind: str) -> list:
    side = "local" if kind == m.MOVE_REMOTE else "remote"
    gone_by_sum: dict = {}
    for a in actions:
        if a.kind == gone_kind and a.resolution == "":
            st = a.remote if kind == m.MOVE_REMOTE else a.local
            if st is not None and st.size > 0:
                gone_by_sum.setdefault(st.checksum, []).append(a)
    out, used = [], set()
    for a in actions:
        st = getattr(a, side)
        fresh = a.kind == new_kind and a.resolution == "" and a.base is None and \
            (a.remote if kind == m.MOVE_REMOTE else a.local) is None
        if fresh and st is not None and gone_by_sum.get(st.checksum):
            gone = gone_by_sum[st.checksum].pop(0)
            used.add(gone.path)
            out.append(_moved(a, gone, kind))
        else:
            out.append(a)
    return [a for a in out if not (a.kind == gone_kind and a.path in used)]


def pair_moves(actions) -> tuple:
    """The actions with each (deletion, new file of the same content) pair made a move."""
    out = _pair(sorted(actions, key=lambda a: a.path), m.UPLOAD, m.DELETE_REMOTE,
                m.MOVE_REMOTE)
    out = _pair(out, m.DOWNLOAD, m.DELETE_LOCAL, m.MOVE_LOCAL)
    return tuple(sorted(out, key=lambda a: a.path))
