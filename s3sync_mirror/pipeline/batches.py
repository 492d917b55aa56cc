"""Many small transfers as one batch, on a connection that offers it (``batch_limit``,
``upload_many``, ``download_batch_limit``, ``download_many``: S3 on obstore, and the
downloads of GCS and Azure Blob). The network part of every batched
action runs in one event loop run, not in a thread of its own; each action then completes
through the executor's usual code (``Executor.attempt``: the same checks, adoption of a
lost race, errors and outcomes), which finds its transfer done (``take``).

Only actions whose usual path would go straight to the transfer are batched: a new remote
file with no predecessor's upload to adopt and no copy of its content to reuse, and a
download with no local copy to reuse, each below the connection's limit for its kind."""
from __future__ import annotations


from ..core.logs import log
from ..core import model as m
from ..core.model import Action, Outcome
from ..platforms.base import Cancelled
from .copies import ARCHIVE_LOOKUP_MIN


UP, DOWN = "up", "down"


def take(ex, kind: str, path: str):
    """What a batch did for ``path`` (removed from ``ex.ready``); None when not batched."""
    return ex.ready.pop((kind, path), None)


def result(done):
    """The batch's result, or its exception raised here."""
    if isinstance(done, BaseException):
        raise done
    return done


def scanned(remote, loc) -> dict:
    """Hash once: ``scanned=`` for an upload to a connection that takes it (S3), the file's
    (size, mtime_ns, (ctime_ns, inode, device)) when the scan hashed it; {} when unknown."""
    if not remote.hashes_once or loc.mtime_ns == -1 or len(loc.node) != 3:
        return {}
    return {"scanned": (loc.size, loc.mtime_ns, tuple(loc.node))}


def _batchable(ex, a: Action, limit: int) -> bool:
    if not limit:
        return False
    ctx = ex.ctx
    if a.kind == m.UPLOAD:
        loc, live = a.local, ctx.remote_copies.get(a.local.checksum)
        return a.remote is None and a.path not in ctx.prior_uploads \
            and loc.size < min(limit, ARCHIVE_LOOKUP_MIN) and (live is None or live[0] == a.path)
    if a.kind == m.DOWNLOAD:
        found = ctx.local_copies.get(a.remote.checksum)
        if a.remote.size >= limit or (found is not None and found[0] != a.path):
            return False
        try:
            ctx.replica.path(a.path)  # an unsafe place: left to the usual path to refuse
        except Exception:  # noqa: BLE001
            return False
        return True
    return False


def split(ex, batch: list) -> tuple[list, list]:
    """(the actions of ``batch`` to run as one batch, the others)."""
    remote = ex.ctx.remote
    up, down = remote.batch_limit, remote.download_batch_limit
    if not (up or down) or ex.stop.is_set():
        return [], batch
    mine = [a for a in batch
            if _batchable(ex, a, up if a.kind == m.UPLOAD else down)]
    if not mine:
        return [], batch
    chosen = {id(a) for a in mine}
    return mine, [a for a in batch if id(a) not in chosen]


def _stream(ex, actions: list):
    """(the remote's stream of (index, result), the temp file of each download)."""
    remote, replica = ex.ctx.remote, ex.ctx.replica
    if actions[0].kind == m.UPLOAD:
        items = [(a.path, replica.path(a.path), a.local.checksum, a.local.size, None, True)
                 for a in actions]
        return remote.upload_many(items, advance=ex.advance), {}
    tmps = {i: replica.tmp() for i in range(len(actions))}
    items = [(a.path, tmps[i], a.remote.etag or None) for i, a in enumerate(actions)]
    return remote.download_many(items, advance=ex.advance, keep=True), tmps


def _one_kind(ex, actions: list) -> list[Outcome]:
    outcomes: list[Outcome] = []
    stream, tmps = _stream(ex, actions)
    kind = UP if actions[0].kind == m.UPLOAD else DOWN
    done, fallback = set(), False
    try:
        for i, res in stream:
            a = actions[i]
            done.add(i)
            if isinstance(res, Cancelled):
                outcomes.append(Outcome(a, m.SKIPPED, error="interrupted"))
            else:
                ex.ready[(kind, a.path)] = res if kind == UP else (tmps[i], res)
                outcomes.append(ex.attempt(a))  # a completed transfer is recorded
            ex.ctx.progress.file_done()
            if ex.unreachable:  # the rest is not attempted (nor retried)
                fallback = True
                break
    except Cancelled:  # interrupted before the batch started
        pass
    except Exception as exc:  # noqa: BLE001 - the batch could not start (credentials...)
        log.debug("batch of %d failed; one by one: %s", len(actions), exc)
        fallback = True
    finally:
        stream.close()  # cancels what is still in flight
    for i in range(len(actions)):
        if i in done:
            continue
        tmp = tmps.get(i)
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        # one by one: the usual path says why each fails (or skips it, interrupted)
        outcomes.append(ex.run_one(actions[i]) if fallback
                        else Outcome(actions[i], m.SKIPPED, error="interrupted"))
        ex.ctx.progress.file_done()
    return outcomes


def run(ex, actions: list) -> list[Outcome]:
    """Carry out ``actions`` (from ``split``): the uploads as one batch, the downloads as
    another, each action's outcome as the executor's own path makes it. Returns the
    outcomes (progress is counted here, per file)."""
    outcomes: list[Outcome] = []
    for kind in (m.UPLOAD, m.DOWNLOAD):
        group = [a for a in actions if a.kind == kind]
        if group:
            outcomes.extend(_one_kind(ex, group))
    return outcomes
