"""Recursive fan-out from inside tasks, done the supported ways (clean)."""

from __future__ import annotations

from dask.distributed import (
    Client,
    as_completed,
    get_client,
    rejoin,
    secede,
    wait,
    worker_client,
)


def score(item: int) -> int:
    return item * item


def fan_out(items: list[int]) -> int:
    with worker_client() as client:
        futures = client.map(score, items)
        results = client.gather(futures)
    return sum(results)


def fan_out_seceded(items: list[int]) -> list[int]:
    client = get_client()
    futures = client.map(score, items)
    secede()
    values = client.gather(futures)
    rejoin()
    return values


def tree_sum(values: list[int]) -> int:
    if len(values) <= 2:
        return sum(values)
    middle = len(values) // 2
    with worker_client() as client:
        left = client.submit(tree_sum, values[:middle])
        right = client.submit(tree_sum, values[middle:])
        return left.result() + right.result()


def combine(parts: list[int], offset: int) -> int:
    return sum(parts) + offset


def main() -> None:
    client = Client(n_workers=2)
    inputs = client.scatter(list(range(100)))
    offset = client.submit(score, 3)
    total = client.submit(combine, inputs, offset)
    jobs = [client.submit(fan_out, list(range(i, i + 10))) for i in range(0, 100, 10)]
    seceded = client.submit(fan_out_seceded, [1, 2, 3])
    wait(jobs)
    for finished in as_completed(jobs):
        print(finished.result())
    print(total.result(), seceded.result(), client.submit(tree_sum, list(range(32))).result())
    client.close()


if __name__ == "__main__":
    main()
