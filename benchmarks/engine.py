"""Benchmark of the S3 transfer engines: this tool's full command line with each whole-object
transport (``S3SYNC_MIRROR_S3_TRANSPORT``: obstore, crt, botocore) next to `rclone sync` and
`s5cmd sync`, on the same data, against the same `rclone serve s3` (started as run.py
starts it, with its helpers in tools.py), the tools alternating, medians of --repeat runs.

    pip install -e '.[bench]' && python benchmarks/engine.py            # ~10 min
    python benchmarks/engine.py --quick --only W1                        # a smoke run

Workloads (run.py's): W1 first upload of 2,000 x 4 KiB + 5 x 20 MiB; W2 the no-change
sync of W1 right after it; W5 a fresh clone
downloading W1 into an empty folder; W6 one 1 GiB file up, then down. Prints the table
(median, min-max, ratio to the fastest peer) and writes results/engine.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tools as run  # noqa: E402  (run.py's helpers: the server, the peers, the data)

TRANSPORT_ENV = "S3SYNC_MIRROR_S3_TRANSPORT"


class Ours(run.Ours):
    """This tool with one whole-object transport."""

    def __init__(self, server, work, transport: str, checkout: str = ""):
        super().__init__(server, work)
        self.transport, self.checkout = transport, checkout
        self.name = f"ours ({transport}{', baseline' if checkout else ''})"

    def up(self, variant, local, prefix):
        repo = self.repo_for(local, prefix)
        env = {**run.ENV, TRANSPORT_ENV: self.transport}
        if self.checkout:  # another checkout of this tool (e.g. a git worktree of main)
            env["PYTHONPATH"] = self.checkout
        return run.measure([sys.executable, "-m", "s3sync_mirror", "--yes", "-q"], repo, env)


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="s3sync-engine-", dir=args.workdir))
        self.server = run.Server("rclone", self.work)
        self.tools = [Ours(self.server, self.work, t) for t in args.transports]
        if args.baseline:
            self.tools.append(Ours(self.server, self.work, args.transports[0], args.baseline))
        self.tools += [run.Rclone(self.server, self.work), run.S5cmd(self.server, self.work)]
        self.results: dict = {}
        q = args.quick
        self.w1 = (200 if q else 2000, 4096, 1 if q else 5, 2 if q else 20)
        self.w6_mib = 64 if q else 1024

    def record(self, workload: str, tool, wall: float) -> None:
        self.results.setdefault(workload, {}).setdefault(tool.name, []).append(round(wall, 4))
        print(f"  {workload:<8} {tool.name:<16} {wall:8.3f} s", flush=True)

    def order(self, rep: int) -> list:
        k = rep % len(self.tools)
        return self.tools[k:] + self.tools[:k]

    def w1_w5(self) -> None:
        n, size, big_n, big_mib = self.w1
        data = self.work / "w1-data"
        run.make_files(data, n, size)
        for i in range(big_n):
            run.make_big(data / "big" / f"big{i}.bin", big_mib)
        for rep in range(self.args.repeat):
            for tool in self.order(rep):
                tag = f"{tool.name.replace(' ', '').strip('()')}-{rep}".replace("(", "-")
                local = self.work / f"w1-{tag}"
                run.link_copy(data, local)
                self.record("W1", tool, tool.up("defaults", local, f"w1/{tag}")[0])
                self.record("W2", tool, tool.up("defaults", local, f"w1/{tag}")[0])
                clone = self.work / f"w5-{tag}"
                self.record("W5", tool, tool.down("defaults", f"w1/{tag}", clone)[0])

    def w6(self) -> None:
        data = self.work / "w6-data"
        run.make_big(data / "one.bin", self.w6_mib)
        for rep in range(self.args.repeat):
            for tool in self.order(rep):
                tag = f"{tool.name.replace(' ', '').strip('()')}-{rep}".replace("(", "-")
                local, clone = self.work / f"w6-{tag}", self.work / f"w6-{tag}-clone"
                run.link_copy(data, local)
                self.record("W6 up", tool, tool.up("defaults", local, f"w6/{tag}")[0])
                self.record("W6 down", tool, tool.down("defaults", f"w6/{tag}", clone)[0])
                for path in (local, clone, self.server.prefix_dir(f"w6/{tag}")):
                    shutil.rmtree(path, ignore_errors=True)

    def run(self) -> None:
        steps = {"W1": self.w1_w5, "W6": self.w6}
        try:
            for name in self.args.only or steps:
                print(f"{name}:", flush=True)
                steps[name]()
        finally:
            self.server.stop()
            shutil.rmtree(self.work, ignore_errors=True)


def table(results: dict) -> list[str]:
    """Markdown rows: each tool's median and min-max, and its ratio to the fastest peer."""
    lines = ["| workload | tool | median s | min-max s | / fastest peer |",
             "|---|---|---:|---:|---:|"]
    for workload, tools in results.items():
        peers = [statistics.median(w) for name, w in tools.items() if not name.startswith("ours")]
        best = min(peers) if peers else None
        for name, walls in tools.items():
            med = statistics.median(walls)
            ratio = f"{med / best:.2f}" if best else ""
            lines.append(f"| {workload} | {name} | {med:.3f} | {min(walls):.3f}-{max(walls):.3f}"
                         f" | {ratio} |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    p.add_argument("--only", action="append", choices=["W1", "W6"])
    p.add_argument("--transports", type=lambda s: s.split(","), default=["obstore", "crt"])
    p.add_argument("--workdir", default=None)
    p.add_argument("--baseline", default="", metavar="CHECKOUT",
                   help="also time this checkout of the tool (its first transport), "
                        "alternating with the others: before/after in one run")
    args = p.parse_args()
    bench = Bench(args)
    bench.run()
    rows = table(bench.results)
    print("\n".join(rows))
    out = run.HERE / "results" / "engine.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"results": bench.results, "table": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
