"""The interactive prompts, driven for real: the CLI in a pseudo-terminal (pexpect), and the
prompt functions through prompt_toolkit's pipe input. Each test asserts what ran and,
after a "none" or a "no", what did not."""
from __future__ import annotations

import os
import sys

import pexpect
import pytest

from s3sync_mirror import model as m
from s3sync_mirror.model import Action, FileState

from .conftest import ROOT

DOWN, ENTER, SPACE = "\x1b[B", "\r", " "


def spawn(member, *args):
    env = {**os.environ, **member.env, "PYTHONPATH": str(ROOT), "TERM": "xterm",
           "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "s3sync_mirror", *args], cwd=str(member.repo),
                          env=env, encoding="utf-8", timeout=60, dimensions=(50, 200))
    return child


def finish(child) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def answer(child, prompt: str, keys: str) -> None:
    child.expect(prompt)
    child.send(keys)


def test_all_uploads_everything(local_team):
    alice = local_team.alice
    alice.write("a.csv", "1")
    alice.write("b.csv", "2")
    child = spawn(alice)
    answer(child, "New here: upload: 2 files", ENTER)  # "all" is the first choice
    assert finish(child) == 0
    assert local_team.remote_files() == {"a.csv": b"1", "b.csv": b"2"}


def test_none_uploads_nothing_and_leaves_it_for_later(local_team):
    alice = local_team.alice
    alice.write("a.csv", "1")
    child = spawn(alice)
    answer(child, "New here: upload", DOWN + DOWN + ENTER)  # "none"
    assert finish(child) == 3
    assert local_team.remote_files() == {}
    assert alice.baseline() == {}, "nothing declined is recorded"
    r = alice.run("status", "--json", check_rc=0)
    assert '"a.csv"' in r.stdout


def test_choose_picks_some_files(local_team):
    alice = local_team.alice
    alice.write("a.csv", "1")
    alice.write("b.csv", "2")
    alice.write("c.csv", "3")
    child = spawn(alice)
    answer(child, "New here: upload", DOWN + ENTER)  # "choose files"
    child.expect("pick with space")
    child.send(SPACE + DOWN + DOWN + SPACE + ENTER)  # untick a.csv and c.csv
    assert finish(child) == 3  # two left unconfirmed
    assert local_team.remote_files() == {"b.csv": b"2"}


def test_groups_are_asked_separately(local_team):
    alice, bob = local_team.alice, local_team.bob
    for name in ("keep.csv", "edit.csv", "gone.csv", "x.csv", "y.csv"):
        alice.write(name, name)
    alice.sync()
    bob.sync()
    bob.write("edit.csv", "edited by bob")
    bob.delete("gone.csv")
    bob.write("new.csv", "new")
    child = spawn(bob)
    answer(child, "Deleted here: delete on the remote", DOWN + DOWN + ENTER)  # none
    answer(child, "New here: upload", ENTER)  # all
    answer(child, "Changed here: upload", ENTER)  # all
    assert finish(child) == 3
    remote = local_team.remote_files()
    assert remote["new.csv"] == b"new" and remote["edit.csv"] == b"edited by bob"
    assert "gone.csv" in remote, "the declined deletion did not run"


def test_conflict_prompt_keep_both(local_team):
    alice, bob = local_team.alice, local_team.bob
    alice.write("s.csv", "base")
    alice.sync()
    bob.sync()
    alice.write("s.csv", "alice")
    alice.sync()
    bob.write("s.csv", "bob")
    child = spawn(bob)
    child.expect("Conflict: s.csv")
    child.expect("Which version wins")
    child.send(DOWN + DOWN + ENTER)  # keep both
    assert finish(child) == 0
    files = bob.files()
    assert files["s.csv"] == b"alice"
    assert [v for k, v in files.items() if k.startswith("s.conflict-bob-")] == [b"bob"]


def test_conflict_prompt_skip_changes_nothing(local_team):
    alice, bob = local_team.alice, local_team.bob
    alice.write("s.csv", "base")
    alice.sync()
    bob.sync()
    alice.write("s.csv", "alice")
    alice.sync()
    bob.write("s.csv", "bob")
    child = spawn(bob)
    answer(child, "Which version wins", DOWN + DOWN + DOWN + ENTER)  # skip
    assert finish(child) == 3
    assert bob.read("s.csv") == b"bob"
    assert local_team.remote_files()["s.csv"] == b"alice"


def test_ctrl_c_at_a_prompt_does_nothing(local_team):
    alice = local_team.alice
    alice.write("a.csv", "1")
    child = spawn(alice)
    child.expect("New here: upload")
    child.sendcontrol("c")
    assert finish(child) == 130
    assert local_team.remote_files() == {}


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


def fs(c):
    return FileState((c * 64)[:64], 1)


def act(path, kind, category, local=True, remote=True):
    return Action(path, kind, "why", category, fs("b"), fs("1") if local else None,
                  fs("2") if remote else None)


def test_choose_groups_returns_choices_as_data(pipe):
    from s3sync_mirror import prompts

    inp, out = pipe
    actions = [act("n1", m.UPLOAD, "new"), act("n2", m.UPLOAD, "new"),
               act("d1", m.DELETE_REMOTE, "deleted", local=False)]
    inp.send_text(ENTER)  # deletions: all
    inp.send_text(DOWN + ENTER + SPACE + ENTER)  # new: choose, untick n1
    approved, declined = prompts.choose_groups(actions, input=inp, output=out)
    assert [a.path for a in approved] == ["d1", "n2"]
    assert [a.path for a in declined] == ["n1"]


def test_choose_conflicts_offers_both_only_when_both_exist(pipe):
    from s3sync_mirror import prompts

    inp, out = pipe
    conflicts = [act("c1", m.CONFLICT, "conflict"),
                 act("c2", m.CONFLICT, "conflict", remote=False)]
    inp.send_text(DOWN + DOWN + ENTER)  # c1: keep both
    inp.send_text(DOWN + DOWN + ENTER)  # c2: no "both" choice, so the third is "skip"
    assert prompts.choose_conflicts(conflicts, input=inp, output=out) == {
        "c1": m.BOTH, "c2": m.SKIP}
