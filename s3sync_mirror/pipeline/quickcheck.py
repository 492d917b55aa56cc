"""The quick no-change check: a record, written when a run leaves everything in sync, of
what the data folder's listing (path, size, mtime_ns), the baseline file, the ignore
patterns and the remote state's ETag were then. When the next run finds all four the same,
the full three-way plan would be empty, so it is not built: the run costs one walk of the
folder and one conditional GET instead of loading and joining 3 x N states.

It trusts exactly what the full path trusts (a file whose size and mtime_ns did not change
is not re-hashed; the remote state changes its ETag on every write), and it refuses
listings with an mtime close to the time the record was made (an edit within the same clock
tick would not show), like the baseline does. The record is derived data in ``.S3/cache``:
any doubt (missing, torn, another remote, another format) means the full path.

The listing is recorded as its fingerprint: the count and a BLAKE2b digest of the entries
(path, size, mtime_ns, node) in path order, so that neither the record nor its check holds
a second copy of a million entries (the check costs one sort of the walk).
"""
from __future__ import annotations

import hashlib
from operator import itemgetter
from typing import Mapping, Optional

from ..state import snapshot as statecache
from ..core.model import FileState
from ..state.merges import RACY_NS

FORMAT = 3  # 3: the listing as its fingerprint; 2: the listing itself
NAME = "insync.marshal"
_BATCH = 4096


def fingerprint(found) -> tuple:
    """(count, digest) of a walk's [(disk path, size, mtime_ns, node)], whatever its order:
    the digest covers every field of every entry, in path order (repr is exact for
    strings, ints and tuples of them)."""
    entries = sorted(found, key=itemgetter(0))
    h = hashlib.blake2b(digest_size=32)
    for i in range(0, len(entries), _BATCH):
        h.update(repr(entries[i:i + _BATCH]).encode("utf-8", "surrogatepass"))
    return len(entries), h.hexdigest()


def _entries(listing: Mapping[str, FileState]) -> list:
    return [(p, b.size, b.mtime_ns, tuple(b.node)) for p, b in listing.items()]


def record(statedir, *, listing: Mapping[str, FileState], remote_url: str,
           remote_etag: Optional[str], patterns, now_ns: int, printed=None) -> bool:
    """Write the record; False (and nothing written) when it could not be trusted.
    ``listing``: from :func:`listing_after`; ``printed``: its fingerprint when the caller
    already has it (the run's walk, when the run changed nothing on disk)."""
    sig = statedir.baseline_signature()
    if sig is None or not remote_etag:
        forget(statedir)
        return False
    limit = now_ns - RACY_NS
    if any(b.mtime_ns == -1 or b.mtime_ns > limit for b in listing.values()):
        forget(statedir)
        return False
    if printed is None or printed[0] != len(listing):
        printed = fingerprint(_entries(listing))
    statecache.write_blob(statedir.cache / NAME, (
        FORMAT, remote_url, remote_etag, tuple(sig), list(patterns), printed))
    return True


def load(statedir) -> Optional[tuple]:
    """(remote url, remote etag, baseline signature, patterns, listing fingerprint) or
    None."""
    try:
        fmt, url, etag, sig, patterns, printed = statecache.read_blob(statedir.cache / NAME)
    except (TypeError, ValueError):
        return None
    if fmt != FORMAT or not isinstance(printed, tuple):
        return None
    return url, etag, tuple(sig), list(patterns), printed


def forget(statedir) -> None:
    try:
        (statedir.cache / NAME).unlink()
    except OSError:
        pass


def matches(rec: tuple, *, remote_url: str, patterns, baseline_sig) -> bool:
    """Whether ``rec`` was made for this remote, ignore patterns and baseline file (the
    listing and the remote's ETag are checked by the caller)."""
    url, _etag, sig, rec_patterns, _listing = rec
    return url == remote_url and rec_patterns == list(patterns) \
        and baseline_sig is not None and sig == tuple(baseline_sig)


def listing_after(scanned_files: Mapping, new_base: Mapping, final: Mapping,
                  kinds: tuple) -> Optional[Mapping]:
    """PURE: the folder's listing after a run, as the record needs it: ``new_base`` (the
    visible paths of the new baseline) when it describes the folder exactly (every file
    with the size, mtime_ns and node it has on disk now, and no other path), else None.
    ``final`` {path: outcome}; ``kinds`` = (download, delete_local)."""
    download, delete_local = kinds
    fetched = {p for p, o in final.items() if o.action.kind == download}
    removed = {p for p, o in final.items() if o.action.kind == delete_local}
    # What is on disk now: what the scan saw, less what was deleted here, with what was
    # downloaded as placed.
    get, matched = new_base.get, 0
    for p, st in scanned_files.items():
        if p in fetched:
            continue
        b = get(p)
        if p in removed:
            if b is not None:
                return None
            continue
        if b is None or b.mtime_ns != st.mtime_ns or b.size != st.size or b.node != st.node:
            return None
        matched += 1
    # every other path of the baseline must be one this run downloaded
    if len(new_base) != matched + sum(1 for p in fetched if p in new_base):
        return None
    return new_base
