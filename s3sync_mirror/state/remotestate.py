"""The remote's ``.S3/`` state files: fetch (a conditional GET against the cached ETag),
rebuild from a listing when there is none (a new remote, or after ``reset``), and commit
with compare-and-swap: replaced only if unchanged since read; on a lost race re-read,
re-merge, retry (docs/promises.md#no-lost-update)."""
from __future__ import annotations

import time
from collections import ChainMap
from ..core.records import dataclass, field
from typing import Mapping, NamedTuple, Optional

from ..core.background import Background, thread_pool
from ..core.logs import log
from ..core import layout
from . import csvfiles as state, historyindex, legacy, remotelog as statelog, statehead
from .merges import merge_remote, remote_changes
from ..core.clock import ns_from_iso
from ..core.errors import (PreconditionFailed, RemoteError, RemoteNotFound, S3SyncMirrorError,
                           StateError)
from ..core.model import FileState
from ..core.paths import unsafe_reason
from .remotelog import Pos


def _jitter(attempt: int) -> float:
    """The pause before trying a commit again, after another member was first."""
    import random

    return random.uniform(0.01, 0.05) * (attempt + 1)


VERSIONS_KEY = layout.VERSIONS_KEY
DELETED_KEY = layout.DELETED_KEY
MAX_ATTEMPTS = 25


@dataclass
class RemoteState:
    """The remote as this run believes it: the state as read (the checkpoint and the log
    after it), then repaired with what the objects themselves show (pipeline/evidence.py)."""

    files: dict  # path -> FileState
    pos: Optional[Pos]  # None: no state file on the remote (yet)
    rebuilt: bool = False  # built from a listing because there was no state file
    repairs: dict = field(default_factory=dict)  # path -> the state file's entry (or None)
    #                                              before this run repaired it
    deleted: dict = field(default_factory=dict)  # path -> who deleted it, as the remote
    #                                               records (pipeline/evidence.py)
    deleted_here: dict = field(default_factory=dict)  # local files, with no baseline, that
    #                                                    are a version the team deleted
    legacy: Optional[str] = None  # the ETag of S3Synchrony 0.4's state file this run
    #                               adopted and its commit replaces (state/legacy.py)
    healed: str = ""  # the piece the state had lost (state/statehead.py): this run
    #                   corrected it from the objects, and its commit starts a checkpoint
    seen: Optional[object] = None  # the state head this clone last saw (statehead.Head)
    head_read: Optional[tuple] = None  # (head, ETag) as this run read it: the
    #                                    commit's first try at moving it (no second GET)
    partial: bool = False  # ``files`` holds only the paths this run plans
    #                        (pipeline/delta.py); its commit never writes a checkpoint

    @property
    def etag(self) -> Optional[str]:
        """The version of the state read (statelog.Pos.token)."""
        return None if self.pos is None else self.pos.token

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


class _Moved(Exception):
    """The checkpoint changed while its log was being read: read again."""


def _parse(remote, data: bytes) -> dict:
    return state.parse_versions(data, f"remote state {remote.url(VERSIONS_KEY)}")


def fetch(remote, statedir, *, use_cache: bool = True, save_cache: bool = True,
          jobs: int = 8, tmp_dir=None, notes=None,
          known_unchanged: Optional[str] = None) -> RemoteState:
    """The remote state: a conditional GET of the checkpoint against the cached copy's
    ETag, then the log entries after the cached position (state/remotelog.py).
    ``known_unchanged``: a version this run just found current (then nothing is sent)."""
    held = None
    if use_cache and statedir is not None:
        try:
            held = statedir.load_remote_cached()
        except StateError:  # a damaged local copy: read the real thing
            held = None
    if held is not None and known_unchanged == held[1].token and not held[1].sealed:
        rs = RemoteState(held[0], held[1])
        if statedir is not None:  # the quick check found the head as this clone saw it
            rs.seen, etag = statedir.seen_head()
            rs.head_read = (rs.seen, etag)
            statedir.last_pos = rs.pos
        return rs
    save = statedir if save_cache else None
    for _attempt in range(MAX_ATTEMPTS):
        try:
            rs = _read(remote, save, held, jobs=jobs, tmp_dir=tmp_dir, notes=notes)
        except _Moved:
            held = None
            continue
        if rs.pos is not None:
            _against_head(remote, statedir, save, rs, jobs=jobs, tmp_dir=tmp_dir,
                          notes=notes)
        if statedir is not None:
            statedir.last_pos = rs.pos
        return rs
    raise RemoteError(f"could not read the remote state: {VERSIONS_KEY} keeps changing; "
                      f"run again")


