"""``meta import --mmmeta``: read what mmmeta 0.4 left (its ``_mmmeta/config.yml``, its
metadata JSON files wherever they lie, its ``_mmmeta/db`` CSVs and ``_mmmeta/_store``) as
changes to the shared metadata and the team store (docs/metadata.md#moving-over-from-mmmeta)."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Mapping, Optional

from ..core import typed
from ..core.paths import nfc, unsafe_reason
from ..pipeline.scan import walk
from .shared import entry
from .sidecars import SUFFIX, value_of

DIR = "_mmmeta"
SOURCE = "mmmeta"  # the "from" of a value an mmmeta import set


class Config:
    """mmmeta's ``metadata:`` settings: the unique key, the key naming the file, and the
    keys kept (none listed: all)."""

    def __init__(self, doc: Optional[dict]):
        meta = (doc or {}).get("metadata") or {}
        meta = meta if isinstance(meta, dict) else {}
        self.unique = str(meta.get("unique") or "content_hash")
        self.file_name = str(meta.get("file_name") or self.unique)
        listed = [*_list(meta.get("required")), *_list(meta.get("include"))]
        self.keys = {self.unique, self.file_name, *map(str, listed)} if listed else set()

    def keep(self, key: str) -> bool:
        return not key.startswith("__") and (not self.keys or key in self.keys)


def _list(v) -> list:
    return [] if v is None else list(v) if isinstance(v, (list, tuple)) else [v]


def find_dir(data_dir: Path, repo_root: Path) -> Optional[Path]:
    """The ``_mmmeta/`` folder: in the data folder, else at the repo root."""
    for base in (data_dir, repo_root):
        if (base / DIR).is_dir():
            return base / DIR
    return None


def read_config(mdir: Optional[Path]) -> tuple[Config, list]:
    """(the config, warnings)."""
    if mdir is None or not (mdir / "config.yml").is_file():
        return Config(None), []
    import yaml

    try:
        doc = yaml.safe_load((mdir / "config.yml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return Config(None), [f"{mdir / 'config.yml'}: not readable ({exc}); read as "
                              f"mmmeta's defaults (key content_hash)"]
    return Config(doc if isinstance(doc, dict) else None), []


def flatten(doc: Mapping, trail: str = "") -> dict:
    """mmmeta's keys: a nested object's keys joined with ``:``, ``-`` written ``_``."""
    out = {}
    for k, v in doc.items():
        key = trail + str(k).replace("-", "_")
        if isinstance(v, dict):
            out.update(flatten(v, key + ":"))
        else:
            out[key] = v
    return out


def _target(data_dir: Path, folder: str, name) -> Optional[str]:
    """The data path a metadata file names: beside it, else from the data folder's top."""
    if not isinstance(name, str) or not name.strip():
        return None
    for rel in (f"{folder}/{name}" if folder else name, name):
        rel = nfc(os.path.normpath(rel).replace(os.sep, "/"))
        if unsafe_reason(rel) is None and Path(data_dir, *rel.split("/")).is_file():
            return rel
    return None


def json_files(data_dir: Path, ignored, cfg: Config) -> tuple[dict, dict, list, int]:
    """({data path: {key: typed value}}, {unique: data path}, warnings, files read): the
    JSON files anywhere in the data folder (not in ``_mmmeta/``, not sidecars) that name
    a file by the config's file_name key."""
    found, warnings, _unreadable, _skipped = walk(data_dir, ignored)
    out, by_unique, warn, read = {}, {}, [], 0
    for rel, *_ in sorted(found):
        rel = nfc(rel)
        if not rel.endswith(".json") or rel.endswith(SUFFIX) or \
                rel.split("/")[0] == DIR:
            continue
        try:
            doc = json.loads(Path(data_dir, *rel.split("/")).read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            continue  # not metadata: a data file that is not JSON after all
        if not isinstance(doc, dict):
            continue
        flat = flatten(doc)
        if cfg.file_name not in flat:
            continue  # a JSON data file, not mmmeta metadata
        folder = rel.rpartition("/")[0]
        target = _target(data_dir, folder, flat[cfg.file_name])
        if target is None:
            warn.append(f"{rel}: names {flat[cfg.file_name]!r} ({cfg.file_name}), which is "
                        f"not a file beside it or in the data folder; skipped")
            continue
        read += 1
        values = {k: None if v is None else value_of(v) for k, v in flat.items()
                  if cfg.keep(k) and typed.KEY.fullmatch(k)}
        out[target] = values
        if flat.get(cfg.unique) is not None:
            by_unique[str(flat[cfg.unique])] = target
    return out, by_unique, warnings + warn, read


def db_rows(mdir: Optional[Path], cfg: Config) -> dict:
    """{unique: {key: text}} of ``_mmmeta/db/``: the steps from the newest ``.squashed``
    on, in name (time) order, later values over earlier (its AppendOnlyBackend.load)."""
    db = mdir / "db" if mdir is not None else None
    if db is None or not db.is_dir():
        return {}
    names = sorted(p.name for p in db.iterdir() if p.is_file()
                   and p.name.endswith((".append", ".squashed")))
    start = max((i for i, n in enumerate(names) if n.endswith(".squashed")), default=0)
    rows: dict = {}
    for name in names[start:]:
        with open(db / name, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                uid = row.get(cfg.unique)
                if not uid:
                    continue
                keys = row.get("__mmmeta_keys")
                wanted = set(keys.split(",")) | {cfg.unique} if keys else set(row)
                rows.setdefault(uid, {}).update(
                    {k: v for k, v in row.items() if k in wanted and k is not None})
    return rows


def store_values(mdir: Optional[Path]) -> dict:
    """{key: typed value} of ``_mmmeta/_store/`` (one file per key)."""
    store = mdir / "_store" if mdir is not None else None
    if store is None or not store.is_dir():
        return {}
    out = {}
    for p in sorted(store.iterdir()):
        if p.is_file() and typed.KEY.fullmatch(p.name):
            text = p.read_text(encoding="utf-8").strip()
            if text:
                out[p.name] = typed.infer(text)
    return out


def changes(data_dir: Path, ignored, repo_root: Path, kept: Mapping, user: str,
            at: str) -> tuple[dict, dict, list, int]:
    """(metadata changes, store values to set, warnings, metadata files and rows read).
    A JSON file's keys are set (kept in step, as a sidecar's); a db row's keys only where
    the file has no such key yet (the db is read once: it never overrides)."""
    mdir = find_dir(data_dir, repo_root)
    cfg, warnings = read_config(mdir)
    from_json, by_unique, more, read = json_files(data_dir, ignored, cfg)
    warnings += more
    out: dict = {}
    for path, values in from_json.items():
        have = kept.get(path, {})
        wanted = {k: None if v is None else entry(v, user, at, SOURCE)
                  for k, v in values.items()}
        wanted.update({k: None for k, e in have.items()
                       if k not in values and e.get("from") == SOURCE})
        out[path] = wanted
    for uid, row in db_rows(mdir, cfg).items():
        path = by_unique.get(uid) or _target(data_dir, "", row.get(cfg.file_name))
        if path is None:
            warnings.append(f"{DIR}/db: the file {row.get(cfg.file_name) or uid!r} is not in "
                            f"the data folder; its row skipped")
            continue
        read += 1
        have = {**kept.get(path, {}), **out.get(path, {})}
        for k, text in row.items():
            if cfg.keep(k) and typed.KEY.fullmatch(k) and text and k not in have:
                out.setdefault(path, {})[k] = entry(typed.infer(text), user, at, SOURCE)
    return out, store_values(mdir), warnings, read
