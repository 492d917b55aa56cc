"""The scale workloads of the benchmark (``run.py --scale [--scale-files N]``):

  W7  no-change sync of N files (default 1,000,000): time and peak RSS of every tool
  W8  one file changed by a teammate among N: time, and the bytes of `.S3/` state this
      tool downloaded (counted per request by a proxy in front of the server)
  W9  one local edit among N: time, peak RSS, bytes of state written (to the remote, via
      the proxy; and to the local `.S3/`)
  W10 first sync of N/5 small files (200,000 at the default), ours vs each peer

Seeding (nothing here goes through a tool, so N can be a million): the N files are written
once, then hard-linked (`cp -al`) into one local folder per tool and, for the remote, into
`rclone serve s3`'s backing folder (it serves plain files: the objects' ETag is the MD5 of
the content, their time the file's mtime, so every peer finds them in sync). This tool's
two clones (A, and B as the teammate) get their `.S3/` written with its own modules:
`state.render_versions` for the baseline (each file's SHA-256, size, mtime and node, as a
sync records them) and for the remote state, which goes both to the local cached copy and
to `<prefix>/.S3/versions_remote.csv` on the server (a remote holding only that file is a
valid checkpoint), plus the clone id, the remote's ETag and the conditional-write check.
All the hard links are made before the state is seeded (a new link changes a file's ctime).
Every seeded folder is removed at the end unless --keep.

Each peer runs with its tuned flags (the fastest at W3) and a per-run cap (--scale-timeout):
a run over the cap is killed and reported as "> cap s". The teammate change of W8 is, for
the peers, a new version of one object written into the server's folder, then a download
(rclone bisync: its two-way sync); for this tool it is clone A's W9 edit, received by B.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from countproxy import CountingProxy  # noqa: E402
import tools as R  # noqa: E402


def measure_capped(cmd: list, cwd: Path, env: dict, cap: float):
    """(wall seconds, peak RSS KiB, timed out) of one command, killed after ``cap`` s."""
    out = Path(tempfile.mktemp(prefix="bench-time-"))
    full = [R.TIME, "-f", "%M", "-o", str(out), *cmd] if R.TIME else cmd
    with tempfile.TemporaryFile() as log:
        t0 = time.perf_counter()
        p = subprocess.Popen(full, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = p.wait(timeout=cap)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            out.unlink(missing_ok=True)
            return cap, 0, True
        wall = time.perf_counter() - t0
        if rc != 0:
            log.seek(0)
            raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({rc}):\n"
                               f"{log.read()[-3000:].decode(errors='replace')}")
    rss = int(out.read_text().split()[-1]) if R.TIME and out.exists() else 0
    out.unlink(missing_ok=True)
    return wall, rss, False


class Capped:
    """Runs a tool's command through :func:`measure_capped` instead of ``run.measure``."""

    def __init__(self, cap: float):
        self.cap, self.timed_out = cap, False

    def __enter__(self):
        self._saved = R.measure

        def capped(cmd, cwd, env=None):
            wall, rss, over = measure_capped(cmd, cwd, env or R.ENV, self.cap)
            self.timed_out = over
            return wall, rss

        R.measure = capped
        return self

    def __exit__(self, *exc):
        R.measure = self._saved


def link_all(master: Path, targets: list) -> None:
    for t in targets:
        t.parent.mkdir(parents=True, exist_ok=True)
        R.link_copy(master, t)


def digests(master: Path) -> dict:
    """{relative path: (sha256 hex, md5 hex, stat)} of every file under ``master``."""
    out = {}
    root = os.fspath(master)
    for dirpath, _dirs, names in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        for name in names:
            full = os.path.join(dirpath, name)
            data = Path(full).read_bytes()
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            out[rel] = (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(),
                        os.stat(full))
    return out


