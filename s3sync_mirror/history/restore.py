"""``restore`` and ``read_version``: bring an earlier version back, SHA-256 verified, from
the cheapest place that has it (this clone's trash, the live remote file, the archive).
Into the data folder it is a local change (the current file goes to the trash first) that
the next sync shares; ``--to DIR`` writes elsewhere and changes nothing here."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional

from ..core import clock, layout
from . import tags as tagging, versions
from ..core.errors import ChecksumMismatch, RemoteNotFound, UsageError
from ..core.hashing import sha256_file
from ..pipeline.replica import Replica
from ..core.model import FileState
from .versions import Version


def _fetch(s, v: Version, tmp: Path) -> None:
    """Write ``v``'s bytes to ``tmp``, verified; tries each place that keeps it."""
    problems = []
    for place, key in v.sources:
        try:
            if place == "trash":
                shutil.copyfile(Path(s.layout.data_dir, *key.split("/")), tmp)
                digest = sha256_file(tmp)
            else:
                digest = s.remote.download(key, tmp, size_hint=v.size)
        except (OSError, RemoteNotFound) as exc:
            problems.append(f"{place}: {exc}")
            continue
        if digest == v.checksum:
            return
        problems.append(f"{place}: content does not match its SHA-256")
    tmp.unlink(missing_ok=True)
    raise ChecksumMismatch(f"{v.path}: version {v.version} ({v.checksum[:12]}) could not be "
                           f"read: {'; '.join(problems) or 'kept nowhere'}")


def _tag_versions(s, all_versions, name: str, paths) -> list[Version]:
    manifest = tagging.read(s.remote, name)
    out = []
    for path, st in sorted(manifest.items()):
        if not versions.select([Version(path, 0, "", "", 0, "", "", "")], paths):
            continue
        known = next((v for v in all_versions if v.path == path and v.checksum == st.checksum
                      and v.event != "deleted"), None)
        out.append(known or Version(path, 0, st.time_edited, st.edited_by, st.size,
                                    st.checksum, "", "archive",
                                    (("live", path), ("archive", layout.content_key(st.checksum)))))
    return out


def _is_folder(all_versions, path: str) -> bool:
    folder = path.rstrip("/") + "/"
    return path in ("", ".") or any(v.path.startswith(folder) for v in all_versions)


def choose(s, all_versions, paths, *, version=None, at="", checksum="", tag="") -> list:
    """The versions a restore of ``paths`` asks for (UsageError with the fix otherwise)."""
    if tag:
        return _tag_versions(s, all_versions, tag, paths)
    out = []
    for path in paths:
        if _is_folder(all_versions, path):
            if not at:
                raise UsageError(f"{path or '.'}: a folder is restored as of a time or a tag: "
                                 f"add --at TIME or --tag NAME (see `log {path}`)")
            wanted = {v.path for v in versions.select(all_versions, [path])}
            out += [v for p in sorted(wanted) if (v := versions.pick(all_versions, p, at=at))]
            continue
        if not any(v.path == path for v in all_versions):
            raise UsageError(f"{path}: no such file or folder in the history; `log` lists "
                             f"what there is")
        v = versions.pick(all_versions, path, version=version, at=at, checksum=checksum)
        if v is None:
            raise UsageError(_no_such(all_versions, path, version))
        if v.where == "live" and version is None and not (at or checksum):
            raise UsageError(f"{path} is not deleted: choose the version to bring back with "
                             f"--version N, --at TIME or --checksum HEX (`log {path}` lists them)")
        out.append(v)
    return out


def _no_such(all_versions, path: str, version) -> str:
    """Why ``--version N`` names nothing to bring back, with the fix: a deletion is a row
    of the history, not content; the version it deleted is the one after it."""
    mine = [v for v in all_versions if v.path == path]
    gone = next((v for v in mine if v.version == version and v.event == "deleted"), None)
    if gone is not None:
        before = next((v for v in mine if v.version > version and v.event != "deleted"),
                      None)
        then = (f"; the content it deleted is v{before.version}: restore {path} --version "
                f"{before.version}") if before is not None else ""
        return (f"{path}: v{version} is its deletion{' by ' + gone.author if gone.author else ''}"
                f", not a content to bring back{then}")
    return f"{path}: no such version; `log {path}` lists them"


def read(s, v: Version) -> bytes:
    tmp = Replica(s.layout, s.new_run()).tmp()
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        _fetch(s, v, tmp)
        return tmp.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)


def _current(replica: Replica, path: str) -> Optional[FileState]:
    try:
        st = os.stat(replica.path(path), follow_symlinks=False)
    except FileNotFoundError:
        return None
    return FileState.scanned("", st.st_size, st.st_mtime_ns)


def into_folder(s, chosen: list[Version]) -> list[tuple]:
    """Put each version in the data folder; returns (version, what happened, trashed)."""
    replica = Replica(s.layout, s.new_run())
    done = []
    for v in chosen:
        dest = replica.path(v.path)
        if dest.is_file() and sha256_file(dest) == v.checksum:
            done.append((v, "already", ""))
            continue
        tmp = replica.tmp()
        _fetch(s, v, tmp)
        now = clock.now_ns()  # a restore is an edit made now: its version time is the clock's
        os.utime(tmp, ns=(now, now))
        _st, trashed = replica.place(tmp, v.path, _current(replica, v.path))
        s.statedir.mark_restored({v.path: v.checksum})
        done.append((v, "restored", trashed))
    return done


def to_dir(s, chosen: list[Version], target: Path) -> list[tuple]:
    """Write each version under ``target`` (its path kept); the data folder is untouched."""
    replica = Replica(s.layout, s.new_run())
    done = []
    for v in chosen:
        dest = Path(target, *v.path.split("/"))
        tmp = replica.tmp()
        _fetch(s, v, tmp)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp, dest)
        done.append((v, "written", str(dest)))
    return done
