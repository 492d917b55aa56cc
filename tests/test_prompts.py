"""The interactive prompts, driven for real: the CLI in a pseudo-terminal (pexpect), and the
prompt functions through prompt_toolkit's pipe input. Each test asserts what ran and,
after a "none", a "no" or a skip, what did not."""
from __future__ import annotations

import hashlib
import io
import os
import sys

import pexpect
import pytest

from s3sync_mirror.core import model as m
from s3sync_mirror.pipeline.confirm import Answers, Policy, approve
from s3sync_mirror.core.model import Action, FileState, Plan

from .conftest import ROOT

ENTER, CTRL_C = "\r", "\x03"
PLAN_Q = "Apply this plan? [Y]es / [n]o / [c]hoose by group / [d]etails"


def spawn(member, *args):
    env = {**os.environ, **member.env, "PYTHONPATH": str(ROOT), "TERM": "xterm",
           "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "s3sync_mirror", *args], cwd=str(member.repo),
                          env=env, encoding="utf-8", timeout=60, dimensions=(50, 200),
                          use_poll=True)  # select() fails on a descriptor above 1023
    child.logfile_read = io.StringIO()  # everything the terminal showed
    return child


def finish(child) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def answer(child, prompt: str, keys: str) -> None:
    child.expect_exact(prompt)
    child.send(keys)


def shown(child) -> str:
    return child.logfile_read.getvalue()


def mixed(team):
    """Bob's next sync: two conflicts (s1, s2) and one action of every other kind."""
    alice, bob = team.alice, team.bob
    for name in ("edit.csv", "gone.csv", "theirs.csv", "rdel.csv", "s1.csv", "s2.csv",
                 "keep.csv"):
        alice.write(name, f"{name},base\n")
    alice.sync()
    bob.sync()
    alice.write("theirs.csv", "theirs,edited by alice\n")
    alice.delete("rdel.csv")
    alice.write("a.csv", "a,new by alice\n")
    alice.write("s1.csv", "s1,alice's version\n")
    alice.write("s2.csv", "s2,alice's version\n")
    alice.sync()
    bob.write("edit.csv", "edit,edited by bob\n")
    bob.delete("gone.csv")
    bob.write("new.csv", "new,by bob\n")
    bob.write("s1.csv", "s1,bob's\n")
    bob.write("s2.csv", "s2,bob's\n")


def everything(team) -> tuple:
    """Both sides: bob's files, trash and baseline (what it records of each file, not the
    stat cache a run may refresh), and every remote object, its state files included."""
    bob = team.bob
    base = {path: (r["Edited By"], r["Time Edited"], r["Checksum"], r["Size"])
            for path, r in bob.baseline().items()}
    assert base, "bob has a baseline"
    return bob.files(), bob.trash(), base, team.remote_objects()


def conflict_both(team, names=("s.csv",)):
    """Each of ``names`` changed by alice (synced) and by bob: a conflict for bob."""
    alice, bob = team.alice, team.bob
    for name in names:
        alice.write(name, f"{name},base\n")
    alice.sync()
    bob.sync()
    for name in names:
        alice.write(name, f"{name},alice's version\n")
    alice.sync()
    for name in names:
        bob.write(name, f"{name},bob's\n")


