"""The incremental remote state (s3sync_mirror/statelog.py, docs/state-files.md#the-state-log):
a checkpoint plus a log of small commits, each created only if absent.

The pure part is tested directly; the team tests run the real CLI with the log forced on
(``S3SYNC_CHECKPOINT_FILES=0``: no state is small enough to be rewritten by every commit)
and a short log (``S3SYNC_CHECKPOINT_EVERY=3``), on both remotes.
"""
from __future__ import annotations

import gzip
import hashlib
import random

import pytest

from s3sync_mirror.state import remotelog as statelog
from s3sync_mirror.core.errors import StateError
from s3sync_mirror.core.model import FileState

from .test_crashes import check_after_kill, count_events, prepare, run_faulty  # noqa: F401
from .test_moves import CountingProxy

STATE = ".S3/versions_remote.csv"


def _state(seed: int, n: int) -> dict:
    rnd = random.Random(seed)
    return {f"d{rnd.randrange(5)}/f{i},{'é' if i % 7 == 0 else ''}.csv": FileState(
        hashlib.sha256(f"{seed}-{i}".encode()).hexdigest(), rnd.randrange(10 ** 9),
        rnd.choice(["alice", "bob, the \"second\""]), "2026-11-22T08:00:00Z",
        rnd.choice([-1, 1_700_000_000_000_000_000]), f"etag-{i}") for i in range(n)}


@pytest.mark.parametrize("seed", range(20))
def test_an_entry_carries_exactly_the_difference(seed):
    old = _state(seed, 40)
    new = dict(old)
    rnd = random.Random(seed)
    for p in rnd.sample(sorted(old), 10):
        del new[p]
    for p in rnd.sample(sorted(new), 5):
        new[p] = new[p]._replace(checksum="0" * 64, etag="changed")
    new.update(_state(seed + 100, 3))
    changes = statelog.diff(old, new)
    nxt = statelog.new_log() if seed % 2 else ""
    got, got_next = statelog.parse(statelog.render(changes, old, nxt), "entry")
    assert got == changes and got_next == nxt
    after = dict(old)
    statelog.apply(after, got)
    assert after == new


def _entry(rows: str) -> bytes:
    return gzip.compress(("File,Edited By,Time Edited,Checksum,Size,ETag,Mtime Ns,Change,Ends\n"
                          + rows).encode(), mtime=0)  # the same bytes (test ids) each time


GOOD = "a.csv,alice,2026-11-22T08:00:00Z," + "a" * 64 + ",3,e1,-1,set,\n"


@pytest.mark.parametrize("data, named", [
    (b"not gzip", "not a gzipped"),
    (gzip.compress(b"File,Edited By\n", mtime=0), "header"),
    (_entry(GOOD.replace("a.csv", "../etc/passwd")), "../etc/passwd"),
    (_entry(GOOD.replace("a.csv", ".S3/versions_remote.csv")), ".S3"),
    (_entry(GOOD.replace("a" * 64, "xyz")), "Checksum"),
    (_entry(GOOD.replace(",set,", ",rename,")), "rename"),
    (_entry(GOOD + GOOD), "twice"),
    (_entry(GOOD + GOOD.replace("a.csv", "b.csv").replace(",set,", ",set,checkpoint " + "a" * 32)),
     "Ends"),
    (_entry(GOOD.replace(",set,", ",set,checkpoint")), "Ends"),
    (_entry(""), "no rows"),
])
def test_a_damaged_entry_is_named_not_guessed_at(data, named):
    with pytest.raises(StateError) as exc:
        statelog.parse(data, ".S3/state_log/x/0000000001.csv.gz")
    assert named in str(exc.value) and "0000000001" in str(exc.value)


def test_the_log_ends_at_its_first_gap():
    assert statelog.following([1, 2, 3, 5], 0) == [1, 2, 3]
    assert statelog.following([4, 2, 3], 1) == [2, 3, 4]
    assert statelog.following([3], 1) == []
    assert statelog.entry_number(".S3/state_log/ab/0000000012.csv.gz") == 12
    assert statelog.entry_number(".S3/state_log/ab/0000000012.csv.gz.tmp") is None


def test_when_an_entry_ends_the_log():
    big = statelog.Pos("e", "l", 0, base_files=1_000_000)
    small = statelog.Pos("e", "l", 0, base_files=statelog.CHECKPOINT_FILES)
    assert statelog.seals(small, 1)
    assert not statelog.seals(big, 1)
    assert statelog.seals(big._replace(n=statelog.CHECKPOINT_EVERY - 1), 1)
    assert statelog.seals(big._replace(rows=99_999), 1)
    token = big._replace(n=7).token
    assert statelog.Pos.parse(token)[:3] == ("e", "l", 7)
    assert statelog.Pos.parse("an-old-etag") is None


# -- the team, with the log on -----------------------------------------------------------
@pytest.fixture
def log_mode(monkeypatch):
    monkeypatch.setenv("S3SYNC_CHECKPOINT_FILES", "0")
    monkeypatch.setenv("S3SYNC_CHECKPOINT_EVERY", "3")


