"""Benchmark on the cloud emulators: s3sync_mirror with `provider: gcs` against
fake-gcs-server and with `provider: blob` against Azurite, side by side with `rclone sync`
(its `gcs` backend, anonymous, and its `azureblob` backend with the emulator's well-known
key) on the same emulator, on the same data. The emulators are started as the test suite
starts them (tests/emu_gcs.py, tests/emu_blob.py), on free ports of 127.0.0.1.

    pip install -e '.[bench,test]' && python benchmarks/run.py --clouds
    python benchmarks/run.py --clouds --quick          # small sizes, one run: a smoke run

Workloads (each run --repeat times, the tools alternating; medians and min-max):
  W1 first upload of 2,000 files of 4 KiB plus 5 files of 20 MiB
  W5 a fresh clone downloading W1
Each tool with its defaults and with its best-known flags; this tool with --yes.
Writes results/clouds.json and results/clouds.md. The emulators are not the clouds: the
figures compare the tools on one machine, and say nothing of Google's or Azure's speed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):  # tests/emu_*.py; run.py's helpers
    if _path not in sys.path:
        sys.path.insert(0, _path)

from run import link_copy, make_big, make_files, measure, tool_path  # noqa: E402
from tools import wrapped  # noqa: E402

PREFIX = "bench"
# The credentials a member of this machine may have are not the emulator's: left out.
DROPPED = ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT",
           "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT",
           "AZURE_STORAGE_ACCOUNT_URL", "AZURE_STORAGE_KEY")
BASE_ENV = {k: v for k, v in os.environ.items()  # bytecode: as tools.ENV says
            if k not in DROPPED and not k.startswith("RCLONE_")
            and k != "PYTHONDONTWRITEBYTECODE"}
BASE_ENV["NO_COLOR"] = "1"


# -- the providers on their emulators -----------------------------------------------------------
class Emulated(ABC):
    """One provider on its emulator (tests/emulators.py's interface), with a new, empty
    tenant: the tool's config and environment, and rclone's remote."""

    provider = ""

    def __init__(self, emulator):
        self.emu = emulator
        self.tenant = emulator.new_tenant()

    def config(self, prefix: str) -> str:
        return (f"storage:\n  provider: {self.provider}\n  tenant: {self.tenant}\n"
                f"  namespace: {prefix}\n  endpoint_url: {self.emu.endpoint}\n"
                f"data_dir: Data\nuser: bench\n")

    def env(self) -> dict:
        return {**BASE_ENV, **self.emu.env}

    def rclone_env(self, work: Path) -> dict:
        return {**BASE_ENV, "RCLONE_CONFIG": str(work / "rclone.conf"), **self.rclone()}

    @abstractmethod
    def rclone(self) -> dict:
        """rclone's remote for this emulator, as RCLONE_CONFIG_* variables."""


class GCS(Emulated):
    provider = "gcs"
    rclone_flags = ["--gcs-no-check-bucket"]

    @staticmethod
    def version() -> str:
        from tests.emu_gcs import binary

        found = re.search(rb"mod\tgithub.com/fsouza/fake-gcs-server\t(v[0-9.]+)",
                          binary().read_bytes())
        return f"fake-gcs-server {found.group(1).decode() if found else '(version unknown)'}" \
               f" (memory backend)"

    def rclone(self) -> dict:
        return {"RCLONE_CONFIG_EMU_TYPE": "gcs", "RCLONE_CONFIG_EMU_ANONYMOUS": "true",
                "RCLONE_CONFIG_EMU_ENDPOINT": f"{self.emu.endpoint}/storage/v1/"}


class Blob(Emulated):
    provider = "blob"
    rclone_flags = ["--azureblob-no-check-container"]

    @staticmethod
    def version() -> str:
        from tests.emu_blob import AZURITE

        node = subprocess.run(["node", "--version"], capture_output=True, text=True)
        return f"Azurite {AZURITE} (node {node.stdout.strip()}, data on disk)"

    def rclone(self) -> dict:
        from tests.emu_blob import ACCOUNT, ACCOUNT_KEY

        return {"RCLONE_CONFIG_EMU_TYPE": "azureblob", "RCLONE_CONFIG_EMU_ACCOUNT": ACCOUNT,
                "RCLONE_CONFIG_EMU_KEY": ACCOUNT_KEY,
                "RCLONE_CONFIG_EMU_ENDPOINT": self.emu.endpoint}


# -- the tools -----------------------------------------------------------------------------------
class Ours:
    name = "s3sync_mirror"
    variants = {"defaults": [], "tuned": ["--jobs", "32"]}

    def __init__(self, cloud: Emulated, work: Path):
        self.cloud, self.work = cloud, work

    def sync(self, variant: str, local: Path, prefix: str):
        """A repo whose data folder is ``local``, synced with --yes: (seconds, RSS KiB)."""
        repo = local.parent / f"{local.name}-repo"
        repo.mkdir()
        (repo / "s3sync_mirror.yml").write_text(self.cloud.config(prefix))
        local.mkdir(parents=True, exist_ok=True)
        (repo / "Data").symlink_to(local, target_is_directory=True)
        return measure([*wrapped(), sys.executable, "-m", "s3sync_mirror", "--yes", "-q",
                        *self.variants[variant]], repo, self.cloud.env())

    up = sync

    def down(self, variant: str, prefix: str, local: Path):
        return self.sync(variant, local, prefix)


class Rclone:
    name = "rclone sync"
    variants = {"defaults": [], "tuned": ["--transfers", "32", "--checkers", "64",
                                          "--fast-list"]}

    def __init__(self, cloud: Emulated, work: Path):
        self.cloud, self.work = cloud, work

    def _run(self, variant: str, src: str, dst: str, cwd: Path):
        flags = self.variants[variant] + (self.cloud.rclone_flags if variant == "tuned"
                                          else [])
        return measure([tool_path("rclone"), "sync", "--exclude", ".S3/**", *flags, src, dst],
                       cwd, self.cloud.rclone_env(self.work))

    def up(self, variant: str, local: Path, prefix: str):
        return self._run(variant, str(local), f"emu:{self.cloud.tenant}/{prefix}",
                         local.parent)

    def down(self, variant: str, prefix: str, local: Path):
        local.mkdir(parents=True, exist_ok=True)
        return self._run(variant, f"emu:{self.cloud.tenant}/{prefix}", str(local),
                         local.parent)


# -- the runs --------------------------------------------------------------------------------------
CLOUDS = {"gcs": GCS, "blob": Blob}
TOOLS = (Ours, Rclone)


@contextmanager
def fresh(provider: str, work: Path, tag: str):
    """A new emulator of ``provider`` for one run, stopped after it: both slow down as they
    fill (fake-gcs-server lists a prefix by scanning its bucket; Azurite keeps every blob
    of every container in one in-memory table), which would favour whoever runs first."""
    from tests import emu_blob, emu_gcs

    if provider == "gcs":
        with emu_gcs.running() as emulator:
            yield emulator
        return
    folder = work / f"azurite-{tag}"
    folder.mkdir()
    try:
        with emu_blob.running(folder) as emulator:
            yield emulator
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def one_run(tool, variant: str, data: Path, work: Path, tag: str, results: dict,
            loads: list) -> None:
    """W1 (``data`` up to a new prefix) then W5 (a fresh clone of it) with ``tool``."""
    provider, prefix = tool.cloud.provider, f"{PREFIX}/{tag}"
    local, clone = work / f"w1-{tag}", work / f"w5-{tag}"
    link_copy(data, local)
    for workload, run in (("W1", lambda: tool.up(variant, local, prefix)),
                          ("W5", lambda: tool.down(variant, prefix, clone))):
        load = os.getloadavg()[0]  # others' work on the machine, for the record
        wall, _rss = run()
        row = results.setdefault(provider, {}).setdefault(workload, {})
        row.setdefault(f"{tool.name}|{variant}", []).append(round(wall, 4))
        loads.append(round(load, 2))
        print(f"  {provider:<5} {workload} {tool.name:<14} {variant:<8} {wall:8.3f} s  "
              f"(load {load:.1f})", flush=True)
    for done in (local, clone, work / f"w1-{tag}-repo", work / f"w5-{tag}-repo"):
        shutil.rmtree(done, ignore_errors=True)


def w1_w5(provider: str, data: Path, work: Path, repeat: int, results: dict,
          loads: list) -> None:
    """W1 then W5 for each tool and variant, ``repeat`` times, the tools alternating, each
    run on a new emulator; ``loads``: the 1-minute load average as each run started."""
    for rep in range(repeat):
        for tool_class in TOOLS[rep % 2:] + TOOLS[:rep % 2]:
            for variant in tool_class.variants:
                tag = f"{provider}-{tool_class.__name__.lower()}-{variant}-{rep}"
                with fresh(provider, work, tag) as emulator:
                    tool = tool_class(CLOUDS[provider](emulator), work)
                    one_run(tool, variant, data, work, tag, results, loads)


def measure_all(args) -> tuple[dict, dict, list]:
    """(results: provider -> workload -> "tool|variant" -> walls, emulator versions, the
    load average at the start of each run)."""
    n, big_n, big_mib = (200, 1, 2) if args.quick else (2000, 5, 20)
    work = Path(tempfile.mkdtemp(prefix="s3sync-clouds-", dir=args.workdir))
    results, versions, loads = {}, {}, []
    try:
        data = work / "w1-data"
        make_files(data, n, 4096)
        for i in range(big_n):
            make_big(data / "big" / f"big{i}.bin", big_mib)
        for provider in args.providers:
            versions[provider] = CLOUDS[provider].version()
            print(f"{provider}: {versions[provider]}", flush=True)
            w1_w5(provider, data, work, args.repeat, results, loads)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return results, versions, loads


# -- the report ------------------------------------------------------------------------------------
def summarize(results: dict) -> list[dict]:
    rows = []
    for provider, workloads in results.items():
        for workload, tools in workloads.items():
            ours = statistics.median(tools["s3sync_mirror|defaults"])
            for key, walls in tools.items():
                tool, variant = key.split("|")
                med = statistics.median(walls)
                rows.append({"provider": provider, "workload": workload, "tool": tool,
                             "variant": variant, "median_s": round(med, 3),
                             "min_s": min(walls), "max_s": max(walls), "runs": len(walls),
                             "ratio_to_ours": round(med / ours, 2)})
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    emus = "; ".join(meta["emulators"].values())
    out = [f"Emulators: {emus}; {meta['rclone']}; {meta['cpus']} CPUs ({meta['cpu']}); "
           f"Python {meta['python']}; {meta['repeat']} runs each; {meta['date']}; load "
           f"average (others' work) {meta['load_average']['min']:.1f}-"
           f"{meta['load_average']['max']:.1f}.", "",
           "| provider | workload | tool | flags | median s | min-max s | tool / ours |",
           "|---|---|---|---|---:|---:|---:|"]
    out += [f"| {r['provider']} | {r['workload']} | {r['tool']} | {r['variant']} "
            f"| {r['median_s']:.3f} | {r['min_s']:.3f}-{r['max_s']:.3f} "
            f"| {r['ratio_to_ours']:.2f} |" for r in rows]
    return "\n".join(out) + "\n"


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    rclone = subprocess.run([tool_path("rclone"), "version"], capture_output=True,
                            text=True).stdout.split("\n", 1)[0].strip()
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "rclone": rclone, "date": time.strftime("%Y-%m-%d")}


def run(args) -> None:
    """``run.py --clouds``: measure, print the table, write results/clouds.{json,md}."""
    args.providers = getattr(args, "providers", None) or ["gcs", "blob"]
    # Stopped (kill): the emulators started are stopped too, as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.quick:
        args.repeat = min(args.repeat, 1)
    tool_path("rclone")  # before anything starts: the peer must be there
    results, versions, loads = measure_all(args)
    rows = summarize(results)
    meta = {**machine(), "emulators": versions, "repeat": args.repeat, "quick": args.quick,
            "load_average": {"min": min(loads), "median": statistics.median(loads),
                             "max": max(loads)}}
    out = Path(getattr(args, "clouds_out", None) or HERE / "results" / "clouds.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows, "raw": results}, indent=1))
    table = markdown(rows, meta)
    out.with_suffix(".md").write_text(table)
    print("\n" + table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, one run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and workload")
    ap.add_argument("--providers", nargs="*", choices=("gcs", "blob"))
    ap.add_argument("--workdir", help="where to put the data (default: the temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the data afterwards")
    ap.add_argument("--clouds-out", help="default: benchmarks/results/clouds.json")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
