"""Faults: the S3 server stopped mid-run, slow responses, throttling, a local file that
cannot be read, a full disk while downloading, a file edited while it uploads. Each gives a
clear message naming the file, exit 1, the rest completed, and the next run finishes."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from .conftest import RELIABILITY, RELIABILITY_NOTES, ROOT, Team, new_bucket

RUNNER = ROOT / "tests" / "faultrunner.py"


def run_with(member, fault_env, *args, timeout=300):
    env = {**os.environ, **member.env, "PYTHONPATH": str(ROOT), **fault_env}
    return subprocess.run([sys.executable, str(RUNNER), *args], cwd=member.repo, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def counted(name: str, team) -> None:
    """Count the fault case ``name`` for the reliability report, and list it by name under
    its remote kind (each case once)."""
    key = f"fault cases, {team.kind} remote"
    cases = RELIABILITY_NOTES.setdefault(key, [])
    assert name not in cases, f"fault case {name!r} counted twice on a {team.kind} remote"
    cases.append(name)
    RELIABILITY[key] += 1


# -- moto, made slow or throttling (the server runs in this process) -----------------------
class _SlowDown(Exception):
    pass


def _drop_connection(response) -> None:
    """Fail this request as a stopped server would: its connection is cut, no answer."""
    sock = response.request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise ConnectionAbortedError("the S3 server was stopped")


@pytest.fixture
def moto_faults(monkeypatch):
    """Patch moto's S3 responses to data keys (not ``.S3/``):

    - ``delay``: seconds per request;
    - ``throttle``: {key part: times} to answer 503 SlowDown (-1: always);
    - ``meet``: each request waits (up to 10 s) until that many requests have been in
      flight at once, so ``peak`` (the most seen at once) reaches it only if the client
      sends them in parallel;
    - ``stop_after``: the request of that number sets ``reached`` and, like every later
      one, is held until ``down`` is set, then has its connection cut; once ``down`` is
      set every request is cut (a stopped server, even on kept-alive connections)."""
    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    class SlowDown(S3ClientError):
        code = 503

        def __init__(self):
            super().__init__("SlowDown", "Please reduce your request rate.")

    cfg = {"delay": 0.0, "throttle": {}, "meet": 0, "in_flight": 0, "peak": 0,
           "stop_after": 0, "requests": 0, "reached": threading.Event(),
           "down": threading.Event()}
    lock = threading.Lock()
    flight = threading.Condition()
    original_put = S3Response.put_object
    original_get = S3Response.get_object

    def gate(self):
        key = self.parse_key_name()
        if "/.S3/" in f"/{key}":
            return
        if cfg["down"].is_set():
            _drop_connection(self)
        with lock:
            cfg["requests"] += 1
            number = cfg["requests"]
        if cfg["stop_after"] and number >= cfg["stop_after"]:
            cfg["reached"].set()
            cfg["down"].wait(60)
            _drop_connection(self)
        with flight:
            cfg["in_flight"] += 1
            cfg["peak"] = max(cfg["peak"], cfg["in_flight"])
            flight.notify_all()
            if cfg["meet"]:
                flight.wait_for(lambda: cfg["peak"] >= cfg["meet"], timeout=10)
        try:
            if cfg["delay"]:
                time.sleep(cfg["delay"])
            with lock:
                for needle, left in cfg["throttle"].items():
                    if needle in key and left != 0:
                        cfg["throttle"][needle] = left - 1 if left > 0 else -1
                        raise SlowDown()
        finally:
            with flight:
                cfg["in_flight"] -= 1

    def put_object(self, *a, **kw):
        gate(self)
        return original_put(self, *a, **kw)

    def get_object(self, *a, **kw):
        gate(self)
        return original_get(self, *a, **kw)

    monkeypatch.setattr(S3Response, "put_object", put_object)
    monkeypatch.setattr(S3Response, "get_object", get_object)
    return cfg


@pytest.fixture
def s3_team(tmp_path, aws_env):
    return Team("s3", tmp_path, new_bucket(aws_env), aws_env)


def test_slow_responses_still_complete(s3_team, moto_faults):
    alice, bob = s3_team.alice, s3_team.bob
    for i in range(12):
        alice.write(f"f{i}.csv", f"{i}")
    moto_faults["delay"] = 0.25
    moto_faults["meet"] = 4
    alice.sync("--jobs", "12")
    assert moto_faults["peak"] >= 4, "slow requests overlap: transfers are parallel"
    moto_faults["meet"] = 0
    bob.sync()
    assert bob.files() == alice.files() == s3_team.remote_files()
    counted("slow", s3_team)


def test_brief_throttling_is_retried(s3_team, moto_faults):
    alice = s3_team.alice
    for i in range(5):
        alice.write(f"f{i}.csv", f"{i}")
    moto_faults["throttle"] = {"f1.csv": 2, "f3.csv": 3}
    alice.sync()
    assert s3_team.remote_files() == alice.files()
    assert moto_faults["throttle"] == {"f1.csv": 0, "f3.csv": 0}
    counted("throttle", s3_team)


def test_persistent_throttling_fails_that_file_only(s3_team, moto_faults):
    alice = s3_team.alice
    for i in range(5):
        alice.write(f"f{i}.csv", f"{i}")
    moto_faults["throttle"] = {"f2.csv": -1}
    r = alice.run("--yes", env={"AWS_MAX_ATTEMPTS": "3"})
    assert r.returncode == 1
    assert "f2.csv" in r.stderr and "throttling" in r.stderr and "Traceback" not in r.stderr
    assert set(s3_team.remote_files()) == {"f0.csv", "f1.csv", "f3.csv", "f4.csv"}
    moto_faults["throttle"] = {}
    alice.sync()
    assert s3_team.remote_files() == alice.files()
    counted("throttle forever", s3_team)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_stopped_mid_run_then_next_run_finishes(tmp_path, aws_env, moto_faults):
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    team = Team("s3", tmp_path, new_bucket(url), url)
    alice, bob = team.alice, team.bob
    for i in range(40):
        alice.write(f"f{i:02}.csv", f"file {i}")
    moto_faults["stop_after"] = 5  # the server goes down when the 5th upload arrives
    env = {**os.environ, **alice.env, "PYTHONPATH": str(ROOT), "AWS_MAX_ATTEMPTS": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "s3sync_mirror", "--yes", "--jobs", "2"],
                            cwd=alice.repo, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert moto_faults["reached"].wait(120), "the run never reached its 5th upload"
    finally:
        server.stop()
        moto_faults["down"].set()
    out, err = proc.communicate(timeout=300)
    try:
        assert proc.returncode == 1, out + err
        assert "cannot reach" in err and "Traceback" not in err
        failed = [ln for ln in err.splitlines() if ln.startswith("failed: ")]
        assert failed and all(".csv" in ln for ln in failed), err
        assert any("not attempted" in ln for ln in failed), "the rest is not retried forever"
        moto_faults["stop_after"] = 0
        moto_faults["down"].clear()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        sent_before = set(team.remote_files())
        assert 0 < len(sent_before) <= 4, sorted(sent_before)
        r = alice.run("--yes", "--json", check_rc=0)
        redone = {a["path"] for a in json.loads(r.stdout)["actions"] if a.get("bytes")}
        everything = {f"f{i:02}.csv" for i in range(40)}
        assert redone == everything - sent_before, "what the first run sent is not sent again"
        assert team.remote_files() == alice.files()
        bob.sync()
        assert bob.files() == alice.files()
    finally:
        server.stop()
    counted("server stopped", team)


def test_unreadable_local_file(team):
    alice = team.alice
    alice.write("ok.csv", "fine")
    alice.write("secret/locked.csv", "locked")
    r = run_with(alice, {"FAULT_EACCES": "locked.csv"}, "--yes")
    assert r.returncode == 1
    assert "locked.csv" in r.stderr and "cannot be read" in r.stderr
    assert "Traceback" not in r.stderr
    assert team.remote_files() == {"ok.csv": b"fine"}
    alice.sync()
    assert team.remote_files() == alice.files()
    counted("eacces", team)


def test_unreadable_file_already_synced_is_not_taken_for_a_deletion(team):
    alice = team.alice
    for i in range(3):
        alice.write(f"f{i}.csv", f"{i}")
    alice.sync()
    alice.write("f1.csv", "changed, and now unreadable")
    r = run_with(alice, {"FAULT_EACCES": "f1.csv"}, "--yes")
    assert r.returncode == 1 and "f1.csv" in r.stderr
    assert team.remote_files()["f1.csv"] == b"1", "left alone, not deleted remotely"
    alice.sync()
    assert team.remote_files()["f1.csv"] == b"changed, and now unreadable"
    counted("eacces synced", team)


def test_full_disk_while_downloading(team):
    alice, bob = team.alice, team.bob
    alice.write("small.csv", "s")
    alice.write("big.bin", os.urandom(3 << 20))
    alice.sync()
    r = run_with(bob, {"FAULT_ENOSPC": str(1 << 20)}, "--yes")
    assert r.returncode == 1
    assert "big.bin" in r.stderr and "No space left" in r.stderr
    assert "Traceback" not in r.stderr
    assert bob.files() == {"small.csv": b"s"}, "nothing half-written among the data files"
    assert not list((bob.data / ".S3" / "tmp").iterdir()), "partial downloads are removed"
    bob.sync()
    assert bob.files() == alice.files()
    counted("enospc", team)


def test_file_edited_while_uploading_is_not_recorded(team):
    alice, bob = team.alice, team.bob
    alice.write("steady.csv", "s")
    alice.write("moving.csv", "first")
    r = run_with(alice, {"FAULT_CHANGE": "moving.csv"}, "--yes")
    assert r.returncode == 1
    assert "moving.csv" in r.stderr and "changed while it was being uploaded" in r.stderr
    assert "moving.csv" not in team.remote_state()
    assert "moving.csv" not in alice.baseline()
    assert set(team.remote_files()) == {"steady.csv"}
    alice.sync()
    assert team.remote_files()["moving.csv"] == b"first (edited while uploading)"
    bob.sync()
    assert bob.files() == alice.files()
    counted("changed during upload", team)


def test_lock_left_by_a_killed_run_is_broken_with_a_message(local_team):
    alice = local_team.alice
    alice.write("a.csv", "1")
    alice.sync()  # new files are created without the lock (a hard link): none taken yet
    lock = local_team.remote_root / local_team.prefix / ".S3" / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": 2 ** 22 + 4321,
                                "user": "bob"}))
    alice.write("a.csv", "2")  # replacing it if unchanged takes the lock
    r = alice.sync()
    assert "broke the remote folder's lock left by bob" in r.stderr
    assert local_team.remote_files() == {"a.csv": b"2"}
    assert not lock.exists()
    counted("stale lock", local_team)


def test_a_server_ignoring_conditional_writes_is_named(s3_team, monkeypatch):
    """Some S3-compatible servers drop If-None-Match/If-Match; then the no-lost-update
    promise cannot hold, and the user is told so (once per run, until fixed)."""
    from moto.s3.responses import S3Response

    original = S3Response.put_object

    def careless_put(self, *a, **kw):
        from werkzeug.datastructures import Headers

        headers = Headers(self.headers)
        for h in ("If-None-Match", "If-Match"):
            headers.remove(h)
        self.headers = headers
        return original(self, *a, **kw)

    alice = s3_team.alice
    alice.write("a.csv", "1")
    alice.sync()
    checked = alice.data / ".S3" / "remote_checked.txt"
    assert checked.read_text().strip().startswith("s3://"), "an honest server is noted once"
    checked.unlink()
    monkeypatch.setattr(S3Response, "put_object", careless_put)
    alice.write("b.csv", "2")
    r = alice.sync()
    assert "ignores conditional writes" in r.stderr
    assert not checked.exists()
    counted("careless server", s3_team)