class Delta(NamedTuple):
    changes: dict  # {path: its state now, or None when it left} since the position given
    pos: Pos  # the position after them
    seen: Optional[object]  # the head this clone had seen
    head_read: tuple  # (head, ETag) as read now


def read_delta(remote, statedir, pos: Pos, save: bool) -> Optional[Delta]:
    """What changed on the remote since ``pos`` (with its base_files and rows), read from
    the log entries after it, or None when that cannot be told so (the checkpoint was
    replaced, the log ends or is damaged, the head says the state lost a piece): then
    the caller takes the full path. ``save``: keep the entries and the head in this
    clone's cache, as the full path does."""
    with thread_pool(2) as pool:
        later = pool.submit(_after, remote, pos)
        head_f = pool.submit(statehead.read, remote)
        now = remote.head(VERSIONS_KEY)
        later, (head, etag, data) = later.result(), head_f.result()
    if now is None or now.etag != pos.etag:
        return None
    changes: dict = {}
    for n in later:
        key = statelog.entry_key(pos.log, n)
        try:
            raw, _etag = remote.get_bytes(key)
            ch, nxt = statelog.parse(raw, remote.url(key))
        except (RemoteNotFound, StateError):
            return None
        if nxt:  # a sealed log: the next checkpoint is due, which needs every row
            return None
        changes.update(ch)
        pos = pos._replace(n=n, rows=pos.rows + len(ch))
        if save:
            statedir.save_log_entry(pos.log, n, raw)
    seen = statedir.seen_head()[0]
    if statehead.loss(head, pos, seen, None) is not None:
        return None
    if save and head is not None:
        statedir.save_seen_head(data, etag, head)
    statedir.last_pos = pos
    return Delta(changes, pos, seen, (head, etag))


class _NeedFull(Exception):
    """A commit from some paths' state that needs all of them (a checkpoint is due, or
    another member committed first)."""


def unchanged(remote, token: str, head_etag: Optional[str] = None) -> bool:
    """Whether the remote state is still at version ``token``: a HEAD of the checkpoint
    (when it changed, the full path downloads it once), no log entry after the position,
    and the state head as this clone last saw it (``head_etag``; None: it saw none)."""
    pos = statelog.Pos.parse(token)
    if pos is None:
        return False
    # three independent requests, sent together: one round trip instead of three
    with Background(_after, remote, pos) as later, \
            Background(remote.head, layout.HEAD_KEY) as head:
        now = remote.head(VERSIONS_KEY)
        later, head = later.result(), head.result()
    if now is None or now.etag != pos.etag or later:
        return False
    return (head.etag if head is not None else None) == head_etag


def _after(remote, pos: Pos) -> list:
    numbers = (statelog.entry_number(o.key) for o in remote.list(
        statelog.log_root(pos.log) + "/"))
    return statelog.following([n for n in numbers if n is not None], pos.n)


def _read(remote, save, held, *, jobs: int, tmp_dir, notes) -> RemoteState:
    """``held``: (files, Pos) this run already has, a copy it may change."""
    try:
        got = remote.get_bytes(VERSIONS_KEY,
                               if_none_match=held[1].etag if held is not None else None)
    except RemoteNotFound:
        # The whole remote, whatever this clone ignores: the state describes the remote.
        return rebuild(remote, jobs=jobs, tmp_dir=tmp_dir, notes=notes)
    if got is None:
        files, pos = held
    else:
        data, etag = got
        if legacy.is_legacy(data):
            return adopt(remote, data, etag, jobs=jobs, tmp_dir=tmp_dir, notes=notes)
        files = _parse(remote, data)
        pos = Pos(etag, statelog.log_id(data), 0, len(files))
        if save is not None:
            save.save_remote_cache(data, etag, files)
    files, pos = _follow(remote, save, files, pos)
    return RemoteState(files, pos)


