"""The local ``<data_dir>/.S3/`` folder: where each state file lives, and loading and
saving them. The formats themselves are in ``state/csvfiles.py``."""
from __future__ import annotations

import csv
import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Mapping, Optional

from . import (baselinechanges as baselinelog, csvfiles as state, legacy, snapshot as statecache,
               remotelog as statelog, statehead)
from .csvfiles import write_atomic
from ..core.errors import StateError, UsageError
from ..core.model import FileState
from ..core.layout import Layout, RESTORED_BEFORE

def _lock_file(fh) -> None:
    """Take an exclusive, non-blocking lock on an open file (OSError when held)."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


IGNORE_TEMPLATE = """\
# Files the sync ignores on both sides, one gitignore-style pattern per line.
# Examples:
#   *.tmp
#   scratch/
#   .DS_Store
"""


class StateDir:
    """``<data_dir>/.S3``. Nothing here is a data file; ``trash/`` holds user data and is
    never removed by the tool."""

    def __init__(self, data_dir: Path, read_only: bool = False):
        self.data_dir = Path(data_dir)
        self.read_only = read_only  # status and --dry-run: not even a cache is written
        self.layout = lay = Layout(self.data_dir)
        self.root = lay.root
        self.versions_local, self.versions_remote = lay.versions_local, lay.versions_remote
        self.remote_etag, self.journal = lay.remote_etag, lay.journal
        self.deleted_remote, self.deleted_local = lay.deleted_remote, lay.deleted_local
        self.ignore_remote, self.checked_remotes = lay.ignore_file, lay.checked_remotes
        self.tmp, self.trash, self.cache = lay.tmp, lay.trash, lay.cache
        self.foreign_baseline = False  # set when the baseline found was another clone's
        self.legacy_baseline = False  # set when it was S3Synchrony 0.4's, adopted by MD5
        self.last_pos = None  # the remote state's position (statelog.Pos) last read or
        #                       committed by this run

    @property
    def state_files(self) -> list[Path]:
        return self.layout.state_files

    def ensure(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.trash.mkdir(parents=True, exist_ok=True)
        if not self.ignore_remote.exists():
            self.ignore_remote.write_text(IGNORE_TEMPLATE, encoding="utf-8")

    @contextmanager
    def run_lock(self):
        """One sync at a time in this clone. The OS releases the lock when the process
        dies, so a killed run never leaves it behind."""
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.layout.run_lock, "a+", encoding="utf-8")
        try:
            try:
                _lock_file(fh)
            except OSError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise UsageError(f"another sync is running in this clone ({holder}); wait "
                                 f"for it to finish") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            yield
        finally:
            fh.close()

    def clean_tmp(self) -> None:
        """Remove partial downloads a killed run left behind (they never were data). An
        interrupted run removes its own on the way out; this catches a killed one's. The
        run lock is held: no other run of this clone is writing here."""
        if self.tmp.is_dir():
            for entry in os.scandir(self.tmp):
                if entry.is_dir(follow_symlinks=False):
                    import shutil

                    shutil.rmtree(entry.path, ignore_errors=True)
                    continue
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    pass

    def _read(self, path: Path) -> Optional[bytes]:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{path} cannot be read: {exc}") from None

    def _load_versions(self, path: Path) -> Optional[tuple[dict, set]]:
        """Parse a versions CSV, through its snapshot when the CSV is unchanged:
        (states, the owners its rows name)."""
        sig = statecache.signature(path)
        if sig is None:
            return None
        snapshot = self.layout.snapshot(path)
        found = statecache.load(snapshot, sig)
        if found is None:
            data = self._read(path)
            if data is None:
                return None
            found = state.parse_owned(data, str(path))
            if not self.read_only:
                statecache.store(snapshot, sig, *found)
        return found

    def _save_versions(self, path: Path, data: bytes, states: Mapping[str, FileState],
                       owners=()) -> None:
        legacy.keep_local_copy(path)
        state.write_atomic(path, data)
        statecache.store(self.layout.snapshot(path), statecache.signature(path), states,
                         owners)

    def clone_id(self) -> str:
        """This clone's random id (made once, by the first run that writes)."""
        data = self._read(self.layout.clone_id)
        if data is None and not self.read_only:
            state.write_atomic(self.layout.clone_id, os.urandom(8).hex().encode())
            data = self._read(self.layout.clone_id)
        return (data or b"").decode("utf-8", "replace").strip()

    def load_baseline(self, owner: Optional[str] = None) -> dict[str, FileState]:
        """The baseline (``versions_local.csv`` and the changes since it was written
        whole); empty when it belongs to another remote or clone than ``owner`` (a copied
        clone or file: it is no evidence about this one)."""
        try:
            found = self._load_versions(self.versions_local)
        except StateError:
            data = self._read(self.versions_local)
            if not legacy.is_legacy(data):
                raise
            self.legacy_baseline = True  # S3Synchrony's: adopted by MD5 (state/legacy.py)
            return legacy.adopt_baseline(data, self.data_dir, str(self.versions_local))
        if found is None:
            return {}
        states, owners = found
        changes, more = self._baseline_changes()
        if changes:
            statelog.apply(states, changes)
            owners = owners | more
        if owner is not None and owners and owners != {owner}:
            self.foreign_baseline = True
            return {}
        return states

    def _baseline_changes(self) -> tuple[dict, set]:
        path = self.layout.baseline_changes
        data = self._read(path)
        if data is None:
            return {}, set()
        base_of = baselinelog.of(statecache.signature(self.versions_local))
        return baselinelog.parse(data, str(path), base_of)

    def baseline_signature(self) -> Optional[tuple]:
        """Changes whenever the baseline does (the quick check's record holds it)."""
        sig = statecache.signature(self.versions_local)
        return None if sig is None else \
            (*sig, *(statecache.signature(self.layout.baseline_changes) or ()))

    def save_baseline(self, states: Mapping[str, FileState], owner: str = "",
                      before: Optional[Mapping[str, FileState]] = None) -> None:
        """Write the baseline; ``before``: the baseline as loaded, when a big one may be
        saved as its changes only (state/baselinechanges.py)."""
        if before is not None and len(states) > statelog.CHECKPOINT_FILES:
            sig = statecache.signature(self.versions_local)
            changes = {**self._baseline_changes()[0], **statelog.diff(before, states)}
            if sig is not None and not baselinelog.too_many(len(changes), len(states)):
                write_atomic(self.layout.baseline_changes, baselinelog.render(
                    changes, owner, baselinelog.of(sig)))
                return
        self._save_versions(self.versions_local,
                            state.render_versions(states, local=True, owner=owner), states,
                            {owner} if owner and states else ())
        self.layout.baseline_changes.unlink(missing_ok=True)

    def save_baseline_changes(self, changes: Mapping[str, Optional[FileState]],
                              owner: str, total: int) -> None:
        """Record ``changes`` ({path: row, or None: gone}) to a baseline of about
        ``total`` rows that this run did not load (pipeline/delta.py): as the changes
        file while it stays small, else the whole baseline, loaded and written again."""
        sig = statecache.signature(self.versions_local)
        if sig is not None and total > statelog.CHECKPOINT_FILES:
            merged = {**self._baseline_changes()[0], **changes}
            if not baselinelog.too_many(len(merged), total):
                write_atomic(self.layout.baseline_changes, baselinelog.render(
                    merged, owner, baselinelog.of(sig)))
                return
        states = self.load_baseline(owner)
        statelog.apply(states, changes)
        self.save_baseline(states, owner)

    def _checkpoint(self) -> Optional[tuple[str, str]]:
        """(ETag, log id) of the cached checkpoint, when there is one."""
        text = self._read(self.remote_etag)
        if text is None or not self.versions_remote.exists():
            return None
        etag, _, log = text.decode("utf-8").strip().partition("\n")
        return (etag, log) if etag and log else None

    def _log_dir(self, log: str) -> Path:
        return self.layout.remote_log / log

    def _log_files(self, log: str) -> list:
        """[(n, path)] of the cached log entries after the checkpoint, in order, up to
        the first gap."""
        folder = self._log_dir(log)
        found = {}
        if folder.is_dir():
            for e in os.scandir(folder):
                n = statelog.entry_number(e.name)
                if n is not None:
                    found[n] = e.path
        return [(n, found[n]) for n in statelog.following(found, 0)]

    def cached_remote_etag(self) -> Optional[str]:
        """The version of the cached remote state (checkpoint ETag and log position)."""
        found = self._checkpoint()
        if found is None:
            return None
        done = self._log_files(found[1])
        return statelog.Pos(*found, done[-1][0] if done else 0).token

    def load_remote_cached(self):
        """(the cached remote state, its statelog.Pos), or None when there is no cache."""
        found = self._checkpoint()
        states = self._load_versions(self.versions_remote) if found else None
        if states is None:
            return None
        files, pos = dict(states[0]), statelog.Pos(*found, 0, len(states[0]))
        for n, path in self._log_files(pos.log):
            try:
                changes, nxt = statelog.parse(Path(path).read_bytes(), path)
            except StateError:
                break
            statelog.apply(files, changes)
            pos = pos._replace(n=n, rows=pos.rows + len(changes), sealed=bool(nxt),
                               next_log=nxt)
        return files, pos

    def load_remote_copy(self) -> Optional[dict]:
        found = self.load_remote_cached()
        return None if found is None else found[0]

    def save_remote_cache(self, data: bytes, etag: Optional[str],
                          states: Mapping[str, FileState]) -> None:
        """A new checkpoint: its copy, ETag and log id, and no log entries yet."""
        import shutil

        self.remote_etag.unlink(missing_ok=True)
        shutil.rmtree(self.layout.remote_log, ignore_errors=True)
        self._save_versions(self.versions_remote, data, states)
        text = f"{etag or ''}\n{statelog.log_id(data)}\n"
        state.write_atomic(self.remote_etag, text.encode("utf-8"))

    def save_log_entry(self, log: str, n: int, data: bytes) -> None:
        """Log entry ``n`` after the cached checkpoint, as the remote holds it."""
        found = self._checkpoint()
        if found is not None and found[1] == log:
            state.write_atomic(self._log_dir(log) / f"{n:010d}.csv.gz", data)

    def seen_head(self):
        """(the remote state's head as this clone last saw or wrote it, its ETag);
        (None, None) when it saw none (state/statehead.py)."""
        try:
            doc = json.loads((self._read(self.layout.remote_head) or b"{}").decode("utf-8"))
            return statehead.parse(doc["head"].encode("utf-8")), str(doc["etag"])
        except (KeyError, TypeError, ValueError, AttributeError, StateError):
            return None, None

    def save_seen_head(self, data: bytes, etag: str, head=None) -> None:
        """Remember the head this clone saw (``head``: ``data`` parsed, when the caller
        has it; a head that does not parse is not remembered)."""
        if (head if head is not None else statehead.parse(data)) is None:
            return
        doc = {"etag": etag, "head": data.decode("utf-8")}
        write_atomic(self.layout.remote_head, json.dumps(doc).encode("utf-8"))

    def save_deleted_remote(self, data: bytes) -> None:
        legacy.keep_local_copy(self.deleted_remote)
        state.write_atomic(self.deleted_remote, data)

    def append_deleted_local(self, rows: list[dict]) -> None:
        if not rows:
            return
        old = self._read(self.deleted_local)
        if legacy.is_legacy(old):  # S3Synchrony's own log: kept as it was, started anew
            legacy.keep_local_copy(self.deleted_local)
            old = None
        existing = state.parse_log(old, str(self.deleted_local)) if old else []
        state.write_atomic(self.deleted_local, state.render_log(existing + rows))

    def recorded_prefix(self):
        """The remote prefix this clone's state was made for (None: not recorded)."""
        data = self._read(self.layout.remote_prefix)
        return None if data is None else data.decode("utf-8", "replace").strip()

    def record_prefix(self, prefix: str) -> None:
        write_atomic(self.layout.remote_prefix, (prefix + "\n").encode("utf-8"))

    def remote_checked(self, url: str) -> bool:
        """Whether ``url`` was already found to honour conditional writes."""
        data = self._read(self.checked_remotes)
        return data is not None and url in data.decode("utf-8", "replace").splitlines()

    def mark_remote_checked(self, url: str) -> None:
        with open(self.checked_remotes, "a", encoding="utf-8") as f:
            f.write(url + "\n")

    def restored(self) -> dict:
        """{path: SHA-256} of the versions ``restore`` put here and no sync shared yet."""
        for name in (self.layout.restored, self.layout.restored.with_name(RESTORED_BEFORE)):
            try:
                return json.loads(name.read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue
            except ValueError:
                return {}
        return {}

    def _write_restored(self, known: dict) -> None:
        write_atomic(self.layout.restored, json.dumps(known).encode())
        self.layout.restored.with_name(RESTORED_BEFORE).unlink(missing_ok=True)

    def mark_restored(self, done: dict) -> None:
        self._write_restored({**self.restored(), **done})

    def forget_restored(self, paths) -> None:
        known = self.restored()
        left = {p: c for p, c in known.items() if p not in set(paths)}
        if left != known:
            self._write_restored(left)

    def ignore_patterns(self) -> list[str]:
        data = self._read(self.ignore_remote)
        if not data:
            return []
        lines = data.decode("utf-8", errors="replace").splitlines()
        return [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]

    def open_journal(self) -> "Journal":
        return Journal(self.journal)


class Journal:
    """Uploads that completed but are not yet in a committed state, appended one line at a
    time, so that the successor of a killed run can adopt them (after checking the object)
    instead of sending the bytes again. Only ever a hint: a torn line is ignored."""

    HEADER = "File,Edited By,Time Edited,Checksum,Size,ETag\n"

    def __init__(self, path: Path):
        self.path = path
        self._fh = None
        self._lock = threading.Lock()

    @staticmethod
    def _row(path: str, st: FileState) -> list:  # the columns of HEADER
        return [path, st.edited_by, st.time_edited, st.checksum, st.size, st.etag]

    def load(self) -> dict[str, FileState]:
        try:
            with open(self.path, newline="", encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
        except (FileNotFoundError, UnicodeDecodeError):
            return {}
        out = {}
        for row in rows[1:]:
            if len(row) == 6 and len(row[3]) == 64 and row[4].isdigit():
                out[row[0]] = FileState(row[3], int(row[4]), row[1], row[2], -1, row[5])
        return out

    def add(self, path: str, st: FileState) -> None:
        with self._lock:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "a", newline="", encoding="utf-8")
                if self._fh.tell() == 0:
                    self._fh.write(self.HEADER)
            csv.writer(self._fh).writerow(self._row(path, st))
            self._fh.flush()  # reaches the OS: survives a killed process

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def clear(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def keep(self, entries: Mapping[str, FileState]) -> None:
        """Only ``entries`` left (what a commit could not settle yet); none: removed."""
        if not entries:
            return self.clear()
        self.close()
        import io

        out = io.StringIO(newline="")
        out.write(self.HEADER)
        w = csv.writer(out)
        w.writerows(self._row(path, st) for path, st in entries.items())
        write_atomic(self.path, out.getvalue().encode("utf-8"))
