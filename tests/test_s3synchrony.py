"""A team that used S3Synchrony 0.4 moves over in place (README: Moving over from
S3Synchrony, fsmirror and mmmeta): its s3synchrony.json, its clones' .S3/ and the remote's
.S3/ are adopted as config, baseline, remote state and history.

The history is made by the real S3Synchrony 0.4.0 (kabbes-s3synchrony on PyPI, with the
helper releases it works with, pinned in the ``test`` extra), run as its users ran it:
``python -m s3synchrony`` in the repo, answering "all" at every prompt, against the same
moto server this tool then uses."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from tests.conftest import Team, parse_csv


# `python -m s3synchrony`, with a user who types "yes" where it asks for "yes", "all" at
# every list of files it offers, and nothing (enter: none) where it offers to revert one
# side to the other's older version
_USER = ("import builtins, io, runpy, sys\n"
         "seen = io.StringIO()\n"
         "write = sys.stdout.write\n"
         "sys.stdout.write = lambda t: (seen.write(t), write(t))[1]\n"
         "def answer(prompt=''):\n"
         "    print(prompt)\n"
         "    if '\"yes\"' in prompt:\n"
         "        return 'yes'\n"
         "    offer = seen.getvalue().rsplit('Would you like to', 1)[-1]\n"
         "    return '' if offer.lstrip().startswith('revert') else 'all'\n"
         "builtins.input = answer\n"
         "runpy.run_module('s3synchrony', run_name='__main__', alter_sys=True)\n")


def old_tool(member, home, rc=0):
    """One run of S3Synchrony 0.4.0 in ``member``'s repo, every offer accepted."""
    env = {**os.environ, **member.env, "HOME": str(home)}
    env.pop("AWS_ENDPOINT_URL", None)  # it reaches the server through its own config
    proc = subprocess.run([sys.executable, "-c", _USER], cwd=member.repo, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300)
    if rc is not None:
        assert proc.returncode == rc, f"{member.name}: {proc.stdout}\n{proc.stderr}"
    return proc


def _later(member, rel: str, seconds: int) -> None:
    """S3Synchrony orders two edits by mtime (to the second): make this one the newer."""
    p = member.data / rel
    st = p.stat()
    os.utime(p, (st.st_atime, st.st_mtime + seconds))


def _legacy_team(tmp_path, bucket, endpoint):
    """Through the real S3Synchrony 0.4.0: alice uploads a.txt, b.txt, c.txt; bob gets
    them and edits b.txt; alice deletes c.txt (her copy of b.txt stays the old one); bob
    gets the delete."""
    team = Team("s3", tmp_path, bucket=bucket, endpoint=endpoint)
    home = tmp_path / "home"
    home.mkdir()
    for m in team.members.values():
        (m.repo / "s3sync_mirror.yml").unlink()
        (m.repo / "s3synchrony.json").write_text(json.dumps({
            "template": "no_creds_needed", "platform": "s3", "_name": m.name,
            "local_data_rel_dir": "Data", "remote_data_dir": team.prefix, "aws_bkt": bucket,
            "aws_prfx": team.prefix, "credentials": {"endpoint_url": endpoint}}))
        m.env["S3SYNC_MIRROR_USER"] = m.name
    # Its first step on a new prefix, _initialize_util_rDir, uploads these two CSVs (for an
    # empty prefix: the header only). With the pinned helpers it never runs (dir_ops's
    # exists() answers True for any S3 prefix), so they are put here as it would put them.
    for name in ("versions_remote.csv", "deleted_remote.csv"):
        team.put_remote(f".S3/{name}", b"File,Edited By,Time Edited,Checksum\n")
    alice, bob = team.alice, team.bob
    content = {"a.txt": b"alpha\n", "b.txt": b"bravo 1\n", "c.txt": b"charlie\n"}
    for rel, data in content.items():
        alice.write(rel, data)
    old_tool(alice, home)
    bob.data.mkdir()
    old_tool(bob, home)
    assert bob.files() == content
    content["b.txt"] = b"bravo 2 by bob\n"
    bob.write("b.txt", content["b.txt"])
    _later(bob, "b.txt", 120)
    old_tool(bob, home)
    alice.delete("c.txt")
    out = old_tool(alice, home).stdout
    # it offers bob's b.txt, but with these helpers its download refuses to replace a file
    assert "already exists" in out
    old_tool(bob, home)
    deleted = content.pop("c.txt")
    assert bob.files() == content
    assert alice.files() == {**content, "b.txt": b"bravo 1\n"}
    objects = team.remote_objects()
    assert objects[".S3/deleted/c.txt"] == deleted  # its archive layout
    assert objects[".S3/deleted_remote.csv"].startswith(b",File,Edited By,")  # its index
    assert b"bob" in objects[".S3/versions_remote.csv"]
    return team, {**content, "c.txt": deleted}, home


