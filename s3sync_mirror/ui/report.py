"""What the user reads: the plan as a table, warnings, the outcome summary, ``--json``."""
from __future__ import annotations

import sys

from ..core import model as m
from .text import human, paint, use_color  # noqa: F401 (human and use_color: re-exported)
from .cells import ljust, width as cells

SHOW_PER_KIND = 40  # beyond this many of a kind, the table says "... and N more" (-v: all)
_COLOR = {m.UPLOAD: "32", m.DOWNLOAD: "36", m.DELETE_REMOTE: "31", m.DELETE_LOCAL: "31",
          m.MOVE_REMOTE: "32", m.MOVE_LOCAL: "36", m.CONFLICT: "33;1"}
_VERB = {m.UPLOAD: "upload", m.DOWNLOAD: "download", m.DELETE_REMOTE: "delete on remote",
         m.DELETE_LOCAL: "delete locally", m.MOVE_REMOTE: "move on remote",
         m.MOVE_LOCAL: "move locally", m.CONFLICT: "conflict"}


_paint = paint


def action_size(a) -> int:
    side = a.local if a.kind in (m.UPLOAD, m.DELETE_REMOTE) else a.remote
    side = side or a.local or a.remote
    return side.size if side is not None else 0


_SIZED = (m.UPLOAD, m.DOWNLOAD, m.MOVE_REMOTE, m.MOVE_LOCAL)  # a move sends nothing, but
#                                                             its size says what it is
WIDE = 72  # a longer path gets a line of its own, so the columns stay aligned


def plan_lines(plan, *, verbose: bool = False, color: bool = False) -> list[str]:
    lines = []
    shown: dict = {}
    hidden: dict = {}
    width = min(WIDE, max((cells(a.path) for a in (*plan.actions, *plan.problems)),
                          default=10))
    for a in (*plan.actions, *plan.problems):
        k = a.shown_kind
        shown[k] = shown.get(k, 0) + 1
        if not verbose and shown[k] > SHOW_PER_KIND:
            hidden[k] = hidden.get(k, 0) + 1
            continue
        size = human(action_size(a)) if a.kind in _SIZED else ""
        verb = _paint(f"{_VERB[k]:<16}", _COLOR[k], color)
        if cells(a.path) > width:
            lines.append(f"  {verb} {a.path}")
            lines.append(f"  {'':<16} {'':<{width}} {size:>10}  {a.reason}")
        else:
            lines.append(f"  {verb} {ljust(a.path, width)} {size:>10}  {a.reason}")
    for k, n in hidden.items():
        lines.append(f"  ... and {n} more to {_VERB[k]} (-v lists them all)")
    return lines


_DONE = {m.UPLOAD: "uploaded", m.DOWNLOAD: "downloaded", m.DELETE_REMOTE: "deleted on remote",
         m.DELETE_LOCAL: "deleted locally", m.MOVE_REMOTE: "moved on remote",
         m.MOVE_LOCAL: "moved locally", m.CONFLICT: "conflict(s) resolved"}
_PLANNED = {m.UPLOAD: ("upload", "uploads"), m.DOWNLOAD: ("download", "downloads"),
            m.DELETE_REMOTE: ("deletion on the remote", "deletions on the remote"),
            m.DELETE_LOCAL: ("local deletion", "local deletions"),
            m.MOVE_REMOTE: ("move on the remote", "moves on the remote"),
            m.MOVE_LOCAL: ("local move", "local moves"),
            m.CONFLICT: ("conflict", "conflicts")}


def counts_text(counts: dict, done: bool = False) -> str:
    if done:
        parts = [f"{n} {_DONE[k].replace('(s)', 's' if n != 1 else '')}"
                 for k, n in counts.items() if n]
    else:
        parts = [f"{n} {_PLANNED[k][n != 1]}" for k, n in counts.items() if n]
    if parts:
        return ", ".join(parts)
    return "nothing completed" if done else "nothing to do"


def write(text: str = "", stream=None) -> None:
    print(text, file=stream or sys.stdout, flush=True)


