"""`files` (docs/metadata.md#the-files-table) on both remotes: every kind of pending change
gets its status, checked against the plan `status --json` shows for the same clone;
computing it transfers and writes nothing; `--status` filters; the API's DataFrame has
the same rows."""
from __future__ import annotations

import json

import pytest

import s3sync_mirror
from s3sync_mirror.core.errors import UsageError

BASE = {"same.csv": "same", "mod_here.csv": "m0", "del_here.csv": "d0",
        "chg_remote.csv": "c0", "del_remote.csv": "r0", "both.csv": "b0",
        "moved.csv": "moved here, unique", "renamed.csv": "moved there, unique",
        "notes/z.txt": "outside bob's selection"}
EXPECTED = {"same.csv": "in sync", "mod_here.csv": "modified here",
            "del_here.csv": "deleted here", "new_here.csv": "new here",
            "chg_remote.csv": "changed on remote", "del_remote.csv": "deleted on remote",
            "new_remote.csv": "new on remote", "both.csv": "conflict",
            "moved.csv": "deleted here", "moved2.csv": "new here",
            "renamed.csv": "deleted on remote", "renamed2.csv": "new on remote",
            "notes/z.txt": "not held"}
# what each action of the plan may show as
ALLOWED = {"upload": {"new here", "modified here"}, "move_remote": {"new here"},
           "download": {"new on remote", "changed on remote"},
           "move_local": {"new on remote"}, "delete_remote": {"deleted here"},
           "delete_local": {"deleted on remote"}, "conflict": {"conflict"}}


def _pending_changes(team):
    alice, bob = team.alice, team.bob
    for path, text in BASE.items():
        alice.write(path, text)
    alice.sync()
    bob.run("sparse", "set", "*.csv", check_rc=0)
    bob.sync()
    alice.write("chg_remote.csv", "c1")
    alice.delete("del_remote.csv")
    alice.write("new_remote.csv", "n1")
    alice.write("both.csv", "alice's")
    alice.data.joinpath("renamed.csv").rename(alice.data / "renamed2.csv")
    alice.sync("--force")
    bob.write("mod_here.csv", "m1")
    bob.delete("del_here.csv")
    bob.write("new_here.csv", "n2")
    bob.write("both.csv", "bob's")
    bob.data.joinpath("moved.csv").rename(bob.data / "moved2.csv")
    return bob


def test_files_shows_every_pending_change_as_the_plan_does(team, monkeypatch):
    bob = _pending_changes(team)
    before = (bob.files(), team.remote_objects(), sorted(bob.data.joinpath(".S3").rglob("*")))
    plan = json.loads(bob.run("status", "--json", check_rc=0).stdout)["actions"]
    rows = json.loads(bob.run("files", "--json", check_rc=0).stdout)["files"]
    got = {r["File"]: r["status"] for r in rows}
    assert got == EXPECTED
    for action in plan:
        assert got[action["path"]] in ALLOWED[action["action"]], action
    quiet = {"in sync", "not held"}
    assert {a["path"] for a in plan} <= {p for p, st in got.items() if st not in quiet}
    assert len(plan) >= 9
    # nothing was transferred or written
    assert before == (bob.files(), team.remote_objects(),
                      sorted(bob.data.joinpath(".S3").rglob("*")))
    by = {r["File"]: r for r in rows}
    assert by["chg_remote.csv"]["Edited By"] == "alice" and by["same.csv"]["Size"] == 4
    r = bob.run("files", "--status", "deleted on remote", "--json", check_rc=0)
    assert [f["File"] for f in json.loads(r.stdout)["files"]] == ["del_remote.csv",
                                                                   "renamed.csv"]
    r = bob.run("files", "notes", check_rc=0)
    assert "notes/z.txt  not held" in r.stdout and "same.csv" not in r.stdout
    assert bob.run("files", "nowhere/").returncode == 2
    monkeypatch.chdir(bob.repo)
    df = s3sync_mirror.files(bob.repo, status="conflict")
    assert list(df.File) == ["both.csv"] and df.Size.dtype == "int64"
    with pytest.raises(UsageError):
        s3sync_mirror.files(bob.repo, status="changed")
