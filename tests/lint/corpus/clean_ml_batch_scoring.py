"""Score batches with a model shipped to the cluster once (clean)."""

from __future__ import annotations

import joblib
import numpy as np
from dask.distributed import Client, progress


def predict(model: object, batch: np.ndarray) -> np.ndarray:
    return model.predict(batch)  # type: ignore[attr-defined]


def make_batches(n: int, size: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((size, 16)) for _ in range(n)]


def run(client: Client, model_path: str) -> np.ndarray:
    model = joblib.load(model_path)
    model_future = client.scatter(model, broadcast=True)
    batches = client.scatter(make_batches(20, 1_000))
    predictions = [client.submit(predict, model_future, batch) for batch in batches]
    progress(predictions)
    return np.concatenate(client.gather(predictions))


def sample_many(client: Client, n: int) -> list[float]:
    draws = [client.submit(np.random.random, pure=False) for _ in range(n)]
    return client.gather(draws)


def per_seed(client: Client) -> list[float]:
    futures = []
    for seed in range(8):
        futures.append(client.submit(np.random.default_rng, seed))
    return client.gather(futures)


if __name__ == "__main__":
    with Client() as dask_client:
        print(run(dask_client, "model.joblib").shape)
