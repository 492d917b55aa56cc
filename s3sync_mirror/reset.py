"""``reset``: remove the sync state (this clone's and the remote's state files) after
asking. Never a data file, never the local trash, never the remote archive."""
from __future__ import annotations

import shutil
from typing import Callable

from .core import layout
from .state import legacy, remotelog as statelog, remotestate
from .core.errors import PreconditionFailed, RemoteNotFound, StateError
from .session import open_session


def describe(settings, remote: bool) -> str:
    log = (f"a readable deletion log (one that cannot be read, on which deletions would "
           f"fail, is moved to {UNREADABLE_LOG})" if remote else "the remote's deletion log")
    there = (f"  remote: {layout.VERSIONS_KEY} and its log {layout.STATE_LOG_ROOT}/ at "
             f"{settings.remote_url} (the next sync rebuilds them from the remote's own "
             f"files)\n" if remote else "")
    return (f"This removes the sync state of {settings.data_dir}:\n"
            f"  local:  {settings.data_dir.name}/{layout.STATE_DIR}/ state files (baseline, "
            f"cached remote state, logs)\n{there}"
            f"It never removes a data file, the local {layout.STATE_DIR}/{layout.TRASH}/, "
            f"the remote's history or archive ({layout.CONTENT_ROOT}/), or {log}. "
            f"S3Synchrony's state files are copied to {layout.STATE_DIR}/{legacy.COPY_DIR}/ "
            f"first. The next "
            f"sync starts over: equal files are recorded, one-sided files are transferred, files "
            f"that differ become conflicts; nothing is deleted.")


UNREADABLE_LOG = f"{layout.STATE_DIR}/deleted_remote.unreadable.csv"


def reset_state(settings, confirm: Callable[[str], bool], *, remote: bool = False,
                say: Callable[[str], None] = print) -> bool:
    """Ask ``confirm`` with a description; remove the state only on True, and ``say``
    what was removed."""
    if not confirm(describe(settings, remote)):
        return False
    removed = []
    with open_session(settings, writes=True, jobs=2) as s:
        if remote:
            removed += _remove_remote_state(s.remote)
        for path in s.layout.state_files:
            if path.exists():
                legacy.keep_local_copy(path)  # S3Synchrony's CSVs: copied aside first
                path.unlink()
                removed.append(str(path))
        for folder in (s.layout.tmp, s.layout.cache):
            shutil.rmtree(folder, ignore_errors=True)
    say("Removed:\n  " + "\n  ".join(removed) if removed
        else "There was no sync state to remove.")
    return True


def _remove_remote_state(remote) -> list:
    """The remote state: its checkpoint first (the next sync then rebuilds it from the
    files), then the log entries after it, which nothing reads without it."""
    removed = []
    try:
        old = remote.get_bytes(layout.VERSIONS_KEY)[0]
    except RemoteNotFound:
        old = None
    if old is not None:
        if legacy.is_legacy(old):  # a team may go back: S3Synchrony's copy is kept
            remotestate.keep_remote_copy(remote, layout.VERSIONS_KEY, old)
        try:
            remote.delete(layout.VERSIONS_KEY)
            removed.append(remote.url(layout.VERSIONS_KEY))
        except RemoteNotFound:
            pass
    keep = None  # a member who rebuilt the state meanwhile: its log is live
    try:
        keep = statelog.log_root(statelog.log_id(remote.get_bytes(layout.VERSIONS_KEY)[0]))
    except RemoteNotFound:
        pass
    entries = 0
    for obj in list(remote.list(layout.STATE_LOG_ROOT + "/")):
        if keep is not None and obj.key.startswith(keep + "/"):
            continue
        try:
            remote.delete(obj.key)
            entries += 1
        except RemoteNotFound:
            pass
    if entries:
        noun = "entry" if entries == 1 else "entries"
        removed.append(f"{remote.url(layout.STATE_LOG_ROOT)}/ ({entries} log {noun})")
    removed += _set_aside_unreadable_log(remote)
    return removed


def _set_aside_unreadable_log(remote) -> list:
    """A deletion log that cannot be read makes every deletion fail: it is copied to
    UNREADABLE_LOG (never over an earlier copy), then removed; a new log starts with the
    next deletion. A readable one (S3Synchrony's included) is left as it is."""
    try:
        remotestate.read_deletions(remote)
        return []
    except StateError:
        pass
    data, etag = remote.get_bytes(layout.DELETED_KEY)
    name, n = UNREADABLE_LOG, 1
    while True:
        try:
            remote.put_bytes(name, data, if_none_match=True)
            break
        except PreconditionFailed:
            n += 1
            name = UNREADABLE_LOG.replace(".csv", f".{n}.csv")
    try:
        remote.delete(layout.DELETED_KEY, if_match=etag)
    except (RemoteNotFound, PreconditionFailed):  # replaced meanwhile: that one is read
        return [f"nothing: {remote.url(layout.DELETED_KEY)} was replaced meanwhile "
                f"(the unreadable one is kept as {remote.url(name)})"]
    return [f"{remote.url(layout.DELETED_KEY)} (unreadable; kept as {remote.url(name)})"]