def _etags(team) -> dict:
    s3 = team._s3()
    return {k: s3.head_object(Bucket=team.bucket, Key=f"{team.prefix}/{k}")["ETag"]
            for k in ("a.txt", "b.txt")}


def test_team_moves_over_in_place(tmp_path, bucket, aws_env):
    team, content, _home = _legacy_team(tmp_path, bucket, aws_env)
    alice, bob = team.alice, team.bob
    before = _etags(team)
    legacy_remote = team.remote_objects()[".S3/versions_remote.csv"]

    # bob's clone is in sync: nothing to do; alice's lacks bob's b.txt, which the old
    # tool could not download: that one download, and nothing else (no reset needed)
    out = json.loads(bob.run("status", "--json", check_rc=0).stdout)
    assert out["actions"] == [], out
    assert any("S3Synchrony 0.4" in w for w in out["summary"]["warnings"]), out
    out = json.loads(alice.run("status", "--json", check_rc=0).stdout)
    assert [(a["path"], a["action"]) for a in out["actions"]] == [("b.txt", "download")], out
    assert team.remote_objects()[".S3/versions_remote.csv"] == legacy_remote  # status wrote nothing

    alice.sync()
    assert alice.files() == {"a.txt": content["a.txt"], "b.txt": content["b.txt"]}
    assert _etags(team) == before  # nothing re-uploaded
    state = team.remote_state()
    assert {p: r["Edited By"] for p, r in state.items()} == {"a.txt": "alice", "b.txt": "bob"}
    assert state["b.txt"]["Checksum"] == hashlib.sha256(content["b.txt"]).hexdigest()
    kept = team.remote_objects()
    assert kept[".S3/s3synchrony-0.4/versions_remote.csv"] == legacy_remote
    assert (alice.data / ".S3/s3synchrony-0.4/versions_local.csv").exists()
    assert {r["File"] for r in alice.baseline().values()} == {"a.txt", "b.txt"}

    bob.sync()
    assert bob.files() == {"a.txt": content["a.txt"], "b.txt": content["b.txt"]}
    assert _etags(team) == before

    versions = json.loads(alice.run("log", "--json", "c.txt", check_rc=0).stdout)["versions"]
    assert versions and all(v["path"] == "c.txt" for v in versions), versions
    assert [v["author"] for v in versions if v["event"] == "deleted"] == ["alice"], versions
    assert hashlib.sha256(content["c.txt"]).hexdigest() in {v["checksum"] for v in versions}
    alice.run("restore", "c.txt", check_rc=0)
    assert alice.read("c.txt") == content["c.txt"]

    bob.delete("a.txt")
    bob.sync()
    assert "a.txt" not in team.remote_files()
    assert content["a.txt"] in team.archive().values()
    deleted = parse_csv(team.remote_objects()[".S3/deleted_remote.csv"])
    assert {r["File"] for r in deleted} >= {"a.txt", "c.txt"}
    assert ".S3/s3synchrony-0.4/deleted_remote.csv" in team.remote_objects()
    alice.sync()
    assert not alice.exists("a.txt")  # the deletion reached alice (kept in her trash)
    assert content["a.txt"] in alice.trash().values()


