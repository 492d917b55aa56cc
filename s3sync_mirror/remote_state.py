"""The remote's ``.S3/`` state files: fetch (a conditional GET against the cached ETag),
rebuild from a listing when there is none (a new remote, or after ``reset``), and commit
with compare-and-swap: replaced only if unchanged since read; on a lost race re-read,
re-merge, retry (docs/promises.md#no-lost-update)."""
from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from collections import ChainMap
from dataclasses import dataclass, field
from typing import Mapping, Optional

from . import layout, state
from .commit import merge_remote
from .errors import PreconditionFailed, RemoteError, RemoteNotFound, StateError
from .model import FileState
from .paths import unsafe_reason

log = logging.getLogger("s3sync_mirror")

VERSIONS_KEY = layout.VERSIONS_KEY
DELETED_KEY = layout.DELETED_KEY
MAX_ATTEMPTS = 25


@dataclass
class RemoteState:
    """The remote as this run believes it: the state file as read, then repaired with what
    the objects themselves show (evidence.py)."""

    files: dict  # path -> FileState
    etag: Optional[str]  # None: no state file on the remote (yet)
    rebuilt: bool = False  # built from a listing because there was no state file
    repairs: dict = field(default_factory=dict)  # path -> the state file's entry (or None)
    #                                              before this run repaired it
    deleted: dict = field(default_factory=dict)  # path -> who deleted it, as the remote
    #                                               records (evidence.py)
    deleted_here: dict = field(default_factory=dict)  # local files, with no baseline, that
    #                                                    are a version the team deleted

    @property
    def as_read(self) -> Mapping:
        """The state file as this run read it (before its repairs)."""
        return ChainMap(self.repairs, self.files) if self.repairs else self.files

    def repaired(self, path: str, st: Optional[FileState]) -> None:
        """Record that the object at ``path`` is ``st`` (None: gone), not what the state
        file says."""
        if path not in self.repairs:
            self.repairs[path] = self.files.get(path)
        if st is None:
            self.files.pop(path, None)
        else:
            self.files[path] = st


def _parse(remote, data: bytes) -> dict:
    return state.parse_versions(data, f"remote state {remote.url(VERSIONS_KEY)}")


def fetch(remote, statedir, *, use_cache: bool = True, save_cache: bool = True,
          jobs: int = 8, tmp_dir=None, notes=None,
          known_unchanged: Optional[str] = None) -> RemoteState:
    """The remote state: one conditional GET against the ETag of the local copy, which is
    used as is when the remote's did not change. ``known_unchanged``: an ETag this run just
    found current with such a GET (then it is not sent again)."""
    cached_etag = statedir.cached_remote_etag() if use_cache else None
    try:
        got = None if known_unchanged and known_unchanged == cached_etag \
            else remote.get_bytes(VERSIONS_KEY, if_none_match=cached_etag)
    except RemoteNotFound:
        # The whole remote, whatever this clone ignores: the state describes the remote.
        return rebuild(remote, jobs=jobs, tmp_dir=tmp_dir, notes=notes)
    if got is None:
        try:
            files = statedir.load_remote_copy()
        except StateError:  # a damaged local copy: read the real thing
            files = None
        if files is not None:
            return RemoteState(files, cached_etag)
        got = remote.get_bytes(VERSIONS_KEY)
    data, etag = got
    files = _parse(remote, data)
    if save_cache:
        statedir.save_remote_cache(data, etag, files)
    return RemoteState(files, etag)


def rebuild(remote, *, jobs: int = 8, tmp_dir=None, notes=None) -> RemoteState:
    """The remote state from the files themselves: their SHA-256 comes from metadata when
    the object carries it (every upload of this tool does), else from reading it."""
    objects = []
    for obj in remote.list(""):
        if layout.is_state_key(obj.key):
            continue
        why = unsafe_reason(obj.key)
        if why is not None:
            if notes is not None:
                notes.append(f"remote file {obj.key!r} ignored: its name {why}")
            continue
        objects.append(obj)
    if objects and notes is not None:
        notes.append(f"no {VERSIONS_KEY} on the remote: indexed its {len(objects)} "
                     f"file{'s' if len(objects) != 1 else ''}")

    def digest(obj):
        return obj.sha256 or remote.checksum(obj.key, tmp_dir)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        sums = list(pool.map(digest, objects))
    files = {o.key: FileState.listed(s, o.size, o.modified, o.etag)
             for o, s in zip(objects, sums)}
    return RemoteState(files, None, rebuilt=True)


def _read_current(remote, jobs: int, tmp_dir) -> tuple[dict, Optional[str]]:
    """The state file as it is now; when it is gone (a `reset --remote` meanwhile), the
    remote's own listing: a commit never writes a state that omits live objects."""
    try:
        data, etag = remote.get_bytes(VERSIONS_KEY)
    except RemoteNotFound:
        return rebuild(remote, jobs=jobs, tmp_dir=tmp_dir).files, None
    return _parse(remote, data), etag


def commit(remote, statedir, read: RemoteState, outcomes, *, jobs: int = 8,
           tmp_dir=None) -> tuple[dict, set, dict]:
    """Write the new remote state: this run's changes and repairs over the state as it is
    now. Returns (new state, rejected paths, current-at-commit state of others' changes
    we did not plan for)."""
    seen = read.as_read
    current = {p: st for p, st in seen.items() if st is not None}
    etag = read.etag
    for attempt in range(MAX_ATTEMPTS):
        new, rejected = merge_remote(current, seen, outcomes, repairs(read))
        data = state.render_versions(new, local=False)
        try:
            new_etag = remote.put_bytes(VERSIONS_KEY, data, if_match=etag,
                                        if_none_match=etag is None)
        except PreconditionFailed:
            log.info("another member committed first; re-reading the remote state")
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
            current, etag = _read_current(remote, jobs, tmp_dir)
            continue
        statedir.save_remote_cache(data, new_etag, new)
        others = {p: st for p, st in current.items() if seen.get(p) != st}
        return new, rejected, others
    raise RemoteError(f"could not record the remote state after {MAX_ATTEMPTS} attempts: "
                      f"other members keep writing it; run again")


def repairs(read: RemoteState) -> dict:
    """{path: repaired entry or None} this run found by evidence."""
    return {p: read.files.get(p) for p in read.repairs}


def append_deleted(remote, statedir, rows: list) -> None:
    """Add this run's deletions to the remote deletion log (and its local copy)."""
    if not rows:
        return
    for attempt in range(MAX_ATTEMPTS):
        try:
            data, etag = remote.get_bytes(DELETED_KEY)
            existing = state.parse_log(data, f"remote {remote.url(DELETED_KEY)}")
        except RemoteNotFound:
            existing, etag = [], None
        out = state.render_log(existing + rows)
        try:
            remote.put_bytes(DELETED_KEY, out, if_match=etag, if_none_match=etag is None)
        except PreconditionFailed:
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
            continue
        statedir.save_deleted_remote(out)
        return
    raise RemoteError(f"could not record {DELETED_KEY}: others keep writing it")
