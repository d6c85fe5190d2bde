"""What one watchdog poll costs the scheduler: the old poll against the new, side by side.

The old poll asked for the scheduler's whole ``identity(n_workers=-1)`` (every
worker's description) and judged staleness in the client; the new one runs
``_compat.on_scheduler.stale_workers`` on the scheduler, which goes over the workers
once and answers with the stale ones only. For 10 and 200 in-process workers (a
``Scheduler`` and ``Worker`` objects in this process, none stale), with one
asynchronous ``ResilientClient``:

- bytes: what the poll sends (the new one ships its function by value) and receives,
  as distributed serializes it (``distributed.protocol.dumps``);
- scheduler time: the scheduler's work for one poll (``identity(n_workers=-1)``, or
  unpickling the shipped function and running it), median of ``--polls`` calls;
- round trip: the whole poll from the client, median of ``--polls`` polls (client and
  scheduler share the process here, so this includes both sides).

    python benchmarks/watchdog_poll.py --workers 10,200 --polls 50 [--write PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import inspect
import logging
import pathlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import cloudpickle
from distributed import Scheduler, Worker
from distributed.protocol import dumps

from resilient_dask import ResilientClient
from resilient_dask._compat import on_scheduler
from resilient_dask.watchdog import MISSED_HEARTBEATS

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _report import Row, command_line, machine_and_command, publish

LIMIT = 30.0
#: Where the workers' scratch directories go: memory if there is a /dev/shm (200 workers
#: creating theirs on a slow disk take minutes to start).
SCRATCH = "/dev/shm" if pathlib.Path("/dev/shm").is_dir() else None


def size(message: Any) -> int:
    return sum(len(frame) for frame in dumps(message))


@dataclasses.dataclass
class Poll:
    sent: int
    received: int
    scheduler_ms: float
    round_trip_ms: float


@dataclasses.dataclass
class Measured:
    workers: int
    old: Poll
    new: Poll


async def median_ms(call: Callable[[], Any], polls: int) -> float:
    """Median milliseconds of ``call()`` (awaited if it returns an awaitable)."""
    times = []
    for _ in range(polls):
        start = time.perf_counter()
        pending = call()
        if inspect.isawaitable(pending):
            await pending
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


async def measure_one(n: int, polls: int) -> Measured:
    # Workers are started one after the other in this process's loop: 200 started at
    # once (LocalCluster(processes=False)) did not come up on a busy 2-CPU machine.
    with tempfile.TemporaryDirectory(dir=SCRATCH) as scratch:
        async with Scheduler(host="127.0.0.1", port=0, dashboard_address=":0") as scheduler:
            workers = []
            try:
                for i in range(n):
                    worker = Worker(
                        scheduler.address, nthreads=1, local_directory=f"{scratch}/w{i}"
                    )
                    workers.append(await worker)
                async with ResilientClient(
                    scheduler.address, asynchronous=True, set_as_default=False
                ) as rc:
                    await rc.wait_for_workers(n)
                    return await compare(scheduler, rc, n, polls)
            finally:
                await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)


async def compare(scheduler: Scheduler, rc: ResilientClient, n: int, polls: int) -> Measured:
    identity = scheduler.identity(n_workers=-1)
    old = Poll(
        size({"op": "identity", "n_workers": -1}),
        size(identity),
        await median_ms(lambda: scheduler.identity(n_workers=-1), polls),
        await median_ms(lambda: rc.scheduler.identity(n_workers=-1), polls),
    )
    args = (LIMIT, MISSED_HEARTBEATS, None)
    shipped = cloudpickle.dumps(on_scheduler.stale_workers)
    reply = on_scheduler.stale_workers(*args, dask_scheduler=scheduler)
    assert reply["stale"] == [], "no worker is stale here"

    def on_the_scheduler() -> None:
        cloudpickle.loads(shipped)(*args, dask_scheduler=scheduler)

    new = Poll(
        size({"op": "run_function", "function": shipped, "args": args}),
        size(reply),
        await median_ms(on_the_scheduler, polls),
        await median_ms(lambda: rc.run_on_scheduler(on_scheduler.stale_workers, *args), polls),
    )
    return Measured(n, old, new)


def measure(sizes: list[int], polls: int) -> list[Measured]:
    logging.getLogger("distributed").setLevel(logging.ERROR)
    return [asyncio.run(measure_one(n, polls)) for n in sizes]


def summary(results: list[Measured], polls: int) -> list[Row]:
    return [
        Row(
            f"watchdog poll, {m.workers} workers (none stale): bytes received, scheduler time",
            f"identity(n_workers=-1): {m.old.received:,} B, {m.old.scheduler_ms:.3f} ms",
            f"stale_workers: {m.new.received:,} B, {m.new.scheduler_ms:.3f} ms",
            f"{m.new.received / m.old.received:.3f} B, "
            f"{m.new.scheduler_ms / m.old.scheduler_ms:.3f} time (ours / old)",
            polls,
        )
        for m in results
    ]


def render(results: list[Measured], polls: int, command: str) -> str:
    lines = [
        "# Benchmark: one watchdog poll",
        "",
        "The old poll (`identity(n_workers=-1)`, judged in the client) against the new one",
        "(`stale_workers` run on the scheduler, answering with the stale workers only), with",
        "in-process workers (a `Scheduler` and `Worker` objects in one process), none stale.",
        "Bytes as",
        "distributed serializes the messages; times are medians of "
        f"{polls} calls. The new poll",
        "ships its function by value each time (so the scheduler needs no resilient_dask):",
        "that is most of what it sends, and the unpickling is in its scheduler time.",
        "",
        *machine_and_command(command),
        "| workers | poll | sent (B) | received (B) | scheduler time (ms) | round trip (ms) |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for m in results:
        for name, poll in (("identity(n_workers=-1)", m.old), ("stale_workers", m.new)):
            lines.append(
                f"| {m.workers} | {name} | {poll.sent:,} | {poll.received:,} | "
                f"{poll.scheduler_ms:.3f} | {poll.round_trip_ms:.3f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="10,200", help="comma-separated cluster sizes")
    parser.add_argument("--polls", type=int, default=50)
    parser.add_argument("--write", metavar="PATH", help="also write the markdown table here")
    args = parser.parse_args(argv)
    results = measure([int(n) for n in args.workers.split(",")], args.polls)
    publish(render(results, args.polls, command_line("watchdog_poll.py", argv)), args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