# -- the CLI in a pseudo-terminal --------------------------------------------------------
def test_enter_everywhere_applies_the_plan_and_skips_the_conflicts(team):
    mixed(team)
    bob = team.bob
    child = spawn(bob)
    answer(child, PLAN_Q, ENTER)  # Enter = yes
    answer(child, "s1.csv: keep [l]ocal / [r]emote / [b]oth / [s]kip (Enter) / [d]iff?", ENTER)
    answer(child, "s2.csv: keep [l]ocal / [r]emote / [b]oth / [s]kip (Enter) / [d]iff?", ENTER)
    assert finish(child) == 3  # the two conflicts are left for later
    out = shown(child)
    assert "New here: upload" not in out and "Deleted here" not in out, \
        "one question for the plan, not one per group"
    assert "Conflict 1 of 2: s1.csv" in out and "Conflict 2 of 2: s2.csv" in out
    remote = team.remote_files()
    # what ran: every non-conflicting action
    assert remote["edit.csv"] == b"edit,edited by bob\n"
    assert remote["new.csv"] == b"new,by bob\n"
    assert "gone.csv" not in remote
    assert bob.read("a.csv") == b"a,new by alice\n"
    assert bob.read("theirs.csv") == b"theirs,edited by alice\n"
    assert not bob.exists("rdel.csv")
    # what did NOT run: the skipped conflicts, on both sides
    assert bob.read("s1.csv") == b"s1,bob's\n" and bob.read("s2.csv") == b"s2,bob's\n"
    assert remote["s1.csv"] == b"s1,alice's version\n"
    assert remote["s2.csv"] == b"s2,alice's version\n"
    assert not any(".conflict-" in k for k in (*remote, *bob.files()))


def test_no_changes_nothing_and_asks_no_conflict(local_team):
    mixed(local_team)
    before = everything(local_team)
    child = spawn(local_team.bob)
    answer(child, PLAN_Q, "n")
    assert finish(child) == 3
    assert "Conflict 1 of" not in shown(child), "no: the conflicts are not asked either"
    assert everything(local_team) == before


def test_details_lists_every_action_then_asks_again(local_team):
    alice = local_team.alice
    alice.write("a.csv", "12345")
    alice.write("sub/b.csv", "1234567")
    child = spawn(alice)
    answer(child, PLAN_Q, "d")
    child.expect_exact("upload: a.csv")
    child.expect_exact("why:    new locally")
    child.expect_exact("local:  5 B, edited ")
    child.expect_exact("by you")
    child.expect_exact("remote: not there")
    child.expect_exact("upload: sub/b.csv")
    child.expect_exact("local:  7 B")
    answer(child, PLAN_Q, "n")  # asked again after the details
    assert finish(child) == 3
    assert local_team.remote_files() == {}


def test_choose_then_none_for_a_group_runs_nothing_of_it(local_team):
    mixed(local_team)
    bob = local_team.bob
    child = spawn(bob)
    answer(child, PLAN_Q, "c")
    answer(child, "Deleted on the remote: delete locally", ENTER)  # Enter = none
    answer(child, "Deleted here: delete on the remote", "a")  # all
    answer(child, "New here: upload", "a")
    answer(child, "New on the remote: download", "a")
    answer(child, "Changed here: upload", "a")
    answer(child, "Changed on the remote: download", "n")  # none
    answer(child, "s1.csv: keep", "s")
    answer(child, "s2.csv: keep", "s")
    assert finish(child) == 3
    remote = local_team.remote_files()
    # the declined groups did not run
    assert bob.read("rdel.csv") == b"rdel.csv,base\n"
    assert bob.read("theirs.csv") == b"theirs.csv,base\n"
    assert bob.trash() == {}
    assert "rdel.csv" in bob.baseline()
    # the others did
    assert "gone.csv" not in remote and remote["new.csv"] == b"new,by bob\n"
    assert remote["edit.csv"] == b"edit,edited by bob\n"
    assert bob.read("a.csv") == b"a,new by alice\n"


def test_choose_picks_some_files(local_team):
    alice = local_team.alice
    alice.write("a.csv", "1")
    alice.write("b.csv", "2")
    alice.write("c.csv", "3")
    child = spawn(alice)
    answer(child, PLAN_Q, "c")
    answer(child, "New here: upload: 3 files? [a]ll / [c]hoose each / [n]one (Enter)", "c")
    answer(child, "  a.csv (upload, 1 B: new locally)? [y]es / [n]o (Enter)", ENTER)  # no
    answer(child, "  b.csv (upload, 1 B: new locally)? [y]es / [n]o (Enter)", "y")
    answer(child, "  c.csv (upload, 1 B: new locally)? [y]es / [n]o (Enter)", "n")
    assert finish(child) == 3  # two left unconfirmed
    assert local_team.remote_files() == {"b.csv": b"2"}
    assert set(alice.baseline()) == {"b.csv"}, "nothing declined is recorded"


