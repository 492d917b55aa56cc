"""The diff benchmark (issue 25): two versions of a 1,000,000-row, 10-column CSV with 1% of
rows changed (plus 0.1% added and 0.1% removed), compared by ``diff --key id --stat`` and
``--json`` through the real CLI against a folder remote, each under ``/usr/bin/time -v``
(wall time, peak RSS), side by side with ``git diff --no-index --stat`` and daff (when it
imports) on the same two files. Writes benchmarks/results/diff.json.

    python benchmarks/diff.py [--rows 1000000] [--daff-timeout 600]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_tables(rows: int, out: Path) -> tuple[Path, Path]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(25)
    ids = np.arange(1, rows + 1)
    old = pd.DataFrame({"id": ids, "region": rng.choice(["north", "south", "east", "west"], rows),
                        "store": rng.integers(1, 500, rows), "sku": rng.integers(1e5, 1e6, rows),
                        "qty": rng.integers(0, 100, rows), "price": rng.random(rows).round(4) * 100,
                        "cost": rng.random(rows).round(4) * 80, "day": rng.integers(1, 366, rows),
                        "channel": rng.choice(["web", "shop", "phone"], rows),
                        "note": rng.choice(["", "promo", "return", "gift"], rows)})
    new = old.copy()
    changed = rng.choice(rows, rows // 100, replace=False)
    new.loc[changed, "qty"] = new.loc[changed, "qty"] + 1
    new.loc[changed[::3], "region"] = "central"
    new = new.drop(index=rng.choice(np.setdiff1d(np.arange(rows), changed), rows // 1000,
                                    replace=False))
    extra = old.sample(rows // 1000, random_state=1).assign(id=ids[-1] + 1 + np.arange(rows // 1000))
    new = pd.concat([new, extra], ignore_index=True)
    a, b = out / "old.csv", out / "new.csv"
    old.to_csv(a, index=False)
    new.to_csv(b, index=False)
    return a, b


def timed(cmd: list, cwd=None, env=None, timeout=None) -> dict:
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    err = proc.stderr
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", err).group(1)
    parts = [float(p) for p in wall.split(":")]
    seconds = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))
    return {"cmd": " ".join(map(str, cmd)), "rc": proc.returncode, "wall_s": round(seconds, 2),
            "peak_rss_mb": round(rss / 1024, 1), "stdout_bytes": len(proc.stdout),
            "stdout_head": proc.stdout[:300]}


def clone(home: Path, remote: Path, name: str) -> Path:
    repo = home / name / "repo"
    (repo / "Data").mkdir(parents=True)
    (repo / "s3sync_mirror.yml").write_text(
        f"storage:\n  provider: local\n  tenant: {remote}\n  namespace: bench/Data\n"
        f"data_dir: Data\nuser: {name}\n")
    return repo


DAFF = """\
import sys, daff
def rows(p):
    import csv
    with open(p, newline="") as f:
        return [r for r in csv.reader(f)]
a, b = daff.PythonTableView(rows(sys.argv[1])), daff.PythonTableView(rows(sys.argv[2]))
flags = daff.CompareFlags(); flags.addPrimaryKey("id")
align = daff.Coopy.compareTables(a, b, flags).align()
out = daff.PythonTableView([]); daff.TableDiff(align, flags).hilite(out)
print(out.height, "diff rows")
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--daff-timeout", type=float, default=600)
    args = ap.parse_args()
    results = {"rows": args.rows, "columns": 10, "cpus": os.cpu_count(), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="diffbench-") as tmp:
        home = Path(tmp)
        a, b = make_tables(args.rows, home)
        results["sizes_mb"] = [round(p.stat().st_size / 2**20, 1) for p in (a, b)]
        remote = home / "remote"
        remote.mkdir()
        repo = clone(home, remote, "alice")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cli = [sys.executable, "-m", "s3sync_mirror"]
        (repo / "Data" / "sales.csv").write_bytes(a.read_bytes())
        subprocess.run([*cli, "--yes", "-q"], cwd=repo, env=env, check=True)
        (repo / "Data" / "sales.csv").write_bytes(b.read_bytes())
        runs = results["runs"]
        runs["s3sync_mirror diff --key id --stat"] = timed(
            [*cli, "diff", "sales.csv", "--key", "id", "--stat"], repo, env)
        runs["s3sync_mirror diff --key id --json"] = timed(
            [*cli, "diff", "sales.csv", "--key", "id", "--json"], repo, env)
        runs["s3sync_mirror diff --stat (by row)"] = timed(
            [*cli, "diff", "sales.csv", "--stat"], repo, env)
        runs["git diff --no-index --stat"] = timed(
            ["git", "diff", "--no-index", "--stat", str(a), str(b)])
        probe = subprocess.run([sys.executable, "-c", "import daff"], capture_output=True)
        if probe.returncode == 0:
            script = home / "daff_bench.py"
            script.write_text(DAFF)
            try:
                runs["daff (Python, key id)"] = timed([sys.executable, str(script), str(a),
                                                       str(b)], timeout=args.daff_timeout)
            except subprocess.TimeoutExpired:
                runs["daff (Python, key id)"] = {"wall_s": f"> {args.daff_timeout}",
                                                 "note": "stopped at the timeout"}
        else:
            runs["daff"] = {"note": "daff does not import here"}
    out = ROOT / "benchmarks" / "results" / "diff.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    for name, r in results["runs"].items():
        print(f"{name:<40} {r.get('wall_s', '-')!s:>8} s  {r.get('peak_rss_mb', '-')!s:>8} MB  "
              f"{r.get('note', '')}")


if __name__ == "__main__":
    main()
