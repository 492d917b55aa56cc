"""A crash at any point (docs/promises.md#crash-safety): a real sync in a subprocess is
SIGKILLed at many points (hashing, mid-upload, mid-download, between the transfers and the
commit, while the state is written), on both remotes. After each kill, a plain re-run
converges: no file lost, none half-written among the data files, no false conflict, nothing
sent again that was already recorded.

``S3SYNC_KILL_POINTS`` sets the evenly spaced kill points per remote, and with it set every
remote is also killed in the middle of each phase (the README figures: 60). Without it (CI):
4 points, plus the middle of every other phase, alternating between the remotes so that each
phase is hit on one of them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import s3sync_mirror

from .conftest import RELIABILITY, RELIABILITY_NOTES, ROOT, parse_csv

KILL_POINTS = int(os.environ.get("S3SYNC_KILL_POINTS", "4"))
# The CI sample (no S3SYNC_KILL_POINTS): each remote kills in the middle of every other
# phase, the folder remote the even ones, S3 the odd ones, so every phase is hit once;
# the full run kills in every phase on both.
ALL_PHASES = "S3SYNC_KILL_POINTS" in os.environ
RUNNER = ROOT / "tests" / "faultrunner.py"
MIB = 1 << 20


def api_sync(member):
    s3sync_mirror.run(member.repo, yes=True, force=True, quiet=True)


def prepare(team):
    """alice and bob in sync; then bob changes the remote and alice changes her folder.
    Returns {path: (allowed contents on alice's disk, final content or None)}."""
    alice, bob = team.alice, team.bob
    big_old, big_new = os.urandom(9 * MIB + 7), os.urandom(9 * MIB + 11)
    start = {"keep.csv": b"keep", "edit.csv": b"old", "gone.csv": b"gone",
             "bob-edits.csv": b"b0", "bob-deletes.csv": b"bd", "big.bin": big_old}
    for p, c in start.items():
        alice.write(p, c)
    api_sync(alice)
    api_sync(bob)
    bob.write("bob-edits.csv", b"b1")
    bob.delete("bob-deletes.csv")
    bob.write("from-bob/x.csv", b"x from bob")
    api_sync(bob)
    alice.write("edit.csv", b"new")
    alice.delete("gone.csv")
    alice.write("big.bin", big_new)
    for i in range(5):
        alice.write(f"new/n{i}.csv", f"new {i}".encode())
    expect = {
        "keep.csv": ({b"keep"}, b"keep"),
        "edit.csv": ({b"new"}, b"new"),
        "gone.csv": ({None}, None),
        "big.bin": ({big_new}, big_new),
        "bob-edits.csv": ({b"b0", b"b1"}, b"b1"),
        "bob-deletes.csv": ({b"bd", None}, None),
        "from-bob/x.csv": ({None, b"x from bob"}, b"x from bob"),
    }
    for i in range(5):
        expect[f"new/n{i}.csv"] = ({f"new {i}".encode()}, f"new {i}".encode())
    versions = [big_old, b"old", b"gone", b"b0", b"bd"]
    return expect, versions


def run_faulty(member, env_extra, *args, timeout=300):
    env = {**os.environ, **member.env, "PYTHONPATH": str(ROOT), **env_extra}
    return subprocess.run([sys.executable, str(RUNNER), *args], cwd=member.repo, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def recorded_uploads(team, member) -> dict:
    """{path: checksum} the remote already holds for sure: the remote state, and the
    journal of uploads a killed run completed."""
    out = {p: r["Checksum"] for p, r in team.remote_state().items()}
    journal = member.data / ".S3" / "journal.csv"
    if journal.exists():
        for row in parse_csv(journal.read_bytes()):
            out.setdefault(row["File"], row["Checksum"])
    return out


def listed_versions(member, where) -> set:
    """Every version ``log`` lists for ``member`` must be readable, its bytes verified
    (a version is listed and present, or not listed); returns their checksums."""
    from s3sync_mirror.history import restore as restoring, sources as timeline
    from s3sync_mirror.config import load_settings
    from s3sync_mirror.session import open_session

    with open_session(load_settings(member.repo), writes=False) as s:
        listed = timeline.gather(s)
        for v in listed:
            assert restoring.read(s, v), f"{where}: {v.path} v{v.version} listed, not readable"
    return {v.checksum for v in listed}


def check_after_kill(team, expect, versions, where):
    alice, bob = team.alice, team.bob
    import hashlib

    listed_versions(alice, where + " (before the re-run)")

    files = alice.files()
    # 1. every data path holds its old or its new content; nothing half-written or extra
    for path, content in files.items():
        assert path in expect, f"{where}: unexpected file {path!r} among the data files"
        assert content in expect[path][0], f"{where}: {path} is half-written or wrong"
    for path, (allowed, _) in expect.items():
        if path not in files:
            assert None in allowed or expect[path][1] is None or path == "gone.csv", \
                f"{where}: {path} vanished from alice's folder"
    recorded = recorded_uploads(team, alice)
    # 2. a plain re-run converges without conflicts and re-sends nothing recorded
    r = alice.run("--yes", "--force", "--json", timeout=300)
    assert r.returncode == 0, f"{where}: re-run rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    actions = json.loads(r.stdout)["actions"]
    for a in actions:
        assert a["action"] != "conflict", f"{where}: false conflict on {a['path']}"
        assert a["status"] == "done", f"{where}: {a}"
        if a["action"] == "upload":
            local_sum = hashlib.sha256(alice.read(a["path"])).hexdigest()
            if recorded.get(a["path"]) == local_sum:
                assert a.get("bytes", 0) == 0, f"{where}: {a['path']} sent twice"
        if a["action"] == "download":
            assert files.get(a["path"]) != expect[a["path"]][1], \
                f"{where}: {a['path']} downloaded again though already here"
    final = {p: c for p, (_, c) in expect.items() if c is not None}
    assert alice.files() == final, where
    assert team.remote_files() == final, where
    api_sync(bob)
    assert bob.files() == final, where
    # 3. nothing lost: every earlier version is archived or trashed somewhere
    kept = set(team.archive().values()) | set(alice.trash().values()) | \
        set(bob.trash().values())
    listed = listed_versions(alice, where)
    for v in versions:
        assert v in kept, f"{where}: a version of {len(v)} bytes was lost"
        assert hashlib.sha256(v).hexdigest() in listed, \
            f"{where}: a replaced version of {len(v)} bytes is not listed by log"
    RELIABILITY["file versions checked present after a kill"] += len(versions) + len(final)


# Phases the kill points must reach, as (name, a function the event happens in).
PHASES = [("hashing", "hashing.py:sha256_file"), ("scan", "scan.py:scan"),
          ("upload", ".py:upload"), ("download", "execute.py:_fetch_verified"),
          ("placing a download", "replica.py:place"),
          ("between transfers and commit", "merges.py:merge_remote"),
          ("remote state write", "remotestate.py:commit"),
          ("baseline write", "clonestate.py:save_baseline"),
          ("atomic rename", "replace in diskio.py:write_atomic"),
          ("history announced", "historyindex.py:announce"),
          ("history published", "historyindex.py:publish")]


@pytest.fixture
def count_events(make_team, tmp_path_factory):
    def count() -> tuple[int, list]:
        team = make_team()
        prepare(team)
        counter = tmp_path_factory.mktemp("count") / "n"
        r = run_faulty(team.alice, {"FAULT_CRASH_AT": "0", "FAULT_COUNT_FILE": str(counter)},
                       "--yes", "--force")
        assert r.returncode == 0, r.stderr
        places = Path(f"{counter}.places").read_text().splitlines()
        return int(counter.read_text()), places
    return count


def pick_points(total: int, places: list, k: int, phases=None) -> dict:
    """{event number: why}: ``k`` evenly spaced points, plus the middle event of each of
    ``phases`` (default: all; its position moves a little between runs as threads
    interleave)."""
    points = {1 + (i * (total - 1)) // max(1, k - 1): "evenly spaced" for i in range(k)}
    for name, needle in PHASES if phases is None else phases:
        hits = [i + 1 for i, where in enumerate(places) if needle in where]
        assert hits, f"the sync never reached {name} ({needle})"
        points[hits[len(hits) // 2]] = name
    return dict(sorted(points.items()))


def test_killed_at_many_points_then_a_rerun_converges(make_team, remote_kind, tmp_path_factory,
                                                      count_events):
    total, places_seen = count_events()
    assert total > 200, total
    phases = None if ALL_PHASES else PHASES[remote_kind != "local"::2]
    points = pick_points(total, places_seen, KILL_POINTS, phases)
    places = Counter()
    for n in points:
        team = make_team()
        expect, versions = prepare(team)
        trace = tmp_path_factory.mktemp("trace") / "where"
        r = run_faulty(team.alice, {"FAULT_CRASH_AT": str(n), "FAULT_TRACE_FILE": str(trace)},
                       "--yes", "--force")
        killed = trace.exists()  # written just before the SIGKILL
        where = trace.read_text() if killed else "after the end"
        places[where.split(" in ")[-1]] += 1
        # the kill point may lie past the last event (their number varies a little with
        # thread interleaving): then the run must have completed normally
        assert r.returncode == (-9 if killed else 0), \
            f"kill at {n} ({where}): rc={r.returncode}\n{r.stderr}"
        check_after_kill(team, expect, versions, f"{remote_kind} kill #{n} at {where}")
        RELIABILITY[f"kill points, {remote_kind} remote"] += 1
    print(f"\n{remote_kind}: {len(points)} kill points over {total} events; "
          f"killed in {len(places)} distinct places: {dict(places.most_common(12))}")
    RELIABILITY_NOTES[f"kill places, {remote_kind} remote"] = {
        "events in the sync": total, "kill points": len(points),
        "distinct places": len(places),
        "phases aimed at": [name for name, _ in PHASES],
        "by module": dict(Counter(p.split(":")[0] for p in places).most_common())}
