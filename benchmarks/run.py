"""Benchmark: s3sync_mirror side by side with `aws s3 sync`, s5cmd, rclone (sync and
bisync) on the same local S3 server (`rclone serve s3` over a temporary folder, or moto),
on the same data.

    pip install -e '.[bench]' && python benchmarks/run.py          # everything (~25 min)
    python benchmarks/run.py --quick                               # small sizes, a smoke run
    python benchmarks/run.py --clouds     # instead: GCS and Azure Blob on their emulators (clouds.py)

Workloads (each run --repeat times, the tools alternating; medians and min-max):
  W1 first upload of 2,000 files of 4 KiB plus 5 files of 20 MiB
  W2 no-change sync of W1
  W3 no-change sync of 100,000 small files (plus the peak memory of each tool)
  W4 one file changed among those 100,000
  W5 a fresh clone downloading W1
  W6 one 1 GiB file up, then down
  and `python -m s3sync_mirror --help` start-up time.
Every tool runs with its defaults and with its best-known flags; this tool with --yes.
Prints a table, writes results/latest.json and results/latest.md.
"""
from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
KEY, SECRET, REGION = "AKBENCHMARK", "SKBENCHMARKSECRET", "us-east-1"
BUCKET = "bench"
TIME = shutil.which("time", path="/usr/bin:/bin") or ""


def tool_path(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if not found:
        sys.exit(f"{name} not found: install the peers with  pip install -e '.[bench]'")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"the S3 server did not start on port {port}")


# -- the server ------------------------------------------------------------------------------
class Server:
    def __init__(self, kind: str, work: Path):
        self.kind, self.port = kind, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = work / "server"
        self.root.mkdir()
        if kind == "rclone":
            (self.root / BUCKET).mkdir()
            cmd = [tool_path("rclone"), "serve", "s3", "--auth-key", f"{KEY},{SECRET}",
                   "--addr", f"127.0.0.1:{self.port}", str(self.root)]
        else:
            cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        if kind == "moto":
            import boto3

            boto3.client("s3", endpoint_url=self.url, aws_access_key_id=KEY,
                         aws_secret_access_key=SECRET, region_name=REGION).create_bucket(
                Bucket=BUCKET)

    def prefix_dir(self, prefix: str) -> Path:
        return self.root / BUCKET / prefix

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


# -- running and measuring -------------------------------------------------------------------
ENV = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
       "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "NO_COLOR": "1"}
for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    ENV.pop(k, None)