def _sealed_into(remote, head: statehead.Head) -> Optional[str]:
    """The log that the last entry of the head's log hands over to (None: none)."""
    numbers = [n for n in (statelog.entry_number(o.key) for o in remote.list(
        statelog.log_root(head.log) + "/")) if n is not None and n >= head.entry]
    if not numbers:
        return None
    key = statelog.entry_key(head.log, max(numbers))
    try:
        return statelog.parse(remote.get_bytes(key)[0], remote.url(key))[1] or None
    except (RemoteNotFound, StateError):
        return None


def _against_head(remote, statedir, save, rs: RemoteState, *, jobs: int, tmp_dir,
                  notes) -> None:
    """Hold the state read against the head (state/statehead.py); a state that lost a
    piece is corrected from the objects themselves and said so in one line. ``save``:
    the clone state to remember the head in (None: this run writes nothing)."""
    rs.seen = statedir.seen_head()[0] if statedir is not None else None
    head, etag, data = statehead.read(remote)
    rs.head_read = (head, etag)
    sealed_into = None
    if head is not None and head.log != rs.pos.log and rs.pos.log not in head.logs:
        sealed_into = _sealed_into(remote, head)
    problem = statehead.loss(head, rs.pos, rs.seen, sealed_into)
    if problem is None:
        if head is not None and save is not None:
            save.save_seen_head(data, etag, head)
        return
    fixed = heal(remote, rs, jobs=jobs, tmp_dir=tmp_dir)
    rs.healed = problem
    if notes is not None:
        then = "this run records" if save is not None else "the next sync records"
        notes.append(f"the remote state had lost a piece: {problem}. Checked it against "
                     f"the remote's own files: {fixed} entr{'y' if fixed == 1 else 'ies'} "
                     f"corrected; {then} the corrected state")


def _same_object(st: Optional[FileState], obj) -> bool:
    return st is not None and st.size == obj.size and \
        (st.etag or "").strip('"') == (obj.etag or "").strip('"')


def heal(remote, rs: RemoteState, *, jobs: int = 8, tmp_dir=None) -> int:
    """Correct ``rs`` by the remote's own listing: an object the state does not show as
    it is goes in as it is (its author and time from the history index when it holds
    that version), an entry whose object is gone goes out (its deletion, if a member
    made it, is in the deletion log and the archive). Returns how many were corrected."""
    listed = {o.key: o for o in remote.list("")
              if not layout.is_state_key(o.key) and unsafe_reason(o.key) is None}
    todo = [o for k, o in listed.items() if not _same_object(rs.files.get(k), o)]
    gone = sorted(p for p in rs.files if p not in listed)
    with thread_pool(jobs) as pool:
        sums = list(pool.map(lambda o: o.sha256 or remote.checksum(o.key, tmp_dir), todo))
    made = _authors(remote, jobs) if todo else {}
    for o, digest in zip(todo, sums):
        old = rs.files.get(o.key)
        if old is not None and old.checksum == digest:
            st = old._replace(etag=o.etag, size=o.size)  # the same version, re-stored
        else:
            st = FileState.listed(digest, o.size, o.modified, o.etag)
            who = made.get((o.key, digest))
            if who is not None:
                st = st._replace(edited_by=who[0], time_edited=who[1] or st.time_edited)
        rs.repaired(o.key, st)
    for p in gone:
        rs.repaired(p, None)
    return len(todo) + len(gone)


def _authors(remote, jobs: int) -> dict:
    """{(path, SHA-256): (author, time)} of every version the history index lists."""
    try:
        rows = historyindex.read_all(remote, jobs=jobs)
    except S3SyncMirrorError as exc:
        log.info("history index not read while healing: %s", exc)
        return {}
    return {(r.path, r.checksum): (r.author, r.time) for r in
            sorted(rows, key=lambda r: r.time) if r.event != "deleted"}


