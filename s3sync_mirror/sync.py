"""One sync: detect -> plan -> confirm -> execute -> commit.

Detection reads the remote state (one small conditional GET) while it scans the data
folder. The plan is shown; the user (or ``--yes``) confirms; the executor carries it out;
the remote state is committed with compare-and-swap, then the local baseline, which lists
only what really completed.
"""
from __future__ import annotations

import random
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

from . import model as m
from . import insync, remote_state, report, statecache
from .commit import changes_remote, new_baseline
from .errors import (EXIT_FAILURE, EXIT_OK, EXIT_UNCONFIRMED, MaxDeleteExceeded,
                     S3SyncMirrorError, UsageError)
from .execute import Context, Executor, Interrupted
from .model import Outcome, Plan
from .plan import deletion_share, make_plan, resolve
from .platforms import connect
from .progress import make as make_progress
from .scan import ScanResult, case_insensitive, ignore_matcher, scan, walk
from .state import log_row
from .statedir import StateDir

DEFAULT_JOBS = 16
CONFLICT_CHOICES = ("ask", "skip", "local", "remote", "both")


@dataclass
class Options:
    yes: bool = False
    dry_run: bool = False
    conflict: Optional[str] = None  # None: "ask" with a terminal, "skip" without
    max_delete: float = 50.0
    force: bool = False
    jobs: Optional[int] = None
    json: bool = False
    quiet: bool = False
    verbose: int = 0
    paths: tuple = ()  # limit the run to these data-relative files or folders
    status: bool = False
    interactive: Optional[bool] = None  # None: decided by whether stdin is a terminal
    prompt_io: Optional[tuple] = None  # (input, output) for prompt_toolkit (tests)

    def validate(self) -> None:
        if self.conflict is not None and self.conflict not in CONFLICT_CHOICES:
            raise UsageError(f"--conflict must be one of {', '.join(CONFLICT_CHOICES)}, "
                             f"not {self.conflict!r}")
        if not 0 <= float(self.max_delete) <= 100:
            raise UsageError(f"--max-delete is a percentage from 0 to 100, not {self.max_delete}")
        if self.jobs is not None and not 1 <= int(self.jobs) <= 256:
            raise UsageError(f"--jobs must be between 1 and 256, not {self.jobs}")


@dataclass
class SyncResult:
    """What a run planned and what became of each action."""

    plan: Plan
    outcomes: list = field(default_factory=list)
    exit_code: int = EXIT_OK
    warnings: list = field(default_factory=list)
    remote: str = ""
    elapsed: float = 0.0
    mode: str = "sync"  # sync | status | dry-run
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def rows(self) -> list[dict]:
        by_path = {o.action.path: o for o in self.outcomes}
        rows = []
        for a in self.plan.actions:
            o = by_path.get(a.path)
            if o is not None:
                rows.append(o.as_json())
            else:
                status = m.PLANNED if self.mode != "sync" else m.SKIPPED
                rows.append({"path": a.path, "action": a.kind, "reason": a.reason,
                             "status": status})
        for a in self.plan.problems:
            rows.append({"path": a.path, "action": m.CONFLICT, "reason": a.reason,
                         "status": m.FAILED if a.category == "error" else m.SKIPPED})
        return rows

    def summary(self) -> dict:
        rows = self.rows()
        out = {"mode": self.mode, "remote": self.remote, "exit_code": self.exit_code,
               "plan": self.plan.counts()}
        for s in (m.DONE, m.SKIPPED, m.FAILED, m.PLANNED):
            out[s] = sum(1 for r in rows if r["status"] == s)
        out["bytes"] = sum(o.transferred for o in self.outcomes)
        out["seconds"] = round(self.elapsed, 3)
        out["warnings"] = list(self.warnings)
        return out

    def to_dict(self) -> dict:
        return {"actions": self.rows(), "summary": self.summary()}


