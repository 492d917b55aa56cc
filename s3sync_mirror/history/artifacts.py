"""Putting artifacts and listing them (docs/artifacts.md): the files a value names stored
once each (``history/cas.py``), then its manifest, then a small listing record
``.S3/artifacts/<hash>.json`` (who stored it, when, and the manifest's value, so that
``artifact list --json`` can be queried for a pin or a commit without reading the store)."""
from __future__ import annotations

import json
from pathlib import Path

from ..core import layout
from ..core.clock import now_iso
from ..core.errors import PreconditionFailed, RemoteNotFound, UsageError
from . import cas, manifests


def live_copies(remote, statedir, jobs: int = 8) -> dict:
    """{SHA-256: [remote keys that hold it]}: the archive's key and every live file with
    that content (copied server-side instead of sent again)."""
    from ..state import remotestate

    files = remotestate.fetch(remote, statedir, use_cache=False, save_cache=False,
                              jobs=jobs).files
    out: dict = {}
    for path, st in files.items():
        out.setdefault(st.checksum, []).append(path)
    return out


def store_paths(s, paths: dict, tmp_dir, repair: bool = False) -> dict:
    """Store each local file of ``paths`` ({placeholder: Path}); returns {placeholder:
    (SHA-256, kept|copied|sent)}. ``repair``: replace stored copies found damaged."""
    hashed = {}
    for ref, p in paths.items():
        if not Path(p).is_file():
            raise UsageError(f"{p}: no such file. A path in an artifact names a file to store "
                             f"by content; give text (str) for any other path")
        hashed[ref] = cas.hash_file(Path(p))
    live = live_copies(s.remote, s.statedir, s.jobs) if hashed else {}
    done = {}
    for ref, (checksum, size) in hashed.items():
        sources = [layout.content_key(checksum), *live.get(checksum, ())]
        done[ref] = (checksum, cas.store_file(s.remote, Path(paths[ref]), checksum, size,
                                              copy_from=sources, tmp_dir=tmp_dir,
                                              repair=repair))
    return done


def put_value(s, name: str, value: dict, paths: dict, tmp_dir,
              origin: dict | None = None, repair: bool = False) -> tuple[str, dict]:
    """Store the files ``paths`` names, then the manifest ``{"class": name, "value":
    value}`` with each path replaced by its SHA-256; returns (its hash, what each file
    took). ``origin``: the pin and commit for the listing record when the value has none."""
    done = store_paths(s, paths, tmp_dir, repair)
    data = manifests.render(name, value, {ref: h for ref, (h, _) in done.items()})
    checksum, _how = cas.store_bytes(s.remote, data)
    record(s.remote, checksum, data, s.user, origin=origin)
    return checksum, done


def record(remote, checksum: str, data: bytes, who: str, *, origin: dict | None = None) -> None:
    """The listing record of manifest ``checksum`` (written once: the first put is kept)."""
    parsed = manifests.parse(data)
    if parsed is None:
        return
    name, value = parsed
    origin = origin or {}
    doc = {"hash": checksum, "class": name, "stored": now_iso(), "by": who,
           "files": len(manifests.named_hashes(value)),
           "pin": str(value.get("pin") or origin.get("pin", "")),
           "commit": str(value.get("commit") or origin.get("commit", "")), "value": value}
    try:
        remote.put_bytes(layout.artifact_record_key(checksum),
                         json.dumps(doc, ensure_ascii=False).encode("utf-8"),
                         if_none_match=True)
    except PreconditionFailed:
        pass


def listing(remote) -> list[dict]:
    """Every artifact put or imported here: hash, class, stored, by, files, pin, commit,
    value; oldest first."""
    out = []
    for obj in remote.list(layout.ARTIFACTS_ROOT + "/"):
        try:
            data, _ = remote.get_bytes(obj.key)
            doc = json.loads(data.decode("utf-8"))
        except (RemoteNotFound, ValueError, UnicodeDecodeError):
            continue  # a record half-removed by hand: the artifact itself is still stored
        if isinstance(doc, dict) and doc.get("hash"):
            out.append(doc)
    return sorted(out, key=lambda d: (d.get("stored", ""), d["hash"]))


MANIFEST_LIMIT = 16 * 1024 * 1024  # a bigger object is read as a file, never as a manifest


def import_store(s, source, tmp: Path) -> dict:
    """Copy every entry of the hashfs store ``source`` (a connection) into this store,
    each SHA-256-checked; returns {"imported", "kept", "manifests", "damaged": [keys]}."""
    from . import hashfs

    counts: dict = {"imported": 0, "kept": 0, "manifests": 0, "damaged": []}
    tmp.parent.mkdir(parents=True, exist_ok=True)
    for checksum, key, size in hashfs.entries(source):
        try:
            digest = source.download(key, tmp)
            if digest != checksum:
                counts["damaged"].append(source.url(key))
                continue
            how = cas.store_file(s.remote, tmp, checksum, size,
                                 copy_from=[layout.content_key(checksum)])
            counts["kept" if how == "kept" else "imported"] += 1
            if size <= MANIFEST_LIMIT and manifests.parse(data := tmp.read_bytes()):
                record(s.remote, checksum, data, s.user)
                counts["manifests"] += 1
        finally:
            tmp.unlink(missing_ok=True)
    return counts
