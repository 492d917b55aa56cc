"""History and restore (docs/history.md), on both remotes, through the CLI and the API, with
two or three clones: every version listed by ``log`` and brought back by ``restore``, the
content archive storing a content once, tags, and a remote archived by the previous layout
indexed and restorable."""
from __future__ import annotations

import hashlib
import json
import time

import pytest

import s3sync_mirror
from s3sync_mirror.core import clock
from s3sync_mirror.core.errors import UsageError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def now_seen_by(member) -> str:
    """The time now on the clock ``member``'s runs read: core/clock.py, with the offset
    ``advance_clock`` gave them."""
    offset = int(member.env.get(clock.TEST_CLOCK_OFFSET, "0"))
    return clock.iso_from_ns(time.time_ns() + offset * 1_000_000_000)


def log_rows(member, *paths) -> list[dict]:
    r = member.run("log", "--json", *paths, check_rc=0)
    return json.loads(r.stdout)["versions"]


def three_versions(team):
    """alice writes v1, bob v2, alice v3 of f.csv; each synced; two seconds apart on the
    clock the runs read (version times have one-second precision)."""
    alice, bob = team.alice, team.bob
    alice.write("f.csv", "v1 by alice")
    alice.sync()
    bob.sync()
    team.advance_clock()
    bob.write("f.csv", "v2 by bob")
    bob.sync()
    alice.sync()
    team.advance_clock()
    alice.write("f.csv", "v3 by alice")
    alice.sync()
    bob.sync()
    return alice, bob


def test_log_lists_every_version_and_restore_brings_each_back(team):
    alice, bob = three_versions(team)
    rows = log_rows(bob, "f.csv")
    assert [(r["version"], r["author"], r["event"], r["where"]) for r in rows] == [
        (1, "alice", "modified", "live"), (2, "bob", "modified", "archive"),
        (3, "alice", "added", "archive")]
    assert [r["checksum"] for r in rows] == [sha(b"v3 by alice"), sha(b"v2 by bob"),
                                             sha(b"v1 by alice")]
    text = bob.run("log", "f.csv", check_rc=0).stdout
    assert "v2" in text and "bob" in text and "archive" in text
    for n, content in ((3, b"v1 by alice"), (2, b"v2 by bob")):
        before = bob.read("f.csv")
        r = bob.run("restore", "f.csv", "--version", str(n), check_rc=0)
        assert "restored: f.csv" in r.stdout
        assert bob.read("f.csv") == content
        assert before in bob.trash().values(), "the replaced version went to the trash"
        team.advance_clock()
    bob.sync()
    alice.sync()
    assert alice.read("f.csv") == b"v2 by bob"
    latest = log_rows(alice, "f.csv")[0]
    assert (latest["event"], latest["author"], latest["where"]) == ("restored", "bob", "live")


def test_restore_of_a_deleted_file_and_to_another_folder(team, tmp_path):
    alice, bob = team.alice, team.bob
    alice.write("keep.csv", "k")
    alice.write("gone/old.csv", "old content")
    alice.sync()
    bob.sync()
    alice.delete("gone/old.csv")
    alice.sync()
    bob.sync()
    assert not bob.exists("gone/old.csv")
    rows = log_rows(bob, "gone/old.csv")
    assert [r["event"] for r in rows] == ["deleted", "added"]
    assert rows[0]["author"] == "alice"
    # v1 is the deletion: asked for, it is named with the version to ask for instead
    r = bob.run("restore", "gone/old.csv", "--version", "1", check_rc=2)
    assert "v1 is its deletion by alice" in r.stderr and \
        "restore gone/old.csv --version 2" in r.stderr, r.stderr
    out = tmp_path / "elsewhere"
    bob.run("restore", "gone/old.csv", "--to", str(out), check_rc=0)
    assert (out / "gone" / "old.csv").read_bytes() == b"old content"
    assert not bob.exists("gone/old.csv"), "--to changes nothing in the data folder"
    bob.run("restore", "gone/old.csv", check_rc=0)
    assert bob.read("gone/old.csv") == b"old content"
    bob.sync()
    alice.sync()
    assert alice.read("gone/old.csv") == b"old content"


