"""The history index on the remote (docs/state-files.md#history): one small CSV segment per
run that changed the remote, ``.S3/history/<run>.csv``, written once (put-if-absent, one
request) and never changed. A row is one version event: the version a run replaced or
deleted (its own author and time), the version it put there, or a deletion.

A version is listed only once its bytes are somewhere: rows are kept in this clone's
``.S3/history_pending.csv`` from before the run touches the remote; the rows of what
completed go up with the run; a killed run's leftovers go up with the next run, each one
only after its bytes were found (live with that SHA-256, or in the content archive)."""
from __future__ import annotations

import csv
import io
import re
from typing import Iterable, NamedTuple, Optional

from ..core.background import thread_pool
from ..core.logs import log
from ..core import layout
from ..core import model as m
from ..core.clock import iso_from_ns, now_iso
from ..core.errors import PreconditionFailed, RemoteNotFound
from ..core.paths import unsafe_reason
from .csvfiles import write_atomic


COLUMNS = ["File", "Edited By", "Time Edited", "Checksum", "Size", "Event", "Kept At", "At"]
EVENTS = ("added", "modified", "deleted", "restored", "moved")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class Row(NamedTuple):
    path: str
    author: str
    time: str  # ISO 8601 UTC: when this version was made (a deletion: when it happened)
    checksum: str
    size: int
    event: str = ""  # one of EVENTS, or "" (worked out from the versions before it)
    kept_at: str = ""  # a key of the previous archive layout; "" = live or content archive
    run: str = ""  # the segment it came from (not a column)
    at: str = ""  # ISO: when the event was recorded (orders the versions; "" = not known)


def render(rows: Iterable[Row]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r.path, r.author, r.time, r.checksum, r.size, r.event, r.kept_at, r.at])
    return out.getvalue().encode("utf-8")


def parse(data: bytes, name: str, run: str = "") -> list[Row]:
    """A segment's rows; a row that is not well formed is skipped with a warning (the
    history is a record, never a reason to stop a sync)."""
    rows = []
    reader = csv.DictReader(io.StringIO(data.decode("utf-8", "replace")))
    for i, rec in enumerate(reader, start=2):
        try:
            row = Row(rec["File"], rec["Edited By"], rec["Time Edited"], rec["Checksum"],
                      int(rec["Size"]), rec.get("Event") or "", rec.get("Kept At") or "", run,
                      rec.get("At") or "")
        except (KeyError, TypeError, ValueError):
            log.warning("%s: line %d is not a history row; skipped", name, i)
            continue
        if unsafe_reason(row.path) or not _HEX64.fullmatch(row.checksum) \
                or row.event not in EVENTS + ("",):
            log.warning("%s: line %d is not a history row; skipped", name, i)
            continue
        rows.append(row)
    return rows


def version_row(path: str, st: m.FileState, event: str = "") -> Row:
    return Row(path, st.edited_by, st.time_edited, st.checksum, st.size, event)


def _new_version(path: str, loc: m.FileState, user: str, event: str, when: str) -> Row:
    return Row(path, user, iso_from_ns(loc.mtime_ns), loc.checksum, loc.size, event, at=when)


def rows_for(a: m.Action, user: str, restored: dict, when: Optional[str] = None) -> list[Row]:
    """The rows action ``a`` adds when it completes: the version it replaces or deletes
    (kept in the archive) and what it puts in its place."""
    when = when or now_iso()
    rows = [version_row(a.path, a.remote)] if a.remote is not None else []
    if a.kind == m.UPLOAD:
        event = "restored" if restored.get(a.path) == a.local.checksum else \
            ("modified" if a.remote is not None else "added")
        rows.append(_new_version(a.path, a.local, user, event, when))
    elif a.kind == m.DELETE_REMOTE:
        rows.append(Row(a.path, user, when, a.remote.checksum, a.remote.size, "deleted",
                        at=when))
    elif a.kind == m.KEEP_BOTH:
        rows = [_new_version(a.conflict_path, a.local, user, "added", when)]
    elif a.kind == m.MOVE_REMOTE:
        old = a.from_state
        rows = [version_row(a.moved_from, old),
                Row(a.moved_from, user, when, old.checksum, old.size, "deleted", at=when),
                _new_version(a.path, a.local, user, "moved", when)]
    else:
        return []
    return rows


