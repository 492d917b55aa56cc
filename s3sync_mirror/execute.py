"""Carry out approved actions. Transfers run in parallel (largest first), deletions after
everything else. A remote file is archived under ``.S3/deleted/`` before it is overwritten
or deleted; a local one is moved to ``.S3/trash/``. Downloads land in ``.S3/tmp/``, are
checked against their SHA-256, and only then renamed into place. Each file gets its own
outcome; a failure never stops the others."""
from __future__ import annotations

import calendar
import itertools
import logging
import queue
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import model as m
from .errors import (ChecksumMismatch, PreconditionFailed, RemoteNotFound,
                     RemoteUnreachable, S3SyncMirrorError)
from .model import Action, FileState, Outcome
from .progress import Progress

log = logging.getLogger("s3sync_mirror")

ARCHIVE = ".S3/deleted"
_TRANSFERS = (m.UPLOAD, m.DOWNLOAD, m.KEEP_BOTH)


class Cancelled(Exception):
    """The run was interrupted (Ctrl-C): the file was left as it was."""


class ChangedDuringSync(S3SyncMirrorError):
    """A file changed between the scan and the moment it was to be replaced or deleted."""


def iso_from_ns(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 1_000_000_000))


def ns_from_iso(text: str) -> Optional[int]:
    try:
        return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) * 1_000_000_000
    except (ValueError, TypeError):
        return None


@dataclass
class Context:
    remote: object  # DataPlatformConnection
    data_dir: Path
    statedir: object  # StateDir
    user: str
    stamp: str  # the run's UTC time, 20261121T140305Z
    run_id: str
    journal: object  # statedir.Journal
    prior_uploads: dict = field(default_factory=dict)  # a killed predecessor's journal
    disk: dict = field(default_factory=dict)  # NFC path -> on-disk relative path
    jobs: int = 8
    progress: Progress = field(default_factory=Progress)


