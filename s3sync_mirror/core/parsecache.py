"""A parsed YAML document kept by the hash (BLAKE2b) of its text, so that a command whose config
has not changed skips importing and running the YAML parser (~11 ms of a no-change sync's
~0.13 s). The key is the text itself, so an edited file is always parsed again; only a
document that JSON carries exactly is kept (one holding a date is parsed every time).

The cache is one small JSON file per text under ``$XDG_CACHE_HOME/s3sync_mirror/yaml/``
(default ``~/.cache``); ``S3SYNC_MIRROR_NO_CACHE=1`` turns it off. A cache that cannot be
read or written is ignored: the text is parsed, as without it."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from .hashing import blake2b
from .version import VERSION

OFF_ENV = "S3SYNC_MIRROR_NO_CACHE"
_FORMAT = 1


def folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "s3sync_mirror" / "yaml"


def parsed(text: str, parse: Callable[[str], Any]) -> Any:
    """``parse(text)``, or the document a previous run got from the same text."""
    if os.environ.get(OFF_ENV, "").strip() not in ("", "0"):
        return parse(text)
    key = blake2b(f"{VERSION}\0{text}".encode("utf-8"), digest_size=32).hexdigest()
    path = folder() / f"{key}.json"
    try:
        kept = json.loads(path.read_bytes())
        if kept.get("format") == _FORMAT and kept.get("key") == key:
            return kept["doc"]
    except (OSError, ValueError, AttributeError, KeyError):
        pass  # none yet, or unreadable: parse
    doc = parse(text)
    _keep(path, key, doc)
    return doc


def _keep(path: Path, key: str, doc: Any) -> None:
    try:
        blob = json.dumps({"format": _FORMAT, "key": key, "doc": doc})
        if json.loads(blob)["doc"] != doc:
            return  # JSON would change it (tuples, non-string keys): not kept
    except (TypeError, ValueError):
        return  # a date, a set: not JSON
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(blob, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
