"""``pin`` and ``pins`` on the command line (argparse wiring and what they print; the work
is in api/pins.py)."""
from __future__ import annotations

import json

from ..core.errors import EXIT_OK
from ..ui.text import human

COMMANDS = ("pin", "pins")
VALUED = {"-m", "--message"}

PIN_HELP = """\
Record the data's current state in s3sync_mirror.lock at the repo root: the content id of
the sorted path -> SHA-256 manifest, the file count, the bytes, and the remote tag that
keeps the manifest (pin-<id>; tagged versions are never pruned). Commit the lock with the
code that used the data: `restore . --pin GITREV --to DIR` brings that data back, every
byte SHA-256-checked, and `status` says when Data/ no longer matches the lock.

The clone must be in sync with the remote first (so that every pinned byte is there for
the team): sync, then pin.

examples:
  s3sync-mirror pin -m "training set for model v3" && git add s3sync_mirror.lock
  s3sync-mirror pins                                   which commits pinned what
  s3sync-mirror restore . --pin HEAD~1 --to /tmp/old   the data of the previous pin"""


def add_commands(sub, common, fmt) -> None:
    p = sub.add_parser("pin", parents=[common], formatter_class=fmt,
                       help="record the data's state in s3sync_mirror.lock (commit it)",
                       description=PIN_HELP)
    p.add_argument("-m", "--message", default="", help="why (kept in the lock and its tag)")
    p = sub.add_parser("pins", parents=[common], help="the commits that pinned the data",
                       description="Every commit that changed s3sync_mirror.lock, newest "
                                   "first: its pin's content id, files, bytes and message "
                                   "(and the lock in the working tree if no commit holds "
                                   "it yet).")
    p.add_argument("--json", action="store_true", help='print {"pins": [...]}')


def dispatch(args) -> int:
    from ..api import pins as api

    if args.command == "pin":
        content = api.pin(".", args.message, config=args.config)
        print(f"pinned {content[:16]} in s3sync_mirror.lock: commit it with your code "
              f"(git add s3sync_mirror.lock)")
        return EXIT_OK
    rows = api.pins(".", config=args.config)
    if args.json:
        print(json.dumps({"pins": rows}, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        print("No pins: `pin` records one in s3sync_mirror.lock.")
    for r in rows:
        commit = r["commit"][:10] or "(working)"
        print(f"{commit:<10}  {r['content'][:16]}  {r['files']:>6} files  "
              f"{human(int(r['bytes'] or 0)):>10}  {r.get('pinned', '')}  {r.get('by', '')}  "
              f"{r.get('message') or r['subject']}".rstrip())
    return EXIT_OK