class Executor:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.stop = threading.Event()
        self.unreachable = ""  # once set, actions not yet started are not attempted
        self._tmp_ids = itertools.count()
        self._root_real = os.path.realpath(ctx.data_dir)
        self._safe_dirs: set = set()
        slug = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in ctx.user) or "user"
        self.archive_dir = f"{ARCHIVE}/{ctx.stamp}-{slug}-{ctx.run_id}"
        self.trash_dir = ctx.statedir.trash / f"{ctx.stamp}-{ctx.run_id}"

    # -- paths ---------------------------------------------------------------------------
    def local_path(self, path: str) -> Path:
        """The file's place on disk, refusing any parent that leads out of the data folder
        (a symlinked folder, say)."""
        rel = self.ctx.disk.get(path, path)
        p = self.ctx.data_dir.joinpath(*rel.split("/"))
        parent = os.path.dirname(p)
        if parent not in self._safe_dirs:
            real = os.path.realpath(parent)
            if real != self._root_real and not real.startswith(self._root_real + os.sep):
                raise S3SyncMirrorError(f"{path}: its folder leads outside the data folder "
                                        f"(a symlink?); left alone")
            self._safe_dirs.add(parent)
        return p

    def _advance(self, n: int) -> None:
        if self.stop.is_set():
            raise Cancelled()
        self.ctx.progress.advance(n)

    def _tmp(self) -> Path:
        return self.ctx.statedir.tmp / f"{self.ctx.run_id}-{next(self._tmp_ids)}.part"

    @staticmethod
    def _expect_local(dest: Path, expected: Optional[FileState], path: str) -> None:
        """Refuse to replace or delete a local file that changed since the scan."""
        try:
            st = os.stat(dest, follow_symlinks=False)
        except FileNotFoundError:
            if expected is None:
                return
            raise ChangedDuringSync(f"{path}: deleted locally during this sync; run again")
        if expected is None:
            raise ChangedDuringSync(f"{path}: created locally during this sync; run again")
        if st.st_size != expected.size or st.st_mtime_ns != expected.mtime_ns:
            raise ChangedDuringSync(f"{path}: changed locally during this sync; run again")

    def _trash_copy(self, dest: Path, path: str) -> str:
        """Keep a copy of a local file in the trash before it is replaced (a hard link, so
        the replacement itself stays one atomic rename)."""
        target = self.trash_dir.joinpath(*path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(dest, target)
        except OSError:
            shutil.copy2(dest, target)
        return str(target.relative_to(self.ctx.data_dir))

    def _archive(self, a: Action) -> str:
        """Copy the remote file about to be overwritten or deleted into the archive."""
        key = f"{self.archive_dir}/{a.path}"
        self.ctx.remote.copy(a.path, key, if_match=a.remote.etag or None,
                             size_hint=a.remote.size)
        return key

    # -- the operations ------------------------------------------------------------------
    def _fetch_verified(self, a: Action) -> Path:
        rem = a.remote
        tmp = self._tmp()
        try:
            digest = self.ctx.remote.download(a.path, tmp, advance=self._advance,
                                              size_hint=rem.size, if_match=rem.etag or None)
            if digest != rem.checksum:
                raise ChecksumMismatch(
                    f"{a.path}: the remote content does not match its recorded SHA-256 "
                    f"(got {digest[:12]}..., expected {rem.checksum[:12]}...); not placed")
            edited = ns_from_iso(rem.time_edited)
            if edited is not None:
                os.utime(tmp, ns=(time.time_ns(), edited))
            return tmp
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _place(self, tmp: Path, dest: Path, a: Action) -> tuple[os.stat_result, str]:
        trashed = ""
        try:
            self._expect_local(dest, a.local, a.path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if a.local is not None:
                trashed = self._trash_copy(dest, a.path)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return os.stat(dest), trashed

    def download(self, a: Action) -> Outcome:
        dest = self.local_path(a.path)
        tmp = self._fetch_verified(a)
        st, trashed = self._place(tmp, dest, a)
        rem = a.remote
        state = FileState(rem.checksum, rem.size, rem.edited_by, rem.time_edited,
                          st.st_mtime_ns, rem.etag)
        return Outcome(a, m.DONE, local_state=state, archived_as=trashed,
                       transferred=rem.size)

    def _send(self, path: str, loc: FileState, src: Path, rem: Optional[FileState]):
        """Upload ``src`` to ``path``, expecting the remote to hold ``rem`` (None: nothing).
        A predecessor's finished upload of the same bytes is adopted, not re-sent.
        Returns (remote object, archive key, bytes sent)."""
        remote = self.ctx.remote
        prior = self.ctx.prior_uploads.get(path)
        if prior is not None and prior.checksum == loc.checksum:
            obj = remote.head(path)
            if obj is not None and obj.etag == prior.etag:
                self.ctx.progress.advance(loc.size)
                return obj, "", 0
        archived = ""
        if rem is not None:
            try:
                archived = self._archive(Action(path, m.UPLOAD, "", remote=rem))
            except (RemoteNotFound, PreconditionFailed):
                return self._adopt(path, loc), "", 0
        try:
            obj = remote.upload(path, src, sha256=loc.checksum, size=loc.size,
                                if_match=(rem.etag or None) if rem is not None else None,
                                if_none_match=rem is None, advance=self._advance)
        except PreconditionFailed:
            return self._adopt(path, loc), archived, 0
        return obj, archived, loc.size

    def _adopt(self, path: str, loc: FileState):
        """The remote object is not the one the plan expected. If it holds exactly these
        bytes (a killed run sent them, say), take it as sent; else it changed under us."""
        obj = self.ctx.remote.head(path)
        if obj is not None:
            digest = obj.sha256 or self.ctx.remote.checksum(path, self.ctx.statedir.tmp)
            if digest == loc.checksum:
                return obj
        raise PreconditionFailed(f"{path}: changed on the remote during this sync; run again")

    def upload(self, a: Action) -> Outcome:
        loc = a.local
        src = self.local_path(a.path)
        obj, archived, sent = self._send(a.path, loc, src, a.remote)
        state = FileState(loc.checksum, loc.size, self.ctx.user, iso_from_ns(loc.mtime_ns),
                          loc.mtime_ns, obj.etag)
        self.ctx.journal.add(a.path, state)
        return Outcome(a, m.DONE, local_state=state, remote_state=state._replace(mtime_ns=-1),
                       archived_as=archived, transferred=sent)

    def keep_both(self, a: Action) -> Outcome:
        """The remote version keeps the name; the local one moves to ``conflict_path`` on
        both sides. Nothing is deleted: each version ends up on both sides."""
        loc, rem, c = a.local, a.remote, a.conflict_path
        dest = self.local_path(a.path)
        cdest = self.local_path(c)
        tmp = self._fetch_verified(a)
        try:
            obj, _, sent = self._send(c, loc, dest, None)
            self._expect_local(dest, loc, a.path)
            cdest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(dest, cdest)
            except FileExistsError:
                raise ChangedDuringSync(f"{c}: appeared locally during this sync") from None
            except OSError:
                shutil.copy2(dest, cdest)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        st, cst = os.stat(dest), os.stat(cdest)
        here = FileState(rem.checksum, rem.size, rem.edited_by, rem.time_edited,
                         st.st_mtime_ns, rem.etag)
        theirs = FileState(loc.checksum, loc.size, self.ctx.user, iso_from_ns(loc.mtime_ns),
                           cst.st_mtime_ns, obj.etag)
        self.ctx.journal.add(c, theirs)
        return Outcome(a, m.DONE, local_state=here, transferred=rem.size + sent,
                       extra=((c, theirs, theirs._replace(mtime_ns=-1)),))

    def delete_remote(self, a: Action) -> Outcome:
        try:
            archived = self._archive(a)
        except RemoteNotFound:
            return Outcome(a, m.DONE)  # already gone (a killed run got this far)
        try:
            self.ctx.remote.delete(a.path, if_match=a.remote.etag or None)
        except PreconditionFailed:
            raise PreconditionFailed(f"{a.path}: changed on the remote during this sync; "
                                     f"run again (its copy is archived as {archived})") from None
        return Outcome(a, m.DONE, archived_as=archived)

    def delete_local(self, a: Action) -> Outcome:
        dest = self.local_path(a.path)
        self._expect_local(dest, a.local, a.path)
        target = self.trash_dir.joinpath(*a.path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(dest, target)
        parent = dest.parent
        while parent != self.ctx.data_dir and self.ctx.data_dir in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
        return Outcome(a, m.DONE, archived_as=str(target.relative_to(self.ctx.data_dir)))

    # -- the run -------------------------------------------------------------------------
    def _one(self, a: Action) -> Outcome:
        if self.stop.is_set():
            return Outcome(a, m.SKIPPED, error="interrupted before it started")
        if self.unreachable:
            return Outcome(a, m.FAILED, error=f"{a.path}: not attempted: {self.unreachable}")
        op = {m.UPLOAD: self.upload, m.DOWNLOAD: self.download, m.KEEP_BOTH: self.keep_both,
              m.DELETE_REMOTE: self.delete_remote, m.DELETE_LOCAL: self.delete_local}[a.kind]
        try:
            return op(a)
        except Cancelled:
            return Outcome(a, m.SKIPPED, error="interrupted")
        except (PreconditionFailed, ChangedDuringSync) as exc:
            return Outcome(a, m.FAILED, error=str(exc), retryable=True)
        except RemoteUnreachable as exc:
            self.unreachable = "the remote is unreachable"
            return Outcome(a, m.FAILED, error=str(exc))
        except S3SyncMirrorError as exc:
            return Outcome(a, m.FAILED, error=str(exc))
        except OSError as exc:
            where = exc.filename or a.path
            return Outcome(a, m.FAILED, error=f"{a.path}: {exc.strerror or exc} ({where})")
        except Exception as exc:  # a bug must not lose the other files' outcomes  # noqa: BLE001
            log.debug("unexpected error on %s", a.path, exc_info=True)
            return Outcome(a, m.FAILED, error=f"{a.path}: unexpected {type(exc).__name__}: "
                                              f"{exc}")

    def run(self, actions) -> list[Outcome]:
        """Carry out ``actions``; on Ctrl-C, stop starting new ones, let the running ones
        stop at their next block, and return what happened (then re-raise)."""
        transfers = sorted((a for a in actions if a.kind in _TRANSFERS),
                           key=lambda a: -max(a.local.size if a.local else 0,
                                              a.remote.size if a.remote else 0))
        # Deletions run last (a failed transfer then still leaves the old file), except
        # those clearing the way for one: a file replaced by a folder of the same name, or
        # a folder by a file.
        targets = {p for a in transfers for p in (a.path, a.conflict_path) if p}
        folders = {p.rsplit("/", i)[0] for p in targets for i in range(1, p.count("/") + 1)}

        def in_the_way(path: str) -> bool:
            return path in folders or any(path.startswith(f"{t}/") for t in _prefixes(path)
                                          if t in targets)

        first = [a for a in actions if a.kind not in _TRANSFERS and in_the_way(a.path)]
        deletions = [a for a in actions if a.kind not in _TRANSFERS and not in_the_way(a.path)]
        total = sum((a.local.size if a.kind in (m.UPLOAD, m.KEEP_BOTH) else 0)
                    + (a.remote.size if a.kind in (m.DOWNLOAD, m.KEEP_BOTH) else 0)
                    for a in transfers)
        self.ctx.progress.set_size(total)
        outcomes: list[Outcome] = []
        interrupted = None
        with ThreadPoolExecutor(max_workers=max(1, self.ctx.jobs),
                                thread_name_prefix="transfer") as pool:
            for batch in (first, transfers, deletions):
                if interrupted is not None:
                    outcomes.extend(Outcome(a, m.SKIPPED, error="interrupted") for a in batch)
                    continue
                # Each finished action reports to one queue: waiting costs O(1) per action
                # (waiting on the set of pending futures would cost O(pending)).
                finished: queue.SimpleQueue = queue.SimpleQueue()
                for a in batch:
                    pool.submit(self._one, a).add_done_callback(finished.put)
                left = len(batch)
                while left:
                    try:
                        fut = finished.get(timeout=0.5)
                    except queue.Empty:
                        continue
                    except KeyboardInterrupt as exc:
                        interrupted = exc
                        self.stop.set()
                        continue
                    outcomes.append(fut.result())
                    left -= 1
        self.ctx.progress.close()
        self.ctx.journal.close()
        if interrupted is not None:
            raise Interrupted(outcomes) from None
        return outcomes


def _prefixes(path: str):
    """The folders holding ``path``: "a/b/c" -> "a", "a/b"."""
    parts = path.split("/")
    return ("/".join(parts[:i]) for i in range(1, len(parts)))


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during execution; ``outcomes`` holds what completed, to be recorded."""

    def __init__(self, outcomes):
        super().__init__()
        self.outcomes = outcomes
