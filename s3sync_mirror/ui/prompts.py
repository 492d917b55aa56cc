"""Confirm: the prompts take the plan in and give the user's choices out, as data.

After the plan table (printed by sync.py), one question for the whole plan, answered with
one keystroke (Enter = yes)::

    Apply this plan? [Y]es / [n]o / [c]hoose by group / [d]etails

``d`` lists every action with its reason and both sides' sizes, times and editors, then
asks again; ``c`` asks group by group as the original tool did (deletions, new files,
modified files: [a]ll / [c]hoose each / [n]one, Enter = none), choosing walking the
group's files one key each with nothing preselected; ``n`` approves nothing. Every prompt
is a single key (``yes_no`` too, for ``reset`` and ``prune``). Then each conflict on
its own, with letter keys: ``l`` keep local, ``r`` keep remote, ``b`` keep both (only when
both versions exist), ``s`` skip (Enter), ``d`` diff; a capital L/R/B/S gives the same
answer to this conflict and every remaining one. Ctrl-C at any prompt raises ``Aborted``:
nothing is carried out. Nothing here writes a file; ``d`` reads the local file and fetches
the remote version through the callable it is given (ui/diffview.py).
"""
from __future__ import annotations

import sys
import time
from typing import Optional

from ..core import model as m
from ..core.clock import ns_from_iso
from .report import human

GROUPS = (
    (m.DELETE_LOCAL, "deleted", "Deleted on the remote: delete locally (kept in .S3/trash/)"),
    (m.DELETE_REMOTE, "deleted", "Deleted here: delete on the remote (kept in its .S3/archive/)"),
    (m.UPLOAD, "new", "New here: upload"),
    (m.DOWNLOAD, "new", "New on the remote: download"),
    (m.UPLOAD, "modified", "Changed here: upload (the remote copy is archived)"),
    (m.DOWNLOAD, "modified", "Changed on the remote: download (the local copy goes to trash)"),
    (m.MOVE_REMOTE, "moved", "Moved here: move on the remote (nothing sent; the old path "
                             "archived)"),
    (m.MOVE_LOCAL, "moved", "Moved on the remote: move here (nothing downloaded; the old "
                            "path to trash)"),
)
OTHERS = "Other changes"  # any action no group above takes (none today): asked all the same

ALL, CHOOSE, NONE = "all", "choose", "none"
YES, NO, GROUPED, DETAILS, DIFF = "yes", "no", "grouped", "details", "diff"

PLAN_QUESTION = "Apply this plan? [Y]es / [n]o / [c]hoose by group / [d]etails "
ALL_REMAINING = "L/R/B/S: the same for all remaining conflicts"

_VERB = {m.UPLOAD: "upload", m.DOWNLOAD: "download", m.DELETE_REMOTE: "delete on the remote",
         m.DELETE_LOCAL: "delete locally", m.MOVE_REMOTE: "move on the remote",
         m.MOVE_LOCAL: "move locally", m.CONFLICT: "conflict"}
_CHOSEN = {m.KEEP_LOCAL: "keep local", m.KEEP_REMOTE: "keep remote", m.BOTH: "keep both",
           m.SKIP: "skip"}


class Aborted(KeyboardInterrupt):
    """The user pressed Ctrl-C at a prompt: nothing is carried out."""


def _io(input, output) -> dict:
    """prompt_toolkit's input and output, when given (tests drive the prompts for real)."""
    if input is None and output is None:
        return {}
    return {"input": input, "output": output}


def _say(text: str = "") -> None:
    print(text, flush=True)