# -- the run's voice ---------------------------------------------------------------------
class Reporter:
    """Prints for people; silent under ``--json`` and ``-q`` (errors still reach stderr)."""

    def __init__(self, json: bool = False, quiet: bool = False):
        self.json = json
        self.on = not json and not quiet
        self.color = use_color(sys.stdout)

    def say(self, text: str = "") -> None:
        if self.on:
            write(text)

    def warn(self, text: str) -> None:
        if not self.json:
            write(f"warning: {text}", sys.stderr)

    def progress(self, desc: str):
        from .progress import make

        return make(desc, self.on and sys.stderr.isatty())

    def hash_progress(self, desc: str, total: int):
        """A bar for hashing, only when there is enough to hash to be worth one."""
        if total < (64 << 20):
            return None
        bar = self.progress(desc)
        bar.set_size(total)
        return bar


def show_plan(out: Reporter, plan, remote_url: str, data_name: str, verbose: bool) -> None:
    out.say(f"{data_name}/ <-> {remote_url}")
    for line in plan_lines(plan, verbose=verbose, color=out.color):
        out.say(line)
    out.say(f"Plan: {counts_text(plan.counts())}.")


def dry_run_lines(approved) -> list[str]:
    verbs = {**_VERB, m.KEEP_BOTH: "keep both of"}
    return [f"  would {verbs[a.kind]}: {a.path}"
            + (f" (yours as {a.conflict_path})" if a.conflict_path else "") for a in approved]


INTERRUPTING = "interrupting: starting nothing new, cleaning up\u2026"

NO_TERMINAL = ("No terminal to confirm on: nothing was done. Run in a terminal, or pass "
               "--yes to apply every non-conflicting action.")


def not_as_recorded(path: str, state_name: str, gone: bool) -> str:
    if gone:
        return (f"{path}: {state_name} lists it but it is gone from the remote (deleted "
                f"outside s3sync_mirror?); the state is repaired, nothing was downloaded: "
                f"run again")
    return (f"{path}: the remote object is not the version {state_name} records: a teammate "
            f"may be uploading it right now, or it was changed outside s3sync_mirror; the "
            f"state now describes it, nothing was downloaded: run again")


def foreign_baseline(path) -> str:
    return (f"{path} was made for another remote, clone or folder (a copied clone or file?): "
            f"this run syncs as a first sync: equal files are recorded, files that differ "
            f"become conflicts, nothing is deleted")


def another_prefix(path, recorded: str, now: str) -> str:
    return (f"{path} is the baseline of the remote prefix {recorded!r}, but the config now "
            f"names {now!r} (a clone copied to a folder of another name, where "
            f"`namespace: MIRROR` takes the folder's name when git has no origin? a changed "
            f"namespace?). Nothing was synced. Fix: to keep syncing with the team, pin it: "
            f"`namespace: {recorded}` under `storage:` in s3sync_mirror.yml; to start over "
            f"on {now!r} on purpose, run `s3sync-mirror reset` first.")


def changed_by_others(n: int) -> str:
    return (f"The remote changed during this sync ({n} file(s) by others): run again to "
            f"bring those changes here.")


def deleted_meanwhile(path: str, who: str) -> str:
    return (f"{path}: deleted on the remote by {who or 'a teammate'} during this sync; "
            f"nothing to download")


def metadata_not_moved(exc) -> str:
    return (f"the shared metadata of the moved files stays under their old paths ({exc}); "
            f"move it with `meta set` if needed.")


def history_not_written(exc) -> str:
    return (f"could not add this run to the history index ({exc}); it is kept in this "
            f"clone and added by the next sync.")


def ignores_conditions(url: str) -> str:
    return (f"{url} ignores conditional writes (If-None-Match/If-Match): if two members sync "
            f"at the same moment, one's changes to the shared state can be lost. Use a server "
            f"that honours them (AWS S3, MinIO, Ceph RGW, R2), or sync one at a time.")




def sent_before(path: str) -> str:
    return (f"{path}: sent by an earlier run of this clone that stopped before recording "
            f"it; recorded now, so every member gets it.")
