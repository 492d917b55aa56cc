"""PURE confirmation policy: (plan, the user's answers, the options) -> the approved
actions, conflicts resolved. ui/prompts.py asks the questions; nothing here touches a file,
a prompt or the clock (see docs/stages.md#confirm)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..core import model as m
from ..core.errors import MaxDeleteExceeded
from ..core.model import Answers, Plan  # noqa: F401 (Answers: what approve() takes)
from .plan import deletion_share, resolve


@dataclass(frozen=True)
class Policy:
    """How this run decides: ``ask`` when a person answers prompts; ``conflicts`` is
    ask | skip | local | remote | both."""

    yes: bool = False
    ask: bool = False
    conflicts: str = "skip"

    @classmethod
    def of(cls, *, yes: bool, dry_run: bool, interactive: bool,
           conflict: Optional[str]) -> "Policy":
        ask = interactive and not yes and not dry_run
        return cls(yes=yes or dry_run, ask=ask, conflicts=conflict or ("ask" if ask else "skip"))

    @property
    def decides(self) -> bool:
        """Whether this run can approve anything at all."""
        return self.yes or self.ask


class InUse:
    """The paths in use: those in any of ``sides`` (containers: a run passes its three
    states as they are, not a copy of a million names) and those this run gives out."""

    def __init__(self, *sides):
        self.sides, self.given = sides, set()

    def __contains__(self, path) -> bool:
        return path in self.given or any(path in side for side in self.sides)


def approve(plan: Plan, policy: Policy, answers: Answers, *, user: str, stamp: str,
            taken) -> tuple[list, int]:
    """(approved actions with conflicts resolved, number left unconfirmed). ``taken``:
    the paths in use (a container), which a keep-both name must avoid."""
    if not policy.decides or answers.declined:
        return [], len(plan.actions)
    others = [a for a in plan.actions if a.kind != m.CONFLICT]
    approved = list(others if policy.yes or answers.approved is None else answers.approved)
    if policy.conflicts in (m.KEEP_LOCAL, m.KEEP_REMOTE, m.BOTH):
        choices = {a.path: policy.conflicts for a in plan.of_kind(m.CONFLICT)}
    elif policy.conflicts == "ask":
        choices = dict(answers.resolutions)
    else:
        choices = {}
    names = InUse(taken)
    for a in plan.of_kind(m.CONFLICT):
        r = resolve(a, choices.get(a.path, m.SKIP), user=user, stamp=stamp, taken=names)
        if r is not None:
            approved.append(r)
            if r.conflict_path:
                names.given.add(r.conflict_path)
    return approved, len(plan.actions) - len(approved)


def guard_deletes(plan: Plan, local_n: int, remote_n: int, *, max_delete: float,
                  force: bool) -> None:
    """Stop (MaxDeleteExceeded) when the plan deletes more than ``max_delete`` percent of
    either side's files, unless ``force``."""
    if force:
        return
    pl, pr = deletion_share(plan.actions, local_n, remote_n)
    for side, pct, kind, total in (("local", pl, m.DELETE_LOCAL, local_n),
                                   ("remote", pr, m.DELETE_REMOTE, remote_n)):
        if pct > max_delete:
            raise MaxDeleteExceeded.of(side, len(plan.of_kind(kind)), total, pct, max_delete)
