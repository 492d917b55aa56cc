"""The history's commands on the command line: ``log``, ``restore``, ``tag``, ``tags``
(argparse wiring and what they print; the work is in api/history.py)."""
from __future__ import annotations

import json

from ..core.errors import EXIT_OK
from ..ui.text import human

COMMANDS = ("log", "restore", "tag", "tags", "prune")
VALUED = {"--since", "--author", "--at", "--version", "--checksum", "--tag", "--to", "-m",
          "--message", "--pin", "-n", "--max", "--keep-within", "--keep-last", "--grace"}

PRUNE_HELP = """\
Remove archived versions (the remote's .S3/archive/) beyond the retention, after listing
each one (file, version as `log` numbers it, when, who, size) and what is kept, and
asking. Never removed: a live version, a version a tag names, the last version of a
deleted file, an archived object the history does not list.

Safe while teammates sync: a version found removable is first marked, and removed by a
later prune once it has been marked for --grace minutes (default 60) and is still
removable then. --grace 0 removes at once: use it only when nobody else is syncing.

examples:
  s3sync-mirror prune --keep-within 90 --keep-last 5 --dry-run
  s3sync-mirror prune --keep-last 3 --yes"""

LOG_HELP = """\
Every version of each file, newest first, numbered (1 = the newest): when it was made, by
whom, its size and SHA-256, the event (added, modified, deleted, restored, moved) and where
its bytes are kept (live = the remote file now, archive = the remote's .S3/archive/,
trash = this clone's .S3/trash/). For a folder, or no path: the team's recent changes.

examples:
  s3sync-mirror log raw/a.csv              every version of one file
  s3sync-mirror log raw/ --since 7d        what changed under raw/ this week
  s3sync-mirror log --author bob --json    bob's changes, as JSON
  s3sync-mirror log raw/a.csv --stat       and what each version changed: rows, lines"""

RESTORE_HELP = """\
Bring back an earlier version into the data folder, as a local change: the current file
goes to .S3/trash/ first, and the next sync shares the restored version like any edit.
A deleted file needs no selector (its last version comes back); a folder (or .) is
restored as of --at TIME or --tag NAME. --to DIR writes the versions under DIR instead
and changes nothing in the data folder. Every byte is SHA-256 verified.

examples:
  s3sync-mirror restore raw/a.csv --version 2        the version before the newest
  s3sync-mirror restore raw/a.csv --at 2026-11-17    as it was on that day (UTC)
  s3sync-mirror restore raw/old.csv                  a deleted file, its last version
  s3sync-mirror restore . --tag v1.0 --to /tmp/v1    the whole folder as tagged, elsewhere
  s3sync-mirror restore . --pin HEAD~1 --to /tmp/d   the data the previous commit pinned"""


def add_commands(sub, common, fmt) -> None:
    p = sub.add_parser("log", parents=[common], formatter_class=fmt, help="every version "
                       "of the files: who, when, what", description=LOG_HELP)
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: all)")
    p.add_argument("--since", metavar="TIME", help="only versions made since TIME "
                   "(2026-11-20, 2026-11-20T14:30, or an age: 12h, 7d)")
    p.add_argument("--author", metavar="NAME", help="only versions made by NAME")
    p.add_argument("-n", "--max", type=int, default=None, metavar="N",
                   help="at most N versions, newest first (default: all of one file, 50 "
                        "for a folder; 0: all); --json too")
    p.add_argument("--stat", action="store_true", help="what each version changed against "
                   "the one before it: rows for a table, lines for text (reads the versions)")
    p.add_argument("--json", action="store_true", help='print {"versions": [...]}')
    p = sub.add_parser("restore", parents=[common], formatter_class=fmt,
                       help="bring back an earlier version", description=RESTORE_HELP)
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, metavar="N", help="version N of `log`")
    which.add_argument("--at", metavar="TIME", help="the version current at TIME (UTC)")
    which.add_argument("--checksum", metavar="HEX", help="the version with this SHA-256 "
                       "(a prefix will do)")
    which.add_argument("--tag", metavar="NAME", help="the version a tag names")
    which.add_argument("--pin", metavar="GITREV", help="the version the data was pinned at in "
                       "commit GITREV (s3sync_mirror.lock; `pins` lists them)")
    p.add_argument("--to", metavar="DIR", help="write under DIR; change nothing here")
    p = sub.add_parser("tag", parents=[common], help="freeze the remote's current state "
                       "under a name", description="Freeze the remote's current state as a "
                       "named manifest (.S3/tags/NAME.csv). Tagged versions are never pruned; "
                       "`restore . --tag NAME` brings them back.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-m", "--message", default="", help="why (shown by `tags`)")
    p = sub.add_parser("prune", parents=[common], formatter_class=fmt,
                       help="remove archived versions beyond a retention", description=PRUNE_HELP)
    p.add_argument("--keep-within", type=float, metavar="DAYS",
                   help="keep the versions replaced in the last DAYS days")
    p.add_argument("--keep-last", type=int, metavar="N",
                   help="keep the N newest replaced versions of each file, besides its live "
                        "one, which is always kept (so restic's --keep-last 1 is "
                        "--keep-last 0 here)")
    p.add_argument("--grace", type=float, default=60.0, metavar="MINUTES",
                   help="how long a version stays marked before a prune removes it")
    p.add_argument("-n", "--dry-run", action="store_true", help="show, change nothing")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")
    p = sub.add_parser("tags", parents=[common], help="list the tags",
                       description="List the tags: name, when, who, message, files.")
    p.add_argument("--json", action="store_true", help='print {"tags": [...]}')


