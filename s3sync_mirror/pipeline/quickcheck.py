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

The listing is recorded as its fingerprint: the count, and a BLAKE2b digest of the entries
(path, size, mtime_ns, node) in path order for every chunk of about ``CHUNK`` entries
(with the first path of each chunk after the first), so that neither the record nor its
check holds a second copy of a million entries (the check costs one sort of the walk). A
walk that differs shows in which chunks: pipeline/delta.py compares only those, path by
path, against the index of the last in-sync run (state/pathindex.py).
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from operator import itemgetter
from typing import Mapping, NamedTuple, Optional

from ..state import snapshot as statecache
from ..core.hashing import blake2b
from ..core.model import FileState
from ..state.merges import RACY_NS

FORMAT = 4  # 4: by chunks; 3: the listing as one fingerprint; 2: the listing itself
NAME = "insync.marshal"
CHUNK = 4096
_PATH = itemgetter(0)


class Printed(NamedTuple):
    """A listing's fingerprint: ``count`` entries; ``digest`` covers them all (it is the
    digest of ``digests``, one per chunk; chunk i holds the paths from ``bounds[i-1]``
    up to, not including, ``bounds[i]``)."""

    count: int
    digest: str
    bounds: tuple = ()
    digests: tuple = ()

    def same(self, other) -> bool:
        return isinstance(other, tuple) and tuple(self[:2]) == tuple(other[:2])


class Sorted(NamedTuple):
    """A walk in path order, cut into the chunks of some bounds: entries[cuts[i]:cuts[i+1]]."""

    entries: list
    cuts: list


def cut(found, bounds=None) -> Sorted:
    """``found`` in path order, cut at ``bounds`` (None: a new chunk every CHUNK entries)."""
    entries = sorted(found, key=_PATH)
    if bounds is None:
        bounds = [entries[i][0] for i in range(CHUNK, len(entries), CHUNK)]
    return Sorted(entries, [0, *(bisect_left(entries, b, key=_PATH) for b in bounds),
                            len(entries)])


def _digest(chunk) -> str:
    # repr is exact for strings, ints and tuples of them
    return blake2b(repr(chunk).encode("utf-8", "surrogatepass"),
                           digest_size=16).hexdigest()


def _print(bounds, digests, count: int) -> Printed:
    whole = blake2b("".join(digests).encode(), digest_size=32).hexdigest()
    return Printed(count, whole, tuple(bounds), tuple(digests))


def fingerprint(found, bounds=None, walk: Optional[Sorted] = None) -> Printed:
    """The fingerprint of a walk's [(disk path, size, mtime_ns, node)], whatever its order,
    cut at ``bounds`` (None: new ones); ``walk``: it, already sorted and cut there."""
    if walk is None:
        walk = cut(found, bounds)
    e, c = walk.entries, walk.cuts
    if bounds is None:
        bounds = [e[i][0] for i in c[1:-1]]
    return _print(bounds, [_digest(e[a:b]) for a, b in zip(c, c[1:])], len(e))


def chunk_of(bounds, path: str) -> int:
    """The chunk that holds ``path``."""
    return bisect_right(bounds, path)


def refreshed(old: Printed, walk: Sorted, entries: Mapping) -> Printed:
    """``old`` (the fingerprint of ``walk``) after the paths of ``entries`` became their
    entries ({path: entry, or None when it left}): only their chunks are digested again."""
    digests, count = list(old.digests), old.count
    touched: dict = {}
    for p in entries:
        touched.setdefault(chunk_of(old.bounds, p), []).append(p)
    e, c = walk.entries, walk.cuts
    for i, paths in touched.items():
        chunk = {x[0]: x for x in e[c[i]:c[i + 1]]}
        count -= len(chunk)
        for p in paths:
            if entries[p] is None:
                chunk.pop(p, None)
            else:
                chunk[p] = entries[p]
        count += len(chunk)
        digests[i] = _digest(sorted(chunk.values(), key=_PATH))
    return _print(old.bounds, digests, count)


def _entries(listing: Mapping[str, FileState]) -> list:
    return [(p, b.size, b.mtime_ns, tuple(b.node)) for p, b in listing.items()]


def record(statedir, *, listing: Mapping[str, FileState], remote_url: str,
           remote_etag: Optional[str], patterns, now_ns: int, printed=None,
           part: bool = False) -> bool:
    """Write the record; False (and nothing written) when it could not be trusted.
    ``listing``: from :func:`listing_after`; ``printed``: its fingerprint when the caller
    already has it (the run's walk, when the run changed nothing on disk). ``part``: the
    listing is only the paths this run planned (pipeline/delta.py), ``printed`` the
    whole's fingerprint, in which the caller gave a recent file's mtime as -1 (so that
    the next run looks at it again, as the baseline's own rule has it)."""
    sig = statedir.baseline_signature()
    if sig is None or not remote_etag:
        forget(statedir)
        return False
    limit = now_ns - RACY_NS
    if not part and any(b.mtime_ns == -1 or b.mtime_ns > limit for b in listing.values()):
        forget(statedir)
        return False
    if not part and (printed is None or printed[0] != len(listing)):
        printed = fingerprint(_entries(listing))
    statecache.write_blob(statedir.cache / NAME, (
        FORMAT, remote_url, remote_etag, tuple(sig), list(patterns), tuple(printed)))
    return True


def load(statedir) -> Optional[tuple]:
    """(remote url, remote etag, baseline signature, patterns, listing fingerprint) or
    None."""
    try:
        fmt, url, etag, sig, patterns, printed = statecache.read_blob(statedir.cache / NAME)
    except (TypeError, ValueError):
        return None
    if fmt != FORMAT or not isinstance(printed, tuple) or len(printed) != 4:
        return None
    return url, etag, tuple(sig), list(patterns), Printed(*printed)


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
                  kinds: tuple, unsure: bool = False) -> Optional[Mapping]:
    """PURE: the folder's listing after a run, as the record needs it: ``new_base`` (the
    visible paths of the new baseline) when it describes the folder exactly (every file
    with the size, mtime_ns and node it has on disk now, and no other path), else None.
    ``final`` {path: outcome}; ``kinds`` = (download, delete_local). ``unsure``: a row
    whose mtime the baseline does not trust (-1, written just now) also describes it."""
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
        if b is None or b.size != st.size or b.node != st.node or (
                b.mtime_ns != st.mtime_ns and not (unsure and b.mtime_ns == -1)):
            return None
        matched += 1
    # every other path of the baseline must be one this run downloaded
    if len(new_base) != matched + sum(1 for p in fetched if p in new_base):
        return None
    return new_base