class Reporter:
    """Prints for people; silent under ``--json`` and ``-q`` (errors still reach stderr)."""

    def __init__(self, opts: Options):
        self.opts = opts
        self.on = not opts.json and not opts.quiet
        self.color = report.use_color(sys.stdout)

    def say(self, text: str = "") -> None:
        if self.on:
            report.write(text)

    def warn(self, text: str) -> None:
        if not self.opts.json:
            report.write(f"warning: {text}", sys.stderr)

    def progress(self, desc: str):
        enabled = self.on and sys.stderr.isatty()
        return make_progress(desc, enabled)


def _visible(states: dict, ignored) -> dict:
    if ignored is None:
        return states
    return {p: st for p, st in states.items() if not ignored(p)}


def _blocked(settings, scanned, base, remote_files, data_dir) -> dict:
    """Paths that must be left alone this run, with the reason."""
    blocked = {}
    for u in scanned.unreadable:
        blocked[u or "."] = ("error", f"{u or 'the data folder'}: cannot be read locally "
                                      f"(permission denied?); left alone this run")
        prefix = u + "/" if u else ""
        for p in (*base, *remote_files, *scanned.files):
            if p == u or (prefix and p.startswith(prefix)) or u == "":
                blocked[p] = ("error", f"{p}: cannot be read locally (permission denied?); "
                                       f"left alone this run")
    for p in scanned.clashes:
        blocked[p] = ("blocked", f"{p}: two files here have this name in different Unicode "
                                 f"forms; rename one")
    if case_insensitive(data_dir):
        groups: dict = {}
        for p in {*scanned.files, *remote_files}:
            groups.setdefault(p.casefold(), set()).add(p)
        for names in groups.values():
            if len(names) > 1:
                listed = ", ".join(sorted(names))
                for p in names:
                    blocked[p] = ("blocked", f"names differ only by case ({listed}); this "
                                             f"disk cannot hold both: rename one")
    return blocked


def _confirm(plan: Plan, opts: Options, interactive: bool, user: str, stamp: str,
             taken: set) -> tuple[list, int]:
    """(approved actions with conflicts resolved, number left unconfirmed)."""
    conflicts = plan.of_kind(m.CONFLICT)
    others = [a for a in plan.actions if a.kind != m.CONFLICT]
    ask = interactive and not opts.yes and not opts.dry_run
    if opts.yes or opts.dry_run:
        approved = list(others)
    elif ask:
        from . import prompts

        kw = {}
        if opts.prompt_io:
            kw = {"input": opts.prompt_io[0], "output": opts.prompt_io[1]}
        approved, _ = prompts.choose_groups(others, **kw)
    else:
        return [], len(plan.actions)
    policy = opts.conflict or ("ask" if ask else "skip")
    if policy == "ask" and ask and conflicts:
        from . import prompts

        resolutions = prompts.choose_conflicts(conflicts, **kw)
    elif policy in ("local", "remote", "both"):
        resolutions = {a.path: policy for a in conflicts}
    else:
        resolutions = {}
    for a in conflicts:
        r = resolve(a, resolutions.get(a.path, m.SKIP), user=user, stamp=stamp, taken=taken)
        if r is not None:
            approved.append(r)
            if r.conflict_path:
                taken.add(r.conflict_path)
    return approved, len(plan.actions) - len(approved)


def _guard_deletes(plan: Plan, local_n: int, remote_n: int, opts: Options) -> None:
    if opts.force:
        return
    pl, pr = deletion_share(plan.actions, local_n, remote_n)
    for side, pct, n, total in (("local", pl, len(plan.of_kind(m.DELETE_LOCAL)), local_n),
                                ("remote", pr, len(plan.of_kind(m.DELETE_REMOTE)), remote_n)):
        if pct > opts.max_delete:
            raise MaxDeleteExceeded(
                f"this sync would delete {n} of the {total} {side} files ({pct:.0f}%), more "
                f"than --max-delete {opts.max_delete:g}%. Nothing was changed. If that is "
                f"what you want, run again with --force (deleted files are kept in "
                f"{'.S3/trash/' if side == 'local' else 'the remote .S3/deleted/'}).")


