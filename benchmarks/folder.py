"""The folder remote: the first sync of many tiny files up, against a fresh clone's download
of the same files (issue 23: "the folder remote writes as fast as it reads", within 2x).

    python benchmarks/folder.py                     # 20,000 files of 8-16 bytes, medians of 3
    python benchmarks/folder.py --files 2000 --repeat 1   # a smoke run

Each round starts from an empty share: alice's first sync uploads everything, then bob's
fresh clone downloads it; both through the real CLI (``python -m s3sync_mirror --yes -q``),
timed from outside. Prints both medians and their ratio, and writes
results/folder-latest.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """storage:
  provider: local
  tenant: {share}
  namespace: team
data_dir: Data
user: {user}
"""


def _seed(data: Path, files: int) -> None:
    for i in range(files):
        folder = data / f"d{i % 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.txt").write_text(f"tiny {i}\n")


def _clone(home: Path, name: str, share: Path) -> Path:
    repo = home / name
    (repo / "Data").mkdir(parents=True)
    (repo / "s3sync_mirror.yml").write_text(CONFIG.format(share=share, user=name))
    return repo


def _sync(repo: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "s3sync_mirror", "--yes", "-q"], cwd=repo, env=env,
                   check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def one_round(files: int) -> tuple[float, float]:
    home = Path(tempfile.mkdtemp(prefix="folder-bench-"))
    try:
        share = home / "share"
        share.mkdir()
        alice = _clone(home, "alice", share)
        _seed(alice / "Data", files)
        up = _sync(alice)
        down = _sync(_clone(home, "bob", share))
        return up, down
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    ups, downs = [], []
    for _ in range(args.repeat):
        up, down = one_round(args.files)
        ups.append(up)
        downs.append(down)
        print(f"  up {up:.2f} s, down {down:.2f} s", flush=True)
    up, down = statistics.median(ups), statistics.median(downs)
    print(f"folder remote, {args.files:,} tiny files: first upload {up:.2f} s, fresh "
          f"download {down:.2f} s, ratio {up / down:.2f} (target: at most 2)")
    out = ROOT / "benchmarks" / "results" / "folder-latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"files": args.files, "repeat": args.repeat, "up_s": ups,
                               "down_s": downs, "median_up_s": up, "median_down_s": down,
                               "ratio": up / down, "cpus": os.cpu_count(),
                               "date": time.strftime("%Y-%m-%d")}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
