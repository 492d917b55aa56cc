"""The folder remote's fenced lock (``platforms/locallock.py``), on real files, threads and
processes. The member's clock is faked (``time.time`` in this process) only to show it
never decides a lock's age: the share's own file times do.

* a live, heartbeating holder keeps its lock against a member whose clock is 60 s ahead;
* a stopped holder loses it once its lock is older than ``lock_stale`` by the share's
  clock, then cannot commit its rename and leaves the new holder's lock alone;
* a dead holder's lock is broken at once, with the warning;
* breaking, renewing and releasing never remove or renew another's lock;
* two processes racing 200 conditional writes to one key lose no update.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from s3sync_mirror.core import layout
from s3sync_mirror.core.errors import LockBusy, PreconditionFailed
from s3sync_mirror.platforms.local.connection import LocalConnection
from s3sync_mirror.platforms.local.lock import FencedLock, LockLost, look

from .conftest import ROOT

STALE = 2.0  # lock_stale of these tests: the heartbeat renews every 0.67 s
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# A member writing "k" whose share stalls between the check and the rename (or copying
# "k" to "k2", or deleting it, stalled right after taking the lock): it prints "checked"
# while holding the lock and goes on when a line arrives on stdin.
HOLDER = r"""
import sys
from s3sync_mirror.core.errors import RemoteError
from s3sync_mirror.platforms.local.connection import LocalConnection
from s3sync_mirror.platforms.local.lock import FencedLock

root, stale, op, etag = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
cls, name = (LocalConnection, "_check") if op == "put" else (FencedLock, "acquire")
real = getattr(cls, name)

def stalled(self, *args):
    real(self, *args)
    print("checked", flush=True)
    sys.stdin.readline()

setattr(cls, name, stalled)
conn = LocalConnection(root, user="holder", lock_stale=stale, lock_wait=30)
try:
    if op == "put":
        conn.put_bytes("k", b"the holder's", if_match=etag)
    elif op == "copy":
        conn.copy("k", "k2", if_match=etag)
    else:
        conn.delete("k", if_match=etag)
except RemoteError as exc:
    print("refused", type(exc).__name__, exc, flush=True)
else:
    print("written", flush=True)
"""

# One of two members appending its line to "counter" n times, each a conditional write.
RACER = r"""
import json, os, sys, time
from s3sync_mirror.core.errors import PreconditionFailed
from s3sync_mirror.platforms.local.connection import LocalConnection

root, name, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
conn = LocalConnection(root, user=name)
while not os.path.exists(go):
    time.sleep(0.001)
won, lost = [], 0
for i in range(n):
    data, etag = conn.get_bytes("counter")
    line = f"{name}-{i}"
    try:
        conn.put_bytes("counter", data + line.encode() + b"\n", if_match=etag)
    except PreconditionFailed:
        lost += 1
    else:
        won.append(line)
