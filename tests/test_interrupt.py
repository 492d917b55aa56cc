"""Ctrl-C (docs/stages.md#execute): a real sync in a subprocess gets SIGINT while a big
file is in flight, on both remotes. It must say so at once, exit 130 within 1.5 s, leave
no temp part anywhere (this clone's ``.S3/tmp/``, the folder remote's ``.S3/tmp/``, no
multipart upload on S3), record what completed and only that, and the next run must
finish the work and converge.

Transfers are throttled (``S3SYNC_TEST_RATE`` bytes per second per transfer, applied in
the test's bootstrap of the CLI, not in the product) so that the big file is still in
flight whatever the disk's speed; ``S3SYNC_INTERRUPT_MIB`` sets its size.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from s3sync_mirror.pipeline.execute import INTERRUPTING
from s3sync_mirror.platforms.base import Cancelled, Transfer
from s3sync_mirror.platforms.local.connection import LocalConnection

from .conftest import RELIABILITY_NOTES, ROOT, Team, parse_csv
from .test_bigfile import sha_file, write_big

MIB = 1 << 20
BIG_MIB = int(os.environ.get("S3SYNC_INTERRUPT_MIB", "192"))
RATE = 48 * MIB  # bytes/s per transfer: 192 MiB take at least 4 s
LIMIT = 1.5  # seconds from SIGINT to exit
SMALL = {f"small/s{i}.csv": f"row,{i}\n".encode() * 50 for i in range(3)}

# The CLI, with every transfer's progress callback slowed to RATE (tests only).
BOOT = r"""
import os, sys, time
rate = float(os.environ.get("S3SYNC_TEST_RATE") or 0)
if rate:
    from s3sync_mirror.pipeline import execute
    real = execute.Executor.advance
    def slowed(self, n, _real=real):
        time.sleep(n / rate)
        return _real(self, n)
    execute.Executor.advance = slowed
from s3sync_mirror.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


# -- the remote seen from outside, without reading the big file ----------------------------
def remote_dir(team: Team) -> Path:
    return team.remote_root / team.prefix


def remote_keys(team: Team) -> set:
    """Keys of the data files on the remote (not ``.S3/``)."""
    if team.kind == "s3":
        pages = team._s3().get_paginator("list_objects_v2").paginate(
            Bucket=team.bucket, Prefix=team.prefix + "/")
        keys = {o["Key"][len(team.prefix) + 1:] for p in pages for o in p.get("Contents", ())}
    else:
        root = remote_dir(team)
        keys = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    return {k for k in keys if not k.startswith(".S3/")}


def remote_state(team: Team) -> dict:
    return team.remote_state()


def multipart_uploads(team: Team) -> list:
    return team._s3().list_multipart_uploads(Bucket=team.bucket).get("Uploads", [])


def remote_parts(team: Team) -> list:
    """The folder remote's temp parts (uploads under way or left behind)."""
    tmp = remote_dir(team) / ".S3" / "tmp"
    return sorted(tmp.glob("*.part")) if tmp.is_dir() else []


def local_parts(member) -> list:
    tmp = member.data / ".S3" / "tmp"
    return sorted(tmp.rglob("*.part")) if tmp.is_dir() else []


# -- a run to interrupt --------------------------------------------------------------------
def start(member, *args) -> subprocess.Popen:
    env = {**os.environ, **member.env, "PYTHONPATH": str(ROOT), "S3SYNC_TEST_RATE": str(RATE)}
    return subprocess.Popen([sys.executable, "-c", BOOT, *args], cwd=member.repo, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen, under_way, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (rc={proc.returncode}) before {what}:\n{out}\n{err}")
        if under_way():
            return
        time.sleep(0.02)
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"{what} never seen within {timeout} s:\n{out}\n{err}")


def interrupt(proc: subprocess.Popen) -> tuple[float, str, str]:
    """SIGINT now; (seconds until the process exited, stdout, stderr)."""
    assert proc.poll() is None, "the run ended before it could be interrupted"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("the run did not stop within 60 s of Ctrl-C")
    elapsed = time.monotonic() - t0
    out, err = proc.communicate()
    return elapsed, out, err


