"""A small job service wrapping a Client in a class (clean)."""

from __future__ import annotations

from functools import partial

from dask.distributed import Client, Future, fire_and_forget


def transform(record: dict[str, int], scale: int = 1) -> dict[str, int]:
    return {k: v * scale for k, v in record.items()}


def audit(record: dict[str, int]) -> None:
    print("audit", record)


class JobService:
    def __init__(self, address: str) -> None:
        self.client = Client(address)
        self.pending: list[Future] = []

    def submit_all(self, records: list[dict[str, int]], scale: int) -> list[Future]:
        job = partial(transform, scale=scale)
        futures = self.client.map(job, records)
        self.pending.extend(futures)
        for record in records:
            fire_and_forget(self.client.submit(audit, record))
        return futures

    def chain(self, record: dict[str, int]) -> Future:
        first = self.client.submit(transform, record)
        return self.client.submit(transform, first, scale=2)

    def results(self) -> list[dict[str, int]]:
        done = self.client.gather(self.pending)
        self.pending.clear()
        return done
