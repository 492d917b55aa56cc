"""Shared per-file metadata (docs/metadata.md#shared-metadata): one JSON document on the
remote (``layout.METADATA_KEY``), keyed by path, every write a compare-and-swap, and the
copy this clone last read (``layout.METADATA_SEEN``), which tells a teammate's change that
this clone never saw from one it did: a key changed to different values by two members,
each from the value it last saw, is a conflict, never silently overwritten."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

from ..state import swapdoc as casdoc
from ..core import layout, typed
from ..core.clock import now_iso
from ..core.errors import S3SyncMirrorError, EXIT_UNCONFIRMED
from ..state.csvfiles import write_atomic

FORMAT = 1
SIDECAR = "sidecar"  # the "from" of a value `meta import` took from a sidecar file


class MetadataConflict(S3SyncMirrorError):
    """A key a teammate changed since this clone last read it; ``conflicts`` lists them.
    The other changes of the same call were written."""

    exit_code = EXIT_UNCONFIRMED

    def __init__(self, message: str, conflicts=()):
        super().__init__(message)
        self.conflicts = list(conflicts)


@dataclass(frozen=True)
class Conflict:
    path: str
    key: str
    seen: Optional[dict]  # the entry this clone last saw (None: none)
    theirs: Optional[dict]  # the entry on the remote now (None: unset)
    mine: Optional[dict]  # the entry this call wanted (None: unset)


@dataclass
class Written:
    """What one write did: the (path, key, entry or None) it applied, how many it found
    already so, and the conflicts it left as they were."""

    applied: list = field(default_factory=list)
    unchanged: int = 0
    conflicts: list = field(default_factory=list)


def entry(value, user: str, at: str = "", source: str = "") -> dict:
    """A kept value: its type and value, who set it and when; ``source`` "sidecar" for
    one `meta import` took from a sidecar file."""
    out = {**typed.encode(value), "by": user, "at": at or now_iso()}
    if source:
        out["from"] = source
    return out


def files_of(doc: Optional[dict]) -> dict:
    """{path: {key: entry}} of a document (an absent document has none)."""
    files = (doc or {}).get("files") or {}
    return files if isinstance(files, dict) else {}


def merge(current: Mapping, seen: Mapping, changes: Mapping) -> tuple[dict, Written]:
    """PURE. The files after ``changes`` ({path: {key: entry or None to unset}}) over
    ``current`` (the remote's now), where ``seen`` is what this clone last read: a change
    is applied when the remote still holds the value this clone saw (or already holds the
    wanted one); otherwise it is a conflict and the remote's value stays."""
    new = {p: dict(keys) for p, keys in current.items()}
    done = Written()
    for path, wanted in changes.items():
        have, saw = current.get(path, {}), seen.get(path, {})
        for key, mine in wanted.items():
            theirs = have.get(key)
            if typed.same(theirs, mine) and (mine is None or theirs.get("from")
                                             == mine.get("from")):
                done.unchanged += 1
            elif typed.same(theirs, saw.get(key)) or typed.same(theirs, mine):
                _put(new, path, key, mine)
                done.applied.append((path, key, mine))
            else:
                done.conflicts.append(Conflict(path, key, saw.get(key), theirs, mine))
    return {p: keys for p, keys in new.items() if keys}, done


def _put(files: dict, path: str, key: str, value: Optional[dict]) -> None:
    keys = files.setdefault(path, {})
    if value is None:
        keys.pop(key, None)
    else:
        keys[key] = value


# -- this clone's copy ------------------------------------------------------------------
def seen(statedir) -> tuple[dict, Optional[str]]:
    """({path: {key: entry}}, ETag) as this clone last read the document."""
    try:
        doc = json.loads(statedir.layout.metadata_seen.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return {}, None
    if not isinstance(doc, dict):
        return {}, None
    return files_of(doc), doc.get("etag") or None


def remember(statedir, files: Mapping, etag: Optional[str]) -> None:
    """Keep the document as read now: its values count as seen by this clone."""
    data = casdoc.render({"format": FORMAT, "etag": etag or "", "files": files})
    write_atomic(statedir.layout.metadata_seen, data)


# -- the remote document ----------------------------------------------------------------
def fetch(remote, statedir=None, *, save: bool = False) -> tuple[dict, Optional[str]]:
    """({path: {key: entry}}, ETag) as on the remote now: one conditional GET against
    this clone's copy. ``save``: this read counts as seen (``meta get``)."""
    mine, known = seen(statedir) if statedir is not None else ({}, None)
    doc, etag = casdoc.read(remote, layout.METADATA_KEY, FORMAT, known if mine else None)
    files = mine if doc is None and etag is not None else files_of(doc)
    if save and (etag != known or not statedir.layout.metadata_seen.exists()):
        remember(statedir, files, etag)
    return files, etag


def write(remote, statedir, changes: Mapping) -> Written:
    """Apply ``changes`` with compare-and-swap (re-read and merged again on a lost race);
    afterwards this clone has seen the document as written, conflicts included (so the
    same command run again replaces the teammate's value, knowingly)."""
    saw, _ = seen(statedir)

    def change(doc):
        new, done = merge(files_of(doc), saw, changes)
        return ({"format": FORMAT, "files": new} if done.applied else None), done

    done, doc, etag = casdoc.update(remote, layout.METADATA_KEY, FORMAT, change)
    remember(statedir, files_of(doc), etag)
    return done


def follow_moves(s, outcomes) -> None:
    """After a sync's commit: shared metadata follows the files it moved on the remote (a
    failure is a warning; the files themselves are already moved and recorded)."""
    from ..core import model as m
    from ..ui.report import metadata_not_moved

    moved = {o.action.moved_from: o.action.path for o in outcomes
             if o.status == m.DONE and o.action.kind == m.MOVE_REMOTE}
    if not moved:
        return
    try:
        carry(s.remote, moved)
    except S3SyncMirrorError as exc:
        s.out.warn(metadata_not_moved(exc))


def carry(remote, moved: Mapping[str, str]) -> None:
    """A sync moved files {old path: new path}: their metadata moves with them (one
    compare-and-swap; nothing is written when none of them has any)."""
    def change(doc):
        files = files_of(doc)
        if not any(old in files for old in moved):
            return None, None
        files = dict(files)
        for old, new in moved.items():
            if old in files:
                files[new] = {**files.pop(old), **files.get(new, {})}
        return {"format": FORMAT, "files": files}, None

    casdoc.update(remote, layout.METADATA_KEY, FORMAT, change)


def values(files: Mapping, path: str) -> dict:
    """{key: typed value} of one path."""
    return {k: typed.decode(e) for k, e in sorted(files.get(path, {}).items())}
