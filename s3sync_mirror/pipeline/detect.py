"""Detect: what is on each side now. The quick no-change check (pipeline/quickcheck.py), then the
scan of the data folder while the remote state is fetched, then the paths that must be
left alone this run and the plan over what is visible (see docs/stages.md#detect)."""
from __future__ import annotations

from typing import NamedTuple, Optional

from . import ahead as read_ahead, evidence, quickcheck as insync
from ..state import remotestate as remote_state
from ..core.background import Background
from ..core.errors import S3SyncMirrorError, UsageError
from ..core.logs import log
from ..core.paths import in_scope
from ..core.model import Plan
from .plan import make_plan
from .scan import ScanResult, case_insensitive, scan, walk
from .schedule import folders_of


class Quick(NamedTuple):
    in_sync: bool
    walked: Optional[tuple]  # the folder's walk, reused by the scan
    remote_etag: Optional[str]  # the remote state's ETag when a GET found it unchanged
    printed: Optional[tuple] = None  # the walk's fingerprint (insync.Printed), when taken
    record: Optional[tuple] = None  # the quick-check record it was held against
    sorted_walk: Optional[tuple] = None  # the walk in path order, cut at its bounds


class Detected(NamedTuple):
    scanned: ScanResult
    remote: remote_state.RemoteState
    warnings: list
    totals: Optional[tuple] = None  # (local files, remote files) when only some paths
    #                                 were read (pipeline/delta.py); else the dicts' sizes

    def counts(self) -> tuple:
        return self.totals[:2] if self.totals is not None else \
            (len(self.scanned.files), len(self.remote.files))


def visible(states: dict, ignored) -> dict:
    """Ignored paths leave all three sides: a file ignored here is not a deletion."""
    if ignored is None:
        return states
    return {p: st for p, st in states.items() if not ignored(p)}


def hidden(ignored, skipped) -> object:
    """What this run leaves alone on every side: ignored paths, and symlinks or other
    non-files with everything under them (a synced file or folder replaced by a symlink
    is not a deletion)."""
    if not skipped:
        return ignored
    tops = set(skipped)

    def hide(path: str) -> bool:
        if ignored is not None and ignored(path):
            return True
        return path in tops or any(f in tops for f in folders_of(path))

    return hide


def quick_check(s, paths) -> Quick:
    """Whether everything is as the last run that left it in sync recorded: a fresh walk
    and a conditional GET of the remote state against the record (pipeline/quickcheck.py)."""
    rec = None if paths else insync.load(s.statedir)
    patterns = s.ignore_patterns()
    if rec is None or not s.data_dir.is_dir() or not insync.matches(
            rec, remote_url=s.remote.describe(), patterns=patterns,
            baseline_sig=s.statedir.baseline_signature()):
        return Quick(False, None, None)
    etag = rec[1]

    def remote_unchanged() -> bool:
        if s.statedir.cached_remote_etag() != etag:
            return False
        try:
            return remote_state.unchanged(s.remote, etag, s.statedir.seen_head()[1])
        except S3SyncMirrorError:
            return False  # the full path reads it again and says what is wrong

    s.remote.warm()  # else building its client in the thread would hold up the walk
    with Background(remote_unchanged) as fut:
        walked = walk(s.data_dir, s.ignored())
        remote_same = fut.result()
    found, warnings, unreadable, skipped = walked
    if warnings or unreadable or skipped:
        return Quick(False, walked, etag if remote_same else None)
    # cut where the record's chunks were, so that a difference shows where it is
    ordered = insync.cut(found, rec[4].bounds)
    printed = insync.fingerprint(found, rec[4].bounds, ordered)
    return Quick(remote_same and printed.same(rec[4]), walked,
                 etag if remote_same else None, printed, rec, ordered)


def detect(s, base: dict, walked=None, remote_etag=None, *, ahead: bool = False,
           scope=None) -> Detected:
    """Scan the folder while the remote state is fetched. ``ahead``: then start reading
    the files new to this clone (within ``scope``) into memory (``pipeline/ahead.py``)."""
    notes: list = []
    with Background(remote_state.fetch, s.remote, s.statedir, save_cache=s.writes,
                    jobs=s.jobs, tmp_dir=s.layout.tmp, notes=notes,
                    known_unchanged=remote_etag) as fut:
        if s.data_dir.is_dir():
            if walked is None:  # what the session leaves alone: ignored, or not selected
                walked = walk(s.data_dir, s.ignored())
            scanned = scan(s.data_dir, base, s.ignore_patterns(), jobs=min(s.jobs, 8),
                           progress_factory=s.out.hash_progress, walked=walked)
        else:
            scanned = ScanResult(files={})
        if s.writes:  # a sync with changes: its transfers' loop, while the state comes
            s.remote.warm_transfers()  # (a fresh clone of 2,000 files: 0.798 -> 0.748 s)
        rs = fut.result()
    evidence.verify(s.remote, rs, base, local=scanned.files, jobs=s.jobs,
                    tmp_dir=s.layout.tmp)
    if ahead:
        try:
            read_ahead.start(s, base, scanned.files, rs.files, scope)
        except Exception:  # noqa: BLE001 - reading ahead only saves time: the batch reads
            log.debug("could not read ahead", exc_info=True)
    return Detected(scanned, rs, notes + scanned.warnings)


