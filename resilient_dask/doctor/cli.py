"""The ``resilient-dask doctor`` and ``resilient-dask explain`` commands.

Both import distributed only once they run, so ``resilient-dask --help`` and
``resilient-dask lint`` stay cheap. Exit status of both: 2 for a usage error or
an unreachable scheduler (nothing was checked); ``doctor`` exits 1 when it found a
problem (advice alone leaves it at 0), ``explain`` exits 1 when the scheduler
knows no such task.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

from resilient_dask.doctor.address import AddressError, SchedulerAddress, parse_address
from resilient_dask.doctor.findings import EXIT_PROBLEMS, EXIT_UNUSABLE, exit_code

__all__ = ["doctor", "explain"]

_SETTINGS = {"help_option_names": ["-h", "--help"]}


def _address(ctx: click.Context, param: click.Parameter, value: str) -> SchedulerAddress:
    try:
        return parse_address(value)
    except AddressError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None


def _timeout(ctx: click.Context, param: click.Parameter, value: Any) -> float:
    from dask.utils import parse_timedelta

    try:
        seconds = parse_timedelta(value, default="s")
    except (ValueError, TypeError, KeyError, IndexError):
        seconds = None
    if seconds is None or not seconds > 0:
        raise click.BadParameter(
            f"{value!r} is not a positive duration; give seconds (5) or a string such as "
            "'10s' or '1 minute'",
            ctx=ctx,
            param=param,
        )
    return float(seconds)


_connect_timeout = click.option(
    "--connect-timeout",
    default="10s",
    show_default=True,
    metavar="DURATION",
    callback=_timeout,
    help="How long connecting, and each question to the scheduler, may take.",
)


def _unreachable(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_UNUSABLE)


@click.command("doctor", context_settings=_SETTINGS)
@click.argument("address", metavar="ADDRESS", callback=_address)
@_connect_timeout
@click.option(
    "--samples",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Probe round trips to measure (echo).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="text for people, json for tools (findings and the facts behind them).",
)
def doctor(
    address: SchedulerAddress, connect_timeout: float, samples: int, output_format: str
) -> None:
    """Check the scheduler at ADDRESS (e.g. tcp://host:8786) for what undermines resilience.

    Reports reachability and heartbeat latency, version mismatches, workers
    without nannies, worker-ttl, allowed-failures and other scheduler timeouts,
    adaptive retirements and worker losses, and the dask config of this
    environment; each advice and problem comes with its fix.

    Exit status: 0 no problem (advice may be printed), 1 problems found,
    2 usage error or scheduler unreachable.
    """
    from resilient_dask.doctor.checks import run_checks
    from resilient_dask.doctor.connect import Unreachable
    from resilient_dask.doctor.gather import diagnose
    from resilient_dask.doctor.render import (
        render_json,
        render_text,
        render_unreachable_json,
    )

    try:
        facts = asyncio.run(diagnose(address, connect_timeout, samples))
    except Unreachable as error:
        if output_format == "json":
            click.echo(render_unreachable_json(address.url, str(error), EXIT_UNUSABLE), nl=False)
            sys.exit(EXIT_UNUSABLE)
        _unreachable(str(error))
        return
    findings = run_checks(facts)
    render = render_json if output_format == "json" else render_text
    click.echo(render(facts, findings), nl=False)
    sys.exit(exit_code(findings))


@click.command("explain", context_settings=_SETTINGS)
@click.argument("key", metavar="KEY")
@click.option(
    "--scheduler",
    "address",
    required=True,
    metavar="ADDRESS",
    callback=_address,
    help="The scheduler's address, e.g. tcp://host:8786.",
)
@_connect_timeout
def explain(key: str, address: SchedulerAddress, connect_timeout: float) -> None:
    """Print the story of task KEY: its transitions, workers, and error if it failed.

    KEY is what future.key prints; write a tuple key as a Python literal, e.g.
    "('sum-3f2a9c', 0)". The scheduler keeps only its last transitions
    (distributed.scheduler.transition-log-length), so ask soon after the fact.

    Exit status: 0 story printed, 1 the scheduler knows no such task,
    2 usage error or scheduler unreachable.
    """
    from resilient_dask.doctor.connect import Unreachable
    from resilient_dask.doctor.story import (
        BadKey,
        StoryRefused,
        fetch_story,
        is_unknown,
        parse_key,
    )

    try:
        parsed = parse_key(key)
    except BadKey as error:
        raise click.BadParameter(str(error), param_hint="KEY") from None
    try:
        story = asyncio.run(fetch_story(address, parsed, connect_timeout))
    except (Unreachable, StoryRefused) as error:
        _unreachable(str(error))
        return
    if is_unknown(story):
        click.echo(
            f"error: the scheduler at {address} knows no task {parsed!r}: it holds no such "
            "task, and its transition log (the last distributed.scheduler.transition-log-length "
            "transitions) has none. Check the key: print(future.key) shows it exactly, and a "
            "tuple key is written as a Python literal, e.g. \"('sum-3f2a9c', 0)\". A task "
            "released long ago is forgotten.",
            err=True,
        )
        sys.exit(EXIT_PROBLEMS)
    click.echo(story.render())
