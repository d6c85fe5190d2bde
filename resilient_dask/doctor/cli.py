"""The ``resilient-dask doctor`` and ``resilient-dask explain`` commands.

Both find the scheduler by its address or by the file ``dask scheduler
--scheduler-file`` writes, and take the TLS options of ``dask worker``. Both
import distributed only once they run, so ``resilient-dask --help`` and
``resilient-dask lint`` stay cheap. Exit status of both: 2 for a usage error or
an unreachable scheduler (nothing was checked); ``doctor`` exits 1 when it found a
problem (advice alone leaves it at 0), ``explain`` exits 1 when the scheduler
knows no such task.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from resilient_dask.doctor.address import (
    AddressError,
    SchedulerAddress,
    parse_address,
    read_scheduler_file,
)
from resilient_dask.doctor.findings import EXIT_PROBLEMS, EXIT_UNUSABLE, exit_code
from resilient_dask.doctor.tls import TlsError, TlsOptions, check_pem_file, client_security

if TYPE_CHECKING:
    from distributed.security import Security

__all__ = ["doctor", "explain"]

_SETTINGS = {"help_option_names": ["-h", "--help"]}
_F = TypeVar("_F", bound=Callable[..., Any])


def _parsed_by(
    parse: Callable[[str], SchedulerAddress],
) -> Callable[[click.Context, click.Parameter, str | None], SchedulerAddress | None]:
    """A click callback: the option's value through ``parse``, an AddressError as a
    usage error naming the option."""

    def callback(
        ctx: click.Context, param: click.Parameter, value: str | None
    ) -> SchedulerAddress | None:
        if value is None:
            return None
        try:
            return parse(value)
        except AddressError as error:
            raise click.BadParameter(str(error), ctx=ctx, param=param) from None

    return callback


_address = _parsed_by(parse_address)
_scheduler_file = _parsed_by(read_scheduler_file)


def _pem_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_pem_file(param.opts[0], value)
    except TlsError as error:
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


def _connection_options(command: _F) -> _F:
    """--scheduler-file and the TLS options, the same for both commands."""
    options = [
        click.option(
            "--scheduler-file",
            metavar="PATH",
            callback=_scheduler_file,
            help="Read the scheduler's address from the JSON file `dask scheduler "
            "--scheduler-file PATH` writes (instead of giving the address).",
        ),
        click.option(
            "--tls-ca-file",
            metavar="PATH",
            callback=_pem_file,
            help="CA certificate (PEM) that signed the scheduler's certificate, as for "
            "`dask worker`. The three --tls options replace distributed.comm.tls.* of the "
            "dask config, which applies without them.",
        ),
        click.option(
            "--tls-cert",
            metavar="PATH",
            callback=_pem_file,
            help="This client's certificate (PEM), signed by a CA the scheduler trusts; "
            "needs --tls-key.",
        ),
        click.option(
            "--tls-key",
            metavar="PATH",
            callback=_pem_file,
            help="The private key (PEM, unencrypted) of --tls-cert.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _target(
    given: SchedulerAddress | None,
    from_file: SchedulerAddress | None,
    tls: TlsOptions,
    address_name: str,
) -> tuple[SchedulerAddress, Security | None]:
    """The address to connect to, from exactly one of the two sources, and its security."""
    if given is not None and from_file is not None:
        raise click.UsageError(
            f"give either {address_name} or --scheduler-file, not both: the scheduler file "
            f"names the address ({from_file}) already"
        )
    address = given or from_file
    if address is None:
        raise click.UsageError(
            f"no scheduler given: give its {address_name} (e.g. tcp://scheduler-host:8786) "
            "or --scheduler-file PATH (the file `dask scheduler --scheduler-file` writes)"
        )
    try:
        return address, client_security(tls, address)
    except TlsError as error:
        raise click.UsageError(str(error)) from None


def _unreachable(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_UNUSABLE)


@click.command("doctor", context_settings=_SETTINGS)
@click.argument("address", metavar="[ADDRESS]", required=False, callback=_address)
@_connection_options
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
    address: SchedulerAddress | None,
    scheduler_file: SchedulerAddress | None,
    tls_ca_file: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    connect_timeout: float,
    samples: int,
    output_format: str,
) -> None:
    """Check the scheduler at ADDRESS (e.g. tcp://host:8786) for what undermines resilience.

    Give either ADDRESS or --scheduler-file. For a scheduler that uses TLS
    (tls://host:8786), give --tls-ca-file, --tls-cert and --tls-key as to
    `dask worker`, or set them in the dask config (distributed.comm.tls).

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

    address, security = _target(
        address, scheduler_file, TlsOptions(tls_ca_file, tls_cert, tls_key), "ADDRESS"
    )
    try:
        facts = asyncio.run(diagnose(address, connect_timeout, samples, security))
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
    metavar="ADDRESS",
    callback=_address,
    help="The scheduler's address, e.g. tcp://host:8786 (or give --scheduler-file).",
)
@_connection_options
@_connect_timeout
def explain(
    key: str,
    address: SchedulerAddress | None,
    scheduler_file: SchedulerAddress | None,
    tls_ca_file: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    connect_timeout: float,
) -> None:
    """Print the story of task KEY: its transitions, workers, and error if it failed.

    Give either --scheduler or --scheduler-file; the TLS options are those of
    `resilient-dask doctor`.

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
    address, security = _target(
        address, scheduler_file, TlsOptions(tls_ca_file, tls_cert, tls_key), "--scheduler"
    )
    try:
        story = asyncio.run(fetch_story(address, parsed, connect_timeout, security))
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