REPLANS = 4  # how often a run re-plans paths that changed under it before giving up


class _Run:
    """The stages of one sync, sharing what they need."""

    def __init__(self, settings, opts: Options):
        self.settings, self.opts = settings, opts
        self.out = Reporter(opts)
        self.mode = "status" if opts.status else ("dry-run" if opts.dry_run else "sync")
        self.writes = self.mode == "sync"
        self.interactive = opts.interactive if opts.interactive is not None \
            else sys.stdin.isatty()
        self.jobs = int(opts.jobs or DEFAULT_JOBS)
        self.data_dir = settings.data_dir
        self.statedir = StateDir(self.data_dir, read_only=not self.writes)
        self.stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.remote = None
        self.patterns: list = []
        self.ignored = None
        self.after = None  # (new baseline, remote ETag) when the remote agrees with it

    def prepare(self) -> None:
        if self.writes:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.statedir.ensure()
            self.statedir.clean_tmp()
        self.patterns = self.statedir.ignore_patterns()
        self.ignored = ignore_matcher(self.patterns)

    def quick_check(self):
        """(still in sync?, the folder's walk or None, the remote state's ETag if the GET
        found it unchanged, else None): the record of the last run that left everything in
        sync, checked against a fresh walk and a conditional GET of the remote state (see
        insync.py)."""
        rec = None if self.opts.paths else insync.load(self.statedir)
        if rec is None or not self.data_dir.is_dir() or not insync.matches(
                rec, remote_url=self.remote.describe(), patterns=self.patterns,
                baseline_sig=statecache.signature(self.statedir.versions_local)):
            return False, None, None
        etag = rec[1]

        def remote_unchanged() -> bool:
            if self.statedir.cached_remote_etag() != etag:
                return False
            try:
                return self.remote.get_bytes(remote_state.VERSIONS_KEY,
                                             if_none_match=etag) is None
            except S3SyncMirrorError:
                return False  # the full path reads it again and says what is wrong

        with ThreadPoolExecutor(max_workers=1) as bg:
            fut = bg.submit(remote_unchanged)
            walked = walk(self.data_dir, self.ignored)
            remote_same = fut.result()
        found, warnings, unreadable = walked
        same = remote_same and not warnings and not unreadable \
            and insync.listing_of(found) == rec[4]
        return same, walked, etag if remote_same else None

    def detect(self, base: dict, notes: list, walked=None, remote_etag=None):
        """(scan result, remote state): the remote state is fetched while the folder is
        scanned."""
        with ThreadPoolExecutor(max_workers=1) as bg:
            fut = bg.submit(remote_state.fetch, self.remote, self.statedir,
                            save_cache=self.writes, ignored=self.ignored, jobs=self.jobs,
                            tmp_dir=self.statedir.tmp, notes=notes,
                            known_unchanged=remote_etag)
            if self.data_dir.is_dir():
                scanned = scan(self.data_dir, base, self.patterns, jobs=min(self.jobs, 8),
                               progress_factory=_hash_progress(self.out), walked=walked)
            else:
                scanned = ScanResult(files={})
            return scanned, fut.result()

    def record_in_sync(self, scanned, plan: Plan, final: dict, warnings) -> None:
        """After a full sync: if every path is now the same here, in the baseline and on
        the remote, write the quick-check record; otherwise make sure there is none."""
        after = self.after
        clean = after is not None and not self.opts.paths and not warnings \
            and not plan.problems and not scanned.disk and not scanned.clashes \
            and not scanned.unreadable and len(final) == len(plan.actions) \
            and all(o.status == m.DONE and not o.action.conflict_path
                    for o in final.values())
        if not clean:
            insync.forget(self.statedir)
            return
        new_base, remote_etag = after
        seen = _visible(new_base, self.ignored)
        listing = {p: (b.size, b.mtime_ns) for p, b in seen.items()}
        fetched = {p for p, o in final.items() if o.action.kind == m.DOWNLOAD}
        # The listing must be what is on disk now: what the scan saw, less what was
        # deleted here, with what was downloaded as placed.
        for p, st in scanned.files.items():
            if p in fetched:
                continue
            want = None if final.get(p) is not None \
                and final[p].action.kind == m.DELETE_LOCAL else (st.size, st.mtime_ns)
            if listing.get(p) != want:
                insync.forget(self.statedir)
                return
        if any(p not in scanned.files and p not in fetched for p in listing):
            insync.forget(self.statedir)
            return
        insync.record(self.statedir, listing=listing, remote_url=self.remote.describe(),
                      remote_etag=remote_etag, patterns=self.patterns,
                      now_ns=time.time_ns())

    def make_plan(self, base: dict, scanned, rs, scope) -> Plan:
        # Ignored paths leave all three sides: a file ignored here is not a deletion.
        seen_base = _visible(base, self.ignored)
        seen_remote = _visible(rs.files, self.ignored)
        blocked = _blocked(self.settings, scanned, seen_base, seen_remote, self.data_dir) \
            if self.data_dir.is_dir() else {}
        return make_plan(seen_base, scanned.files, seen_remote, scope=scope, blocked=blocked)

    def show(self, plan: Plan) -> None:
        self.out.say(f"{self.data_dir.name}/ <-> {self.remote.describe()}")
        for line in report.plan_lines(plan, verbose=self.opts.verbose > 0,
                                      color=self.out.color):
            self.out.say(line)
        self.out.say(f"Plan: {report.counts_text(plan.counts())}.")

    def carry_out(self, base, scanned, rs, plan, approved, result) -> dict:
        """Execute and commit; then, while some actions failed only because a side
        changed under them, re-read, re-plan those paths and carry out again the ones
        whose decision did not change. Returns {path: final outcome}."""
        final: dict = {}
        for attempt in range(REPLANS + 1):
            outcomes, base = _execute_and_commit(self, base, scanned, rs, plan, approved,
                                                 result)
            final.update((o.action.path, o) for o in outcomes)
            retry = {o.action.path: o.action for o in outcomes if o.retryable}
            if not retry or result.interrupted or attempt == REPLANS:
                break
            # A teammate's upload lands before their commit: give it a moment.
            time.sleep(0.1 * 2 ** attempt * random.uniform(0.8, 1.2))
            scanned, rs = self.detect(base, [])
            plan = self.make_plan(base, scanned, rs, tuple(retry))
            approved = [a for a in plan.actions if a.path in retry
                        and not retry[a.path].resolution and a.kind == retry[a.path].kind]
            if not approved and not plan.records:
                break
        if attempt:
            self.after = None  # paths changed under this run: no quick-check record
        for path, o in final.items():
            if o.retryable and o.status == m.FAILED and o.action.kind == m.DOWNLOAD:
                final[path] = o.__class__(o.action, m.FAILED, retryable=True, error=(
                    f"{path}: the remote object is newer than versions_remote.csv records: a "
                    f"teammate may be uploading it right now (run again shortly), or it was "
                    f"changed outside s3sync_mirror (then `reset` re-indexes the remote); "
                    f"not downloaded"))
        return final


