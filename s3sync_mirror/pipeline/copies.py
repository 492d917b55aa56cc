"""Moves and copies that send no bytes (docs/stages.md#execute): ``move_remote`` copies the
old path to the new one on the remote itself, archives and deletes the old one;
``move_local`` renames here (the old path's copy kept in the trash); an upload whose
content is already on the remote (another live file, or the archive for a large file)
becomes a server-side copy; a download whose content is already here becomes a local copy.
Every shortcut is checked as a transfer is (SHA-256), and falls back to the transfer."""
from __future__ import annotations

import os
import shutil
import time
from typing import Optional

from ..core.logs import log
from ..core import layout
from ..core import model as m
from ..core.clock import ns_from_iso
from ..core.errors import ChecksumMismatch, PreconditionFailed, RemoteNotFound
from ..core.hashing import sha256_file
from ..core.model import Action, FileState, Outcome


ARCHIVE_LOOKUP_MIN = 1 << 20  # below this, asking the archive costs about what sending does


def _stamp(tmp, rem: FileState) -> None:
    edited = rem.mtime_ns if rem.mtime_ns != -1 else ns_from_iso(rem.time_edited)
    if edited is not None:
        os.utime(tmp, ns=(time.time_ns(), edited))


def move_remote(ex, a: Action) -> Outcome:
    """Deleted here at ``a.moved_from``, new here at ``a.path`` with its content."""
    remote, loc, old = ex.ctx.remote, a.local, a.from_state
    src = ex.ctx.replica.path(a.path)
    try:
        etag = remote.copy(a.moved_from, a.path, if_match=old.etag or None, size_hint=loc.size)
    except PreconditionFailed:
        etag = ex.adopt(a.path, loc, src).etag  # a killed run's copy, else raises
    here, there = ex.sent(a.path, loc, etag, src)
    if not loc.same_file(here):
        here = here._replace(mtime_ns=-1)  # edited meanwhile: hash it next time
    archived = ex.archive(a.moved_from, old)
    remote.delete(a.moved_from, if_match=old.etag or None)
    return Outcome(a, m.DONE, local_state=here, remote_state=there, archived_as=archived)


def _from_local(ex, src_path: str, expected: FileState, rem: FileState):
    """A verified temp copy of a local file that holds ``rem``'s content."""
    replica = ex.ctx.replica
    src = replica.path(src_path)
    replica.expect(src, expected, src_path)
    tmp = replica.tmp()
    shutil.copyfile(src, tmp)  # a copy, never a link: a file edited in place must not
    #                            change another
    if sha256_file(tmp) != rem.checksum:
        tmp.unlink(missing_ok=True)
        raise ChecksumMismatch(f"{src_path}: changed during this sync; not reused")
    return tmp


def _is_as_recorded(ex, path: str, rem: FileState) -> bool:
    """Whether the remote object still is the version the state records (one small
    request): content taken from elsewhere must not hide a state that is out of date."""
    obj = ex.ctx.remote.head(path)
    return obj is not None and (not rem.etag or obj.etag == rem.etag)


def move_local(ex, a: Action) -> Outcome:
    """Renamed on the remote from ``a.moved_from`` to ``a.path``: renamed here."""
    replica, rem = ex.ctx.replica, a.remote
    if not _is_as_recorded(ex, a.path, rem):
        raise PreconditionFailed(f"{a.path}: not the version the remote state records")
    trashed = replica.to_trash(a.moved_from, a.from_state)
    tmp = replica.tmp()
    try:
        shutil.copyfile(replica.layout.data_dir / trashed, tmp)
        if sha256_file(tmp) != rem.checksum:
            raise ChecksumMismatch(f"{a.moved_from}: not the content moved on the remote")
        _stamp(tmp, rem)
        st, _ = replica.place(tmp, a.path, a.local)
    finally:
        tmp.unlink(missing_ok=True)
    return Outcome(a, m.DONE, local_state=rem.on_disk(st), archived_as=trashed)


def local_copy(ex, a: Action):
    """A verified temp file with ``a.remote``'s content made from a local file that holds
    it (None when there is none)."""
    found = ex.ctx.local_copies.get(a.remote.checksum)
    if found is None or found[0] == a.path or not _is_as_recorded(ex, a.path, a.remote):
        return None
    try:
        tmp = _from_local(ex, found[0], found[1], a.remote)
    except (OSError, ChecksumMismatch) as exc:
        log.debug("not reusing %s for %s: %s", found[0], a.path, exc)
        return None
    _stamp(tmp, a.remote)
    return tmp


def remote_copy(ex, path: str, loc: FileState) -> Optional[object]:
    """A new remote file made by a server-side copy of the same content already there:
    another live file, or (for a large file) the archive. None when there is none, or the
    copy did not take (then the file is sent)."""
    remote = ex.ctx.remote
    sources = []
    live = ex.ctx.remote_copies.get(loc.checksum)
    if live is not None and live[0] != path:
        sources.append((live[0], live[1].etag or None))
    if loc.size >= ARCHIVE_LOOKUP_MIN:
        sources.append((layout.content_key(loc.checksum), None))
    for key, etag in sources:
        try:
            if etag is None and remote.head(key) is None:
                continue
            remote.copy(key, path, if_match=etag, size_hint=loc.size)
        except (PreconditionFailed, RemoteNotFound):
            continue
        obj = remote.head(path)
        if obj is not None and (not obj.sha256 or obj.sha256 == loc.checksum):
            return obj
    return None
