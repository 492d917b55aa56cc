"""Reading ahead: as soon as a sync knows the remote state and the folder, it starts the GETs
of the small files it will most likely download (new to this clone: absent here and from
the baseline, their content nowhere here), into memory, while it plans, asks and prepares.
The batch that downloads them then takes each answer instead of asking again
(``LoopClient.ahead``), so a fresh clone's first requests leave when its state is read, not
after the plan (2,000 x 4 KiB from `rclone serve s3`: 35 ms sooner; and while a person
reads the plan, the transfer itself).

Nothing is written before the plan is approved: what is read ahead stays in memory (at most
``MAX_BYTES``, ``MAX_FILES``), is checked against the plan like any download, and is
dropped when the run's batches end (or at Ctrl-C) when the plan does not take it. Each GET asks for the version
the state names, as the batch's own would; one that fails is simply asked again by the
batch, whose failure is then the usual one. ``S3SYNC_MIRROR_READ_AHEAD=0`` turns it off
(a metered link, say: a plan that is declined then costs no GET)."""
from __future__ import annotations

import os

from ..core.paths import in_scope

SWITCH = "S3SYNC_MIRROR_READ_AHEAD"
OFF = ("0", "false", "no", "off")

MAX_FILES = 8192
MAX_BYTES = 64 << 20
MAX_REMOTE = 100_000  # a bigger remote state is not searched (the plan takes long anyway)


def candidates(remote: dict, base: dict, local: dict, ignored, limit: int,
               scope=None) -> list:
    """[(path, ETag, size)] of the non-empty files below ``limit`` bytes that ``remote``
    has and neither ``local`` nor ``base`` has, whose content is not in ``local``, not
    ``ignored`` (or left out of the selection), within ``scope`` (the paths a command
    line names; None: all), in the order the executor runs them
    (largest first, then the remote state's order), within ``MAX_FILES`` and
    ``MAX_BYTES``."""
    if not limit or len(remote) > MAX_REMOTE:
        return []
    here = {st.checksum for st in local.values()} if local else ()
    found = [(p, st) for p, st in remote.items()
             if 0 < st.size < limit and st.etag and p not in local and p not in base
             and st.checksum not in here and (ignored is None or not ignored(p))
             and (not scope or in_scope(p, scope))]
    found.sort(key=lambda item: -item[1].size)  # stable: as schedule() orders transfers
    out, total = [], 0
    for p, st in found[:MAX_FILES]:
        total += st.size
        if total > MAX_BYTES:
            break
        out.append((p, st.etag, st.size))
    return out


def start(s, base: dict, local: dict, remote: dict, scope=None) -> int:
    """Start reading ahead for a sync that writes (session ``s``); how many files."""
    if not s.writes or os.environ.get(SWITCH, "1").strip().lower() in OFF:
        return 0
    chosen = candidates(remote, base, local, s.ignored(), s.remote.download_batch_limit,
                        scope)
    if chosen:
        s.remote.read_ahead(chosen)
    return len(chosen)
