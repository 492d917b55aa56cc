"""Values the stages pass to each other: file states, actions, plans, outcomes. No I/O."""
from __future__ import annotations

from .records import dataclass, field, replace
from typing import NamedTuple, Optional

# What the user sees and confirms (docs/interface.md#json-output: "action").
UPLOAD = "upload"
DOWNLOAD = "download"
DELETE_REMOTE = "delete_remote"
DELETE_LOCAL = "delete_local"
MOVE_REMOTE = "move_remote"  # renamed here: renamed on the remote by a server-side copy
MOVE_LOCAL = "move_local"  # renamed on the remote: renamed here, nothing downloaded
CONFLICT = "conflict"
VISIBLE_KINDS = (UPLOAD, DOWNLOAD, MOVE_REMOTE, MOVE_LOCAL, DELETE_REMOTE, DELETE_LOCAL,
                 CONFLICT)

# Bookkeeping the planner also decides, applied to the baseline without asking.
RECORD = "record"  # both sides hold the same content: the baseline learns it
FORGET = "forget"  # gone on both sides: the baseline drops it
KEEP_BOTH = "keep_both"  # a conflict resolved by keeping both versions

# Outcome of one action (docs/interface.md#json-output: "status").
PLANNED = "planned"
DONE = "done"
SKIPPED = "skipped"
FAILED = "failed"

# Conflict resolutions (``--conflict`` and the per-file prompt).
KEEP_LOCAL = "local"
KEEP_REMOTE = "remote"
BOTH = "both"
SKIP = "skip"
RESOLUTIONS = (KEEP_LOCAL, KEEP_REMOTE, BOTH, SKIP)


class FileState(NamedTuple):
    """One file's content and bookkeeping, as one row of a state CSV.

    A NamedTuple rather than a dataclass: 100,000 of these are built on every run,
    and a tuple is several times cheaper to make while being just as immutable.
    """

    checksum: str  # lowercase hex SHA-256
    size: int
    edited_by: str = ""
    time_edited: str = ""  # ISO 8601 UTC, second precision
    mtime_ns: int = -1  # the file's mtime; locally the hash cache's key (-1: do not trust)
    etag: str = ""  # remote only: the object's version token for conditional writes
    node: tuple = ()  # local only: (ctime_ns, inode, device), with size and mtime the
    #                   signature that lets the scan skip hashing (as git's index does)

    @classmethod
    def scanned(cls, checksum: str, size: int, mtime_ns: int, node: tuple = ()) -> "FileState":
        """A file as the scan found it on disk."""
        return cls(checksum, size, "", "", mtime_ns, "", node)

    @classmethod
    def listed(cls, checksum: str, size: int, modified: str, etag: str) -> "FileState":
        """An object as a listing of the remote found it (no editor known)."""
        return cls(checksum, size, "", modified, -1, etag)

    @classmethod
    def sent(cls, local: "FileState", user: str, etag: str, st=None) -> "FileState":
        """What an upload of ``local`` by ``user`` recorded: with the file's stat ``st``
        (where it is now) for the baseline, without for the remote state."""
        from .clock import iso_from_ns

        out = cls(local.checksum, local.size, user, iso_from_ns(local.mtime_ns),
                  local.mtime_ns, etag)
        return out if st is None else out.on_disk(st)

    def on_disk(self, st) -> "FileState":
        """This content, as the file with stat ``st`` holds it (the baseline's record)."""
        return self._replace(mtime_ns=st.st_mtime_ns,
                             node=(st.st_ctime_ns, st.st_ino, st.st_dev))

    def same_file(self, other: "FileState") -> bool:
        """Whether two records describe the same file untouched: size, mtime, ctime, inode
        and device all equal (and known)."""
        return self.mtime_ns != -1 and bool(self.node) and self.size == other.size \
            and self.mtime_ns == other.mtime_ns and self.node == other.node


@dataclass(frozen=True)
class Answers:
    """What the user said: the non-conflict actions approved at the prompts (None when
    nobody was asked) and a resolution per conflict path. ``declined``: the user answered
    "no" to the whole plan: nothing is approved, not even the conflicts a ``--conflict``
    local/remote/both policy would otherwise resolve."""

    approved: Optional[tuple] = None
    resolutions: dict = field(default_factory=dict)
    declined: bool = False


