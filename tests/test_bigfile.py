"""A big file up and down (in one streamed PUT up to 512 MiB, in parts above), its SHA-256
verified, with the peak memory of the syncing process measured. ``S3SYNC_BIG_MIB`` sets the
size (CI: 96 MiB; the README's figure: 2048 MiB, in parts)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from .conftest import RELIABILITY, RELIABILITY_NOTES, ROOT

BIG_MIB = int(os.environ.get("S3SYNC_BIG_MIB", "96"))
PEAK_LIMIT = 200 * (1 << 20)
RUNNER = ROOT / "tests" / "faultrunner.py"


def write_big(path, mib: int) -> str:
    """Write ``mib`` MiB of varied bytes, returning their SHA-256, without holding them."""
    h = hashlib.sha256()
    block = os.urandom(1 << 20)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for i in range(mib):
            chunk = i.to_bytes(8, "little") + block[8:]
            h.update(chunk)
            f.write(chunk)
    return h.hexdigest()


def sha_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def sync_measured(member, tmp_path, tag) -> int:
    rss = tmp_path / f"rss-{tag}"
    env = {**os.environ, **member.env, "PYTHONPATH": str(ROOT), "FAULT_RSS_FILE": str(rss)}
    r = subprocess.run([sys.executable, str(RUNNER), "--yes"], cwd=member.repo, env=env,
                       capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    return int(rss.read_text())


def test_big_file_up_and_down_verified_in_bounded_memory(team, tmp_path):
    alice, bob = team.alice, team.bob
    digest = write_big(alice.data / "big" / "blob.bin", BIG_MIB)
    up = sync_measured(alice, tmp_path, "up")
    state = team.remote_state()["big/blob.bin"]
    assert state["Checksum"] == digest and int(state["Size"]) == BIG_MIB << 20
    down = sync_measured(bob, tmp_path, "down")
    assert sha_file(bob.data / "big" / "blob.bin") == digest
    RELIABILITY[f"big file round trips, {team.kind} remote"] += 1
    RELIABILITY_NOTES[f"big file, {team.kind} remote"] = {
        "size MiB": BIG_MIB, "peak RSS MiB up": round(up / (1 << 20)),
        "peak RSS MiB down": round(down / (1 << 20))}
    print(f"\n{team.kind}: {BIG_MIB} MiB, peak RSS up {up >> 20} MiB, down {down >> 20} MiB")
    assert up < PEAK_LIMIT and down < PEAK_LIMIT, (up >> 20, down >> 20)