def _entries(team) -> dict:
    return {k: v for k, v in team.remote_objects().items() if k.startswith(".S3/state_log/")}


def test_a_commit_adds_one_small_entry_and_the_team_follows(make_team, log_mode):
    team = make_team(("alice", "bob", "carol"))
    alice, bob, carol = team.alice, team.bob, team.carol
    for i in range(30):
        alice.write(f"f{i:02d}.csv", f"v0 {i}")
    alice.sync()
    bob.sync()
    checkpoint = team.remote_objects()[STATE]
    alice.write("f01.csv", "v1 by alice")
    alice.sync()
    assert team.remote_objects()[STATE] == checkpoint, "one edit rewrote the whole state"
    (key, data), = _entries(team).items()
    assert key.endswith("/0000000001.csv.gz") and len(data) < 400
    assert team.remote_state()["f01.csv"]["Checksum"] == \
        hashlib.sha256(b"v1 by alice").hexdigest()
    bob.write("f02.csv", "v1 by bob")
    bob.delete("f03.csv")
    bob.sync()
    carol.sync()
    assert carol.read("f01.csv") == b"v1 by alice" and carol.read("f02.csv") == b"v1 by bob"
    assert not carol.exists("f03.csv")
    # the third entry ends the log: the next checkpoint holds all three commits
    carol.write("f04.csv", "v1 by carol")
    carol.sync()
    state = team.remote_state()
    assert team.remote_objects()[STATE] != checkpoint
    assert "f03.csv" not in state and len(state) == 29
    for m in (alice, bob):
        m.sync()
        assert m.files() == carol.files()


def test_a_teammate_change_downloads_only_the_entry(make_team, log_mode):
    """bob receives the one entry, not the 600-file state: counted through a proxy on
    S3; on the folder remote, his copy of the checkpoint is not rewritten."""
    team = make_team(("alice", "bob"))
    alice, bob = team.alice, team.bob
    for i in range(600):
        alice.write(f"d{i % 20}/f{i}.csv", f"{i}")
    alice.sync()
    bob.sync()
    state_size = len(team.remote_objects()[STATE])
    alice.write("d1/f1.csv", "changed")
    alice.sync()
    if team.kind == "s3":
        proxy = CountingProxy(team.endpoint)
        bob.env["AWS_ENDPOINT_URL"] = proxy.url
        (bob.repo / "s3sync_mirror.yml").write_text(
            team.config_text("bob").replace(team.endpoint, proxy.url))
        bob.sync()
        assert proxy.received < state_size / 4, (proxy.received, state_size)
    else:
        copy = bob.data / ".S3" / "versions_remote.csv"
        before = copy.stat()
        bob.sync()
        after = copy.stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), \
            "bob's copy of the checkpoint was written again"
    assert bob.read("d1/f1.csv") == b"changed"


@pytest.mark.parametrize("writers", [2, 3])
def test_members_racing_for_the_same_entry_lose_no_update(make_team, log_mode, writers):
    import threading

    names = ("alice", "bob", "carol")[:writers]
    team = make_team(names)
    members = [team.members[n] for n in names]
    members[0].write("seed.csv", "seed")
    for m in members:
        m.sync()
    for rnd in range(4):
        for m in members:
            m.write(f"{m.name}/r{rnd}.csv", f"{m.name} {rnd}")
        results = {}
        threads = [threading.Thread(target=lambda m=m: results.__setitem__(
            m.name, m.run("--yes", "--force"))) for m in members]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name, r in results.items():
            assert r.returncode == 0, f"round {rnd}, {name}\n{r.stdout}\n{r.stderr}"
        state = team.remote_state()
        for m in members:
            for k in range(rnd + 1):
                assert f"{m.name}/r{k}.csv" in state, f"round {rnd}: {m.name}/r{k} lost"
    assert set(team.remote_state()) == set(team.remote_files())


def test_reset_remote_removes_the_log_and_the_next_sync_rebuilds(make_team, log_mode):
    team = make_team(("alice", "bob"))
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "a")
    alice.sync()
    alice.write("a.csv", "a2")
    alice.sync()
    assert _entries(team)
    alice.run("reset", "--remote", "--yes", check_rc=0)
    assert not _entries(team) and STATE not in team.remote_objects()
    bob.sync()
    assert bob.read("a.csv") == b"a2" and set(team.remote_state()) == {"a.csv"}


