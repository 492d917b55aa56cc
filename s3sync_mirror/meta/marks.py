"""This clone's own per-file marks (docs/metadata.md#marks): typed values in
``<data_dir>/.S3/marks.json`` (``layout.MARKS``), never uploaded (nothing in ``.S3/`` is a
data file), untouched by syncs and by ``reset``, queryable with ``files --where``."""
from __future__ import annotations

import json
from typing import Mapping

from ..core import typed
from ..core.errors import StateError
from ..state.csvfiles import write_atomic

FORMAT = 1


def load(lay) -> dict:
    """{path: {key: {"type", "value"}}}; none when the file does not exist."""
    try:
        doc = json.loads(lay.marks.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise StateError(f"{lay.marks} cannot be read ({exc}). Nothing was changed: repair "
                         f"it (it is JSON: {{\"files\": {{PATH: {{KEY: ...}}}}}})") from None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, dict):
        raise StateError(f"{lay.marks} is not a marks file (no \"files\"). Nothing was "
                         f"changed: repair it")
    return files


def save(lay, files: Mapping) -> None:
    data = json.dumps({"format": FORMAT, "files": files}, sort_keys=True, indent=1,
                      ensure_ascii=False)
    write_atomic(lay.marks, data.encode("utf-8"))


def change(files: Mapping, path: str, flags: Mapping) -> dict:
    """PURE. The marks after setting ``flags`` ({key: value, None to remove}) on ``path``."""
    out = {p: dict(keys) for p, keys in files.items()}
    keys = out.setdefault(path, {})
    for key, value in flags.items():
        typed.check_key(key)
        if value is None:
            keys.pop(key, None)
        else:
            keys[key] = typed.encode(value)
    if not keys:
        out.pop(path)
    return out


def set_marks(lay, path: str, flags: Mapping) -> dict:
    """Set (or, with None, remove) marks on ``path``; returns its marks now."""
    files = change(load(lay), path, flags)
    lay.root.mkdir(parents=True, exist_ok=True)
    save(lay, files)
    return values(files, path)


def values(files: Mapping, path: str) -> dict:
    return {k: typed.decode(e) for k, e in sorted(files.get(path, {}).items())}
