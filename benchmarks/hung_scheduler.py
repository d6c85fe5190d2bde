"""Hung-scheduler detection: plain distributed.Client against ResilientClient, side by side.

One real scheduler and worker in subprocesses; both clients connected and each
blocked in ``result()`` on a task in flight. The scheduler is frozen with SIGSTOP,
and from that moment the run measures:

- when the ResilientClient's connection monitor reports UNRESPONSIVE
  (default probe options: a probe every 2 s, 5 s to answer);
- when its blocked ``result()`` raises SchedulerUnresponsive (``--unresponsive-timeout``);
- whether the plain Client's blocked ``result()`` came back or raised, or anything in
  it noticed, within ``--bound`` seconds. It never does: it is reported as "> bound".

The scheduler is then thawed and both clients must get their values (checked).

    python benchmarks/hung_scheduler.py --runs 3 --bound 30 [--write docs/benchmarks-hung.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import statistics
import sys
import threading
import time
from typing import Any

from distributed import Client

from resilient_dask import ConnectionState, ResilientClient, SchedulerUnresponsive
from resilient_dask.testing import SubprocessCluster, poll_for

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _report import Row, machine


def slow_square(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x * x


class Waiter(threading.Thread):
    """Calls ``future.result()`` like a user would, and records when and how it returned."""

    def __init__(self, future: Any, since: float) -> None:
        super().__init__(daemon=True)
        self.future, self.since = future, since
        self.after: float | None = None
        self.outcome: Any = None

    def run(self) -> None:
        try:
            self.outcome = self.future.result()
        except BaseException as exc:  # what the user would see, whatever it is
            self.outcome = exc
        self.after = time.monotonic() - self.since


@dataclasses.dataclass
class Freeze:
    """What one freeze showed."""

    detected: float  # ResilientClient: seconds to UNRESPONSIVE
    raised: float  # ResilientClient: seconds until result() raised SchedulerUnresponsive
    plain_returned: float | None  # plain Client: None = still waiting at the bound
    plain_status: str  # plain Client's .status at the bound


@dataclasses.dataclass
class HungResult:
    freezes: list[Freeze]
    bound: float
    unresponsive_timeout: float

    @property
    def detected(self) -> float:
        return statistics.median(f.detected for f in self.freezes)

    @property
    def raised(self) -> float:
        return statistics.median(f.raised for f in self.freezes)

    @property
    def plain_never_returned(self) -> bool:
        return all(f.plain_returned is None for f in self.freezes)


def one_freeze(
    cluster: SubprocessCluster, plain: Client, rc: ResilientClient, run: int, bound: float
) -> Freeze:
    seconds = 1.0
    plain_future = plain.submit(slow_square, run, seconds, pure=False)
    ours_future = rc.submit(slow_square, run, seconds, pure=False)
    cluster.freeze_scheduler()
    frozen_at = time.monotonic()
    plain_waiter, ours_waiter = Waiter(plain_future, frozen_at), Waiter(ours_future, frozen_at)
    plain_waiter.start()
    ours_waiter.start()
    try:
        rc.connection.wait_for(ConnectionState.UNRESPONSIVE, timeout=bound)
        detected = time.monotonic() - frozen_at
        ours_waiter.join(timeout=max(0.0, bound - (time.monotonic() - frozen_at)))
        plain_waiter.join(timeout=max(0.0, bound - (time.monotonic() - frozen_at)))
        if not isinstance(ours_waiter.outcome, SchedulerUnresponsive) or ours_waiter.after is None:
            raise SystemExit(f"ResilientClient gave {ours_waiter.outcome!r} within {bound} s")
        freeze = Freeze(detected, ours_waiter.after, plain_waiter.after, str(plain.status))
    finally:
        cluster.thaw_scheduler()
    plain_waiter.join(timeout=30)
    if plain_waiter.outcome != run * run:
        raise SystemExit(f"plain Client got {plain_waiter.outcome!r} after the thaw")
    if ours_future.result(timeout=30) != run * run:
        raise SystemExit("ResilientClient lost its value across the freeze")
    poll_for(lambda: rc.connection.state is ConnectionState.CONNECTED, timeout=30)
    return freeze


def measure(runs: int, bound: float, unresponsive_timeout: float) -> HungResult:
    if unresponsive_timeout >= bound:
        raise SystemExit(
            f"--unresponsive-timeout ({unresponsive_timeout}) must be below --bound ({bound})"
        )
    freezes = []
    with SubprocessCluster(n_workers=1) as cluster:
        plain = Client(cluster.scheduler_address, set_as_default=False)
        rc = ResilientClient(
            cluster.scheduler_address,
            unresponsive_timeout=unresponsive_timeout,
            set_as_default=False,
        )
        try:
            for run in range(runs):
                freeze = one_freeze(cluster, plain, rc, run, bound)
                print(f"freeze {run + 1}: {freeze}", flush=True)
                freezes.append(freeze)
        finally:
            rc.close(timeout=10)
            plain.close(timeout=10)
    return HungResult(freezes, bound, unresponsive_timeout)


def summary(result: HungResult) -> list[Row]:
    plain = (
        f"distributed.Client: nothing after {result.bound:.0f} s (status "
        f"{result.freezes[0].plain_status!r})"
        if result.plain_never_returned
        else "distributed.Client: returned during the freeze (see details)"
    )
    bound = f">= {result.bound / result.detected:.1f}x sooner (bound / ours)"
    return [
        Row(
            "hung scheduler (SIGSTOP): time to notice",
            plain,
            f"ResilientClient: UNRESPONSIVE after {result.detected:.1f} s",
            bound,
            len(result.freezes),
        ),
        Row(
            "hung scheduler: a blocked result() comes back",
            f"distributed.Client: still waiting after {result.bound:.0f} s",
            f"ResilientClient: SchedulerUnresponsive after {result.raised:.1f} s "
            f"(unresponsive_timeout={result.unresponsive_timeout:.0f} s)",
            f">= {result.bound / result.raised:.1f}x sooner (bound / ours)",
            len(result.freezes),
        ),
    ]


def render(result: HungResult, command: str) -> str:
    lines = [
        "# Benchmark: hung-scheduler detection",
        "",
        "A real scheduler is frozen with SIGSTOP while a plain `distributed.Client` and a",
        "`ResilientClient` (default probe options: probe every 2 s, 5 s to answer;",
        f"`unresponsive_timeout={result.unresponsive_timeout:g}s`) are each blocked in",
        "`result()`. Times are from the freeze; the plain Client is watched for "
        f"{result.bound:g} s.",
        "After the thaw both clients must get their values (checked).",
        "",
        f"- Machine: {machine()}",
        "",
        "```console",
        f"$ {command}",
        "```",
        "",
        "| freeze | ResilientClient UNRESPONSIVE (s) | ResilientClient result() raised (s) "
        "| plain Client result() came back (s) | plain Client status |",
        "| ---: | ---: | ---: | ---: | --- |",
    ]
    for i, f in enumerate(result.freezes, 1):
        plain = "never (still waiting)" if f.plain_returned is None else f"{f.plain_returned:.1f}"
        lines.append(f"| {i} | {f.detected:.1f} | {f.raised:.1f} | {plain} | {f.plain_status} |")
    lines += [
        "",
        f"Medians: UNRESPONSIVE after {result.detected:.1f} s, SchedulerUnresponsive after "
        f"{result.raised:.1f} s. A plain Client has no bound: its `result()` returns when the "
        "scheduler wakes up, however long that takes.",
        "",
    ]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="freezes to measure")
    p.add_argument("--bound", type=float, default=30.0, help="seconds to watch the plain Client")
    p.add_argument("--unresponsive-timeout", type=float, default=10.0)
    p.add_argument("--write", metavar="PATH", help="also write the details as Markdown here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    result = measure(args.runs, args.bound, args.unresponsive_timeout)
    command = "python benchmarks/hung_scheduler.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = render(result, command.strip())
    print(text)
    if args.write:
        pathlib.Path(args.write).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