def _delta(stats, v) -> str:
    from ..ui.changes import stat

    d = (stats or {}).get((v.path, v.version))
    return "" if d is None else f"  {d}" if isinstance(d, str) else f"  {stat(d)}"


def _limited(rows, single: bool, limit) -> list:
    """The rows ``-n`` keeps: N newest when given (0: all), else all of one file and 50 of
    a folder."""
    if limit is None:
        limit = 0 if single else 50
    return rows[:limit] if limit else rows


def _print_log(rows, single: bool, limit, stats=None) -> None:
    if not rows:
        print("No versions found.")
        return
    shown = _limited(rows, single, limit)
    for v in shown:
        what = f"{ljust(v.author or '?', 12)} {v.event:<9} {human(v.size):>10}  " \
               f"{v.checksum[:12]}  " \
               f"{v.where:<7}"
        print((f"v{v.version:<3} {v.time}  {what}" if single
              else f"{v.time}  {what}  {v.path} (v{v.version})").rstrip() + _delta(stats, v))
    if len(shown) < len(rows):
        hint = "" if single else ", or name a file"
        print(f"... {len(rows) - len(shown)} more (use -n 0 for all{hint})")


def dispatch(args) -> int:
    from ..api import history as histapi

    if args.command == "log":
        return _log(args, histapi)
    if args.command == "restore":
        done = histapi.restore(args.paths, ".", at=args.at, version=args.version,
                               checksum=args.checksum, tag=args.tag, to=args.to,
                               pin=args.pin, config=args.config)
        for d in done:
            kept = f" (the file it replaced is in {d['kept']})" if d["kept"] and \
                d["done"] == "restored" else f" -> {d['kept']}" if d["kept"] else ""
            print(f"{d['done']}: {d['path']} v{d['version']} {d['checksum'][:12]}{kept}")
        if any(d["done"] == "restored" for d in done):
            print("Run a sync to share the restored files with the team.")
        return EXIT_OK
    if args.command == "tag":
        n = histapi.tag(args.name, args.message, ".", config=args.config)
        print(f"tagged {n} files as {args.name}")
        return EXIT_OK
    if args.command == "prune":
        from .prune import prune

        return prune(args)
    rows = histapi.tags(".", config=args.config)
    if getattr(args, "json", False):
        print(json.dumps({"tags": rows}, ensure_ascii=False))
    for t in [] if getattr(args, "json", False) else rows:
        print(f"{ljust(t['name'], 20)} {t['time']}  {ljust(t['author'], 12)} "
              f"{t['files']:>7} files  "
              f"{t['message']}")
    return EXIT_OK


def _log(args, histapi) -> int:
    stats = None
    if args.stat:
        rows, stats = histapi.versions_with_deltas(".", args.paths, args.since, args.author,
                                                   args.config, args.max or 0)
    else:
        rows = histapi.versions_of(".", args.paths, args.since, args.author, args.config)
    if args.json:
        kept = rows if args.max is None else _limited(rows, False, args.max)
        out = [v.as_json() for v in kept]
        for row, v in zip(out, kept) if stats is not None else ():
            d = stats.get((v.path, v.version))
            row["stat"] = None if d is None else {"error": d} if isinstance(d, str) \
                else d.summary
        print(json.dumps({"versions": out}, ensure_ascii=False))
    else:
        _print_log(rows, len({v.path for v in rows}) == 1, args.max, stats)
    return EXIT_OK


def ljust(text: str, cells: int) -> str:
    from ..ui.cells import ljust as padded

    return padded(text, cells)