def test_a_whole_folder_restored_by_tag_and_by_time(team):
    alice, bob = team.alice, team.bob
    alice.write("raw/a.csv", "a1")
    alice.write("raw/b.csv", "b1")
    alice.write("other.csv", "o1")
    alice.sync()
    alice.run("tag", "v1", "-m", "first cut", check_rc=0)
    team.advance_clock()
    moment = now_seen_by(alice)
    team.advance_clock()
    alice.write("raw/a.csv", "a2")
    alice.delete("raw/b.csv")
    alice.write("raw/c.csv", "c2")
    alice.write("other.csv", "o2")
    alice.sync()
    bob.sync()
    tags = json.loads(bob.run("tags", "--json", check_rc=0).stdout)["tags"]
    assert [(t["name"], t["author"], t["message"], t["files"]) for t in tags] == [
        ("v1", "alice", "first cut", 3)]
    r = bob.run("tag", "v1")
    assert r.returncode == 2 and "exists already" in r.stderr
    bob.run("restore", "raw", "--tag", "v1", check_rc=0)
    assert bob.read("raw/a.csv") == b"a1" and bob.read("raw/b.csv") == b"b1"
    assert bob.read("raw/c.csv") == b"c2", "a file the tag does not name is left alone"
    assert bob.read("other.csv") == b"o2", "outside the folder: untouched"
    frame = s3sync_mirror.manifest("v1", bob.repo)
    assert dict(zip(frame["File"], frame["Checksum"])) == {
        "raw/a.csv": sha(b"a1"), "raw/b.csv": sha(b"b1"), "other.csv": sha(b"o1")}
    assert set(frame["Message"]) == {"first cut"}
    alice.run("restore", ".", "--at", moment, check_rc=0)
    assert alice.files() == {"raw/a.csv": b"a1", "raw/b.csv": b"b1", "raw/c.csv": b"c2",
                             "other.csv": b"o1"}
    r = alice.run("restore", "raw")
    assert r.returncode == 2 and "--at TIME or --tag NAME" in r.stderr


def test_the_same_content_archived_twice_is_stored_once(team):
    alice, bob = team.alice, team.bob
    for name in ("a.csv", "b.csv"):
        alice.write(name, "same bytes")
    alice.sync()
    bob.sync()
    alice.write("a.csv", "new a")
    alice.write("b.csv", "new b")
    alice.sync()
    archived = [k for k in team.remote_objects() if k.startswith(".S3/archive/")]
    assert archived == [f".S3/archive/{sha(b'same bytes')[:2]}/{sha(b'same bytes')}"]
    for name in ("a.csv", "b.csv"):
        assert [r["checksum"] for r in log_rows(bob, name)][1] == sha(b"same bytes")
        assert s3sync_mirror.read_version(name, bob.repo, version=2) == b"same bytes"


def test_the_api_log_restore_read_version(team, tmp_path):
    alice, bob = three_versions(team)
    frame = s3sync_mirror.log(bob.repo, paths=["f.csv"])
    assert list(frame.columns) == ["path", "version", "time", "author", "size", "checksum",
                                   "event", "where"]
    assert list(frame["author"]) == ["alice", "bob", "alice"]
    assert list(s3sync_mirror.log(bob.repo, author="bob")["version"]) == [2]
    assert len(s3sync_mirror.log(bob.repo, since="1h")) == 3
    assert s3sync_mirror.log(bob.repo, since="2099-01-01").empty
    assert s3sync_mirror.read_version("f.csv", bob.repo, version=3) == b"v1 by alice"
    assert s3sync_mirror.read_version("f.csv", bob.repo,
                                      checksum=sha(b"v2 by bob")[:10]) == b"v2 by bob"
    done = s3sync_mirror.restore("f.csv", bob.repo, version=2, to=tmp_path / "out")
    assert (tmp_path / "out" / "f.csv").read_bytes() == b"v2 by bob"
    assert done[0]["done"] == "written"
    with pytest.raises(UsageError, match="is not deleted"):
        s3sync_mirror.restore("f.csv", bob.repo)
    with pytest.raises(UsageError, match="no such version"):
        s3sync_mirror.restore("f.csv", bob.repo, version=9)