def keystroke(message: str, keys, default, *, input=None, output=None):
    """Ask ``message`` and return on a single keystroke. ``keys``: (characters, value,
    word) triples: any of the characters gives the value, and the word is shown after
    the question; Enter gives ``default``'s value. Other keys are ignored. Ctrl-C (and
    Ctrl-D) raise Aborted."""
    from prompt_toolkit.application import Application
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.layout import Layout
    from prompt_toolkit.layout.containers import Window
    from prompt_toolkit.layout.controls import FormattedTextControl

    chosen: list = []
    kb = KeyBindings()

    def bind(key: str, value, word: str) -> None:
        @kb.add(key)
        def _(event):
            chosen.append(word)
            event.app.exit(result=value)

    words = {}
    for chars, value, word in keys:
        words[value] = word
        for ch in chars:
            bind(ch, value, word)
    bind("enter", default, words[default])

    @kb.add("c-c")
    @kb.add("c-d")
    def _(event):
        event.app.exit(exception=Aborted())

    def text():
        shown = [("bold", message)]
        if chosen:
            shown.append(("", chosen[0]))
        return shown

    app = Application(layout=Layout(Window(FormattedTextControl(text, show_cursor=True),
                                           dont_extend_height=True, wrap_lines=True)),
                      key_bindings=kb, full_screen=False, **_io(input, output))
    return app.run()


# -- how a file stands on each side ------------------------------------------------------
def _local_time(ns) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ns // 1_000_000_000))


def side_text(action, where: str) -> str:
    """``local:  1.2 KiB, edited 2026-11-21 15:03:05 CET by you``: a side's size, when it
    was edited (your local time) and by whom; ``deleted`` or ``not there`` without one.
    The local side is the file on disk: its mtime, and "you" unless it is unchanged since
    the last sync (then the editor the baseline records)."""
    side = action.local if where == "local" else action.remote
    label = f"{where}:".ljust(8)
    if side is None:
        return label + ("deleted" if action.base is not None else "not there")
    base = action.base
    if where == "local":
        ns = side.mtime_ns if side.mtime_ns >= 0 else ns_from_iso(side.time_edited)
        unchanged = base is not None and base.checksum == side.checksum and base.edited_by
        # no baseline, but the history knows this version (history/known.py): its author
        known = base is None and side.edited_by
        who = base.edited_by if unchanged else side.edited_by if known else "you"
    else:
        ns = ns_from_iso(side.time_edited)
        who = side.edited_by
    when = _local_time(ns) if ns is not None else side.time_edited
    return label + human(side.size) + (f", edited {when}" if when else "") \
        + (f" by {who}" if who else "")


def detail_lines(actions) -> list[str]:
    """Every action, with its reason and both sides (the [d]etails answer)."""
    lines = []
    for a in actions:
        lines.append(f"  {_VERB.get(a.kind, a.kind)}: {a.path}")
        lines.append(f"      why:    {a.reason}")
        lines.append(f"      {side_text(a, 'local')}")
        lines.append(f"      {side_text(a, 'remote')}")
    return lines


# -- the whole plan ----------------------------------------------------------------------
def confirm_plan(actions, *, input=None, output=None) -> str:
    """One keystroke for the whole plan: YES (also Enter), NO, GROUPED; DETAILS lists
    ``actions`` and asks again."""
    keys = (("yY", YES, "yes"), ("nN", NO, "no"), ("cC", GROUPED, "choose by group"),
            ("dD", DETAILS, "details"))
    while True:
        answer = keystroke(PLAN_QUESTION, keys, YES, input=input, output=output)
        if answer != DETAILS:
            return answer
        for line in detail_lines(actions):
            _say(line)


def group_question(title: str, n: int) -> str:
    return f"{title}: {n} file{'s' if n != 1 else ''}? [a]ll / [c]hoose each / [n]one (Enter) "


def file_question(a) -> str:
    size = f", {human(_size(a))}" if _size(a) else ""
    return (f"  {a.path} ({_VERB.get(a.kind, a.kind)}{size}: {a.reason})? [y]es / [n]o "
            f"(Enter) (Y/N: the same for the rest of this group) ")


def _size(a) -> int:
    side = a.local if a.kind in (m.UPLOAD, m.DELETE_REMOTE, m.MOVE_REMOTE) else a.remote
    side = side or a.local or a.remote
    return side.size if side is not None else 0


