"""The long random soak (issue 22): five members (alice, bob, carol, dave, erin) share one
remote (the folder remote, and S3 over HTTP) and, for a time budget, a seeded random driver
makes them edit (new content; some edits keep the size and the old mtime), delete, move,
``restore PATH --version N`` an earlier version, change their sparse selection
(``sparse set/add/off``; alice always holds everything), sync through the real CLI with
``--conflict both``, ``local`` or ``remote``, and SIGKILL a sync mid-run (from outside after
a random delay, or from inside at a random event through tests/faultrunner.py). The
``Tracker`` (tests/evidence_helpers.py) is the ledger of every version ever written and
every path deliberately deleted; a version its member overwrote or deleted before it ever
left their disk is theirs to destroy and leaves the ledger.

At the end every member syncs until quiet (at most 3 rounds), then the four invariants:

1. recoverable: every version in the ledger is in some member's Data/, a trash, the remote
   archive, or live on the remote; one that is in no Data/ is listed by some member's
   ``log``, and a sample of those is brought back byte-identical by ``restore --to``;
2. nothing deleted that nobody deleted (every member keeps what it had, the remote holds it);
3. nothing stuck: each member's final sync exits 0, or 3 reporting the conflict;
4. all converge: each member's tree (on what its sparse selection holds) equals the
   remote's.

``S3SYNC_SOAK_SECONDS`` is the budget per remote (default 10: with the settling and the
checks the file takes under a minute on 2 CPUs; CI's ``--dist loadfile`` runs both
remotes on one worker); ``S3SYNC_SOAK_SEED`` the seed (default 22, S3 adds 1000); every
failure names both, and the step
it stopped at: ``S3SYNC_SOAK_SEED=<seed> S3SYNC_SOAK_STEPS=<steps>`` replays the same choices
(the kills' timing still varies). The counts go to the reliability report: "soak rounds"
(random steps), "soak syncs", "soak kills", "soak versions checked", "soak versions lost".
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import time

from .conftest import RELIABILITY
from .evidence_helpers import Tracker, cli, disk_files, popen_sync, sparse_outside
from .test_crashes import run_faulty

MEMBERS = ("alice", "bob", "carol", "dave", "erin")
PATHS = ("a.csv", "b.csv", "notes.txt", "raw/r1.csv", "raw/r2.bin", "raw/deep/r3.csv",
         "docs/d1.txt", "docs/d2.csv")
SPARSE = (("set", "raw/"), ("set", "docs/", "*.csv"), ("set", "raw/deep/", "notes.txt"),
          ("add", "docs/"), ("add", "a.csv"), ("off",))
CONFLICT = ("both", "both", "both", "local", "remote")
SECONDS = float(os.environ.get("S3SYNC_SOAK_SECONDS", "10"))
SEED = int(os.environ.get("S3SYNC_SOAK_SEED", "22"))
STEPS = int(os.environ.get("S3SYNC_SOAK_STEPS", "0"))  # >0: exactly this many, no budget
SIZE = 64
OLD_NS = 1_500_000_000 * 10**9
WEIGHTS = {"edit": 30, "delete": 6, "move": 6, "restore": 5, "sparse": 4, "sync": 30,
           "kill": 8}


class Soak:
    def __init__(self, team, seed: int):
        self.team = team
        self.rng = random.Random(seed)
        self.seed = seed
        self.t = Tracker(team)
        self.story: list = []
        self.steps = self.kills = self.syncs = 0
        self._remote = None  # the remote's objects, until the next run changes them

    # -- helpers -----------------------------------------------------------------------
    def remote(self) -> dict:
        if self._remote is None:
            self._remote = self.team.remote_objects()
        return self._remote

    def changed_remote(self) -> None:
        self._remote = None

    def member(self):
        return self.t.members[self.rng.choice(MEMBERS)]

    def held(self, m, path: str) -> bool:
        return not sparse_outside(m)(path)

    def fail(self, message: str) -> AssertionError:
        tail = "\n".join(self.story[-80:])
        return AssertionError(
            f"soak seed {self.seed} ({self.team.kind} remote), stopped after step "
            f"{self.steps}: replay with S3SYNC_SOAK_SEED={self.seed} "
            f"S3SYNC_SOAK_STEPS={self.steps}\n{message}\nlast steps:\n{tail}")

    def log(self, text: str) -> None:
        self.story.append(f"{self.steps:4d} {text}")

    # -- the steps -----------------------------------------------------------------------
    def step(self) -> None:
        self.steps += 1
        self.team.advance_clock(1)
        kind = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        getattr(self, kind)(self.member())

    def edit(self, m) -> None:
        rel = self.rng.choice(PATHS)
        p = m.data / rel
        keep_stat = p.is_file() and self.rng.random() < 0.3
        before = p.stat() if keep_stat else None
        self.t.overwriting(m.name, rel, self.remote())
        self.t.write(m, rel, size=SIZE)
        if before is not None:  # same size, the old mtime: only ctime and inode tell it
            os.utime(p, ns=(before.st_atime_ns, before.st_mtime_ns))
        elif self.rng.random() < 0.2:
            os.utime(p, ns=(OLD_NS, OLD_NS))
        self.log(f"{m.name} edits {rel}{' (size and mtime kept)' if before else ''}")

    def delete(self, m) -> None:
        files = sorted(disk_files(m.data))
        if not files:
            return
        rel = self.rng.choice(files)
        self.t.overwriting(m.name, rel, self.remote())
        self.t.delete(m, rel)
        self.log(f"{m.name} deletes {rel}")

    def move(self, m) -> None:
        files = sorted(disk_files(m.data))
        if not files:
            return
        src, dst = self.rng.choice(files), self.rng.choice(PATHS)
        if src == dst:
            return
        self.t.overwriting(m.name, dst, self.remote())
        (m.data / dst).parent.mkdir(parents=True, exist_ok=True)
        os.replace(m.data / src, m.data / dst)
        self.t.deleted.add(src)
        self.t.had[m.name].add(dst)
        self.log(f"{m.name} moves {src} -> {dst}")

    def restore(self, m) -> None:
        rel = self.rng.choice(PATHS)
        r = self.t.cli(m, "log", rel, "--json", "-n", "0")
        if r.rc != 0:  # never in the history: named, exit 2 (under --json, in its "error")
            if r.rc != 2 or rel not in r.stdout + r.stderr:
                raise self.fail(f"log {rel} failed:\n{r}")
            self.log(f"{m.name} log {rel}: not in the history")
            return
        # a deletion is listed as a version of its own (its content is the version
        # before it), which `restore --version` refuses: pick one that holds content
        versions = [v for v in json.loads(r.stdout)["versions"] if v["event"] != "deleted"]
        if not versions:
            return
        v = self.rng.choice(versions)
        r = self.t.cli(m, "restore", rel, "--version", str(v["version"]))
        if r.rc != 0:
            raise self.fail(f"{m.name}: restore {rel} --version {v['version']} (listed by "
                            f"log) failed:\n{r}")
        self.t.had[m.name].add(rel)
        self.log(f"{m.name} restores {rel} v{v['version']} ({v['where']})")

    def sparse(self, m) -> None:
        if m.name == "alice":  # one member always holds everything
            return
        args = self.rng.choice(SPARSE)
        r = self.t.cli(m, "sparse", *args)
        # refused (exit 2, nothing changed): narrowing over a file with unsynced changes,
        # and `add` in a clone that holds everything
        refused = ("Sync first", "this clone holds every file")
        if r.rc not in (0, 2) or (r.rc == 2 and not any(x in r.stderr for x in refused)):
            raise self.fail(f"{m.name}: sparse {' '.join(args)}:\n{r}")
        self.log(f"{m.name} sparse {' '.join(args)} -> rc {r.rc}")

    def sync(self, m) -> None:
        conflict = self.rng.choice(CONFLICT)
        r = self.t.sync(m, "--force", "--conflict", conflict)
        self.syncs += 1
        self.changed_remote()
        self.log(f"{m.name} sync --conflict {conflict} -> rc {r.rc}: "
                 f"{[(a['path'], a['action'], a['status']) for a in r.actions]}")

    def kill(self, m, inside_at: int | None = None) -> None:
        """A sync SIGKILLed mid-run: from outside after a random delay, or from inside
        at a random event (tests/faultrunner.py); ``inside_at`` forces the latter."""
        args = ("--yes", "--force", "--json", "--conflict", "both")
        if inside_at is None and self.rng.random() < 0.5:
            delay = self.rng.uniform(0.05, 0.8)
            proc = popen_sync(m, *args)
            deadline = time.monotonic() + delay
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            killed = proc.poll() is None
            if killed:
                os.kill(proc.pid, signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
            how = f"after {delay:.2f} s"
        else:
            at = inside_at or self.rng.randint(1, 2500)
            r = run_faulty(m, {"FAULT_CRASH_AT": str(at)}, *args)
            killed, err = r.returncode == -9, r.stderr
            how = f"at event {at}"
        if not killed and ("Traceback" in err or "internal error" in err):
            raise self.fail(f"{m.name}'s sync (to be killed {how}) crashed:\n{err}")
        self.kills += killed
        self.t.note(m)
        self.changed_remote()
        self.log(f"{m.name} sync SIGKILLed {how}" if killed
                 else f"{m.name} sync (to be killed {how}) ended first")

    def ensure_exercised(self) -> None:
        """A short budget (a slow machine, or chance) can end with no sync killed: then
        a member edits a file and a sync is killed early inside (the first few hundred
        counted events of a run that has an upload to do), until one is; and one with no
        sync has a member sync."""
        for _ in range(5):
            if self.kills:
                break
            self.steps += 1
            m = self.member()
            self.edit(m)
            self.kill(m, inside_at=self.rng.randint(50, 400))
        if not self.syncs:
            self.steps += 1
            self.sync(self.member())

    # -- the end ---------------------------------------------------------------------------
    def settle(self) -> dict:
        """Every member syncs until a round changes nothing (at most 3 rounds)."""
        last = {}
        for n in range(1, 4):
            last = {name: self.t.sync(m, "--force", "--conflict", "both")
                    for name, m in self.t.members.items()}
            self.log(f"final round {n}: " + ", ".join(
                f"{name} rc {r.rc} {len([a for a in r.actions if a['status'] == 'done'])} "
                f"done" for name, r in last.items()))
            for name, r in last.items():  # what each did, for a failure's story
                if r.actions:
                    self.log(f"  {name}: {[(a['path'], a['action'], a['status']) for a in r.actions]}")
            if all(r.rc == 0 and not r.done(*ACTIONS) for r in last.values()):
                break
        return last

    def check(self) -> None:
        last = self.settle()
        for name, r in last.items():  # 3. nothing stuck
            if r.rc not in (0, 3) or (r.rc == 3 and not r.unsettled()):
                raise self.fail(f"{name}'s final sync is stuck:\n{r}")
        versions = dict(self.t.versions)
        RELIABILITY["soak versions checked"] += len(versions)
        lost = self.t.lost_versions(live=True)
        RELIABILITY["soak versions lost"] += len(lost)
        try:  # 4. converge, 1. kept somewhere, 2. nothing deleted nobody deleted
            self.t.check(last)
        except AssertionError as exc:
            raise self.fail(str(exc)) from None
        # 1. one in no Data/ is listed by someone's log, and restore brings it back
        on_disk = set()
        for m in self.t.members.values():
            on_disk.update(disk_files(m.data).values())
        listed: dict = {}
        for name, m in self.t.members.items():
            r = self.t.cli(m, "log", "--json", "-n", "0", rc=0)
            for v in json.loads(r.stdout)["versions"]:
                if v["event"] != "deleted":
                    listed.setdefault(v["checksum"], (name, v))
        unlisted = [where for content, where in versions.items() if content not in on_disk
                    and hashlib.sha256(content).hexdigest() not in listed]
        if unlisted:
            raise self.fail(f"versions kept but listed by nobody's log: {unlisted}")
        away = [c for c in versions if c not in on_disk]
        for content in self.rng.sample(away, min(8, len(away))):
            name, v = listed[hashlib.sha256(content).hexdigest()]
            to = self.team.tmp / "restored" / f"{self.steps}-{v['checksum'][:12]}"
            m = self.t.members[name]
            self.t.cli(m, "restore", v["path"], "--version", str(v["version"]), "--to",
                       str(to), rc=0)
            got = (to / v["path"]).read_bytes()
            if got != content:
                raise self.fail(f"restore {v['path']} --version {v['version']} gave other "
                                f"bytes than {versions[content]}")


ACTIONS = ("upload", "download", "delete_local", "delete_remote", "move_local", "move_remote",
           "conflict")


def test_soak_five_members_random_steps_and_kills(make_team, remote_kind):
    team = make_team(MEMBERS)
    seed = SEED + (0 if remote_kind == "local" else 1000)
    soak = Soak(team, seed)
    for rel in PATHS[:5]:
        soak.t.write(team.alice, rel, size=SIZE)
    for name in MEMBERS:
        soak.t.sync(team.members[name], rc=0)
    deadline = time.monotonic() + SECONDS
    try:
        while (soak.steps < STEPS) if STEPS else (time.monotonic() < deadline):
            soak.step()
        soak.ensure_exercised()
        soak.check()
    except AssertionError as exc:
        if str(exc).startswith("soak seed"):
            raise
        raise soak.fail(str(exc)) from None
    RELIABILITY["soak rounds"] += soak.steps
    RELIABILITY["soak syncs"] += soak.syncs
    RELIABILITY["soak kills"] += soak.kills
    print(f"\nsoak {remote_kind} seed {seed}: {soak.steps} steps, {soak.syncs} syncs, "
          f"{soak.kills} kills, {len(soak.t.versions)} versions checked, 0 lost")
    assert soak.kills > 0 and soak.syncs > 0, soak.fail("the soak never killed or synced")
