"""Unit tests of the stages on values (docs/stages.md): the confirm policy, the schedule,
the local replica, the quick-check listing, and the executor carrying out exactly what was
approved (pip-tools' habit: assert what did NOT run after the user declined)."""
from __future__ import annotations

import os
import re

import pytest

from s3sync_mirror.pipeline import quickcheck as insync
from s3sync_mirror.core import layout
from s3sync_mirror.core import model as m
from s3sync_mirror.pipeline.confirm import Answers, Policy, approve, guard_deletes
from s3sync_mirror.core.errors import MaxDeleteExceeded
from s3sync_mirror.pipeline.execute import Context, Executor
from s3sync_mirror.core.hashing import sha256_file
from s3sync_mirror.core.layout import Layout
from s3sync_mirror.pipeline.replica import ChangedDuringSync, Replica
from s3sync_mirror.core.model import Action, FileState, Outcome
from s3sync_mirror.pipeline.plan import make_plan
from s3sync_mirror.platforms.local.connection import LocalConnection
from s3sync_mirror.pipeline.schedule import schedule
from s3sync_mirror.state.clonestate import StateDir


def fs(c, size=1, mtime=-1, etag=""):
    return FileState((c * 64)[:64], size, "", "", mtime, etag)


def act(path, kind, local=None, remote=None):
    return Action(path, kind, "", local=local, remote=remote)


MIXED = make_plan({"c": fs("0"), "gone": fs("g")},
                  {"c": fs("1"), "new": fs("n"), "gone": fs("g")},
                  {"c": fs("2"), "theirs": fs("t")})


def kinds(actions):
    return sorted((a.path, a.kind) for a in actions)


# -- confirm ---------------------------------------------------------------------------
def test_the_mixed_plan_is_what_the_confirm_tests_assume():
    assert kinds(MIXED.actions) == [("c", m.CONFLICT), ("gone", m.DELETE_LOCAL),
                                    ("new", m.UPLOAD), ("theirs", m.DOWNLOAD)]


def test_yes_approves_every_non_conflict_and_skips_conflicts():
    pol = Policy.of(yes=True, dry_run=False, interactive=False, conflict=None)
    approved, left = approve(MIXED, pol, Answers(), user="u", stamp="S", taken=frozenset())
    assert kinds(approved) == [("gone", m.DELETE_LOCAL), ("new", m.UPLOAD),
                               ("theirs", m.DOWNLOAD)]
    assert left == 1


def test_without_a_terminal_and_without_yes_nothing_is_approved():
    pol = Policy.of(yes=False, dry_run=False, interactive=False, conflict="both")
    assert not pol.decides
    assert approve(MIXED, pol, Answers(), user="u", stamp="S", taken=frozenset()) == ([], 4)


def test_declined_groups_run_nothing_and_the_answers_are_all_that_run():
    pol = Policy.of(yes=False, dry_run=False, interactive=True, conflict=None)
    assert pol.ask and pol.conflicts == "ask"
    only_new = tuple(a for a in MIXED.actions if a.path == "new")
    approved, left = approve(MIXED, pol, Answers(only_new, {"c": m.SKIP}), user="u",
                             stamp="S", taken=frozenset())
    assert kinds(approved) == [("new", m.UPLOAD)] and left == 3
    approved, left = approve(MIXED, pol, Answers((), {}), user="u", stamp="S",
                             taken=frozenset())
    assert approved == [] and left == 4


def test_asked_resolutions_and_policies_resolve_conflicts():
    pol = Policy.of(yes=False, dry_run=False, interactive=True, conflict=None)
    approved, _ = approve(MIXED, pol, Answers((), {"c": m.KEEP_REMOTE}), user="u",
                          stamp="S", taken=frozenset())
    assert [(a.path, a.kind, a.resolution) for a in approved] == [
        ("c", m.DOWNLOAD, m.KEEP_REMOTE)]
    pol = Policy.of(yes=True, dry_run=False, interactive=False, conflict="both")
    approved, left = approve(MIXED, pol, Answers(), user="u", stamp="S",
                             taken=frozenset({"c.conflict-u-S"}))
    both = [a for a in approved if a.kind == m.KEEP_BOTH]
    assert [a.conflict_path for a in both] == ["c.conflict-u-S-1"] and left == 0