def assert_stopped_clean(team, member, proc, elapsed, out, err) -> None:
    shown = f"rc={proc.returncode} after {elapsed:.2f} s\n{out}\n{err}"
    assert proc.returncode == 130, shown
    assert elapsed < LIMIT, shown
    assert INTERRUPTING in err, shown
    assert local_parts(member) == [], shown
    if team.kind == "s3":
        assert multipart_uploads(team) == [], shown
    else:
        assert remote_parts(team) == [], shown


def converged(member) -> list:
    """The actions a status run still plans (none when the clone is in sync)."""
    r = member.run("--json", "status", check_rc=0)
    return json.loads(r.stdout)["actions"]


def upload_under_way(team):
    if team.kind == "s3":
        s3 = team._s3()

        def seen():
            ups = multipart_uploads(team)
            return bool(ups) and bool(s3.list_parts(
                Bucket=team.bucket, Key=ups[0]["Key"], UploadId=ups[0]["UploadId"]).get("Parts"))
        return seen
    return lambda: any(_size(p) >= 16 * MIB for p in remote_parts(team))


def _size(path) -> int:
    """A part's size; 0 when it is gone (a small file's part is renamed into place
    between the listing and the look)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def download_under_way(member):
    # A ranged download sizes its part at once; a folder one grows it block by block.
    return lambda: any(_size(p) >= 16 * MIB for p in local_parts(member))


# -- the tests -----------------------------------------------------------------------------
def test_ctrl_c_mid_transfer_stops_at_once_and_leaves_no_part(team, monkeypatch):
    alice, bob = team.alice, team.bob
    # On S3 the big file goes in parts, as one above 512 MiB does: moto shows its parts
    # arriving (one streamed PUT shows nothing until it ends; its Ctrl-C is played by
    # test_interrupt_stops_an_s3_request_on_the_wire["streamed-put"])
    monkeypatch.setenv("S3SYNC_MIRROR_SINGLE_PUT_MAX", "0")
    digest = write_big(alice.data / "big.bin", BIG_MIB)
    for path, content in SMALL.items():
        alice.write(path, content)
    timings = {}

    # Upload: the big file in flight (2 transfers: the small ones complete meanwhile).
    proc = start(alice, "--yes", "--jobs", "2")
    wait_for(proc, upload_under_way(team), "the big upload under way")
    time.sleep(0.2)
    elapsed, out, err = interrupt(proc)
    timings["upload"] = round(elapsed, 3)
    assert_stopped_clean(team, alice, proc, elapsed, out, err)
    assert remote_keys(team) == set(SMALL), "only what completed is on the remote"
    assert set(alice.baseline()) == set(SMALL), "the baseline lists only what completed"
    assert set(remote_state(team)) == set(SMALL), "the remote state lists what completed"

    alice.sync()  # the next run finishes the work
    state = remote_state(team)
    assert state["big.bin"]["Checksum"] == digest
    assert int(state["big.bin"]["Size"]) == BIG_MIB * MIB
    assert set(alice.baseline()) == set(SMALL) | {"big.bin"}
    assert converged(alice) == []
    assert local_parts(alice) == []
    if team.kind == "s3":
        assert multipart_uploads(team) == []
    else:
        assert remote_parts(team) == []
        assert sha_file(remote_dir(team) / "big.bin") == digest

    # Download: bob fetches the big file (ranged GETs on S3), interrupted in flight.
    proc = start(bob, "--yes", "--jobs", "2")
    wait_for(proc, download_under_way(bob), "the big download under way")
    time.sleep(0.2)
    elapsed, out, err = interrupt(proc)
    timings["download"] = round(elapsed, 3)
    assert_stopped_clean(team, bob, proc, elapsed, out, err)
    assert not bob.exists("big.bin")
    assert {p: bob.read(p) for p in SMALL} == SMALL
    assert set(bob.baseline()) == set(SMALL), "the baseline lists only what completed"

    bob.sync()
    assert sha_file(bob.data / "big.bin") == digest
    assert converged(bob) == []
    assert local_parts(bob) == []
    RELIABILITY_NOTES[f"Ctrl-C to exit, {team.kind} remote (s)"] = timings
    print(f"\n{team.kind}: SIGINT to exit {timings}")


def test_stale_remote_parts_are_removed_fresh_ones_kept(local_team):
    """Parts a killed run left in the folder remote's .S3/tmp/ go once no one wrote them
    for an hour by the share's clock; one written now (another member's upload under
    way) stays, and so does anything that is no part."""
    alice = local_team.alice
    alice.write("a.csv", b"a")
    alice.sync()
    tmp = remote_dir(local_team) / ".S3" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    now = time.time()
    made = {}
    for name, age in (("stale.part", 2 * 3600), ("recent.part", 50 * 60), ("fresh.part", 0),
                      ("notes.txt", 2 * 3600)):
        p = tmp / name
        p.write_bytes(b"x" * 1000)
        os.utime(p, (now - age, now - age))
        made[name] = p
    alice.write("b.csv", b"b")
    alice.sync()
    left = {p.name for p in tmp.iterdir()}
    assert "stale.part" not in left
    assert {"recent.part", "fresh.part", "notes.txt"} <= left, left
    assert not [n for n in left if n not in made], f"a probe or part left behind: {left}"


def test_stale_parts_judged_by_the_shares_clock(tmp_path, monkeypatch):
    """A member whose clock runs 2 h ahead must not take a part being written now: age is
    the share's clock (a probe's mtime) against the part's mtime."""
    conn = LocalConnection(tmp_path / "remote")
    tmp = tmp_path / "remote" / ".S3" / "tmp"
    tmp.mkdir(parents=True)
    (tmp / "now.part").write_bytes(b"x")
    old = tmp / "old.part"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    real, real_ns = time.time, time.time_ns  # this member's clock: 2 h ahead
    monkeypatch.setattr(time, "time", lambda: real() + 7200)
    monkeypatch.setattr(time, "time_ns", lambda: real_ns() + 7200 * 10**9)
    assert conn.clean_tmp(3600) == 1
    monkeypatch.undo()
    assert sorted(p.name for p in tmp.iterdir()) == ["now.part"]
    assert LocalConnection(tmp_path / "nowhere").clean_tmp(3600) == 0


