"""Carry out approved actions: what each action means as a remote operation and a local
one. A remote file is archived before it is overwritten or deleted; a local one goes to the
trash (pipeline/replica.py). Downloads are checked against their SHA-256 before they are placed. The
order is pipeline/schedule.py's; small transfers may go as one batch (pipeline/batches.py); each file gets its
own outcome, and a failure never stops the others (see docs/stages.md#execute).
Ctrl-C (SIGINT) during execution is caught here: no action starts any more, the transfers in
flight are cancelled on the connection (``interrupt``: they stop at their next block and
give up what they started, temp files and multipart uploads included), and ``run`` raises
Interrupted with the outcomes of what completed, to be recorded."""
from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import time
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import batches, evidence, copies as reuse
from ..core.logs import log
from ..core import layout
from ..core import model as m
from ..core.clock import ns_from_iso
from ..core.paths import conflict_copy_of, conflict_name
from ..core.errors import (ChecksumMismatch, PreconditionFailed, RemoteNotFound, RemoteUnreachable,
                           S3SyncMirrorError)
from .replica import ChangedDuringSync, Replica
from ..core.model import Action, FileState, Outcome
from ..platforms.base import STALE_TMP_SECONDS, Cancelled, DataPlatformConnection, Fetched
from ..ui.progress import Progress
from ..ui.report import INTERRUPTING
from .schedule import schedule
from ..state.clonestate import Journal


__all__ = ["Cancelled", "Context", "Executor", "Interrupted", "INTERRUPTING"]

KEEP_BOTH_NAMES = 20  # conflict names tried before a keep-both gives up

_WAKE = object()  # put in the queue of finished actions by the SIGINT handler


class _Avoiding:
    """The names a conflict copy must not take: tried already, in a state, or here."""

    def __init__(self, tried: set, in_use, replica: Replica):
        self.tried, self.in_use, self.replica = tried, in_use, replica

    def __contains__(self, path) -> bool:
        return path in self.tried or path in self.in_use or self.replica.path(path).exists()


def _edited(rem: FileState) -> Optional[int]:
    """The remote version's edit time, ns (a download's mtime); None when unknown."""
    return rem.mtime_ns if rem.mtime_ns != -1 else ns_from_iso(rem.time_edited)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during execution; ``outcomes`` holds what completed, to be recorded."""

    def __init__(self, outcomes):
        super().__init__()
        self.outcomes = outcomes


@dataclass
class Context:
    remote: DataPlatformConnection
    replica: Replica
    user: str
    journal: Journal
    prior_uploads: dict = field(default_factory=dict)  # a killed predecessor's journal
    jobs: int = 8
    progress: Progress = field(default_factory=Progress)
    local_copies: dict = field(default_factory=dict)  # {SHA-256: (path, state)} here
    remote_copies: dict = field(default_factory=dict)  # {SHA-256: (path, state)} remote
    stamp: str = ""  # the run's UTC stamp, in keep-both names
    in_use: object = frozenset()  # paths a keep-both copy must not take (the three states)

    @property
    def run(self) -> str:
        """This run's name: its folder in the archive and in the trash."""
        return self.replica.run


