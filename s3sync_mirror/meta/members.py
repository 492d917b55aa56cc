"""Who syncs with the remote: one small record per member, ``.S3/members/<name>.json``
({"name", "last_sync"}), written by a sync only when this clone has not written it in the
last hour (a local note says when it did), so a no-change sync costs no remote request."""
from __future__ import annotations

import json
import re
import time

from ..core.logs import log
from ..core import layout
from ..core.clock import now_iso
from ..core.errors import RemoteNotFound, S3SyncMirrorError
from ..state.csvfiles import write_atomic


REFRESH_S = 3600  # a record this clone wrote less than this ago is not written again


def key_of(user: str) -> str:
    """The record's key: the member's name made a plain file name."""
    return f"{layout.MEMBERS_ROOT}/{re.sub(r'[^A-Za-z0-9_.-]+', '_', user) or 'user'}.json"


def _note(s):
    return s.layout.root / layout.MEMBER_NOTE


def seen(s, now: float | None = None) -> bool:
    """Record that ``s.user`` synced with ``s.remote`` (best effort: a failure is only
    logged, the next sync retries); True when the record was written."""
    now = time.time() if now is None else now
    mine = f"{s.remote.describe()}\n{s.user}"
    try:
        note = json.loads(_note(s).read_text(encoding="utf-8"))
        if note.get("for") == mine and now - float(note.get("at", 0)) < REFRESH_S:
            return False
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    doc = {"name": s.user, "last_sync": now_iso()}
    try:
        s.remote.put_bytes(key_of(s.user), json.dumps(doc).encode("utf-8"))
        write_atomic(_note(s), json.dumps({"for": mine, "at": now}).encode("utf-8"))
    except (S3SyncMirrorError, OSError) as exc:
        log.debug("could not record %s as a member: %s", s.user, exc)
        return False
    return True


def read_all(remote) -> dict:
    """{name: last sync time (ISO)} of every member's record (unreadable ones skipped)."""
    out = {}
    for obj in remote.list(layout.MEMBERS_ROOT + "/"):
        if not obj.key.endswith(".json"):
            continue
        try:
            doc = json.loads(remote.get_bytes(obj.key)[0])
            out[str(doc["name"])] = str(doc.get("last_sync") or "")
        except (RemoteNotFound, ValueError, KeyError, TypeError):
            continue
    return out
