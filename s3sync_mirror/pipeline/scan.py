"""Detect: walk the data folder and say what each file holds, hashing every file whose
(size, mtime, ctime, inode, device) is not exactly the baseline's record. Skips ``.S3/``, symlinks (with a warning) and
the ignore patterns."""
from __future__ import annotations

import itertools
import os
import stat
from ..core.records import dataclass, field
from typing import Callable, Mapping, Optional

from ..core.background import thread_pool
from ..core.hashing import sha256_file
from ..core.model import FileState
from ..core.paths import STATE_DIR, nfc, unsafe_reason


SMALL = 1 << 20  # files below this are hashed without a thread hand-off


@dataclass
class ScanResult:
    """The data folder as the scan found it."""

    files: dict  # NFC path -> FileState(checksum, size, mtime_ns)
    disk: dict = field(default_factory=dict)  # NFC path -> on-disk relative path, if different
    warnings: list = field(default_factory=list)
    unreadable: list = field(default_factory=list)  # paths or folders that could not be read
    clashes: list = field(default_factory=list)  # paths two on-disk names both normalise to
    skipped: list = field(default_factory=list)  # symlinks and non-files: left alone
    hashed_files: int = 0
    hashed_bytes: int = 0


def ignore_matcher(patterns) -> Optional[Callable[[str], bool]]:
    """A gitignore-style matcher for the patterns, or None when there are none. As in git,
    a path inside an ignored folder is ignored whatever later patterns say (``raw/`` then
    ``!raw/keep.csv`` keeps raw/keep.csv ignored): the walk, which does not enter an
    ignored folder, and every other check then agree on what is ignored."""
    if not patterns:
        return None
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    folders: dict = {}

    def folder_ignored(folder: str) -> bool:
        hit = folders.get(folder)
        if hit is None:
            parent = folder.rpartition("/")[0]
            hit = (bool(parent) and folder_ignored(parent)) or spec.match_file(folder + "/")
            folders[folder] = hit
        return hit

    def ignored(path: str) -> bool:
        folder, _, name = path.rstrip("/").rpartition("/")
        if folder and folder_ignored(folder):
            return True
        return folder_ignored(path.rstrip("/")) if path.endswith("/") \
            else spec.match_file(path)

    return ignored


def walk(data_dir, ignored=None):
    """([(disk_rel, size, mtime_ns, (ctime_ns, inode, device))] for each regular file,
    warnings, unreadable paths, skipped paths: symlinks and other non-files, left alone)."""
    warnings, unreadable, found, skipped = [], [], [], []
    stack = [("", os.fspath(data_dir))]
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            it = os.scandir(abs_dir)
        except OSError as exc:
            unreadable.append(rel_dir)
            warnings.append(f"cannot read folder {rel_dir or '.'}: {exc.strerror}; "
                            f"its files are left alone this run")
            continue
        with it:
            for entry in it:
                name = entry.name
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if not rel_dir and name.lower() == STATE_DIR.lower():
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    warnings.append(f"cannot read {rel}: {exc.strerror}; left alone")
                    unreadable.append(rel)
                    continue
                mode = st.st_mode
                if stat.S_ISDIR(mode):
                    if ignored is None or not ignored(rel + "/"):
                        stack.append((rel, entry.path))
                elif stat.S_ISREG(mode):
                    if ignored is None or not ignored(rel):
                        found.append((rel, st.st_size, st.st_mtime_ns,
                                      (st.st_ctime_ns, st.st_ino, st.st_dev)))
                elif ignored is None or not ignored(rel):
                    skipped.append(rel)
                    warnings.append(f"skipped symlink {rel} (symlinks are not followed; left "
                                    f"alone on both sides)" if stat.S_ISLNK(mode) else
                                    f"skipped {rel}: not a regular file (left alone)")
    return found, warnings, unreadable, skipped


