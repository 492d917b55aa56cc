"""A person at the prompt: a fresh clone of W1's data (2,000 x 4 KiB + 3 x 20 MiB) on
`rclone serve s3`, run in a terminal (a pty), the plan answered with `y` after ``--think``
seconds; measured from the key press to the end of the run, with reading ahead
(``pipeline/ahead.py``) and without (``S3SYNC_MIRROR_READ_AHEAD=0``), alternating, medians.

    python benchmarks/answer.py                  # 5 rounds, 2 s to answer
    python benchmarks/answer.py --rounds 9 --think 1

No peer asks one question for a whole plan (rclone's --interactive asks per file), so this
compares this tool with itself. Prints a table; --out writes it as JSON too."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import tools as T  # noqa: E402

PROMPT = "Apply this plan?"


def config(server: T.Server, prefix: str) -> str:
    return (f"storage:\n  provider: s3\n  tenant: {T.BUCKET}\n  namespace: {prefix}\n"
            f"  endpoint_url: {server.url}\n  region: {T.REGION}\ndata_dir: Data\n"
            f"user: bench\n")


def answered(repo: Path, env: dict, think: float) -> float:
    """Seconds from the key press to the end of one interactive fresh clone."""
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "s3sync_mirror"], cwd=str(repo),
                          env={**env, "TERM": "xterm", "COLUMNS": "120"}, timeout=120,
                          encoding="utf-8", dimensions=(50, 120))
    child.expect(PROMPT)
    time.sleep(think)
    pressed = time.perf_counter()
    child.send("y")
    child.expect(pexpect.EOF)
    took = time.perf_counter() - pressed
    child.close()
    if child.exitstatus != 0:
        sys.exit(f"the interactive run failed ({child.exitstatus}):\n{child.before}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--think", type=float, default=2.0, help="seconds before the answer")
    ap.add_argument("--out", help="also write the results as JSON here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="answer-"))
    server = T.Server("rclone", work)
    try:
        data = work / "src"
        T.make_files(data, 2000, 4096)
        for i in range(3):
            T.make_big(data / f"big{i}.bin", 20)
        up = work / "up"
        up.mkdir()
        (up / "s3sync_mirror.yml").write_text(config(server, "answer"))
        shutil.copytree(data, up / "Data")
        import subprocess

        subprocess.run([sys.executable, "-m", "s3sync_mirror", "--yes", "-q"], cwd=up,
                       env=T.ENV, check=True)
        server.settle("answer")
        variants = {"reading ahead": {}, "without (S3SYNC_MIRROR_READ_AHEAD=0)":
                    {"S3SYNC_MIRROR_READ_AHEAD": "0"}}
        times: dict = {k: [] for k in variants}
        for r in range(args.rounds):
            for name, extra in variants.items():
                repo = work / f"clone-{r}-{len(times[name])}-{abs(hash(name)) % 1000}"
                repo.mkdir()
                (repo / "s3sync_mirror.yml").write_text(config(server, "answer"))
                times[name].append(answered(repo, {**T.ENV, **extra}, args.think))
                shutil.rmtree(repo)
        print(f"From the key press to the end, {args.think:g} s after the plan was shown, "
              f"medians of {args.rounds}:")
        for name, v in times.items():
            print(f"  {name:40} {statistics.median(v):6.3f} s   runs "
                  + " ".join(f"{x:.3f}" for x in v))
        if args.out:
            Path(args.out).write_text(json.dumps({"think": args.think, "times": times},
                                                 indent=1))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