def test_a_capital_letter_resolves_every_remaining_conflict(local_team):
    conflict_both(local_team, ("s1.csv", "s2.csv", "s3.csv"))
    bob = local_team.bob
    child = spawn(bob)  # only conflicts: no plan question, straight to them
    answer(child, "s1.csv: keep [l]ocal / [r]emote / [b]oth / [s]kip (Enter) / [d]iff? "
                  "(L/R/B/S: the same for all remaining conflicts)", "r")
    answer(child, "s2.csv: keep", "L")  # keep local, here and for s3.csv
    child.expect_exact("Conflict 3 of 3: s3.csv: keep local (as chosen for all remaining)")
    assert finish(child) == 0
    assert "s3.csv: keep [l]ocal" not in shown(child), "s3.csv was not asked"
    remote = local_team.remote_files()
    assert bob.read("s1.csv") == remote["s1.csv"] == b"s1.csv,alice's version\n"
    assert bob.read("s2.csv") == remote["s2.csv"] == b"s2.csv,bob's\n"
    assert bob.read("s3.csv") == remote["s3.csv"] == b"s3.csv,bob's\n"


def test_edit_against_delete_says_what_each_choice_does(local_team):
    alice, bob = local_team.alice, local_team.bob
    alice.write("x.csv", "x,base\n")
    alice.write("y.csv", "y,base\n")
    alice.sync()
    bob.sync()
    alice.delete("x.csv")
    alice.delete("y.csv")
    alice.sync("--force")  # all of the remote's files: past the --max-delete guard
    bob.write("x.csv", "x,bob's edit\n")
    bob.write("y.csv", "y,bob's edit\n")
    child = spawn(bob)
    child.expect_exact("Conflict 1 of 2: x.csv")
    child.expect_exact("changed locally, deleted on remote by alice")
    child.expect_exact("remote: deleted")
    child.expect_exact("[l] keep local:  upload it again (the remote had deleted it; "
                       "nothing to archive)")
    child.expect_exact("[r] keep remote: delete it here (moved to .S3/trash/)")
    # no [b]oth: one version only
    answer(child, "x.csv: keep [l]ocal / [r]emote / [s]kip (Enter) / [d]iff? "
                  "(L/R/S: the same for all remaining conflicts)", "b" + "r")
    answer(child, "y.csv: keep [l]ocal / [r]emote / [s]kip (Enter) / [d]iff?", "l")
    assert finish(child) == 0
    assert not bob.exists("x.csv")
    assert [v for k, v in bob.trash().items() if k.endswith("/x.csv")] == [b"x,bob's edit\n"]
    remote = local_team.remote_files()
    assert "x.csv" not in remote
    assert remote["y.csv"] == bob.read("y.csv") == b"y,bob's edit\n"


def test_conflict_prompt_keep_both(local_team):
    conflict_both(local_team)
    bob = local_team.bob
    child = spawn(bob)
    child.expect_exact("Conflict 1 of 1: s.csv")
    child.expect_exact("yours is renamed s.conflict-<you>-<UTC time>.csv, on both sides")
    answer(child, "s.csv: keep [l]ocal / [r]emote / [b]oth / [s]kip (Enter) / [d]iff?", "b")
    assert finish(child) == 0
    files = bob.files()
    assert files["s.csv"] == b"s.csv,alice's version\n"
    assert [v for k, v in files.items() if k.startswith("s.conflict-bob-")] == \
        [b"s.csv,bob's\n"]