def test_a_keep_both_name_avoids_every_side_without_copying_them():
    from s3sync_mirror.pipeline.confirm import InUse

    pol = Policy.of(yes=True, dry_run=False, interactive=False, conflict="both")
    for sides in (({"c.conflict-u-S": 1}, {}, {}), ({}, {}, {"c.conflict-u-S": 1})):
        approved, _ = approve(MIXED, pol, Answers(), user="u", stamp="S", taken=InUse(*sides))
        assert [a.conflict_path for a in approved if a.kind == m.KEEP_BOTH] == [
            "c.conflict-u-S-1"]
    names = InUse({"a": 1}, {"b": 2})
    names.given.add("c")
    assert all(p in names for p in "abc") and "d" not in names


def test_dry_run_never_asks():
    pol = Policy.of(yes=False, dry_run=True, interactive=True, conflict="ask")
    assert not pol.ask and pol.decides


def test_max_delete_guard():
    plan = make_plan({p: fs(p) for p in "abc"}, {"a": fs("a")}, {p: fs(p) for p in "abc"})
    assert [a.kind for a in plan.actions] == [m.DELETE_REMOTE, m.DELETE_REMOTE]
    with pytest.raises(MaxDeleteExceeded, match="2 of the 3 remote files"):
        guard_deletes(plan, 1, 3, max_delete=50, force=False)
    guard_deletes(plan, 1, 3, max_delete=50, force=True)
    guard_deletes(plan, 1, 3, max_delete=70, force=False)


# -- schedule --------------------------------------------------------------------------
def test_schedule_orders_largest_first_and_deletions_last():
    small, big = act("s", m.UPLOAD, local=fs("s", 10)), act("b", m.DOWNLOAD, remote=fs("b", 99))
    dele = act("d", m.DELETE_REMOTE, remote=fs("d"))
    sched = schedule([dele, small, big])
    assert sched.first == [] and sched.transfers == [big, small] and sched.deletions == [dele]
    assert sched.total_bytes == 109


def test_a_deletion_in_the_way_of_a_transfer_runs_first():
    # "x" the file becomes "x/" the folder (and "y/z" the file becomes "y" the file)
    into_folder = act("x/new.csv", m.DOWNLOAD, remote=fs("n"))
    old_file = act("x", m.DELETE_LOCAL, local=fs("o"))
    old_folder_file = act("y/z", m.DELETE_LOCAL, local=fs("z"))
    file_for_folder = act("y", m.DOWNLOAD, remote=fs("y"))
    other = act("q", m.DELETE_LOCAL, local=fs("q"))
    sched = schedule([other, into_folder, old_file, old_folder_file, file_for_folder])
    assert sched.first == [old_file, old_folder_file] and sched.deletions == [other]


def test_keep_both_counts_both_directions():
    both = Action("k", m.KEEP_BOTH, "", local=fs("l", 3), remote=fs("r", 5),
                  conflict_path="k.conflict")
    assert schedule([both]).total_bytes == 8


# -- the local replica -----------------------------------------------------------------
def _replica(tmp_path):
    data = tmp_path / "Data"
    (data / layout.STATE_DIR / layout.TMP).mkdir(parents=True)
    return Replica(Layout(data), "RUN"), data


def test_place_keeps_the_replaced_version_in_the_trash(tmp_path):
    rep, data = _replica(tmp_path)
    (data / "a.txt").write_text("old")
    st = os.stat(data / "a.txt")
    tmp = rep.tmp()
    tmp.write_text("new")
    _, trashed = rep.place(tmp, "a.txt", FileState("x", 3, mtime_ns=st.st_mtime_ns))
    assert (data / "a.txt").read_text() == "new" and not tmp.exists()
    assert trashed == ".S3/trash/RUN/a.txt" and (data / trashed).read_text() == "old"


def test_place_refuses_a_file_changed_since_the_scan(tmp_path):
    rep, data = _replica(tmp_path)
    (data / "a.txt").write_text("edited")
    tmp = rep.tmp()
    tmp.write_text("new")
    with pytest.raises(ChangedDuringSync):
        rep.place(tmp, "a.txt", FileState("x", 3, mtime_ns=1))
    assert (data / "a.txt").read_text() == "edited" and not tmp.exists()


