"""Reading ahead (``pipeline/ahead.py``, ``LoopClient.read_ahead`` / ``ahead``): a sync that
can approve starts the GETs of the small files new to this clone as soon as it knows the
remote state, into memory only; the batch that downloads them takes those answers instead of
asking again, each GET is sent once, what is read ahead is the version the plan names, and a
read ahead that failed is asked again by the batch, whose failure is the usual one."""
from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

import s3sync_mirror
from s3sync_mirror.core.errors import PreconditionFailed
from s3sync_mirror.core.model import DONE, FileState
from s3sync_mirror.pipeline import ahead
from tests.test_unnamed import _team_with_files

MIB = 1 << 20
REAL_START = ahead.start


def _st(size: int, checksum: str, etag: str = "e") -> FileState:
    return FileState(size=size, mtime_ns=0, checksum=checksum, etag=etag)


# -- which files -------------------------------------------------------------------------
def test_only_small_files_new_to_this_clone_largest_first():
    remote = {"a.csv": _st(10, "A"), "b.csv": _st(30, "B"), "c.csv": _st(20, "C"),
              "here.csv": _st(10, "H"), "known.csv": _st(10, "K"), "moved.csv": _st(10, "M"),
              "empty.csv": _st(0, "0"), "big.bin": _st(MIB, "G"), "tmp/x.csv": _st(5, "X"),
              "d.csv": _st(20, "D", etag="")}
    local = {"here.csv": _st(10, "H"), "elsewhere.csv": _st(10, "M")}
    base = {"known.csv": _st(10, "K")}
    got = ahead.candidates(remote, base, local, lambda p: p.startswith("tmp/"), MIB)
    # not: here locally, in the baseline, its content here under another name, empty,
    # not below the batch limit, ignored, no version to ask for; in the executor's order
    # (largest first, stable)
    assert got == [("b.csv", "e", 30), ("c.csv", "e", 20), ("a.csv", "e", 10)]
    assert ahead.candidates(remote, base, local, None, MIB, scope=("c.csv",)) == \
        [("c.csv", "e", 20)]
    assert ahead.candidates(remote, base, local, None, 0) == []  # a remote without batches


def test_what_is_read_ahead_is_bounded(monkeypatch):
    remote = {f"f{i}.csv": _st(1000, str(i)) for i in range(50)}
    monkeypatch.setattr(ahead, "MAX_FILES", 10)
    assert len(ahead.candidates(remote, {}, {}, None, MIB)) == 10
    monkeypatch.setattr(ahead, "MAX_FILES", 100)
    monkeypatch.setattr(ahead, "MAX_BYTES", 5500)
    assert len(ahead.candidates(remote, {}, {}, None, MIB)) == 5
    monkeypatch.setattr(ahead, "MAX_REMOTE", 49)  # a state this big is not searched
    assert ahead.candidates(remote, {}, {}, None, MIB) == []


# -- a team on S3 ------------------------------------------------------------------------
def _count_gets(monkeypatch) -> dict:
    """{object key: GETs sent} of obstore, as this process sends them."""
    import obstore

    sent: dict = {}
    lock = threading.Lock()
    real = obstore.get_async

    def counting(store, key, *args, **kwargs):
        with lock:
            sent[key] = sent.get(key, 0) + 1
        return real(store, key, *args, **kwargs)

    monkeypatch.setattr(obstore, "get_async", counting)
    return sent


def _spy_start(monkeypatch, before=None, after=None) -> list:
    """Records how many files each read ahead started; ``before``/``after`` run around it."""
    started: list = []
    real = ahead.start

    def spy(s, *args, **kwargs):
        if before:
            before(s)
        started.append(real(s, *args, **kwargs))
        if after:
            after(s)
        return started[-1]

    monkeypatch.setattr(ahead, "start", spy)
    return started


def _wait_read(s, keys, timeout=30.0) -> None:
    """Until every GET read ahead for ``keys`` has its answer."""
    objects = s.remote.objects
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        slots = [objects._ahead.get(k) for k in keys]
        if all(slot is not None and slot.fut.done() for slot in slots):
            return
        time.sleep(0.01)
    raise AssertionError("the read ahead did not finish")