def measure(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one command, which must succeed."""
    out = Path(tempfile.mktemp(prefix="bench-time-"))
    full = [TIME, "-f", "%M", "-o", str(out), *cmd] if TIME else cmd
    t0 = time.perf_counter()
    r = subprocess.run(full, cwd=cwd, env=env or ENV, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n"
                           f"{r.stderr[-2000:]}")
    rss = int(out.read_text().split()[-1]) if TIME and out.exists() else 0
    out.unlink(missing_ok=True)
    return wall, rss


# -- the tools ---------------------------------------------------------------------------------
class Tool(ABC):
    name = ""
    variants: dict = {}  # variant -> extra flags

    def __init__(self, server: Server, work: Path):
        self.server, self.work = server, work

    def remote(self, prefix: str) -> str:
        return f"s3://{BUCKET}/{prefix}"

    @abstractmethod
    def up(self, variant, local: Path, prefix: str):
        """Sync ``local`` up to ``prefix``: (seconds, peak RSS KiB)."""

    def down(self, variant, prefix: str, local: Path):
        return self.up(variant, local, prefix)


class Ours(Tool):
    """This tool: a repo whose data folder is the dataset; --yes, no prompts."""

    name = "s3sync_mirror"
    variants = {"defaults": [], "tuned": ["--jobs", "32"]}

    def repo_for(self, local: Path, prefix: str) -> Path:
        repo = local.parent / f"{local.name}-repo"
        if not repo.exists():
            repo.mkdir()
            (repo / "s3sync_mirror.yml").write_text(
                f"storage:\n  provider: s3\n  tenant: {BUCKET}\n  namespace: {prefix}\n"
                f"  endpoint_url: {self.server.url}\n  region: {REGION}\n"
                f"data_dir: Data\nuser: bench\n")
            local.mkdir(parents=True, exist_ok=True)
            (repo / "Data").symlink_to(local, target_is_directory=True)
        return repo

    def up(self, variant, local, prefix):
        repo = self.repo_for(local, prefix)
        return measure([sys.executable, "-m", "s3sync_mirror", "--yes", "-q",
                        *self.variants[variant]], repo)


class Aws(Tool):
    name = "aws s3 sync"
    variants = {"defaults": "", "tuned": ("[default]\ns3 =\n  max_concurrent_requests = 64\n"
                                         "  max_queue_size = 10000\n"
                                         "  multipart_chunksize = 16MB\n")}

    def _env(self, variant):
        cfg = self.work / f"aws-config-{variant}"
        cfg.write_text(self.variants[variant] or "[default]\n")
        return {**ENV, "AWS_CONFIG_FILE": str(cfg)}

    def _run(self, variant, src, dst, cwd):
        return measure([tool_path("aws"), "--endpoint-url", self.server.url, "s3", "sync",
                        "--only-show-errors", "--exclude", ".S3/*", src, dst], cwd,
                       self._env(variant))

    def up(self, variant, local, prefix):
        return self._run(variant, str(local), self.remote(prefix), local.parent)

    def down(self, variant, prefix, local):
        local.mkdir(parents=True, exist_ok=True)
        return self._run(variant, self.remote(prefix), str(local), local.parent)


class S5cmd(Tool):
    name = "s5cmd sync"
    variants = {"defaults": [], "tuned": ["--numworkers", "64"]}

    def _run(self, variant, src, dst, cwd):
        return measure([tool_path("s5cmd"), "--endpoint-url", self.server.url,
                        *self.variants[variant], "sync", "--exclude", ".S3/*", src, dst], cwd)

    def up(self, variant, local, prefix):
        return self._run(variant, f"{local}/", f"{self.remote(prefix)}/", local.parent)

    def down(self, variant, prefix, local):
        local.mkdir(parents=True, exist_ok=True)
        return self._run(variant, f"{self.remote(prefix)}/*", f"{local}/", local.parent)


RCLONE_ENV = {"RCLONE_CONFIG_BENCH_TYPE": "s3", "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
              "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": KEY,
              "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": SECRET,
              "RCLONE_CONFIG_BENCH_REGION": REGION,
              "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true"}
RCLONE_TUNED = ["--transfers", "32", "--checkers", "64", "--fast-list",
                "--s3-upload-concurrency", "16", "--s3-chunk-size", "16M",
                "--s3-no-check-bucket"]


class Rclone(Tool):
    name = "rclone sync"
    variants = {"defaults": [], "tuned": RCLONE_TUNED}

    def env(self):
        return {**ENV, **RCLONE_ENV, "RCLONE_CONFIG_BENCH_ENDPOINT": self.server.url,
                "RCLONE_CONFIG": str(self.work / "rclone.conf")}

    def target(self, prefix):
        return f"bench:{BUCKET}/{prefix}"

    def _run(self, variant, src, dst, cwd):
        return measure([tool_path("rclone"), "sync", "--exclude", ".S3/**",
                        *self.variants[variant], src, dst], cwd, self.env())

    def up(self, variant, local, prefix):
        return self._run(variant, str(local), self.target(prefix), local.parent)

    def down(self, variant, prefix, local):
        local.mkdir(parents=True, exist_ok=True)
        return self._run(variant, self.target(prefix), str(local), local.parent)


class Bisync(Rclone):
    """rclone bisync: the two-way peer, for the sync-again workloads (after --resync)."""

    name = "rclone bisync"
    variants = {"defaults": [], "tuned": ["--transfers", "32", "--checkers", "64",
                                          "--fast-list", "--s3-no-check-bucket"]}

    def up(self, variant, local, prefix, resync=False):
        workdir = local.parent / f"{local.name}-bisync"
        workdir.mkdir(exist_ok=True)
        extra = ["--resync"] if resync else []
        # rclone serve s3 does not keep modtimes stable between listings, which makes
        # bisync abort ("all files were changed"): compare sizes, the cheapest check.
        return measure([tool_path("rclone"), "bisync", str(local), self.target(prefix),
                        "--workdir", str(workdir), "--exclude", ".S3/**", "--compare", "size",
                        *extra, *self.variants[variant]], local.parent, self.env())


# -- data ----------------------------------------------------------------------------------------
def make_files(root: Path, count: int, size: int, per_dir: int = 1000) -> None:
    block = os.urandom(size + 64)
    for i in range(count):
        d = root / f"d{i // per_dir:04}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06}.dat").write_bytes(i.to_bytes(8, "little") + block[8 + i % 64:][:size - 8])


def make_big(path: Path, mib: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mib):
            f.write(i.to_bytes(8, "little") + block[8:])


def link_copy(src: Path, dst: Path) -> None:
    """A hard-linked copy: the same bytes and mtimes, a separate tree per tool."""
    subprocess.run(["cp", "-al", str(src), str(dst)], check=True)


def replace_one(root: Path) -> None:
    """Change one file as an editor does: new content, new inode (never the shared one)."""
    victim = next(p for p in sorted(root.rglob("*.dat")))
    tmp = victim.with_suffix(".tmp")
    tmp.write_bytes(b"changed " + victim.read_bytes()[8:])
    os.replace(tmp, victim)


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
        q = args.quick
        self.w1 = (200 if q else 2000, 4096, 1 if q else 5, 2 if q else 20)
        self.w3_files = 5000 if q else 100_000
        self.w6_mib = 64 if q else 1024

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
        for tool in setup_order:
            local = self.work / f"w3-{tool.__class__.__name__.lower()}"
            link_copy(data, local)
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
                clone = self.work / f"w6-{tag}-clone"
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

    def run(self):
        steps = {"W1": self.w1_w2_w5, "W3": self.w3_w4, "W6": self.w6, "help": self.startup}
        try:
            for name in self.args.only or steps:
                print(f"{name}:", flush=True)
                steps[name]()
        finally:
            self.server.stop()
            if not self.args.keep:
                shutil.rmtree(self.work, ignore_errors=True)


# -- the report --------------------------------------------------------------------------------
def _median(results: dict, workload: str, tool_prefix: str):
    """The best median among the variants of tools whose name starts with tool_prefix."""
    meds = [statistics.median(v["wall"]) for k, v in results.get(workload, {}).items()
            if k.startswith(tool_prefix)]
    return min(meds) if meds else None


def _peers(results: dict, workload: str):
    meds = [statistics.median(v["wall"]) for k, v in results.get(workload, {}).items()
            if not k.startswith("s3sync_mirror")]
    return min(meds) if meds else None


def verdicts(results: dict) -> list[dict]:
    """The issue's targets, each with the measured figures and met / missed. Peers are
    taken at their fastest variant; this tool with its defaults."""
    def ours(w):
        v = results.get(w, {}).get("s3sync_mirror|defaults")
        return statistics.median(v["wall"]) if v else None

    out = []

    def check(name, ok, figures):
        out.append({"target": name, "met": bool(ok), "figures": figures})

    if ours("W3") is not None:
        o, peer = ours("W3"), _peers(results, "W3")
        check("W3 under 1.0 s", o < 1.0, f"{o:.3f} s")
        check("W3 at least 3x faster than the fastest peer", peer / o >= 3,
              f"fastest peer {peer:.3f} s = {peer / o:.1f}x")
        rss = max(results["W3"]["s3sync_mirror|defaults"]["rss"]) / 1024
        check("W3 memory under 300 MB", rss * 1.048576 < 300, f"{rss:.0f} MiB")
    if ours("W2") is not None:
        check("W2 under 0.5 s", ours("W2") < 0.5, f"{ours('W2'):.3f} s")
    for w in ("W1", "W5"):
        if ours(w) is None:
            continue
        o, aws, s5 = ours(w), _median(results, w, "aws"), _median(results, w, "s5cmd")
        check(f"{w} at least 2x faster than aws s3 sync", aws / o >= 2,
              f"{o:.3f} s vs aws {aws:.3f} s = {aws / o:.2f}x")
        check(f"{w} no slower than s5cmd", o <= s5, f"{o:.3f} s vs s5cmd {s5:.3f} s")
    for w in ("W6 up", "W6 down"):
        if ours(w) is not None:
            o, peer = ours(w), _peers(results, w)
            check(f"{w} within 1.2x of the fastest peer", o <= 1.2 * peer,
                  f"{o:.3f} s vs {peer:.3f} s = {o / peer:.2f}x")
    if "--help" in results:
        h = statistics.median(results["--help"]["s3sync_mirror|defaults"]["wall"])
        check("--help under 0.3 s", h < 0.3, f"{h:.3f} s")
    return out


def summarize(results: dict) -> list[dict]:
    rows = []
    for workload, tools in results.items():
        best_peer = min((statistics.median(v["wall"]) for k, v in tools.items()
                         if not k.startswith("s3sync_mirror")), default=None)
        ours = statistics.median(tools.get("s3sync_mirror|defaults", {"wall": [0]})["wall"])
        for key, v in tools.items():
            tool, variant = key.split("|")
            med = statistics.median(v["wall"])
            rows.append({
                "workload": workload, "tool": tool, "variant": variant,
                "median_s": round(med, 3), "min_s": min(v["wall"]), "max_s": max(v["wall"]),
                "runs": len(v["wall"]),
                "peak_rss_mib": round(max(v.get("rss") or [0]) / 1024),
                "ratio_to_ours": round(med / ours, 2) if ours else None,
                "fastest_peer_s": round(best_peer, 3) if best_peer else None})
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    out = [f"Server: {meta['server']}; {meta['cpus']} CPUs; Python {meta['python']}; "
           f"{meta['repeat']} runs each; {meta['date']}.", "",
           "| workload | tool | flags | median s | min-max s | peer / ours | peak RSS MiB |",
           "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        rss = str(r["peak_rss_mib"]) if r["workload"] == "W3" and r["peak_rss_mib"] else ""
        out.append(f"| {r['workload']} | {r['tool']} | {r['variant']} | {r['median_s']:.3f} "
                   f"| {r['min_s']:.3f}-{r['max_s']:.3f} | {r['ratio_to_ours']:.2f} | {rss} |")
    out += ["", "| target | met | measured |", "|---|---|---|"]
    out += [f"| {v['target']} | {'yes' if v['met'] else '**no**'} | {v['figures']} |"
            for v in meta.get("verdicts", [])]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and workload")
    ap.add_argument("--server", choices=("rclone", "moto"), default="rclone")
    ap.add_argument("--only", nargs="*", choices=("W1", "W3", "W6", "help"),
                    help="run only these workload groups (W1 = W1, W2, W5; W3 = W3, W4)")
    ap.add_argument("--workdir", help="where to put the data (default: the temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the data afterwards")
    ap.add_argument("--out", default=str(HERE / "results" / "latest.json"))
    ap.add_argument("--clouds", action="store_true",
                    help="instead: W1 and W5 on GCS and Azure Blob emulators, ours vs rclone "
                         "(benchmarks/clouds.py; needs the test extras)")
    ap.add_argument("--providers", nargs="*", choices=("gcs", "blob"),
                    help="with --clouds: these providers only")
    args = ap.parse_args()
    if args.clouds:
        import clouds

        return clouds.run(args)
    if args.quick:
        args.repeat = min(args.repeat, 1)
    bench = Bench(args)
    bench.run()
    rows = summarize(bench.results)
    meta = {"server": f"rclone serve s3 ({tool_path('rclone')})" if args.server == "rclone"
            else "moto server", "cpus": os.cpu_count(), "python": platform.python_version(),
            "repeat": args.repeat, "date": time.strftime("%Y-%m-%d"), "quick": args.quick,
            "verdicts": verdicts(bench.results)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows, "raw": bench.results}, indent=1))
    table = markdown(rows, meta)
    out.with_suffix(".md").write_text(table)
    print("\n" + table)


if __name__ == "__main__":
    main()