def test_conflict_prompt_enter_skips_and_changes_nothing(local_team):
    conflict_both(local_team)
    bob = local_team.bob
    archived = local_team.archive()
    child = spawn(bob)
    child.expect_exact("local:  ")
    child.expect_exact("by you")
    child.expect_exact("remote: ")
    child.expect_exact("by alice")
    answer(child, "s.csv: keep [l]ocal", ENTER)  # Enter = skip (never "keep local")
    assert finish(child) == 3
    assert bob.read("s.csv") == b"s.csv,bob's\n"
    assert local_team.remote_files()["s.csv"] == b"s.csv,alice's version\n"
    assert local_team.archive() == archived, "no remote version was replaced"


def test_conflict_diff_through_the_cli_then_skip(team):
    conflict_both(team)
    bob = team.bob
    child = spawn(bob)
    answer(child, "s.csv: keep [l]ocal", "d")
    child.expect_exact("-s.csv,bob's")
    child.expect_exact("+s.csv,alice's version")
    answer(child, "s.csv: keep [l]ocal", "s")
    assert finish(child) == 3
    assert bob.read("s.csv") == b"s.csv,bob's\n"
    assert team.remote_files()["s.csv"] == b"s.csv,alice's version\n"


def test_ctrl_c_at_a_prompt_does_nothing(local_team):
    alice = local_team.alice
    alice.write("a.csv", "1")
    child = spawn(alice)
    child.expect_exact(PLAN_Q)
    child.sendcontrol("c")
    assert finish(child) == 130
    assert local_team.remote_files() == {}


def test_ctrl_c_at_a_conflict_does_nothing_even_after_yes(local_team):
    mixed(local_team)
    before = everything(local_team)
    child = spawn(local_team.bob)
    answer(child, PLAN_Q, ENTER)
    answer(child, "s1.csv: keep", "l")
    child.expect_exact("s2.csv: keep")
    child.sendcontrol("c")
    assert finish(child) == 130
    assert everything(local_team) == before


def test_reset_prompt_no_then_yes(local_team):
    alice = local_team.alice
    alice.write("a.csv", "1")
    alice.sync()
    child = spawn(alice, "reset")
    answer(child, "Remove the sync state", "n")
    assert finish(child) == 3
    assert (alice.data / ".S3" / "versions_local.csv").exists()
    assert ".S3/versions_remote.csv" in local_team.remote_objects()
    child = spawn(alice, "reset", "--remote")
    answer(child, "Remove the sync state", "y")
    assert finish(child) == 0
    assert not (alice.data / ".S3" / "versions_local.csv").exists()
    assert ".S3/versions_remote.csv" not in local_team.remote_objects()
    assert alice.files() == {"a.csv": b"1"}


# -- the prompt functions through prompt_toolkit's pipe input ------------------------------
@pytest.fixture
def pipe():
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    with create_pipe_input() as inp:
        yield inp, DummyOutput()


def type_keys(inp, *keys: str) -> None:
    """Type ``keys``, then close the input: a prompt left waiting fails (EOFError)."""
    for k in keys:
        inp.send_text(k)
    inp.close()


def fs(c, data=None):
    if data is not None:
        return FileState(hashlib.sha256(data).hexdigest(), len(data), "alice",
                         "2026-11-21T14:03:05Z", 1_795_000_000_000_000_000)
    return FileState((c * 64)[:64], 1)


def act(path, kind, category, local=True, remote=True):
    return Action(path, kind, "why", category, fs("b"), fs("1") if local else None,
                  fs("2") if remote else None)


ASK = Policy.of(yes=False, dry_run=False, interactive=True, conflict=None)
MIXED = Plan(actions=(act("c1", m.CONFLICT, "conflict"),
                      act("d1", m.DELETE_REMOTE, "deleted", local=False),
                      act("n1", m.UPLOAD, "new", remote=False),
                      act("c2", m.CONFLICT, "conflict", remote=False)))