@pytest.mark.parametrize("remote_kind", ["s3"])
def test_a_fresh_clone_reads_ahead_and_sends_each_get_once(team, monkeypatch):
    files = _team_with_files(team, count=30)
    sent = _count_gets(monkeypatch)
    started = _spy_start(monkeypatch)
    result = s3sync_mirror.run(team.bob.repo, yes=True, quiet=True)
    assert result.ok and {o.status for o in result.outcomes} == {DONE}
    assert team.bob.files() == files
    assert started == [len(files)]
    data_gets = {k: n for k, n in sent.items() if "/.S3/" not in f"/{k}"}
    assert len(data_gets) == len(files) and set(data_gets.values()) == {1}, data_gets
    assert "nothing to do" in team.bob.run("status", check_rc=0).stdout


@pytest.mark.parametrize("remote_kind", ["s3"])
def test_a_run_that_cannot_approve_reads_nothing_ahead(team, monkeypatch):
    _team_with_files(team, count=5)
    sent = _count_gets(monkeypatch)
    started = _spy_start(monkeypatch)
    s3sync_mirror.run(team.bob.repo, dry_run=True, quiet=True)
    s3sync_mirror.run(team.bob.repo, quiet=True, interactive=False)  # no --yes, no person
    assert started == [0, 0] and [k for k in sent if "/.S3/" not in f"/{k}"] == []
    assert not team.bob.data.exists() or team.bob.files() == {}
    monkeypatch.setenv(ahead.SWITCH, "0")  # turned off
    s3sync_mirror.run(team.bob.repo, yes=True, quiet=True, paths=["d0"])
    assert started == [0, 0, 0] and [k for k in sent if "/.S3/" not in f"/{k}"] == \
        [k for k in sent if "/d0/" in k]  # only what the batch itself asked
    monkeypatch.delenv(ahead.SWITCH)
    s3sync_mirror.run(team.bob.repo, yes=True, quiet=True)
    assert started == [0, 0, 0, 3]  # the files not here yet


@pytest.mark.parametrize("remote_kind", ["s3"])
def test_what_was_read_ahead_is_the_version_the_plan_names(team, monkeypatch):
    """A teammate replaces a file after bob read it ahead and before his batch runs: bob
    gets the version his plan showed (as if his download had come first), and his next
    run brings the new one."""
    files = _team_with_files(team, count=6)
    key = "d1/f1.csv"

    def replaced_after_the_read(s):
        _wait_read(s, [(p, s.remote.head(p).etag) for p in files])
        team.alice.write(key, b"alice's second version\n")
        team.alice.sync()

    _spy_start(monkeypatch, after=replaced_after_the_read)
    result = s3sync_mirror.run(team.bob.repo, yes=True, quiet=True)
    assert result.ok and team.bob.files() == files
    monkeypatch.setattr(ahead, "start", REAL_START)
    s3sync_mirror.run(team.bob.repo, yes=True, quiet=True)
    assert team.bob.read(key) == b"alice's second version\n"


@pytest.mark.parametrize("remote_kind", ["s3"])
def test_a_read_ahead_that_failed_is_asked_again_by_the_batch(team, monkeypatch):
    """The file was replaced between bob's reading of the state and his read ahead (its
    GET, pinned to the planned version, is refused): the batch asks again, is refused the
    usual way, and the run re-plans that path and brings the new version."""
    files = _team_with_files(team, count=6)
    key = "d2/f2.csv"
    sent = _count_gets(monkeypatch)

    def replaced_before_the_read(s):
        team.alice.write(key, b"alice's second version\n")
        team.alice.sync()

    refused: list = []

    def the_read_was_refused(s):
        end = time.monotonic() + 30
        planned: list = []
        while not planned and time.monotonic() < end:  # the loop makes the slots
            planned = [(k, slot) for k, slot in list(s.remote.objects._ahead.items())
                       if k[0].endswith(key)]
            time.sleep(0.005)
        _wait_read(s, [k for k, _slot in planned])
        refused.extend(slot.fut.result() for _k, slot in planned)

    _spy_start(monkeypatch, before=replaced_before_the_read, after=the_read_was_refused)
    result = s3sync_mirror.run(team.bob.repo, yes=True, quiet=True)
    assert result.ok, [(o.action.path, o.status, o.error) for o in result.outcomes]
    assert team.bob.read(key) == b"alice's second version\n"
    assert {p: team.bob.read(p) for p in files if p != key} == \
        {p: d for p, d in files.items() if p != key}
    assert len(refused) == 1 and isinstance(refused[0], PreconditionFailed), refused
    full = [k for k in sent if k.endswith(key)]
    assert len(full) == 1 and sent[full[0]] >= 3  # read ahead, the batch's, the re-plan's


