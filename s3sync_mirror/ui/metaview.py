"""Everything the user reads from ``files``, ``meta``, ``mark``, ``sparse``, ``store`` and
``info``: tables, summaries, conflicts and refusals with their fix."""
from __future__ import annotations

from ..core import typed
from .text import human
from .cells import ljust, width

SHOWN = ["File", "status", "Size", "Edited By", "Time Edited"]


def _cell(value) -> str:
    return typed.shown(value)


def files_lines(columns: list, rows: list) -> list[str]:
    """The files table: path, status, size, editor, time, then metadata and marks (the
    checksums are in ``--json``)."""
    if not rows:
        return ["No files match."]
    cols = SHOWN + [c for c in columns if c not in SHOWN and c != "Checksum"]
    cells = [[human(r["Size"]) if c == "Size" else _cell(r.get(c)) for c in cols]
             for r in rows]
    widths = [max(width(c), *(width(row[i]) for row in cells)) for i, c in enumerate(cols)]
    def fmt(vals) -> str:
        return "  ".join(ljust(v, w) for v, w in zip(vals, widths)).rstrip()
    held = sum(1 for r in rows if r["status"] != "not held")
    return [fmt(cols), *(fmt(row) for row in cells),
            f"{len(rows)} file{'s' if len(rows) != 1 else ''} ({held} held here)."]


def values_lines(path: str, values: dict, what: str = "metadata") -> list[str]:
    if not values:
        return [f"{path}: no {what}."]
    return [f"{path}:"] + [f"  {k} = {typed.shown(v)} ({typed.type_of(v)})"
                           for k, v in values.items()]


def _entry(e) -> str:
    if e is None:
        return "(not set)"
    v = typed.decode(e)
    by = f" by {e['by']}" if e.get("by") else ""
    at = f" at {e['at']}" if e.get("at") else ""
    return f"{typed.shown(v)} ({typed.type_of(v)}){by}{at}"


def written_lines(done) -> list[str]:
    lines = [f"  {'unset' if e is None else 'set'} {p}: {k}"
             + ("" if e is None else f" = {typed.shown(typed.decode(e))}")
             for p, k, e in done.applied]
    if done.unchanged:
        lines.append(f"  {done.unchanged} value{'s' if done.unchanged != 1 else ''} "
                     f"already so")
    return lines


def conflict_text(conflicts) -> str:
    """A metadata conflict: both values, and how to settle it."""
    parts = [f"{c.path}: {c.key} is now {_entry(c.theirs)}, changed since this clone last "
             f"read it ({_entry(c.seen)}); yours, {_entry(c.mine)}, was not written"
             for c in conflicts]
    return ("; ".join(parts) + ". To keep yours, run the same command again (this clone "
            "has now seen their value); to keep theirs, do nothing (`meta get PATH` shows "
            "it).")


def import_lines(read: int, done, warnings, what: str = "sidecar file") -> list[str]:
    return [*(f"warning: {w}" for w in warnings),
            f"Read {read} {what}{'s' if read != 1 else ''}: "
            f"{sum(1 for *_, e in done.applied if e is not None)} value(s) set, "
            f"{sum(1 for *_, e in done.applied if e is None)} removed, "
            f"{done.unchanged} already so."]


def narrowing_refused(refused: dict) -> str:
    listed = "; ".join(f"{p} ({why})" for p, why in list(refused.items())[:10])
    more = f" and {len(refused) - 10} more" if len(refused) > 10 else ""
    return (f"the new selection leaves out {len(refused)} file"
            f"{'s' if len(refused) != 1 else ''} with changes not yet synced: {listed}{more}. "
            f"Nothing was changed. Sync first (`s3sync-mirror sync`), or keep them in the "
            f"selection (`sparse add PATTERN`)")


def left_here(path: str, exc: Exception) -> str:
    return f"{path}: left in place ({exc}); it is outside the selection and left alone"


def selection_lines(rules) -> list[str]:
    if not rules:
        return ["This clone holds every file (no sparse selection)."]
    return ["This clone holds the files selected by:"] + [f"  {r}" for r in rules]


def sparse_done_lines(done: dict, rules) -> list[str]:
    if not rules and not done.get("was_selection", True):
        return ["This clone holds every file already (there was no sparse selection); "
                "nothing changed."]
    lines = selection_lines(rules)
    for path, kept in done["trashed"]:
        lines.append(f"  no longer held here: {path} (moved to {kept})")
    lines += [f"warning: {k}" for k in done["kept"]]
    lines.append("The next sync downloads the files the selection left out." if not rules
                 else "The next sync downloads what the selection adds; files outside it "
                      "are left alone, here and on the remote.")
    return lines


def holds_lines(holds: dict) -> list[str]:
    return selection_lines(holds["selection"]) + [
        f"  {holds['selected_files']} remote file(s) selected "
        f"({human(holds['selected_bytes'])}); {holds['synced_files']} in sync here "
        f"({human(holds['synced_bytes'])})"]


def store_lines(entries: dict) -> list[str]:
    if not entries:
        return ["The store is empty."]
    return [f"{k} = {_entry(e)}" for k, e in sorted(entries.items())]


def info_lines(i: dict) -> list[str]:
    lines = [f"Remote: {i['remote']}",
             f"  {i['files']} files, {human(i['bytes'])}; archive: "
             f"{i['archive']['versions']} versions, {human(i['archive']['bytes'])}",
             "Members (last change on the remote; last sync):"]
    lines += [f"  {ljust(m['name'], 16)} {m['last_change'] or '-':<20}  "
              f"{m.get('last_sync') or '?':<20}  ({m['runs']} run(s) that changed files)"
              for m in i["members"]] or ["  none yet"]
    lines.append("Latest changes:")
    lines += [f"  {v['time']}  {ljust(v['author'] or '?', 12)} {v['event']:<9} {v['path']}"
              for v in i["latest"]] or ["  none yet"]
    lines += holds_lines(i["holds"])
    meta = i["metadata"]
    lines.append(f"Metadata: {meta['files']} file(s); keys: "
                 f"{', '.join(meta['keys']) or 'none'}")
    lines.append(f"Store: {', '.join(i['store']) or 'empty'}")
    return lines


