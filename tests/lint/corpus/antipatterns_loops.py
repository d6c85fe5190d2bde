"""Driver scripts that talk to the cluster one item at a time (findings marked)."""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
from dask.distributed import Client


def simulate(weights: np.ndarray | None = None) -> float:
    return float(np.random.random())


def score(batch: int, table: np.ndarray) -> float:
    return float(table[batch].sum())


def main(paths: list[str]) -> None:
    client = Client()
    table = np.load("table.npy")

    row_counts = {}
    for path in paths:
        frame = dd.read_parquet(path)
        row_counts[path] = frame.shape[0].compute()  # expect: RD006

    runs = [client.submit(simulate) for _ in range(100)]  # expect: RD011
    scores = []
    for batch in range(1_000):
        scores.append(client.submit(score, batch, table))  # expect: RD007
    chunks = np.array_split(np.arange(1_000), 10)
    remote = [client.scatter(chunk) for chunk in chunks]  # expect: RD012
    print(row_counts, client.gather(runs + scores + remote))
