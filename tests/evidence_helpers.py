"""Shared by tests/test_evidence.py and tests/test_interleavings.py: a record of what a
team wrote and deleted (``Tracker``), the real CLI run with ``--json`` (``Run``), a sync
paused or killed from outside once its upload is visible on the remote, and the
invariants every scenario ends with:

* each member's tree equals the remote's (on the paths that member does not ignore or
  leave alone), or the differing path is reported by that member's last run;
* every version anyone wrote is in someone's Data/, a trash, or the remote archive (or,
  at a path everyone ignores, still the remote's object);
* no member lost a file nobody deleted (and the remote still holds it);
* no path fails forever: a third sync exits 0, or 3 with the conflict reported.
"""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from s3sync_mirror.pipeline.scan import ignore_matcher

from .conftest import ROOT, Member

STATE = ".S3"


# -- what is on disk -----------------------------------------------------------------------
def disk_files(data: Path) -> dict:
    """{relative path: bytes} of the regular files under ``data`` (not .S3/), never
    following a symlink (Member.files() reads through them)."""
    out: dict = {}
    if not data.is_dir():
        return out
    stack = [(data, "")]
    while stack:
        folder, rel = stack.pop()
        for entry in os.scandir(folder):
            r = f"{rel}/{entry.name}" if rel else entry.name
            if not rel and entry.name == STATE:
                continue
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                stack.append((Path(entry.path), r))
            elif stat.S_ISREG(st.st_mode):
                out[r] = Path(entry.path).read_bytes()
    return out


def symlinks(data: Path) -> set:
    """Relative paths of the symlinks (and other non-files) under ``data``."""
    out = set()
    if not data.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(data):
        rel_dir = Path(dirpath).relative_to(data).as_posix()
        if rel_dir == STATE or rel_dir.startswith(STATE + "/"):
            continue
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            if not stat.S_ISDIR(st.st_mode) and not stat.S_ISREG(st.st_mode):
                rel = p.relative_to(data).as_posix()
                if rel != STATE:
                    out.add(rel)
    return out


def trash_files(data: Path) -> dict:
    root = data / STATE / "trash"
    out = {}
    for p in sorted(root.rglob("*")) if root.exists() else ():
        if p.is_file() and not p.is_symlink():
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def ignore_patterns(member: Member) -> list:
    p = member.data / STATE / "ignore_remote.txt"
    if not p.exists():
        return []
    return [ln for ln in p.read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def set_ignore(member: Member, patterns: Iterable[str]) -> None:
    p = member.data / STATE / "ignore_remote.txt"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(f"{x}\n" for x in patterns))


def sparse_outside(member: Member) -> Callable[[str], bool]:
    """True for a path outside ``member``'s sparse selection (``.S3/sparse.json``, patterns
    only); always False for a clone that holds everything."""
    from s3sync_mirror.meta.selection import Rule, Selection

    p = member.data / STATE / "sparse.json"
    if not p.exists():
        return lambda path: False
    rules = tuple(Rule(tuple(r.get("patterns") or ()), tuple(r.get("where") or ()))
                  for r in json.loads(p.read_text())["rules"])
    return Selection(rules).outside() if rules else (lambda path: False)


def hidden_for(member: Member) -> Callable[[str], bool]:
    """What ``member``'s runs leave alone: its ignored paths, the paths outside its sparse
    selection, and everything at or under one of its symlinks."""
    ignored = ignore_matcher(ignore_patterns(member))
    outside = sparse_outside(member)
    tops = symlinks(member.data)

    def hide(path: str) -> bool:
        if ignored is not None and ignored(path):
            return True
        if outside(path):
            return True
        parts = path.split("/")
        return any("/".join(parts[:i]) in tops for i in range(1, len(parts) + 1))

    return hide


# -- one run of the real CLI ---------------------------------------------------------------
@dataclass
class Run:
    member: str
    args: tuple
    rc: int
    stdout: str
    stderr: str
    data: Optional[dict] = None

    @property
    def actions(self) -> list:
        return (self.data or {}).get("actions", [])

    @property
    def warnings(self) -> list:
        return (self.data or {}).get("summary", {}).get("warnings", [])

    def done(self, *kinds: str) -> list:
        """Paths of the actions of these kinds that were done (a resolved conflict counts
        as what it was resolved into only through its resolution)."""
        return [a["path"] for a in self.actions if a["status"] == "done"
                and a["action"] in kinds]

    def planned(self, *kinds: str) -> list:
        return [a["path"] for a in self.actions if a["action"] in kinds]

    def deletions(self) -> list:
        """(kind, path) of every deletion this run carried out or planned (a conflict
        resolved by a deletion shows as a conflict: the scenarios that forbid deletions
        resolve none)."""
        return [(a["action"], a["path"]) for a in self.actions
                if a["action"] in ("delete_local", "delete_remote")]

    def unsettled(self) -> set:
        """Paths this run reports as not settled: conflicts and problems, failures."""
        return {a["path"] for a in self.actions if a["status"] != "done"}

    def mentions(self, path: str) -> bool:
        """Whether this run reports ``path`` as not settled: a conflict, a problem or a
        failure among its actions, or a warning naming it."""
        return path in self.unsettled() or any(path in w for w in self.warnings) \
            or (self.data is None and path in self.stdout) or path in self.stderr

    def __str__(self) -> str:
        return (f"{self.member} {' '.join(self.args)} -> rc={self.rc}\n"
                f"stdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}")


