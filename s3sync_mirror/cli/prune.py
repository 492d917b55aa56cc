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


def prune(args) -> int:
    if args.keep_within is None and args.keep_last is None:
        raise UsageError("say what to keep: --keep-within DAYS and/or --keep-last N (see "
                         "prune --help)")
    if (args.keep_last or 0) < 0 or (args.keep_within or 0) < 0 or args.grace < 0:
        raise UsageError("--keep-within, --keep-last and --grace take numbers >= 0")
    with open_session(load_settings(".", args.config), writes=False) as s:
        p = pruning.plan(s, args.keep_last, args.keep_within, args.grace * 60)
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
