"""The team store (docs/metadata.md#the-team-store) on both remotes: twenty members'
`store set` at the same instant lose no key (every write is a compare-and-swap of the one
object); the API's mapping keeps types; `touch` is now, UTC; a clone that never synced
reads it; it is one object under the remote's .S3/."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

import s3sync_mirror
from s3sync_mirror.core.errors import UsageError

from .conftest import ROOT

PAIRS = 20  # concurrent `store set KEY VALUE` runs, half by alice, half by bob


def _start(member, *args):
    env = {**os.environ, **member.env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "s3sync_mirror", *args], cwd=member.repo,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)


def test_twenty_concurrent_store_sets_lose_no_key(make_team):
    team = make_team(("alice", "bob"))
    members = (team.alice, team.bob)
    procs = [_start(members[i % 2], "store", "set", f"{members[i % 2].name}-{i}", str(i))
             for i in range(PAIRS)]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    r = team.alice.run("store", "list", "--json", check_rc=0)
    entries = json.loads(r.stdout)
    assert {k: e["value"] for k, e in entries.items()} == \
        {f"{('alice', 'bob')[i % 2]}-{i}": i for i in range(PAIRS)}
    assert {e["type"] for e in entries.values()} == {"int"}
    assert {e["by"] for e in entries.values()} == {"alice", "bob"}
    # one object, under .S3/, and nothing else was written
    assert [k for k in team.remote_objects() if "store" in k] == [".S3/store.json"]
    assert team.remote_files() == {}


def test_store_api_is_a_typed_mapping_read_without_a_sync(team, monkeypatch):
    alice, bob = team.alice, team.bob
    when = datetime(2026, 11, 21, 14, 3, 5, tzinfo=timezone.utc)
    with s3sync_mirror.store(alice.repo) as st:
        st["new_files"] = 17
        st["ratio"] = 0.5
        st["source"] = "scraper-1"
        st["remote_last_updated"] = when
        before = datetime.now(timezone.utc).replace(microsecond=0)
        touched = st.touch("local_last_updated")
        assert before <= touched <= datetime.now(timezone.utc)
        del st["source"]
        with pytest.raises(KeyError):
            del st["source"]
    # bob never synced: no Data/ at all, and reading the store makes none
    assert not bob.data.exists()
    assert bob.run("store", "get", "new_files", check_rc=0).stdout.strip() == "17"
    assert not bob.data.exists()
    with s3sync_mirror.store(bob.repo) as st:
        assert dict(st.items()) == {"new_files": 17, "ratio": 0.5,
                                    "remote_last_updated": when,
                                    "local_last_updated": touched}
        assert isinstance(st["new_files"], int) and isinstance(st["ratio"], float)
        assert st["local_last_updated"] > st["remote_last_updated"]  # mmmeta's example
        assert "source" not in st and len(st) == 4
    r = bob.run("store", "set", "when", "2026-11-20", "--type", "time", check_rc=0)
    assert bob.run("store", "get", "when", check_rc=0).stdout.strip() == \
        "2026-11-20T00:00:00Z"
    r = bob.run("store", "set", "n", "seventeen", "--type", "int")
    assert r.returncode == 2 and "'seventeen' is not an int" in r.stderr
    r = bob.run("store", "get", "missing")
    assert r.returncode == 2 and "no such key" in r.stderr
    r = bob.run("store", "touch", "stamp", check_rc=0)
    stamp = datetime.fromisoformat(r.stdout.strip())
    assert abs(stamp - datetime.now(timezone.utc)) < timedelta(minutes=1)
    with pytest.raises(UsageError):
        with s3sync_mirror.store(bob.repo) as st:
            st["bad=key"] = 1