def no_traceback(run: Run) -> None:
    for text in (run.stdout, run.stderr):
        assert "Traceback" not in text and "internal error" not in text, str(run)


def cli(member: Member, *args, timeout: float = 180) -> Run:
    proc = member.run(*args, timeout=timeout)
    data = None
    if "--json" in args:
        line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        try:
            data = json.loads(line) if line else None
        except ValueError:
            data = None
    run = Run(member.name, args, proc.returncode, proc.stdout, proc.stderr, data)
    no_traceback(run)
    return run


def popen_sync(member: Member, *args) -> subprocess.Popen:
    """The member's CLI sync in the background (no terminal), to pause or kill it."""
    env = {**os.environ, **member.env}
    env.setdefault("PYTHONPATH", str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "s3sync_mirror", *args], cwd=member.repo,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def remote_holds(team, key: str, content: bytes) -> bool:
    """Whether the remote object ``key`` holds exactly ``content`` now."""
    if team.kind == "local":
        p = team.remote_root / team.prefix / key
        try:
            return p.read_bytes() == content
        except OSError:
            return False
    import botocore.exceptions

    s3 = getattr(team, "_poll_client", None)
    if s3 is None:
        s3 = team._poll_client = team._s3()
    try:
        return s3.get_object(Bucket=team.bucket, Key=f"{team.prefix}/{key}")["Body"].read() \
            == content
    except botocore.exceptions.ClientError:
        return False


