"""dask.delayed used the ways the best-practices page warns about (findings marked)."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd
from dask import delayed


def load(path: str) -> pd.DataFrame:
    return pd.read_csv(path)


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.dropna()


@delayed
def inc(x: int) -> int:
    return x + 1


@delayed
def total(values: list[int]) -> int:
    return sum(inc(v) for v in values)  # expect: RD008


@delayed
def summary(path: str) -> float:
    frame = dd.read_csv(path)
    return frame.amount.mean().compute()  # expect: RD004


def build(paths: list[str]) -> list[object]:
    eager = [delayed(load(p)) for p in paths]  # expect: RD005
    named = [delayed(clean, p) for p in paths]  # expect: RD014
    ddf = dd.read_parquet("data/")
    whole = delayed(clean)(ddf)  # expect: RD009
    return [*eager, *named, whole, total([1, 2]), summary("a.csv")]


if __name__ == "__main__":
    print(dask.compute(*build(["a.csv", "b.csv"])))
