"""The words after a run: what was done (with the time the transfers took and their
rate), what was left and why, what failed, and with ``-v`` every action's outcome."""
from __future__ import annotations

import sys

from ..core import model as m
from .report import action_size, counts_text, human, write

_OUTCOME = {m.UPLOAD: "uploaded", m.DOWNLOAD: "downloaded", m.DELETE_REMOTE: "deleted on remote",
            m.DELETE_LOCAL: "deleted locally", m.KEEP_BOTH: "kept both",
            m.MOVE_REMOTE: "moved on remote", m.MOVE_LOCAL: "moved locally"}


def _rate(nbytes: int, seconds: float) -> str:
    if not nbytes or seconds <= 0:
        return ""
    return f" ({human(int(nbytes / seconds))}/s)"


def _left(result) -> list:
    """(action, why) for each planned action that was not carried out."""
    seen = {o.action.path for o in result.outcomes}
    out = []
    for a in result.plan.actions:
        if a.path in seen:
            continue
        if a.kind == m.CONFLICT:
            why = ("conflict not resolved: choose with --conflict local|remote|both, or run "
                   "in a terminal to decide" if result.unattended else "conflict skipped: "
                   "decide it in a later run")
        else:
            why = "interrupted: run again to finish" if result.interrupted \
                else "not confirmed: run again to decide, or --yes to apply it"
        out.append((a, why))
    out += [(o.action, "interrupted: run again to finish") for o in result.outcomes
            if o.status == m.SKIPPED]
    return out


def _unsent(done) -> str:
    """`` (2 sent nothing: the content was already there, copied in place)``: the uploads
    and downloads carried out by a copy on the remote or here, so the bytes add up."""
    n = sum(1 for o in done if o.action.kind in (m.UPLOAD, m.DOWNLOAD)
            and not o.action.resolution and not o.transferred and action_size(o.action) > 0)
    return f" ({n} sent nothing: the content was already there, copied in place)" if n \
        else ""


LISTED = 5  # up to this many actions left for one reason are named; more are counted


def left_lines(left, verbose: bool) -> list[str]:
    """What was left, by reason: each path when there are few (or with ``verbose``), else
    one line with the count, never a wall of lines."""
    by_why: dict = {}
    for a, why in left:
        by_why.setdefault(why, []).append(a)
    lines = []
    for why, actions in by_why.items():
        if verbose or len(actions) <= LISTED:
            lines += [f"  left: {a.path}: {why}" for a in actions]
        else:
            lines.append(f"  left: {len(actions):,} files: {why} (-v lists them)")
    return lines


def outcome_lines(result, verbose: bool) -> list[str]:
    """One line per action: with ``verbose`` all of them, else the ones a user must see
    (a kept-both copy's new name)."""
    lines = []
    for o in result.outcomes:
        a = o.action
        if o.status != m.DONE:
            continue
        if a.conflict_path:
            lines.append(f"  kept both: {a.path} (yours is now {a.conflict_path}, on both "
                         f"sides)")
        elif verbose:
            resolved = f" (conflict: kept {a.resolution})" if a.resolution else ""
            size = f", {human(o.transferred)}" if o.transferred else ""
            lines.append(f"  {_OUTCOME[a.kind]:<18} {a.path}{resolved}{size}")
    return lines


def say_summary(out, result, verbose: bool = False) -> None:
    """The lines after a sync that got to carry anything out."""
    done = [o for o in result.outcomes if o.status == m.DONE]
    left = _left(result)
    if not result.outcomes and not left and not result.plan.problems:
        out.say("Everything is in sync.")
        return
    verbs: dict = {}
    for o in done:
        verbs[o.action.shown_kind] = verbs.get(o.action.shown_kind, 0) + 1
    moved = sum(o.transferred for o in done)
    if done or result.failed:
        out.say(f"Done: {counts_text(verbs, done=True)}{_unsent(done)}; {human(moved)} in "
                f"{result.transfer_seconds:.2f} s{_rate(moved, result.transfer_seconds)}.")
    else:
        out.say("Nothing done.")
    for line in outcome_lines(result, verbose):
        out.say(line)
    for line in left_lines(left, verbose):
        out.say(line)
    for e in [o.error for o in result.outcomes if o.status == m.FAILED] + \
            [a.reason for a in result.plan.problems if a.category == "error"]:
        write(f"failed: {e}", sys.stderr)
    if result.plan.problems:
        out.say(f"{len(result.plan.problems)} file(s) left alone (see the reasons above).")
    if result.failed:
        out.say(f"{result.failed} file(s) failed; the rest is recorded. Run again to retry "
                f"them.")
