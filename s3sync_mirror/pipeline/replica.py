"""The local replica: where a data path lives on disk (never outside the data folder),
placing a verified download atomically, keeping the replaced version in the trash, moving
a deleted file to the trash, and pruning the folders a deletion emptied."""
from __future__ import annotations

import itertools
import os
import stat
import time
from pathlib import Path
from typing import Optional

from ..core.diskio import create_whole, link_or_copy, prune_empty_dirs, write_file
from ..core.errors import S3SyncMirrorError
from ..core.layout import Layout
from ..core.model import FileState


class ChangedDuringSync(S3SyncMirrorError):
    """A file changed between the scan and the moment it was to be replaced or deleted."""


class Replica:
    """The data folder as the executor changes it. ``disk`` maps an NFC path to its name
    on disk where the two differ; ``run`` names this run's trash folder."""

    def __init__(self, layout: Layout, run: str, disk: Optional[dict] = None):
        self.layout = layout
        self.root = Path(layout.data_dir)
        self.run = run
        self.disk = disk or {}
        self._root_real = os.path.realpath(self.root)
        self._safe_dirs: set = set()
        self._made_dirs: set = set()  # folders this run made or found (not made again)
        self._tmp_ids = itertools.count()
        self._tmp_dir = layout.tmp  # asked once per download: made once
        self._unnamed = True  # whether new files are written unnamed, then linked
        self._paths: dict = {}  # path -> its checked place on disk (asked 3 times a file)

    def path(self, path: str) -> Path:
        """The file's place on disk, refusing any parent that leads out of the data folder
        (a symlinked folder, say)."""
        found = self._paths.get(path)
        if found is not None:
            return found
        rel = self.disk.get(path, path)
        p = self.root.joinpath(*rel.split("/"))
        parent = os.path.dirname(p)
        if parent not in self._safe_dirs:
            real = os.path.realpath(parent)
            if real != self._root_real and not real.startswith(self._root_real + os.sep):
                raise S3SyncMirrorError(f"{path}: its folder leads outside the data folder "
                                        f"(a symlink?); left alone")
            self._safe_dirs.add(parent)
        self._paths[path] = p
        return p

    def tmp(self) -> Path:
        """A new temp file name in ``.S3/tmp/`` (on the data folder's disk, so that
        placing it is one atomic rename)."""
        return self._tmp_dir / f"{self.run}-{next(self._tmp_ids)}.part"

    @staticmethod
    def expect(dest: Path, expected: Optional[FileState], path: str) -> None:
        """Refuse to replace or delete a local file that changed since the scan."""
        try:
            st = os.stat(dest, follow_symlinks=False)
        except FileNotFoundError:
            if expected is None:
                return
            raise ChangedDuringSync(f"{path}: deleted locally during this sync; run again")
        if stat.S_ISDIR(st.st_mode):
            raise S3SyncMirrorError(f"{path}: a folder of that name is in the way here: "
                                    f"rename or remove it, then run again")
        if expected is None:
            raise ChangedDuringSync(f"{path}: created locally during this sync; run again")
        if st.st_size != expected.size or st.st_mtime_ns != expected.mtime_ns:
            raise ChangedDuringSync(f"{path}: changed locally during this sync; run again")

    def _trash_target(self, path: str) -> Path:
        target = self.layout.trash_path(self.run, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def _shown(self, p: Path) -> str:
        return p.relative_to(self.root).as_posix()

    def place(self, tmp: Path, path: str, expected: Optional[FileState]) -> os.stat_result:
        """Put the verified temp file at ``path`` in one rename; the version it replaces
        is first kept in the trash (a hard link, so the rename stays atomic). Returns the
        new file's stat and where the old one was kept ("" if there was none)."""
        dest = self.path(path)
        trashed = ""
        try:
            self.expect(dest, expected, path)
            self._parent_made(dest)
            if expected is not None:
                target = self._trash_target(path)
                link_or_copy(dest, target)
                trashed = self._shown(target)
            try:
                os.replace(tmp, dest)
            except FileNotFoundError:
                self._parent_made(dest, again=True)
                os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return os.stat(dest), trashed

    def _parent_made(self, dest, again: bool = False) -> None:
        parent = os.path.dirname(dest)  # a str: no Path made per file
        if again:  # its folder was pruned meanwhile: made again
            self._made_dirs.discard(parent)
        if parent not in self._made_dirs:
            os.makedirs(parent, exist_ok=True)
            self._made_dirs.add(parent)

    def place_bytes(self, data: bytes, path: str, expected: Optional[FileState],
                    mtime_ns: Optional[int]) -> tuple:
        """``place`` of a verified download held in memory, modified at ``mtime_ns``
        (None: now). A file no local one precedes is written straight under its name,
        appearing whole or not at all and never over one that appeared meanwhile
        (``diskio.create_whole``); elsewhere, and where the disk cannot, through a temp
        file and ``place``."""
        if expected is None and self._unnamed:
            dest = os.fspath(self.path(path))
            self._parent_made(dest)
            try:
                try:
                    st = create_whole(dest, data, mtime_ns)
                except FileNotFoundError:
                    self._parent_made(dest, again=True)
                    st = create_whole(dest, data, mtime_ns)
            except FileExistsError:
                self.expect(dest, None, path)  # says what is in the way
                raise ChangedDuringSync(f"{path}: created locally during this sync; "
                                        f"run again") from None
            if st is not None:
                return st, ""
            self._unnamed = False
        tmp = self.tmp()
        try:
            write_file(tmp, data)
            if mtime_ns is not None:
                os.utime(tmp, ns=(time.time_ns(), mtime_ns))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self.place(tmp, path, expected)

    def copy_to(self, path: str, expected: FileState, new_path: str) -> Path:
        """Keep ``path``'s current content under ``new_path`` too (keep both)."""
        src, dst = self.path(path), self.path(new_path)
        self.expect(src, expected, path)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            link_or_copy(src, dst)
        except FileExistsError:
            raise ChangedDuringSync(f"{new_path}: appeared locally during this sync") from None
        return dst

    def to_trash(self, path: str, expected: FileState) -> str:
        """Move the file to the trash (a deletion); returns where it was kept."""
        dest = self.path(path)
        self.expect(dest, expected, path)
        target = self._trash_target(path)
        os.replace(dest, target)
        prune_empty_dirs(dest.parent, self.root)
        return self._shown(target)
