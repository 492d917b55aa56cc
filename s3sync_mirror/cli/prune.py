"""``prune`` on the command line: show, ask, remove (the rules are in history/prune.py)."""
from __future__ import annotations

from ..history import prune as pruning
from ..config import load_settings
from ..core.errors import EXIT_OK, EXIT_UNCONFIRMED, UsageError
from ..ui.prompts import yes_no
from ..ui.text import human
from ..session import open_session


def _ask(args) -> bool:
    return yes_no("Remove them?", yes=args.yes, refused="No terminal to confirm on: nothing "
                  "was removed (pass --yes to prune).")

LISTED = 200  # versions named one by one; beyond, a count


def _listing(p, args) -> list[str]:
    """Each version the prune would remove or mark (path, version as `log` numbers it,
    when, who, size), then what is kept and why."""
    lines = []
    for title, keys in (("To remove now", p.remove),
                        (f"To mark now, for a prune after {args.grace:g} minutes to remove",
                         p.mark)):
        rows = []
        for key in sorted(keys):
            for v in pruning.held_by(p, key) or [None]:
                rows.append(f"  {key}  {human(keys[key]):>10}" if v is None else
                            f"  {v.path} v{v.version}  {v.time}  {v.author or '?'}  "
                            f"{human(v.size):>10}")
        if rows:
            lines.append(f"{title} ({len(rows)}):")
            lines += rows[:LISTED] + ([f"  ... and {len(rows) - LISTED} more"]
                                      if len(rows) > LISTED else [])
    lines.append("Kept:")
    kept = ["every live version", "every version a tag names",
            "the last version of each deleted file"]
    if args.keep_last is not None:
        kept.append(f"the {args.keep_last} newest replaced version(s) of each file, on top "
                    f"of its live one (--keep-last counts the replaced versions only)")
    if args.keep_within is not None:
        kept.append(f"the versions replaced in the last {args.keep_within:g} days")
    lines += [f"  {k}" for k in kept]
    return lines


def prune(args) -> int:
    if args.keep_within is None and args.keep_last is None:
        raise UsageError("say what to keep: --keep-within DAYS and/or --keep-last N (see "
                         "prune --help)")
    if (args.keep_last or 0) < 0 or (args.keep_within or 0) < 0 or args.grace < 0:
        raise UsageError("--keep-within, --keep-last and --grace take numbers >= 0")
    with open_session(load_settings(".", args.config), writes=False) as s:
        p = pruning.plan(s, args.keep_last, args.keep_within, args.grace * 60)
        for line in _listing(p, args):
            print(line)
        print(f"{len(p.remove)} archived versions to remove now ({human(sum(p.remove.values()))}"
              f"); {len(p.mark)} to mark for a later prune ({human(sum(p.mark.values()))}); "
              f"{p.kept} kept.")
        if args.dry_run or not (p.remove or p.mark):
            return EXIT_OK
        if not _ask(args):
            return EXIT_UNCONFIRMED
        # Look again: a teammate may have synced while the question was open.
        again = pruning.plan(s, args.keep_last, args.keep_within, args.grace * 60)
        p = pruning.Plan({k: n for k, n in again.remove.items() if k in p.remove},
                         again.mark, again.kept)
        freed = pruning.carry_out(s, p)
    print(f"Removed {len(p.remove)} archived versions ({human(freed)}).")
    if p.mark:
        print(f"Marked {len(p.mark)}: a prune after {args.grace:g} minutes removes those "
              f"still removable then.")
    return EXIT_OK
