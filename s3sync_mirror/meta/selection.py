"""The sparse selection (docs/metadata.md#sparse-selection): the part of the folder this
clone holds, as gitignore-style patterns and ``--where`` filters on the shared metadata,
kept in ``<data_dir>/.S3/sparse.json`` (``layout.SPARSE``, never uploaded).

A path outside the selection is left alone on every side, as an ignored path is: the
session adds the selection to its ignore matcher, so the planner never sees such a path
and nothing is downloaded, uploaded or deleted for it anywhere. This module says what is
selected, and (pure) what narrowing the selection does to the files this clone holds."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Optional

from ..core import model as m
from ..core import typed
from ..core.errors import StateError, UsageError
from ..state.csvfiles import write_atomic
from ..core.hashing import sha256_hex

FORMAT = 1


@dataclass(frozen=True)
class Rule:
    """Paths matching the patterns (any path when there are none) whose shared metadata
    passes every ``where`` filter."""

    patterns: tuple = ()  # gitignore-style
    where: tuple = ()  # KEY=VALUE (or !=, <, <=, >, >=) filters on the shared metadata

    def __post_init__(self):
        if not self.patterns and not self.where:
            raise UsageError("give patterns or --where filters (`sparse off` holds "
                             "everything again)")
        for w in self.where:
            typed.Filter.parse(w)

    def matcher(self, files: Mapping) -> Callable[[str], bool]:
        spec = None
        if self.patterns:
            import pathspec

            spec = pathspec.GitIgnoreSpec.from_lines(self.patterns)
        conditions = [typed.Filter.parse(w) for w in self.where]

        def selected(path: str) -> bool:
            if spec is not None and not spec.match_file(path):
                return False
            if not conditions:
                return True
            kept = files.get(path, {})
            return typed.select({k: typed.decode(e) for k, e in kept.items()}, conditions)

        return selected

    def shown(self) -> str:
        where = " ".join(f"--where {w}" for w in self.where)
        return " ".join(self.patterns) + (" " if self.patterns and where else "") + where


@dataclass(frozen=True)
class Selection:
    """What this clone holds: the paths any of its rules selects. ``sparse set`` makes one
    rule; ``sparse add`` adds one (so it only ever widens)."""

    rules: tuple  # of Rule

    @property
    def uses_metadata(self) -> bool:
        return any(r.where for r in self.rules)

    def outside(self, metadata: Optional[Mapping] = None) -> Callable[[str], bool]:
        """A matcher: True for a file path outside the selection. ``metadata``: the
        shared {path: {key: entry}} the ``where`` filters are resolved against. A folder
        (``raw/``) is never outside: a selected file may lie anywhere below it."""
        tests = [r.matcher(metadata or {}) for r in self.rules]

        def outside(path: str) -> bool:
            return not path.endswith("/") and not any(t(path) for t in tests)

        return outside

    def signature(self, metadata_etag: Optional[str] = "") -> str:
        """Changes whenever what is selected may change: the rules, and for ``where``
        filters the metadata's version (the quick no-change check compares it)."""
        text = json.dumps([self.as_json(), metadata_etag if self.uses_metadata else ""])
        return sha256_hex(text.encode("utf-8"))[:16]

    def as_json(self) -> dict:
        return {"rules": [{"patterns": list(r.patterns), "where": list(r.where)}
                          for r in self.rules]}


def load(lay) -> Optional[Selection]:
    """This clone's selection, or None when it holds everything."""
    try:
        doc = json.loads(lay.sparse.read_text(encoding="utf-8"))
        rules = tuple(Rule(tuple(r.get("patterns") or ()), tuple(r.get("where") or ()))
                      for r in doc["rules"])
        return Selection(rules) if rules else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError, KeyError, TypeError, UsageError) as exc:
        raise StateError(f"{lay.sparse} cannot be read ({exc}). Nothing was changed: run "
                         f"`sparse set ...` to write it again, or `sparse off`") from None


def save(lay, sel: Optional[Selection]) -> None:
    if sel is None:
        lay.sparse.unlink(missing_ok=True)
        return
    data = json.dumps({"format": FORMAT, **sel.as_json()}, indent=1, ensure_ascii=False)
    write_atomic(lay.sparse, data.encode("utf-8"))


def remember_before(lay, current: Optional[Selection]) -> None:
    """The selection is about to change: add ``current`` to those kept since the last
    sync, so the next sync can call a file outside any of them "back in the selection",
    not new."""
    if current is None:
        return
    kept = [sel.as_json() for sel in before(lay)]
    if current.as_json() not in kept:
        data = json.dumps({"format": FORMAT, "selections": [*kept, current.as_json()]},
                          ensure_ascii=False)
        write_atomic(lay.sparse_before, data.encode("utf-8"))


def before(lay) -> list:
    """The selections this clone held since its last sync, before they changed ([]:
    none kept, or unreadable: the next plan then just calls such files new)."""
    try:
        doc = json.loads(lay.sparse_before.read_text(encoding="utf-8"))
        return [Selection(tuple(Rule(tuple(r.get("patterns") or ()),
                                     tuple(r.get("where") or ())) for r in sel["rules"]))
                for sel in doc["selections"]]
    except (OSError, ValueError, AttributeError, KeyError, TypeError, UsageError):
        return []


def forget_before(lay) -> None:
    lay.sparse_before.unlink(missing_ok=True)


BACK = "back in the selection"


def back_in_selection(plan, kept: list, metadata: Mapping, outside_now) -> tuple:
    """PURE. (the plan with each download of a file that had no baseline because an
    earlier selection (``kept``) left it out, and that the selection now holds, called
    "back in the selection", the paths so called)."""
    if not kept:
        return plan, set()
    tests = [sel.outside(metadata if sel.uses_metadata else {}) for sel in kept]
    back = set()
    actions = []
    for a in plan.actions:
        if a.kind == m.DOWNLOAD and a.base is None and any(t(a.path) for t in tests) and \
                not (outside_now is not None and outside_now(a.path)):
            who = f" (by {a.remote.edited_by})" if a.remote is not None and \
                a.remote.edited_by else ""
            a = a.with_(reason=BACK + who)
            back.add(a.path)
        actions.append(a)
    return replace(plan, actions=tuple(actions)), back


def changed(sel: Optional[Selection], patterns, where=(), add=False) -> Selection:
    """The selection after ``sparse set`` or (``add``) ``sparse add``."""
    rule = Rule(tuple(patterns), tuple(where))
    if not add or sel is None:
        return Selection((rule,))
    return sel if rule in sel.rules else Selection(sel.rules + (rule,))


def narrowing(paths, base: Mapping, local: Mapping, remote: Mapping) -> tuple:
    """PURE. What leaving ``paths`` (held now, outside the new selection) does:
    (to the trash: local copies the remote or the baseline holds, baseline rows to
    forget, refused: {path: why} for unsynced changes, which the user syncs first)."""
    trash, forget, refused = [], [], {}
    for p in sorted(paths):
        b, loc, rem = base.get(p), local.get(p), remote.get(p)
        if loc is not None:
            if b is not None and loc.checksum == b.checksum or \
                    rem is not None and loc.checksum == rem.checksum:
                trash.append(p)
                if b is not None:
                    forget.append(p)
            else:
                refused[p] = "modified here" if b is not None else "new here"
        elif b is not None:
            if rem is None:
                forget.append(p)  # gone here and there: nothing to keep
            else:
                refused[p] = "deleted here"
    return trash, forget, refused
