"""Tags: a named manifest of the remote state at one moment, ``.S3/tags/<name>.csv`` —
the columns of ``versions_remote.csv`` plus who tagged, when and why, on every row.
Written once (put-if-absent); the versions it names are never pruned (docs/history.md)."""
from __future__ import annotations

import csv
import io
import re

from ..core import layout
from ..state import remotestate as remote_state, csvfiles as state
from ..core.clock import now_iso
from ..core.errors import PreconditionFailed, RemoteNotFound, UsageError

TAG_COLUMNS = ["Tagged By", "Tagged At", "Message"]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise UsageError(f"{name!r} is not a tag name: use letters, digits, '.', '_' or '-' "
                         f"(up to 100), starting with a letter or digit, e.g. v1.0 or 2026-q4")
    return name


def render(files: dict, who: str, when: str, message: str) -> bytes:
    rows = list(csv.reader(io.StringIO(state.render_versions(files, local=False).decode())))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(rows[0] + TAG_COLUMNS)
    for r in rows[1:]:
        w.writerow(r + [who, when, message])
    return out.getvalue().encode("utf-8")


def create(s, name: str, message: str = "") -> int:
    """Freeze the remote state as it is now under ``name``; returns how many files."""
    check_name(name)
    files = remote_state.fetch(s.remote, s.statedir, use_cache=False, save_cache=False,
                               jobs=s.jobs).files
    try:
        s.remote.put_bytes(layout.tag_key(name), render(files, s.user, now_iso(), message),
                           if_none_match=True)
    except PreconditionFailed:
        raise UsageError(f"tag {name!r} exists already (tags never change): choose another "
                         f"name; `tags` lists them") from None
    return len(files)


def read(remote, name: str) -> dict:
    """{path: FileState} of a tag."""
    check_name(name)
    try:
        data, _ = remote.get_bytes(layout.tag_key(name))
    except RemoteNotFound:
        raise UsageError(f"no tag {name!r}; `tags` lists them") from None
    return state.parse_versions(data, f"tag {remote.url(layout.tag_key(name))}")


def frame(remote, name: str):
    """A tag as a pandas DataFrame (the CSV's columns)."""
    import pandas as pd

    check_name(name)
    try:
        data, _ = remote.get_bytes(layout.tag_key(name))
    except RemoteNotFound:
        raise UsageError(f"no tag {name!r}; `tags` lists them") from None
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)


def listing(remote) -> list[dict]:
    """Every tag: name, time, author, message, files; oldest first."""
    out = []
    for obj in remote.list(layout.TAGS_ROOT + "/"):
        name = obj.key[len(layout.TAGS_ROOT) + 1:]
        if not name.endswith(".csv") or "/" in name:
            continue
        data, _ = remote.get_bytes(obj.key)
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8", "replace"))))
        first = rows[0] if rows else {}
        out.append({"name": name[:-4], "time": first.get("Tagged At", obj.modified),
                    "author": first.get("Tagged By", ""), "message": first.get("Message", ""),
                    "files": len(rows)})
    return sorted(out, key=lambda t: (t["time"], t["name"]))


def checksums(remote) -> set:
    """Every SHA-256 any tag names (what prune must keep)."""
    return {st.checksum for t in listing(remote) for st in read(remote, t["name"]).values()}