def _unreadable(scanned, paths) -> dict:
    blocked = {}
    for u in scanned.unreadable:
        blocked[u or "."] = ("error", f"{u or 'the data folder'}: cannot be read locally "
                                      f"(permission denied?); left alone this run")
        prefix = u + "/" if u else ""
        for p in paths:
            if p == u or (prefix and p.startswith(prefix)) or u == "":
                blocked[p] = ("error", f"{p}: cannot be read locally (permission denied?); "
                                       f"left alone this run")
    return blocked


def _case_clashes(paths) -> dict:
    groups: dict = {}
    for p in paths:
        groups.setdefault(p.casefold(), set()).add(p)
    blocked = {}
    for names in groups.values():
        if len(names) > 1:
            listed = ", ".join(sorted(names))
            for p in names:
                blocked[p] = ("blocked", f"names differ only by case ({listed}); this disk "
                                         f"cannot hold both: rename one")
    return blocked


def _file_folder(local: dict, base: dict, remote: dict, deleted) -> dict:
    """Paths that cannot be placed on one side because a name is a file on one side and a
    folder on the other (S3 holds both ``a.csv`` and ``a.csv/x``; a disk or a folder
    remote cannot)."""
    def leaving_here(q: str) -> bool:  # deleted here by this run (the remote recorded it)
        b = base.get(q)
        return q not in remote and q in deleted and b is not None \
            and b.checksum == local[q].checksum

    def leaving_there(q: str) -> bool:  # deleted on the remote by this run
        b = base.get(q)
        return q not in local and b is not None and b.checksum == remote[q].checksum

    def moving(p: str, here: dict, there: dict) -> bool:  # p goes from here to there
        b, t = base.get(p), there.get(p)
        return (t is None or t.checksum != here[p].checksum) and \
            (b is None or b.checksum != here[p].checksum)

    def under_a_file(here: dict, there: dict, differ, leaving, where: str, fix: str) -> dict:
        """Files arriving from ``here`` (of the paths ``differ``, where ``there`` lacks
        them or holds other content) whose folder is a file staying ``there``."""
        found = {}
        for p in differ:
            if not moving(p, here, there):
                continue
            clash = next((f for f in folders_of(p) if f in there and not leaving(f)), None)
            if clash is not None:
                found[p] = ("blocked", f"{p}: {clash} is a file {where}: resolve {clash} "
                                       f"first ({fix}), or rename one of them")
        return found

    rget = remote.get  # one pass: the paths whose content differs between the sides
    changed = [p for p, st in local.items()
               if (r := rget(p)) is not None and r.checksum != st.checksum]
    out = under_a_file(remote, local, [*changed, *sorted(remote.keys() - local.keys())],
                       leaving_here, "here but a folder on the remote", "keep the remote side")
    out.update(_new_file_meets_folder(local, base, remote))
    out.update(under_a_file(local, remote, [*changed, *sorted(local.keys() - remote.keys())],
                            leaving_there, "on the remote but a folder here",
                            "keep yours deletes it there"))
    return out


def _new_file_meets_folder(local: dict, base: dict, remote: dict) -> dict:
    """A new file on one side where the other side has a folder of that name (that this
    run does not empty: files deleted on the other side's word do not count)."""
    def staying(q: str, here: dict, there: dict) -> bool:
        b = base.get(q)
        return not (q not in here and b is not None and b.checksum == there[q].checksum)

    out = {}
    for here, there, where in ((remote, local, "here"), (local, remote, "on the remote")):
        folders = None
        for p in sorted(here.keys() - there.keys() - base.keys()):
            if folders is None:
                folders = {f for q in there if staying(q, here, there) for f in folders_of(q)}
            if p in folders:
                out[p] = ("blocked", f"{p}: a file on one side but a folder {where}: rename "
                                     f"one of them")
    return out


def blocked(scanned, base: dict, remote_files: dict, data_dir, deleted=frozenset()) -> dict:
    """Paths that must be left alone this run, with the reason."""
    out = _file_folder(scanned.files, base, remote_files, deleted)
    out.update(_unreadable(scanned, (*base, *remote_files, *scanned.files)))
    for p in scanned.clashes:
        out[p] = ("blocked", f"{p}: two files here have this name in different Unicode "
                             f"forms; rename one")
    if case_insensitive(data_dir):
        out.update(_case_clashes({*scanned.files, *remote_files}))
    return out


def plan_for(s, base: dict, found: Detected, scope, first_sync=None) -> Plan:
    ignored = hidden(s.ignored(), found.scanned.skipped)
    seen_base = visible(base, ignored)
    seen_remote = visible(found.remote.files, ignored)
    stop = blocked(found.scanned, seen_base, seen_remote, s.data_dir, found.remote.deleted) \
        if s.data_dir.is_dir() else {}
    for p, who in found.remote.deleted_here.items():
        stop[p] = ("blocked", f"{p}: {who or 'a member'} deleted this very version from the "
                              f"remote, and this clone has no baseline to tell more: delete "
                              f"it here, or rename it to share it again")
    return make_plan(seen_base, found.scanned.files, seen_remote, scope=scope, blocked=stop,
                     deleted_remote=found.remote.deleted, first_sync=first_sync)


def check_scope(scope, found: Detected, base: dict) -> None:
    """A path given on the command line must match something here, in the baseline or on
    the remote (a code object's artifacts, given with wildcards, may not exist yet)."""
    for item in scope or ():
        if item == "" or "*" in item or "?" in item:
            continue
        if not any(in_scope(p, (item,)) for side in (found.scanned.files, base,
                                                      found.remote.files) for p in side):
            raise UsageError(f"{item}: matches no file of the data folder, here or on the "
                             f"remote (paths are relative to the data folder)")
