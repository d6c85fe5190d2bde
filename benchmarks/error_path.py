"""The error path: how soon failed tasks' errors reach the user, Client against ResilientClient.

A map of N tasks that all raise is waited for (``wait()``), then every future's
exception is read (``future.exception()``), with a plain ``distributed.Client`` and a
``ResilientClient`` on the same ``LocalCluster(n_workers=2, threads_per_worker=1)``,
alternating run by run (who goes first alternates too). Reported: the medians and
their ratio (ResilientClient / Client, target <= 1.05), and, for the ResilientClient's
last run, how many of the exceptions read carry ``err.story`` and how many of those
stories are complete (reach back to the task's first transition; the scheduler's
transition log keeps ``distributed.admin.low-level-log-length`` entries, 1,000 by
default, so early transitions of a large map are gone before its tasks fail). Then
once more with a ResilientClient alone and a log long enough for every transition
(``--long-log``, 200,000 entries), to count complete stories when the log holds them.

    python benchmarks/error_path.py --runs 5 --tasks 1000,10000 [--write docs/benchmarks-errors.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import pathlib
import statistics
import sys
import time
from typing import Any

import dask
from distributed import Client, LocalCluster, wait

from resilient_dask import ResilientClient
from resilient_dask.testing import poll_for

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _report import Row, command_line, machine_and_command, publish


def fail(x: int) -> int:
    raise ValueError(f"cannot handle {x}")


def tasks_on_the_scheduler(dask_scheduler: Any = None) -> int:
    return len(dask_scheduler.tasks)


def wait_then_read(client: Client, n: int) -> tuple[float, list[BaseException]]:
    start = time.perf_counter()
    futures = client.map(fail, range(n), pure=False)
    with client.as_current():  # wait() asks for the current client
        wait(futures)
    errors = [future.exception() for future in futures]
    elapsed = time.perf_counter() - start
    assert all(isinstance(err, ValueError) for err in errors)
    # Releasing erred tasks costs the scheduler time in proportion to all it holds, per
    # key released (distributed's _client_releases_keys: 35 s for 10,000 keys here); it
    # is the same for both clients, and would otherwise fall into the next measurement.
    del futures
    poll_for(lambda: not client.run_on_scheduler(tasks_on_the_scheduler), 600, interval=0.5)
    return elapsed, errors


@dataclasses.dataclass
class Measured:
    tasks: int
    plain: float
    resilient: float
    with_story: int
    complete: int
    last_complete: bool

    @property
    def ratio(self) -> float:
        return self.resilient / self.plain


def two_workers() -> LocalCluster:
    # Both clients see the same cluster; the workers' "Compute Failed" log lines are
    # silenced (they cost both sides the same, and only add noise).
    return LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=":0", silence_logs=logging.CRITICAL
    )


def stories_told(errors: list[BaseException]) -> tuple[int, int, bool]:
    """How many errors carry err.story, how many of those are complete, and the last one's."""
    stories = [getattr(err, "story", None) for err in errors]
    told = [s for s in stories if s is not None]
    last = stories[-1] if stories else None
    return len(told), sum(s.complete for s in told), bool(last is not None and last.complete)


def complete_with_a_long_log(sizes: list[int], log_length: int) -> dict[int, tuple[int, int, bool]]:
    """Stories told and complete with a transition log that holds every transition."""
    found = {}
    with dask.config.set({"distributed.admin.low-level-log-length": log_length}):
        with two_workers() as cluster, ResilientClient(cluster, set_as_default=False) as rc:
            for n in sizes:
                found[n] = stories_told(wait_then_read(rc, n)[1])
    return found


def measure(runs: int, sizes: list[int]) -> list[Measured]:
    results = []
    with two_workers() as cluster:
        plain = Client(cluster, set_as_default=False)
        resilient = ResilientClient(cluster, set_as_default=False)
        try:
            wait_then_read(plain, 100), wait_then_read(resilient, 100)  # warm up
            for n in sizes:
                p, r = [], []
                errors: list[BaseException] = []
                for run in range(runs):
                    pair = [(plain, p), (resilient, r)]
                    for client, times in pair if run % 2 == 0 else pair[::-1]:
                        elapsed, read = wait_then_read(client, n)
                        times.append(elapsed)
                        if client is resilient:
                            errors = read
                told, complete, last = stories_told(errors)
                results.append(
                    Measured(n, statistics.median(p), statistics.median(r), told, complete, last)
                )
        finally:
            resilient.close()
            plain.close()
    return results


def summary(results: list[Measured], runs: int) -> list[Row]:
    return [
        Row(
            f"error path: wait() for {m.tasks:,} raising tasks, then read their exceptions",
            f"distributed.Client {m.plain:.3f} s",
            f"ResilientClient {m.resilient:.3f} s (err.story on {m.with_story:,}, "
            f"complete on {m.complete:,})",
            f"{m.ratio:.3f} (ours / baseline)",
            runs,
        )
        for m in results
    ]


def render(
    results: list[Measured],
    runs: int,
    command: str,
    long_log: dict[int, tuple[int, int, bool]] | None = None,
    log_length: int = 0,
) -> str:
    lines = [
        "# Benchmark: the error path",
        "",
        "A map of N tasks that all raise, waited for with `wait()`, then every future's",
        "`exception()` read; plain `distributed.Client` and `ResilientClient` (default",
        "options) against the same `LocalCluster(n_workers=2, threads_per_worker=1)`,",
        f"alternating run by run; medians of {runs} runs after a warm-up. After each run,",
        "untimed, the scheduler is left to forget its tasks (distributed releases erred",
        "tasks one key at a time at a cost in proportion to all it holds: about 35 s for",
        "10,000 here, for either client), so that no run pays for the one before.",
        "Ratio = ResilientClient / Client (target <= 1.05). The stories columns count, in the",
        "ResilientClient's last run, the exceptions read that carry `err.story`, and those",
        "whose story reaches back to the task's first transition (the scheduler's transition",
        "log keeps its last `distributed.admin.low-level-log-length` entries, 1,000 by default).",
        "",
        *machine_and_command(command),
        "| tasks | Client (s) | ResilientClient (s) | ratio | err.story | complete "
        "| last task's story complete |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for m in results:
        lines.append(
            f"| {m.tasks:,} | {m.plain:.3f} | {m.resilient:.3f} | {m.ratio:.3f} | "
            f"{m.with_story:,} | {m.complete:,} | {'yes' if m.last_complete else 'no'} |"
        )
    if long_log:
        lines += [
            "",
            f"With `distributed.admin.low-level-log-length: {log_length:,}` (a log that holds",
            "every transition of these maps), ResilientClient alone, one run:",
            "",
            "| tasks | err.story | complete | last task's story complete |",
            "| ---: | ---: | ---: | --- |",
        ]
        for n, (told, complete, last) in long_log.items():
            lines.append(f"| {n:,} | {told:,} | {complete:,} | {'yes' if last else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tasks", default="1000,10000", help="comma-separated map sizes")
    parser.add_argument(
        "--long-log", type=int, default=200_000, help="log length of the completeness run (0: none)"
    )
    parser.add_argument("--write", metavar="PATH", help="also write the markdown table here")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.tasks.split(",")]
    results = measure(args.runs, sizes)
    long_log = complete_with_a_long_log(sizes, args.long_log) if args.long_log else None
    command = command_line("error_path.py", argv)
    publish(render(results, args.runs, command, long_log, args.long_log), args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
