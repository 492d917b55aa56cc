"""Verify the remote state against evidence before anything is planned from it: a file
this clone had in sync that the state no longer lists is deleted only if the remote
records the deletion (a row of the deletion log for that version, or newer than it) and
the object is gone; an object that is still there goes back into the state (a stale,
rebuilt or restored state is repaired, never believed) (docs/decision-table.md#evidence)."""
from __future__ import annotations

from typing import Mapping, Optional

from ..state import remotestate as remote_state
from ..core.background import thread_pool
from ..core.clock import ns_from_iso
from ..core.model import FileState


def deletion_log(remote) -> list[dict]:
    """The remote's deletion log (rows of path, who, when, checksum, size, where)."""
    return remote_state.read_deletions(remote)[0]


def recorded(rows, base: Mapping[str, FileState]) -> dict:
    """{path: who deleted it} for the paths of ``base`` whose deletion the log records:
    the version this clone had, or a deletion at or after that version's time."""
    out = {}
    for row in rows:
        b = base.get(row["File"])
        if b is not None and (row["Checksum"] == b.checksum
                              or str(row["Time Edited"]) >= b.time_edited):
            out[row["File"]] = str(row["Edited By"] or "")
    return out


def observed(remote, path: str, tmp_dir=None) -> Optional[FileState]:
    """The object at ``path`` as it is now (None: there is none), its SHA-256 from its
    metadata or by reading it."""
    obj = remote.head(path)
    if obj is None:
        return None
    digest = obj.sha256 or remote.checksum(path, tmp_dir)
    return FileState.listed(digest, obj.size, obj.modified, obj.etag)


def verify(remote, rs, base: Mapping[str, FileState], *, local: Mapping = None,
           jobs: int = 8, tmp_dir=None) -> None:
    """Repair ``rs`` (a remote_state.RemoteState) where the objects contradict it, and
    set ``rs.deleted`` to the paths whose deletion is recorded. Also set
    ``rs.deleted_here`` to the local files this clone never synced that are a version the
    team deleted after the file was last written here (a stale copy: a copied clone or
    baseline): they are not uploaded again on no evidence."""
    missing = sorted(base.keys() - rs.files.keys())
    unsynced = sorted((local or {}).keys() - rs.files.keys() - base.keys())
    if not missing and not unsynced:
        return
    rows = deletion_log(remote)
    if missing and not rs.rebuilt:  # a rebuilt state is the listing itself
        with thread_pool(min(jobs, len(missing))) as pool:
            found = list(pool.map(lambda p: observed(remote, p, tmp_dir), missing))
        for p, st in zip(missing, found):
            if st is not None:
                rs.repaired(p, st)
    rs.deleted = recorded(rows, {p: base[p] for p in missing if p not in rs.files})
    rs.deleted_here = stale_copies(rows, {p: local[p] for p in unsynced})


def stale_copies(rows, local: Mapping[str, FileState]) -> dict:
    """{path: who deleted it} for the files of ``local`` whose very content the log
    records as deleted after the file's mtime."""
    out = {}
    for row in rows:
        st = local.get(row["File"])
        when = ns_from_iso(str(row["Time Edited"]))
        if st is not None and row["Checksum"] == st.checksum and when is not None \
                and st.mtime_ns < when:
            out[row["File"]] = str(row["Edited By"] or "")
    return out