def seed_ours(repo: Path, prefix_dir: Path, remote_url: str, sums: dict, remote_etag) -> None:
    """Write clone ``repo``'s `.S3/` as a sync that left all of ``sums`` in sync would."""
    from s3sync_mirror.core import layout
    from s3sync_mirror.state import csvfiles as state, remotelog as statelog
    from s3sync_mirror.core.clock import iso_from_ns
    from s3sync_mirror.core.model import FileState

    data = repo / "Data"
    dot = data / layout.STATE_DIR
    (dot / "cache").mkdir(parents=True, exist_ok=True)
    (dot / "tmp").mkdir(exist_ok=True)
    (dot / "trash").mkdir(exist_ok=True)
    clone = secrets.token_hex(8)
    (dot / layout.CLONE_ID).write_text(clone)
    owner = layout.baseline_owner(remote_url, clone, data)
    remote, base = {}, {}
    for rel, (sha, md5, st) in sums.items():
        r = FileState(sha, st.st_size, "bench", iso_from_ns(st.st_mtime_ns), st.st_mtime_ns,
                      md5)
        remote[rel] = r
        base[rel] = r.on_disk(st)
    state.write_atomic(dot / layout.VERSIONS_LOCAL,
                       state.render_versions(base, local=True, owner=owner))
    remote_csv = state.render_versions(remote, local=False)
    state.write_atomic(dot / layout.VERSIONS_REMOTE, remote_csv)
    target = prefix_dir / layout.VERSIONS_KEY
    if not target.exists():
        state.write_atomic(target, remote_csv)
    # the cached checkpoint's ETag and log id, as statedir.save_remote_cache writes them
    (dot / layout.REMOTE_ETAG).write_text(
        f"{remote_etag(layout.VERSIONS_KEY)}\n{statelog.log_id(remote_csv)}\n")
    (dot / layout.CHECKED_REMOTES).write_text(remote_url + "\n")