def choose_groups(actions, *, input=None, output=None) -> tuple[list, list]:
    """Ask group by group, with single keys: all, choose each file, or none (Enter);
    choosing walks the group's files one key each, nothing preselected (Enter = no; a
    capital Y or N answers the rest of the group). Returns (approved, declined)
    non-conflict actions."""
    io = {"input": input, "output": output}
    approved, declined = [], []
    groups = [(title, [a for a in actions if a.kind == kind and a.category == category])
              for kind, category, title in GROUPS]
    grouped = {id(a) for _, group in groups for a in group}
    groups.append((OTHERS, [a for a in actions if id(a) not in grouped]))
    group_keys = (("aA", ALL, "all"), ("cC", CHOOSE, "choose each"), ("nN", NONE, "none"))
    file_keys = (("y", (True, False), "yes"), ("n", (False, False), "no"),
                 ("Y", (True, True), "yes, and to the rest of this group"),
                 ("N", (False, True), "no, and to the rest of this group"))
    for title, group in groups:
        if not group:
            continue
        answer = keystroke(group_question(title, len(group)), group_keys, NONE, **io)
        if answer != CHOOSE:
            (approved if answer == ALL else declined).extend(group)
            continue
        rest = None
        for a in group:
            if rest is None:
                take, every = keystroke(file_question(a), file_keys, (False, False), **io)
                if every:
                    rest = take
            else:
                take = rest
            (approved if take else declined).append(a)
    return approved, declined


# -- conflicts ---------------------------------------------------------------------------
def _both_name(path: str) -> str:
    """``s.conflict-<you>-<UTC time>.csv``: the name keep-both gives the local version."""
    base = path.rpartition("/")[2]
    stem, dot, ext = base.rpartition(".")
    if not stem:
        stem, dot, ext = base, "", ""
    return f"{stem}.conflict-<you>-<UTC time>{dot}{ext}"


def conflict_options(a) -> list[tuple[str, str, str]]:
    """(key, resolution, what it does) for one conflict, worded for its case."""
    if a.local is not None and a.remote is not None:
        return [
            ("l", m.KEEP_LOCAL, "keep local:  upload yours (the remote version is archived "
                                "in .S3/archive/)"),
            ("r", m.KEEP_REMOTE, "keep remote: download it (yours goes to .S3/trash/)"),
            ("b", m.BOTH, "keep both:   the remote version keeps the name; yours is renamed "
                          f"{_both_name(a.path)}, on both sides"),
            ("s", m.SKIP, "skip:        change nothing now; the next sync asks again")]
    if a.local is not None:  # changed here, deleted on the remote
        local = ("keep local:  upload it again (the remote had deleted it; nothing to "
                 "archive)")
        remote = "keep remote: delete it here (moved to .S3/trash/)"
    else:  # deleted here, changed on the remote
        local = ("keep local:  delete it on the remote too (the remote version is archived "
                 "in .S3/archive/)")
        remote = "keep remote: download it again (nothing here to trash)"
    return [("l", m.KEEP_LOCAL, local), ("r", m.KEEP_REMOTE, remote),
            ("s", m.SKIP, "skip:        change nothing now; the next sync asks again")]


def conflict_question(a, remaining: int) -> str:
    """The question line of one conflict; ``remaining``: conflicts after this one."""
    both = a.local is not None and a.remote is not None
    text = f"{a.path}: keep [l]ocal / [r]emote / " + ("[b]oth / " if both else "") \
        + "[s]kip (Enter) / [d]iff?"
    if remaining:
        text += " (" + (ALL_REMAINING if both else ALL_REMAINING.replace("B/", "")) + ")"
    return text + " "


