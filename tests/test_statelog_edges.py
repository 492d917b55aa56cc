"""The state log's edges, found in review (state/remotelog.py, state/remotestate.py, state/baselinechanges.py):
a checkpoint whose rows come back, a carriage return in a user name, a chmod of the
baseline, damaged files named with their fix."""
from __future__ import annotations

import json

import pytest

STATE = ".S3/versions_remote.csv"


@pytest.fixture
def log_mode(monkeypatch):
    monkeypatch.setenv("S3SYNC_CHECKPOINT_FILES", "0")
    monkeypatch.setenv("S3SYNC_CHECKPOINT_EVERY", "3")


def test_a_checkpoint_whose_bytes_come_back_does_not_replay_its_old_log(make_team):
    """Default settings (a small state: every commit ends its log). alice adds y.csv,
    then deletes it: the checkpoint's bytes are again those of the one before y.csv, so
    its log id is the same, and that log still holds the sealed entry that added y.csv
    (logs of old checkpoints stay an hour; the current checkpoint's log is never tidied).
    Every reader replays it and puts C(seed+y) back, whose log replays the removal and
    puts C(seed) back, ... : every sync of every member fails with "keeps changing"
    (for an hour), and the checkpoint flips on every run."""
    team = make_team(("alice", "bob"))
    alice, bob = team.alice, team.bob
    alice.write("seed.csv", "seed")
    alice.sync()
    before = team.remote_objects()[STATE]
    alice.write("y.csv", "y")
    alice.sync()
    alice.delete("y.csv")
    alice.sync()
    assert team.remote_objects()[STATE].split(b"\n")[1:] == before.split(b"\n")[1:]
    r = bob.run("--yes")
    assert r.returncode == 0, f"bob cannot sync:\n{r.stdout}\n{r.stderr}"
    assert not bob.exists("y.csv")
    assert "y.csv" not in team.remote_state(), \
        "the old log of an identical checkpoint is replayed: a deleted file is back"


def test_a_user_name_with_a_carriage_return_does_not_wedge_the_log(make_team, log_mode):
    """state/csvfiles.py quotes a row holding a carriage return (test_state's
    test_a_carriage_return_in_a_field_round_trips: "a user name, say"); statelog.render
    does not, so the entry cannot be parsed by anyone, ever (entries are never changed):
    every member's every sync fails on it."""
    team = make_team(("alice", "bob"))
    alice, bob = team.alice, team.bob
    alice.write("seed.csv", "seed")
    alice.sync()
    bob.sync()
    (alice.repo / "s3sync_mirror.yml").write_text(
        team.config_text("alice").replace("user: alice", 'user: "al\\rice"'))
    alice.write("a.csv", "by al-r-ice")
    alice.sync()
    r = bob.run("--yes", "--json")
    assert r.returncode == 0, f"bob cannot sync:\n{r.stdout}\n{r.stderr}"
    assert bob.read("a.csv") == b"by al-r-ice"


def _big_baseline(alice) -> None:
    """40 files synced a minute ago (mtimes final), then one edit saved as a change."""
    import os
    import time

    for i in range(40):
        alice.write(f"f{i:02d}.csv", f"v0 {i}")
    past = time.time() - 60
    for p in alice.data.glob("f*.csv"):
        os.utime(p, (past, past))
    alice.sync()


def test_a_chmod_of_the_baseline_does_not_drop_its_changes(make_team, log_mode):
    """versions_local.changes.csv names its versions_local.csv by (size, mtime, ctime,
    inode): a chmod (or anything else that moves only the ctime: chown, a new hard link,
    an ACL) makes the changes silently "another baseline's", and the baseline falls back
    to its last whole write. alice's own edit of f01.csv is then forgotten: bob's later
    edit of it is a false conflict instead of a download."""
    import os

    team = make_team(("alice", "bob"))
    alice, bob = team.alice, team.bob
    _big_baseline(alice)
    bob.sync()
    alice.write("f01.csv", "v1 by alice")
    alice.sync()
    assert (alice.data / ".S3" / "versions_local.changes.csv").exists()
    bob.sync()
    bob.write("f01.csv", "v2 by bob")
    bob.sync()
    local = alice.data / ".S3" / "versions_local.csv"
    os.chmod(local, 0o640)
    os.chmod(local, 0o644)  # same mode as before: only the ctime moved
    r = alice.run("--yes", "--json")
    actions = [a["action"] for a in json.loads(r.stdout)["actions"]]
    assert actions == ["download"], f"false conflict: {r.stdout}"
    assert alice.read("f01.csv") == b"v2 by bob"


def test_a_damaged_changes_file_is_named_not_a_traceback(make_team, log_mode):
    """SPEC 7.4: a corrupt CSV is named, with the fix. A changes file that is not UTF-8
    ends in "internal error: UnicodeDecodeError" naming neither the file nor the fix."""
    team = make_team(("alice",))
    alice = team.alice
    _big_baseline(alice)
    alice.write("f01.csv", "v1")
    alice.sync()
    changes = alice.data / ".S3" / "versions_local.changes.csv"
    assert changes.exists()
    changes.write_bytes(changes.read_bytes() + b"\xff\xfe torn\n")
    r = alice.run("status")
    assert "internal error" not in r.stderr, r.stderr
    assert "versions_local.changes.csv" in r.stdout + r.stderr, r.stdout + r.stderr


def test_a_damaged_log_entry_error_names_the_fix(make_team, log_mode):
    """SPEC 7.4: every error names the problem and the fix. state/csvfiles.py's errors end with
    the fix (restore it, or `reset`); statelog.parse's name the entry but no fix, and
    the fix here is `reset --remote` (a plain reset leaves the remote's log)."""
    team = make_team(("alice", "bob"))
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "a")
    alice.sync()
    from s3sync_mirror.state import remotelog as statelog

    log = statelog.log_id(team.remote_objects()[STATE])
    team.put_remote(f".S3/state_log/{log}/0000000001.csv.gz", b"not gzip")
    r = bob.run("--yes")
    assert r.returncode != 0
    assert "0000000001.csv.gz" in r.stderr, r.stderr
    assert "reset --remote" in r.stderr, f"no fix named: {r.stderr}"
