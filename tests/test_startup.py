"""What a no-change sync loads at its start (README "Performance", W2): the modules kept
off it because they cost milliseconds of every run and such a sync has no use for them.
Driven through the real CLI (`PYTHONPROFILEIMPORTTIME`, as `-X importtime`, names every module a run imports), on the
folder remote and on S3 (moto over HTTP)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import pytest

from s3sync_mirror import config
from s3sync_mirror.core.background import Background

# logging (with traceback): ~5 ms; concurrent.futures imports logging; subprocess: ~4 ms
# and git's own start; hashlib loads OpenSSL: 2.4 ms; random, calendar: their imports;
# inspect (with ast, dis, tokenize), which dataclasses imports (core/records.py)
KEPT_OFF = ("logging", "concurrent.futures", "subprocess", "hashlib", "_hashlib", "random",
            "calendar", "tempfile", "shutil", "gzip", "secrets", "inspect", "ast", "dis")


def _imported(member, *args) -> dict:
    """{module: the module that imported it} for one run of the CLI."""
    out = member.run(*args, check_rc=0, env={"PYTHONPROFILEIMPORTTIME": "1"})
    rows = [(len(m.group(1)), m.group(2)) for m in re.finditer(
        r"^import time:\s+\d+ \|\s+\d+ \|( *)(\S+)$", out.stderr, flags=re.M)]
    # a module's row comes after its children's, the importer's after it, less indented
    return {name: next((n for d, n in rows[i + 1:] if d < depth), "(top)")
            for i, (depth, name) in enumerate(rows)}


def test_a_no_change_sync_loads_none_of_what_it_does_not_need(team):
    alice = team.alice
    alice.write("raw/a.csv", "id,v\n1,2\n")
    alice.write("b.txt", "b")
    for f in ("raw/a.csv", "b.txt"):  # older than the quick check's racy window
        os.utime(alice.data / f, (1_700_000_000, 1_700_000_000))
    alice.sync("--yes")
    alice.sync("--yes")  # its caches made: the next run is the steady no-change run
    mods = _imported(alice, "--yes", "-q")
    assert "s3sync_mirror.sync" in mods  # the run went through the sync
    assert not (set(KEPT_OFF) & mods.keys()), {m: mods[m] for m in KEPT_OFF if m in mods}
    # and a run with work to do still loads them where it needs them, and works
    alice.write("c.txt", "c")
    mods = _imported(alice, "--yes", "-q")
    assert "hashlib" in mods
    assert team.remote_files()["c.txt"] == b"c"


def test_background_returns_the_value_or_raises_the_error_and_waits_on_exit():
    with Background(lambda a, b=0: a + b, 2, b=3) as bg:
        assert bg.result() == 5
    with Background(lambda: 1 / 0) as bg:
        with pytest.raises(ZeroDivisionError):
            bg.result()
    done = threading.Event()

    def slow():
        done.wait(5)
        return "late"

    with pytest.raises(KeyError):
        with Background(slow) as bg:
            threading.Timer(0.2, done.set).start()
            raise KeyError("the block fails")
    assert not bg._thread.is_alive()  # the block's exit waited for the call
    assert bg.result() == "late"


def test_the_clone_local_user_setting_is_read_in_a_work_tree_and_git_not_run_outside(
        tmp_path, monkeypatch):
    monkeypatch.delenv(config.USER_ENV, raising=False)
    repo = tmp_path / "proj"
    sub = repo / "analysis"
    sub.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "config", config.USER_GIT_KEY, "ana"], check=True)
    assert config.member_user(repo) == "ana"
    assert config.member_user(sub) == "ana"  # a config in a folder below the top
    outside = tmp_path / "plain"
    outside.mkdir()
    ran = []
    monkeypatch.setattr(config, "_git_config", lambda *a: ran.append(a) or "x")
    assert config.member_user(outside) == "" and not ran


def test_records_hand_dataclasses_a_stand_in_that_becomes_the_real_inspect():
    """A fresh interpreter: dataclasses through core/records.py leaves inspect unloaded;
    a dataclass without a docstring (the one use dataclasses has for it) still gets its
    signature as its doc, and a later ``import inspect`` gets the real module."""
    code = (
        "import sys\n"
        "from s3sync_mirror.core.records import dataclass\n"
        "assert 'inspect' not in sys.modules, 'inspect loaded'\n"
        "@dataclass\n"
        "class P:\n"
        "    x: int = 1\n"
        "assert P.__doc__ == 'P(x: int = 1)', P.__doc__\n"
        "import inspect\n"
        "assert inspect.signature(P).parameters['x'].default == 1\n"
        "assert type(inspect).__name__ == 'module' and hasattr(inspect, 'getsource')\n"
        "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_a_first_upload_of_files_up_to_64_mib_to_a_new_s3_prefix_makes_no_botocore_client(
        tmp_path, aws_env):
    """On obstore with the keys in the environment, a first sync of small files and one of
    9 MiB (above botocore's 8 MiB threshold) goes without botocore: the empty prefix is
    seen empty through obstore, and the 9 MiB file goes up in one PUT from memory. A
    teammate's clone reads it back, byte for byte (and stock boto3 does too)."""
    import boto3

    from tests.conftest import AWS_ENV, Team, new_bucket

    team = Team("s3", tmp_path, new_bucket(aws_env), aws_env)
    alice, bob = team.alice, team.bob
    big = os.urandom(9 << 20)
    alice.write("big.bin", big)
    alice.write("raw/a.csv", "id,v\n1,2\n")
    mods = _imported(alice, "--yes", "-q")
    assert "s3sync_mirror.sync" in mods
    assert "botocore" not in mods, mods.get("botocore")
    bob.sync("--yes")
    assert bob.read("big.bin") == big and bob.read("raw/a.csv") == b"id,v\n1,2\n"
    plain = boto3.client("s3", endpoint_url=aws_env, region_name="us-east-1",
                         aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                         aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"])
    got = plain.get_object(Bucket=team.bucket, Key=f"{team.prefix}/big.bin")
    assert got["Body"].read() == big and got["Metadata"]["sha256"] == \
        __import__("hashlib").sha256(big).hexdigest()
