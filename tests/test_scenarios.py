"""End to end, as a team works: two clones (alice and bob) of one repo against one remote,
each step through the real command line, on a folder remote and on S3 (moto over HTTP).

Covers: first sync of a populated folder; bob receives alice's new, changed and deleted
files; both edit one file (a conflict, each resolution); edit vs delete both ways; equal
edits; deletions found in the archive and the trash; the max-delete guard; reset declined
and accepted; a run without a terminal exits 3 without waiting; corrupt state; --json;
status and --dry-run change nothing; a run limited to some paths.
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
    """These walks run on the folder remote: the golden scenarios (tests/scenarios/, played
    by test_golden.py) walk the same cases on both remotes, so CI pays for S3 once."""
    return request.param


def no_file_lost(team, *contents: bytes) -> None:
    """Every version named is still somewhere: a data folder, the remote, the archive or
    a trash."""
    everywhere = set()
    for member in team.members.values():
        everywhere.update(member.files().values())
        everywhere.update(member.trash().values())
    everywhere.update(team.remote_objects().values())
    for c in contents:
        assert c in everywhere, f"lost: {c!r}"


def converged(team) -> dict:
    files = team.alice.files()
    assert files == team.bob.files() == team.remote_files()
    return files


def test_first_sync_of_a_populated_folder_then_a_fresh_clone(team):
    alice, bob = team.alice, team.bob
    alice.write("raw/2024/a.csv", "a,b\n1,2\n")
    alice.write("notes.txt", "hello")
    alice.write("empty.dat", b"")
    alice.write("dir with spaces/ünïcode.txt", "ü")
    r = alice.sync()
    assert "4 uploaded" in r.stdout
    assert team.remote_files() == alice.files()
    state = team.remote_state()
    assert set(state) == set(alice.files())
    assert all(row["Edited By"] == "alice" for row in state.values())
    r = bob.sync()
    assert "4 downloaded" in r.stdout
    converged(team)
    assert bob.run("status", check_rc=0).stdout.strip().endswith("Plan: nothing to do.")
    assert alice.sync().stdout.strip().endswith("Everything is in sync.")


def test_bob_receives_new_changed_and_deleted_files(team):
    alice, bob = team.alice, team.bob
    alice.write("keep.csv", "1")
    alice.write("change.csv", "old")
    alice.write("gone.csv", "bye")
    alice.sync()
    bob.sync()
    alice.write("change.csv", "new")
    alice.delete("gone.csv")
    alice.write("sub/new.csv", "fresh")
    alice.sync()
    r = bob.run("status", check_rc=0)
    assert "changed on remote by alice" in r.stdout
    assert "deleted on remote" in r.stdout
    bob.sync()
    files = converged(team)
    assert files == {"keep.csv": b"1", "change.csv": b"new", "sub/new.csv": b"fresh"}
    # nothing is lost: the old version and the deleted file are kept
    assert b"old" in team.archive().values()
    assert b"bye" in team.archive().values()
    assert set(bob.trash().values()) >= {b"old", b"bye"}


def _both_edit(team):
    alice, bob = team.alice, team.bob
    alice.write("shared.csv", "base")
    alice.write("other.csv", "x")
    alice.sync()
    bob.sync()
    alice.write("shared.csv", "alice's version")
    alice.sync()
    bob.write("shared.csv", "bob's version")
    return alice, bob


def test_both_edit_without_resolution_is_an_unresolved_conflict(team):
    alice, bob = _both_edit(team)
    r = bob.run("--yes")
    assert r.returncode == 3
    assert "conflict" in r.stdout and "shared.csv" in r.stdout
    assert bob.read("shared.csv") == b"bob's version"
    assert team.remote_files()["shared.csv"] == b"alice's version"
    r = bob.run("--yes", "--json")
    rows = {a["path"]: a for a in json.loads(r.stdout)["actions"]}
    assert rows["shared.csv"]["action"] == "conflict"
    assert rows["shared.csv"]["status"] == "skipped"


def test_conflict_keep_local(team):
    alice, bob = _both_edit(team)
    bob.sync("--conflict", "local")
    alice.sync()
    assert converged(team)["shared.csv"] == b"bob's version"
    assert b"alice's version" in team.archive().values()
    assert b"alice's version" in alice.trash().values()


def test_conflict_keep_remote(team):
    alice, bob = _both_edit(team)
    bob.sync("--conflict", "remote")
    alice.sync()
    assert converged(team)["shared.csv"] == b"alice's version"
    assert b"bob's version" in bob.trash().values()


def test_conflict_keep_both_keeps_both_on_both_sides(team):
    alice, bob = _both_edit(team)
    bob.sync("--conflict", "both")
    alice.sync()
    files = converged(team)
    assert files["shared.csv"] == b"alice's version"
    (copy,) = [p for p in files if p.startswith("shared.conflict-bob-")]
    assert copy.endswith(".csv")
    assert files[copy] == b"bob's version"
    assert alice.run("status", check_rc=0).stdout.strip().endswith("nothing to do.")


def test_conflict_skip_then_decide_later(team):
    alice, bob = _both_edit(team)
    assert bob.run("--yes", "--conflict", "skip").returncode == 3
    assert bob.read("shared.csv") == b"bob's version"
    bob.sync("--conflict", "local")
    alice.sync()
    assert converged(team)["shared.csv"] == b"bob's version"
    no_file_lost(team, b"base", b"alice's version", b"bob's version")


def test_edit_here_delete_there_both_ways(team):
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "a0")
    alice.write("b.csv", "b0")
    for i in range(4):
        alice.write(f"pad{i}.csv", "pad")
    alice.sync()
    bob.sync()
    alice.write("a.csv", "a1 by alice")  # alice edits a, bob deletes it
    alice.delete("b.csv")  # alice deletes b, bob edits it
    alice.sync()
    bob.delete("a.csv")
    bob.write("b.csv", "b1 by bob")
    r = bob.run("--yes")
    assert r.returncode == 3
    assert "deleted locally, changed on remote" in r.stdout
    assert "changed locally, deleted on remote" in r.stdout
    # keep local for both: a stays deleted (remote copy archived), b is re-uploaded
    bob.sync("--conflict", "local")
    alice.sync()
    files = converged(team)
    assert "a.csv" not in files and files["b.csv"] == b"b1 by bob"
    no_file_lost(team, b"a0", b"a1 by alice", b"b0", b"b1 by bob")


def test_edit_vs_delete_keep_remote(team):
    alice, bob = team.alice, team.bob
    for i in range(4):
        alice.write(f"pad{i}.csv", "pad")
    alice.write("a.csv", "a0")
    alice.sync()
    bob.sync()
    alice.write("a.csv", "a1")
    alice.sync()
    bob.delete("a.csv")
    bob.sync("--conflict", "remote")  # keep remote = download
    assert converged(team)["a.csv"] == b"a1"


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


def test_first_sync_of_two_populated_clones_never_overwrites(team):
    """No baseline: equal files recorded, one-sided transferred, differing = conflicts."""
    alice, bob = team.alice, team.bob
    alice.write("same.csv", "equal")
    alice.write("only-alice.csv", "a")
    alice.write("differ.csv", "alice")
    alice.sync()
    bob.write("same.csv", "equal")
    bob.write("only-bob.csv", "b")
    bob.write("differ.csv", "bob")
    r = bob.run("--yes", "--json")
    assert r.returncode == 3
    rows = {a["path"]: a for a in json.loads(r.stdout)["actions"]}
    assert rows == {
        "differ.csv": rows["differ.csv"], "only-alice.csv": rows["only-alice.csv"],
        "only-bob.csv": rows["only-bob.csv"]}
    assert (rows["differ.csv"]["action"], rows["differ.csv"]["status"]) == ("conflict", "skipped")
    assert (rows["only-alice.csv"]["action"], rows["only-alice.csv"]["status"]) == \
        ("download", "done")
    assert (rows["only-bob.csv"]["action"], rows["only-bob.csv"]["status"]) == ("upload", "done")
    assert bob.read("differ.csv") == b"bob"
    assert team.remote_files()["differ.csv"] == b"alice"


def test_max_delete_guard_stops_and_force_goes_on(team):
    alice, bob = team.alice, team.bob
    for i in range(4):
        alice.write(f"f{i}.csv", str(i))
    alice.sync()
    bob.sync()
    for i in range(3):
        alice.delete(f"f{i}.csv")
    before_remote = team.remote_objects()
    r = alice.run("--yes")
    assert r.returncode == 3
    assert "--max-delete" in r.stderr and "--force" in r.stderr
    assert team.remote_objects() == before_remote
    r = alice.run("--yes", "--max-delete", "80")
    assert r.returncode == 0, r.stderr
    r = bob.run("--yes")
    assert r.returncode == 3 and "3 of the 4 local files" in r.stderr
    assert len(bob.files()) == 4
    bob.sync("--force")
    assert converged(team) == {"f3.csv": b"3"}
    assert {b"0", b"1", b"2"} <= set(team.archive().values())
    assert len(bob.trash()) == 3


def test_reset_declined_and_accepted(team):
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "1")
    alice.write("b.csv", "2")
    alice.sync()
    alice.delete("b.csv")
    alice.sync("--force")
    state_files = {k for k in team.remote_objects() if k.startswith(".S3/")}
    assert ".S3/versions_remote.csv" in state_files
    # declined: no terminal to confirm on, nothing removed
    r = alice.run("reset")
    assert r.returncode == 3
    assert (alice.data / ".S3" / "versions_local.csv").exists()
    assert {k for k in team.remote_objects() if k.startswith(".S3/")} == state_files
    # accepted: this clone's state only, by default
    r = alice.run("reset", "--yes", check_rc=0)
    assert "versions_local.csv" in r.stdout and "Removed:" in r.stdout
    assert not (alice.data / ".S3" / "versions_local.csv").exists()
    assert {k for k in team.remote_objects() if k.startswith(".S3/")} == state_files
    # --remote: the remote's state file too; its deletion log (history) and archive stay
    alice.run("reset", "--remote", "--yes", check_rc=0)
    remote = team.remote_objects()
    assert ".S3/versions_remote.csv" not in remote and ".S3/deleted_remote.csv" in remote
    assert b"2" in team.archive().values(), "the archive survives a reset"
    assert alice.files() == {"a.csv": b"1"} and team.remote_files() == {"a.csv": b"1"}
    # after reset: equal files are recorded, nothing transferred, no conflict
    r = alice.run("--yes", "--json", check_rc=0)
    assert json.loads(r.stdout)["actions"] == []
    assert set(team.remote_state()) == {"a.csv"}
    bob.sync()
    assert converged(team) == {"a.csv": b"1"}


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


def test_paths_limit_the_run(team):
    alice, bob = team.alice, team.bob
    alice.write("raw/a.csv", "a")
    alice.write("raw/b.csv", "b")
    alice.write("other/c.csv", "c")
    alice.run("sync", "--yes", "Data/raw/a.csv", check_rc=0)
    assert team.remote_files() == {"raw/a.csv": b"a"}
    alice.run("sync", "--yes", "raw", check_rc=0)
    assert set(team.remote_files()) == {"raw/a.csv", "raw/b.csv"}
    r = alice.run("status", "--json", check_rc=0)
    assert [a["path"] for a in json.loads(r.stdout)["actions"]] == ["other/c.csv"]
    bob.run("sync", "--yes", str(bob.data / "raw"), check_rc=0)
    assert bob.files() == {"raw/a.csv": b"a", "raw/b.csv": b"b"}


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


def test_ignore_patterns_apply_to_both_sides(team):
    alice, bob = team.alice, team.bob
    alice.write("keep.csv", "k")
    alice.write("scratch/tmp.bin", "t")
    alice.write("x.tmp", "t")
    alice.sync()  # creates .S3/ignore_remote.txt
    (alice.data / ".S3" / "ignore_remote.txt").write_text("# comment\n*.tmp\nscratch/\n")
    r = alice.run("status", "--json", check_rc=0)
    # already uploaded files that are now ignored are simply left alone
    assert json.loads(r.stdout)["actions"] == []
    bob.data.mkdir(parents=True)
    (bob.data / ".S3").mkdir()
    (bob.data / ".S3" / "ignore_remote.txt").write_text("*.tmp\n")
    bob.sync()
    assert set(bob.files()) == {"keep.csv", "scratch/tmp.bin"}


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
