"""``meta import``: the metadata of JSON sidecar files, ``name.ext.meta.json`` beside
``name.ext`` (mmmeta's ``generate``), as changes to the shared metadata that keep it in
step with the sidecars: each key of a sidecar is set, and a key an earlier import took
from it that it no longer holds is removed; keys set otherwise are left as they are
(docs/metadata.md#sidecar-files)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from ..core import typed
from .shared import SIDECAR, entry
from ..core.paths import in_scope, nfc, unsafe_reason
from ..pipeline.scan import walk

SUFFIX = ".meta.json"


def find(data_dir: Path, ignored, scope=()) -> dict:
    """{data path the sidecar describes: the sidecar's data path} in the data folder."""
    found, _warnings, _unreadable, _skipped = walk(data_dir, ignored)
    out = {}
    for rel, _size, _mtime, _node in found:
        path = nfc(rel)
        if not path.endswith(SUFFIX) or len(path) == len(SUFFIX):
            continue
        target = path[:-len(SUFFIX)]
        if target.endswith("/") or unsafe_reason(target) is not None:
            continue
        if scope and not in_scope(target, scope) and not in_scope(path, scope):
            continue
        out[target] = path
    return out


def value_of(raw):
    """A JSON value as a typed one: numbers and booleans keep their type, a string that
    is an ISO time becomes a time, a list or an object is kept as its JSON text."""
    if isinstance(raw, (bool, int, float)):
        return raw
    if isinstance(raw, str):
        return typed.parse_time(raw) or raw
    return json.dumps(raw, sort_keys=True, ensure_ascii=False)


def read(data_dir: Path, rel: str) -> tuple[dict, str]:
    """({key: typed value or None for null}, "" or why the sidecar was not read)."""
    try:
        doc = json.loads(Path(data_dir, *rel.split("/")).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not readable JSON"
        return {}, f"{rel}: {why}; skipped"
    if not isinstance(doc, dict):
        return {}, f"{rel}: not a JSON object of KEY: VALUE; skipped"
    bad = [k for k in doc if not isinstance(k, str) or not typed.KEY.fullmatch(k)]
    if bad:
        return {}, f"{rel}: {bad[0]!r} is not a usable name; skipped"
    return {k: None if v is None else value_of(v) for k, v in doc.items()}, ""


def changes(sidecar: Mapping, kept: Mapping, user: str, at: str) -> dict:
    """PURE. {key: entry or None} that bring one path's kept entries in step with its
    sidecar's values: set each key (null unsets it), remove what an earlier import took
    from a sidecar that no longer holds it."""
    out = {k: None if v is None else entry(v, user, at, SIDECAR) for k, v in sidecar.items()}
    for key, e in kept.items():
        if key not in sidecar and e.get("from") == SIDECAR:
            out[key] = None
    return out


def gather(data_dir: Path, ignored, kept: Mapping, user: str, at: str,
           scope=()) -> tuple[dict, list, int]:
    """(changes for ``metadata.write``, warnings, how many sidecars were read)."""
    out, warnings, read_ok = {}, [], 0
    for target, rel in sorted(find(data_dir, ignored, scope).items()):
        values, why = read(data_dir, rel)
        if why:
            warnings.append(why)
            continue
        read_ok += 1
        wanted = changes(values, kept.get(target, {}), user, at)
        if wanted:
            out[target] = wanted
    return out, warnings, read_ok
