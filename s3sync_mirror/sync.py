"""One sync, as its five stages in order: detect -> plan -> confirm -> execute -> commit
(docs/stages.md). The rules live in the stages' modules, the words in ui/report.py; this
module only passes values from one stage to the next."""
from __future__ import annotations

import gc
import sys
import time
from contextlib import contextmanager
from typing import NamedTuple

from .pipeline import detect, quickcheck as insync
from .meta import members
from .core import layout
from .ui import report
from .core import model as m
from .core.errors import MaxDeleteExceeded
from .core.model import Plan, SyncResult
from .options import Options
from .ui.report import NO_TERMINAL, Reporter, dry_run_lines, not_as_recorded, show_plan
from .ui.summary import say_summary
from .session import open_session
from .state.merges import RACY_NS

# What only a run with something to do needs (the planning from changed paths, the
# confirmation, the executor, the record, pins, metadata, sparse selection) is imported
# where it is used: a sync that finds everything in sync never loads it.

REPLANS = 4  # how often a run re-plans paths that changed under it before giving up

__all__ = ["Options", "SyncResult", "run_sync"]


class Carried(NamedTuple):
    final: dict  # path -> the last outcome of its action
    after: tuple | None  # (new baseline, remote ETag) when the remote agrees with it
    interrupted: bool
    warnings: list


def run_sync(settings, opts: Options) -> SyncResult:
    """Plan, confirm, carry out and record one sync described by ``settings``."""
    opts.validate()
    t0 = time.monotonic()
    out = Reporter(json=opts.json, quiet=opts.quiet)
    # A run that cannot approve anything (no terminal, no --yes) writes nothing at all.
    writes = opts.mode == "sync" and (opts.yes or _interactive(opts))
    with open_session(settings, writes=writes, jobs=opts.job_count, out=out) as s, \
            _no_cycle_collector():
        s.prepare()
        result, t_done, carried_out = _sync(s, opts)
        if writes and opts.mode == "sync" and not result.interrupted:
            members.seen(s)  # at most once an hour: info lists who only downloads too
    result.elapsed = t_done - t0
    if carried_out:
        say_summary(out, result, verbose=opts.verbose > 0)
    if result.interrupted:
        raise KeyboardInterrupt()
    return result


