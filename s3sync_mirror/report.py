"""What the user reads: the plan as a table, warnings, the outcome summary, ``--json``."""
from __future__ import annotations

import os
import sys

from . import model as m

SHOW_PER_KIND = 40  # beyond this many of a kind, the table says "... and N more" (-v: all)
_COLOR = {m.UPLOAD: "32", m.DOWNLOAD: "36", m.DELETE_REMOTE: "31", m.DELETE_LOCAL: "31",
          m.CONFLICT: "33;1"}
_VERB = {m.UPLOAD: "upload", m.DOWNLOAD: "download", m.DELETE_REMOTE: "delete on remote",
         m.DELETE_LOCAL: "delete locally", m.CONFLICT: "conflict"}


def human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def use_color(stream) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _paint(text: str, code: str, color: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if color else text


def action_size(a) -> int:
    side = a.local if a.kind in (m.UPLOAD, m.DELETE_REMOTE) else a.remote
    side = side or a.local or a.remote
    return side.size if side is not None else 0


def plan_lines(plan, *, verbose: bool = False, color: bool = False) -> list[str]:
    lines = []
    shown: dict = {}
    hidden: dict = {}
    width = min(60, max((len(a.path) for a in plan.actions), default=10))
    for a in (*plan.actions, *plan.problems):
        k = a.shown_kind
        shown[k] = shown.get(k, 0) + 1
        if not verbose and shown[k] > SHOW_PER_KIND:
            hidden[k] = hidden.get(k, 0) + 1
            continue
        size = human(action_size(a)) if a.kind in (m.UPLOAD, m.DOWNLOAD) else ""
        verb = _paint(f"{_VERB[k]:<16}", _COLOR[k], color)
        lines.append(f"  {verb} {a.path:<{width}} {size:>10}  {a.reason}")
    for k, n in hidden.items():
        lines.append(f"  ... and {n} more to {_VERB[k]} (-v lists them all)")
    return lines


_DONE = {m.UPLOAD: "uploaded", m.DOWNLOAD: "downloaded", m.DELETE_REMOTE: "deleted on remote",
         m.DELETE_LOCAL: "deleted locally", m.CONFLICT: "conflict(s) resolved"}


def counts_text(counts: dict, done: bool = False) -> str:
    words = _DONE if done else _VERB
    parts = [f"{n} {words[k]}" for k, n in counts.items() if n]
    if parts:
        return ", ".join(parts)
    return "nothing completed" if done else "nothing to do"


def write(text: str = "", stream=None) -> None:
    print(text, file=stream or sys.stdout, flush=True)
