"""Benchmark: a member holding a sparse selection of a large remote syncs in time
proportional to what it holds (docs/metadata.md#sparse-selection).

    python benchmarks/sparse.py                  # 100,000 files in 10 folders (a few minutes)
    python benchmarks/sparse.py --files 20000    # smaller

A folder remote is seeded with N small files in ten folders (part0/ ... part9/) and its
remote state, as a full member's sync leaves it. Then, each through the real CLI
(`python -m s3sync_mirror --yes -q`): a full clone's first sync (downloads N), a clone
holding part3/ only (10%: downloads N/10), a clone holding part3/*0.csv (1%),
and a no-change sync of each. Prints a table; writes results/sparse.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from s3sync_mirror.state import csvfiles as state  # noqa: E402
from s3sync_mirror.core.model import FileState  # noqa: E402

FOLDERS = 10


def seed(remote: Path, n: int) -> None:
    """N files of 100-ish bytes under remote/part<k>/<i>.csv, and the remote state."""
    rows = {}
    per = n // FOLDERS
    for k in range(FOLDERS):
        folder = remote / f"part{k}"
        folder.mkdir(parents=True)
        for i in range(per):
            rel = f"part{k}/{i:06d}.csv"
            data = f"id,value\n{k},{i}\n".encode() * 4
            (remote / rel).write_bytes(data)
            rows[rel] = FileState(hashlib.sha256(data).hexdigest(), len(data), "seed",
                                  "2026-11-21T14:03:05Z")
    state.write_atomic(remote / ".S3" / "versions_remote.csv",
                       state.render_versions(rows, local=False))


def clone(home: Path, name: str, share: Path) -> Path:
    repo = home / name
    repo.mkdir()
    (repo / "s3sync_mirror.yml").write_text(
        f"storage:\n  provider: local\n  tenant: {share}\n  namespace: proj/Data\n"
        f"data_dir: Data\nuser: {name}\n")
    return repo


def cli(repo: Path, *args: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "s3sync_mirror", *args], cwd=repo, env=env,
                   check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - t0


def held(repo: Path) -> int:
    data = repo / "Data"
    return sum(len(files) for d, _, files in os.walk(data)
               if ".S3" not in Path(d).relative_to(data).parts)


def run(n: int) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory(prefix="s3sync-sparse-") as tmp:
        home = Path(tmp)
        share = home / "share"
        t0 = time.perf_counter()
        seed(share / "proj" / "Data", n)
        print(f"seeded {n} files in {time.perf_counter() - t0:.1f} s", flush=True)
        cases = [("full", ()), ("10% (part3/)", ("part3/",)),
                 ("1% (part3/*0.csv)", ("part3/*0.csv",))]
        for label, patterns in cases:
            repo = clone(home, label.split()[0].replace("%", "pct"), share)
            if patterns:
                cli(repo, "sparse", "set", *patterns)
            first = cli(repo, "--yes", "-q")
            again = cli(repo, "--yes", "-q")
            row = {"clone": label, "files held": held(repo), "first sync s": round(first, 2),
                   "no-change sync s": round(again, 2)}
            out.append(row)
            print(row, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=100_000)
    args = ap.parse_args()
    rows = run(args.files)
    full = rows[0]["first sync s"]
    print(f"\n{'clone':<26} {'files held':>10} {'first sync':>11} {'share of full':>14} "
          f"{'no-change':>10}")
    for r in rows:
        print(f"{r['clone']:<26} {r['files held']:>10} {r['first sync s']:>10.2f}s "
              f"{r['first sync s'] / full:>13.0%} {r['no-change sync s']:>9.2f}s")
    result = {"remote files": args.files, "rows": rows, "python": sys.version.split()[0],
              "cpus": os.cpu_count()}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "sparse.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