print(json.dumps({"won": won, "lost": lost}))
"""


def lock_path(conn: LocalConnection):
    return conn.root.joinpath(*layout.REMOTE_LOCK.split("/"))


def skew(monkeypatch, seconds: float) -> None:
    """This member's clock runs ``seconds`` ahead of the share's (behind if negative)."""
    real, real_ns = time.time, time.time_ns
    monkeypatch.setattr(time, "time", lambda: real() + seconds)
    monkeypatch.setattr(time, "time_ns", lambda: real_ns() + int(seconds * 1e9))


def leftovers(conn: LocalConnection) -> list:
    folder = lock_path(conn).parent
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("lock."))


@pytest.fixture
def holder(tmp_path):
    """Start the stalled member; yields (process, the lock it holds)."""
    started = []

    def start(conn: LocalConnection, etag: str, op: str = "put"):
        p = subprocess.Popen([sys.executable, "-c", HOLDER, str(conn.root), str(STALE), op,
                              etag],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=ENV)
        started.append(p)
        line = p.stdout.readline()
        assert line.strip() == "checked", p.stderr.read()
        held = look(lock_path(conn))
        assert held is not None and held.info["pid"] == p.pid and held.info["user"] == "holder"
        return p, held

    yield start
    for p in started:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGCONT)
            p.kill()
            p.wait()


def finish(p) -> str:
    """Let the stalled member go on; its output."""
    os.kill(p.pid, signal.SIGCONT)
    out, err = p.communicate("go\n", timeout=60)
    assert p.returncode == 0, err
    return out


def test_a_live_holder_keeps_its_lock_against_a_clock_60s_ahead(tmp_path, holder, caplog,
                                                                  monkeypatch):
    conn = LocalConnection(tmp_path / "r", user="me", lock_stale=STALE, lock_wait=0.3)
    etag = conn.put_bytes("k", b"before")
    p, held = holder(conn, etag)
    skew(monkeypatch, 60)
    # The stalled body runs well past lock_stale (5 s): one of the two sleeps of a second or
    # more the tests keep. The lock's age and its heartbeat are another process's real
    # file times, not version times; the clock skew is already simulated (skew above).
    time.sleep(2.5 * STALE)
    with pytest.raises(LockBusy) as exc:
        conn.put_bytes("k", b"mine", if_match=etag)
    assert "holder" in str(exc.value) and str(lock_path(conn)) in str(exc.value)
    assert f"pid {p.pid}" in str(exc.value)
    now = look(lock_path(conn))
    assert now.token == held.token, "the live holder's lock was broken"
    assert now.mtime_ns > held.mtime_ns, "the heartbeat renewed it"
    assert "broke" not in caplog.text
    assert finish(p).startswith("written")
    assert conn.get_bytes("k")[0] == b"the holder's"
    assert not lock_path(conn).exists() and leftovers(conn) == []


@pytest.mark.parametrize("op", ["put", "copy", "delete"])
def test_a_stopped_holder_loses_its_lock_and_cannot_commit(tmp_path, holder, caplog,
                                                           monkeypatch, op):
    conn = LocalConnection(tmp_path / "r", user="me", lock_stale=STALE, lock_wait=30)
    etag = conn.put_bytes("k", b"before")
    p, held = holder(conn, etag, op)
    skew(monkeypatch, 60)
    os.kill(p.pid, signal.SIGSTOP)  # alive (same host, pid there), no more heartbeats
    stopped = time.monotonic()
    with conn.locked() as mine:
        waited = time.monotonic() - stopped
        # broken only once unrenewed for lock_stale by the share's clock; the last beat
        # came at most lock_stale/3 before the stop
        assert waited > STALE * 2 / 3 - 0.1, f"broken after {waited:.2f}s"
        assert "broke the remote folder's lock left by holder" in caplog.text
        assert "remote folder's clock" in caplog.text
        out = finish(p)
        assert out.startswith("refused LockLost"), out
        assert "was broken by another member" in out and "Run the sync again" in out
        assert (conn.root / "k").read_bytes() == b"before", f"the fenced {op} happened"
        assert not (conn.root / "k2").exists(), "the fenced copy happened"
        now = look(lock_path(conn))
        assert now is not None and now.token == mine.token, "the holder removed our lock"
        mine.fence("k")  # and ours is still good
    assert not lock_path(conn).exists()
    assert conn.get_bytes("k")[0] == b"before" and held.token != mine.token
    assert leftovers(conn) == []


def test_a_dead_holders_lock_is_broken_at_once_with_the_warning(tmp_path, holder, caplog):
    conn = LocalConnection(tmp_path / "r", user="me", lock_wait=5)  # lock_stale: 30 s
    etag = conn.put_bytes("k", b"before")
    p, held = holder(conn, etag)
    p.kill()
    p.wait()
    started = time.monotonic()
    etag = conn.put_bytes("k", b"mine", if_match=etag)
    assert time.monotonic() - started < 5
    assert "broke the remote folder's lock left by holder" in caplog.text
    assert f"pid {p.pid}" in caplog.text and "its process is gone" in caplog.text
    assert conn.get_bytes("k") == (b"mine", etag)
    assert leftovers(conn) == []


@pytest.mark.parametrize("clock, lock_age, broken", [
    (+60, 0, False),  # a fresh lock; the member's clock a minute ahead
    (-3600, 10, True),  # a lock unrenewed for 10 s; the member's clock an hour behind
])
def test_another_hosts_lock_expires_by_the_shares_clock(tmp_path, caplog, monkeypatch,
                                                         clock, lock_age, broken):
    conn = LocalConnection(tmp_path / "r", user="me", lock_stale=STALE, lock_wait=0.5)
    etag = conn.put_bytes("x", b"0")  # unconditional: no lock taken
    lock = lock_path(conn)
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"host": "other-host", "pid": 1, "user": "bob",
                                "token": "bobs", "time": 0}))
    then = lock.stat().st_mtime_ns - lock_age * 1_000_000_000
    os.utime(lock, ns=(then, then))
    skew(monkeypatch, clock)
    if broken:  # a replace-if-unchanged takes the lock
        conn.put_bytes("x", b"1", if_match=etag)
        assert "broke the remote folder's lock left by bob" in caplog.text
        assert not lock.exists() and conn.get_bytes("x")[0] == b"1"
    else:
        with pytest.raises(LockBusy) as exc:
            conn.put_bytes("x", b"1", if_match=etag)
        assert "bob" in str(exc.value) and f"delete {lock}" in str(exc.value)
        assert look(lock).token == "bobs" and conn.get_bytes("x")[0] == b"0"
    assert leftovers(conn) == []


def fresh_lock(path, token: str) -> None:
    path.write_text(json.dumps({"host": "other-host", "pid": 1, "user": token,
                                "token": token}))


@pytest.mark.parametrize("meanwhile", ["retaken", "renewed"])
def test_breaking_removes_only_the_lock_judged_stale(tmp_path, caplog, meanwhile):
    path = tmp_path / "lock"
    fresh_lock(path, "old")
    os.utime(path, (1000, 1000))
    judged = look(path)
    if meanwhile == "retaken":  # another broke it and took the lock before us
        path.unlink()
        fresh_lock(path, "new")
    else:  # its holder's heartbeat came just in time
        os.utime(path)
    before = look(path)
    breaker = FencedLock(path, user="me")
    assert breaker.break_stale(judged, "test") is False
    assert look(path) == before, "a lock that was not the one judged stale was removed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock"]
    assert "broke" not in caplog.text
    os.utime(path, (1000, 1000))
    assert breaker.break_stale(look(path), "test") is True
    assert not path.exists() and "broke" in caplog.text


def test_a_broken_holder_neither_renews_nor_removes_the_new_lock(tmp_path):
    path = tmp_path / "lock"
    first = FencedLock(path, user="first", stale=0.3, wait=1)
    first.acquire()
    first.fence("k")
    second = FencedLock(path, user="second", stale=30, wait=1)  # beats every 10 s
    assert second.break_stale(look(path), "test")
    second.acquire()
    os.utime(path, (1000, 1000))  # as if second's own beat were late
    time.sleep(0.5)  # first's heartbeat runs every 0.1 s
    assert look(path).mtime_ns == 1000 * 10 ** 9, "first's heartbeat renewed second's lock"
    with pytest.raises(LockLost) as exc:
        first.fence("k")
    assert isinstance(exc.value, PreconditionFailed) and isinstance(exc.value, LockBusy)
    first.release()
    assert look(path).token == second.token, "first removed second's lock"
    second.fence("k")
    second.release()
    assert not path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_threads_hold_the_lock_one_at_a_time(tmp_path):
    conn = LocalConnection(tmp_path / "r", user="me", lock_stale=STALE, lock_wait=30)
    inside, overlaps, done = [], [], []

    def work():
        for _ in range(20):
            with conn.locked() as lock:
                inside.append(1)
                overlaps.append(len(inside))
                lock.fence("x")
                time.sleep(0.001)
                inside.pop()
        done.append(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(done) == 4 and len(overlaps) == 80
    assert max(overlaps) == 1, "two threads held the lock at once"
    assert not lock_path(conn).exists() and leftovers(conn) == []


def test_two_processes_racing_200_conditional_writes_lose_no_update(tmp_path):
    conn = LocalConnection(tmp_path / "r", user="me")
    conn.put_bytes("counter", b"", if_none_match=True)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(conn.root), name, "100",
                               str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=ENV) for name in ("alice", "bob")]
    time.sleep(0.5)
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    won = [line for r in results for line in r["won"]]
    lost = sum(r["lost"] for r in results)
    final = conn.get_bytes("counter")[0].decode().splitlines()
    assert len(won) + lost == 200
    assert lost > 0, "no write lost a race: the two did not overlap"
    assert sorted(final) == sorted(won), "an acknowledged write is missing (or extra)"
    assert len(final) == len(set(final)) == len(won)
    assert not lock_path(conn).exists() and leftovers(conn) == []


def _race_to_create(conn, key: str, n: int) -> list:
    """``n`` threads create ``key`` if absent at once; what each got."""
    start, got = threading.Barrier(n), []

    def create(i: int):
        start.wait()
        try:
            conn.put_bytes(key, f"writer {i}".encode(), if_none_match=True)
            got.append(("won", i))
        except PreconditionFailed:
            got.append(("lost", i))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return got


@pytest.mark.parametrize("links", ["hard links", "a share without hard links"])
def test_creating_a_key_if_absent_has_exactly_one_winner(tmp_path, monkeypatch, links):
    """A create-if-absent takes no lock where the share has hard links (the link itself
    fails when the name is taken); without them it takes the lock. Either way exactly one
    of many writers racing for one new key wins, and its bytes are the key's."""
    conn = LocalConnection(tmp_path / "r", user="me", lock_stale=STALE, lock_wait=30)
    taken = []
    real_acquire = FencedLock.acquire
    monkeypatch.setattr(FencedLock, "acquire",
                        lambda self: (taken.append(1), real_acquire(self))[1])
    if links != "hard links":
        def no_links(src, dst, *a, **kw):
            raise PermissionError(1, "Operation not permitted", str(src))
        monkeypatch.setattr(os, "link", no_links)
    for round_ in range(5):
        got = _race_to_create(conn, f"k{round_}", 8)
        winners = [i for what, i in got if what == "won"]
        assert len(got) == 8 and len(winners) == 1, got
        assert conn.get_bytes(f"k{round_}")[0] == f"writer {winners[0]}".encode()
    assert (len(taken) == 0) == (links == "hard links"), len(taken)
    assert not lock_path(conn).exists() and leftovers(conn) == []
