"""Benchmark: s3sync_mirror side by side with `aws s3 sync`, s5cmd, rclone (sync and
bisync) on the same local S3 server (`rclone serve s3` over a temporary folder, or moto),
on the same data.

    pip install -e '.[bench]' && python benchmarks/run.py          # everything (~25 min)
    python benchmarks/run.py --quick                               # small sizes, a smoke run
    python benchmarks/run.py --clouds # instead: GCS and Azure Blob on their emulators (clouds.py)
    python benchmarks/run.py --all    # the benchmark of record: all of it in one run (below)

Workloads (each run --repeat times, the tools alternating; medians and min-max):
  W1 first upload of 2,000 files of 4 KiB plus 5 files of 20 MiB
  W2 no-change sync of W1
  W3 no-change sync of 100,000 small files (plus the peak memory of each tool)
  W4 one file changed among those 100,000
  W5 a fresh clone downloading W1
  W6 one 256 MiB file up, then down (--w6-mib)
  and `python -m s3sync_mirror --help` start-up time.
With --scale (scale.py, whose docstring says how a million files are seeded: hard links into
`rclone serve s3`'s folder, this tool's .S3 state written with its own state module):
  W7 no-change sync of --scale-files N files (default 1,000,000), time and peak RSS
  W8 one file changed by a teammate among N: time, state bytes downloaded (counting proxy)
  W9 one local edit among N: time, peak RSS, state bytes written (remote and local)
  W10 first sync of N/5 small files
    python benchmarks/run.py --only scale                        # W7-W10 at 1,000,000 files
    python benchmarks/run.py --only scale --scale-files 20000    # a smoke run
Every tool runs with its defaults and with its best-known flags; this tool with --yes.
Prints a table, writes results/latest.json and results/latest.md (--only scale alone:
results/scale-latest.*, so that the table of record stays).
--all runs, one after the other in one command: W1-W6 and --help, the clouds
(results/clouds.*), the folder remote (folder.py: results/folder-latest.json), and last
W7-W10 (--scale): nothing runs after the million files are deleted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tables import markdown, summarize, verdicts
from tools import (HERE, S5cmd, Aws, Bisync, Ours, Rclone, Server, link_copy, make_big,
                   make_files, measure, replace_one, tool_path, warm_memory)


# -- the workloads ------------------------------------------------------------------------------
class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="s3sync-bench-", dir=args.workdir))
        self.server = Server(args.server, self.work)
        self.tools = [Ours(self.server, self.work), Aws(self.server, self.work),
                      S5cmd(self.server, self.work), Rclone(self.server, self.work)]
        self.bisync = Bisync(self.server, self.work)
        self.results: dict = {}
        self.scale_state: dict = {}  # scale.py: state bytes per workload and tool
        q = args.quick
        self.w1 = (200 if q else 2000, 4096, 1 if q else 5, 2 if q else 20)
        self.w3_files = 5000 if q else 100_000
        self.w6_mib = 64 if q else args.w6_mib

    def record(self, workload, tool, variant, wall, rss=0):
        row = self.results.setdefault(workload, {}).setdefault(f"{tool}|{variant}",
                                                                 {"wall": [], "rss": []})
        row["wall"].append(round(wall, 4))
        row["rss"].append(rss)
        print(f"  {workload:<8} {tool:<14} {variant:<8} {wall:8.3f} s"
              + (f"  {rss / 1024:6.0f} MiB" if rss else ""), flush=True)

    def order(self, rep):
        tools = self.tools[rep % len(self.tools):] + self.tools[:rep % len(self.tools)]
        return [(t, v) for t in tools for v in t.variants]

    def w1_w2_w5(self):
        n, size, big_n, big_mib = self.w1
        data = self.work / "w1-data"
        make_files(data, n, size)
        for i in range(big_n):
            make_big(data / "big" / f"big{i}.bin", big_mib)
        for rep in range(self.args.repeat):
            for tool, variant in self.order(rep):
                tag = f"{tool.__class__.__name__.lower()}-{variant}-{rep}"
                local = self.work / f"w1-{tag}"
                link_copy(data, local)
                self.record("W1", tool.name, variant, *tool.up(variant, local, f"w1/{tag}"))
                self.server.settle(f"w1/{tag}")
                self.record("W2", tool.name, variant, *tool.up(variant, local, f"w1/{tag}"))
                clone = self.work / f"w5-{tag}"
                self.record("W5", tool.name, variant, *tool.down(variant, f"w1/{tag}", clone))

    def w3_w4(self):
        data = self.work / "w3-data"
        make_files(data, self.w3_files, 256)
        prepared = {}
        print(f"  (setting up {self.w3_files} files for each tool: not timed)", flush=True)
        # s5cmd first: aws can then start from a copy of its upload (see below)
        setup_order = sorted([*self.tools, self.bisync], key=lambda t: not isinstance(t, S5cmd))
        # every tree is linked before any tool's first sync: a hard link made later moves
        # the ctime of the shared inodes, and this tool (as git does) hashes a file whose
        # ctime moved again, so its first W3 run would not be a no-change run
        trees = {tool: self.work / f"w3-{tool.__class__.__name__.lower()}" for tool in setup_order}
        for local in trees.values():
            link_copy(data, local)
        for tool in setup_order:
            local = trees[tool]
            prefix = f"w3/{tool.__class__.__name__.lower()}"
            if isinstance(tool, Aws) and self.server.kind == "rclone":
                # aws compares size and time only: s5cmd's upload of the same files is in
                # sync for it too; copy it on the server's disk instead of waiting for aws.
                link_copy(self.server.prefix_dir("w3/s5cmd"), self.server.prefix_dir(prefix))
            elif isinstance(tool, Bisync):
                tool.up("tuned", local, prefix, resync=True)
            else:
                tool.up("tuned", local, prefix)
            prepared[tool] = (local, prefix)
        tools = [*self.tools, self.bisync]
        for rep in range(self.args.repeat):
            for tool in tools[rep % len(tools):] + tools[:rep % len(tools)]:
                for variant in tool.variants:
                    local, prefix = prepared[tool]
                    self.record("W3", tool.name, variant, *tool.up(variant, local, prefix))
        for rep in range(self.args.repeat):
            for tool in tools[rep % len(tools):] + tools[:rep % len(tools)]:
                for variant in tool.variants:
                    local, prefix = prepared[tool]
                    replace_one(local)
                    self.record("W4", tool.name, variant, *tool.up(variant, local, prefix))

    def w6(self):
        data = self.work / "w6-data"
        make_big(data / "one.bin", self.w6_mib)
        for rep in range(self.args.repeat):
            for tool, variant in self.order(rep):
                tag = f"{tool.__class__.__name__.lower()}-{variant}-{rep}"
                local = self.work / f"w6-{tag}"
                link_copy(data, local)
                self.record("W6 up", tool.name, variant, *tool.up(variant, local, f"w6/{tag}"))
                self.server.settle(f"w6/{tag}")
                clone = self.work / f"w6-{tag}-clone"
                warm_memory(self.work, self.w6_mib + 64)
                self.record("W6 down", tool.name, variant,
                            *tool.down(variant, f"w6/{tag}", clone))
                shutil.rmtree(local, ignore_errors=True)
                shutil.rmtree(clone, ignore_errors=True)
                shutil.rmtree(self.server.prefix_dir(f"w6/{tag}"), ignore_errors=True)

    def startup(self):
        walls = []
        for _ in range(max(5, self.args.repeat * 3)):
            walls.append(measure([sys.executable, "-m", "s3sync_mirror", "--help"], HERE)[0])
        self.results["--help"] = {"s3sync_mirror|defaults": {"wall": [round(w, 4)
                                                                       for w in walls]}}
        print(f"  --help   median {statistics.median(walls):.3f} s", flush=True)

    def run(self, before_scale=None):
        """The steps asked for; ``before_scale()`` just before the million files (--all:
        the clouds and the folder remote, which would otherwise run on a disk still
        reclaiming the inodes of a million deleted files: see the README)."""
        steps = {"W1": self.w1_w2_w5, "W3": self.w3_w4, "W6": self.w6, "help": self.startup}
        if self.args.scale:
            import scale

            steps["scale"] = lambda: scale.run(self)
        try:
            for name in self.args.only if self.args.only is not None else steps:
                if name == "scale" and before_scale is not None:
                    before_scale()
                print(f"{name}:", flush=True)
                steps[name]()
        finally:
            self.server.stop()
            if not self.args.keep:
                shutil.rmtree(self.work, ignore_errors=True)


def arguments():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and workload")
    ap.add_argument("--w6-mib", type=int, default=256, help="W6's file size in MiB")
    ap.add_argument("--server", choices=("rclone", "moto"), default="rclone")
    ap.add_argument("--only", nargs="*", choices=("W1", "W3", "W6", "help", "scale"),
                    help="run only these workload groups (W1 = W1, W2, W5; W3 = W3, W4)")
    ap.add_argument("--scale", action="store_true",
                    help="also W7-W10: N files (scale.py, which says how they are seeded)")
    ap.add_argument("--scale-files", type=int, default=1_000_000, help="N for --scale")
    ap.add_argument("--scale-repeat", type=int, default=1, help="runs per tool at scale")
    ap.add_argument("--scale-timeout", type=float, default=900,
                    help="seconds before a run at scale is stopped and reported as > cap")
    ap.add_argument("--scale-tools", nargs="*", choices=("aws", "s5cmd", "rclone", "bisync"),
                    help="at scale, only these peers (default: all); ours always runs")
    ap.add_argument("--scale-skip-w10", action="store_true", help="--scale without W10")
    ap.add_argument("--scale-w10-only", action="store_true",
                    help="--scale with W10 alone (first sync of N/5 files): no seeding of N")
    ap.add_argument("--workdir", help="where to put the data (default: the temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the data afterwards")
    ap.add_argument("--out", help="default: results/latest.json (--only scale alone: "
                                  "results/scale-latest.json)")
    ap.add_argument("--all", action="store_true",
                    help="the benchmark of record: everything (with --scale), the clouds "
                         "and the folder remote, one after the other")
    ap.add_argument("--folder-files", type=int, default=20_000,
                    help="with --all: the folder remote's tiny files")
    ap.add_argument("--clouds", action="store_true",
                    help="instead: W1 and W5 on GCS and Azure Blob emulators, ours vs rclone "
                         "(benchmarks/clouds.py; needs the test extras)")
    ap.add_argument("--providers", nargs="*", choices=("gcs", "blob"),
                    help="with --clouds: these providers only")
    return ap.parse_args()


def main() -> None:
    args = arguments()
    if args.clouds:
        import clouds

        return clouds.run(args)
    if args.quick:
        args.repeat = min(args.repeat, 1)
    if args.all:
        args.only, args.scale = None, True
    args.scale = args.scale or "scale" in (args.only or ())
    if args.out is None:
        alone = args.only == ["scale"]
        args.out = str(HERE / "results" / ("scale-latest.json" if alone else "latest.json"))
    record(args, _clouds_and_folder if args.all else None)


def _clouds_and_folder(args) -> None:
    import clouds
    import folder

    print("clouds:", flush=True)
    clouds.run(args)
    print("folder remote:", flush=True)
    folder.main(["--files", str(args.folder_files), "--repeat", str(args.repeat)])


def record(args, others=None) -> None:
    """The S3 workloads of ``args``: measured, printed, written to ``args.out``;
    ``others(args)`` runs before the million files (or at the end without them)."""
    bench = Bench(args)
    try:
        bench.run(before_scale=(lambda: others(args)) if others is not None else None)
        if others is not None and not args.scale:
            others(args)
    except BaseException:  # a later step failed: what was measured is still written
        if bench.results:
            _write(args, bench, failed=True)
        raise
    _write(args, bench)


def _write(args, bench, failed: bool = False) -> None:
    rows = summarize(bench.results)
    meta = {"server": f"rclone serve s3 ({tool_path('rclone')})" if args.server == "rclone"
            else "moto server", "cpus": os.cpu_count(), "python": platform.python_version(),
            "repeat": args.repeat, "date": time.strftime("%Y-%m-%d"), "quick": args.quick,
            "verdicts": verdicts(bench.results)}
    if failed:
        meta["note"] = "the run stopped at a failing step: these are the steps before it"
    if args.scale and not failed:
        import scale

        meta.update(scale_files=args.scale_files, scale_state=bench.scale_state)
        meta["verdicts"] += scale.verdicts(bench.results, bench.scale_state, args.scale_files)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows, "raw": bench.results}, indent=1))
    table = markdown(rows, meta)
    out.with_suffix(".md").write_text(table)
    print("\n" + table)


if __name__ == "__main__":
    main()
