"""The decision table (docs/decision-table.md#the-table), cell by cell, and the planner's
properties."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3sync_mirror.core import model as m
from s3sync_mirror.core.model import FileState
from s3sync_mirror.pipeline.plan import decide, make_plan, resolve
from s3sync_mirror.core.paths import conflict_name


def fs(content: str) -> FileState:
    """A file state whose checksum stands for ``content``."""
    return FileState(checksum=(content * 64)[:64], size=len(content))


B, L, R, X = fs("b"), fs("1"), fs("2"), fs("9")

# (baseline, local, remote) -> expected kind; None = nothing to do.
# Rows: local unchanged / changed / new / deleted / never there.
# Columns: remote unchanged / changed or new / deleted / never there.
TABLE = [
    ("unchanged x unchanged", B, B, B, None),
    ("unchanged x changed", B, B, R, m.DOWNLOAD),
    ("unchanged x deleted", B, B, None, m.DELETE_LOCAL),
    ("changed x unchanged", B, L, B, m.UPLOAD),
    ("changed x changed", B, L, R, m.CONFLICT),
    ("changed x changed, same content", B, X, X, m.RECORD),
    ("changed x deleted", B, L, None, m.CONFLICT),
    ("new x new", None, L, R, m.CONFLICT),
    ("new x new, same content", None, X, X, m.RECORD),
    ("new x never there", None, L, None, m.UPLOAD),
    ("deleted x unchanged", B, None, B, m.DELETE_REMOTE),
    ("deleted x changed", B, None, R, m.CONFLICT),
    ("deleted x deleted", B, None, None, m.FORGET),
    ("never there x new", None, None, R, m.DOWNLOAD),
]


@pytest.mark.parametrize("name,base,local,remote,expected", TABLE, ids=[t[0] for t in TABLE])
def test_decision_table(name, base, local, remote, expected):
    kind, reason, _ = decide(base, local, remote)
    assert kind == expected
    if kind is not None:
        assert reason


@pytest.mark.parametrize("name,base,local,remote,expected", TABLE, ids=[t[0] for t in TABLE])
def test_each_cell_through_make_plan(name, base, local, remote, expected):
    plan = make_plan({"f": base} if base else {}, {"f": local} if local else {},
                     {"f": remote} if remote else {})
    kinds = [a.kind for a in (*plan.actions, *plan.records)]
    assert kinds == ([expected] if expected else [])
    if expected in (m.RECORD, m.FORGET):
        assert not plan.actions, "baseline bookkeeping is never shown as an action"


MIRROR = {m.UPLOAD: m.DOWNLOAD, m.DOWNLOAD: m.UPLOAD, m.DELETE_LOCAL: m.DELETE_REMOTE,
          m.DELETE_REMOTE: m.DELETE_LOCAL, m.CONFLICT: m.CONFLICT, m.RECORD: m.RECORD,
          m.FORGET: m.FORGET, m.MOVE_REMOTE: m.MOVE_LOCAL, m.MOVE_LOCAL: m.MOVE_REMOTE, None: None}

states = st.sampled_from([None, B, L, R, X])


@given(base=states, local=states, remote=states)
def test_swapping_sides_mirrors_the_decision(base, local, remote):
    kind, _, cat = decide(base, local, remote)
    swapped, _, scat = decide(base, remote, local)
    assert swapped == MIRROR[kind]
    assert cat == scat


@given(local=states, remote=states)
def test_without_a_baseline_nothing_is_ever_deleted(local, remote):
    """First sync, or after reset: equal files recorded, one-sided ones transferred,
    differing ones conflicts; never a delete."""
    kind, _, _ = decide(None, local, remote)
    assert kind not in (m.DELETE_LOCAL, m.DELETE_REMOTE)
    if local and remote:
        assert kind == (m.RECORD if local.checksum == remote.checksum else m.CONFLICT)
    elif local:
        assert kind == m.UPLOAD
    elif remote:
        assert kind == m.DOWNLOAD


@given(base=states, local=states, remote=states)
def test_a_side_that_moved_is_never_overwritten_silently(base, local, remote):
    """If both sides moved away from the baseline to different contents, it's a conflict."""
    kind, _, _ = decide(base, local, remote)
    moved_l = (local and base and local.checksum != base.checksum) or \
        (local is None and base is not None) or (local and base is None)
    moved_r = (remote and base and remote.checksum != base.checksum) or \
        (remote is None and base is not None) or (remote and base is None)
    differ = (local is None) != (remote is None) or \
        (local and remote and local.checksum != remote.checksum)
    if moved_l and moved_r and differ:
        assert kind == m.CONFLICT




@given(st.dictionaries(st.sampled_from(["a", "b/c", "d", "e/f"]), states.filter(bool)),
       st.dictionaries(st.sampled_from(["a", "b/c", "d", "e/f"]), states.filter(bool)),
       st.dictionaries(st.sampled_from(["a", "b/c", "d", "e/f"]), states.filter(bool)))
@settings(max_examples=200)
def test_plan_swap_symmetry_whole_plans(base, local, remote):
    p1 = make_plan(base, local, remote)
    p2 = make_plan(base, remote, local)
    assert [(a.path, MIRROR[a.kind]) for a in p1.actions] == \
        [(a.path, a.kind) for a in p2.actions]
    assert [(a.path, a.kind) for a in p1.records] == [(a.path, a.kind) for a in p2.records]
    # every path at most once, sorted
    seen = [a.path for a in (*p1.actions, *p1.records)]
    assert len(seen) == len(set(seen))
    assert [a.path for a in p1.actions] == sorted(a.path for a in p1.actions)


