"""Every benchmark in one command: prints one table and updates docs/benchmarks.md.

Runs, each side by side in one run with medians of several runs:

- client overhead: plain ``distributed.Client`` against ``ResilientClient``;
- hung-scheduler detection: ResilientClient against plain Client (which never
  notices; the bound waited is reported);
- the error path: waiting for a map of raising tasks and reading their exceptions,
  plain ``Client`` against ``ResilientClient`` (which also captures their stories);
- lineage: recording overhead, and replaying 1,000 futures after a scheduler restart
  against computing them fresh;
- lint throughput: ``resilient-dask lint`` against pyflakes;
- one watchdog poll: bytes and scheduler time of the old poll (``identity``) and the
  new one (``stale_workers``), with 10 and 200 in-process workers;
- at scale (1,000 / 10,000 / 100,000 tasks): client overhead of map + gather, replay
  after a scheduler restart against computing fresh, and client memory per recipe
  up to 1,000,000 recorded recipes, drawn as plots against the size.

Each benchmark also rewrites its detail page (docs/benchmarks-*.md); the summary
block of docs/benchmarks.md (between its markers) is replaced, the text around it kept.
The scale benchmark also rewrites its own block of docs/benchmarks.md (so that
``--only scale`` updates it) and its plots, docs/img/bench-scale-*.svg (with
matplotlib, from the docs extra; without it, it says so and writes the tables).

    python benchmarks/run.py            # what `make bench` runs (about 40 minutes on 2 cores)
    python benchmarks/run.py --quick    # fewer runs and a shorter bound (about 20 minutes)
    python benchmarks/run.py --only hung,lint --no-write
    python benchmarks/run.py --only scale   # the scale figures and plots alone (13-15 minutes)
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
from collections.abc import Callable

HERE = pathlib.Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"
sys.path.insert(0, str(HERE))

import client_overhead  # noqa: E402
import error_path  # noqa: E402
import hung_scheduler  # noqa: E402
import lineage  # noqa: E402
import lint_throughput  # noqa: E402
import scale  # noqa: E402
import watchdog_poll  # noqa: E402
from _report import Row, table, update_page  # noqa: E402

SCALE_BEGIN = "<!-- benchmarks:scale:begin (written by benchmarks/run.py) -->"
SCALE_END = "<!-- benchmarks:scale:end -->"

Benchmark = Callable[[argparse.Namespace], tuple[list[Row], str]]


def run_client(args: argparse.Namespace) -> tuple[list[Row], str]:
    runs = 3 if args.quick else 5
    rows = client_overhead.measure(runs)
    command = f"python benchmarks/client_overhead.py --runs {runs}"
    return client_overhead.summary(rows, runs), client_overhead.render(rows, runs, command)


def run_errors(args: argparse.Namespace) -> tuple[list[Row], str]:
    runs, sizes = (3, [1_000, 10_000]) if args.quick else (5, [1_000, 10_000])
    results = error_path.measure(runs, sizes)
    command = f"python benchmarks/error_path.py --runs {runs} --tasks 1000,10000"
    return error_path.summary(results, runs), error_path.render(
        results, runs, command, error_path.recorder_cost()
    )


def run_hung(args: argparse.Namespace) -> tuple[list[Row], str]:
    runs, bound, timeout = (2, 15.0, 8.0) if args.quick else (3, 30.0, 10.0)
    result = hung_scheduler.measure(runs, bound, timeout)
    command = (
        f"python benchmarks/hung_scheduler.py --runs {runs} --bound {bound:g} "
        f"--unresponsive-timeout {timeout:g}"
    )
    return hung_scheduler.summary(result), hung_scheduler.render(result, command)


def run_lineage(args: argparse.Namespace) -> tuple[list[Row], str]:
    runs, overhead_runs = (2, 2) if args.quick else (3, 5)
    result = lineage.measure(runs, overhead_runs)
    command = f"python benchmarks/lineage.py --runs {runs} --overhead-runs {overhead_runs}"
    return lineage.summary(result), lineage.render(result, command)


def run_lint(args: argparse.Namespace) -> tuple[list[Row], str]:
    runs = 3 if args.quick else 7
    result = lint_throughput.measure(runs, ["dask", "distributed"])
    command = f"python benchmarks/lint_throughput.py --runs {runs}"
    return lint_throughput.summary(result), lint_throughput.render(result, command)


def run_watchdog(args: argparse.Namespace) -> tuple[list[Row], str]:
    polls = 20 if args.quick else 50
    results = watchdog_poll.measure([10, 200], polls)
    command = f"python benchmarks/watchdog_poll.py --workers 10,200 --polls {polls}"
    return watchdog_poll.summary(results, polls), watchdog_poll.render(results, polls, command)


def run_scale(args: argparse.Namespace) -> tuple[list[Row], str]:
    sizes, recipes = [1_000, 10_000, 100_000], [1_000, 10_000, 100_000, 1_000_000]
    runs, replay_runs = ([3, 1, 1], [1, 1, 1]) if args.quick else ([5, 3, 1], [3, 2, 1])
    result = scale.measure(sizes, runs, replay_runs, recipes)
    command = (
        "python benchmarks/scale.py --tasks 1000,10000,100000 "
        f"--runs {','.join(map(str, runs))} --replay-runs {','.join(map(str, replay_runs))} "
        "--recipes 1000,10000,100000,1000000 --plots docs/img"
    )
    rows = scale.summary(result)
    drawn = [] if args.no_write else scale.plots_or_why_not(result, DOCS / "img")
    if not args.no_write:
        page = DOCS / "benchmarks.md"
        shown = [line for plot in drawn for line in (plot, "")][:-1]  # one paragraph each
        update_page(page, rows, run_command(args), SCALE_BEGIN, SCALE_END, shown)
        print(f"updated the scale block of {page}")
    return rows, scale.render(result, command, drawn)


#: name -> (runner, detail page)
BENCHMARKS: dict[str, tuple[Benchmark, str]] = {
    "client": (run_client, "benchmarks-client.md"),
    "errors": (run_errors, "benchmarks-errors.md"),
    "hung": (run_hung, "benchmarks-hung.md"),
    "lineage": (run_lineage, "benchmarks-lineage.md"),
    "lint": (run_lint, "benchmarks-lint.md"),
    "watchdog": (run_watchdog, "benchmarks-watchdog.md"),
    "scale": (run_scale, "benchmarks-scale.md"),
}


def run_command(args: argparse.Namespace) -> str:
    """How run.py was run, for the docs."""
    only = "" if args.only == list(BENCHMARKS) else f" --only {','.join(args.only)}"
    return "python benchmarks/run.py" + (" --quick" if args.quick else "") + only


def selection(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark {', '.join(unknown) or repr(text)}; "
            f"choose from {', '.join(BENCHMARKS)} (comma-separated)"
        )
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, for a first look")
    parser.add_argument("--only", type=selection, default=list(BENCHMARKS), metavar="NAMES")
    parser.add_argument("--no-write", action="store_true", help="print only; touch no docs")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for name in args.only:
        runner, page = BENCHMARKS[name]
        started = time.monotonic()
        print(f"== {name} ==", flush=True)
        found, details = runner(args)
        rows += found
        print(f"== {name}: {time.monotonic() - started:.0f} s ==", flush=True)
        if not args.no_write:
            (DOCS / page).write_text(details, encoding="utf-8")
    print()
    print(table(rows))
    if not args.no_write and set(args.only) == set(BENCHMARKS):
        update_page(DOCS / "benchmarks.md", rows, run_command(args))
        print(f"\nupdated {DOCS / 'benchmarks.md'}")
    elif not args.no_write:
        print("\ndocs/benchmarks.md not updated: its summary needs every benchmark (no --only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
