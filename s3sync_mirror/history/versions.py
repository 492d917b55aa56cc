"""Every version of every file, as ``log`` shows it and ``restore`` finds it: the history
index's rows, the remote state's live versions and this clone's trash, merged. Pure: the
reading is done by the caller (``history.read_all``, ``remote_state.fetch``, ``trash``).

A version is (path, SHA-256, time made); the same version seen in several places is one
row. Versions are numbered per path, 1 the newest. Where its bytes are kept: ``live`` (the
remote file now), ``archive`` (the content archive, or the previous archive layout) or
``trash`` (this clone's ``.S3/trash/``)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Optional

from ..core import layout
from ..state.historyindex import Row

PLACES = ("live", "archive", "trash")


@dataclass(frozen=True)
class Version:
    path: str
    version: int
    time: str
    author: str
    size: int
    checksum: str
    event: str
    where: str  # the best place shown: live, archive or trash
    sources: tuple = ()  # ((place, key), ...): where the bytes can be read, cheapest first
    edited: str = ""  # the version's own "Time Edited" (``time`` is when it was recorded)

    def as_json(self) -> dict:
        return {"path": self.path, "version": self.version, "time": self.time,
                "author": self.author, "size": self.size, "checksum": self.checksum,
                "event": self.event, "where": self.where}


def _source(r: Row) -> tuple:
    if r.run == "trash":
        return ("trash", r.kept_at)
    return ("archive", r.kept_at or layout.content_key(r.checksum))


def _merge(a: Row, b: Row) -> Row:
    """Two sightings of one version: keep what each knows (the earliest record of it)."""
    at = min((x for x in (a.at, b.at) if x), default="")
    return a._replace(author=a.author or b.author, event=a.event or b.event, at=at)


def _events(rows: list[Row]) -> list[Row]:
    """Oldest first; a version with no recorded event was added (first, or after a
    deletion) or modified."""
    out, exists = [], False
    for r in rows:
        if r.event == "deleted":
            exists = False
        elif not r.event:
            r = r._replace(event="modified" if exists else "added")
            exists = True
        else:
            exists = True
        out.append(r)
    return out


def _one_path(rows: list[Row], live: Optional[Row], pruned: Mapping) -> list[Version]:
    seen: dict = {}
    sources: dict = {}
    for r in rows:
        key = (r.checksum, r.time, r.event == "deleted")
        seen[key] = _merge(seen[key], r) if key in seen else r
        sources.setdefault(key, set()).add(_source(r))
    if live is not None:
        key = (live.checksum, live.time, False)
        seen[key] = _merge(seen[key], live) if key in seen else live
        sources.setdefault(key, set()).add(("live", live.path))
    live_key = (live.checksum, live.time) if live is not None else None

    def when(r: Row) -> tuple:  # by when it was recorded; the live version is the newest
        return (r.checksum, r.time) == live_key and r.event != "deleted", r.at or r.time, \
            r.event == "deleted"

    ordered = _events(sorted(seen.values(), key=when))
    out, retired = [], "9999"
    for r in reversed(ordered):  # newest first; each retired when the newer one came
        found = sorted((s for s in sources[(r.checksum, r.time, r.event == "deleted")]
                        if not (s[0] == "archive" and pruned.get(s[1], "") >= retired)),
                       key=lambda s: ("trash", "live", "archive").index(s[0]))
        retired = r.at or r.time
        if not found:
            continue  # its only copy was pruned
        shown = min((s[0] for s in found), key=PLACES.index)
        out.append(Version(r.path, len(out) + 1, r.at or r.time, r.author, r.size, r.checksum,
                           r.event, "archive" if r.event == "deleted" else shown, tuple(found),
                           r.time))
    return out


def assemble(history: Iterable[Row], live: Mapping, trash: Iterable[Row] = (),
             pruned: Optional[Mapping] = None) -> list[Version]:
    """Every version of every path, newest first per path. ``live``: the remote state
    {path: FileState}; ``trash``: rows for this clone's trashed files (``kept_at`` = the
    file under the data folder, ``run`` = "trash"); ``pruned``: {archive key: when a prune
    removed it} (a version replaced before that is no longer there)."""
    by_path: dict = {}
    for r in list(history) + list(trash):
        by_path.setdefault(r.path, []).append(r)
    for p in live:
        by_path.setdefault(p, [])
    out = []
    for p in sorted(by_path):
        st = live.get(p)
        row = Row(p, st.edited_by, st.time_edited, st.checksum, st.size) if st else None
        out += _one_path(by_path[p], row, pruned or {})
    return out


def select(versions: Iterable[Version], paths=(), since: str = "", author: str = "") -> list:
    """Those under ``paths`` (files or folders), made at or after ``since`` (ISO), by
    ``author``; newest first."""
    def under(p: str) -> bool:
        return not paths or any(p == q or p.startswith(q.rstrip("/") + "/") or q in ("", ".")
                                for q in paths)
    chosen = [v for v in versions if under(v.path) and (not since or v.time >= since)
              and (not author or v.author == author)]
    return sorted(chosen, key=lambda v: (v.time, v.path), reverse=True)


def pick(versions: list[Version], path: str, *, version: Optional[int] = None,
         at: str = "", checksum: str = "") -> Optional[Version]:
    """The one version of ``path`` a restore asks for; None when there is none. Without a
    selector: the newest that is not live (a deleted file's last version)."""
    mine = [v for v in versions if v.path == path]
    if version is not None:
        return next((v for v in mine if v.version == version and v.event != "deleted"), None)
    if checksum:
        return next((v for v in mine if v.checksum.startswith(checksum.lower())
                     and v.event != "deleted"), None)
    if at:
        for v in mine:  # newest first: the first made at or before ``at``
            if v.time <= at:
                return None if v.event == "deleted" else v
        return None
    return next((v for v in mine if v.event != "deleted"), None)


def renumbered(versions: list[Version]) -> list[Version]:
    """After a filter that dropped rows of a path: number again, 1 the newest."""
    count: dict = {}
    out = []
    for v in versions:
        count[v.path] = count.get(v.path, 0) + 1
        out.append(replace(v, version=count[v.path]))
    return out