def test_to_trash_moves_the_file_and_prunes_emptied_folders(tmp_path):
    rep, data = _replica(tmp_path)
    (data / "d" / "e").mkdir(parents=True)
    (data / "d" / "e" / "f.txt").write_text("x")
    st = os.stat(data / "d" / "e" / "f.txt")
    kept = rep.to_trash("d/e/f.txt", FileState("x", 1, mtime_ns=st.st_mtime_ns))
    assert (data / kept).read_text() == "x" and not (data / "d").exists()


def test_a_path_through_a_symlinked_folder_is_refused(tmp_path):
    rep, data = _replica(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", data / "link")
    with pytest.raises(Exception, match="outside the data folder"):
        rep.path("link/x.txt")


# -- the quick-check listing -----------------------------------------------------------
def test_listing_after_is_the_folder_as_the_run_left_it():
    down = Outcome(act("n", m.DOWNLOAD, remote=fs("n")), m.DONE)
    gone = Outcome(act("g", m.DELETE_LOCAL, local=fs("g")), m.DONE)
    scanned = {"a": fs("a", 1, 10), "g": fs("g", 1, 11)}
    base = {"a": fs("a", 1, 10), "n": fs("n", 1, 12)}
    kinds_ = (m.DOWNLOAD, m.DELETE_LOCAL)
    listing = insync.listing_after(scanned, base, {"n": down, "g": gone}, kinds_)
    assert {p: (b.size, b.mtime_ns, b.node) for p, b in listing.items()} == {
        "a": (1, 10, ()), "n": (1, 12, ())}
    # a path of the baseline that is neither on disk nor downloaded: no record
    assert insync.listing_after(scanned, {**base, "x": fs("x", 1, 13)},
                                {"n": down, "g": gone}, kinds_) is None
    # a file on disk the baseline lacks: no record
    assert insync.listing_after({**scanned, "y": fs("y", 1, 14)}, base,
                                {"n": down, "g": gone}, kinds_) is None
    # the baseline disagrees with the disk about "a": no record
    assert insync.listing_after(scanned, {**base, "a": fs("a", 1, 99)},
                                {"n": down, "g": gone}, kinds_) is None
    # "g" was not deleted after all
    assert insync.listing_after(scanned, base, {"n": down}, kinds_) is None


# -- the executor does exactly what was approved ---------------------------------------
def test_the_executor_carries_out_only_the_approved_actions(tmp_path):
    data, remote_root = tmp_path / "Data", tmp_path / "remote"
    remote_root.mkdir()
    statedir = StateDir(data)
    statedir.ensure()
    for name in ("up.txt", "declined.txt"):
        (data / name).write_text(name)
    remote = LocalConnection(remote_root)
    scanned = {p: FileState.scanned(sha256_file(data / p), os.path.getsize(data / p),
                                    os.stat(data / p).st_mtime_ns)
               for p in ("up.txt", "declined.txt")}
    plan = make_plan({}, scanned, {})
    pol = Policy.of(yes=False, dry_run=False, interactive=True, conflict=None)
    chosen = tuple(a for a in plan.actions if a.path == "up.txt")
    approved, left = approve(plan, pol, Answers(chosen), user="u", stamp="S",
                             taken=frozenset())
    ctx = Context(remote=remote, replica=Replica(statedir.layout, "RUN"), user="u",
                  journal=statedir.open_journal())
    outcomes = Executor(ctx).run(approved)
    assert [(o.action.path, o.status) for o in outcomes] == [("up.txt", m.DONE)]
    assert left == 1
    assert sorted(o.key for o in remote.list() if not layout.is_state_key(o.key)) == ["up.txt"]


# -- the progress bar --------------------------------------------------------------------
def test_the_progress_bar_counts_files_and_iec_bytes(monkeypatch):
    import io
    import sys

    from s3sync_mirror.ui.progress import TqdmProgress, make

    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    bar = TqdmProgress("sync")
    bar.set_size(3 << 20, 2)
    bar.advance(1 << 20)
    bar.file_done()
    bar._label(force=True)
    shown = err.getvalue()
    bar.close()
    assert re.search(r"sync: 1/2 files \([\d,]+/s\), 1\.0 MiB/3\.0 MiB \([\d.]+ \w+/s\), "
                     r"33%, ", shown), shown
    assert "MB" not in shown.replace("MiB", "")
    assert type(make("sync", enabled=False)).__name__ == "Progress"  # silent off a terminal