@pytest.mark.parametrize("remote_kind", ["s3"])
def test_a_plan_declined_at_the_prompt_leaves_nothing_here(team):
    """In a terminal the run reads ahead while the person reads the plan; answered `n`,
    nothing of what was read is written anywhere, and the next run (answered `y`)
    brings every file."""
    import os
    import sys

    import pexpect

    files = _team_with_files(team, count=8)
    env = {**os.environ, **team.bob.env, "TERM": "xterm"}
    env.setdefault("PYTHONPATH", str(Path(s3sync_mirror.__file__).parents[1]))
    # the real command line, with a word when the reading ahead started
    shim = ("import sys; from s3sync_mirror.pipeline import ahead; real = ahead.start\n"
            "def start(*a, **k):\n    n = real(*a, **k); print('read ahead:', n, flush=True)"
            "; return n\n"
            "ahead.start = start; sys.argv = ['s3sync_mirror']\n"
            "from s3sync_mirror.cli.main import run; run()")
    for key, expect_files in (("n", {}), ("y", files)):
        child = pexpect.spawn(sys.executable, ["-c", shim], cwd=str(team.bob.repo),
                              env=env, encoding="utf-8", timeout=60, use_poll=True,
                              dimensions=(50, 120))
        child.expect("read ahead: 8")
        child.expect("Apply this plan")
        time.sleep(0.5)  # the person reads; the reading ahead runs meanwhile
        child.send(key)
        child.expect(pexpect.EOF)
        child.close()
        assert team.bob.files() == expect_files, (key, child.before)
        if key == "n":
            left = [p for p in team.bob.data.rglob("*") if p.is_file()
                    and p.parent.name == "tmp"] if team.bob.data.exists() else []
            assert left == []


def test_closing_ends_what_is_still_being_read_ahead(bucket, aws_env, caplog):
    """A connection closed while it reads ahead (a plan declined at once) cancels those
    GETs and waits for them: no request or task is left behind, nothing is reported."""
    import asyncio
    import gc
    import logging

    from tests.test_contract import s3_connection

    conn = s3_connection(bucket, aws_env, "obstore")
    etags = {f"c/f{i}.csv": conn.put_bytes(f"c/f{i}.csv", b"x" * (i + 1)) for i in range(300)}
    objects = conn.objects
    caplog.set_level(logging.WARNING, logger="asyncio")
    conn.read_ahead([(k, e, 1) for k, e in etags.items()])
    end = time.monotonic() + 10
    while len(objects._ahead) < 300 and time.monotonic() < end:
        time.sleep(0.001)  # until the reading ahead has started
    loop = objects._loop_made
    conn.close()
    conn.close()  # twice: nothing more to do
    assert objects._ahead == {} and not loop.thread.is_alive()
    assert [t for t in asyncio.all_tasks(loop.loop) if not t.done()] == []
    del loop, objects, conn
    gc.collect()  # a task destroyed while pending would be reported now
    assert [r for r in caplog.records if r.name == "asyncio"] == []


def test_ctrl_c_stops_the_reading_ahead_and_later_calls_work(bucket, aws_env, tmp_path):
    """``interrupt`` (Ctrl-C) cancels what is being read ahead and drops what was read;
    a batch asked afterwards sends its own GETs and gets every file."""
    from s3sync_mirror.platforms.base import Fetched
    from tests.test_contract import s3_connection

    conn = s3_connection(bucket, aws_env, "obstore")
    try:
        files = {f"i/f{i}.csv": b"y" * (i + 1) for i in range(300)}
        etags = {k: conn.put_bytes(k, v) for k, v in files.items()}
        objects = conn.objects
        conn.read_ahead([(k, e, len(files[k])) for k, e in etags.items()])
        end = time.monotonic() + 10
        while len(objects._ahead) < 300 and time.monotonic() < end:
            time.sleep(0.001)
        run = objects._ahead_run
        conn.interrupt()
        end = time.monotonic() + 10
        while (objects._ahead or not run.done()) and time.monotonic() < end:
            time.sleep(0.01)
        assert objects._ahead == {} and run.cancelled() and objects._ahead_run is None
        items = [(k, tmp_path / f"{n}.part", etags[k]) for n, k in enumerate(files)]
        got = dict(conn.download_many(items, keep=True))
        assert all(got[i] == Fetched(hashlib.sha256(files[k]).hexdigest(), files[k])
                   for i, (k, _d, _e) in enumerate(items))
    finally:
        conn.close()
