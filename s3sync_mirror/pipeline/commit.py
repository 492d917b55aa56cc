"""Record what a run did: apply state/merges.py's pure merges, the remote state first
(compare-and-swap), then the deletion logs, then this clone's baseline, which lists only
what really completed (see docs/stages.md#commit)."""
from __future__ import annotations

import time
from typing import NamedTuple, Optional

from . import evidence
from ..state import historyindex as history, remotestate as remote_state
from ..core import layout
from ..ui import report
from ..core import model as m
from ..state.merges import changes_remote, new_baseline, remote_changes
from ..state.remotelog import diff
from ..core.clock import now_iso
from ..core.errors import S3SyncMirrorError
from ..core.logs import log
from ..core.paths import conflict_copy_of
from ..core.model import Outcome
from ..state.csvfiles import log_row


class Recorded(NamedTuple):
    outcomes: list  # as recorded: a change the remote state could not take is failed
    baseline: dict
    agrees: bool  # the remote state is exactly what this run read plus its own changes
    remote_etag: Optional[str]
    warnings: list  # what went wrong recording, for the result


def _commit_remote(s, rs, outcomes, plan, warnings: list):
    """(committed, rejected paths, agrees, remote etag)."""
    if not (changes_remote(outcomes) or rs.repairs or rs.legacy or rs.healed
            or (rs.rebuilt and (plan.records or outcomes))):
        return True, set(), not rs.rebuilt, rs.etag
    try:
        _, rejected, others = remote_state.commit(s.remote, s.statedir, rs, outcomes,
                                                  jobs=s.jobs, tmp_dir=s.layout.tmp)
    except S3SyncMirrorError as exc:
        s.out.warn(f"could not record the new remote state: {exc}. The files already "
                   f"sent are kept; the next run finishes the job.")
        warnings.append(str(exc))
        return False, set(), False, None
    if others:
        s.out.say(report.changed_by_others(len(others)))
    _check_conditional_writes(s)
    return True, rejected, not rejected and not others, s.statedir.cached_remote_etag()


def _as_recorded(o: Outcome, rejected: set, committed: bool) -> Outcome:
    if o.action.path in rejected:
        return Outcome(o.action, m.FAILED, retryable=True, error=(
            f"{o.action.path}: another member changed it on the remote during this sync; "
            f"run again"))
    if not committed and changes_remote([o]):
        return Outcome(o.action, m.FAILED, error=f"{o.action.path}: sent, but the remote "
                                                 f"state could not be recorded; run again")
    return o


def _deletion_rows(s, outcomes, kind: str, side: str) -> list:
    stamp = now_iso()
    return [log_row(o.action.path, getattr(o.action, side), s.user, stamp, o.archived_as)
            for o in outcomes if o.status == m.DONE and o.action.kind == kind]


def announce_deletions(s, run: str, approved) -> None:
    """Record in the remote's deletion log, BEFORE deleting, the remote files this run is
    about to delete: a teammate who then finds one gone knows it was deleted (the
    evidence a local deletion needs). A row whose deletion does not happen is harmless:
    the object is still there, so nobody deletes on its word."""
    stamp = now_iso()
    gone = [(a.path, a.remote) for a in approved if a.kind == m.DELETE_REMOTE] + \
        [(a.moved_from, a.from_state) for a in approved if a.kind == m.MOVE_REMOTE]
    rows = [log_row(p, st, s.user, stamp, layout.content_key(st.checksum)) for p, st in gone]
    remote_state.append_deleted(s.remote, s.statedir, rows)


def _fold_observed(rs, outcomes) -> None:
    """What the objects showed this run (an orphan of a killed run, a foreign write, a
    vanished file) repairs the remote state, so the next plan sees it as a remote change
    and no path stays stuck."""
    for o in outcomes:
        if o.observed and rs.files.get(o.action.path) != o.observed[0]:
            rs.repaired(o.action.path, o.observed[0])


