"""Lineage replay costs, measured side by side in one run.

(a) map + gather of 20,000 tiny tasks: plain ``Client`` against
    ``ResilientClient(resubmit=True)`` on the same LocalCluster (ratio, target <= 1.05);
(b) bytes of client memory per recorded recipe beyond the arguments themselves
    (tracemalloc over the recording code only, target <= 300 B);
(c) time from the restarted scheduler having a worker to 1,000 replayed futures
    finished, against computing 1,000 new futures on the same restarted cluster
    (ratio, target <= 1.3).

    python benchmarks/lineage.py --runs 3 [--write docs/benchmarks-lineage.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import statistics
import sys
import time
import tracemalloc

from distributed import Client, LocalCluster

from resilient_dask import ConnectionState, ResilientClient
from resilient_dask.testing import SubprocessCluster

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _report import Row, machine

RECORDING_FILES = ("_lineage.py", "_recording.py", "_lineage_service.py")


def inc(x: int) -> int:
    return x + 1


def map_gather(client: Client, n: int) -> float:
    start = time.perf_counter()
    results = client.gather(client.map(inc, list(range(n)), pure=False))
    elapsed = time.perf_counter() - start
    assert results[-1] == n
    return elapsed


def overhead(runs: int, n: int) -> tuple[float, float]:
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
        plain = Client(cluster, set_as_default=False)
        resilient = ResilientClient(cluster, resubmit=True, set_as_default=False)
        try:
            map_gather(plain, 1_000), map_gather(resilient, 1_000)
            p, r = [], []
            for run in range(runs):  # alternate who goes first, to cancel warm-up effects
                pair = [(plain, p), (resilient, r)]
                for client, times in pair if run % 2 == 0 else pair[::-1]:
                    times.append(map_gather(client, n))
            return statistics.median(p), statistics.median(r)
        finally:
            resilient.close()
            plain.close()


def bytes_per_recipe(n: int) -> float:
    with SubprocessCluster(n_workers=0) as cluster:  # recording only; nothing runs
        rc = ResilientClient(cluster.scheduler_address, resubmit=True, set_as_default=False)
        try:
            inputs = list(range(n))
            tracemalloc.start()
            futures = rc.map(inc, inputs, pure=False)
            snapshot = tracemalloc.take_snapshot()
            tracemalloc.stop()
            assert rc._rd_lineage.store is not None and len(rc._rd_lineage.store) == n
            recording = [
                stat.size
                for stat in snapshot.statistics("filename")
                if stat.traceback[0].filename.endswith(RECORDING_FILES)
            ]
            del futures
            return sum(recording) / n
        finally:
            rc.close()


def replay_ratio(runs: int, n: int) -> tuple[float, float]:
    replays, freshes = [], []
    with SubprocessCluster(n_workers=2) as cluster:
        rc = ResilientClient(cluster.scheduler_address, resubmit=True, set_as_default=False)
        try:
            for run in range(runs):
                futures = rc.map(inc, list(range(run * n, (run + 1) * n)))
                rc.gather(futures)
                cluster.kill_scheduler()
                rc.connection.wait_for(ConnectionState.RECONNECTING, timeout=30)
                cluster.restart_scheduler(respawn_workers=True)
                has_worker = time.perf_counter()  # restart_scheduler waited for the workers
                rc.gather(futures)
                replays.append(time.perf_counter() - has_worker)
                rc.connection.wait_for(ConnectionState.CONNECTED, timeout=60)
                start = time.perf_counter()
                fresh = rc.map(inc, list(range(10**6 + run * n, 10**6 + (run + 1) * n)))
                rc.gather(fresh)
                freshes.append(time.perf_counter() - start)
                del futures, fresh
        finally:
            rc.close()
    return statistics.median(replays), statistics.median(freshes)


@dataclasses.dataclass(frozen=True)
class LineageResult:
    plain: float  # (a) map+gather, plain Client
    resilient: float  # (a) map+gather, ResilientClient(resubmit=True)
    per_recipe: float  # (b) bytes
    replay: float  # (c) replaying 1,000 futures after a restart
    fresh: float  # (c) computing 1,000 new futures
    runs: int
    overhead_runs: int


def measure(runs: int, overhead_runs: int) -> LineageResult:
    plain, resilient = overhead(overhead_runs, 20_000)
    print(f"(a) {plain:.2f} s vs {resilient:.2f} s", flush=True)
    per_recipe = bytes_per_recipe(20_000)
    print(f"(b) {per_recipe:.0f} B", flush=True)
    replay, fresh = replay_ratio(runs, 1_000)
    print(f"(c) {replay:.2f} s vs {fresh:.2f} s", flush=True)
    return LineageResult(plain, resilient, per_recipe, replay, fresh, runs, overhead_runs)


def summary(r: LineageResult) -> list[Row]:
    return [
        Row(
            "lineage recording: map + gather, 20,000 tasks",
            f"distributed.Client {r.plain:.2f} s",
            f"ResilientClient(resubmit=True) {r.resilient:.2f} s",
            f"{r.resilient / r.plain:.3f} (ours / baseline)",
            r.overhead_runs,
        ),
        Row(
            "1,000 futures after a scheduler restart",
            f"computing 1,000 new futures {r.fresh:.2f} s",
            f"replaying the 1,000 lost futures {r.replay:.2f} s",
            f"{r.replay / r.fresh:.3f} (ours / baseline)",
            r.runs,
        ),
    ]


def render(r: LineageResult, command: str) -> str:
    return "\n".join(
        [
            "# Benchmark: lineage replay",
            "",
            f"- Machine: {machine()}; medians of {r.overhead_runs} runs for (a) (alternating "
            f"which client goes first), {r.runs} for (c).",
            "",
            "```console",
            f"$ {command}",
            "```",
            "",
            "| measure | value | target |",
            "| --- | ---: | ---: |",
            f"| (a) map+gather 20,000 tasks: Client | {r.plain:.2f} s | |",
            "| (a) map+gather 20,000 tasks: ResilientClient(resubmit=True) "
            f"| {r.resilient:.2f} s | |",
            f"| (a) ratio | {r.resilient / r.plain:.3f} | <= 1.05 |",
            f"| (b) client bytes per recipe beyond its arguments | {r.per_recipe:.0f} B "
            "| <= 300 B |",
            f"| (c) replay of 1,000 futures after restart | {r.replay:.2f} s | |",
            f"| (c) computing 1,000 new futures, same cluster | {r.fresh:.2f} s | |",
            f"| (c) ratio | {r.replay / r.fresh:.3f} | <= 1.3 |",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--overhead-runs", type=int, default=5, help="runs of (a)")
    parser.add_argument("--write", metavar="PATH")
    args = parser.parse_args(argv)
    result = measure(args.runs, args.overhead_runs)
    command = "python benchmarks/lineage.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = render(result, command.strip())
    print(text)
    if args.write:
        pathlib.Path(args.write).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