def test_ask_enter_approves_the_plan_and_skips_every_conflict(pipe):
    from s3sync_mirror.ui import prompts

    inp, out = pipe
    type_keys(inp, ENTER + ENTER + ENTER)
    answers = prompts.ask(MIXED, ASK, (inp, out))
    assert [a.path for a in answers.approved] == ["d1", "n1"]
    assert answers.resolutions == {"c1": m.SKIP, "c2": m.SKIP}
    approved, left = approve(MIXED, ASK, answers, user="u", stamp="S", taken=frozenset())
    assert sorted(a.path for a in approved) == ["d1", "n1"] and left == 2


def test_ask_no_approves_nothing_even_under_a_conflict_policy(pipe):
    from s3sync_mirror.ui import prompts

    inp, out = pipe
    type_keys(inp, "n")
    local = Policy.of(yes=False, dry_run=False, interactive=True, conflict="local")
    answers = prompts.ask(MIXED, local, (inp, out))
    assert answers == Answers((), {}, declined=True)
    assert approve(MIXED, local, answers, user="u", stamp="S", taken=frozenset()) == ([], 4)
    # without the "no", that policy resolves both conflicts
    approved, _ = approve(MIXED, local, Answers((), {}), user="u", stamp="S",
                          taken=frozenset())
    assert sorted(a.path for a in approved) == ["c1", "c2"]


def test_ask_details_then_choose_by_group(pipe, capsys):
    from s3sync_mirror.ui import prompts

    inp, out = pipe
    type_keys(inp, "d" + "c" + ENTER + "a" + "l" + "r")  # deletions: none (Enter); new: all
    answers = prompts.ask(MIXED, ASK, (inp, out))
    printed = capsys.readouterr().out
    for line in ("  conflict: c1", "  delete on the remote: d1", "  upload: n1",
                 "      why:    why", "      local:  1 B", "      remote: deleted"):
        assert line in printed
    assert [a.path for a in answers.approved] == ["n1"]
    assert answers.resolutions == {"c1": m.KEEP_LOCAL, "c2": m.KEEP_REMOTE}


def test_ctrl_c_at_the_plan_question_raises_aborted(pipe):
    from s3sync_mirror.ui import prompts

    inp, out = pipe
    type_keys(inp, CTRL_C)
    with pytest.raises(prompts.Aborted):
        prompts.ask(MIXED, ASK, (inp, out))


def test_choose_groups_returns_choices_as_data(pipe):
    from s3sync_mirror.ui import prompts

    inp, out = pipe
    actions = [act("n1", m.UPLOAD, "new"), act("n2", m.UPLOAD, "new"),
               act("d1", m.DELETE_REMOTE, "deleted", local=False)]
    type_keys(inp,
              "a",  # deletions: all
              "c" + "n" + "y")  # new: choose each, no to n1, yes to n2
    approved, declined = prompts.choose_groups(actions, input=inp, output=out)
    assert [a.path for a in approved] == ["d1", "n2"]
    assert [a.path for a in declined] == ["n1"]


def test_choose_conflicts_offers_both_only_when_both_exist(pipe):
    from s3sync_mirror.ui import prompts

    inp, out = pipe
    conflicts = [act("c1", m.CONFLICT, "conflict"),
                 act("c2", m.CONFLICT, "conflict", remote=False)]
    type_keys(inp,
              "b",  # c1: keep both
              "b" + "B" + ENTER)  # c2: no "both" to choose, so b and B do nothing
    assert prompts.choose_conflicts(conflicts, input=inp, output=out) == {
        "c1": m.BOTH, "c2": m.SKIP}


def test_a_capital_answers_every_remaining_conflict(pipe, capsys):
    from s3sync_mirror.ui import prompts

    inp, out = pipe
    conflicts = [act("c1", m.CONFLICT, "conflict"), act("c2", m.CONFLICT, "conflict"),
                 act("c3", m.CONFLICT, "conflict", remote=False),
                 act("c4", m.CONFLICT, "conflict")]
    # c1: keep local; c2: B (both, for all remaining where both exist); c3 has one
    # version, so it is still asked: S skips it and c4
    type_keys(inp, "l" + "B" + "S")
    assert prompts.choose_conflicts(conflicts, input=inp, output=out) == {
        "c1": m.KEEP_LOCAL, "c2": m.BOTH, "c3": m.SKIP, "c4": m.SKIP}
    assert "Conflict 4 of 4: c4: skip (as chosen for all remaining)" in capsys.readouterr().out


