"""``prune``: remove archived versions beyond the retention (docs/history.md#prune).

Kept always (and out of reach: prune removes only keys under ``.S3/archive/`` and
``.S3/deleted/``, never an artifact of ``.S3/cas/``): every live version, every version a tag names, the last version of every
deleted file, every archived object the history does not explain. Kept by the options:
the ``keep_last`` newest replaced versions of each file, and the versions replaced within
``keep_within`` days.

Safe against a concurrent sync in two steps: an archived object found removable is first
*marked* (``.S3/prune_pending.csv``); a later prune removes it only once it has been
marked for ``grace`` seconds and is still removable then. A sync that reuses an archived
content in the meantime publishes a history row naming it, which makes it kept. Removed
objects are listed in ``.S3/pruned.csv``, so ``log`` no longer offers those versions."""
from __future__ import annotations

import csv
import io
from typing import NamedTuple

from ..core import layout
from . import tags as tagging, sources as timeline
from ..core.clock import iso_from_ns, now_iso, now_ns
from ..core.errors import PreconditionFailed, RemoteNotFound
from .versions import Version

DEFAULT_GRACE = 3600.0


class Plan(NamedTuple):
    remove: dict  # {key: size}: marked long enough ago, still removable: removed now
    mark: dict  # {key: size}: removable, marked now (removed by a later prune)
    kept: int  # archived objects kept
    versions: tuple = ()  # every version of the history, to say which ones a key holds


def _retired(mine: list[Version]) -> list[tuple]:
    """(version, when it stopped being current) for the non-live versions of one path,
    newest first (the time of the next newer version or deletion)."""
    out = []
    for newer, v in zip(mine, mine[1:]):
        if v.event != "deleted" and v.where != "live":
            out.append((v, newer.time))
    return out


def kept_keys(versions: list[Version], tagged: set, keep_last, keep_within, now: str) -> set:
    """The archive keys a prune must keep."""
    cutoff = iso_from_ns(now_ns() - int(keep_within * 86400 * 1e9)) \
        if keep_within is not None else None
    keep = set()
    by_path: dict = {}
    for v in versions:
        by_path.setdefault(v.path, []).append(v)
    for mine in by_path.values():
        if mine[0].event == "deleted" and len(mine) > 1:  # a deleted file's last version
            keep.update(k for p, k in mine[1].sources if p == "archive")
        for i, (v, retired) in enumerate(_retired(mine)):
            if (keep_last is not None and i < keep_last) or \
                    (cutoff is not None and retired >= cutoff) or v.checksum in tagged:
                keep.update(k for p, k in v.sources if p == "archive")
        for v in mine:
            if v.where == "live" or v.checksum in tagged:
                keep.add(layout.content_key(v.checksum))
    return keep


def _archived(remote) -> dict:
    return {o.key: o.size for root in (layout.CONTENT_ROOT, layout.ARCHIVE_ROOT)
            for o in remote.list(root + "/")}


def _read_pending(remote) -> tuple[dict, str | None]:
    try:
        data, etag = remote.get_bytes(layout.PRUNE_PENDING)
    except RemoteNotFound:
        return {}, None
    rows = csv.DictReader(io.StringIO(data.decode("utf-8", "replace")))
    return {r["Key"]: r["Marked At"] for r in rows if r.get("Key")}, etag


def _render(rows: dict, columns: list) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns)
    for key, value in sorted(rows.items()):
        w.writerow([key, value])
    return out.getvalue().encode("utf-8")


def plan(s, keep_last=None, keep_within=None, grace: float = DEFAULT_GRACE) -> Plan:
    versions = timeline.gather(s)
    explained = {k for v in versions for p, k in v.sources if p == "archive"}
    keep = kept_keys(versions, tagging.checksums(s.remote), keep_last, keep_within, now_iso())
    archived = _archived(s.remote)
    removable = {k: n for k, n in archived.items() if k in explained and k not in keep}
    pending, _ = _read_pending(s.remote)
    ripe = iso_from_ns(now_ns() - int(grace * 1e9))
    remove = {k: n for k, n in removable.items()
              if grace <= 0 or (k in pending and pending[k] <= ripe)}
    mark = {k: n for k, n in removable.items() if k not in remove}
    return Plan(remove, mark, len(archived) - len(removable), tuple(versions))


def held_by(p: Plan, key: str) -> list[Version]:
    """The versions whose bytes archive object ``key`` holds (one content may be several
    files' versions), newest first."""
    return [v for v in p.versions if any(k == key for _, k in v.sources)]


def _write_pending(remote, marked: dict) -> None:
    for _ in range(5):
        pending, etag = _read_pending(remote)
        rows = {k: pending.get(k, now_iso()) for k in marked}
        try:
            remote.put_bytes(layout.PRUNE_PENDING, _render(rows, ["Key", "Marked At"]),
                             if_match=etag, if_none_match=etag is None)
            return
        except PreconditionFailed:
            continue


def _record_pruned(remote, removed) -> None:
    for _ in range(5):
        try:
            data, etag = remote.get_bytes(layout.PRUNED)
            rows = {r["Key"]: r["Pruned At"] for r in csv.DictReader(io.StringIO(data.decode()))}
        except RemoteNotFound:
            rows, etag = {}, None
        rows.update({k: now_iso() for k in removed})
        try:
            remote.put_bytes(layout.PRUNED, _render(rows, ["Key", "Pruned At"]),
                             if_match=etag, if_none_match=etag is None)
            return
        except PreconditionFailed:
            continue


def prunable(key: str) -> bool:
    """Whether a key lies in the archive, the only place prune removes anything from (the
    artifact store, .S3/cas/, and everything else are out of its reach)."""
    return any(key.startswith(root + "/") for root in (layout.CONTENT_ROOT, layout.ARCHIVE_ROOT))


def carry_out(s, p: Plan) -> int:
    """Record what is removed, remove it, and mark the rest; returns bytes removed."""
    remove = {k: n for k, n in p.remove.items() if prunable(k)}
    _record_pruned(s.remote, remove)
    for key in remove:
        s.remote.delete(key)
    _write_pending(s.remote, {k: n for k, n in p.mark.items() if prunable(k)})
    return sum(remove.values())