class Executor:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.stop = threading.Event()
        self.unreachable = ""  # once set, actions not yet started are not attempted
        self._finished: queue.SimpleQueue = queue.SimpleQueue()  # futures, and _WAKE
        self._interrupting = threading.Lock()
        self._interrupted = False  # the remote's transfers were cancelled
        self.ready: dict = {}  # what batches did, for the actions to find (batches.take)

    def interrupt(self) -> None:
        """Ctrl-C: start no action any more, say so, and cancel the transfers in flight
        (they stop at their next block and clean up after themselves). Any thread."""
        self.stop.set()
        with self._interrupting:
            if self._interrupted:
                return
            self._interrupted = True
        self.ctx.progress.close()  # the bar would garble the line below
        try:
            print(INTERRUPTING, file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass
        self.ctx.remote.interrupt()

    def _on_sigint(self, signum, frame) -> None:
        """The SIGINT handler while actions run: only flags, and wakes the main loop (a
        signal handler must not do I/O that may be under way in the main thread)."""
        self.stop.set()
        self._finished.put(_WAKE)  # SimpleQueue.put is reentrant: safe in a handler

    @contextmanager
    def _catching_sigint(self):
        """SIGINT sets ``stop`` (and wakes the main loop) instead of raising
        KeyboardInterrupt at an arbitrary point, while the body runs in the main thread
        and no one else handles SIGINT."""
        installed = False
        if threading.current_thread() is threading.main_thread():
            try:
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    signal.signal(signal.SIGINT, self._on_sigint)
                    installed = True
            except (ValueError, OSError):
                pass
        try:
            yield
        finally:
            if installed:
                signal.signal(signal.SIGINT, signal.default_int_handler)

    def advance(self, n: int) -> None:  # progress; Cancelled once the run is stopping
        if self.stop.is_set():
            raise Cancelled()
        self.ctx.progress.advance(n)

    def archive(self, path: str, rem: FileState) -> str:
        """Keep the remote file about to be overwritten or deleted in the archive, under
        its SHA-256: copied server-side unless that content is archived already (then
        only checked to be still the version the plan saw). Raises RemoteNotFound or
        PreconditionFailed when the object is not that version any more."""
        remote, key = self.ctx.remote, layout.content_key(rem.checksum)
        if remote.head(key) is None:
            try:
                remote.copy(path, key, if_match=rem.etag or None, size_hint=rem.size)
                if not rem.etag:  # copied without a condition: make sure of the content
                    self._check_archived(key, rem)
                return key
            except PreconditionFailed:
                if remote.head(key) is None:  # not a teammate archiving the same bytes
                    raise
        live = remote.head(path)
        if live is None:
            raise RemoteNotFound(f"{path}: not on the remote any more")
        if rem.etag and live.etag != rem.etag:
            raise PreconditionFailed(f"{path}: changed on the remote during this sync")
        return key

    def _check_archived(self, key: str, rem: FileState) -> None:
        """An archive key must hold the content its name says; else it is removed."""
        if self.ctx.remote.checksum(key, self.ctx.replica.layout.tmp) != rem.checksum:
            self.ctx.remote.delete(key)
            raise PreconditionFailed(f"{key}: not the content the remote state records")

    # -- the operations ------------------------------------------------------------------
    def _fetch_verified(self, a: Action):
        """The remote's content of ``a``, verified: a temp file with the remote's edit
        time, or a batch's small file still in memory (``Fetched``: nothing written)."""
        rem, done = a.remote, batches.take(self, batches.DOWN, a.path)
        tmp = self.ctx.replica.tmp() if done is None else done[0]
        try:
            got = batches.result(done[1]) if done is not None else self.ctx.remote.download(
                a.path, tmp, advance=self.advance, size_hint=rem.size, if_match=rem.etag or None)
            digest = got.digest if isinstance(got, Fetched) else got
            if digest != rem.checksum:
                raise ChecksumMismatch(f"{a.path}: the remote content does not match its "
                                       f"recorded SHA-256 (got {digest[:12]}..., expected "
                                       f"{rem.checksum[:12]}...); not placed")
            if isinstance(got, Fetched):
                return got
            edited = _edited(rem)
            if edited is not None:
                os.utime(tmp, ns=(time.time_ns(), edited))
            return tmp
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def download(self, a: Action) -> Outcome:
        replica = self.ctx.replica
        replica.path(a.path)  # refuse an unsafe place before fetching anything
        got = reuse.local_copy(self, a)  # a temp file, or a batch's bytes (Fetched)
        moved = 0 if got is not None else a.remote.size
        if got is None:
            got = self._fetch_verified(a)
        else:
            self.ctx.progress.advance(a.remote.size)
        if isinstance(got, Fetched):  # a new file appears whole under its name at once
            st, trashed = replica.place_bytes(got.data, a.path, a.local, _edited(a.remote))
        else:
            st, trashed = replica.place(got, a.path, a.local)
        return Outcome(a, m.DONE, local_state=a.remote.on_disk(st),
                       archived_as=trashed, transferred=moved)

    def _send(self, path: str, loc: FileState, src: Path, rem: Optional[FileState]):
        """Upload ``src`` to ``path``, expecting the remote to hold ``rem`` (None: nothing).
        A predecessor's finished upload of the same bytes is adopted, not re-sent.
        Returns (remote object, archive key, bytes sent)."""
        remote, done = self.ctx.remote, batches.take(self, batches.UP, path)
        prior = self.ctx.prior_uploads.get(path)
        if done is None and prior is not None and prior.checksum == loc.checksum:
            obj = remote.head(path)
            if obj is not None and obj.etag == prior.etag:
                self.ctx.progress.advance(loc.size)
                return obj, "", 0
        archived = ""
        if rem is None and done is None and (obj := reuse.remote_copy(self, path, loc)):
            self.ctx.progress.advance(loc.size)
            return obj, "", 0
        if rem is not None:
            try:
                archived = self.archive(path, rem)
            except (RemoteNotFound, PreconditionFailed):
                return self.adopt(path, loc, src), "", 0
        try:
            obj = batches.result(done) if done is not None else remote.upload(
                path, src, sha256=loc.checksum, size=loc.size, if_none_match=rem is None,
                if_match=(rem.etag or None) if rem is not None else None, advance=self.advance,
                **batches.scanned(remote, loc))
        except PreconditionFailed:
            return self.adopt(path, loc, src), archived, 0
        return obj, archived, loc.size

    def adopt(self, path: str, loc: FileState, src: Path):
        """The remote object is not the one the plan expected. If it holds exactly these
        bytes (a killed run sent them, say), take it as sent. If it holds a version this
        clone sent earlier (a killed run's upload, then another edit), replace it, archived
        first. Otherwise it is another's change: raise, with what it is."""
        seen = evidence.observed(self.ctx.remote, path, self.ctx.replica.layout.tmp)
        if seen is not None and seen.checksum == loc.checksum:
            return self.ctx.remote.head(path) or self._moved(path, seen)
        prior = self.ctx.prior_uploads.get(path)
        if seen is not None and prior is not None and prior.checksum == seen.checksum:
            self.archive(path, seen)
            return self.ctx.remote.upload(path, src, sha256=loc.checksum, size=loc.size,
                                          if_match=seen.etag or None, advance=self.advance)
        self._moved(path, seen)

    @staticmethod
    def _moved(path: str, seen: Optional[FileState]):
        exc = PreconditionFailed(f"{path}: changed on the remote during this sync; run again")
        exc.observed = (seen,)
        raise exc

    def journaled(self, path: str, loc: FileState, etag: str) -> FileState:
        """The remote state of ``loc`` sent to ``path`` (``etag`` "": about to be sent),
        in the journal until it is committed."""
        there = FileState.sent(loc, self.ctx.user, etag)
        self.ctx.journal.add(path, there)
        return there

    def sent(self, path: str, loc: FileState, etag: str, src: Path):
        """(local state, remote state) of an upload, journaled until it is committed.
        ``src`` is where the sent content is on disk now."""
        there = self.journaled(path, loc, etag)
        return there.on_disk(os.stat(src)), there

    def upload(self, a: Action) -> Outcome:
        loc = a.local
        src = self.ctx.replica.path(a.path)
        obj, archived, sent = self._send(a.path, loc, src, a.remote)
        here, there = self.sent(a.path, loc, obj.etag, src)
        if not loc.same_file(here):
            here = here._replace(mtime_ns=-1)  # edited since the scan: hash it next time
        return Outcome(a, m.DONE, local_state=here, remote_state=there,
                       archived_as=archived, transferred=sent)

    def keep_both(self, a: Action) -> Outcome:
        """The remote version keeps the name, the local one moves to ``conflict_path`` (or,
        when that name is taken on the remote by other bytes, the next free one: the
        outcome's action names where it went)."""
        loc, rem, replica = a.local, a.remote, self.ctx.replica
        dest = replica.path(a.path)
        tmp = self._fetch_verified(a)
        try:
            c, obj, sent = self._place_copy(a, dest)
            theirs_remote = self.journaled(c, loc, obj.etag)  # recorded even if killed now
            cdest = replica.copy_to(a.path, loc, c)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        here = rem.on_disk(os.stat(dest))
        theirs = theirs_remote.on_disk(os.stat(cdest))
        return Outcome(a.with_(conflict_path=c) if c != a.conflict_path else a, m.DONE,
                       local_state=here, transferred=rem.size + sent,
                       extra=((c, theirs, theirs_remote),))

    def _place_copy(self, a: Action, src: Path):
        """(name, remote object, bytes sent) of the local version sent as a new remote file
        under a free conflict name. A name holding these very bytes (a killed run of ours
        sent them) is taken as sent; one holding other bytes (an orphan of a killed run, a
        retry within the same second) is never written over: the next name is tried. What
        a name showed is never filed under ``a.path``: it is not that file."""
        loc, remote, replica = a.local, self.ctx.remote, self.ctx.replica
        tried: set = set()
        avoid = _Avoiding(tried, self.ctx.in_use, replica)
        name = self._sent_before(a, avoid) or a.conflict_path
        for n in range(1, KEEP_BOTH_NAMES + 1):
            tried.add(name)
            obj = remote.head(name)
            if obj is not None:
                seen = evidence.observed(remote, name, replica.layout.tmp)
                if seen is not None and seen.checksum == loc.checksum:
                    return name, obj, 0
            else:
                # journaled before it is sent: a run killed before the reply still
                # leaves its successor the name (pipeline/commit.py adopts it)
                self.journaled(name, loc, "")
                try:
                    obj, _, sent = self._send(name, loc, src, None)
                    return name, obj, sent
                except PreconditionFailed:
                    pass  # written meanwhile by someone else: not ours to replace
            log.info("%s: %s is taken on the remote; trying another name", a.path, name)
            name = conflict_name(a.path, self.ctx.user, self.ctx.stamp or "x", avoid, start=n)
        raise S3SyncMirrorError(
            f"{a.path}: your version could not be kept as a conflict copy: {KEEP_BOTH_NAMES} "
            f"names from {a.conflict_path} on are taken on the remote. Nothing was changed "
            f"here or on the remote; run again, or resolve it with --conflict local/remote")

    def _sent_before(self, a: Action, avoid) -> Optional[str]:
        """The name under which a killed run of this clone sent these very bytes as
        ``a.path``'s conflict copy (its journal), if no state and no file here holds it:
        taken again rather than a second copy made."""
        for name, st in self.ctx.prior_uploads.items():
            if st.checksum == a.local.checksum and name not in avoid and \
                    conflict_copy_of(name, a.path, self.ctx.user):
                return name
        return None

    def delete_remote(self, a: Action) -> Outcome:
        try:
            archived = self.archive(a.path, a.remote)
        except RemoteNotFound:
            return Outcome(a, m.DONE)  # already gone (a killed run got this far)
        try:
            self.ctx.remote.delete(a.path, if_match=a.remote.etag or None)
        except PreconditionFailed:
            raise PreconditionFailed(f"{a.path}: changed on the remote during this sync; "
                                     f"run again (its copy is archived as {archived})") from None
        return Outcome(a, m.DONE, archived_as=archived)

    def delete_local(self, a: Action) -> Outcome:
        return Outcome(a, m.DONE, archived_as=self.ctx.replica.to_trash(a.path, a.local))

    # -- the run -------------------------------------------------------------------------
    def attempt(self, a: Action) -> Outcome:
        op = {m.UPLOAD: self.upload, m.DOWNLOAD: self.download, m.KEEP_BOTH: self.keep_both,
              m.DELETE_REMOTE: self.delete_remote, m.DELETE_LOCAL: self.delete_local,
              m.MOVE_REMOTE: reuse.move_remote, m.MOVE_LOCAL: reuse.move_local}[a.kind]
        try:
            return op(a) if a.kind not in (m.MOVE_REMOTE, m.MOVE_LOCAL) else op(self, a)
        except Cancelled:
            return Outcome(a, m.SKIPPED, error="interrupted")
        except ChangedDuringSync as exc:
            return Outcome(a, m.FAILED, error=str(exc), retryable=True)
        except (PreconditionFailed, RemoteNotFound) as exc:
            # The object is not what the state says: what it really is repairs the state.
            return Outcome(a, m.FAILED, error=str(exc), retryable=True,
                           observed=self._observe(a.path, exc))
        except RemoteUnreachable as exc:  # about the server, so it names no file: add it
            self.unreachable = "the remote is unreachable"
            text = str(exc)
            return Outcome(a, m.FAILED, error=text if text.startswith(f"{a.path}: ")
                           else f"{a.path}: {text}")
        except S3SyncMirrorError as exc:
            return Outcome(a, m.FAILED, error=str(exc))
        except OSError as exc:
            where = exc.filename or a.path
            return Outcome(a, m.FAILED, error=f"{a.path}: {exc.strerror or exc} ({where})")
        except Exception as exc:  # a bug must not lose the other files' outcomes  # noqa: BLE001
            log.debug("unexpected error on %s", a.path, exc_info=True)
            return Outcome(a, m.FAILED, error=f"{a.path}: unexpected {type(exc).__name__}: "
                                              f"{exc}")

    def _observe(self, path: str, exc) -> tuple:
        """What the remote object really is, or () when it cannot be told."""
        if hasattr(exc, "observed"):
            return exc.observed
        try:
            return (evidence.observed(self.ctx.remote, path, self.ctx.replica.layout.tmp),)
        except S3SyncMirrorError:
            return ()

    def run_one(self, a: Action) -> Outcome:
        if self.stop.is_set():
            return Outcome(a, m.SKIPPED, error="interrupted before it started")
        if self.unreachable:
            return Outcome(a, m.FAILED, error=f"{a.path}: not attempted: {self.unreachable}")
        try:
            return self.attempt(a)
        except Cancelled:  # from a look at the remote after a failure, say
            return Outcome(a, m.SKIPPED, error="interrupted")

    def _batch(self, pool: ThreadPoolExecutor, batch: list, outcomes: list) -> bool:
        """Run one batch; returns False when Ctrl-C arrived meanwhile. Each finished action
        reports to one queue: waiting costs O(1) per action (waiting on the set of pending
        futures would cost O(pending)). The SIGINT handler wakes the queue at once."""
        many, batch = batches.split(self, batch)
        if many:
            pool.submit(batches.run, self, many).add_done_callback(self._finished.put)
        for a in batch:
            pool.submit(self.run_one, a).add_done_callback(self._finished.put)
        left = len(batch) + bool(many)
        while left:
            try:
                fut = self._finished.get(timeout=0.5)
            except queue.Empty:
                fut = None
            except KeyboardInterrupt:  # no handler of ours (not the main thread...)
                self.stop.set()
                fut = None
            if self.stop.is_set():
                self.interrupt()
            if fut is None or fut is _WAKE:
                continue
            done = fut.result()
            if isinstance(done, list):  # a batch's outcomes: it counted them
                outcomes.extend(done)
            else:
                outcomes.append(done)
                self.ctx.progress.file_done()
            left -= 1
        return not self.stop.is_set()

    def _clean_remote_tmp(self) -> None:
        """Remove the temp files interrupted or killed runs left on the remote (best
        effort: a remote that cannot be cleaned now is cleaned by a later run)."""
        try:
            removed = self.ctx.remote.clean_tmp(STALE_TMP_SECONDS)
        except (S3SyncMirrorError, OSError) as exc:
            log.debug("could not clean the remote's %s: %s", layout.REMOTE_TMP, exc)
            return
        if removed:
            log.info("removed %d abandoned temp file(s) from the remote's %s", removed,
                     layout.REMOTE_TMP)

    def run(self, actions) -> list[Outcome]:
        """Carry out ``actions``; on Ctrl-C, stop starting new ones, cancel the running
        ones (they stop at their next block), and raise Interrupted with what happened."""
        plan = schedule(actions)
        self.ctx.progress.set_size(plan.total_bytes, len(actions))
        outcomes: list[Outcome] = []
        interrupted = False
        with self._catching_sigint():
            if not self.stop.is_set():
                self._clean_remote_tmp()
            with ThreadPoolExecutor(max_workers=max(1, self.ctx.jobs),
                                    thread_name_prefix="transfer") as pool:
                for batch in plan.batches:
                    if interrupted:
                        outcomes.extend(Outcome(a, m.SKIPPED, error="interrupted")
                                        for a in batch)
                    else:
                        interrupted = not self._batch(pool, batch, outcomes)
            interrupted = interrupted or self.stop.is_set()
        self.ctx.remote.drop_read_ahead()  # what the plan did not take
        self.ctx.progress.close()
        self.ctx.journal.close()
        if interrupted:
            raise Interrupted(outcomes) from None
        return outcomes
