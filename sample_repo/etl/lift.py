"""An ETL step: sum the 2024 sales per region and write the result where FSMirror says,
inside the synced data folder (Data/etl/lift/<run id>/lift_sales/out.csv).

    python -m etl.lift                               # run it (from sample_repo/)
    python -m s3sync_mirror sync etl.lift:lift_sales # share just its artifacts
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from s3sync_mirror import FSMirror

HERE = Path(__file__).resolve().parent.parent


def lift_sales() -> Path:
    sales = pd.read_csv(HERE / "Data" / "raw" / "2024" / "sales.csv")
    totals = sales.groupby("region", as_index=False)[["units", "revenue"]].sum()
    out = FSMirror(mirror="etl").local_output(lift_sales)
    out.parent.mkdir(parents=True, exist_ok=True)
    totals.to_csv(out, index=False)
    return out


if __name__ == "__main__":
    print(lift_sales())
