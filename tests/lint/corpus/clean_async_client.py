"""An asyncio service submitting work with an asynchronous client (clean)."""

from __future__ import annotations

import asyncio

from dask.distributed import Client, as_completed


def parse(record: bytes) -> dict[str, int]:
    return {"size": len(record)}


async def handle(client: Client, records: list[bytes]) -> list[dict[str, int]]:
    futures = client.map(parse, records)
    results = []
    async for future in as_completed(futures):
        results.append(await future)
    return results


async def stream(client: Client, source: asyncio.Queue[bytes]) -> None:
    while True:
        record = await source.get()
        remote = await client.scatter(record)
        print(await client.submit(parse, remote))


async def main() -> None:
    async with Client(asynchronous=True) as client:
        print(await handle(client, [b"a", b"bb"]))


if __name__ == "__main__":
    asyncio.run(main())
