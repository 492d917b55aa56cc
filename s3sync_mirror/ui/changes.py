"""The words of ``diff``: a comparison (compare/result.py's FileDiff, read by its fields)
as one ``--stat`` line, or as the lines a person reads (rows added, removed, cells changed
old -> new; a unified diff; sizes and checksums)."""
from __future__ import annotations

from .report import human


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _columns(d) -> list[str]:
    out = []
    if d.columns_added:
        out.append(f"+{_n(len(d.columns_added), 'column')} ({', '.join(d.columns_added)})")
    if d.columns_removed:
        out.append(f"-{_n(len(d.columns_removed), 'column')} ({', '.join(d.columns_removed)})")
    if d.columns_retyped:
        out.append(f"{len(d.columns_retyped)} retyped (" + ", ".join(
            f"{c}: {a} -> {b}" for c, a, b in d.columns_retyped) + ")")
    return out


def stat(d) -> str:
    """``raw/sales.csv  +12 -3 ~5 rows, +1 column (discount)``."""
    if d.status == "same":
        return "unchanged"
    if d.kind == "table":
        if d.status in ("added", "removed"):
            return f"{d.status}, {_n(d.rows_new if d.status == 'added' else d.rows_old, 'row')}"
        return ", ".join([f"+{d.rows_added} -{d.rows_removed} ~{d.rows_changed} rows",
                          *_columns(d)])
    if d.kind == "text":
        lines = f"+{d.lines_added} -{d.lines_removed} lines"
        return lines if d.status == "changed" else f"{d.status}, {lines}"
    sizes = [human(s) if s is not None else "-" for s in (d.old_size, d.new_size)]
    sums = [c[:12] if c else "-" for c in (d.old_checksum, d.new_checksum)]
    return f"binary, {sizes[0]} -> {sizes[1]}, {sums[0]} -> {sums[1]}" \
        if d.status == "changed" else f"{d.status}, binary, {sizes[0] if d.old_size is not None else sizes[1]}"


def stat_line(d, width: int = 0) -> str:
    return f"{d.path:<{width}}  {stat(d)}"


def _row(values: dict) -> str:
    return ", ".join(f"{k}={_cell(v)}" for k, v in values.items())


def _cell(v) -> str:
    return "(missing)" if v is None else repr(v) if isinstance(v, str) and (
        not v or v != v.strip()) else str(v)


def _capped(items: list, total: int, limit: int, word: str) -> list[str]:
    out = items[:limit] if limit >= 0 else items
    if total > len(out):
        out.append(f"  ... {total - len(out)} more {word} not shown (--max-rows N, or --json)")
    return out


def lines(d, max_rows: int = 20) -> list[str]:
    """What ``diff`` prints for one file."""
    head = [f"--- {d.path} ({d.old or 'absent'})", f"+++ {d.path} ({d.new or 'absent'})"]
    if d.status == "same":
        return head + ["no change"]
    head += [f"{d.kind}: {stat(d)}" + (f" (key: {', '.join(d.key)})" if d.key else ""),
             *d.notes]
    if d.kind == "text":
        return head + d.text.splitlines()[2:]
    if d.kind != "table":
        return head
    j = d.as_json(max_rows)
    out = head
    out += _capped([f"+ {_row(r)}" for r in j["added"]], d.rows_added, max_rows, "added rows")
    out += _capped([f"- {_row(r)}" for r in j["removed"]], d.rows_removed, max_rows,
                   "removed rows")
    total = 0 if d.changed is None else len(d.changed)
    out += _capped([f"~ {_key(d.key, c['key'])}  {c['column']}: {_cell(c['old'])} -> "
                    f"{_cell(c['new'])}" for c in j["changes"]], total, max_rows,
                   "changed cells")
    return out


def _key(names, value) -> str:
    values = value if isinstance(value, list) else [value]
    return ", ".join(f"{n}={v}" for n, v in zip(names, values))