def wait_for(pred: Callable[[], bool], proc: subprocess.Popen, timeout: float = 120,
             what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the sync ended (rc={proc.returncode}) before {what}\n"
                                 f"{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.0005)


def stop_when_visible(team, proc: subprocess.Popen, key: str, content: bytes) -> None:
    """SIGSTOP ``proc`` as soon as the remote holds ``content`` at ``key``; on a folder
    remote, never while it holds the remote's lock (others would wait for it to go stale)."""
    wait_for(lambda: remote_holds(team, key, content), proc, what=f"{key} is visible")
    stop(proc)
    if team.kind == "local":
        lock = team.remote_root / team.prefix / STATE / "lock"
        for _ in range(2000):
            if not lock.exists():
                return
            os.kill(proc.pid, signal.SIGCONT)
            time.sleep(0.0005)
            stop(proc)
        raise AssertionError("the sync holds the remote folder's lock whenever it is stopped")


def stop(proc: subprocess.Popen) -> None:
    """SIGSTOP ``proc`` and wait until every thread of it has stopped (the signal is
    delivered asynchronously)."""
    os.kill(proc.pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = []
        for task in Path(f"/proc/{proc.pid}/task").iterdir():
            try:
                states.append(task.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0])
            except OSError:
                continue
        if states and all(s in "Tt" for s in states):
            return
        time.sleep(0.0002)
    raise AssertionError(f"process {proc.pid} did not stop")


def finish(proc: subprocess.Popen, timeout: float = 180) -> tuple:
    out, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in err and "internal error" not in err, err
    return proc.returncode, out, err


# -- the record of a scenario --------------------------------------------------------------
@dataclass
class Tracker:
    """What a team did: every version written, every path deliberately deleted, every path
    each member ever had; and the runs, for the messages."""

    team: object
    members: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)  # content -> "who wrote what where"
    deleted: set = field(default_factory=set)
    had: dict = field(default_factory=dict)
    runs: list = field(default_factory=list)
    counter: int = 0

    def __post_init__(self):
        if not self.members:
            self.members = dict(self.team.members)
        for name in self.members:
            self.had.setdefault(name, set())

    def add_member(self, member: Member) -> Member:
        self.members[member.name] = member
        self.had.setdefault(member.name, set())
        self.note(member)
        return member

    # -- changes ---------------------------------------------------------------------------
    def content(self, who: str, rel: str, size: int = 0) -> bytes:
        self.counter += 1
        text = f"{who} wrote {rel} #{self.counter}\n".encode()
        if size > len(text):
            text = text + b"x" * (size - len(text))
        return text

    def write(self, member: Member, rel: str, data: Optional[bytes] = None,
              size: int = 0) -> bytes:
        if data is None:
            data = self.content(member.name, rel, size)
        member.write(rel, data)
        self.versions[data] = f"{member.name}:{rel}"
        self.had[member.name].add(rel)
        return data

    def wrote(self, member: Member, rel: str, data: bytes) -> None:
        """Register a version written some other way (a move, cp -p, os.utime games)."""
        self.versions[data] = f"{member.name}:{rel}"
        self.had[member.name].add(rel)

    def delete(self, member: Member, rel: str) -> None:
        member.delete(rel)
        self.deleted.add(rel)

    def note(self, member: Member) -> None:
        self.had[member.name] |= set(disk_files(member.data))

    def copies(self, remote: Optional[dict] = None) -> Counter:
        """Every content kept anywhere, with how many places hold it (``remote``: the
        remote's objects, when the caller has them already)."""
        found: Counter = Counter()
        for m in self.members.values():
            found.update(disk_files(m.data).values())
            found.update(trash_files(m.data).values())
        objects = self.team.remote_objects() if remote is None else remote
        found.update(v for k, v in objects.items()
                     if not k.startswith(".S3/") or k.startswith((".S3/deleted/", ".S3/archive/")))
        return found

    def overwriting(self, name: str, rel: str, remote: Optional[dict] = None) -> None:
        """The member is about to overwrite or delete ``rel``: a version that exists
        nowhere else never left their disk, and is theirs to destroy."""
        p = self.members[name].data / rel
        if not p.is_file() or p.is_symlink():
            return
        old = p.read_bytes()
        if old in self.versions and self.copies(remote)[old] <= 1:
            self.versions.pop(old, None)

    # -- runs ------------------------------------------------------------------------------
    def cli(self, member: Member, *args, rc=None) -> Run:
        run = cli(member, *args)
        self.runs.append(run)
        if rc is not None:
            ok = rc if isinstance(rc, (tuple, set, list)) else (rc,)
            assert run.rc in ok, str(run)
        self.note(member)
        return run

    def sync(self, member: Member, *args, rc=None) -> Run:
        return self.cli(member, "--yes", "--json", *args, rc=rc)

    def sync_all(self, *args, rc=None, order=None) -> dict:
        return {n: self.sync(self.members[n], *args, rc=rc) for n in order or self.members}

    def settle(self, conflict: Optional[str] = "both", rounds: int = 2,
               order=None) -> dict:
        """Every member syncs ``rounds`` times (``--yes``, ``--conflict``), then once more:
        that third run must exit 0, or 3 reporting a conflict; never fail (exit 1).
        Returns the last run of each member."""
        extra = ("--conflict", conflict) if conflict else ()
        for _ in range(rounds):
            self.sync_all(*extra, order=order)
        last = self.sync_all(*extra, order=order)
        for name, run in last.items():
            assert run.rc in (0, 3), f"a path fails forever:\n{run}"
            if run.rc == 3:
                assert run.unsettled(), f"exit 3 with nothing reported:\n{run}"
            assert "Not a directory" not in run.stdout + run.stderr, str(run)
        return last

    # -- the invariants --------------------------------------------------------------------
    def everything(self, live: bool = False) -> set:
        """Every content kept: members' Data/ and trash, the remote archive (and with
        ``live`` the remote's current objects too)."""
        kept = set()
        for m in self.members.values():
            kept.update(disk_files(m.data).values())
            kept.update(trash_files(m.data).values())
        objects = self.team.remote_objects()
        kept.update(v for k, v in objects.items()
                    if live or k.startswith(".S3/deleted/"))
        return kept

    def lost_versions(self, live: bool = False) -> list:
        """Versions written that are nowhere kept (``live``: not even as a current remote
        object, i.e. gone for good)."""
        kept = self.everything(live)
        return [where for content, where in self.versions.items() if content not in kept]

    def check(self, last: Optional[dict] = None, *, remote_files: Optional[dict] = None) -> None:
        """All four invariants (``last``: each member's last run, from ``settle``); the
        trees first, so that a version merely not fetched shows as that."""
        remote = self.team.remote_files() if remote_files is None else remote_files
        hides = {n: hidden_for(m) for n, m in self.members.items()}
        for name, m in self.members.items():
            hide = hides[name]
            mine = {p: c for p, c in disk_files(m.data).items() if not hide(p)}
            theirs = {p: c for p, c in remote.items() if not hide(p)}
            differ = sorted(p for p in set(mine) | set(theirs) if mine.get(p) != theirs.get(p))
            if last is not None and name in last:
                unreported = [p for p in differ if not last[name].mentions(p)]
            else:
                unreported = differ
            assert not unreported, (
                f"{name}'s tree differs from the remote's at {unreported}, and its last run "
                f"does not report them\nhere: {_short(mine, unreported)}\n"
                f"remote: {_short(theirs, unreported)}")
        # After the tree check, a version still only on the remote is at a path every
        # member ignores: kept, not lost.
        lost = self.lost_versions(live=True)
        assert not lost, f"versions lost (in no Data/, trash, archive or object): {lost}"
        for name, m in self.members.items():
            outside = sparse_outside(m)  # a narrowed selection trashed them
            gone = sorted(p for p in self.had[name] - self.deleted
                          if not os.path.lexists(m.data / p) and not outside(p))
            assert not gone, f"{name} lost files nobody deleted: {gone}"
        everyone_had = set().union(*self.had.values())
        for p in sorted(everyone_had - self.deleted):
            holders = [n for n in self.members if p in self.had[n] and not hides[n](p)]
            if holders:
                assert p in remote, f"{p} (had by {holders}) vanished from the remote"


def _short(files: dict, paths) -> dict:
    return {p: files.get(p, b"<absent>")[:60] for p in paths}
