"""One change costs one change (pipeline/delta.py): after a run that left everything in sync
and indexed it (state/pathindex.py), a run plans only the paths the walk and the state log
name as changed, and its plan, its outcome and the state it leaves are the full path's.

The index is made for a baseline of ``S3SYNC_INDEX_FILES`` files or more (20,000 by
default); these stories index every baseline, and let the state log and the baseline's
changes file grow as they do at scale (the knobs are the same ones a big folder meets)."""
from __future__ import annotations

import os
import time

import pytest

import s3sync_mirror
from s3sync_mirror.pipeline import delta, quickcheck as insync
from s3sync_mirror.state import baselinechanges, pathindex, remotelog
from s3sync_mirror.state.clonestate import StateDir

OLD = time.time_ns() - 3600 * 10**9
FILES = [f"d{i % 3}/f{i:02d}.csv" for i in range(24)] + ["top.csv"]


def age(member) -> None:
    for path in member.data.rglob("*"):
        if path.is_file() and ".S3" not in path.parts:
            os.utime(path, ns=(OLD, OLD))


@pytest.fixture
def at_scale(monkeypatch):
    """The knobs as a big folder meets them: every baseline indexed, a log that does not
    end at every commit, a baseline saved as its changes."""
    monkeypatch.setattr(pathindex, "INDEX_FILES", 0)
    monkeypatch.setattr(remotelog, "CHECKPOINT_FILES", 0)
    monkeypatch.setattr(baselinechanges, "MIN_ROWS", 100)


class Paths:
    """Counts the runs that took each path."""

    def __init__(self, monkeypatch):
        self.few, self.full = 0, 0
        real_detect, real_load = delta.detect, StateDir.load_baseline

        def detect(*a, **kw):
            d = real_detect(*a, **kw)
            self.few += d is not None
            return d

        def load(me, *a, **kw):
            self.full += 1
            return real_load(me, *a, **kw)

        monkeypatch.setattr(delta, "detect", detect)
        monkeypatch.setattr(StateDir, "load_baseline", load)


def run(member, **kw):
    return s3sync_mirror.run(member.repo, quiet=True, **kw)


def plan_of(r):
    return sorted((a.path, a.kind) for a in r.plan.actions)


def settle(team):
    """Everyone in sync, with a quick-check record and an index."""
    for m in team.members.values():
        for _ in range(2):
            age(m)
            assert run(m, yes=True).ok
    for m in team.members.values():
        assert insync.load(StateDir(m.data)) is not None
        assert pathindex.open_index(StateDir(m.data)) is not None


@pytest.fixture
def settled(team, at_scale):
    for i, name in enumerate(FILES):
        team.alice.write(name, f"{name} v1 {i}\n")
    settle(team)
    return team


def full_plan(member):
    """The status plan of the full path (index moved aside for the run)."""
    idx = StateDir(member.data).cache / pathindex.NAME
    aside = idx.with_name("aside.sqlite")
    os.replace(idx, aside)
    try:
        return plan_of(run(member, status=True))
    finally:
        os.replace(aside, idx)


def same_everywhere(team):
    files = team.alice.files()
    for m in team.members.values():
        assert m.files() == files, m.name
        assert full_plan(m) == [] and plan_of(run(m, status=True)) == []