def test_interrupt_stops_a_folder_upload_and_removes_its_part(tmp_path):
    """``interrupt`` reaches an upload in flight: it stops at its next block, raises
    Cancelled, and leaves no part in the remote's .S3/tmp/ and no object."""
    conn = LocalConnection(tmp_path / "remote")
    src = tmp_path / "big.bin"
    digest = write_big(src, 64)
    started, stopped = threading.Event(), []

    def slow(n):
        started.set()
        time.sleep(0.01)

    def later():
        started.wait(10)
        time.sleep(0.1)
        stopped.append(time.monotonic())
        conn.interrupt()

    threading.Thread(target=later).start()
    with pytest.raises(Cancelled):
        conn.upload("big.bin", src, sha256=digest, size=64 * MIB, if_none_match=True,
                    advance=slow)
    assert time.monotonic() - stopped[0] < 0.5
    assert list((tmp_path / "remote" / ".S3" / "tmp").glob("*")) == []
    assert conn.head("big.bin") is None
    # Later transfers are not affected: the run still records what completed.
    obj = conn.upload("big.bin", src, sha256=digest, size=64 * MIB, if_none_match=True)
    assert obj.size == 64 * MIB


def wait_out_a_cancelled_put(t0: float, size: int, rate: float) -> None:
    """Wait, on the wall clock, until a whole-object PUT of ``size`` bytes started at
    ``t0`` (time.monotonic) through a proxy of ``rate`` bytes/s would have landed, plus
    0.5 s. One of the two sleeps of a second or more the tests keep: the bytes cross a real
    socket at a real rate, which no injected clock speeds up, and "it never lands" can
    only be seen once it would have."""
    time.sleep(max(0.0, t0 + size / rate + 0.5 - time.monotonic()))


