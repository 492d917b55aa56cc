"""Pins (docs/history.md#pins), on both remotes, through the CLI and the API: a git repo
with two commits, each with its pin; ``restore --pin`` of the first into a folder gives
exactly its files; ``status`` flags a stale lock; ``prune`` keeps pinned versions; ``pins``
lists the commits."""
from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

import s3sync_mirror
from s3sync_mirror.core.errors import UsageError


def git(member, *args) -> str:
    env = {"GIT_AUTHOR_NAME": member.name, "GIT_AUTHOR_EMAIL": f"{member.name}@x",
           "GIT_COMMITTER_NAME": member.name, "GIT_COMMITTER_EMAIL": f"{member.name}@x"}
    import os

    return subprocess.run(["git", "-C", str(member.repo), *args], check=True, text=True,
                          capture_output=True, env={**os.environ, **env}).stdout


def commit_pin(member, message: str) -> str:
    member.run("pin", "-m", message, check_rc=0)
    git(member, "add", "s3sync_mirror.lock")
    git(member, "commit", "-q", "-m", message)
    return git(member, "rev-parse", "HEAD").strip()


@pytest.fixture
def pinned(team):
    """alice's repo under git: commit 1 pins {a: v1, b}, commit 2 pins {a: v2, c}."""
    alice, bob = team.alice, team.bob
    git(alice, "init", "-q")
    (alice.repo / ".gitignore").write_text("Data/\n")
    git(alice, "add", ".gitignore", "s3sync_mirror.yml")
    git(alice, "commit", "-q", "-m", "code")
    alice.write("a.csv", "id,x\n1,v1\n")
    alice.write("raw/b.csv", "b")
    alice.sync()
    first = commit_pin(alice, "model v1")
    alice.write("a.csv", "id,x\n1,v2\n")
    alice.delete("raw/b.csv")
    alice.write("c.csv", "c")
    alice.sync()
    second = commit_pin(alice, "model v2")
    return alice, bob, first, second


def test_restore_pin_gives_exactly_the_files_of_that_commit(pinned, tmp_path):
    alice, bob, first, second = pinned
    out = tmp_path / "then"
    alice.run("restore", ".", "--pin", first, "--to", str(out), check_rc=0)
    got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == {"a.csv": b"id,x\n1,v1\n", "raw/b.csv": b"b"}
    assert alice.files() == {"a.csv": b"id,x\n1,v2\n", "c.csv": b"c"}, "nothing changed here"
    now = tmp_path / "now"
    s3sync_mirror.restore(".", alice.repo, pin="HEAD", to=now)
    assert {p.name for p in now.rglob("*") if p.is_file()} == {"a.csv", "c.csv"}


def test_the_lock_is_small_text_naming_its_manifest(pinned):
    alice, _, first, _ = pinned
    text = git(alice, "show", f"{first}:s3sync_mirror.lock")
    fields = dict(line.split(": ", 1) for line in text.splitlines()
                  if line and not line.startswith("#"))
    manifest = "".join(f"{p}\t{hashlib.sha256(c).hexdigest()}\n"
                       for p, c in sorted({"a.csv": b"id,x\n1,v1\n", "raw/b.csv": b"b"}.items()))
    assert fields["content"] == hashlib.sha256(manifest.encode()).hexdigest()
    assert fields["files"] == "2" and fields["bytes"] == str(len(b"id,x\n1,v1\n") + 1)
    assert fields["tag"] == f"pin-{fields['content'][:16]}" and fields["message"] == "model v1"
    tags = {t["name"] for t in json.loads(alice.run("tags", "--json", check_rc=0).stdout)["tags"]}
    assert fields["tag"] in tags


def test_pins_lists_the_commits_newest_first(pinned):
    alice, _, first, second = pinned
    rows = json.loads(alice.run("pins", "--json", check_rc=0).stdout)["pins"]
    assert [(r["commit"], r["message"], r["files"]) for r in rows] == [
        (second, "model v2", "2"), (first, "model v1", "2")]
    assert "model v1" in alice.run("pins", check_rc=0).stdout


def test_status_flags_a_stale_lock_and_a_current_one_is_quiet(pinned):
    alice, *_ = pinned
    assert "differs from s3sync_mirror.lock" not in alice.run("status", check_rc=0).stdout
    alice.write("c.csv", "c edited")
    alice.write("d.csv", "new")
    r = alice.run("status", check_rc=0)
    assert "Data/ differs from s3sync_mirror.lock" in r.stdout and "2 files differ" in r.stdout
    alice.sync()  # in sync again, but no longer the pinned data: the quick path says so too
    assert "2 files differ" in alice.run("status", check_rc=0).stdout


def test_pin_refuses_while_changes_are_not_on_the_remote(pinned):
    alice, *_ = pinned
    before = (alice.repo / "s3sync_mirror.lock").read_bytes()
    alice.write("c.csv", "unsynced")
    r = alice.run("pin", check_rc=2)
    assert "sync first" in r.stderr
    assert (alice.repo / "s3sync_mirror.lock").read_bytes() == before
    with pytest.raises(UsageError, match="sync first"):
        s3sync_mirror.pin(alice.repo)


def test_prune_keeps_what_a_pin_names(pinned, tmp_path):
    alice, bob, first, _ = pinned
    alice.write("a.csv", "id,x\n1,v3\n")
    alice.sync()
    alice.run("prune", "--keep-last", "0", "--grace", "0", "--yes", check_rc=0)
    out = tmp_path / "then"
    alice.run("restore", ".", "--pin", first, "--to", str(out), check_rc=0)
    assert (out / "a.csv").read_bytes() == b"id,x\n1,v1\n"


def test_a_bad_revision_says_what_to_do(pinned):
    alice, *_ = pinned
    r = alice.run("restore", ".", "--pin", "nosuchrev", "--to", "x", check_rc=2)
    assert "no pin at 'nosuchrev'" in r.stderr and "pins" in r.stderr


def test_diff_pin_compares_with_the_data_a_commit_pinned(pinned):
    alice, _, first, _ = pinned
    r = alice.run("diff", "--pin", first, "--stat", check_rc=0)
    assert "a.csv" in r.stdout and "raw/b.csv" in r.stdout and "c.csv" in r.stdout, r.stdout
    d = s3sync_mirror.diff("a.csv", alice.repo, old={"pin": first}, key=["id"])
    assert d.changed.shape[0] == 1
