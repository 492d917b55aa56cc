"""Pins: the data a commit of the code was made with. ``s3sync_mirror.lock`` at the repo
root (committed with the code) names a manifest of the data by its content id, with its
file count, bytes, and the remote tag that keeps the manifest; git's history of that file
is the list of pins (docs/history.md#pins)."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Mapping, Optional

from ..core.clock import now_iso
from ..core.diskio import write_atomic
from ..core.errors import UsageError
from ..core.layout import LOCK_NAME
from . import tags as tagging
from ..core.hashing import sha256_hasher

FIELDS = ("content", "files", "bytes", "tag", "pinned", "by", "message")


def content_id(files: Mapping) -> str:
    """The SHA-256 of the sorted ``path<TAB>sha256`` lines: the same data, the same id,
    whoever computes it."""
    h = sha256_hasher()
    for path in sorted(files):
        h.update(f"{path}\t{files[path].checksum}\n".encode("utf-8"))
    return h.hexdigest()


def tag_name(content: str) -> str:
    return f"pin-{content[:16]}"


def render(lock: dict) -> bytes:
    lines = ["# s3sync_mirror.lock: the data this commit of the code was made with.",
             "# Written by `s3sync-mirror pin`; `restore --pin GITREV` brings it back.",
             *(f"{k}: {' '.join(str(lock.get(k, '')).split())}" for k in FIELDS)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse(text: str, where: str) -> dict:
    lock = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition(":")
            if sep:
                lock[key.strip()] = value.strip()
    if len(lock.get("content", "")) != 64 or not lock.get("tag"):
        raise UsageError(f"{where} is not a pin (no content id or tag): restore the file "
                         f"from git, or run `s3sync-mirror pin` again")
    return lock


def read(repo_root: Path) -> Optional[dict]:
    """The working tree's lock, or None when there is none."""
    path = Path(repo_root, LOCK_NAME)
    try:
        return parse(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        return None


def create(s, files: Mapping, message: str = "") -> dict:
    """Pin ``files`` (the remote state this clone is in sync with): keep its manifest as a
    tag (once per content) and write the lock; returns the lock."""
    content = content_id(files)
    name = tag_name(content)
    if name not in {t["name"] for t in tagging.listing(s.remote)}:
        try:
            tagging.create(s, name, message or "pinned")
        except UsageError:  # a teammate pinned the same data at the same moment
            pass
        if content_id(tagging.read(s.remote, name)) != content:
            raise UsageError("the remote changed while pinning: sync, then pin again")
    lock = {"content": content, "files": len(files),
            "bytes": sum(st.size for st in files.values()), "tag": name,
            "pinned": now_iso(), "by": s.user, "message": message}
    write_atomic(Path(s.settings.repo_root, LOCK_NAME), render(lock))
    return lock


def _git(repo_root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo_root), *args], capture_output=True,
                              text=True, timeout=60)
    except FileNotFoundError:
        raise UsageError("git is not installed: pins live in git's history of "
                         f"{LOCK_NAME}") from None
    if done.returncode:
        raise UsageError(f"git {' '.join(args[:2])}: {done.stderr.strip() or 'failed'}")
    return done.stdout


def head_commit(repo_root: Path) -> str:
    """The commit the working tree is at, or "" when the repo is not under git (or has no
    commit yet): what an artifact's provenance records."""
    try:
        return _git(repo_root, "rev-parse", "--verify", "-q", "HEAD").strip()
    except UsageError:
        return ""


def at(repo_root: Path, rev: str) -> dict:
    """The lock as commit ``rev`` holds it."""
    try:
        text = _git(repo_root, "show", f"{rev}:./{LOCK_NAME}")
    except UsageError as exc:
        raise UsageError(f"no pin at {rev!r} ({exc}): `pins` lists the commits that hold "
                         f"one") from None
    return parse(text, f"{LOCK_NAME} at {rev}")


def history(repo_root: Path) -> list[dict]:
    """Every commit that changed the lock, newest first, with the lock it holds."""
    out = []
    log = _git(repo_root, "log", "--format=%H%x09%cI%x09%s", "--", LOCK_NAME)
    for line in log.splitlines():
        commit, when, subject = (line.split("\t", 2) + ["", ""])[:3]
        try:
            lock = at(repo_root, commit)
        except UsageError:
            continue  # the commit removed the lock
        out.append({"commit": commit, "committed": when, "subject": subject, **lock})
    return out


def differences(lock: dict, files: Mapping, pinned: Optional[Mapping] = None) -> int:
    """How many paths differ between ``files`` and the pinned manifest (0 when the content
    ids agree; ``pinned`` is needed only when they do not)."""
    if content_id(files) == lock["content"]:
        return 0
    pinned = pinned or {}
    return sum(1 for p in set(files) | set(pinned)
               if (files.get(p) and files[p].checksum) != (pinned.get(p) and pinned[p].checksum))


def stale_note(s, files) -> Optional[str]:
    """A line for ``status`` when this clone's data differs from the lock, else None.
    ``files``: {path: FileState} of the data here, or a function giving it (called only
    when there is a lock)."""
    lock = read(s.settings.repo_root)
    if lock is None:
        return None
    files = files() if callable(files) else files
    if content_id(files) == lock["content"]:
        return None
    try:
        pinned = tagging.read(s.remote, lock["tag"])
    except UsageError:
        pinned = {}
    n = differences(lock, files, pinned)
    return (f"{s.data_dir.name}/ differs from {LOCK_NAME} (pinned {lock.get('pinned', '?')} by "
            f"{lock.get('by', '?')}): {n} file{'s' if n != 1 else ''} "
            f"differ{'s' if n == 1 else ''}. Run `pin` to "
            f"record the data as it is now, or `restore . --pin HEAD` to go back to it.")
