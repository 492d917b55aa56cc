"""The state head, ``.S3/state_head.json`` (docs/state-files.md#the-state-head): the remote
state's evidence of itself, as Delta Lake's ``_last_checkpoint`` and Iceberg's metadata
pointer are. Every commit moves it forward, with compare-and-swap, to name the checkpoint's
log and the last entry committed after it, with a generation that only grows. A reader
that finds less than the head names (a log deleted or cut short, a checkpoint put back
from a backup, the head itself gone or older than one this clone saw) knows the state
lost a piece and heals it from the objects (state/remotestate.py).

The head may lag a commit (a member killed between its entry and the head): a state
*ahead* of the head is normal; only a state behind it is a loss."""
from __future__ import annotations

import json
import os
from typing import NamedTuple, Optional

from ..core.hashing import sha256_hex
from ..core import layout
from ..core.errors import PreconditionFailed, RemoteNotFound
from .remotelog import Pos

FORMAT = "s3sync_mirror state head 1"
KEEP_LOGS = 200  # earlier logs the head remembers: a checkpoint naming one was put back
KEEP_HEADS = 500  # earlier heads it remembers: a clone that saw one can tell it follows
MAX_ATTEMPTS = 25


class Head(NamedTuple):
    generation: int  # counts the head's moves: only grows
    log: str  # the log id of the checkpoint
    entry: int  # the last entry committed after it
    logs: tuple = ()  # the logs of earlier checkpoints, newest first
    chain: tuple = ()  # the ids of the heads before this one, newest first
    nonce: str = ""  # random: two heads written apart never share an id

    @property
    def id(self) -> str:
        before = self.chain[0] if self.chain else ""
        text = f"{self.generation}:{self.log}:{self.entry}:{before}:{self.nonce}"
        return sha256_hex(text.encode("utf-8"))[:16]

    def covers(self, pos: Pos) -> bool:
        """Whether this head already names ``pos`` or a later state."""
        return (self.log == pos.log and self.entry >= pos.n) or pos.log in self.logs

    def follows(self, seen: "Head") -> bool:
        """Whether this head is ``seen`` or a later move of it (True also when ``seen``
        is older than the heads this one remembers)."""
        d = self.generation - seen.generation
        if d < 0:
            return False
        if d == 0:
            return self.id == seen.id
        return d > len(self.chain) or self.chain[d - 1] == seen.id

    def render(self) -> bytes:
        return (json.dumps({"format": FORMAT, "generation": self.generation,
                            "log": self.log, "entry": self.entry,
                            "logs": list(self.logs), "heads": list(self.chain),
                            "nonce": self.nonce},
                           indent=1) + "\n").encode("utf-8")


def parse(data: bytes) -> Optional[Head]:
    """The head in ``data``; None when it is not one (then it is treated as missing)."""
    try:
        doc = json.loads(data.decode("utf-8"))
        if doc.get("format") != FORMAT:
            return None
        return Head(int(doc["generation"]), str(doc["log"]), int(doc["entry"]),
                    tuple(str(x) for x in doc.get("logs", ())),
                    tuple(str(x) for x in doc.get("heads", ())), str(doc.get("nonce", "")))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def read(remote) -> tuple[Optional[Head], Optional[str], Optional[bytes]]:
    """(head, its ETag, its bytes); (None, None, None) when there is none."""
    try:
        data, etag = remote.get_bytes(layout.HEAD_KEY)
    except RemoteNotFound:
        return None, None, None
    return parse(data), etag, data


def next_head(cur: Optional[Head], pos: Pos, floor: int = 0) -> Head:
    """The head that names ``pos`` after ``cur``; ``floor``: a generation this clone saw,
    which the new one must pass (a head put back from a backup is outgrown at once)."""
    gen = max(cur.generation if cur else 0, floor) + 1
    nonce = os.urandom(8).hex()
    if cur is None:
        return Head(gen, pos.log, pos.n, nonce=nonce)
    logs = cur.logs if cur.log == pos.log else ((cur.log,) + cur.logs)[:KEEP_LOGS]
    return Head(gen, pos.log, pos.n, tuple(x for x in logs if x != pos.log),
                ((cur.id,) + cur.chain)[:KEEP_HEADS], nonce)


def advance(remote, pos: Pos, floor: int = 0,
            known: Optional[tuple] = None) -> tuple[Head, str, bytes]:
    """Move the head forward to ``pos`` (compare-and-swap); a head that already names a
    later state is left as it is. Returns the head as it now stands, its ETag, bytes.
    ``known``: (head, ETag) as this run read it moments ago, tried first instead of a
    GET: when it is stale the swap fails and the head is read again."""
    for attempt in range(MAX_ATTEMPTS):
        read_now = False
        if attempt == 0 and known is not None:
            cur, etag = known
        else:
            cur, etag, data = read(remote)
            read_now = True
        if cur is not None and cur.covers(pos) and cur.generation > floor:
            if read_now:
                return cur, etag, data
            continue  # the head as read earlier names a later state: is it still so?
        new = next_head(cur, pos, floor)
        out = new.render()
        try:
            if etag is None:
                etag = remote.put_bytes(layout.HEAD_KEY, out, if_none_match=True)
            else:
                etag = remote.put_bytes(layout.HEAD_KEY, out, if_match=etag)
        except PreconditionFailed:
            continue  # another member moved it: look again
        return new, etag, out
    raise PreconditionFailed("the state head keeps changing")


def loss(head: Optional[Head], pos: Pos, seen: Optional[Head],
         sealed_into: Optional[str]) -> Optional[str]:
    """What piece the state at ``pos`` lost, by the head (None: nothing). ``seen``: the
    head this clone last saw (None: none); ``sealed_into``: when the head names another
    log than ``pos``, the log its last entry hands over to (None: not sealed)."""
    if head is None:
        return f"its head {layout.HEAD_KEY} is gone" if seen is not None else None
    if seen is not None and not head.follows(seen):
        return (f"{layout.HEAD_KEY} is older than the one this clone saw, or does not "
                f"follow it (put back from a backup?)")
    if head.log == pos.log:
        if head.entry > pos.n:
            gone = head.entry - pos.n
            return (f"{gone} entr{'y' if gone == 1 else 'ies'} of its log "
                    f"{layout.STATE_LOG_ROOT}/{pos.log}/ {'is' if gone == 1 else 'are'} gone")
        return None
    if pos.log in head.logs:
        return f"{layout.VERSIONS_KEY} was put back to an earlier checkpoint"
    if sealed_into == pos.log:
        return None  # the head lags a checkpoint that followed its log: normal
    return f"{layout.VERSIONS_KEY} is not a checkpoint its head {layout.HEAD_KEY} knows"
