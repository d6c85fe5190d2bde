"""Run tests many times in a row while other processes load every core.

    python tools/repeat_under_load.py --runs 30 tests/test_x.py::test_y [...]

Starts one busy-looping process per core (killed by pid at the end, whatever
happens), then runs pytest on the given test ids ``--runs`` times, stopping at the
first failure, whose output it prints. Exit status 0 only if every run passed.
This is how a race is looked for (a flaky test is a bug); it is not part of
``make test``.

Hypothesis's pytest plugin is left out (``-p no:hypothesispytest``): run alone, a
test file that does not import hypothesis gets it imported at the end of the session,
and CPython 3.11's ``ast.parse`` in the main thread may then fail with "AST
constructor recursion depth mismatch" while another thread formats a traceback
(3.11 parses source lines to draw a traceback's ``^^^`` marks), failing a run whose
tests all passed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

BURN = "while True: pass"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tests", nargs="+", help="pytest node ids")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--load", type=int, default=os.cpu_count() or 2, help="busy processes")
    args = parser.parse_args(argv)
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(args.load)]
    try:
        for run in range(1, args.runs + 1):
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:hypothesispytest", *args.tests],
                capture_output=True,
                text=True,
            )
            took = time.monotonic() - started
            last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
            print(f"run {run}/{args.runs}: exit {done.returncode} in {took:.1f} s: {last}")
            sys.stdout.flush()
            if done.returncode != 0:
                print(done.stdout[-20_000:])
                print(done.stderr[-5_000:])
                return 1
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    print(f"all {args.runs} runs passed with {args.load} busy processes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