def run_sync(settings, opts: Options) -> SyncResult:
    """Plan, confirm, carry out and record one sync described by ``settings``."""
    opts.validate()
    t0 = time.monotonic()
    run = _Run(settings, opts)
    if not run.writes:
        return _run_sync(run, t0)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with run.statedir.run_lock():
        return _run_sync(run, t0)


def _run_sync(run: _Run, t0: float) -> SyncResult:
    settings, opts = run.settings, run.opts
    run.prepare()
    notes: list = []
    run.remote = connect(settings, jobs=run.jobs)
    with run.remote:
        in_sync, walked, remote_etag = run.quick_check()
        if in_sync:
            return _nothing_to_do(run, t0)
        if run.writes:
            insync.forget(run.statedir)
        base = run.statedir.load_baseline()
        scanned, rs = run.detect(base, notes, walked, remote_etag)
        warnings = notes + scanned.warnings
        for w in warnings:
            run.out.warn(w)
        plan = run.make_plan(base, scanned, rs, opts.paths)
        result = SyncResult(plan=plan, warnings=warnings, remote=run.remote.describe(),
                            mode=run.mode)
        run.show(plan)
        if run.mode == "status":
            result.elapsed = time.monotonic() - t0
            return result
        _guard_deletes(plan, len(scanned.files), len(rs.files), opts)
        taken = {*scanned.files, *rs.files, *base}
        approved, unconfirmed = _confirm(plan, opts, run.interactive, settings.user,
                                         run.stamp, taken)
        if run.mode == "dry-run":
            for a in approved:
                run.out.say(f"  would {a.kind.replace('_', ' ')}: {a.path}"
                            + (f" (as {a.conflict_path})" if a.conflict_path else ""))
            left = unconfirmed + len(plan.problems)
            result.exit_code = EXIT_UNCONFIRMED if left or (not opts.yes and not plan.empty) \
                else EXIT_OK
            result.elapsed = time.monotonic() - t0
            return result
        if not run.interactive and not opts.yes:
            if not plan.empty:
                run.out.say("No terminal to confirm on: nothing was done. Run in a terminal, "
                            "or pass --yes to apply every non-conflicting action.")
                result.exit_code = EXIT_UNCONFIRMED
            result.elapsed = time.monotonic() - t0
            return result
        final = run.carry_out(base, scanned, rs, plan, approved, result)
        if not result.interrupted:
            run.record_in_sync(scanned, plan, final, warnings)
    order = {a.path: i for i, a in enumerate(plan.actions)}
    result.outcomes = sorted(final.values(), key=lambda o: order.get(o.action.path, 1 << 30))
    failed = sum(1 for o in result.outcomes if o.status == m.FAILED)
    left = len(plan.actions) - sum(1 for o in result.outcomes if o.status == m.DONE) - failed
    if failed or any(a.category == "error" for a in plan.problems):
        result.exit_code = EXIT_FAILURE
    elif left or plan.problems:
        result.exit_code = EXIT_UNCONFIRMED
    result.elapsed = time.monotonic() - t0
    _say_summary(run.out, result, failed, left)
    if result.interrupted:
        raise KeyboardInterrupt()
    return result


