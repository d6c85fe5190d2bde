"""Nightly ETL: read raw CSV exports, clean them, write parquet and a summary (clean)."""

from __future__ import annotations

import glob

import dask
import dask.dataframe as dd
import pandas as pd
from dask import delayed


def clean_partition(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.dropna(subset=["customer_id"])
    frame["amount"] = frame["amount"].clip(lower=0)
    return frame


@delayed
def summarise(total: float, count: int, by_region: pd.Series) -> dict[str, object]:
    return {"mean": total / max(count, 1), "regions": by_region.to_dict()}


def load_sidecar(path: str) -> pd.DataFrame:
    return pd.read_json(path)


def run(input_glob: str, output_dir: str) -> dict[str, object]:
    ddf = dd.read_csv(input_glob, dtype={"customer_id": "float64"})
    ddf = ddf.map_partitions(clean_partition)
    ddf.to_parquet(output_dir, write_index=False)

    sidecars = [delayed(load_sidecar)(p) for p in sorted(glob.glob("meta/*.json"))]
    report = summarise(ddf.amount.sum(), ddf.amount.count(), ddf.groupby("region").amount.sum())
    (result, metas) = dask.compute(report, sidecars)
    result["sidecars"] = len(metas)
    return result


def per_year_totals(ddf: dd.DataFrame, years: list[int]) -> dict[int, float]:
    lazy = {year: ddf[ddf.year == year].amount.sum() for year in years}
    (computed,) = dask.compute(lazy)
    return computed


def converge(ddf: dd.DataFrame, tolerance: float = 1e-6) -> float:
    estimate = 0.0
    while True:
        error = (ddf.amount - estimate).abs().mean().compute()
        if error < tolerance:
            return estimate
        estimate += error / 2


if __name__ == "__main__":
    print(run("raw/*.csv", "clean/"))
