"""No lost update (docs/promises.md#no-lost-update): members syncing at the same moment,
each with their own new, edited and deleted files, against one remote; every change must end
up in the remote files and in versions_remote.csv. ``S3SYNC_RACE_ROUNDS`` raises the
repetitions (README figures)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import RELIABILITY, ROOT

ROUNDS = int(os.environ.get("S3SYNC_RACE_ROUNDS", "2"))


def start(member, *args):
    env = {**os.environ, **member.env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "s3sync_mirror", "--yes", "--force", *args],
                            cwd=member.repo, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def race(members, *args):
    procs = [(m, start(m, *args)) for m in members]
    results = {}
    for m, p in procs:
        out, err = p.communicate(timeout=300)
        results[m.name] = (p.returncode, out, err)
    return results


@pytest.mark.parametrize("n", [2, 4])
def test_concurrent_members_lose_no_update(make_team, n):
    names = ("alice", "bob", "carol", "dave")[:n]
    team = make_team(names)
    members = [team.members[x] for x in names]
    for m in members:  # everyone starts from the same synced state
        m.write(f"{m.name}/edit.csv", "v0")
        m.write(f"{m.name}/gone.csv", "bye")
    for m in members:
        m.sync()
    for m in members:
        m.sync()
    expected = {}
    for rnd in range(ROUNDS):
        for m in members:
            m.write(f"{m.name}/new-{rnd}.csv", f"{m.name} new {rnd}")
            m.write(f"{m.name}/edit.csv", f"{m.name} edit {rnd}")
            if m.exists(f"{m.name}/gone.csv"):
                m.delete(f"{m.name}/gone.csv")
            expected[f"{m.name}/new-{rnd}.csv"] = f"{m.name} new {rnd}".encode()
            expected[f"{m.name}/edit.csv"] = f"{m.name} edit {rnd}".encode()
        results = race(members)
        for name, (rc, out, err) in results.items():
            assert rc == 0, f"round {rnd}, {name}: rc={rc}\n{out}\n{err}"
        remote = team.remote_files()
        state = team.remote_state()
        for path, content in expected.items():
            assert remote.get(path) == content, f"round {rnd}: {path} lost on the remote"
            assert path in state, f"round {rnd}: {path} lost from versions_remote.csv"
        for m in members:
            assert f"{m.name}/gone.csv" not in remote and f"{m.name}/gone.csv" not in state
        assert set(state) == set(remote), "the state lists exactly the remote files"
        RELIABILITY[f"concurrent syncs, {team.kind} remote, {n} members"] += n
    for m in members:  # and everyone converges
        m.sync()
    for m in members:
        assert m.files() == team.remote_files()
