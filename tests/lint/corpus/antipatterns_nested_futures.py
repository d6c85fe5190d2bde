"""Work submitted from inside tasks, with the mistakes users make (findings marked)."""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

from dask.distributed import Client, get_client, wait, worker_client


def load(part: int) -> list[int]:
    return list(range(part))


def expand(part: int):
    client = get_client()
    future = client.submit(load, part)
    return future  # expect: RD001


def expand_many(parts: list[int]):
    with worker_client() as client:
        futures = client.map(load, parts)
        return {"parts": futures}  # expect: RD001


def blocking_total(parts: list[int]) -> int:
    client = get_client()
    futures = client.map(load, parts)
    wait(futures)  # expect: RD002
    return sum(len(x) for x in client.gather(futures))  # expect: RD002


def late_result(part: int) -> int:
    with worker_client() as client:
        future = client.submit(load, part)
    return len(future.result())  # expect: RD013


def main() -> None:
    client = Client()
    lookup = client.scatter({"a": 1, "b": 2})

    def enrich(key: str) -> int:
        return lookup.result()[key]  # expect: RD003

    keys = client.map(enrich, ["a", "b"])
    dead = client.submit(expand, 10)
    many = client.submit(expand_many, [1, 2])
    total = client.submit(blocking_total, [3, 4])
    late = client.submit(late_result, 5)
    hidden = client.submit(partial(len, lookup))  # expect: RD010
    settings = SimpleNamespace(data=lookup, factor=2)
    also_hidden = client.submit(print, settings)  # expect: RD010
    print(client.gather([keys, dead, many, total, late, hidden, also_hidden]))
