"""The ``diff`` command: argparse wiring and what it prints (the work is in api/diff.py,
the words in ui/changes.py)."""
from __future__ import annotations

import json

from ..core.errors import EXIT_OK

COMMANDS = ("diff",)
WORDS = ("version", "at", "checksum", "tag", "pin")
VALUED = {"--key", "--max-rows", *(f"--{w}" for w in WORDS), *(f"--to-{w}" for w in WORDS)}

HELP = """\
What changed inside files. By default this clone's file against the remote's live version
(what a sync would move: the remote is the old side, this clone the new). --version N,
--at TIME, --checksum HEX or --tag NAME (the words of `restore`) name the old side; the
new side stays this clone's file unless --to-version, --to-at, --to-checksum or --to-tag
names another. A folder (or no path) lists the files added, removed and changed, one line
each.

Tables (.csv .tsv .parquet .jsonl .ndjson, .xlsx when its reader is installed) are compared
by key when one is given (--key id, --key id,region, or the config's
`diff: {keys: {"raw/*.csv": [id]}}`), else as rows: rows added, removed, changed cell by
cell (old -> new), columns added, removed, retyped. Text: a unified diff. Other files:
sizes and SHA-256.

examples:
  s3sync-mirror diff raw/sales.csv --key id          my edits against the remote's file
  s3sync-mirror diff raw/sales.csv --version 2       the version before the newest -> mine
  s3sync-mirror diff raw/ --tag v1 --to-tag v2 --stat   what changed under raw/ between tags
  s3sync-mirror diff raw/sales.csv --key id --json   the changes as JSON"""


def add_commands(sub, common, fmt) -> None:
    p = sub.add_parser("diff", parents=[common], formatter_class=fmt,
                       help="what changed inside files (tables by row and cell)",
                       description=HELP)
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: all)")
    old = p.add_mutually_exclusive_group()
    old.add_argument("--version", type=int, metavar="N", help="the old side: version N of `log`")
    old.add_argument("--at", metavar="TIME", help="the old side: the version current at TIME")
    old.add_argument("--checksum", metavar="HEX", help="the old side: the version with this "
                     "SHA-256 (a prefix will do)")
    old.add_argument("--tag", metavar="NAME", help="the old side: as a tag names it")
    old.add_argument("--pin", metavar="GITREV", help="the old side: the data commit GITREV "
                     "pinned (s3sync_mirror.lock)")
    new = p.add_mutually_exclusive_group()
    new.add_argument("--to-version", type=int, metavar="N", help="the new side: version N")
    new.add_argument("--to-at", metavar="TIME", help="the new side: as at TIME")
    new.add_argument("--to-checksum", metavar="HEX", help="the new side: by SHA-256")
    new.add_argument("--to-tag", metavar="NAME", help="the new side: as a tag names it")
    new.add_argument("--to-pin", metavar="GITREV", help="the new side: the data commit "
                     "GITREV pinned")
    new.add_argument("--to-remote", action="store_true",
                     help="the new side: the remote's live version")
    p.add_argument("--key", action="append", metavar="COL[,COL]",
                   help="compare tables by these key columns (repeat, or comma-separated)")
    p.add_argument("--stat", action="store_true", help="one line per file")
    p.add_argument("--max-rows", type=int, default=20, metavar="N",
                   help="at most N rows and cells listed per file (default 20; counts are "
                        "never capped)")
    p.add_argument("--json", action="store_true", help='print {"files": [...]}')


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def _side(args, prefix: str, default: str):
    for w in WORDS:
        value = getattr(args, f"{prefix}{w}", None)
        if value is not None:
            return {w: value}
    return default


def dispatch(args) -> int:
    from ..api.diff import diffs
    from ..ui import changes

    old = _side(args, "", "remote")
    new = _side(args, "to_", "remote" if args.to_remote else "local")
    folder, found = diffs(args.paths, ".", old, new, args.key, config=args.config)
    if args.json:
        print(json.dumps({"files": [d.as_json(args.max_rows) for d in found]},
                         ensure_ascii=False, default=str))
        return EXIT_OK
    if not found:
        print("No file differs.")
        return EXIT_OK
    if args.stat or folder:
        width = max(len(d.path) for d in found)
        for d in found:
            print(changes.stat_line(d, width))
        if folder and not args.stat:
            print(f"{len(found)} file{'s' if len(found) != 1 else ''} differ; name one to see "
                  f"its rows, or --json")
        return EXIT_OK
    for d in found:
        for line in changes.lines(d, args.max_rows):
            print(line)
    return EXIT_OK