def test_diff_shows_the_changed_lines_then_asks_again(pipe, capsys, tmp_path):
    from s3sync_mirror.ui import prompts

    inp, out = pipe
    local = b"id,value\n1,one\n2,bob\n3,three\n"
    remote = b"id,value\n1,one\n2,alice\n3,three\n4,four\n"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.csv").write_bytes(local)
    fetched = []

    def fetch(path):
        fetched.append(path)
        return remote

    a = Action("sub/s.csv", m.CONFLICT, "changed locally, changed on remote by alice",
               "conflict", fs("b"), fs("", local), fs("", remote))
    type_keys(inp, "d" + "r")
    assert prompts.choose_conflicts([a], input=inp, output=out, data_dir=tmp_path,
                                    fetch_remote=fetch) == {"sub/s.csv": m.KEEP_REMOTE}
    printed = capsys.readouterr().out.splitlines()
    assert fetched == ["sub/s.csv"]
    assert "--- local/sub/s.csv" in printed and "+++ remote/sub/s.csv" in printed
    assert "-2,bob" in printed and "+2,alice" in printed and "+4,four" in printed
    assert " 1,one" in printed and "-1,one" not in printed


def test_diff_is_at_most_40_lines(tmp_path):
    from s3sync_mirror.ui.diffview import conflict_diff

    local = "".join(f"{i},old\n" for i in range(100)).encode()
    remote = "".join(f"{i},new\n" for i in range(100)).encode()
    (tmp_path / "s.csv").write_bytes(local)
    a = Action("s.csv", m.CONFLICT, "why", "conflict", fs("b"), fs("", local), fs("", remote))
    lines = conflict_diff(a, tmp_path, lambda p: remote)
    assert len(lines) == 41 and lines[:2] == ["--- local/s.csv", "+++ remote/s.csv"]
    assert lines[-1] == "... 163 more lines not shown"  # 3 header lines + 200 changed


def test_diff_of_a_binary_or_large_file(tmp_path):
    from s3sync_mirror.ui.diffview import NO_DIFF, conflict_diff

    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    (tmp_path / "p.png").write_bytes(png)
    a = Action("p.png", m.CONFLICT, "why", "conflict", fs("b"), fs("", png),
               fs("", png + b"\x00"))
    assert conflict_diff(a, tmp_path, lambda p: png + b"\x00") == [NO_DIFF]
    fetched = []
    big = Action("big.csv", m.CONFLICT, "why", "conflict", fs("b"),
                 FileState("1" * 64, 10), FileState("2" * 64, (1 << 20) + 1))
    assert conflict_diff(big, tmp_path, fetched.append) == [NO_DIFF]
    assert fetched == [], "a large remote version is not even fetched"


def test_diff_against_a_deleted_side_and_a_failing_fetch(tmp_path):
    from s3sync_mirror.ui.diffview import conflict_diff

    data = b"a\nb\n"
    (tmp_path / "x.csv").write_bytes(data)
    gone = Action("x.csv", m.CONFLICT, "changed locally, deleted on remote by bob",
                  "conflict", fs("b"), fs("", data), None)
    assert conflict_diff(gone, tmp_path, None) == [
        "--- local/x.csv", "+++ /dev/null", "@@ -1,2 +0,0 @@", "-a", "-b"]

    def broken(path):
        raise OSError("connection reset")

    both = gone.with_(remote=fs("", b"c\n"))
    assert conflict_diff(both, tmp_path, broken) == [
        "no diff: cannot fetch the remote version (connection reset)"]