@dataclass(frozen=True)
class Action:
    """One decision of the planner about one path."""

    path: str
    kind: str
    reason: str
    category: str = ""  # "new" | "modified" | "deleted" | "" : how prompts group it
    base: Optional[FileState] = None
    local: Optional[FileState] = None
    remote: Optional[FileState] = None
    # Set once a conflict is resolved: the resolution, and for "keep both" the new name.
    resolution: str = ""
    conflict_path: str = ""
    # A move: the old path, and its state on the side the move starts from (the remote's
    # for move_remote, this clone's for move_local).
    moved_from: str = ""
    from_state: Optional[FileState] = None

    @property
    def shown_kind(self) -> str:
        """The kind reported to the user: a resolved conflict is still a conflict."""
        return CONFLICT if self.resolution else self.kind

    def with_(self, **changes) -> "Action":
        return replace(self, **changes)


@dataclass(frozen=True)
class Plan:
    """What a sync would do: visible actions (to confirm), baseline bookkeeping, and
    problems: paths that must not be acted on this run (shown as unresolvable conflicts)."""

    actions: tuple = ()
    records: tuple = ()
    problems: tuple = ()

    def of_kind(self, *kinds: str) -> list:
        return [a for a in self.actions if a.kind in kinds]

    def counts(self) -> dict:
        out = {k: 0 for k in VISIBLE_KINDS}
        for a in (*self.actions, *self.problems):
            out[a.shown_kind] += 1
        return out

    @property
    def empty(self) -> bool:
        return not self.actions and not self.problems


@dataclass(frozen=True)
class Outcome:
    """What happened to one action. ``local_state``/``remote_state`` are the states to
    record for ``path`` (and ``extra`` for a keep-both copy) when it is done."""

    action: Action
    status: str
    error: str = ""
    local_state: Optional[FileState] = None
    remote_state: Optional[FileState] = None
    extra: tuple = field(default=())  # ((path, local_state, remote_state), ...)
    archived_as: str = ""
    retryable: bool = False  # failed only because a side changed during the run: re-plan
    transferred: int = 0  # bytes actually moved (0 when a killed run's upload was adopted)
    observed: tuple = ()  # (FileState or None,): the remote object as it really is, when
    #                       it turned out not to be what the state said

    def as_json(self) -> dict:
        a = self.action
        out = {"path": a.path, "action": a.shown_kind, "reason": a.reason, "status": self.status}
        if a.resolution:
            out["resolution"] = a.resolution
        if a.conflict_path:
            out["conflict_path"] = a.conflict_path
        if self.error:
            out["error"] = self.error
        if self.transferred:
            out["bytes"] = self.transferred
        return out


@dataclass
class SyncResult:
    """What a run planned and what became of each action (``ui/report.py`` renders it)."""

    plan: Plan
    outcomes: list = field(default_factory=list)
    exit_code: int = 0
    warnings: list = field(default_factory=list)
    remote: str = ""
    elapsed: float = 0.0
    mode: str = "sync"  # sync | status | dry-run
    interrupted: bool = False
    transfer_seconds: float = 0.0  # carrying out and recording (prompts not included)
    unattended: bool = True  # nobody answered prompts (--yes, or no terminal)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if o.status == FAILED)

    @property
    def left(self) -> int:
        """Planned actions neither done nor failed: unconfirmed, skipped, interrupted."""
        done = sum(1 for o in self.outcomes if o.status == DONE)
        return len(self.plan.actions) - done - self.failed

    def settle(self) -> None:
        """Set the exit code from the outcomes: 1 when anything failed, 3 when anything
        was left undecided, else 0 (docs/stages.md#exit-codes)."""
        if self.failed or any(a.category == "error" for a in self.plan.problems):
            self.exit_code = 1
        elif self.left or self.plan.problems:
            self.exit_code = 3

    def rows(self) -> list[dict]:
        """One ``--json`` row per planned action and per problem."""
        by_path = {o.action.path: o for o in self.outcomes}
        rows = []
        for a in self.plan.actions:
            o = by_path.get(a.path)
            if o is not None:
                rows.append(o.as_json())
            else:
                status = PLANNED if self.mode != "sync" else SKIPPED
                rows.append({"path": a.path, "action": a.kind, "reason": a.reason,
                             "status": status})
        for a in self.plan.problems:
            rows.append({"path": a.path, "action": CONFLICT, "reason": a.reason,
                         "status": FAILED if a.category == "error" else SKIPPED})
        return rows

    def summary(self) -> dict:
        """The ``--json`` summary: counts by status, bytes moved, time, warnings."""
        rows = self.rows()
        out = {"mode": self.mode, "remote": self.remote, "exit_code": self.exit_code,
               "plan": self.plan.counts()}
        for s in (DONE, SKIPPED, FAILED, PLANNED):
            out[s] = sum(1 for r in rows if r["status"] == s)
        out["bytes"] = sum(o.transferred for o in self.outcomes)
        out["seconds"] = round(self.elapsed, 3)
        out["warnings"] = list(self.warnings)
        return out

    def to_dict(self) -> dict:
        return {"actions": self.rows(), "summary": self.summary()}
