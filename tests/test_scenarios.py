"""End to end, as a team works, through the real command line on a folder remote: what the
golden scenarios (tests/scenarios/, played on both remotes by test_golden.py) do not show.

Covers: equal edits recorded in bob's own baseline as alice's; a run whose stdin is a pipe
full of "y" answers exits 3 without reading it; status and --dry-run change no file at all
and --json's summary counts; corrupt remote and local state named, nothing changed;
symlinks skipped with a warning; a second sync in one clone refused. The stories the golden
scenarios tell (first sync, receiving changes, each conflict resolution, edit vs delete,
two populated clones, the max-delete guard, reset, paths, ignore patterns) are theirs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import ROOT


@pytest.fixture(params=["local"])
def remote_kind(request):
    """These walks run on the folder remote only: they check the CLI's own handling (stdin,
    corrupt files, symlinks, the run lock), not a remote's; the golden scenarios walk the
    team stories on both remotes."""
    return request.param


def converged(team) -> dict:
    files = team.alice.files()
    assert files == team.bob.files() == team.remote_files()
    return files


def test_equal_edits_on_both_sides_are_just_recorded(team):
    alice, bob = team.alice, team.bob
    alice.write("same.csv", "v1")
    alice.sync()
    bob.sync()
    alice.write("same.csv", "v2")
    bob.write("same.csv", "v2")
    alice.sync()
    r = bob.run("--yes", "--json", check_rc=0)
    out = json.loads(r.stdout)
    assert out["actions"] == []
    assert bob.baseline()["same.csv"]["Edited By"] == "alice"
    assert converged(team)["same.csv"] == b"v2"


def test_without_a_terminal_it_prints_the_plan_and_exits_3_without_waiting(team, tmp_path):
    """stdin is a pipe that is never closed and holds "y" answers: a run that prompted
    would either block on it (and never exit) or take a "y" for a yes (and upload)."""
    alice = team.alice
    alice.write("a.csv", "1")
    out, err = tmp_path / "out", tmp_path / "err"
    env = {**os.environ, **alice.env, "PYTHONPATH": str(ROOT)}
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen([sys.executable, "-m", "s3sync_mirror"], cwd=alice.repo,
                                env=env, stdin=subprocess.PIPE, stdout=fo, stderr=fe)
        try:
            try:
                proc.stdin.write(b"y\n" * 8)
                proc.stdin.flush()
            except BrokenPipeError:  # it exited before reading anything: fine
                pass
            try:
                rc = proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                pytest.fail("the run waited on stdin although it is not a terminal")
        finally:
            proc.kill()
            proc.wait()
            proc.stdin.close()
    stdout = out.read_text()
    assert rc == 3, (stdout, err.read_text())
    assert "a.csv" in stdout and "--yes" in stdout
    assert team.remote_files() == {}
    assert not (alice.data / ".S3" / "versions_local.csv").exists()


def test_status_and_dry_run_change_nothing(team):
    alice = team.alice
    alice.write("a.csv", "1")
    before = sorted(p.relative_to(team.tmp) for p in team.tmp.rglob("*"))
    for args in (["status"], ["--dry-run", "--yes"], ["status", "--json"]):
        # status always exits 0; a dry run with --yes approves everything: nothing left
        alice.run(*args, check_rc=0)
    assert sorted(p.relative_to(team.tmp) for p in team.tmp.rglob("*")) == before
    r = alice.run("status", "--json", check_rc=0)
    out = json.loads(r.stdout)
    assert out["actions"] == [{"path": "a.csv", "action": "upload", "reason": "new locally",
                               "status": "planned"}]
    assert out["summary"]["plan"]["upload"] == 1
    assert out["summary"]["planned"] == 1


def test_json_reports_each_action_and_a_summary(team):
    alice = team.alice
    alice.write("a.csv", "1")
    alice.write("b/c.csv", "2")
    r = alice.run("--yes", "--json", check_rc=0)
    out = json.loads(r.stdout)
    assert sorted((a["path"], a["action"], a["status"]) for a in out["actions"]) == [
        ("a.csv", "upload", "done"), ("b/c.csv", "upload", "done")]
    assert out["summary"]["done"] == 2 and out["summary"]["exit_code"] == 0
    assert out["summary"]["bytes"] == 2


def test_a_corrupt_remote_state_is_named_and_nothing_changes(team):
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "1")
    alice.sync()
    bob.write("b.csv", "2")
    team.put_remote(".S3/versions_remote.csv", b"File,Edited By,Time Edited,Checksum,Size\n"
                                               b"../../etc/passwd,eve,,abc,1\n")
    before_remote = team.remote_objects()
    before_bob = bob.files()
    r = bob.run("--yes")
    assert r.returncode == 1
    assert "versions_remote.csv" in r.stderr and "../../etc/passwd" in r.stderr
    assert "Traceback" not in r.stderr
    assert team.remote_objects() == before_remote
    assert bob.files() == before_bob
    assert not (bob.data / ".S3" / "versions_local.csv").exists()


def test_a_corrupt_local_baseline_is_named_and_nothing_changes(team):
    alice = team.alice
    alice.write("a.csv", "1")
    alice.sync()
    alice.write("a.csv", "2")
    (alice.data / ".S3" / "versions_local.csv").write_text("not,a\nbaseline")
    before = team.remote_objects()
    r = alice.run("--yes")
    assert r.returncode == 1
    assert "versions_local.csv" in r.stderr and "Size" in r.stderr
    assert team.remote_objects() == before
    assert alice.read("a.csv") == b"2"


def test_symlinks_are_skipped_with_a_warning(team, tmp_path):
    alice = team.alice
    alice.write("real.csv", "r")
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    (alice.data / "link.txt").symlink_to(outside)
    r = alice.sync()
    assert "symlink" in r.stderr and "link.txt" in r.stderr
    assert team.remote_files() == {"real.csv": b"r"}


def test_a_second_sync_in_the_same_clone_is_refused(local_team):
    from s3sync_mirror.state.clonestate import StateDir

    alice = local_team.alice
    alice.write("a.csv", "1")
    with StateDir(alice.data).run_lock():
        r = alice.run("--yes")
        assert r.returncode == 2 and "another sync is running" in r.stderr
        assert alice.run("status").returncode == 0, "status needs no lock"
    alice.sync()
