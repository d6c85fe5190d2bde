"""Collecting :class:`~resilient_dask.doctor.facts.Facts` from a live scheduler.

Everything goes through public APIs: the scheduler's ``identity`` and ``echo``
RPCs (``echo`` is the probe a ResilientClient sends),
``Client.get_versions(check=False)``, ``Client.get_events`` and
``Client.run_on_scheduler`` (for the settings the scheduler runs with). Each call
is bounded by the connect timeout. What fails after the scheduler answered
becomes a :class:`~resilient_dask.doctor.facts.Gap` (reported as advice) rather
than an error, so one refused call does not hide the other checks.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import dask.config
from dask.utils import parse_timedelta
from distributed import Client

from resilient_dask._compat import on_scheduler
from resilient_dask._config import Options
from resilient_dask.doctor.address import SchedulerAddress
from resilient_dask.doctor.connect import bounded, connected_client, failure
from resilient_dask.doctor.facts import (
    ClientSettings,
    ClusterEvents,
    Facts,
    Gap,
    SchedulerSettings,
    WorkerFacts,
    summarize_events,
    versions_by_role,
)

if TYPE_CHECKING:
    from distributed.security import Security

__all__ = ["client_settings", "diagnose"]


async def diagnose(
    address: SchedulerAddress, timeout: float, samples: int, security: Security | None = None
) -> Facts:
    """Connect to ``address`` (with ``security``, if given) and gather every fact the checks read.

    Raises :class:`~resilient_dask.doctor.connect.Unreachable` when the scheduler
    cannot be reached or stops answering.
    """
    async with connected_client(address, timeout, security) as client:
        ask = _Asker(client, address, timeout)
        identity = await ask(ask.scheduler.identity(n_workers=-1), "identity")
        latencies = [await ask.round_trip() for _ in range(samples)]
        settings, now = await ask.scheduler_settings()
        versions = await ask.versions()
        events = await ask.events()
    return Facts(
        address=address.url,
        scheduler_type=str(identity.get("type", "Scheduler")),
        scheduler_id=str(identity.get("id", "")),
        started=identity.get("started"),
        now=now,
        workers=_workers(identity, now),
        latencies=tuple(latencies),
        versions=versions,
        scheduler=settings,
        events=events,
        client=client_settings(),
        gaps=tuple(ask.gaps),
    )


def _workers(identity: dict[str, Any], now: float | None) -> tuple[WorkerFacts, ...]:
    workers = []
    for addr, meta in sorted((identity.get("workers") or {}).items()):
        last_seen = meta.get("last_seen")
        workers.append(
            WorkerFacts(
                address=str(addr),
                name=str(meta.get("name", addr)),
                nanny=meta.get("nanny") or None,
                status=str(meta.get("status", "running")),
                silent_for=(
                    max(0.0, now - float(last_seen))
                    if now is not None and last_seen is not None
                    else None
                ),
            )
        )
    return tuple(workers)


class _Asker:
    """Asks one connected scheduler, each call bounded; optional facts that fail become gaps."""

    def __init__(self, client: Client, address: SchedulerAddress, timeout: float) -> None:
        self.client = client
        assert client.scheduler is not None, "a connected client has its scheduler RPC"
        self.scheduler = client.scheduler
        self.address = address
        self.timeout = timeout
        self.gaps: list[Gap] = []

    async def __call__(self, awaitable: Any, what: str) -> Any:
        return await bounded(awaitable, self.timeout, self.address, what)

    async def round_trip(self) -> float:
        started = time.perf_counter()
        await self(self.scheduler.echo(), "a probe (echo)")
        return time.perf_counter() - started

    async def scheduler_settings(self) -> tuple[SchedulerSettings | None, float | None]:
        call = self.client.run_on_scheduler(
            on_scheduler.scheduler_settings, on_scheduler.PINS_PLUGIN
        )
        try:
            raw = await self(call, "run_on_scheduler")
        except Exception as exc:
            self.gaps.append(
                Gap(
                    "Could not read the scheduler's settings (worker-ttl, allowed-failures, "
                    f"timeouts) or its clock through run_on_scheduler ({failure(exc)}).",
                    "Let the scheduler run functions for clients: remove run_function from "
                    "distributed.scheduler.blocked-handlers in its config.",
                )
            )
            return None, None
        settings = SchedulerSettings(
            worker_ttl=raw["worker_ttl"],
            allowed_failures=raw["allowed_failures"],
            idle_timeout=raw["idle_timeout"],
            no_workers_timeout=raw["no_workers_timeout"],
            pin_leases=raw["pin_leases"],
        )
        return settings, float(raw["now"])

    async def versions(self) -> dict[str, dict[str, str | None]] | None:
        try:
            raw = await self(self.client.get_versions(check=False), "get_versions")
        except Exception as exc:
            self.gaps.append(
                Gap(
                    f"Could not compare package versions ({failure(exc)}).",
                    "Run client.get_versions(check=True) from a client to see the mismatch "
                    "table distributed itself prints.",
                )
            )
            return None
        return versions_by_role(raw)

    async def events(self) -> ClusterEvents | None:
        try:
            everything = await self(self.client.get_events("all"), "get_events")
            scheduler = await self(self.client.get_events("scheduler"), "get_events")
        except Exception as exc:
            self.gaps.append(
                Gap(
                    "Could not read the scheduler's event log, so worker retirements "
                    f"(adaptive scaling) and worker losses are not reported ({failure(exc)}).",
                    "Check that the scheduler answers Client.get_events('all') for this client.",
                )
            )
            return None
        return summarize_events(everything, scheduler)


def _local_duration(key: str, errors: list[str]) -> float | None:
    raw = dask.config.get(key, None)
    if raw is None or raw is False:
        return None
    try:
        seconds = parse_timedelta(raw, default="s")
    except (ValueError, TypeError, KeyError):
        errors.append(
            f"{key} is {raw!r} here, which is not a duration; use seconds (30) or a "
            "string such as '30s' or '5 minutes'."
        )
        return None
    return float(seconds) if seconds else None


def _local_int(key: str, errors: list[str]) -> int | None:
    raw = dask.config.get(key, None)
    if raw is None:
        return None
    try:
        return int(raw)
    except (ValueError, TypeError):
        errors.append(f"{key} is {raw!r} here, which is not a whole number.")
        return None


def _shipped_default(key: str) -> Any:
    """``key``'s value in the defaults dask and distributed registered (not the user's)."""
    value = None
    for defaults in dask.config.defaults:
        value = dask.config.get(key, value, config=dict(defaults))
    return value


def _scheduler_overrides(errors: list[str]) -> dict[str, float | int | None]:
    """Scheduler settings this config sets to other than distributed's defaults."""
    overrides: dict[str, float | int | None] = {}
    ttl, failures = "distributed.scheduler.worker-ttl", "distributed.scheduler.allowed-failures"
    if dask.config.get(ttl, None) != _shipped_default(ttl):
        overrides["worker-ttl"] = _local_duration(ttl, errors)
    if dask.config.get(failures, None) != _shipped_default(failures):
        overrides["allowed-failures"] = _local_int(failures, errors)
    return overrides


def client_settings() -> ClientSettings:
    """The resilience-relevant dask.config of this process (where the doctor runs)."""
    errors: list[str] = []
    try:
        options: Options | None = Options.resolve()
    except ValueError as exc:
        errors.append(str(exc))
        options = None
    minimum = dask.config.get("distributed.adaptive.minimum", None)
    return ClientSettings(
        connect_timeout=_local_duration("distributed.comm.timeouts.connect", errors),
        scheduler_overrides=_scheduler_overrides(errors),
        resubmit=options.resubmit if options else None,
        probe_interval=options.probe_interval if options else None,
        probe_timeout=options.probe_timeout if options else None,
        unresponsive_timeout=options.unresponsive_timeout if options else None,
        adaptive_wait_count=_local_int("distributed.adaptive.wait-count", errors),
        adaptive_minimum=float(minimum) if isinstance(minimum, (int, float)) else None,
        errors=tuple(errors),
    )
