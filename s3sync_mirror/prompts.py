"""Confirm: questionary prompts take the plan in and give the user's choices out, as data.

Groups as in the original tool (deletions, new files, modified files), each with
all / choose / none; then each conflict on its own: keep local, keep remote, keep both,
skip. Nothing here touches a file.
"""
from __future__ import annotations

from . import model as m
from .report import human

GROUPS = (
    (m.DELETE_LOCAL, "deleted", "Deleted on the remote: delete locally (kept in .S3/trash/)"),
    (m.DELETE_REMOTE, "deleted", "Deleted here: delete on the remote (kept in its .S3/deleted/)"),
    (m.UPLOAD, "new", "New here: upload"),
    (m.DOWNLOAD, "new", "New on the remote: download"),
    (m.UPLOAD, "modified", "Changed here: upload (the remote copy is archived)"),
    (m.DOWNLOAD, "modified", "Changed on the remote: download (the local copy goes to trash)"),
)

ALL, CHOOSE, NONE = "all", "choose", "none"


class Aborted(KeyboardInterrupt):
    """The user pressed Ctrl-C at a prompt: nothing is carried out."""


def _ask(question):
    answer = question.ask()
    if answer is None:
        raise Aborted()
    return answer


def _io(input, output) -> dict:
    """prompt_toolkit's input and output, when given (tests drive the prompts for real)."""
    if input is None and output is None:
        return {}
    return {"input": input, "output": output}


def _describe(side, label: str) -> str:
    if side is None:
        return f"{label}: deleted"
    who = f" by {side.edited_by}" if side.edited_by else ""
    when = f", {side.time_edited}" if side.time_edited else ""
    return f"{label}: {human(side.size)}{when}{who}"


def choose_groups(actions, *, input=None, output=None) -> tuple[list, list]:
    """Ask group by group. Returns (approved, declined) non-conflict actions."""
    import questionary

    kw = _io(input, output)
    approved, declined = [], []
    for kind, category, title in GROUPS:
        group = [a for a in actions if a.kind == kind and a.category == category]
        if not group:
            continue
        n = len(group)
        answer = _ask(questionary.select(
            f"{title}: {n} file{'s' if n != 1 else ''}?",
            choices=[questionary.Choice("all", ALL), questionary.Choice("choose files", CHOOSE),
                     questionary.Choice("none", NONE)], **kw))
        if answer == ALL:
            approved.extend(group)
        elif answer == NONE:
            declined.extend(group)
        else:
            picked = set(_ask(questionary.checkbox(
                f"{title}: pick with space, confirm with enter",
                choices=[questionary.Choice(a.path, a.path, checked=True) for a in group],
                **kw)))
            for a in group:
                (approved if a.path in picked else declined).append(a)
    return approved, declined


def choose_conflicts(conflicts, *, input=None, output=None) -> dict:
    """Ask about each conflict. Returns {path: resolution}."""
    import questionary

    kw = _io(input, output)
    out = {}
    for a in conflicts:
        local_label = "keep local (upload it; the remote copy is archived)" if a.local \
            else "keep local: delete it on the remote (archived)"
        remote_label = "keep remote (download it; the local copy goes to trash)" if a.remote \
            else "keep remote: delete it here (moved to trash)"
        choices = [questionary.Choice(local_label, m.KEEP_LOCAL),
                   questionary.Choice(remote_label, m.KEEP_REMOTE)]
        if a.local is not None and a.remote is not None:
            choices.append(questionary.Choice(
                "keep both (the local one is renamed .conflict-..., on both sides)", m.BOTH))
        choices.append(questionary.Choice("skip (decide later)", m.SKIP))
        out[a.path] = _ask(questionary.select(
            f"Conflict: {a.path}\n  {a.reason}\n  {_describe(a.local, 'local')}\n"
            f"  {_describe(a.remote, 'remote')}\n  Which version wins?", choices=choices, **kw))
    return out


def ask(plan, policy, prompt_io=None):
    """Ask about the plan: the groups, then each conflict when the policy says ask.
    Returns the answers for confirm.approve."""
    from .confirm import Answers

    kw = _io(*prompt_io) if prompt_io else {}
    others = [a for a in plan.actions if a.kind != m.CONFLICT]
    approved, _ = choose_groups(others, **kw)
    conflicts = plan.of_kind(m.CONFLICT)
    resolutions = choose_conflicts(conflicts, **kw) \
        if policy.conflicts == "ask" and conflicts else {}
    return Answers(tuple(approved), resolutions)