def _follow(remote, save, files: dict, pos: Pos) -> tuple[dict, Pos]:
    """Apply the log entries after ``pos``; a sealed log's next checkpoint is put in
    place if nobody did yet."""
    for _hop in range(MAX_ATTEMPTS):
        if not pos.sealed:
            for n in _after(remote, pos):
                key = statelog.entry_key(pos.log, n)
                try:
                    data, _etag = remote.get_bytes(key)
                except RemoteNotFound:  # removed meanwhile: read again
                    raise _Moved() from None
                changes, nxt = statelog.parse(data, remote.url(key))
                statelog.apply(files, changes)
                pos = pos._replace(n=n, rows=pos.rows + len(changes), sealed=bool(nxt),
                                   next_log=nxt)
                if save is not None:
                    save.save_log_entry(pos.log, n, data)
                if nxt:
                    break
        if not pos.sealed or save is None:  # a reader that writes nothing stops here
            return files, pos
        pos = _checkpoint(remote, save, files, pos)
    raise _Moved()


def _checkpoint(remote, save, files: dict, pos: Pos) -> Pos:
    """Put the state after a sealed log in place of the checkpoint it follows."""
    data = state.render_versions(files, local=False, log=pos.next_log)
    try:
        etag = remote.put_bytes(VERSIONS_KEY, data, if_match=pos.etag)
    except PreconditionFailed:  # done by another member (or the file was replaced)
        raise _Moved() from None
    if save is not None:
        save.save_remote_cache(data, etag, files)
    _tidy(remote, statelog.log_id(data))
    return Pos(etag, statelog.log_id(data), 0, len(files))


def _tidy(remote, keep: str) -> None:
    """Remove the entries of earlier checkpoints' logs written over an hour ago (best
    effort). They are kept that long so that a checkpoint written late by a member who
    read an old seal, on a server that ignores If-Match, still finds the log after it."""
    cutoff = time.time_ns() - statelog.KEEP_OLD_LOGS_NS
    try:
        old = [o.key for o in remote.list(layout.STATE_LOG_ROOT + "/")
               if not o.key.startswith(statelog.log_root(keep) + "/")
               and (ns_from_iso(o.modified or "") or cutoff) < cutoff]
        for key in old:
            remote.delete(key)
    except S3SyncMirrorError as exc:
        log.info("old state log entries not removed: %s", exc)


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

    with thread_pool(jobs) as pool:
        sums = list(pool.map(digest, objects))
    files = {o.key: FileState.listed(s, o.size, o.modified, o.etag)
             for o, s in zip(objects, sums)}
    return RemoteState(files, None, rebuilt=True)


MIGRATION_NOTE = ("moving over from S3Synchrony 0.4: this run's commit replaces {what} "
                  "with this tool's format, after keeping a copy of each in "
                  ".S3/s3synchrony-0.4/; a member still on S3Synchrony 0.4 then stops with an "
                  "error before writing anything (README: switching a team)")


def adopt(remote, data: bytes, etag: str, *, jobs: int = 8, tmp_dir=None,
          notes=None) -> RemoteState:
    """S3Synchrony 0.4's ``versions_remote.csv`` as the remote state: the objects as
    listed (hashed by reading them: nothing is uploaded), each with its row's author and
    time when the object still is the version the row describes (its ETag is that MD5)."""
    rows = {r["File"]: r for r in legacy.rows(data, f"remote state {remote.url(VERSIONS_KEY)}")}
    rs = rebuild(remote, jobs=jobs, tmp_dir=tmp_dir, notes=None)
    for p, st in rs.files.items():
        row = rows.get(p)
        if row is not None and st.etag.strip('"').lower() == row["MD5"]:
            rs.files[p] = st._replace(edited_by=row["Edited By"],
                                      time_edited=row["Time Edited"] or st.time_edited)
    rs.legacy = etag
    if notes is not None:
        notes.append(MIGRATION_NOTE.format(what=f"{VERSIONS_KEY} (and {DELETED_KEY} at "
                                                f"the next deletion)"))
    return rs


def keep_remote_copy(remote, key: str, data: bytes) -> None:
    """A copy of a legacy remote state file, in ``.S3/s3synchrony-0.4/`` (never
    overwritten: the first copy is the one S3Synchrony wrote)."""
    name = key.rsplit("/", 1)[-1]
    try:
        remote.put_bytes(f"{layout.STATE_DIR}/{legacy.COPY_DIR}/{name}", data,
                         if_none_match=True)
    except PreconditionFailed:
        pass


