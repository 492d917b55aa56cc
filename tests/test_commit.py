"""Commit, the pure part: merging a run's outcomes into the remote state as it is now, and
the new baseline listing only what completed."""
from __future__ import annotations

from s3sync_mirror.core import model as m
from s3sync_mirror.state.merges import RACY_NS, merge_remote, new_baseline
from s3sync_mirror.core.model import Action, FileState, Outcome


def fs(c, etag="", mtime=-1):
    return FileState((c * 64)[:64], 1, "", "", mtime, etag)


def done(kind, path, local=None, remote=None, **kw):
    a = Action(path, kind, "", local=local, remote=remote)
    return Outcome(a, m.DONE, **kw)


def test_merge_keeps_other_members_commits():
    read = {"a": fs("a", "e1")}
    current = {"a": fs("a", "e1"), "bobs": fs("b", "e9")}  # bob committed meanwhile
    up = done(m.UPLOAD, "mine", local=fs("m"), remote_state=fs("m", "e2"))
    new, rejected = merge_remote(current, read, [up])
    assert new == {"a": fs("a", "e1"), "bobs": fs("b", "e9"), "mine": fs("m", "e2")}
    assert rejected == set()


def test_merge_rejects_a_path_someone_else_changed_meanwhile():
    read = {"a": fs("a", "e1")}
    current = {"a": fs("x", "e7")}
    up = done(m.UPLOAD, "a", local=fs("m"), remote=fs("a", "e1"), remote_state=fs("m", "e2"))
    new, rejected = merge_remote(current, read, [up])
    assert new == current and rejected == {"a"}


def test_merge_applies_deletes_and_keep_both_copies():
    read = {"a": fs("a", "e1"), "k": fs("k", "e3")}
    dele = done(m.DELETE_REMOTE, "a", remote=fs("a", "e1"))
    both = done(m.KEEP_BOTH, "k", local=fs("l"), remote=fs("k", "e3"),
                extra=(("k.conflict", fs("l", mtime=5), fs("l", "e4")),))
    down = done(m.DOWNLOAD, "z", remote=fs("z"))
    new, rejected = merge_remote(read, read, [dele, both, down])
    assert new == {"k": fs("k", "e3"), "k.conflict": fs("l", "e4")}


def test_failed_and_skipped_outcomes_change_nothing():
    read = {"a": fs("a", "e1")}
    a = Action("n", m.UPLOAD, "", local=fs("n"))
    outs = [Outcome(a, m.FAILED, error="x"), Outcome(a, m.SKIPPED)]
    assert merge_remote(read, read, outs) == (read, set())
    assert new_baseline(read, {}, (), outs, set(), 10 ** 19) == read


def test_baseline_lists_only_what_completed():
    base = {"up": fs("0"), "down": fs("0"), "del": fs("d"), "fail": fs("f")}
    local = {"up": fs("1", mtime=1), "down": fs("0", mtime=1), "fail": fs("2", mtime=1)}
    outs = [done(m.UPLOAD, "up", local_state=fs("1", "e", 1)),
            done(m.DOWNLOAD, "down", local_state=fs("9", "e", 2)),
            done(m.DELETE_LOCAL, "del"),
            Outcome(Action("fail", m.UPLOAD, ""), m.FAILED, error="boom")]
    b = new_baseline(base, local, (), outs, set(), now_ns=10 ** 18)
    assert b == {"up": fs("1", "e", 1), "down": fs("9", "e", 2), "fail": fs("f")}


def test_uncommitted_remote_changes_never_enter_the_baseline():
    """If the remote state could not be written, an upload in the baseline would read as a
    remote deletion next time."""
    outs = [done(m.UPLOAD, "up", local_state=fs("1", "e", 1)),
            done(m.DOWNLOAD, "down", local_state=fs("9", "e", 2))]
    b = new_baseline({}, {}, (), outs, set(), 10 ** 18, remote_committed=False)
    assert b == {"down": fs("9", "e", 2)}


def test_records_and_forgets():
    rec = Action("r", m.RECORD, "", local=fs("x", mtime=7), remote=fs("x", "e5"))
    fgt = Action("f", m.FORGET, "", base=fs("f"))
    b = new_baseline({"f": fs("f"), "r": fs("old")}, {"r": fs("x", mtime=7)}, (rec, fgt), [],
                     set(), 10 ** 18)
    assert b == {"r": fs("x", "e5", 7)}


def test_racy_mtimes_are_not_trusted_and_cache_is_refreshed():
    now = 10 ** 18
    base = {"old": fs("o", mtime=5), "touched": fs("t", mtime=5)}
    local = {"old": fs("o", mtime=5), "touched": fs("t", mtime=now - RACY_NS // 2)}
    b = new_baseline(base, local, (), [], set(), now)
    assert b["old"].mtime_ns == 5
    assert b["touched"].mtime_ns == -1, "a file edited within the racy window is re-hashed"
    local["touched"] = fs("t", mtime=6)
    assert new_baseline(base, local, (), [], set(), now)["touched"].mtime_ns == 6
