"""Changing this clone's sparse selection (docs/metadata.md#sparse-selection). Widening
only records the new selection: the next sync downloads what it adds. Narrowing moves the
local copies that are in sync out of the data folder into ``.S3/trash/`` (recoverable) and
forgets their baseline rows, so a later widening downloads them again and nothing is ever
read as a deletion; it refuses, changing nothing, while a file leaving the selection has
unsynced changes here."""
from __future__ import annotations

from typing import Optional

from ..pipeline import detect, quickcheck as insync
from ..ui import metaview as metareport
from ..meta import selection as sparse
from ..core.errors import S3SyncMirrorError, UsageError
from ..pipeline.replica import Replica
from ..core.paths import nfc
from ..pipeline.scan import walk
from ..session import open_session


def _held(s, base: dict, walked) -> set:
    """The paths this clone holds now: its files, and its baseline rows (as the current
    selection and ignore rules see them)."""
    return {nfc(rel) for rel, *_ in walked[0]} | set(detect.visible(base, s.ignored()))


def apply(settings, new: Optional[sparse.Selection], out=None) -> dict:
    """Make ``new`` (None: everything) this clone's selection. Returns {"trashed":
    [(path, where kept)], "kept": [why], "forgotten": n}; raises UsageError (nothing
    changed) when a file leaving the selection has unsynced changes."""
    with open_session(settings, writes=True, out=out) as s:
        s.prepare()
        base = s.load_baseline()
        walked = walk(s.data_dir, s.ignored())
        files = s.metadata[0] if new is not None and new.uses_metadata else {}
        leaves = new.outside(files) if new is not None else None
        leaving = {p for p in _held(s, base, walked) if leaves is not None and leaves(p)}
        trash, forget, local, disk = [], [], {}, {}
        if leaving:
            found = detect.detect(s, base, walked)
            local, disk = found.scanned.files, found.scanned.disk
            trash, forget, refused = sparse.narrowing(leaving, base, local,
                                                      found.remote.files)
            if refused:
                raise UsageError(metareport.narrowing_refused(refused))
        # The baseline first: a copy left here by a crash is then a file without a
        # baseline, which a later sync records or reports, never a deletion to share.
        if forget:
            gone = set(forget)
            s.statedir.save_baseline({p: b for p, b in base.items() if p not in gone},
                                     s.owner)
        insync.forget(s.statedir)
        was = sparse.load(s.layout)
        if was is not None and new != was:
            sparse.remember_before(s.layout, was)
        sparse.save(s.layout, new)
        return {"forgotten": len(forget), "was_selection": was is not None,
                **_to_trash(s, trash, local, disk)}


def _to_trash(s, paths, local: dict, disk: dict) -> dict:
    replica = Replica(s.layout, s.new_run(), disk)
    trashed, kept = [], []
    for p in paths:
        try:
            trashed.append((p, replica.to_trash(p, local[p])))
        except (S3SyncMirrorError, OSError) as exc:  # changed meanwhile: left here
            kept.append(metareport.left_here(p, exc))
    return {"trashed": trashed, "kept": kept}
