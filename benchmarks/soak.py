"""Chaos soak: thousands of futures through a seeded schedule of real faults.

A ResilientClient(resubmit=True) runs a mixed workload (submits, maps, chains,
trees, persisted arrays, joins over earlier futures) while the soak SIGKILLs and
restarts the scheduler, SIGSTOPs it (below and above unresponsive_timeout), SIGKILLs
workers and cuts the client's connection. Every future is checked against a value
computed locally and counted as correct, wrong value, typed error, untyped error or
hang. Exits 0 only if every future was correct and no blocking call failed untyped
or hung; 1 otherwise; 2 on bad options. See docs/soak.md.

    python benchmarks/soak.py --tasks 2000 --faults 20 --seed 1 [--json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from collections.abc import Callable
from typing import Any

from _soak_core import run_soak
from _soak_plan import SoakConfig


def _integer(low: int | None, example: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or (low is not None and value < low):
            bound = "an integer" if low is None else f"an integer >= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound} (e.g. {example}), got {text!r}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds (e.g. 60), got {text!r}"
        )
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="soak.py",
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Exit status: 0 target met, 1 target missed, 2 usage error.",
    )
    p.add_argument("--tasks", type=_integer(1, 2000), default=2_000,
                   help="futures in the workload, at least (default 2000)")  # fmt: skip
    p.add_argument("--faults", type=_integer(0, 20), default=20,
                   help="faults; 5 or more cover every kind (default 20)")  # fmt: skip
    p.add_argument("--seed", type=_integer(None, 1), default=0,
                   help="seed of the fault schedule and the workload (default 0)")  # fmt: skip
    p.add_argument("--workers", type=_integer(1, 2), default=2,
                   help="nanny-managed workers (default 2)")  # fmt: skip
    p.add_argument("--hang-after", type=_seconds, default=60.0, metavar="SECONDS",
                   help="a future or call not done this long after the last fault is a hang "
                        "(default 60)")  # fmt: skip
    p.add_argument("--unresponsive-timeout", type=_seconds, default=3.5, metavar="SECONDS",
                   help="the client's unresponsive_timeout; short freezes last 1.2-2.0 s, "
                        "long ones 4.5-6.0 s, and it must lie between (default 3.5)")  # fmt: skip
    p.add_argument("--logs", type=pathlib.Path, metavar="PATH",
                   help="write every scheduler and worker log to PATH at the end")  # fmt: skip
    p.add_argument("--json", action="store_true",
                   help="print one JSON object with every count instead of the table")  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        config = SoakConfig(
            tasks=args.tasks,
            faults=args.faults,
            seed=args.seed,
            workers=args.workers,
            hang_after=args.hang_after,
            unresponsive_timeout=args.unresponsive_timeout,
        )
    except ValueError as exc:
        p.error(str(exc))  # exits 2
    progress: Callable[[str], Any] = (
        (lambda line: print(line, file=sys.stderr, flush=True))
        if args.json
        else (lambda line: print(line, flush=True))
    )
    report = run_soak(config, progress, args.logs)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.table())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
