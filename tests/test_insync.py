"""The quick no-change check (pipeline/quickcheck.py): taken only when nothing changed since a run that
left everything in sync, and then its answer is the full three-way plan's answer."""
from __future__ import annotations

import os
import time

import pytest

import s3sync_mirror
from s3sync_mirror.pipeline import quickcheck as insync
from s3sync_mirror.state.clonestate import StateDir

OLD = time.time_ns() - 3600 * 10**9  # an hour ago: far outside the racy window


def age(member) -> None:
    """Set every data file's mtime an hour back (as if written long ago)."""
    for path in member.data.rglob("*"):
        if path.is_file() and ".S3" not in path.parts:
            os.utime(path, ns=(OLD, OLD))


def record_of(member):
    return insync.load(StateDir(member.data))


def status(member):
    r = s3sync_mirror.run(member.repo, status=True, quiet=True)
    return sorted((a.path, a.kind) for a in r.plan.actions)


@pytest.fixture
def settled(team):
    """alice and bob both in sync with three old files, each with a quick-check record."""
    alice, bob = team.alice, team.bob
    for name in ("a.csv", "b.csv", "sub/c.csv"):
        alice.write(name, f"{name} v1\n")
    age(alice)
    alice.sync("--yes")
    bob.sync("--yes")
    age(bob)
    bob.sync("--yes")  # bob's files were placed just now: this run re-records them
    assert record_of(alice) is not None and record_of(bob) is not None
    return team


def full_path_only(monkeypatch):
    calls = []
    real = StateDir.load_baseline
    monkeypatch.setattr(StateDir, "load_baseline",
                        lambda self, *a, **kw: calls.append(1) or real(self, *a, **kw))
    return calls


def test_no_change_takes_the_quick_path(settled, monkeypatch):
    calls = full_path_only(monkeypatch)
    r = s3sync_mirror.run(settled.alice.repo, yes=True, quiet=True)
    assert r.ok and r.plan.empty and calls == []
    r = s3sync_mirror.run(settled.alice.repo, status=True, quiet=True)
    assert r.plan.empty and calls == []


def _edit_same_size(member):
    p = member.data / "a.csv"
    p.write_text("a.csv v2\n")  # same length, new mtime


def _touch_only(member):
    os.utime(member.data / "b.csv", ns=(OLD + 10**9, OLD + 10**9))


def _new_file(member):
    member.write("new.csv", "n")


def _delete(member):
    member.delete("sub/c.csv")


def _ignore_pattern(member):
    (member.data / ".S3" / "ignore_remote.txt").write_text("*.csv\n")


def _baseline_edited(member):
    p = member.data / ".S3" / "versions_local.csv"
    p.write_bytes(p.read_bytes())  # same content, new signature


def _record_torn(member):
    p = member.data / ".S3" / "cache" / insync.NAME
    p.write_bytes(p.read_bytes()[:-5])


def _teammate_uploads(member, team):
    team.bob.write("b.csv", "b.csv from bob, longer\n")
    team.bob.sync("--yes")


CHANGES = {"same-size edit": _edit_same_size, "touched only": _touch_only,
           "new file": _new_file, "deleted file": _delete, "new ignore pattern": _ignore_pattern,
           "baseline rewritten": _baseline_edited, "torn record": _record_torn}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_change_takes_the_full_path_and_plans_as_without_the_record(
        settled, change, monkeypatch):
    alice = settled.alice
    CHANGES[change](alice)
    calls = full_path_only(monkeypatch)
    with_record = status(alice)
    assert calls, f"{change}: the quick path answered"
    insync.forget(StateDir(alice.data))
    assert status(alice) == with_record


def test_a_teammates_change_is_seen(settled, monkeypatch):
    _teammate_uploads(settled.alice, settled)
    calls = full_path_only(monkeypatch)
    assert status(settled.alice) == [("b.csv", "download")]
    assert calls
    s3sync_mirror.run(settled.alice.repo, yes=True, quiet=True)
    assert settled.alice.read("b.csv") == b"b.csv from bob, longer\n"


def test_recent_files_are_not_recorded(team):
    alice = team.alice
    alice.write("fresh.csv", "just written")
    alice.sync("--yes")
    assert record_of(alice) is None  # an edit in the same clock tick would not show


