"""Pure: the order in which approved actions run. Transfers run in parallel, largest
first; deletions run after everything else (a failed transfer then still leaves the old
file), except deletions that clear the way for a transfer (a file replaced by a folder of
the same name, or a folder by a file), which run first."""
from __future__ import annotations

from typing import NamedTuple

from ..core import model as m

TRANSFERS = (m.UPLOAD, m.DOWNLOAD, m.KEEP_BOTH, m.MOVE_REMOTE, m.MOVE_LOCAL)  # moves send nothing


class Schedule(NamedTuple):
    first: list  # deletions in the way of a transfer
    transfers: list  # largest first
    deletions: list
    total_bytes: int  # what the transfers move, for the progress bar

    @property
    def batches(self) -> tuple:
        return self.first, self.transfers, self.deletions


def _size(a) -> int:
    return max(a.local.size if a.local else 0, a.remote.size if a.remote else 0)


def transfer_bytes(a) -> int:
    """Bytes an action moves: sent, received, or both for keep-both."""
    sent = a.local.size if a.kind in (m.UPLOAD, m.KEEP_BOTH) else 0
    received = a.remote.size if a.kind in (m.DOWNLOAD, m.KEEP_BOTH) else 0
    return sent + received


def folders_of(path: str) -> list:
    """The folders holding ``path``: "a/b/c" -> ["a", "a/b"]."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def schedule(actions) -> Schedule:
    transfers = sorted((a for a in actions if a.kind in TRANSFERS), key=lambda a: -_size(a))
    targets = {p for a in transfers for p in (a.path, a.conflict_path) if p}
    folders = {f for p in targets for f in folders_of(p)}

    def in_the_way(path: str) -> bool:
        return path in folders or any(f in targets for f in folders_of(path))

    others = [a for a in actions if a.kind not in TRANSFERS]
    return Schedule(first=[a for a in others if in_the_way(a.path)], transfers=transfers,
                    deletions=[a for a in others if not in_the_way(a.path)],
                    total_bytes=sum(transfer_bytes(a) for a in transfers))
