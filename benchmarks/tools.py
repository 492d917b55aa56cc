"""The benchmark's server, tools and data: `rclone serve s3` (or moto) over a temp folder,
this tool and its peers (aws s3 sync, s5cmd, rclone sync and bisync) with their default and
tuned flags, each run measured for wall time and peak RSS; the data generators."""
from __future__ import annotations

from abc import ABC, abstractmethod
import os
import shutil
import socket
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
            # scale.py writes its seeded prefixes into this folder behind the server's
            # back: their top folder exists before any listing, or the server's directory
            # cache (5 minutes) would answer 404 for what was written after it was filled.
            (self.root / BUCKET / "scale").mkdir(parents=True)
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

    def settle(self, prefix: str) -> None:
        """Untimed, after each upload: list ``prefix`` once. `rclone serve s3` computes an
        object's MD5 (its ETag) at the first listing or read that shows it, not at its
        upload (0.39 s for 256 MiB, measured), and keeps it. rclone's own upload reads
        its objects back, so it paid that within its timed upload and its download did
        not; aws and s5cmd list before they download, so they paid it in the download;
        this tool reads no listing of the data, so it paid it at its first GET. Listed
        here for every tool alike, every timed download starts from one server state."""
        if self.kind != "rclone":
            return  # moto computes the ETag when the object is written
        if getattr(self, "_s3", None) is None:
            import boto3

            self._s3 = boto3.client("s3", endpoint_url=self.url, aws_access_key_id=KEY,
                                    aws_secret_access_key=SECRET, region_name=REGION)
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET,
                                                                 Prefix=f"{prefix}/"):
            page.get("Contents")

    def prefix_dir(self, prefix: str) -> Path:
        return self.root / BUCKET / prefix

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


# -- running and measuring -------------------------------------------------------------------
# This tool is imported from the checkout the benchmark lives in (whatever is installed).
ENV = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
       "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "NO_COLOR": "1",
       "PYTHONPATH": os.pathsep.join(filter(None, (str(HERE.parent),
                                                   os.environ.get("PYTHONPATH"))))}
for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
          # an installed package runs from its compiled bytecode: measure that, not a
          # recompile of every module changed since its .pyc was written
          "PYTHONDONTWRITEBYTECODE"):
    ENV.pop(k, None)
_COMPILED = []


def compiled() -> None:
    """Bring this tool's .pyc files up to date once per benchmark process (pip does as
    much for an installed package)."""
    if not _COMPILED:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent /
                                                                     "s3sync_mirror")],
                       check=True, stdout=subprocess.DEVNULL, env=ENV)
        _COMPILED.append(True)


def measure(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one command, which must succeed."""
    compiled()
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


RUNS = [0]


def wrapped() -> list:
    """S3SYNC_BENCH_WRAP: a profiler to run this tool under, e.g. "py-spy record -r 200 -f
    raw -o /tmp/prof-{n}.txt --" ({n} counts this tool's runs); [] when unset."""
    RUNS[0] += 1
    return os.environ.get("S3SYNC_BENCH_WRAP", "").replace("{n}", str(RUNS[0])).split()


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
        return measure([*wrapped(), sys.executable, "-m", "s3sync_mirror", "--yes", "-q",
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


def warm_memory(folder: Path, mib: int) -> None:
    """Untimed, just before a timed download: write ``mib`` MiB to a scratch file and
    delete it. This VM reports freed pages back to the host (virtio-balloon free page
    reporting, 2 s after they are freed); writing 256 MiB into pages the host took back
    costs 0.60-0.66 s here, into pages freed a moment before 0.05 s (measured). Without
    this, whichever download came first after an idle moment paid that, in its time.
    Done for every tool alike, as ``Server.settle`` is for the server's MD5."""
    scratch = folder / ".warm-memory"
    block = b"\x01" * (1 << 20)
    with open(scratch, "wb") as f:
        for _ in range(mib):
            f.write(block)
    scratch.unlink()


def link_copy(src: Path, dst: Path) -> None:
    """A hard-linked copy: the same bytes and mtimes, a separate tree per tool."""
    subprocess.run(["cp", "-al", str(src), str(dst)], check=True)


def replace_one(root: Path) -> None:
    """Change one file as an editor does: new content, new inode (never the shared one)."""
    victim = next(p for p in sorted(root.rglob("*.dat")))
    tmp = victim.with_suffix(".tmp")
    tmp.write_bytes(b"changed " + victim.read_bytes()[8:])
    os.replace(tmp, victim)
