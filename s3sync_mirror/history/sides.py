"""The two sides ``diff`` compares, each named by a revision word ("local", "remote",
``{"version": N}``, ``{"at": T}``, ``{"checksum": H}``, ``{"tag": NAME}``): what files the
side holds under the paths asked about, each with its checksum and a reader of its bytes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..core.clock import parse_when
from ..core.errors import UsageError
from ..core.hashing import sha256_file
from ..pipeline.scan import walk
from ..state import remotestate
from . import restore as restoring, sources, versions
from .versions import Version

WORDS = ("version", "at", "checksum", "tag", "pin")


@dataclass(frozen=True)
class Entry:
    path: str
    checksum: str
    label: str  # e.g. "remote", "v2 2026-11-20T10:00:00Z bob", "tag v1"
    read: Callable[[], bytes]


def under(path: str, scope) -> bool:
    return not scope or any(q in ("", ".") or path == q or path.startswith(q.rstrip("/") + "/")
                            for q in scope)


def describe(spec) -> str:
    if isinstance(spec, str):
        return spec
    return ", ".join(f"{k} {v}" for k, v in spec.items())


def normal(spec):
    """A revision word checked: "local", "remote", or a mapping with exactly one word."""
    if spec in ("local", "remote"):
        return spec
    if isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in WORDS:
        return spec
    raise UsageError(f"{spec!r} names no version: use 'local', 'remote', or one of "
                     f"{{'version': N}}, {{'at': TIME}}, {{'checksum': HEX}}, {{'tag': NAME}}, "
                     f"{{'pin': GITREV}}")


class Sides:
    """Reads what a session's sides hold; the history is gathered once, when needed."""

    def __init__(self, s):
        self.s = s
        self._every: Optional[list] = None

    @property
    def every(self) -> list:
        if self._every is None:
            self._every = sources.gather(self.s)
        return self._every

    def entries(self, spec, scope) -> dict:
        spec = normal(spec)
        if spec == "local":
            return self._local(scope)
        if spec == "remote":
            return self._remote(scope)
        (word, value), = spec.items()
        if word == "pin":  # the data a commit was pinned with: the tag its lock names
            from pathlib import Path

            from .pins import at as pin_at

            word, value = "tag", pin_at(Path(self.s.settings.repo_root), str(value))["tag"]
        if word == "tag":
            chosen = restoring._tag_versions(self.s, self.every, value, scope or [""])
            return {v.path: self._entry(v, f"tag {value}") for v in chosen}
        if word == "at":
            when = parse_when(value, True)
            paths = {v.path for v in versions.select(self.every, scope)}
            found = (versions.pick(self.every, p, at=when) for p in sorted(paths))
            return {v.path: self._entry(v, f"as at {value}: v{v.version}") for v in found if v}
        return self._one(word, value, scope)

    def _one(self, word, value, scope) -> dict:
        files = [p for p in scope or [""] if any(v.path == p for v in self.every)]
        if len(files) != 1 or len(scope) != 1:
            raise UsageError(f"--{word} names a version of one file: name that file (a folder "
                             f"is compared as at --at TIME or --tag NAME)")
        v = versions.pick(self.every, files[0], **{word: value})
        if v is None:
            raise UsageError(f"{files[0]}: no such version; `log {files[0]}` lists them")
        return {v.path: self._entry(v, f"v{v.version} {v.time} {v.author}".rstrip())}

    def _entry(self, v: Version, label: str) -> Entry:
        return Entry(v.path, v.checksum, label, lambda: restoring.read(self.s, v))

    def _local(self, scope) -> dict:
        data_dir = self.s.layout.data_dir
        found, _warnings, _unreadable, _skipped = walk(data_dir, self.s.ignored())
        out = {}
        for rel, *_ in found:
            if under(rel, scope):
                file = Path(data_dir, *rel.split("/"))
                out[rel] = Entry(rel, sha256_file(file), "local", file.read_bytes)
        return out

    def _remote(self, scope) -> dict:
        live = remotestate.fetch(self.s.remote, self.s.statedir, save_cache=False).files
        out = {}
        for path, st in live.items():
            if under(path, scope):
                v = Version(path, 0, st.time_edited, st.edited_by, st.size, st.checksum, "",
                            "live", (("live", path),))
                out[path] = self._entry(v, f"remote {st.edited_by} {st.time_edited}".rstrip())
        return out


def missing(scope, old: dict, new: dict) -> list:
    """The paths asked about that neither side holds (a typo, most likely)."""
    return [q for q in scope if q not in ("", ".")
            and not any(under(p, [q]) for p in (*old, *new))]


def is_folder(scope, old: dict, new: dict) -> bool:
    return len(scope) != 1 or not all(p == scope[0] for p in (*old, *new)) or \
        scope[0] in ("", ".")