class SlowProxy:
    """A TCP proxy to the S3 server moving ``rate`` bytes/s each way per connection: a
    slow network, so that a request is still on the wire when Ctrl-C comes."""

    def __init__(self, upstream: str, rate: int):
        u = urlsplit(upstream)
        self.target, self.rate = (u.hostname, u.port), rate
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst) -> None:
        try:
            while True:
                data = src.recv(16384)
                if not data:
                    break
                dst.sendall(data)
                time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self) -> None:
        self.sock.close()


S3_CASES = {  # name: (use the CRT, upload, object size); parts are 5 MiB, above 16 MiB
    "crt-get": (True, False, 6 * MIB), "crt-put": (True, True, 6 * MIB),
    "botocore-get": (False, False, 6 * MIB), "botocore-put": (False, True, 6 * MIB),
    "ranged-get": (False, False, 24 * MIB), "streamed-put": (False, True, 12 * MIB),
    "multipart-put": (False, True, 24 * MIB)}


@pytest.mark.parametrize("case", list(S3_CASES))
def test_interrupt_stops_an_s3_request_on_the_wire(aws_env, bucket, tmp_path, case):
    """Over a slow network (2 MiB/s), ``interrupt`` stops each kind of S3 transfer within
    a second, mid-request: the CRT's request is cancelled, botocore's body stops being
    sent or read, a multipart upload is aborted with no part left. The connection works
    afterwards (the run still records what completed)."""
    from s3sync_mirror.platforms.s3.connection import S3Connection

    crt, upload, size = S3_CASES[case]
    proxy = SlowProxy(aws_env, 2 * MIB)
    conn = S3Connection(bucket, "p", endpoint_url=proxy.url, use_crt=crt, jobs=2,
                        multipart_threshold=8 * MIB, part_size=5 * MIB,
                        single_put_max=16 * MIB, ranged_min=8 * MIB)
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_env, region_name="us-east-1")
    data = write_big(tmp_path / "src", size // MIB)
    if not upload:
        s3.upload_file(str(tmp_path / "src"), bucket, "p/obj")
    when: list = []

    def later():
        time.sleep(0.7)
        when.append(time.monotonic())
        conn.interrupt()

    threading.Thread(target=later, daemon=True).start()
    t0 = time.monotonic()
    try:
        with pytest.raises(Cancelled):
            if upload:
                conn.upload("obj", tmp_path / "src", sha256=data, size=size)
            else:
                conn.download("obj", tmp_path / "dest", size_hint=size)
        stopped = time.monotonic()
        assert when, f"{case}: finished in {stopped - t0:.2f} s, before the interrupt"
        assert stopped - when[0] < 1.0, f"{case}: {stopped - when[0]:.2f} s after interrupt"
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        if upload:
            assert conn.head("obj") is None
            if size <= conn.single_put_max:  # one PUT: it must not land later either
                wait_out_a_cancelled_put(t0, size, 2 * MIB)
                assert conn.head("obj") is None, f"{case}: the cancelled PUT landed"
        assert conn.put_bytes("after", b"still works") and conn.head("after").size == 11
    finally:
        conn.close()
        proxy.close()


def test_a_cancelled_transfer_starts_nothing(tmp_path):
    """A transfer started once the run is stopping raises at once (its ``advance(0)``)."""
    conn = LocalConnection(tmp_path / "remote")
    src = tmp_path / "f"
    src.write_bytes(b"abc")

    def stopping(n):
        raise Cancelled()

    with pytest.raises(Cancelled):
        conn.upload("f", src, sha256=hashlib.sha256(b"abc").hexdigest(), size=3,
                    advance=stopping)
    assert not (tmp_path / "remote" / "f").exists()
    assert list((tmp_path / "remote").rglob("*.part")) == []
    t = Transfer()
    seen = []
    t.cancel()
    t.on_cancel(lambda: seen.append(1))
    assert seen == [1] and t.cancelled
    with pytest.raises(Cancelled):
        t.check()