def test_plan_is_a_value_equal_for_equal_inputs():
    args = ({"a": B}, {"a": L, "n": X}, {"a": B})
    assert make_plan(*args) == make_plan(*args)


def test_identical_edits_on_both_sides_only_update_the_baseline():
    plan = make_plan({"a": B}, {"a": X}, {"a": X})
    assert plan.actions == ()
    assert [(a.path, a.kind) for a in plan.records] == [("a", m.RECORD)]


def test_scope_limits_the_plan_and_leaves_the_rest():
    base = {}
    local = {"raw/a": L, "raw/b": L, "other/c": L, "rawx": L}
    plan = make_plan(base, local, {}, scope=("raw",))
    assert [a.path for a in plan.actions] == ["raw/a", "raw/b"]
    plan = make_plan(base, local, {}, scope=("raw/b", "other"))
    assert [a.path for a in plan.actions] == ["other/c", "raw/b"]


def test_blocked_paths_become_problems_not_actions():
    plan = make_plan({"a": B}, {}, {"a": B}, blocked={"a": ("error", "cannot be read")})
    assert plan.actions == ()
    assert [(a.path, a.reason, a.category) for a in plan.problems] == [
        ("a", "cannot be read", "error")]
    assert plan.counts()[m.CONFLICT] == 1


def test_reasons_name_the_remote_editor():
    kind, reason, cat = decide(B, B, R._replace(edited_by="bob"))
    assert (kind, cat) == (m.DOWNLOAD, "modified")
    assert "bob" in reason
    assert decide(None, L, None)[2] == "new"
    assert decide(B, None, B)[2] == "deleted"


# -- resolving conflicts -------------------------------------------------------------------
def conflict(base, local, remote):
    plan = make_plan({"d/f.csv": base} if base else {}, {"d/f.csv": local} if local else {},
                     {"d/f.csv": remote} if remote else {})
    (a,) = plan.actions
    assert a.kind == m.CONFLICT
    return a


@pytest.mark.parametrize("base,local,remote,resolution,expected", [
    (B, L, R, m.KEEP_LOCAL, m.UPLOAD),
    (B, L, R, m.KEEP_REMOTE, m.DOWNLOAD),
    (B, L, R, m.BOTH, m.KEEP_BOTH),
    (B, L, None, m.KEEP_LOCAL, m.UPLOAD),       # keep local = re-upload
    (B, L, None, m.KEEP_REMOTE, m.DELETE_LOCAL),
    (B, L, None, m.BOTH, m.UPLOAD),
    (B, None, R, m.KEEP_LOCAL, m.DELETE_REMOTE),
    (B, None, R, m.KEEP_REMOTE, m.DOWNLOAD),    # keep remote = download
    (B, None, R, m.BOTH, m.DOWNLOAD),
    (None, L, R, m.BOTH, m.KEEP_BOTH),
])
def test_resolutions(base, local, remote, resolution, expected):
    a = resolve(conflict(base, local, remote), resolution, user="alice",
                stamp="20261121T140305Z")
    assert a.kind == expected
    assert a.resolution == resolution
    assert a.shown_kind == m.CONFLICT


def test_skip_resolves_to_nothing():
    assert resolve(conflict(B, L, R), m.SKIP, user="a", stamp="s") is None


def test_keep_both_name():
    a = resolve(conflict(B, L, R), m.BOTH, user="alice", stamp="20261121T140305Z")
    assert a.conflict_path == "d/f.conflict-alice-20261121T140305Z.csv"


@pytest.mark.parametrize("path,user,expected", [
    ("a.csv", "bob", "a.conflict-bob-T.csv"),
    ("dir/a.tar.gz", "bob", "dir/a.tar.conflict-bob-T.gz"),
    ("noext", "bob", "noext.conflict-bob-T"),
    (".env", "bob", ".env.conflict-bob-T"),
    ("x.csv", "Jane Doe/../x", "x.conflict-Jane_Doe_.._x-T.csv"),
])
def test_conflict_names(path, user, expected):
    assert conflict_name(path, user, "T") == expected


def test_conflict_name_never_reuses_a_taken_name():
    first = conflict_name("a.csv", "bob", "T")
    second = conflict_name("a.csv", "bob", "T", taken={first})
    assert second != first and second.endswith(".csv")


def test_a_deletion_and_a_new_file_of_the_same_content_are_a_move_both_ways():
    big = FileState("c" * 64, 10, "alice", "2026-11-21T14:03:05Z")
    empty = FileState("e" * 64, 0, "alice", "2026-11-21T14:03:05Z")
    base = {"old/a.bin": big, "old/z.txt": empty}
    plan = make_plan(base, {"new/a.bin": big, "new/z.txt": empty}, dict(base))
    kinds = {a.path: (a.kind, a.moved_from) for a in plan.actions}
    assert kinds == {"new/a.bin": (m.MOVE_REMOTE, "old/a.bin"),
                     "new/z.txt": (m.UPLOAD, ""), "old/z.txt": (m.DELETE_REMOTE, "")}
    assert plan.of_kind(m.MOVE_REMOTE)[0].from_state == big
    plan = make_plan(base, dict(base), {"new/a.bin": big})
    (move,) = plan.of_kind(m.MOVE_LOCAL)
    assert (move.path, move.moved_from, move.from_state) == ("new/a.bin", "old/a.bin", big)
    # a file edited before it moved is no move: its content differs
    edited = big._replace(checksum="d" * 64)
    assert not make_plan(base, {"new/a.bin": edited}, dict(base)).of_kind(m.MOVE_REMOTE)
