"""A keep-both whose conflict copy's name is already taken on the remote (an orphan of a
killed run, or a retry within the same second), through the real command line on a folder
remote and on S3: the copy goes to another free name, the object at the taken name is left
as it is, nothing it holds is filed under the original path, and an edit made afterwards
is uploaded, never replaced.

The taken name is made without timing: the test puts an object at bob's conflict name for
every second of the next minutes (the name is unique only to the second), so whenever bob
runs, his planned name is taken."""
from __future__ import annotations

import hashlib
import time

import pytest

from .conftest import Team

WINDOW_S = 240  # seconds of conflict names taken ahead of bob's run


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stamps(start: float, seconds: int):
    return [time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(start + i)) for i in range(seconds)]


def _both_edit(team: Team):
    alice, bob = team.alice, team.bob
    alice.write("f.txt", "base")
    alice.sync()
    bob.sync()
    alice.write("f.txt", "alice's version")
    alice.sync()
    bob.write("f.txt", "bob's version")
    return alice, bob


def _take_names(team: Team, start: float, counters=(0,), seconds=WINDOW_S) -> list:
    names = [f"f.conflict-bob-{s}" + (f"-{n}" if n else "") + ".txt"
             for s in _stamps(start, seconds) for n in counters]
    for name in names:
        team.put_remote(name, b"an orphan of a killed run")
    return names


def test_a_taken_conflict_name_gets_another_and_changes_nothing_else(team):
    alice, bob = _both_edit(team)
    start = time.time() - 2
    taken = set(_take_names(team, start))
    r = bob.sync("--conflict", "both")
    remote = team.remote_files()
    copies = [p for p in remote if p.startswith("f.conflict-bob-") and p not in taken]
    assert len(copies) == 1, (copies, r.stdout, r.stderr)
    (copy,) = copies
    assert copy.rsplit(".", 1)[0].endswith("-1"), copy  # the counter after the taken name
    assert f"yours is now {copy}" in r.stdout
    assert remote["f.txt"] == b"alice's version"
    assert remote[copy] == b"bob's version"
    assert all(remote[n] == b"an orphan of a killed run" for n in taken)  # not written over
    assert bob.read("f.txt") == b"alice's version" and bob.read(copy) == b"bob's version"

    state = team.remote_state()
    assert state["f.txt"]["Checksum"] == _sha(b"alice's version")
    assert state[copy]["Checksum"] == _sha(b"bob's version")
    assert not taken & set(state)  # the orphans are nobody's recorded files
    base = bob.baseline()
    assert base["f.txt"]["Checksum"] == _sha(b"alice's version")
    assert base[copy]["Checksum"] == _sha(b"bob's version")

    alice.sync()
    assert alice.read(copy) == b"bob's version"
    assert alice.run("status", check_rc=0).stdout.strip().endswith("nothing to do.")

    # bob's next edit happens to hold the orphan's bytes: it is his change, uploaded
    bob.write("f.txt", "an orphan of a killed run")
    bob.sync()
    assert bob.read("f.txt") == b"an orphan of a killed run"
    assert team.remote_files()["f.txt"] == b"an orphan of a killed run"
    alice.sync()
    assert alice.read("f.txt") == b"an orphan of a killed run"
    assert b"alice's version" in team.archive().values()


def test_a_retry_that_finds_its_own_copy_takes_it_as_sent(team):
    """A killed run of bob's had placed his very bytes at the name: taken as sent."""
    alice, bob = _both_edit(team)
    start = time.time() - 2
    names = [f"f.conflict-bob-{s}.txt" for s in _stamps(start, WINDOW_S)]
    for name in names:
        team.put_remote(name, b"bob's version")
    r = bob.sync("--conflict", "both")
    copy = next(p for p in names if f"yours is now {p}" in r.stdout)
    state = team.remote_state()
    assert state["f.txt"]["Checksum"] == _sha(b"alice's version")
    assert state[copy]["Checksum"] == _sha(b"bob's version")
    assert bob.read(copy) == b"bob's version" and bob.read("f.txt") == b"alice's version"
    alice.sync()
    assert alice.read(copy) == b"bob's version"