def test_no_record_while_something_is_left_undone(team, monkeypatch):
    alice, bob = team.alice, team.bob
    alice.write("x.csv", "base\n")
    alice.sync("--yes")
    bob.sync("--yes")
    alice.write("x.csv", "alice\n")
    bob.write("x.csv", "bob!!\n")
    alice.sync("--yes")
    age(bob)
    bob.sync("--yes", rc=3)  # the conflict is skipped without a terminal
    assert record_of(bob) is None
    calls = full_path_only(monkeypatch)
    assert status(bob) == [("x.csv", "conflict")]
    assert calls


def test_the_full_path_does_not_ask_the_remote_twice(settled, monkeypatch):
    _edit_same_size(settled.alice)
    from s3sync_mirror.platforms.local.connection import LocalConnection
    from s3sync_mirror.platforms.s3.connection import S3Connection

    asked = []
    for cls in (LocalConnection, S3Connection):
        for name in ("get_bytes", "head"):
            real = getattr(cls, name)
            monkeypatch.setattr(cls, name, lambda self, key, *a, __real=real, **kw:
                                asked.append(key) or __real(self, key, *a, **kw))
    assert status(settled.alice) == [("a.csv", "upload")]
    # the quick check's HEADs (the checkpoint, the state head, sent together) found the
    # state unchanged: the full path does not read it again
    assert sorted(asked) == [".S3/state_head.json", ".S3/versions_remote.csv"]


def _head_gets(monkeypatch) -> list:
    """Where each GET of the state head comes from, from now on (on either remote)."""
    import traceback
    from s3sync_mirror.core import layout
    from s3sync_mirror.platforms.local.connection import LocalConnection
    from s3sync_mirror.platforms.s3.connection import S3Connection

    got = []
    for cls in (LocalConnection, S3Connection):
        real = cls.get_bytes

        def get(self, key, *a, __real=real, **kw):
            if key == layout.HEAD_KEY:
                got.append("".join(traceback.format_stack(limit=8)[:-1]))
            return __real(self, key, *a, **kw)
        monkeypatch.setattr(cls, "get_bytes", get)
    return got


def test_a_commit_moves_the_head_it_already_read(settled, monkeypatch):
    """The state head is read once per run at most: a commit's compare-and-swap starts
    from the head the quick check found as seen (no GET at all), or from the one the
    fetch read (one GET), and the head still moves one generation per commit."""
    from s3sync_mirror.state import statehead

    alice, bob = settled.alice, settled.bob
    gen = statehead.read(_remote(alice))[0].generation
    alice.write("a.csv", "a.csv v2, longer\n")
    got = _head_gets(monkeypatch)
    assert s3sync_mirror.run(alice.repo, yes=True, quiet=True).ok
    assert got == []  # the remote was as alice last saw it
    assert statehead.read(_remote(alice))[0].generation == gen + 1
    got.clear()
    bob.write("b.csv", "b.csv v2, longer\n")  # and the remote changed: one GET
    assert s3sync_mirror.run(bob.repo, yes=True, quiet=True).ok
    assert len(got) == 1, "\n\n".join(got)
    assert statehead.read(_remote(alice))[0].generation == gen + 2
    assert StateDir(bob.data).seen_head()[0] == statehead.read(_remote(bob))[0]


def _remote(member):
    from s3sync_mirror.config import load_settings
    from s3sync_mirror.session import open_session

    with open_session(load_settings(member.repo), writes=False) as s:
        return s.remote


def test_an_upload_only_run_records_its_walk_and_the_next_run_is_quick(settled, monkeypatch):
    """A run that changed nothing on disk (an upload) records the fingerprint its quick
    check took of the walk, without taking it again, and that is the folder's."""
    from s3sync_mirror.pipeline.scan import walk

    alice = settled.alice
    alice.write("a.csv", "a.csv v2, longer\n")
    age(alice)
    taken = []
    real = insync.fingerprint
    monkeypatch.setattr(insync, "fingerprint",
                        lambda found, *a, **kw: taken.append(1) or real(found, *a, **kw))
    r = s3sync_mirror.run(alice.repo, yes=True, quiet=True)
    assert r.ok and [(a.path, a.kind) for a in r.plan.actions] == [("a.csv", "upload")]
    assert taken == [1]  # the quick check's, reused by the record
    rec = record_of(alice)
    assert rec is not None and rec[4] == real(walk(alice.data)[0], rec[4].bounds)
    calls = full_path_only(monkeypatch)
    r = s3sync_mirror.run(alice.repo, yes=True, quiet=True)
    assert r.plan.empty and calls == []