CHANGES = {
    "edit": lambda m: m.write("d1/f01.csv", "edited, longer than before\n"),
    "new file": lambda m: m.write("d2/new.csv", "new\n"),
    "new folder": lambda m: m.write("fresh/deep/n.csv", "new\n"),
    "delete": lambda m: m.delete("d0/f03.csv"),
    "rename": lambda m: os.replace(m.data / "d0/f06.csv", m.data / "d0/renamed.csv"),
    "two edits": lambda m: (m.write("top.csv", "x\n"), m.write("d2/f05.csv", "y\n")),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_local_change_is_planned_from_its_paths_alone(settled, monkeypatch, change):
    alice, bob = settled.alice, settled.bob
    CHANGES[change](alice)
    age(alice)
    expected = full_plan(alice)
    seen = Paths(monkeypatch)
    assert plan_of(run(alice, status=True)) == expected and expected
    r = run(alice, yes=True)
    assert r.ok and plan_of(r) == expected
    assert (seen.few, seen.full) == (2, 0)
    assert insync.load(StateDir(alice.data)) is not None  # the next run is quick again
    # bob's side of it: a teammate's change, from the log
    bob_expected = full_plan(bob)
    seen.few = seen.full = 0
    r = run(bob, yes=True)
    assert r.ok and plan_of(r) == bob_expected and bob_expected
    assert (seen.few, seen.full) == (1, 0)
    same_everywhere(settled)


def test_a_teammates_changes_come_from_the_log(settled, monkeypatch):
    alice, bob = settled.alice, settled.bob
    for change in ("edit", "new folder", "delete", "rename"):
        CHANGES[change](bob)
        age(bob)
        assert run(bob, yes=True).ok
    expected = full_plan(alice)
    seen = Paths(monkeypatch)
    r = run(alice, yes=True)
    assert r.ok and plan_of(r) == expected and len(expected) == 4
    assert seen.full == 0 and seen.few == 1
    age(alice)
    assert run(alice, yes=True).plan.empty  # the downloads are in its record
    idx = pathindex.open_index(StateDir(alice.data))
    assert idx.count == len(alice.files()) == len(idx.between(None, None))
    idx.close()
    same_everywhere(settled)


def test_both_sides_at_once_and_a_conflict_takes_the_full_path(settled, monkeypatch):
    alice, bob = settled.alice, settled.bob
    bob.write("d1/f04.csv", "bob's\n")
    age(bob)
    assert run(bob, yes=True).ok
    alice.write("d2/f02.csv", "alice's\n")
    age(alice)
    seen = Paths(monkeypatch)
    r = run(alice, yes=True)
    assert r.ok and plan_of(r) == [("d1/f04.csv", "download"), ("d2/f02.csv", "upload")]
    assert (seen.few, seen.full) == (1, 0)
    alice.write("top.csv", "alice's top\n")
    bob.write("top.csv", "bob's top\n")
    age(alice)
    age(bob)
    assert run(bob, yes=True).ok
    r = run(alice, yes=True, conflict="remote")
    assert r.ok and plan_of(r) == [("top.csv", "conflict")]
    assert seen.full == 1  # a conflict: the full path planned it
    settle(settled)
    same_everywhere(settled)


def test_a_path_meeting_a_file_or_folder_left_out_takes_the_full_path(settled):
    """S3 holds ``top.csv`` and ``top.csv/inner.csv`` both, a disk cannot: when only one
    of them is among the changed paths, the other is not in the plan's view."""
    idx = pathindex.open_index(StateDir(settled.alice.data))
    try:
        assert delta._tangled(idx, frozenset({"top.csv/inner.csv"}))  # under a file
        assert delta._tangled(idx, frozenset({"d0"}))  # a file where a folder is
        assert not delta._tangled(idx, frozenset({"d0/new.csv", "other/x.csv"}))
        assert not delta._tangled(idx, frozenset({"top.csv", "top.csv/inner.csv"}))
        assert not delta._tangled(idx, frozenset({"d0", *(p for p in FILES if p[:3] == "d0/")}))
    finally:
        idx.close()


def test_a_commit_that_ends_the_log_or_loses_the_race_is_made_from_the_whole_state(
        settled, monkeypatch):
    from s3sync_mirror.state import remotestate

    alice, bob, = settled.alice, settled.bob
    widened = []
    real_widened = remotestate._widened
    monkeypatch.setattr(remotestate, "_widened",
                        lambda *a: widened.append(1) or real_widened(*a))
    # every commit ends the log of a small state: the entry is not written from some paths
    monkeypatch.setattr(remotelog, "CHECKPOINT_FILES", 20_000)
    alice.write("d0/f00.csv", "ends the log\n")
    age(alice)
    seen = Paths(monkeypatch)
    r = run(alice, yes=True)
    assert r.ok and plan_of(r) == [("d0/f00.csv", "upload")] and seen.few == 1
    assert widened == [1]
    monkeypatch.setattr(remotelog, "CHECKPOINT_FILES", 0)
    settle(settled)
    same_everywhere(settled)
    # bob commits between alice's reading and her commit
    real = delta.detect

    def late(*a, **kw):
        d = real(*a, **kw)
        bob.write("d1/f01.csv", "bob was first\n")
        age(bob)
        bob.sync()
        return d

    monkeypatch.setattr(delta, "detect", late)
    alice.write("d2/f02.csv", "alice second\n")
    age(alice)
    widened.clear()
    r = run(alice, yes=True)
    assert r.ok and plan_of(r) == [("d2/f02.csv", "upload")]
    assert widened == [1]  # bob's entry took the number: the commit read the whole state
    monkeypatch.setattr(delta, "detect", real)
    r = run(alice, yes=True)
    assert plan_of(r) == [("d1/f01.csv", "download")]
    settle(settled)
    same_everywhere(settled)
    assert alice.read("d1/f01.csv") == b"bob was first\n"
    assert bob.read("d2/f02.csv") == b"alice second\n"


def test_an_index_of_another_baseline_is_not_used(settled, monkeypatch):
    alice = settled.alice
    idx = pathindex.open_index(StateDir(alice.data))
    idx.update({}, (0, 0, 0, 0), idx.pos)  # as if made for another baseline file
    idx.close()
    alice.write("top.csv", "changed\n")
    age(alice)
    seen = Paths(monkeypatch)
    assert plan_of(run(alice, yes=True)) == [("top.csv", "upload")]
    assert (seen.few, seen.full) == (0, 1)
    # the full path indexed it again
    alice.write("top.csv", "changed again\n")
    age(alice)
    assert plan_of(run(alice, yes=True)) == [("top.csv", "upload")]
    assert (seen.few, seen.full) == (1, 1)


def test_a_changes_file_grown_too_big_rewrites_the_baseline_whole(settled, monkeypatch):
    alice = settled.alice
    sd = StateDir(alice.data)
    monkeypatch.setattr(baselinechanges, "MIN_ROWS", 2)
    rows = []
    for i in range(4):
        alice.write(f"d0/f{i * 3:02d}.csv", f"edit {i}\n")
        age(alice)
        r = run(alice, yes=True)
        assert r.ok and plan_of(r) == [(f"d0/f{i * 3:02d}.csv", "upload")]
        changes = sd.layout.baseline_changes
        rows.append(len(changes.read_text().splitlines()) - 1 if changes.exists() else 0)
    # each run adds a row; one that would make 3 writes the baseline whole instead
    assert max(rows) <= 2 and 0 in rows
    for i in range(4):
        assert sd.load_baseline()[f"d0/f{i * 3:02d}.csv"].size == len(f"edit {i}\n")
    settle(settled)
    same_everywhere(settled)



def test_a_file_written_just_now_is_hashed_again_by_the_next_run(settled, monkeypatch):
    """A file whose mtime is within the clock's reach of the record is recorded so that
    the next run looks at it again (a same-tick edit would not show in its stat)."""
    alice = settled.alice
    alice.write("top.csv", "just now\n")
    seen = Paths(monkeypatch)
    assert plan_of(run(alice, yes=True)) == [("top.csv", "upload")]
    rec = insync.load(StateDir(alice.data))
    assert rec is not None
    idx = pathindex.open_index(StateDir(alice.data))
    assert idx.rows(["top.csv"])["top.csv"][0].mtime_ns == -1
    idx.close()
    # the same size, the same mtime: only a hash can tell
    st = os.stat(alice.data / "top.csv")
    alice.write("top.csv", "just new\n")
    os.utime(alice.data / "top.csv", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert plan_of(run(alice, yes=True)) == [("top.csv", "upload")]
    assert (seen.few, seen.full) == (2, 0)
    settle(settled)
    same_everywhere(settled)
    assert settled.bob.read("top.csv") == b"just new\n"