def _adopt_sent(s, journal, rs, found, plan, outcomes) -> tuple[list, dict]:
    """Uploads of this clone that no state records and no action of this run takes up: a
    keep-both's conflict copy sent by a run killed before it recorded it (or one whose
    local half then failed), a new file sent by a killed run and deleted or moved away
    here since. Nobody's plan would ever see such an object (plans come from the remote
    state), so it goes into the state as the journal says this clone sent it, when the
    object still holds those bytes; the next runs bring it to every member like any new
    file. An ignored path is left alone (not shared). One that is a file here stays in
    the journal (a run whose plan holds it, as an upload, takes it up), as does one that
    could not be checked, and a conflict copy of a conflict this run left open (the run
    that keeps both takes it again as the copy). Returns (the paths recorded, the
    entries to keep)."""
    sent = journal.load()
    if not sent:
        return [], {}
    acted = {o.action.path for o in outcomes}  # its outcome says what became of it
    taken, adopted, keep = set(acted), [], {}
    for o in outcomes:
        if o.status == m.DONE:
            taken.update(p for p, _st in remote_changes(o))
            taken.add(o.action.conflict_path)
    ignored = s.ignored()
    still_open = [a.path for a in plan.actions if a.kind == m.CONFLICT and a.path not in acted]
    for path, st in sent.items():
        if path in taken or rs.files.get(path) is not None or \
                rs.as_read.get(path) is not None or (ignored is not None and ignored(path)):
            continue
        if path in found.scanned.files or any(
                conflict_copy_of(path, p, s.user) for p in still_open):
            keep[path] = st
            continue
        try:
            seen = evidence.observed(s.remote, path, s.layout.tmp)
        except S3SyncMirrorError as exc:
            log.info("%s: a sent file not checked: %s", path, exc)
            keep[path] = st
            continue
        if seen is None or seen.checksum != st.checksum or seen.size != st.size:
            continue
        rs.repaired(path, seen._replace(edited_by=st.edited_by,
                                        time_edited=st.time_edited or seen.time_edited))
        s.out.say(report.sent_before(path))
        adopted.append(path)
    return adopted, keep


def record(s, journal, base: dict, found, plan, outcomes, rows=("", {})) -> Recorded:
    """Commit the remote state, the history, the deletion logs and the baseline after
    ``outcomes``; ``rows`` is (run, the history rows announced for it)."""
    warnings: list = []
    _fold_observed(found.remote, outcomes)
    # a plan of some paths never has a journal (pipeline/delta.py)
    adopted, unsettled = _adopt_sent(s, journal, found.remote, found, plan, outcomes) \
        if found.totals is None else ([], {})
    committed, rejected, agrees, etag = _commit_remote(s, found.remote, outcomes, plan,
                                                       warnings)
    agrees = agrees and not adopted  # this clone does not hold them yet
    fixed = [_as_recorded(o, rejected, committed) for o in outcomes]
    new_base = new_baseline(base, found.scanned.files, plan.records, outcomes, rejected,
                            time.time_ns(), remote_committed=committed)
    if new_base != base:
        if found.totals is not None:  # only some paths' rows were read (pipeline/delta.py)
            s.statedir.save_baseline_changes(diff(base, new_base), s.owner, found.totals[2])
        else:
            s.statedir.save_baseline(new_base, s.owner, before=base)
    if committed:
        journal.keep(unsettled)
    _publish_history(s, rows, fixed)
    s.statedir.append_deleted_local(_deletion_rows(s, fixed, m.DELETE_LOCAL, "local"))
    return Recorded(fixed, new_base, agrees, etag, warnings)


def _publish_history(s, rows, outcomes) -> None:
    run, by_path = rows
    if not by_path:
        return
    try:
        history.flush(s.remote, s.statedir, run, by_path, outcomes)
    except S3SyncMirrorError as exc:  # kept pending: the next run publishes it
        s.out.warn(report.history_not_written(exc))
        return
    s.statedir.forget_restored([o.action.path for o in outcomes if o.status == m.DONE])


def _check_conditional_writes(s) -> None:
    """Once per clone and remote: warn if the server ignores conditional writes."""
    url = s.remote.describe()
    if s.statedir.remote_checked(url):
        return
    if s.remote.honours_conditional_writes():
        s.statedir.mark_remote_checked(url)
        return
    s.out.warn(report.ignores_conditions(url))