def scan(data_dir, baseline: Mapping[str, FileState], ignore_patterns=(), jobs: int = 8,
         progress_factory=None, walked=None) -> ScanResult:
    """``walked``: the result of :func:`walk` with the same patterns, if already taken."""
    if walked is None:
        walked = walk(data_dir, ignore_matcher(ignore_patterns))
    found, warnings, unreadable, skipped = walked
    result = ScanResult(files={}, warnings=warnings, unreadable=unreadable,
                        skipped=[nfc(p) for p in skipped])
    by_nfc: dict = {}
    todo = _trusted(found, baseline, result, by_nfc)
    if todo:
        progress = progress_factory("hashing", sum(t[2] for t in todo)) \
            if progress_factory else None
        try:
            _hash_all(os.fspath(data_dir), todo, jobs, progress, result, by_nfc)
        finally:
            if progress is not None:
                progress.close()
    return result


def _trusted(found, baseline, result: ScanResult, by_nfc: dict) -> list:
    """Record the files whose (size, mtime_ns) match the baseline; return the others,
    to hash, as (path, disk path, size, mtime_ns, node)."""
    todo = []
    make = tuple.__new__  # FileState(...) without the keyword handling: 1M calls a run
    for rel, size, mtime_ns, node in found:
        path = rel if rel.isascii() else nfc(rel)
        if path in by_nfc:
            result.warnings.append(
                f"{rel!r} and {by_nfc[path]!r} are the same name in different Unicode "
                f"forms; both left alone until one is renamed")
            result.clashes.append(path)
            result.files.pop(path, None)
            continue
        by_nfc[path] = rel
        base = baseline.get(path)
        if base is None:  # a path of the baseline was checked when the baseline was read
            why = unsafe_reason(path)
            if why is not None:
                result.warnings.append(f"skipped {rel!r}: its name {why}; rename it to sync "
                                       f"it (until then it stays here, unshared)")
                continue
        if path != rel:
            result.disk[path] = rel
        # base.same_file(here), inline: size, mtime, ctime, inode and device all equal
        if base is not None and base.mtime_ns == mtime_ns and mtime_ns != -1 and node \
                and base.size == size and base.node == node:
            result.files[path] = make(FileState, (base.checksum, size, "", "", mtime_ns, "",
                                                  node))
        else:
            todo.append((path, rel, size, mtime_ns, node))
    return todo


def _hash_all(root: str, todo: list, jobs: int, progress, result: ScanResult,
              by_nfc: dict) -> None:
    advance = progress.advance if progress is not None else None

    def digest(item):
        path, rel, size, mtime_ns, node = item
        try:
            return path, FileState.scanned(sha256_file(os.path.join(root, rel), advance),
                                           size, mtime_ns, node)
        except OSError as exc:
            return path, exc

    # Big files are hashed in parallel (hashlib releases the GIL); small ones here,
    # where a thread hand-off would cost more than the hash.
    big = [t for t in todo if t[2] >= SMALL] if jobs > 1 else []
    small = [t for t in todo if t[2] < SMALL] if big else todo
    pool = thread_pool(jobs) if len(big) > 1 else None
    try:
        hashed_big = pool.map(digest, big) if pool is not None else map(digest, big)
        for path, res in itertools.chain(map(digest, small), hashed_big):
            if isinstance(res, OSError):
                result.warnings.append(f"cannot read {by_nfc[path]}: {res.strerror}; "
                                       f"left alone this run")
                result.unreadable.append(path)
            else:
                result.files[path] = res
                result.hashed_files += 1
                result.hashed_bytes += res.size
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def case_insensitive(folder) -> bool:
    """Whether ``folder``'s file system folds case: is the folder also reachable under its
    name with the case swapped? (Reads only; a name without letters says no.)"""
    key = os.path.abspath(os.fspath(folder))
    if key not in _CASE_CACHE:
        head, name = os.path.split(key)
        swapped = name.swapcase()
        _CASE_CACHE[key] = swapped != name and os.path.exists(os.path.join(head, swapped)) \
            and os.path.samefile(key, os.path.join(head, swapped))
    return _CASE_CACHE[key]


_CASE_CACHE: dict = {}
