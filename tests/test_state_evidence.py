"""The state as evidence of itself (promise 7, docs/promises.md, state/statehead.py): every
way the remote state can lose a piece — its log deleted or cut short, its checkpoint put
back from a backup or deleted, its head deleted or put back — is noticed by the next member
who reads it, healed from the remote's own files, and said in one line; after at most two
syncs each, every member holds the same files. No run may say "in sync" while another
member holds a change it cannot see."""
from __future__ import annotations

import pytest

STATE = ".S3/versions_remote.csv"
HEAD = ".S3/state_head.json"
LOST = "the remote state had lost a piece"


@pytest.fixture
def log_mode(monkeypatch):
    """The log in use: no state small enough to be rewritten by each commit."""
    monkeypatch.setenv("S3SYNC_CHECKPOINT_FILES", "0")
    monkeypatch.setenv("S3SYNC_CHECKPOINT_EVERY", "100")


def _log_keys(team) -> list:
    return sorted(k for k in team.remote_objects() if k.startswith(".S3/state_log/"))


def _settle(team, members, rounds=2) -> str:
    """Every member syncs ``rounds`` times, in turn; returns all they printed."""
    said = []
    for _ in range(rounds):
        for m in members:
            proc = m.sync()
            said.append(proc.stdout + proc.stderr)
    return "\n".join(said)


def _all_hold(members, want: dict) -> None:
    for m in members:
        assert m.files() == want, (m.name, m.files())


def _start(team):
    alice, bob, carol = team.alice, team.bob, team.carol
    alice.write("a.csv", "a v1")
    alice.sync()
    bob.sync()
    carol.sync()
    return alice, bob, carol


def _lose_and_check(team, lose, *, extra_local=True):
    """Alice changes a.csv and adds b.csv; the state loses a piece (``lose``); carol adds
    c.csv; everyone settles. Returns what they printed."""
    alice, bob, carol = _start(team)
    alice.write("a.csv", "a v2 by alice")
    alice.write("b.csv", "b by alice")
    alice.sync()
    lose(team)
    if extra_local:
        carol.write("c.csv", "c by carol")
    said = _settle(team, (carol, bob, alice))
    want = {"a.csv": b"a v2 by alice", "b.csv": b"b by alice"}
    if extra_local:
        want["c.csv"] = b"c by carol"
    _all_hold((alice, bob, carol), want)
    # and now everyone is at rest: a further round plans nothing anywhere
    for m in (alice, bob, carol):
        assert "nothing to do" in m.run("status", check_rc=0).stdout.lower(), m.name
    return said


def test_a_deleted_state_log_is_noticed_and_healed(make_team, log_mode):
    team = make_team(("alice", "bob", "carol"))

    def lose(team):
        keys = _log_keys(team)
        assert keys, "the log was in use"
        for k in keys:
            team.remove_remote(k)

    said = _lose_and_check(team, lose)
    assert LOST in said and "gone" in said, said


def test_a_state_log_cut_short_is_noticed_and_healed(make_team, log_mode):
    team = make_team(("alice", "bob", "carol"))

    def lose(team):
        keys = _log_keys(team)
        team.remove_remote(keys[-1])  # the newest entry: alice's a.csv and b.csv

    said = _lose_and_check(team, lose)
    assert LOST in said and "1 entry of its log" in said, said


@pytest.mark.parametrize("mode", ["log", "checkpoint each commit"])
def test_a_checkpoint_put_back_from_a_backup_is_noticed_and_healed(make_team, monkeypatch,
                                                                    mode):
    if mode == "log":
        monkeypatch.setenv("S3SYNC_CHECKPOINT_FILES", "0")
        monkeypatch.setenv("S3SYNC_CHECKPOINT_EVERY", "1")  # every commit checkpoints
    team = make_team(("alice", "bob", "carol"))
    backup = {}

    def lose(team):
        team.put_remote(STATE, backup["state"])
        for k in _log_keys(team):  # a backup older than an hour: its log was tidied
            team.remove_remote(k)

    alice, bob, carol = _start(team)
    backup["state"] = team.remote_objects()[STATE]
    alice.write("a.csv", "a v2 by alice")
    alice.write("b.csv", "b by alice")
    alice.sync()
    assert team.remote_objects()[STATE] != backup["state"]
    lose(team)
    carol.write("c.csv", "c by carol")
    said = _settle(team, (carol, bob, alice))
    _all_hold((alice, bob, carol), {"a.csv": b"a v2 by alice", "b.csv": b"b by alice",
                                    "c.csv": b"c by carol"})
    assert LOST in said and "put back" in said, said


def test_a_deleted_checkpoint_with_its_log_present_is_rebuilt(make_team, log_mode):
    team = make_team(("alice", "bob", "carol"))

    def lose(team):
        team.remove_remote(STATE)

    said = _lose_and_check(team, lose)
    assert "no .S3/versions_remote.csv on the remote: indexed" in said, said


def test_a_deleted_head_is_noticed_and_written_again(make_team, log_mode):
    team = make_team(("alice", "bob", "carol"))

    def lose(team):
        team.remove_remote(HEAD)

    said = _lose_and_check(team, lose)
    assert LOST in said and "state_head.json is gone" in said, said
    assert HEAD in team.remote_objects()


def test_a_head_and_log_put_back_together_are_noticed(make_team, log_mode):
    """The whole state folder restored from a backup: the head is older than what the
    members saw."""
    team = make_team(("alice", "bob", "carol"))
    alice, bob, carol = _start(team)
    saved = {k: v for k, v in team.remote_objects().items()
             if k in (STATE, HEAD) or k.startswith(".S3/state_log/")}
    alice.write("a.csv", "a v2 by alice")
    alice.write("b.csv", "b by alice")
    alice.sync()
    for k in _log_keys(team):
        if k not in saved:
            team.remove_remote(k)
    for k, v in saved.items():
        team.put_remote(k, v)
    carol.write("c.csv", "c by carol")
    said = _settle(team, (carol, bob, alice))
    _all_hold((alice, bob, carol), {"a.csv": b"a v2 by alice", "b.csv": b"b by alice",
                                    "c.csv": b"c by carol"})
    assert LOST in said and "older than the one this clone saw" in said, said


def test_a_healed_entry_keeps_its_author_from_the_history(make_team, log_mode):
    team = make_team(("alice", "bob", "carol"))
    alice, bob, carol = _start(team)
    alice.write("b.csv", "b by alice")
    alice.sync()
    for k in _log_keys(team):
        team.remove_remote(k)
    bob.sync()
    assert bob.read("b.csv") == b"b by alice"
    assert team.remote_state()["b.csv"]["Edited By"] == "alice"


def test_status_says_so_and_changes_nothing(make_team, log_mode):
    team = make_team(("alice", "bob", "carol"))
    alice, bob, carol = _start(team)
    alice.write("b.csv", "b by alice")
    alice.sync()
    for k in _log_keys(team):
        team.remove_remote(k)
    before = team.remote_objects()
    proc = bob.run("status", check_rc=0)
    assert LOST in proc.stdout + proc.stderr and "the next sync records" in \
        proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert "b.csv" in proc.stdout
    assert team.remote_objects() == before