def test_when_every_name_is_taken_the_run_fails_and_records_nothing(local_team):
    team = local_team
    alice, bob = team.alice, team.bob
    alice.write("f.txt", "base")
    alice.sync()
    bob.sync()
    alice.write("f.txt", "alice's version")
    alice.sync()
    bob.write("f.txt", "bob's version")
    state_before, base_before = team.remote_state(), bob.baseline()
    _take_names(team, time.time() - 2, counters=range(0, 21), seconds=120)
    r = bob.run("--yes", "--conflict", "both")
    assert r.returncode != 0
    assert "could not be kept as a conflict copy" in r.stdout + r.stderr
    assert "--conflict local/remote" in r.stdout + r.stderr
    assert team.remote_state() == state_before
    assert bob.baseline()["f.txt"]["Checksum"] == base_before["f.txt"]["Checksum"]
    assert bob.read("f.txt") == b"bob's version"
    assert team.remote_files()["f.txt"] == b"alice's version"
    # resolved another way, it settles
    bob.sync("--conflict", "local")
    alice.sync()
    assert alice.read("f.txt") == b"bob's version"


def _killed_after_sending_the_copy(make_team, at="replica.py:copy_to"):
    """bob's keep-both SIGKILLed after his conflict copy reached the remote and before he
    placed it here (tests/faultrunner.py: at the first call of Replica.copy_to; or, with
    ``at="execute.py:_send:return"``, as the upload returns, before it is journaled as
    sent: only the line written before sending names it)."""
    from .test_crashes import run_faulty

    team = make_team(("alice", "bob", "carol"))
    team.carol.sync()
    alice, bob = _both_edit(team)
    r = run_faulty(bob, {"FAULT_CRASH_IN": at}, "--yes", "--json", "--conflict", "both")
    assert r.returncode == -9, (r.returncode, r.stdout, r.stderr)
    (orphan,) = [p for p in team.remote_files() if p.startswith("f.conflict-bob-")]
    assert team.remote_files()[orphan] == b"bob's version"
    assert orphan not in team.remote_state()  # sent, not recorded: what the next run mends
    assert bob.read("f.txt") == b"bob's version"
    team.advance_clock(5)  # the next run's stamp, and so its conflict name, differ
    return team, orphan


def _settled(team) -> dict:
    for _ in range(2):
        for m in team.members.values():
            m.sync("--conflict", "both")
    remote = team.remote_files()
    assert set(team.remote_state()) == set(remote)  # no object the team cannot see
    for m in team.members.values():
        assert m.files() == remote, m.name
    return remote


@pytest.mark.parametrize("how,at", [("both", "replica.py:copy_to"),
                                    ("remote", "replica.py:copy_to"),
                                    ("both", "execute.py:_send:return"),
                                    ("remote", "execute.py:_send:return")])
def test_a_keep_both_killed_after_sending_its_copy_is_recorded_by_the_next_run(make_team,
                                                                               how, at):
    """The copy a killed keep-both sent is recorded (not left where no plan ever sees
    it): taken again as the copy when bob keeps both once more, else recorded as it is;
    either way one copy, every member ends with it, and nothing of bob's is lost."""
    team, orphan = _killed_after_sending_the_copy(make_team, at)
    bob = team.bob
    r = bob.sync("--conflict", how)
    if how == "both":
        assert f"yours is now {orphan}" in r.stdout, r.stdout
    else:
        assert f"{orphan}: sent by an earlier run" in r.stdout + r.stderr, r.stdout
    assert orphan in team.remote_state()
    remote = _settled(team)
    assert [p for p in remote if ".conflict-" in p] == [orphan]
    assert remote[orphan] == b"bob's version" and remote["f.txt"] == b"alice's version"


def test_a_conflict_left_open_after_the_kill_then_kept_both_makes_one_copy(make_team):
    """Killed after sending the copy; the next run leaves the conflict open (``--conflict
    skip``): the copy waits in the journal, so the run that then keeps both takes it as
    the copy instead of sending a second one."""
    team, orphan = _killed_after_sending_the_copy(make_team)
    bob = team.bob
    r = bob.run("--yes", "--conflict", "skip", check_rc=3)
    assert orphan not in team.remote_state(), r.stdout
    team.advance_clock(5)
    r = bob.sync("--conflict", "both")
    assert f"yours is now {orphan}" in r.stdout, r.stdout
    remote = _settled(team)
    assert [p for p in remote if ".conflict-" in p] == [orphan]