def test_a_remote_archived_by_the_previous_layout_is_indexed_and_restorable(team):
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "current")
    alice.sync()
    old, gone = b"an old version", b"a deleted file"
    run = "20250101T120000Z-carol-abc123"
    team.put_remote(f".S3/deleted/{run}/a.csv", old)
    team.put_remote(f".S3/deleted/{run}/gone.csv", gone)
    team.put_remote(".S3/deleted_remote.csv", (
        "File,Edited By,Time Edited,Checksum,Size,Where\n"
        f"gone.csv,carol,2025-01-01T12:00:00Z,{sha(gone)},{len(gone)},"
        f".S3/deleted/{run}/gone.csv\n").encode())
    rows = log_rows(bob, "a.csv")
    assert [(r["checksum"], r["where"]) for r in rows] == [(sha(b"current"), "live"),
                                                          (sha(old), "archive")]
    assert [r["event"] for r in log_rows(bob, "gone.csv")] == ["deleted", "added"]
    assert ".S3/history/legacy-archive.csv" in team.remote_objects()
    later = b"archived by a member still on an older release"
    team.put_remote(".S3/deleted/20250202T120000Z-dave-def456/a.csv", later)
    assert sha(later) in [r["checksum"] for r in log_rows(bob, "a.csv")]
    bob.sync()
    bob.run("restore", "gone.csv", check_rc=0)
    assert bob.read("gone.csv") == gone
    bob.run("restore", "a.csv", "--version", "3", check_rc=0)  # 2 is the later one
    assert bob.read("a.csv") == old


def test_bad_selectors_are_clear_errors(team):
    alice = team.alice
    alice.write("a.csv", "1")
    alice.sync()
    for args, words in ((["restore", "a.csv", "--at", "last tuesday"], "is not a time"),
                        (["restore", "nope.csv", "--version", "1"], "no such file or folder"),
                        (["tag", "bad name"], "is not a tag name"),
                        (["restore", "a.csv", "--tag", "missing"], "no tag 'missing'")):
        r = alice.run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert words in r.stderr, (args, r.stderr)


def test_versions_are_ordered_by_when_they_were_made_not_by_mtime(team):
    """A version whose file carries an old mtime (copied in, `touch -d`) is still the
    newest: log orders by when each version reached the remote."""
    import os

    alice = team.alice
    alice.write("f.txt", "AAAA")
    alice.sync()
    team.advance_clock()
    p = alice.write("f.txt", "BBBB")
    os.utime(p, (1577836800, 1577836800))  # 2020-01-01
    alice.sync()
    assert [r["checksum"] for r in log_rows(alice, "f.txt")] == [sha(b"BBBB"), sha(b"AAAA")]
    r = alice.run("restore", "f.txt")
    assert r.returncode == 2 and "is not deleted" in r.stderr
    alice.delete("f.txt")
    alice.sync("--force")
    assert [r["event"] for r in log_rows(alice, "f.txt")] == ["deleted", "modified", "added"]
    alice.run("restore", "f.txt", check_rc=0)
    assert alice.read("f.txt") == b"BBBB"


def test_the_test_clock_offset_moves_the_version_clock_only_when_set(monkeypatch):
    monkeypatch.delenv(clock.TEST_CLOCK_OFFSET, raising=False)
    assert abs(clock.now_ns() - time.time_ns()) < 1_000_000_000
    monkeypatch.setenv(clock.TEST_CLOCK_OFFSET, "7200")
    ahead = clock.now_ns() - time.time_ns()
    assert 7199_000_000_000 < ahead < 7201_000_000_000
    second = 1_000_000_000
    assert abs(clock.ns_from_iso(clock.now_iso()) - (time.time_ns() + 7200 * second)) < 2 * second
    assert abs(clock.ns_from_iso(clock.parse_when("2h")) - time.time_ns()) < 2 * second, \
        "an age counts back from the same clock"
    monkeypatch.setenv(clock.TEST_CLOCK_OFFSET, "soon")  # not whole seconds: ignored
    assert abs(clock.now_ns() - time.time_ns()) < 1_000_000_000


def test_restore_after_a_killed_run_brings_the_version_log_listed(team, tmp_path):
    """A run killed after it recorded a remote deletion and before it published its
    history rows leaves them for its clone's next writing command to publish. ``log`` lists the versions
    as they are until then, and ``restore --version N`` chooses from that same listing
    before it publishes them: v1 is the content log showed, not a deletion it did not."""
    from .test_crashes import run_faulty

    alice, bob = team.alice, team.bob
    alice.write("b.csv", "bee")
    alice.sync()
    bob.sync()
    bob.delete("b.csv")
    r = run_faulty(bob, {"FAULT_CRASH_IN": "commit.py:_publish_history"}, "--yes", "--force",
                   "--json")
    assert r.returncode == -9, (r.returncode, r.stdout, r.stderr)
    assert "b.csv" not in team.remote_files() and "b.csv" not in team.remote_state()
    rows = log_rows(bob, "b.csv")
    assert rows[0]["version"] == 1 and rows[0]["event"] != "deleted", rows
    out = tmp_path / "out"
    bob.run("restore", "b.csv", "--version", "1", "--to", str(out), check_rc=0)
    assert (out / "b.csv").read_bytes() == b"bee"
