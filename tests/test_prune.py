"""``prune`` (docs/history.md#prune), on both remotes through the CLI: it keeps live,
tagged and deleted files' last versions and what the retention asks for, removes the rest
after marking it for the grace period, and racing syncs lose nothing."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

from s3sync_mirror import read_version

from .conftest import ROOT


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archived_sums(team) -> set:
    return {k.rsplit("/", 1)[1] for k in team.remote_objects() if k.startswith(".S3/archive/")}


def versions(member, path) -> list[str]:
    r = member.run("log", "--json", path, check_rc=0)
    return [v["checksum"] for v in json.loads(r.stdout)["versions"]]


def edits(team, member, path, contents):
    """Each content synced in turn, the team's clock two seconds on after each (version
    times have one-second precision; core/clock.py's test offset, not a sleep)."""
    for c in contents:
        member.write(path, c)
        member.sync("--force")
        team.advance_clock()


def test_prune_keeps_live_tagged_and_last_versions(team):
    alice, bob = team.alice, team.bob
    edits(team, alice, "a.csv", ["a1"])
    alice.run("tag", "t1", check_rc=0)
    edits(team, alice, "a.csv", ["a2", "a3", "a4"])
    edits(team, alice, "b.csv", ["b1", "b2"])
    alice.delete("b.csv")
    alice.sync("--force")
    bob.sync()
    r = bob.run("prune", "--keep-last", "1", "--dry-run", check_rc=0)
    assert "0 archived versions to remove now" in r.stdout and "to mark" in r.stdout
    before = archived_sums(team)
    r = bob.run("prune", "--keep-last", "1")
    assert r.returncode == 3 and "nothing was removed" in r.stdout, "no terminal: asks, no"
    assert archived_sums(team) == before
    bob.run("prune", "--keep-last", "1", "--yes", "--grace", "0", check_rc=0)
    kept = archived_sums(team)
    assert sha(b"a2") not in kept and sha(b"b1") not in kept, "beyond the retention"
    assert {sha(b"a1"), sha(b"a3"), sha(b"b2")} <= kept, "tagged, last, deleted file's last"
    assert versions(bob, "a.csv") == [sha(b"a4"), sha(b"a3"), sha(b"a1")]
    for path, n in (("a.csv", 2), ("a.csv", 3)):
        assert read_version(path, bob.repo, version=n) in (b"a3", b"a1")
    bob.run("restore", "b.csv", check_rc=0)
    assert bob.read("b.csv") == b"b2"
    r = bob.run("prune")
    assert r.returncode == 2 and "--keep-within DAYS and/or --keep-last N" in r.stderr


def test_a_marked_version_reused_by_a_sync_is_not_removed(team):
    alice, bob = team.alice, team.bob
    edits(team, alice, "x.csv", ["X", "Y"])
    bob.sync()
    alice.run("prune", "--keep-last", "0", "--yes", "--grace", "0.02", check_rc=0)
    assert sha(b"X") in archived_sums(team), "marked only"
    bob.write("again.csv", "X")  # a teammate brings the content back meanwhile
    bob.sync()
    team.advance_clock()  # past the 0.02-minute grace on the clock prune reads
    alice.run("prune", "--keep-last", "0", "--yes", "--grace", "0.02", check_rc=0)
    assert sha(b"X") in archived_sums(team), "live again since it was marked: kept"
    assert team.remote_files()["again.csv"] == b"X"
    bob.write("again.csv", "Z")
    bob.sync()
    assert sha(b"X") in archived_sums(team), "the replaced version is archived again"
    assert read_version("again.csv", alice.repo, version=2) == b"X"


def test_prune_racing_syncs_loses_nothing_listed(team):
    alice, bob = team.alice, team.bob
    edits(team, alice, "r.csv", ["r0", "r1"])
    bob.sync()
    env = {**bob.env, "PYTHONPATH": str(ROOT)}
    for i in range(4):
        pruner = subprocess.Popen(
            [sys.executable, "-m", "s3sync_mirror", "prune", "--keep-last", "1", "--yes",
             "--grace", "0.01"], cwd=alice.repo, env={**alice.env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        bob.write("r.csv", f"r{i % 2}")  # contents the archive already holds
        syncing = subprocess.run([sys.executable, "-m", "s3sync_mirror", "--yes"],
                                 cwd=bob.repo, env=env, capture_output=True, text=True,
                                 stdin=subprocess.DEVNULL)
        assert pruner.wait(timeout=120) == 0, pruner.stderr.read()
        assert syncing.returncode == 0, syncing.stderr
        team.advance_clock()
    alice.sync()
    assert alice.read("r.csv") == bob.read("r.csv") == team.remote_files()["r.csv"]
    r = alice.run("log", "--json", "r.csv", check_rc=0)
    for v in json.loads(r.stdout)["versions"]:
        if v["event"] != "deleted":
            data = read_version("r.csv", alice.repo, version=v["version"])
            assert sha(data) == v["checksum"], "a listed version is readable"
