"""Read a table (CSV, TSV, Parquet, JSON Lines, Excel) from bytes and compare two of them:
by key (pandas: index alignment and ``DataFrame.compare``), else as multisets of rows
(pandas' row hashes). Rows added, removed, changed cell by cell; columns added, removed,
retyped."""
from __future__ import annotations

import io
from fnmatch import fnmatch

from ..core.errors import UsageError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet",
           ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "excel",
           ".xls": "excel"}


class Unreadable(Exception):
    """The bytes are not a table of the format the name says (compared as text instead)."""


def table_format(path: str):
    """The table format a path's extension names, or None."""
    name = path.lower()
    for ext, fmt in FORMATS.items():
        if name.endswith(ext):
            return fmt
    return None


def key_for(path: str, patterns) -> tuple:
    """The key columns the config declares for ``path`` (``diff: keys:``), first match."""
    for pattern, cols in (patterns or {}).items():
        if fnmatch(path, pattern) or fnmatch(path.rsplit("/", 1)[-1], pattern):
            return tuple(cols)
    return ()


def read(data: bytes, fmt: str, key=()):
    """A DataFrame of the table in ``data``; key columns are read as text so both sides
    join on the same values."""
    import pandas as pd

    buf = io.BytesIO(data)
    try:
        if fmt in ("csv", "tsv"):
            if not data.strip():
                return pd.DataFrame()
            return pd.read_csv(buf, sep="\t" if fmt == "tsv" else ",",
                               dtype={k: str for k in key} or None, keep_default_na=True)
        if fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise UsageError("Parquet needs pyarrow: pip install 's3sync_mirror[parquet]'")
            frame = pd.read_parquet(buf)
        elif fmt == "jsonl":
            frame = pd.read_json(buf, lines=True, dtype=False) if data.strip() \
                else pd.DataFrame()
        else:
            frame = pd.read_excel(buf)
    except UsageError:
        raise
    except ImportError as exc:
        raise Unreadable(f"no reader installed ({exc})") from exc
    except Exception as exc:  # each reader has its own parse errors
        raise Unreadable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    for k in key:
        if k in frame.columns:
            frame[k] = frame[k].astype("string").astype(object)
    return frame


def _aligned(a, b, cols):
    """The two sides' common columns made comparable: both numeric -> float, a column
    whose type changed otherwise -> text. Returns (a, b, retyped)."""
    import pandas as pd

    retyped = []
    a, b = a[cols], b[cols]
    for c in cols:
        x, y = a[c], b[c]
        if x.dtype == y.dtype:
            continue
        if not retyped:  # copy only when a column is to be converted
            a, b = a.copy(), b.copy()
        retyped.append((c, str(x.dtype), str(y.dtype)))
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            a[c], b[c] = x.astype("float64"), y.astype("float64")
        else:
            a[c] = x.astype("string").astype(object)
            b[c] = y.astype("string").astype(object)
    return a, b, retyped


def _check_key(frame, key, side: str, path: str):
    missing = [k for k in key if k not in frame.columns]
    if missing:
        raise UsageError(f"{path}: the {side} version has no column {', '.join(missing)} "
                         f"(its columns: {', '.join(map(str, frame.columns))}); choose "
                         f"another --key")


def _check_unique(frame, codes, key, side: str, path: str):
    import pandas as pd

    dup = pd.Index(codes).duplicated(keep=False)
    if dup.any():
        first = frame.loc[dup, list(key)].iloc[0].tolist()
        raise UsageError(f"{path}: the key {', '.join(key)} is not unique in the {side} "
                         f"version ({int(dup.sum())} rows share a value, e.g. {first}); "
                         f"name more columns with --key, or leave it out to compare rows")


def _codes(old, new, key):
    """Each row's key as one integer, the same on both sides (pandas' factorize): joins
    and lookups on integers, whatever the key columns hold."""
    import numpy as np
    import pandas as pd

    combined = None
    for k in key:
        codes, uniques = pd.factorize(pd.concat([old[k], new[k]], ignore_index=True))
        codes = codes.astype(np.int64) + 1  # a missing value (-1) is a value of its own
        combined = codes if combined is None else \
            pd.factorize(combined * (len(uniques) + 1) + codes)[0].astype(np.int64)
    return combined[:len(old)], combined[len(old):]