class Scale:
    def __init__(self, bench):
        self.b, self.args = bench, bench.args
        self.n = self.args.scale_files
        self.cap = self.args.scale_timeout
        self.root = bench.work / "scale"
        self.proxy = CountingProxy(bench.server.url)
        self.extra: dict = {}  # workload -> {tool: {...}}: state bytes, notes
        chosen = self.args.scale_tools
        self.peers = [t for t in [*bench.tools, bench.bisync] if not isinstance(t, R.Ours)
                      and (chosen is None or self.key(t) in chosen)]
        self.bisync_ok = False

    # -- helpers --------------------------------------------------------------------------
    def key(self, tool) -> str:
        return tool.__class__.__name__.lower()

    def variant(self, tool) -> str:
        return "defaults" if isinstance(tool, R.Ours) else "tuned"

    def timed(self, workload, tool, fn, variant=None):
        variant = variant or self.variant(tool)
        with Capped(self.cap) as c:
            wall, rss = fn()
        self.b.record(workload, tool.name, variant, wall, rss)
        if c.timed_out:
            self.b.results[workload][f"{tool.name}|{variant}"]["timeout"] = self.cap
            print(f"  {workload:<8} {tool.name:<14} timed out at {self.cap:.0f} s", flush=True)
        return wall

    def remote_etag(self, prefix: str):
        import boto3

        s3 = boto3.client("s3", endpoint_url=self.b.server.url, aws_access_key_id=R.KEY,
                          aws_secret_access_key=R.SECRET, region_name=R.REGION)
        def etag(key: str) -> str:
            """The object's ETag; a file written into the server's folder a moment ago may
            not be served yet (seen once: 404 on the state file just seeded): asked again
            for up to 30 s."""
            from botocore.exceptions import ClientError

            for attempt in range(60):
                try:
                    return s3.head_object(Bucket=R.BUCKET, Key=f"{prefix}/{key}")[
                        "ETag"].strip('"')
                except ClientError as exc:
                    if attempt == 59 or exc.response.get("Error", {}).get("Code") not in (
                            "404", "NoSuchKey", "NotFound"):
                        raise
                time.sleep(0.5)

        return etag

    def ours_repo(self, clone: str) -> tuple:
        """(the Ours tool through the proxy, its local folder) for clone A or B."""
        ours = R.Ours(self.b.server, self.b.work)
        ours.server = type("Proxied", (), {"url": self.proxy.url})()
        local = self.root / f"local-ours-{clone}"
        ours.repo_for(local, "scale/ours")
        return ours, local

    def ours_sync(self, workload, clone: str, variant="defaults"):
        ours, local = self.ours_repo(clone)
        self.proxy.counts.reset()
        t0 = time.time_ns()
        self.timed(workload, ours, lambda: ours.up("defaults", local, "scale/ours"), variant)
        counted = self.proxy.counts.summary()
        dot = local / ".S3"
        counted["local_state_bytes_written"] = sum(
            p.stat().st_size for p in dot.rglob("*") if p.is_file()
            and p.stat().st_mtime_ns >= t0 and "trash" not in p.parts)
        self.extra.setdefault(workload, {})[f"{ours.name}|{variant}"] = counted
        print(f"           state: down {counted['state_bytes_down']:,} B, up "
              f"{counted['state_bytes_up']:,} B in {counted['state_requests']} requests; "
              f"local .S3 written {counted['local_state_bytes_written']:,} B", flush=True)

    # -- seeding --------------------------------------------------------------------------
    def seed(self) -> None:
        master = self.root / "master"
        t0 = time.monotonic()
        R.make_files(master, self.n, 64)
        locals_ = [self.root / f"local-{k}" for k in ("ours-a", "ours-b")] + \
            [self.root / f"local-{self.key(t)}" for t in self.peers]
        remotes = [self.b.server.prefix_dir("scale/ours")] + \
            [self.b.server.prefix_dir(f"scale/{self.key(t)}") for t in self.peers]
        link_all(master, locals_ + remotes)
        sums = digests(master)  # after every link: the ctimes are final
        etag = self.remote_etag("scale/ours")
        for clone in ("a", "b"):
            ours, local = self.ours_repo(clone)
            seed_ours(local.parent / f"{local.name}-repo", remotes[0],
                      f"s3://{R.BUCKET}/scale/ours", sums, etag)
        print(f"  (seeded {self.n:,} files x {len(locals_) + len(remotes)} folders in "
              f"{time.monotonic() - t0:.0f} s: not timed)", flush=True)
        bisync = self.b.bisync
        if bisync not in self.peers:
            return
        with Capped(self.cap) as c:
            bisync.up("tuned", self.root / "local-bisync", "scale/bisync", resync=True)
        self.bisync_ok = not c.timed_out
        if not self.bisync_ok:
            print(f"  (rclone bisync --resync over {self.cap:.0f} s: bisync left out)")

    # -- workloads ------------------------------------------------------------------------
    def w7(self) -> None:
        self.ours_sync("W7", "a", "first")  # no quick-check record yet: the full path
        for _ in range(self.args.scale_repeat):
            self.ours_sync("W7", "a")
            for t in self.peers:
                if t is self.b.bisync and not self.bisync_ok:
                    continue
                local = self.root / f"local-{self.key(t)}"
                self.timed("W7", t, lambda: t.up("tuned", local, f"scale/{self.key(t)}"))

    def w9_w8(self) -> None:
        self.ours_sync("W7", "b", "first")  # B: its own first (full) check, then in sync
        for _ in range(self.args.scale_repeat):
            local_edit(self.root / "local-ours-a")
            self.ours_sync("W9", "a")
            self.ours_sync("W8", "b")
            for t in self.peers:
                if t is self.b.bisync and not self.bisync_ok:
                    continue
                k = self.key(t)
                local = self.root / f"local-{k}"
                local_edit(local)
                self.timed("W9", t, lambda: t.up("tuned", local, f"scale/{k}"))
                teammate_edit(self.b.server.prefix_dir(f"scale/{k}"))
                get = t.up if isinstance(t, R.Bisync) else \
                    (lambda v, loc, pre: t.down(v, pre, loc))
                self.timed("W8", t, lambda: get("tuned", local, f"scale/{k}"))

    def w10(self) -> None:
        n = max(1, self.n // 5)
        master = self.root / "w10-master"
        R.make_files(master, n, 256)
        for rep in range(self.args.scale_repeat):
            for t in [self.b.tools[0], *self.peers]:
                k = f"{self.key(t)}-{rep}"
                local = self.root / f"w10-{k}"
                R.link_copy(master, local)
                kw = {"resync": True} if isinstance(t, R.Bisync) else {}
                self.timed("W10", t, lambda: t.up(self.variant(t), local, f"w10/{k}", **kw))
                rm(local)
                rm(self.b.server.prefix_dir(f"w10/{k}"))

    def run(self) -> None:
        try:
            print(f"scale ({self.n:,} files):", flush=True)
            if not self.args.scale_w10_only:
                self.seed()
                self.w7()
                self.w9_w8()
            if not self.args.scale_skip_w10:
                self.w10()
        finally:
            self.proxy.close()
            self.b.scale_state = self.extra
            if not self.args.keep:
                rm(self.root)
                rm(self.b.server.prefix_dir("scale"))
                rm(self.b.server.prefix_dir("w10"))


VICTIM = ("d0000", "f000000.dat")  # the first file make_files writes


def local_edit(root: Path) -> None:
    """Change one file as an editor does: new content every time, a new inode (never the
    one the hard-linked copies share)."""
    victim = root.joinpath(*VICTIM)
    tmp = victim.with_name(victim.name + ".tmp")
    tmp.write_bytes(b"edited " + os.urandom(16).hex().encode() + b"\n" + victim.read_bytes())
    os.replace(tmp, victim)


def teammate_edit(prefix_dir: Path) -> None:
    """A new version of one object, as a teammate's upload leaves it on the server's disk
    (another size, a new mtime)."""
    victim = prefix_dir.joinpath(*VICTIM[:-1], "f000001.dat")
    tmp = victim.with_name(victim.name + ".tmp")
    tmp.write_bytes(b"changed by a teammate " + os.urandom(8).hex().encode() + b"\n"
                    + victim.read_bytes())
    os.replace(tmp, victim)


def rm(path: Path) -> None:
    if path.exists():
        subprocess.run(["rm", "-rf", str(path)], check=False)


def run(bench) -> None:
    Scale(bench).run()


def state_table(state: dict) -> list:
    out = ["| workload | tool | state bytes down | state bytes up | state requests "
           "| local .S3 bytes written |", "|---|---|---:|---:|---:|---:|"]
    for workload in sorted(state):
        for key, c in state[workload].items():
            out.append(f"| {workload} | {key.replace('|', ' ')} | {c['state_bytes_down']:,} "
                       f"| {c['state_bytes_up']:,} | {c['state_requests']} "
                       f"| {c['local_state_bytes_written']:,} |")
    return out


def verdicts(results: dict, state: dict, files: int = 0) -> list:
    """The issue's scale targets, measured (peers at their tuned flags)."""
    import statistics as st

    def med(w, key="s3sync_mirror|defaults"):
        v = results.get(w, {}).get(key)
        return st.median(v["wall"]) if v else None

    def peer(w):
        return min((st.median(v["wall"]) for k, v in results.get(w, {}).items()
                    if not k.startswith("s3sync_mirror")), default=None)

    out = []

    def check(name, ok, figures):
        out.append({"target": name, "met": bool(ok), "figures": figures})

    w7, w7p = med("W7"), peer("W7")
    if w7 and w7p:
        check("W7 at least 3x faster than the fastest peer", w7p / w7 >= 3,
              f"{w7:.2f} s vs {w7p:.2f} s = {w7p / w7:.1f}x")
        rss = max(results["W7"]["s3sync_mirror|defaults"]["rss"]) / 1024
        check("W7 peak RSS under 500 MB", rss * 1.048576 < 500, f"{rss:.0f} MiB")
    for w, field in (("W8", "state_bytes_down"), ("W9", "state_bytes_up")):
        if med(w) and w7:
            check(f"{w} under 1.5x W7's time (issue 23)", med(w) < 1.5 * w7,
                  f"{med(w):.2f} s vs W7 {w7:.2f} s = {med(w) / w7:.2f}x")
            rss7 = max(results["W7"]["s3sync_mirror|defaults"]["rss"])
            rss = max(results[w]["s3sync_mirror|defaults"]["rss"])
            if files:
                check(f"{w} peak RSS under W7's plus 300 B a file (issue 23)",
                      rss * 1024 < rss7 * 1024 + 300 * files,
                      f"{rss / 1024:.0f} MiB vs {rss7 / 1024:.0f} + "
                      f"{300 * files / 2**20:.0f} MiB")
            got = state.get(w, {}).get("s3sync_mirror|defaults")
            if got:
                check(f"{w} under 1 MB of state {field.split('_')[-1]}",
                      got[field] < 1_000_000, f"{got[field]:,} B")
    if med("W10") and peer("W10"):
        check("W10 no slower than the fastest peer", med("W10") <= peer("W10"),
              f"{med('W10'):.2f} s vs {peer('W10'):.2f} s")
    return out