def _nothing_to_do(run: _Run, t0: float) -> SyncResult:
    """The end of a run whose quick check found everything as the last run left it."""
    plan = Plan(actions=(), records=(), problems=())
    result = SyncResult(plan=plan, remote=run.remote.describe(), mode=run.mode)
    run.show(plan)
    result.elapsed = time.monotonic() - t0
    if run.mode == "sync":
        _say_summary(run.out, result, 0, 0)
    return result


def _hash_progress(out: Reporter):
    def factory(desc, total):
        if total < (64 << 20):
            return None
        p = out.progress(desc)
        p.set_size(total)
        return p
    return factory


def _execute_and_commit(run: _Run, base, scanned, rs, plan, approved, result):
    """Carry out ``approved``, then record: the remote state first (compare-and-swap),
    then the local baseline. Returns (outcomes, new baseline)."""
    settings, out, remote, statedir = run.settings, run.out, run.remote, run.statedir
    journal = statedir.open_journal()
    ctx = Context(remote=remote, data_dir=settings.data_dir, statedir=statedir,
                  user=settings.user, stamp=run.stamp, run_id=secrets.token_hex(3),
                  journal=journal, prior_uploads=journal.load(), disk=scanned.disk,
                  jobs=run.jobs, progress=out.progress("sync"))
    try:
        outcomes = Executor(ctx).run(approved)
    except Interrupted as exc:
        outcomes, result.interrupted = exc.outcomes, True
    remote_ok, rejected = True, set()
    agrees = not rs.rebuilt  # the remote state is what this run read, plus its own changes
    remote_etag = rs.etag
    if changes_remote(outcomes) or (rs.rebuilt and (plan.records or outcomes)):
        try:
            _, rejected, others = remote_state.commit(remote, statedir, rs, outcomes)
            agrees, remote_etag = not rejected and not others, statedir.cached_remote_etag()
            if others:
                out.say(f"The remote changed during this sync ({len(others)} file(s) by "
                        f"others): run again to bring those changes here.")
            _check_conditional_writes(run)
        except S3SyncMirrorError as exc:
            remote_ok = agrees = False
            out.warn(f"could not record the new remote state: {exc}. The files already "
                     f"sent are kept; the next run finishes the job.")
            result.warnings.append(str(exc))
    now_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if remote_ok:
        rows = [log_row(o.action.path, o.action.remote, settings.user, now_iso, o.archived_as)
                for o in outcomes if o.status == m.DONE and o.action.kind == m.DELETE_REMOTE
                and o.action.path not in rejected]
        try:
            remote_state.append_deleted(remote, statedir, rows)
        except S3SyncMirrorError as exc:
            out.warn(f"could not update the remote deleted_remote.csv: {exc}")
    fixed = []
    for o in outcomes:
        if o.action.path in rejected:
            o = Outcome(o.action, m.FAILED, error=f"{o.action.path}: another member changed "
                        f"it on the remote during this sync; run again", retryable=True)
        elif not remote_ok and changes_remote([o]):
            o = Outcome(o.action, m.FAILED, error=f"{o.action.path}: sent, but the remote "
                        f"state could not be recorded; run again")
        fixed.append(o)
    new_base = new_baseline(base, scanned.files, plan.records, outcomes, rejected,
                            time.time_ns(), remote_committed=remote_ok)
    if new_base != base:
        statedir.save_baseline(new_base)
    run.after = (new_base, remote_etag) if agrees else None
    if remote_ok:
        journal.clear()
    statedir.append_deleted_local([
        log_row(o.action.path, o.action.local, settings.user, now_iso, o.archived_as)
        for o in fixed if o.status == m.DONE and o.action.kind == m.DELETE_LOCAL])
    return fixed, new_base