def read_deletions(remote, tmp_dir=None) -> tuple[list, Optional[str], Optional[bytes]]:
    """(the remote deletion log's rows, its ETag or None, its bytes when it is
    S3Synchrony 0.4's). A legacy row becomes a row of this tool when its archived copy
    ``.S3/deleted/<path>`` is that version (its ETag is the row's MD5): its SHA-256 is read
    from the copy; any other legacy row has no version left to describe and is left in
    the kept copy only."""
    try:
        data, etag = remote.get_bytes(DELETED_KEY)
    except RemoteNotFound:
        return [], None, None
    name = f"remote {remote.url(DELETED_KEY)}"
    if not legacy.is_legacy(data):
        return state.parse_log(data, name), etag, None
    out = []
    for row in legacy.rows(data, name):
        key = f"{layout.ARCHIVE_ROOT}/{row['File']}"
        obj = remote.head(key)
        if obj is None or obj.etag.strip('"').lower() != row["MD5"]:
            continue
        digest = obj.sha256 or remote.checksum(key, tmp_dir)
        out.append({"File": row["File"], "Edited By": row["Edited By"],
                    "Time Edited": row["Time Edited"], "Checksum": digest, "Size": obj.size,
                    "Where": key})
    return out, etag, data


def commit(remote, statedir, read: RemoteState, outcomes, *, jobs: int = 8,
           tmp_dir=None) -> tuple[dict, set, dict]:
    """Record this run's changes and repairs over the state as it is now: the next log
    entry, created only if absent; on a lost race, read the entries others added,
    re-merge, retry. Returns (new state, rejected paths, current-at-commit state of
    others' changes we did not plan for)."""
    seen = read.as_read
    current = {p: st for p, st in seen.items() if st is not None}
    pos, replaces = read.pos, read.legacy
    known = read.head_read  # the head as read: the first try at moving it
    for attempt in range(MAX_ATTEMPTS):
        new, rejected = merge_remote(current, seen, outcomes, repairs(read))
        try:
            pos = _write(remote, statedir, current, new, pos, replaces, bool(read.healed),
                         partial=read.partial)
            _advance_head(remote, statedir, pos, read.seen, known)
        except (_NeedFull, PreconditionFailed) as exc:
            if read.partial:  # a checkpoint is due, or another member was first: read all
                read = _widened(statedir, read)
                seen = read.as_read
                current = {p: st for p, st in seen.items() if st is not None}
                pos = read.pos
                if isinstance(exc, _NeedFull):
                    continue
            known = None
            log.info("another member committed first; reading what they changed")
            time.sleep(_jitter(attempt))
            current, pos, replaces = _read_current(remote, statedir, current, pos, jobs,
                                                   tmp_dir)
            continue
        own = {p for o in outcomes for p, _st in remote_changes(o)}
        others = {p: st for p, st in current.items()
                  if seen.get(p) != st and not (p in own and new.get(p) == st)}
        statedir.last_pos = pos
        return new, rejected, others
    raise RemoteError(f"could not record the remote state after {MAX_ATTEMPTS} attempts: "
                      f"other members keep writing it; run again")


def _widened(statedir, read: RemoteState) -> RemoteState:
    """``read`` (a partial state) as the whole state at the same position, from this
    clone's cache (which the partial read kept up to date), with the same repairs."""
    held = statedir.load_remote_cached()
    if held is None or held[1].token != read.pos.token or held[1].sealed:
        raise RemoteError("the remote state changed while this run recorded it, and this "
                          "clone's copy of it is not at the position the run read; run "
                          "again")
    full = RemoteState(held[0], held[1], seen=read.seen, head_read=read.head_read)
    for p in read.repairs:
        full.repaired(p, read.files.get(p))
    return full


def _advance_head(remote, statedir, pos: Optional[Pos], seen, known=None) -> None:
    """Move the state head to ``pos`` (best effort: a head that lags is normal); past
    ``seen`` (the head this clone saw), so that a head put back is outgrown at once.
    ``known``: the head as this run's fetch read it (statehead.advance)."""
    if pos is None:
        return
    try:
        head, etag, data = statehead.advance(
            remote, pos, seen.generation if seen is not None else 0, known)
    except S3SyncMirrorError as exc:
        log.info("the state head was not moved: %s", exc)
        return
    statedir.save_seen_head(data, etag, head)