def compare(path: str, old, new, key=()) -> dict:
    """The differences between DataFrames ``old`` and ``new`` as FileDiff fields."""
    ocols, ncols = list(old.columns), list(new.columns)
    out = {"columns_added": tuple(str(c) for c in ncols if c not in ocols),
           "columns_removed": tuple(str(c) for c in ocols if c not in ncols),
           "rows_old": len(old), "rows_new": len(new), "key": tuple(key)}
    if key:
        _check_key(old, key, "old", path)
        _check_key(new, key, "new", path)
        out.update(_by_key(path, old, new, list(key)))
    else:
        out.update(_by_row(old, new))
    return out


def _by_key(path, old, new, key: list) -> dict:
    import numpy as np
    import pandas as pd

    ca, cb = _codes(old, new, key)
    _check_unique(old, ca, key, "old", path)
    _check_unique(new, cb, key, "new", path)
    ia = pd.Index(ca)
    added_mask, removed_mask = ~np.isin(cb, ca), ~np.isin(ca, cb)
    pos_b = np.flatnonzero(~added_mask)
    pos_a = ia.get_indexer(cb[pos_b])
    cols = [c for c in new.columns if c in old.columns and c not in key]
    before = old[cols].iloc[pos_a].reset_index(drop=True)
    after = new[cols].iloc[pos_b].reset_index(drop=True)
    x, y, retyped = _aligned(before, after, cols)
    keys = new[key].iloc[pos_b].reset_index(drop=True)
    changed, rows = _cells(x, y, before, after, keys)
    return {"rows_added": int(added_mask.sum()), "rows_removed": int(removed_mask.sum()),
            "rows_changed": rows, "columns_retyped": tuple(retyped),
            "added": new.loc[added_mask].reset_index(drop=True),
            "removed": old.loc[removed_mask].reset_index(drop=True), "changed": changed}


def _cells(x, y, before, after, keys):
    """The cells that differ (pandas' ``compare`` rule: equal, or missing on both sides,
    is no change) as long rows key, column, old, new, with each side's own values; and
    how many rows hold one."""
    import numpy as np
    import pandas as pd

    parts, any_row = [], np.zeros(len(x), dtype=bool)
    names = list(keys.columns)
    for c in x.columns:
        ne = ~((x[c] == y[c]) | (x[c].isna() & y[c].isna())).to_numpy(dtype=bool)
        if not ne.any():
            continue
        any_row |= ne
        picked = keys[ne]
        parts.append(pd.DataFrame({
            "key": picked[names[0]].to_numpy(dtype=object) if len(names) == 1
            else list(zip(*(picked[k] for k in names))),
            "column": str(c), "old": before[c].to_numpy(dtype=object)[ne],
            "new": after[c].to_numpy(dtype=object)[ne]}))
    if not parts:
        return pd.DataFrame(columns=["key", "column", "old", "new"]), 0
    return pd.concat(parts, ignore_index=True), int(any_row.sum())


def _by_row(old, new) -> dict:
    """Rows as a multiset over the common columns: a row present twice before and once
    after was removed once."""
    import pandas as pd

    cols = [c for c in new.columns if c in old.columns]
    x, y, retyped = _aligned(old, new, cols)
    if not cols:
        return {"rows_added": len(new), "rows_removed": len(old), "columns_retyped": (),
                "added": new, "removed": old, "changed": None}
    hx = pd.util.hash_pandas_object(x, index=False)
    hy = pd.util.hash_pandas_object(y, index=False)
    kx = pd.MultiIndex.from_arrays([hx.to_numpy(), hx.groupby(hx).cumcount().to_numpy()])
    ky = pd.MultiIndex.from_arrays([hy.to_numpy(), hy.groupby(hy).cumcount().to_numpy()])
    added, removed = ~ky.isin(kx), ~kx.isin(ky)
    return {"rows_added": int(added.sum()), "rows_removed": int(removed.sum()),
            "columns_retyped": tuple(retyped),
            "added": new.loc[added].reset_index(drop=True),
            "removed": old.loc[removed].reset_index(drop=True), "changed": None}
