"""Text processing with dask.bag and block-wise array work (clean)."""

from __future__ import annotations

import json

import dask
import dask.array as da
import dask.bag as db
import numpy as np


def parse_line(line: str) -> dict[str, object]:
    return json.loads(line)


def normalise(block: np.ndarray) -> np.ndarray:
    return (block - block.mean()) / (block.std() + 1e-9)


def count_words(records: list[dict[str, object]]) -> int:
    return sum(len(str(r.get("text", "")).split()) for r in records)


def main() -> None:
    bag = db.read_text("logs/*.jsonl").map(parse_line)
    per_partition = bag.map_partitions(lambda part: [count_words(list(part))])
    array = da.random.random((20_000, 1_000), chunks=(1_000, 1_000))
    normalised = array.map_blocks(normalise, dtype=float)
    parts = [dask.delayed(count_words)(p) for p in bag.to_delayed()]
    totals, mean = dask.compute(per_partition.sum(), normalised.mean())
    print(totals, mean, sum(dask.compute(*parts)))


if __name__ == "__main__":
    main()