def _write(remote, statedir, current: dict, new: dict, pos: Optional[Pos],
           replaces: Optional[str] = None, fresh: bool = False,
           partial: bool = False) -> Optional[Pos]:
    """Commit ``new`` over ``current`` (at ``pos``). Raises PreconditionFailed when
    another member committed first, or when the checkpoint the entry follows was
    replaced or removed meanwhile (a `reset --remote`, a copy put back): then the caller
    reads the state again, where the change is found already made or is made again.
    ``partial``: ``current`` and ``new`` hold only some paths (raises _NeedFull, before
    writing, when the entry would end the log)."""
    if partial and (pos is None or fresh or replaces is not None):
        raise _NeedFull()
    if pos is None:  # no state file yet (or S3Synchrony's, ETag ``replaces``): create it
        data = state.render_versions(new, local=False, log=statelog.new_log())
        if replaces is not None:
            try:
                old, old_etag = remote.get_bytes(VERSIONS_KEY)
            except RemoteNotFound:
                raise PreconditionFailed("the legacy state file is gone") from None
            if old_etag != replaces:
                raise PreconditionFailed("the legacy state file changed")
            keep_remote_copy(remote, VERSIONS_KEY, old)
            etag = remote.put_bytes(VERSIONS_KEY, data, if_match=replaces)
        else:
            etag = remote.put_bytes(VERSIONS_KEY, data, if_none_match=True)
        statedir.save_remote_cache(data, etag, new)
        return Pos(etag, statelog.log_id(data), 0, len(new))
    changes = statelog.diff(current, new)
    if not changes:
        return pos
    # A healing commit ends the log (``fresh``): every member then reads a new checkpoint,
    # whatever position in the damaged log it held.
    nxt = statelog.new_log() if fresh or statelog.seals(pos, len(changes)) else ""
    if nxt and partial:
        raise _NeedFull()
    data = statelog.render(changes, current, nxt)
    n = pos.n + 1
    remote.put_bytes(statelog.entry_key(pos.log, n), data, if_none_match=True)
    statedir.save_log_entry(pos.log, n, data)
    pos = pos._replace(n=n, rows=pos.rows + len(changes), sealed=bool(nxt), next_log=nxt)
    if nxt:
        try:
            return _checkpoint(remote, statedir, new, pos)
        except _Moved:
            raise PreconditionFailed("the checkpoint changed during the commit") from None
    now = remote.head(VERSIONS_KEY)
    if now is None or now.etag != pos.etag:
        raise PreconditionFailed("the checkpoint changed during the commit")
    return pos


def _read_current(remote, statedir, current: dict, pos: Optional[Pos], jobs: int,
                  tmp_dir) -> tuple[dict, Optional[Pos], Optional[str]]:
    """The state as it is now, from ``current`` at ``pos``; when the state file is gone
    (a `reset --remote` meanwhile), the remote's own listing: a commit never writes a
    state that omits live objects."""
    held = None if pos is None else (dict(current), pos)
    for _attempt in range(MAX_ATTEMPTS):
        try:
            rs = _read(remote, statedir, held, jobs=jobs, tmp_dir=tmp_dir, notes=None)
        except _Moved:
            held = None
            continue
        return rs.files, rs.pos, rs.legacy
    raise RemoteError(f"could not read the remote state: {VERSIONS_KEY} keeps changing")


def repairs(read: RemoteState) -> dict:
    """{path: repaired entry or None} this run found by evidence."""
    return {p: read.files.get(p) for p in read.repairs}


def append_deleted(remote, statedir, rows: list) -> None:
    """Add this run's deletions to the remote deletion log (and its local copy)."""
    if not rows:
        return
    for attempt in range(MAX_ATTEMPTS):
        existing, etag, old = read_deletions(remote)
        if old is not None:
            keep_remote_copy(remote, DELETED_KEY, old)
        out = state.render_log(existing + rows)
        try:
            remote.put_bytes(DELETED_KEY, out, if_match=etag, if_none_match=etag is None)
        except PreconditionFailed:
            time.sleep(_jitter(attempt))
            continue
        statedir.save_deleted_remote(out)
        return
    raise RemoteError(f"could not record {DELETED_KEY}: others keep writing it")