def test_killed_between_the_entry_and_the_checkpoint(make_team, log_mode, monkeypatch,
                                                     count_events):
    """Every entry ends the log (S3SYNC_CHECKPOINT_EVERY=1): kill the run at the first,
    middle and last event of its commit (the entry, then the checkpoint). The re-run, and
    bob, converge; nothing is lost (test_crashes' checks)."""
    monkeypatch.setenv("S3SYNC_CHECKPOINT_EVERY", "1")
    _total, places = count_events()
    hits = [i + 1 for i, w in enumerate(places)
            if "remotestate.py:_checkpoint" in w or "remotestate.py:_write" in w]
    assert hits, "the commit never wrote an entry and a checkpoint"
    for n in sorted({hits[0], hits[len(hits) // 2], hits[-1]}):
        team = make_team()
        expect, versions = prepare(team)
        r = run_faulty(team.alice, {"FAULT_CRASH_AT": str(n)}, "--yes", "--force")
        assert r.returncode in (-9, 0), r.stderr
        check_after_kill(team, expect, versions, f"log mode, kill #{n}")


# -- the baseline's changes (state/baselinechanges.py) ---------------------------------------------
def _age(member, *names) -> None:
    """Files (all, when none named) written a minute ago: their mtimes are final, not
    racy, when synced. (Only those named: setting a time changes the file's ctime.)"""
    import os
    import time

    past = time.time() - 60
    for p in [member.data / n for n in names] or member.data.rglob("*"):
        if p.is_file() and ".S3" not in p.parts:
            os.utime(p, (past, past))


def test_a_big_baseline_is_saved_as_its_changes(make_team, log_mode, monkeypatch):
    """Above S3SYNC_CHECKPOINT_FILES files, a sync that changes a few of them leaves
    versions_local.csv as it is and writes versions_local.changes.csv; once the changes
    outgrow S3SYNC_BASELINE_CHANGES rows, the baseline is written whole again."""
    monkeypatch.setenv("S3SYNC_BASELINE_CHANGES", "3")
    team = make_team(("alice", "bob"))
    alice, bob = team.alice, team.bob
    for i in range(40):
        alice.write(f"f{i:02d}.csv", f"v0 {i}")
    _age(alice)
    alice.sync()
    whole = (alice.data / ".S3" / "versions_local.csv").read_bytes()
    changes = alice.data / ".S3" / "versions_local.changes.csv"
    alice.write("f01.csv", "v1")
    alice.delete("f02.csv")
    _age(alice, "f01.csv")
    alice.sync()
    assert (alice.data / ".S3" / "versions_local.csv").read_bytes() == whole
    assert changes.exists() and len(changes.read_bytes().splitlines()) == 3
    base = alice.baseline()
    assert "f02.csv" not in base and len(base) == 39
    assert base["f01.csv"]["Checksum"] == hashlib.sha256(b"v1").hexdigest()
    assert '"actions": []' in alice.run("status", "--json", check_rc=0).stdout
    bob.sync()
    bob.write("f03.csv", "bob")
    _age(bob, "f03.csv")
    bob.sync()
    alice.sync()  # one more change: 3 rows, still within the limit
    assert alice.read("f03.csv") == b"bob" and changes.exists()
    for i in (4, 5):
        alice.write(f"f{i:02d}.csv", "v1")
    _age(alice, "f04.csv", "f05.csv")
    alice.sync()  # 5 rows: over the limit, written whole
    assert not changes.exists()
    assert (alice.data / ".S3" / "versions_local.csv").read_bytes() != whole
    assert len(alice.baseline()) == 39
    assert '"actions": []' in alice.run("status", "--json", check_rc=0).stdout


def test_changes_of_another_baseline_are_never_applied(make_team, log_mode):
    team = make_team(("alice",))
    alice = team.alice
    for i in range(30):
        alice.write(f"f{i:02d}.csv", f"v0 {i}")
    alice.sync()
    alice.write("f01.csv", "v1")
    alice.sync()
    local = alice.data / ".S3" / "versions_local.csv"
    assert (alice.data / ".S3" / "versions_local.changes.csv").exists()
    local.write_bytes(local.read_bytes())  # rewritten by hand: another file now
    assert alice.baseline()["f01.csv"]["Checksum"] == hashlib.sha256(b"v0 1").hexdigest(), \
        "the changes of the baseline before were applied to this one"
    import json

    r = alice.run("--yes", "--json", check_rc=0)
    # the baseline's f01.csv is v0 again: local v1 = remote v1, just recorded, no conflict
    assert json.loads(r.stdout)["actions"] == [] and alice.read("f01.csv") == b"v1"
    assert alice.baseline()["f01.csv"]["Checksum"] == hashlib.sha256(b"v1").hexdigest()


def test_logs_of_old_checkpoints_are_removed_after_an_hour(make_team, monkeypatch):
    """Every commit of a small state ends its log; the logs of earlier checkpoints stay
    for S3SYNC_KEEP_OLD_LOGS_S seconds (an hour), then the next checkpoint removes them."""
    team = make_team(("alice",))
    alice = team.alice
    for rnd in range(3):
        alice.write("a.csv", f"v{rnd}")
        alice.sync()
    assert len(_entries(team)) == 2  # the first sync created the checkpoint: no entry
    monkeypatch.setenv("S3SYNC_KEEP_OLD_LOGS_S", "0")
    alice.write("a.csv", "v3")
    alice.sync()  # its own entry is in the log of the checkpoint it replaced: gone too
    assert _entries(team) == {}
    assert team.remote_state()["a.csv"]["Checksum"] == hashlib.sha256(b"v3").hexdigest()