def choose_conflicts(conflicts, *, input=None, output=None, data_dir=None,
                     fetch_remote=None, tables=None) -> dict:
    """Ask about each conflict, one by one. Returns {path: resolution}. A capital letter
    answers this conflict and every remaining one the same way (B: every remaining one
    where both versions exist; the others are still asked). ``data_dir`` and
    ``fetch_remote(path) -> bytes | None`` give [d]iff the two versions."""
    from .diffview import conflict_diff

    out: dict = {}
    for_all = None
    n = len(conflicts)
    for i, a in enumerate(conflicts, 1):
        both = a.local is not None and a.remote is not None
        if for_all is not None and (for_all != m.BOTH or both):
            out[a.path] = for_all
            _say(f"Conflict {i} of {n}: {a.path}: {_CHOSEN[for_all]} "
                 f"(as chosen for all remaining)")
            continue
        _say(f"Conflict {i} of {n}: {a.path}")
        _say(f"  {a.reason}")
        _say(f"  {side_text(a, 'local')}")
        _say(f"  {side_text(a, 'remote')}")
        options = conflict_options(a)
        for key, _, what in options:
            _say(f"  [{key}] {what}")
        _say("  [d] diff:        show what differs (tables: rows; text: lines)")
        keys = [(key, (res, False), _CHOSEN[res]) for key, res, _ in options]
        keys += [(key.upper(), (res, True), f"{_CHOSEN[res]}, and for all remaining")
                 for key, res, _ in options]
        keys.append(("d", DIFF, "diff"))
        while True:
            answer = keystroke(conflict_question(a, n - i), keys, (m.SKIP, False),
                               input=input, output=output)
            if answer != DIFF:
                break
            for line in conflict_diff(a, data_dir, fetch_remote, tables):
                _say(line)
        resolution, every = answer
        out[a.path] = resolution
        if every:
            for_all = resolution
    return out


def ask(plan, policy, prompt_io=None, *, data_dir=None, fetch_remote=None, tables=None):
    """Ask about the plan: one question for the whole of it, then each conflict when the
    policy says ask. Returns the answers for confirm.approve. ``data_dir`` (the local data
    folder) and ``fetch_remote(path) -> bytes | None`` serve the conflicts' [d]iff;
    ``tables`` adds a table's row changes to it."""
    from ..core.model import Answers

    kw = _io(*prompt_io) if prompt_io else {}
    others = [a for a in plan.actions if a.kind != m.CONFLICT]
    conflicts = plan.of_kind(m.CONFLICT)
    asked = conflicts if policy.conflicts == "ask" else []
    forced = conflicts if policy.conflicts in (m.KEEP_LOCAL, m.KEEP_REMOTE, m.BOTH) else []
    approved: list = []
    if others or forced:
        if asked:
            n = len(asked)
            which = f"each of the {n} conflicts" if n != 1 else "the conflict"
            _say(f"After this, {which} is asked on its own.")
        if forced:
            _say(f"The {len(forced)} conflict(s) are resolved by --conflict "
                 f"{policy.conflicts} unless you answer no.")
        answer = confirm_plan(plan.actions, **kw)
        if answer == NO:
            return Answers((), {}, declined=True)
        approved = others if answer == YES else choose_groups(others, **kw)[0]
    resolutions = choose_conflicts(asked, data_dir=data_dir, fetch_remote=fetch_remote,
                                   tables=tables, **kw) if asked else {}
    return Answers(tuple(approved), resolutions)


def yes_no(question: str, *, yes: bool = False, refused: str = "",
           prompt_io: Optional[tuple] = None) -> bool:
    """The one yes/no question (``reset``, ``prune``): True with ``yes``; without a terminal
    it does not ask, prints ``refused`` (what was not done and the flag that does it) and
    answers no; else ``question [y]es / [N]o``, one key, Enter = no (nothing is removed
    unless asked). ``prompt_io`` = (input, output) for tests."""
    if yes:
        return True
    if prompt_io is None and not sys.stdin.isatty():
        print(refused or "No terminal to confirm on: nothing was done (pass --yes).")
        return False
    kw = {"input": prompt_io[0], "output": prompt_io[1]} if prompt_io else {}
    keys = (("yY", True, "yes"), ("nN", False, "no"))
    return keystroke(f"{question} [y]es / [N]o ", keys, False, **kw)