def test_file_changed_since_s3synchrony_is_a_conflict(tmp_path, bucket, aws_env):
    team, content, _home = _legacy_team(tmp_path, bucket, aws_env)
    team.alice.write("b.txt", b"alice changed it after her last S3Synchrony run\n")
    r = team.alice.run("status", "--json", check_rc=0)
    kinds = {a["path"]: a["action"] for a in json.loads(r.stdout)["actions"]}
    assert kinds == {"b.txt": "conflict"}, kinds
    team.alice.sync("--conflict", "both", rc=0)
    assert team.remote_files()["b.txt"] == content["b.txt"]  # not overwritten


def test_a_member_still_on_s3synchrony_after_the_switch_writes_nothing(tmp_path, bucket,
                                                                       aws_env):
    """alice switched (her sync wrote this tool's remote state); bob, still on 0.4.0,
    edits a file and runs the old tool: it stops with an error before it writes anything,
    on the remote or among his files."""
    team, content, home = _legacy_team(tmp_path, bucket, aws_env)
    team.alice.sync()
    bob = team.bob
    bob.write("b.txt", b"bob's edit, made with the old tool still installed\n")
    _later(bob, "b.txt", 600)
    bob.write("new.txt", b"a file only bob has\n")
    remote, mine = team.remote_objects(), bob.files()
    r = old_tool(bob, home, rc=None)
    assert r.returncode != 0
    assert "does not match format" in r.stderr  # the time format it cannot read
    assert team.remote_objects() == remote
    assert bob.files() == mine
    # switching, bob keeps his edit: a file that differs from its S3Synchrony row is
    # compared as with no baseline, a conflict, never an overwrite
    out = json.loads(bob.run("status", "--json", check_rc=0).stdout)
    assert {(a["path"], a["action"]) for a in out["actions"]} == \
        {("b.txt", "conflict"), ("new.txt", "upload")}, out


def test_reset_remote_keeps_s3synchrony_state_and_leaves_deletions_working(tmp_path, bucket,
                                                                           aws_env):
    team, content, _home = _legacy_team(tmp_path, bucket, aws_env)
    legacy_remote = team.remote_objects()[".S3/versions_remote.csv"]
    legacy_local = (team.alice.data / ".S3/versions_local.csv").read_bytes()
    team.alice.run("reset", "--remote", "--yes", check_rc=0)
    assert (team.alice.data / ".S3/s3synchrony-0.4/versions_local.csv").read_bytes() == \
        legacy_local
    objects = team.remote_objects()
    assert objects[".S3/s3synchrony-0.4/versions_remote.csv"] == legacy_remote
    assert ".S3/versions_remote.csv" not in objects
    assert objects[".S3/deleted_remote.csv"].startswith(b",File,")  # readable: left alone
    team.bob.sync()
    team.bob.delete("a.txt")
    team.bob.sync()
    assert "a.txt" not in team.remote_files()


def test_reset_remote_sets_an_unreadable_deletion_log_aside(tmp_path, bucket, aws_env):
    team, content, _home = _legacy_team(tmp_path, bucket, aws_env)
    bob = team.bob
    bob.sync()
    broken = b"File,Edited By\n\"unclosed,bob\n"
    team.put_remote(".S3/deleted_remote.csv", broken)
    bob.delete("a.txt")
    r = bob.run("--yes")
    assert r.returncode != 0 and "deleted_remote.csv" in r.stdout + r.stderr
    assert "a.txt" in team.remote_files()  # nothing deleted on a log it cannot read
    r = bob.run("reset", "--remote", "--yes", check_rc=0)
    assert "unreadable" in r.stdout
    objects = team.remote_objects()
    assert objects[".S3/deleted_remote.unreadable.csv"] == broken
    bob.sync()  # bob's baseline is gone: a.txt, only on the remote, comes back to him
    assert bob.exists("a.txt")
    bob.delete("a.txt")
    bob.sync()
    assert "a.txt" not in team.remote_files()
    assert [r["File"] for r in parse_csv(team.remote_objects()[".S3/deleted_remote.csv"])] \
        == ["a.txt"]
