"""Writing to disk safely: a file replaced whole through a temp file and a rename, a copy
that never overwrites, and empty folders removed up to a root."""
from __future__ import annotations

import os
from pathlib import Path

# a file this call creates, never one that exists; its mode follows the umask
_EXCLUSIVE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def _temp_beside(path: Path) -> tuple[int, Path]:
    """(fd, name) of a new temp file ``.<name>.<random>.tmp`` beside ``path``: what
    tempfile.mkstemp makes, without importing tempfile (with random and shutil: 4.7 ms of
    every run's start-up, measured) for the few state files a run writes."""
    while True:
        tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        try:
            return os.open(tmp, _EXCLUSIVE, 0o666), tmp
        except FileExistsError:
            continue


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def link_or_copy(src: Path, dst: Path) -> None:
    """A hard link where the disk allows one (files are only ever replaced, never edited
    in place, so a link is as good as a copy), else a copy. Never overwrites ``dst``."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise
    except OSError:
        if dst.exists():
            raise FileExistsError(dst) from None
        import shutil

        shutil.copy2(src, dst)


def prune_empty_dirs(folder: Path, root: Path) -> None:
    """Remove ``folder`` and its parents while they are empty, stopping at ``root``."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