def _check_conditional_writes(run: _Run) -> None:
    """Once per clone and remote: warn if the server ignores conditional writes."""
    url = run.remote.describe()
    if run.statedir.remote_checked(url):
        return
    if run.remote.honours_conditional_writes():
        run.statedir.mark_remote_checked(url)
        return
    run.out.warn(f"{url} ignores conditional writes (If-None-Match/If-Match): if two members "
                 f"sync at the same moment, one's changes to the shared state can be lost. "
                 f"Use a server that honours them (AWS S3, MinIO, Ceph RGW, R2), or sync one "
                 f"at a time.")


def _say_summary(out: Reporter, result: SyncResult, failed: int, left: int) -> None:
    done = [o for o in result.outcomes if o.status == m.DONE]
    if not result.outcomes and not left and not result.plan.problems:
        out.say("Everything is in sync.")
        return
    verbs = {}
    for o in done:
        k = o.action.shown_kind
        verbs[k] = verbs.get(k, 0) + 1
    moved = sum(o.transferred for o in done)
    out.say(f"Done: {report.counts_text(verbs, done=True)}; {report.human(moved)} in "
            f"{result.elapsed:.2f} s.")
    for o in result.outcomes:
        if o.status == m.FAILED:
            report.write(f"failed: {o.error}", sys.stderr)
    for a in result.plan.problems:
        if a.category == "error":
            report.write(f"failed: {a.reason}", sys.stderr)
    if left:
        out.say(f"{left} action(s) left unconfirmed or unresolved: run again to decide them.")
    if result.plan.problems:
        out.say(f"{len(result.plan.problems)} file(s) left alone (see the reasons above).")
    if failed:
        out.say(f"{failed} file(s) failed; the rest is recorded. Run again to retry them.")
