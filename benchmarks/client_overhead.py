"""Client overhead: plain distributed.Client against ResilientClient, side by side.

Both clients talk to the same LocalCluster in the same run; each scenario runs
alternately with one client then the other, ``--runs`` times, and the medians
and their ratio (ResilientClient / Client, lower is better) are reported.

    python benchmarks/client_overhead.py --runs 7 [--write docs/benchmarks-client.md]
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import statistics
import sys
import time
from collections.abc import Callable

import dask
import dask.array as da
from distributed import Client, LocalCluster

from resilient_dask import ResilientClient

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _report import Row


def round_trips(client: Client, n: int = 200) -> None:
    for i in range(n):
        assert client.submit(int, i, pure=False).result() == i


def map_gather(client: Client, n: int = 2_000) -> None:
    results = client.gather(client.map(int, range(n), pure=False))
    assert results[-1] == n - 1


def array_graph(client: Client) -> None:
    x = da.ones((2_000, 2_000), chunks=(200, 200))
    assert client.compute((x + x.T).sum(), sync=True) == 2 * 2_000 * 2_000


SCENARIOS: dict[str, Callable[[Client], None]] = {
    "200 x submit + result": round_trips,
    "map + gather, 2,000 tasks": map_gather,
    "array graph, 100 chunks": array_graph,
}


def measure(runs: int) -> list[tuple[str, float, float]]:
    rows = []
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
        plain = Client(cluster, set_as_default=False)
        resilient = ResilientClient(cluster, set_as_default=False)
        try:
            for name, scenario in SCENARIOS.items():
                timings: dict[str, list[float]] = {"plain": [], "resilient": []}
                scenario(plain)  # warm up both
                scenario(resilient)
                for _ in range(runs):
                    for label, client in (("plain", plain), ("resilient", resilient)):
                        with dask.config.set(scheduler=client):
                            start = time.perf_counter()
                            scenario(client)
                            timings[label].append(time.perf_counter() - start)
                p, r = statistics.median(timings["plain"]), statistics.median(timings["resilient"])
                rows.append((name, p, r))
        finally:
            resilient.close()
            plain.close()
    return rows


def summary(rows: list[tuple[str, float, float]], runs: int) -> list[Row]:
    return [
        Row(
            f"client overhead: {name}",
            f"distributed.Client {p:.3f} s",
            f"ResilientClient {r:.3f} s",
            f"{r / p:.3f} (ours / baseline)",
            runs,
        )
        for name, p, r in rows
    ]


def render(rows: list[tuple[str, float, float]], runs: int, command: str) -> str:
    lines = [
        "# Benchmark: client overhead",
        "",
        "Plain `distributed.Client` and `ResilientClient` (default options) against the same",
        "`LocalCluster(n_workers=2, threads_per_worker=1)`, alternating run by run;",
        f"medians of {runs} runs after one warm-up each. Ratio = ResilientClient / Client.",
        "",
        f"- Machine: CPython {platform.python_version()}, {platform.system()} "
        f"{platform.machine()}, 2 CPUs",
        "",
        "Command:",
        "",
        "```console",
        f"$ {command}",
        "```",
        "",
        "| scenario | Client (s) | ResilientClient (s) | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, p, r in rows:
        lines.append(f"| {name} | {p:.3f} | {r:.3f} | {r / p:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--write", metavar="PATH", help="also write the markdown table here")
    args = parser.parse_args(argv)
    rows = measure(args.runs)
    command = "python benchmarks/client_overhead.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = render(rows, args.runs, command.strip())
    print(text)
    if args.write:
        with open(args.write, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