@contextmanager
def _no_cycle_collector():
    """Pause Python's cyclic garbage collector for one run: a run builds a few objects per
    file (the walk, the baseline, the remote state, the plan) that live until it ends and
    hold no cycles worth collecting, and each collection of the older generations walks
    all of them again (200,000 files: 20% of a one-edit sync). Reference counting still
    frees everything else; the collector's previous state is restored afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _sync(s, opts: Options):
    """(result, when the work ended, whether the run got to carry anything out)."""
    quick = detect.quick_check(s, opts.paths)
    if quick.in_sync:
        show_plan(s.out, Plan(), s.remote.describe(), s.data_dir.name, opts.verbose > 0)
        _say_pin(s, opts, s.load_baseline)
        return SyncResult(plan=Plan(), remote=s.remote.describe(), mode=opts.mode), \
            time.monotonic(), opts.mode == "sync"
    if s.writes:
        insync.forget(s.statedir)
    few = _few_paths(s, opts, quick)
    if few is not None:
        base, found, plan = few.base, few.found, few.plan
    else:
        base = s.load_baseline()
        # reads ahead in a run that writes (one that can approve: ahead.start)
        found = detect.detect(s, base, quick.walked, quick.remote_etag, ahead=True,
                              scope=opts.paths)
        for w in found.warnings:
            s.out.warn(w)
        detect.check_scope(opts.must_match, found, base)
        plan = detect.plan_for(s, base, found, opts.paths)
    try:
        return _planned(s, opts, quick, few, base, found, plan)
    finally:
        if few is not None:
            few.index.close()


class _Few(NamedTuple):
    base: dict
    found: object
    plan: Plan
    index: object
    paths: frozenset


def _few_paths(s, opts: Options, quick) -> "_Few | None":
    """The plan from the paths that changed since the last in-sync run, when it can be
    told from them alone (pipeline/delta.py); None: the full path."""
    from .history import pins
    from .pipeline import delta

    if opts.mode == "status" and pins.read(s.settings.repo_root) is not None:
        return None  # status compares the whole folder with the lock
    d = delta.detect(s, opts, quick)
    if d is None:
        return None
    plan = detect.plan_for(s, d.base, d.found, opts.paths, first_sync=d.index.count == 0)
    if not delta.plan_is_simple(plan):
        d.index.close()
        return None
    return _Few(d.base, d.found, plan, d.index, d.paths)


def _planned(s, opts: Options, quick, few, base, found, plan):
    """_sync, from the plan on."""
    from .meta import selection as sparse

    plan, back = _back_in_selection(s, plan)
    plan = _known_versions(s, plan)
    result = SyncResult(plan=plan, warnings=list(found.warnings), remote=s.remote.describe(),
                        mode=opts.mode)
    show_plan(s.out, plan, result.remote, s.data_dir.name, opts.verbose > 0)
    if opts.mode == "status":
        _say_pin(s, opts, found.scanned.files)
        return result, time.monotonic(), False
    try:
        approved, unconfirmed, policy = _confirm(s, opts, base, found, plan)
    except MaxDeleteExceeded as exc:
        exc.result = result  # --json still shows the refused plan
        raise
    if opts.mode == "dry-run":
        for line in dry_run_lines(approved):
            s.out.say(line)
        left = unconfirmed + len(plan.problems)
        result.exit_code = 3 if left or (not opts.yes and not plan.empty) else 0
        return result, time.monotonic(), False
    if not policy.decides:
        if not plan.empty:
            s.out.say(NO_TERMINAL)
            result.exit_code = 3
        return result, time.monotonic(), False
    result.unattended = not policy.ask
    started = time.monotonic()
    done = carry_out(s, base, found, plan, approved)
    result.transfer_seconds = time.monotonic() - started
    if not done.interrupted:
        if few is not None:
            _remember_few(s, opts, found, plan, done, quick, few)
        else:
            _remember_in_sync(s, opts, found, plan, done, quick.printed)
        if all(p in done.final and done.final[p].status == m.DONE for p in back):
            sparse.forget_before(s.layout)  # what the widening brought back is here
    order = {a.path: i for i, a in enumerate(plan.actions)}
    result.outcomes = sorted(done.final.values(),
                             key=lambda o: order.get(o.action.path, 1 << 30))
    result.warnings += done.warnings
    result.interrupted = done.interrupted
    result.settle()
    return result, time.monotonic(), True


def _say_pin(s, opts: Options, files) -> None:
    """``status`` says when the data here no longer matches ``s3sync_mirror.lock``."""
    if opts.mode == "status" and not opts.paths and s.selection is None:
        from .history import pins

        note = pins.stale_note(s, files)
        if note:
            s.out.say(note)


def _known_versions(s, plan):
    """The plan, its conflicts without a baseline worded from the history when it knows
    their versions (history/known.py); unchanged when the history cannot be read."""
    from .history import known

    if not known.worth_asking(plan):
        return plan
    from .core.errors import S3SyncMirrorError
    from .history import sources

    try:
        return known.explain(plan, sources.gather(s))
    except S3SyncMirrorError:
        return plan


def _back_in_selection(s, plan):
    """The plan, its downloads of files an earlier sparse selection left out worded so
    (meta/selection.py), and their paths."""
    from .meta import selection as sparse

    kept = sparse.before(s.layout)
    if not kept:
        return plan, set()
    metadata = s.metadata[0] if any(sel.uses_metadata for sel in kept) else {}
    return sparse.back_in_selection(plan, kept, metadata, s.outside())


def _interactive(opts: Options) -> bool:
    """Whether a person can answer prompts (never under --json)."""
    if opts.json:
        return False
    return opts.interactive if opts.interactive is not None else sys.stdin.isatty()


def _confirm(s, opts: Options, base, found, plan):
    """(approved actions, how many left unconfirmed, the policy)."""
    from .pipeline import confirm

    confirm.guard_deletes(plan, *found.counts(), max_delete=opts.max_delete,
                          force=opts.force)
    policy = confirm.Policy.of(yes=opts.yes, dry_run=opts.dry_run,
                               interactive=_interactive(opts), conflict=opts.conflict)
    answers = confirm.Answers()
    if policy.ask:
        from .history.conflictview import TableView
        from .ui import prompts

        answers = prompts.ask(plan, policy, opts.prompt_io, data_dir=s.data_dir,
                              fetch_remote=lambda p: s.remote.get_bytes(p)[0],
                              tables=TableView(s, s.settings.diff_keys))
    taken = confirm.InUse(found.scanned.files, found.remote.files, base)
    approved, left = confirm.approve(plan, policy, answers, user=s.user, stamp=s.stamp,
                                     taken=taken)
    return approved, left, policy


class Pass(NamedTuple):
    outcomes: list
    interrupted: bool
    journal: object
    history: tuple  # (run, {path: history rows}) announced before the run


def _execute(s, found, approved) -> Pass:
    """One pass of the executor, its deletions and history rows announced first."""
    from .pipeline import confirm
    from .pipeline.commit import announce_deletions
    from .pipeline.execute import Context, Executor, Interrupted
    from .pipeline.replica import Replica
    from .state import historyindex as history

    journal = s.statedir.open_journal()
    run = s.new_run()
    announce_deletions(s, run, approved)
    if s.layout.history_pending.exists():  # a pass before this one could not publish
        history.recover(s.remote, s.statedir)
    rows = history.announce(s.statedir, run, approved, s.user, s.statedir.restored())
    ctx = Context(remote=s.remote, replica=Replica(s.layout, run, found.scanned.disk),
                  user=s.user, journal=journal, prior_uploads=journal.load(), jobs=s.jobs,
                  progress=s.out.progress("sync"),
                  local_copies=_ByContent(found.scanned.files, approved),
                  remote_copies=_ByContent(found.remote.files, approved), stamp=s.stamp,
                  in_use=confirm.InUse(found.scanned.files, found.remote.files,
                                       {a.conflict_path for a in approved}))
    try:
        return Pass(Executor(ctx).run(approved), False, journal, (run, rows))
    except Interrupted as exc:
        return Pass(exc.outcomes, True, journal, (run, rows))


class _ByContent:
    """{SHA-256: (a path holding it, its state)} for the non-empty files of one side whose
    content one of ``actions`` moves (the executor asks only for those: an upload's or a
    download's content), built when first asked (a run with no upload or download never
    needs it)."""

    def __init__(self, files, actions):
        self._files, self._actions, self._index = files, actions, None

    def get(self, checksum: str, default=None):
        if self._index is None:
            wanted = {st.checksum for a in self._actions for st in (a.local, a.remote)
                      if st is not None}
            self._index = {st.checksum: (p, st) for p, st in self._files.items()
                           if st.checksum in wanted and st.size > 0}
        return self._index.get(checksum, default)


def carry_out(s, base, found, plan, approved) -> Carried:
    """Execute and record; then, while some actions failed only because a side changed
    under them, re-read, re-plan those paths and carry out again the ones whose decision
    did not change."""
    import random

    from .meta import shared as shared_metadata
    from .pipeline.commit import record

    final: dict = {}
    warnings: list = []
    for attempt in range(REPLANS + 1):
        outcomes, interrupted, journal, rows = _execute(s, found, approved)
        done = record(s, journal, base, found, plan, outcomes, rows)
        shared_metadata.follow_moves(s, done.outcomes)
        base, after = done.baseline, (done.baseline, done.remote_etag) if done.agrees else None
        warnings += done.warnings
        final.update((o.action.path, o) for o in done.outcomes)
        retry = {o.action.path: o.action for o in done.outcomes if o.retryable}
        if not retry or interrupted or attempt == REPLANS or found.totals is not None:
            break  # a plan of some paths is not re-planned: the next run reads them
        # A teammate's upload lands before their commit: give it a moment.
        time.sleep(0.1 * 2 ** attempt * random.uniform(0.8, 1.2))
        found = detect.detect(s, base)
        plan = detect.plan_for(s, base, found, tuple(retry))
        approved = [a for a in plan.actions if a.path in retry
                    and not retry[a.path].resolution and a.kind == retry[a.path].kind]
        if not approved and not plan.records:
            break
    _explain_vanished(s, final)
    # Paths changed under this run: its first scan no longer describes the folder.
    return Carried(final, None if attempt else after, interrupted, warnings)


def _explain_vanished(s, final: dict) -> None:
    """A download whose object was gone: deleted by a teammate during this run (their
    deletion is logged before it happens, so the log says so) is nothing to do; otherwise
    the remote state is wrong, and the outcome says how."""
    from .pipeline import evidence

    vanished = {p: o for p, o in final.items() if o.observed and o.status == m.FAILED
                and o.action.kind == m.DOWNLOAD}
    if not vanished:
        return
    gone = {p: o.action.remote for p, o in vanished.items() if o.observed[0] is None}
    deleted = evidence.recorded(evidence.deletion_log(s.remote), gone) if gone else {}
    for path, o in vanished.items():
        if path in deleted and not s.layout.data_dir.joinpath(*path.split("/")).exists():
            final[path] = m.Outcome(o.action, m.DONE, error=report.deleted_meanwhile(
                path, deleted[path]))
            continue
        final[path] = m.Outcome(o.action, m.FAILED, retryable=True, error=not_as_recorded(
            path, layout.VERSIONS_REMOTE, path in gone))


def _clean(opts, found, plan, done: Carried) -> bool:
    """Whether the run left every path the same here, in the baseline and on the remote."""
    scanned = found.scanned
    return done.after is not None and not opts.paths and not found.warnings \
        and not plan.problems and not scanned.disk and not scanned.clashes \
        and not scanned.unreadable and len(done.final) == len(plan.actions) \
        and all(o.status == m.DONE and not o.action.conflict_path
                for o in done.final.values())


def _remote_after(done: Carried) -> dict:
    """{path: remote row} this run changed, as committed."""
    from .state.merges import remote_changes

    return {p: st for o in done.final.values() for p, st in remote_changes(o)}


def _remember_few(s, opts, found, plan, done: Carried, quick, few: _Few) -> None:
    """_remember_in_sync for a run planned from some paths: the record's chunks that hold
    them digested again, and their rows in the index."""
    listing = insync.listing_after(
        found.scanned.files, detect.visible(done.after[0], s.ignored()), done.final,
        (m.DOWNLOAD, m.DELETE_LOCAL), unsure=True) if _clean(opts, found, plan, done) \
        else None
    pos = s.statedir.last_pos
    if listing is None or pos is None or pos.token != done.after[1]:
        insync.forget(s.statedir)
        return
    own, remote = _remote_after(done), found.remote.files
    pairs: dict = {p: None for p in few.paths}
    now = time.time_ns()
    for p, b in listing.items():
        r = own[p] if p in own else remote.get(p)
        if r is None:
            insync.forget(s.statedir)
            return
        if b.mtime_ns > now - RACY_NS:  # written just now: the next run hashes it again
            b = b._replace(mtime_ns=-1)
        pairs[p] = (b, r)
    entries = {p: None if v is None else (p, v[0].size, v[0].mtime_ns, tuple(v[0].node))
               for p, v in pairs.items()}
    printed = insync.refreshed(quick.printed, quick.sorted_walk, entries)
    sig = s.statedir.baseline_signature()
    few.index.update(pairs, sig, pos)
    insync.record(s.statedir, listing=listing, remote_url=s.remote.describe(),
                  remote_etag=done.after[1], patterns=s.ignore_patterns(),
                  now_ns=now, printed=printed, part=True)


def _index(s, listing, found, done: Carried) -> None:
    """Index the in-sync state (state/pathindex.py) when it is big enough to be worth it."""
    from .state import pathindex

    pos = s.statedir.last_pos
    if len(listing) < pathindex.INDEX_FILES or pos is None or pos.token != done.after[1]:
        pathindex.drop(s.statedir)
        return
    own, remote = _remote_after(done), found.remote.files
    pairs = []
    for p in sorted(listing):
        r = own[p] if p in own else remote.get(p)
        if r is None:
            pathindex.drop(s.statedir)
            return
        pairs.append((p, listing[p], r))
    pathindex.build(s.statedir, pairs, s.statedir.baseline_signature(), pos)


def _remember_in_sync(s, opts, found, plan, done: Carried, printed) -> None:
    """Write the quick-check record when the run left every path the same here, in the
    baseline and on the remote; otherwise make sure there is none. ``printed``: the
    fingerprint of the walk the run planned from, if the quick check took it (the record's
    listing when the run changed nothing on disk)."""
    listing = insync.listing_after(
        found.scanned.files, detect.visible(done.after[0], s.ignored()), done.final,
        (m.DOWNLOAD, m.DELETE_LOCAL)) if _clean(opts, found, plan, done) else None
    if listing is None:
        insync.forget(s.statedir)
        return
    on_disk = any(o.action.kind not in (m.UPLOAD, m.DELETE_REMOTE)
                  for o in done.final.values())
    if insync.record(s.statedir, listing=listing, remote_url=s.remote.describe(),
                     remote_etag=done.after[1], patterns=s.ignore_patterns(),
                     now_ns=time.time_ns(), printed=None if on_disk else printed):
        _index(s, listing, found, done)
