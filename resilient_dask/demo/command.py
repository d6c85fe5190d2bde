"""The ``resilient-dask demo`` command (registered on the main CLI group).

Importing this module imports click and nothing else: distributed, dask and
numpy are imported when the command runs, so ``resilient-dask --help`` and
``resilient-dask lint`` stay fast.

Exit status: 0 every value right, 1 a value wrong or missing (or the demo could
not run), 2 usage error, 128 + N when stopped by signal N (130 for Ctrl-C).
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import signal
import sys
from typing import TYPE_CHECKING

import click

from resilient_dask.demo.interrupts import Interrupted, signals_raise
from resilient_dask.demo.verify import EXIT_USAGE, EXIT_WRONG

if TYPE_CHECKING:
    from resilient_dask.demo.render import Mode

MIN_WORKERS, MAX_WORKERS = 2, 8


def _check_workers(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if not MIN_WORKERS <= value <= MAX_WORKERS:
        raise click.BadParameter(
            f"{value} workers: the demo needs {MIN_WORKERS} to {MAX_WORKERS} "
            f"(one is killed and the work must finish on the others), e.g. --workers 2"
        )
    return value


def _check_pid_file(
    ctx: click.Context, param: click.Parameter, value: pathlib.Path | None
) -> pathlib.Path | None:
    if value is not None and not value.parent.is_dir():
        raise click.BadParameter(
            f"{str(value)!r}: its directory {str(value.parent)!r} does not exist; "
            "create it or choose a file in an existing directory"
        )
    return value


def progress_mode(quiet: bool, isatty: bool, term: str | None) -> Mode:
    """``quiet`` if asked; ``live`` (a redrawn status line) only on a real terminal."""
    if quiet:
        return "quiet"
    return "live" if isatty and term not in (None, "", "dumb") else "lines"


@click.command("demo", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workers",
    "-w",
    type=int,
    default=2,
    show_default=True,
    callback=_check_workers,
    metavar="N",
    help=f"Workers to start ({MIN_WORKERS} to {MAX_WORKERS}).",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="Print only the summary (progress is plain lines anyway when not on a terminal).",
)
@click.option(
    "--pid-file",
    type=click.Path(dir_okay=False, writable=True, path_type=pathlib.Path),
    callback=_check_pid_file,
    metavar="FILE",
    help="Write the pid of every process the demo starts to FILE, one per line "
    "(each is also its process group id), to check that none is left behind.",
)
def demo(workers: int, quiet: bool, pid_file: pathlib.Path | None) -> None:
    """Show what resilient_dask does when a Dask cluster fails, with real processes.

    Starts a dask scheduler and workers in subprocesses on free loopback ports,
    runs a map, a chain and a persisted array through ResilientClient(resubmit=True)
    and a plain distributed.Client side by side, kills and restarts the scheduler,
    freezes it, kills a worker, and prints what each client got. Takes about 30 s.

    Exit status: 0 every value right; 1 a value wrong or missing, or the demo
    could not run; 2 usage error; 130 Ctrl-C (128 + N for signal N).
    """
    if importlib.util.find_spec("numpy") is None:
        click.echo(
            "error: the demo's persisted array needs numpy, which is not installed: "
            "pip install 'resilient-dask[demo]' (make demo installs it)",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    from resilient_dask.demo.render import Progress, render_summary
    from resilient_dask.demo.runner import DemoOptions, run_demo

    columns = shutil.get_terminal_size((100, 24)).columns
    mode = progress_mode(quiet, sys.stdout.isatty(), os.environ.get("TERM"))
    progress = Progress(sys.stdout, mode, width=columns)
    try:
        with signals_raise():
            report = run_demo(DemoOptions(workers=workers, pid_file=pid_file), progress)
    except (KeyboardInterrupt, Interrupted) as stop:
        progress.close()
        signum = stop.signum if isinstance(stop, Interrupted) else signal.SIGINT
        name = signal.Signals(signum).name
        click.echo(f"\nstopped by {name}: every process the demo started is stopped", err=True)
        sys.exit(128 + signum)
    except Exception as exc:
        progress.close()
        click.echo(f"error: the demo could not run: {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_WRONG)
    progress.close()
    summary = render_summary(report.results, report.mismatches, report.checked, min(120, columns))
    click.echo(summary, nl=False)
    sys.exit(report.exit_code)
