"""The error path: how soon failed tasks' errors reach the user, Client against ResilientClient.

A map of N tasks that all raise is waited for (``wait()``), then every future's
exception is read (``future.exception()``), with a plain ``distributed.Client`` and a
``ResilientClient`` on the same ``LocalCluster(n_workers=2, threads_per_worker=1)``,
alternating run by run (who goes first alternates too), each run after a full garbage
collection and with the run before's errors dropped. The ResilientClient installs
its story recorder on the scheduler; it is removed before each of the plain Client's
runs and put back before each of the ResilientClient's, so the ratio includes what the
recorder costs the scheduler. Reported: the medians and their ratio (ResilientClient /
Client, target <= 1.05), and, for the ResilientClient's last run, how many of the
exceptions read carry ``err.story`` and how many of those stories are complete (reach
back to the task's first transition) at the default transition log length
(``distributed.admin.low-level-log-length``, 1,000 entries). Then what the recorder
costs alone: its time per transition and its memory per task (tracemalloc), driven
directly with the transitions of a map's tasks.

    python benchmarks/error_path.py --runs 5 --tasks 1000,10000 [--write docs/benchmarks-errors.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import pathlib
import statistics
import sys
import time
import tracemalloc
from typing import Any

from distributed import Client, LocalCluster, wait

from resilient_dask import ResilientClient
from resilient_dask._compat.on_scheduler import (
    ERRED_STORIES_KEPT,
    STORY_PLUGIN,
    StoryRecorder,
    install_story_recorder,
)
from resilient_dask.testing import poll_for

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _report import Row, command_line, machine_and_command, publish


def fail(x: int) -> int:
    raise ValueError(f"cannot handle {x}")


def tasks_on_the_scheduler(dask_scheduler: Any = None) -> int:
    return len(dask_scheduler.tasks)


def remove_recorder(dask_scheduler: Any = None) -> None:
    if STORY_PLUGIN in dask_scheduler.plugins:
        dask_scheduler.remove_plugin(name=STORY_PLUGIN)


def recorder_on_the_scheduler(client: Client, on: bool) -> None:
    """Put the story recorder back (as a ResilientClient's connection does), or remove it."""
    if on:
        client.run_on_scheduler(install_story_recorder, ERRED_STORIES_KEPT)
    else:
        client.run_on_scheduler(remove_recorder)


def wait_then_read(client: Client, n: int) -> tuple[float, tuple[int, int, bool]]:
    """Time a map of ``n`` raising tasks, ``wait()``, then every ``exception()``; then (not
    timed) count the stories the errors carry (see :func:`stories_told`)."""
    # Both clients share one process (and the LocalCluster's scheduler): without this,
    # a run pays, at a collection of the oldest generation, for whatever the run before
    # left (the other client's garbage as much as its own), and one such pass takes
    # 0.1-1 s here, up to a tenth of a run.
    gc.collect()
    start = time.perf_counter()
    futures = client.map(fail, range(n), pure=False)
    with client.as_current():  # wait() asks for the current client
        wait(futures)
    errors = [future.exception() for future in futures]
    elapsed = time.perf_counter() - start
    assert all(isinstance(err, ValueError) for err in errors)
    told = stories_told(errors)
    # No run may hold the one before's errors (10,000 tracebacks make every collection
    # of the oldest generation slower, by seconds per run at 10,000 tasks).
    del errors
    # Releasing erred tasks costs the scheduler time in proportion to all it holds, per
    # key released (distributed's _client_releases_keys: 35 s for 10,000 keys here); it
    # is the same for both clients, and would otherwise fall into the next measurement.
    del futures
    poll_for(lambda: not client.run_on_scheduler(tasks_on_the_scheduler), 600, interval=0.5)
    return elapsed, told


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


@dataclasses.dataclass
class RecorderCost:
    tasks: int
    #: Microseconds per transition: a task entering computation, its next steps, erring,
    #: its end (released, forgotten).
    start: float
    step: float
    erred: float
    end: float
    #: Bytes held per task: in flight after 2 and 3 steps, erred (4 steps).
    in_flight_2: float
    in_flight_3: float
    erred_story: float


def recorder_cost(tasks: int = 100_000, repeats: int = 3) -> RecorderCost:
    """The recorder alone, driven with the transitions of a map of ``tasks`` that all fail
    (released -> waiting -> queued -> processing -> erred -> released -> forgotten): the
    median time per transition of each kind, and tracemalloc's bytes per task."""
    keys = [f"fail-{i:032x}-{i}" for i in range(tasks)]
    stimulus = "update-graph-1712345678.0123"
    times: dict[str, list[float]] = {"start": [], "step": [], "erred": [], "end": []}

    def drive(recorder: StoryRecorder, kind: str, start: str, finish: str) -> None:
        transition = recorder.transition
        began = time.perf_counter()
        for key in keys:
            transition(key, start, finish, stimulus_id=stimulus)
        times[kind].append((time.perf_counter() - began) / tasks * 1e6)

    for _ in range(repeats):
        recorder = StoryRecorder(kept=tasks)
        drive(recorder, "start", "released", "waiting")
        drive(recorder, "step", "waiting", "queued")
        drive(recorder, "step", "queued", "processing")
        drive(recorder, "erred", "processing", "erred")
        drive(recorder, "end", "erred", "released")
        drive(recorder, "end", "released", "forgotten")
        assert not recorder.running and not recorder.erred
    recorder = StoryRecorder(kept=tasks)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        held = []
        for start, finish in [
            ("released", "waiting"), ("waiting", "queued"), ("queued", "processing"),
            ("processing", "erred"),
        ]:  # fmt: skip
            for key in keys:
                recorder.transition(key, start, finish, stimulus_id=stimulus)
            held.append((tracemalloc.get_traced_memory()[0] - base) / tasks)
    finally:
        tracemalloc.stop()
    return RecorderCost(
        tasks,
        statistics.median(times["start"]),
        statistics.median(times["step"]),
        statistics.median(times["erred"]),
        statistics.median(times["end"]),
        held[1],
        held[2],
        held[3],
    )


def measure(runs: int, sizes: list[int]) -> list[Measured]:
    results = []
    with two_workers() as cluster:
        plain = Client(cluster, set_as_default=False)
        resilient = ResilientClient(cluster, set_as_default=False)
        try:
            wait_then_read(plain, 100), wait_then_read(resilient, 100)  # warm up
            for n in sizes:
                p, r = [], []
                told, complete, last = 0, 0, False
                for run in range(runs):
                    pair = [(plain, p), (resilient, r)]
                    for client, times in pair if run % 2 == 0 else pair[::-1]:
                        recorder_on_the_scheduler(plain, on=client is resilient)
                        elapsed, stories = wait_then_read(client, n)
                        times.append(elapsed)
                        if client is resilient:
                            told, complete, last = stories
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
    results: list[Measured], runs: int, command: str, cost: RecorderCost | None = None
) -> str:
    lines = [
        "# Benchmark: the error path",
        "",
        "A map of N tasks that all raise, waited for with `wait()`, then every future's",
        "`exception()` read; plain `distributed.Client` and `ResilientClient` (default",
        "options) against the same `LocalCluster(n_workers=2, threads_per_worker=1)`,",
        f"alternating run by run; medians of {runs} runs after a warm-up. After each run,",
        "untimed, its errors are dropped and the scheduler is left to forget its tasks",
        "(distributed releases erred tasks one key at a time at a cost in proportion to all",
        "it holds: about 35 s for 10,000 here, for either client), and each run starts",
        "after a full garbage collection (`gc.collect()`), so that no run pays for the one",
        "before: both clients and the scheduler share one process, and a collection of",
        "the oldest generation walks all of it (0.1-1 s here, up to a tenth of a run).",
        "The ResilientClient's story recorder is on the scheduler for its runs only (removed",
        "before each of the plain Client's), so the ratio includes what it costs the",
        "scheduler. Ratio = ResilientClient / Client (target <= 1.05). The stories columns",
        "count, in the ResilientClient's last run, the exceptions read that carry `err.story`,",
        "and those whose story reaches back to the task's first transition, with the",
        "scheduler's transition log at its default length",
        "(`distributed.admin.low-level-log-length`, 1,000 entries).",
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
    if cost is not None:
        lines += [
            "",
            "## What the story recorder costs the scheduler",
            "",
            "The recorder alone (`StoryRecorder.transition`), driven with the transitions of a",
            f"map of {cost.tasks:,} tasks that all fail; times are medians of 3 passes, memory is",
            "what tracemalloc counts as held per task (the record, its steps and its dict entry;",
            "keys and stimulus ids are the scheduler's own strings). A failing task makes about",
            "six transitions, a task that succeeds about four.",
            "",
            "| transition | time per transition (µs) |",
            "| --- | ---: |",
            f"| entering computation (released -> waiting: a record starts) | {cost.start:.2f} |",
            f"| a further step (waiting -> queued, queued -> processing) | {cost.step:.2f} |",
            f"| processing -> erred (the record moves to the erred ones) | {cost.erred:.2f} |",
            f"| the end (erred -> released, released -> forgotten: dropped) | {cost.end:.2f} |",
            "",
            "| held per task | bytes |",
            "| --- | ---: |",
            f"| in flight, 2 steps (queued) | {cost.in_flight_2:,.0f} |",
            f"| in flight, 3 steps (processing) | {cost.in_flight_3:,.0f} |",
            f"| erred, 4 steps (at most {ERRED_STORIES_KEPT:,} kept) | {cost.erred_story:,.0f} |",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tasks", default="1000,10000", help="comma-separated map sizes")
    parser.add_argument("--write", metavar="PATH", help="also write the markdown table here")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.tasks.split(",")]
    results = measure(args.runs, sizes)
    command = command_line("error_path.py", argv)
    publish(render(results, args.runs, command, recorder_cost()), args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