# -- this clone's pending rows ---------------------------------------------------------
def announce(statedir, run: str, approved, user: str, restored: dict) -> dict:
    """Before the run touches the remote: keep the rows it may add, by action path."""
    when = now_iso()
    by_path = {a.path: rows_for(a, user, restored, when) for a in approved}
    by_path = {p: rows for p, rows in by_path.items() if rows}
    if by_path:
        data = render(r._replace(run=run) for rows in by_path.values() for r in rows)
        write_atomic(statedir.layout.history_pending, _with_run(data, run))
    return by_path


def _with_run(data: bytes, run: str) -> bytes:
    return f"# run {run}\n".encode() + data


def _pending(statedir) -> tuple[str, list[Row]]:
    try:
        data = statedir.layout.history_pending.read_bytes()
    except FileNotFoundError:
        return "", []
    first, _, rest = data.partition(b"\n")
    run = first.decode("utf-8", "replace")[len("# run "):].strip()
    if not first.startswith(b"# run ") or not run:
        return "", []
    return run, parse(rest, str(statedir.layout.history_pending), run)


def publish(remote, run: str, rows: list[Row]) -> bool:
    """Put one run's segment; True when it is there (now or already)."""
    if not rows:
        return True
    try:
        remote.put_bytes(layout.history_key(run), render(rows), if_none_match=True)
    except PreconditionFailed:
        pass  # written before (a retried flush): segments never change
    return True


def flush(remote, statedir, run: str, by_path: dict, outcomes) -> None:
    """After the run: publish the rows of what completed, then forget the pending file."""
    done = {o.action.path for o in outcomes if o.status == m.DONE}
    moved = {o.action.path: o.action.conflict_path for o in outcomes  # a keep-both copy
             if o.status == m.DONE and o.action.conflict_path}  # that took another name
    rows = [r._replace(path=moved[p]) if p in moved and r.event == "added" else r
            for p, rs in by_path.items() for r in rs
            if p in done or r.event == ""]  # a replaced version is kept either way
    publish(remote, run, rows)
    statedir.layout.history_pending.unlink(missing_ok=True)


def _live_checksum(remote, path: str, tmp_dir) -> Optional[str]:
    try:
        return remote.checksum(path, tmp_dir)
    except RemoteNotFound:
        return None


def present(remote, row: Row, tmp_dir=None) -> bool:
    """Whether a killed run's row tells the truth: a deletion happened (the path is gone),
    a new version was put there (the remote file holds it), a replaced version is kept
    (live or archived)."""
    live = _live_checksum(remote, row.path, tmp_dir)
    if row.event == "deleted":
        return live is None and remote.head(layout.content_key(row.checksum)) is not None
    if row.event:
        return live == row.checksum
    return live == row.checksum or remote.head(layout.content_key(row.checksum)) is not None


def recover(remote, statedir) -> int:
    """Publish what a killed run left pending, each row only if its bytes are found;
    returns how many rows were published."""
    run, rows = _pending(statedir)
    if not run:
        statedir.layout.history_pending.unlink(missing_ok=True)
        return 0
    kept = [r for r in rows if present(remote, r, statedir.layout.tmp)]
    publish(remote, run, kept)
    statedir.layout.history_pending.unlink(missing_ok=True)
    return len(kept)


# -- reading ----------------------------------------------------------------------------
def read_all(remote, jobs: int = 8) -> list[Row]:
    """Every row of every segment (one listing and one GET per segment, in parallel)."""
    keys = [o.key for o in remote.list(layout.HISTORY_ROOT + "/") if o.key.endswith(".csv")]

    def one(key: str) -> list[Row]:
        try:
            data, _ = remote.get_bytes(key)
        except RemoteNotFound:
            return []
        run = key.rsplit("/", 1)[-1][:-len(".csv")]
        return parse(data, remote.url(key), run)

    with thread_pool(min(jobs, len(keys))) as pool:
        return [r for rows in pool.map(one, keys) for r in rows]
