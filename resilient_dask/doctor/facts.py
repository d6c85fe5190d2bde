"""What the doctor knows about a cluster, as plain data.

The gatherer (:mod:`resilient_dask.doctor.gather`) fills these from a live
scheduler; the checks (:mod:`resilient_dask.doctor.checks`) only read them. Keeping
the two apart lets every check be tested with fabricated facts, including ones no
test can produce for real (a worker running another distributed version). The
helpers here turn distributed's raw answers (``get_versions``, ``get_events``)
into these records and do no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "ClientSettings",
    "ClusterEvents",
    "Facts",
    "Gap",
    "Retirement",
    "SchedulerSettings",
    "TtlTimeout",
    "WorkerFacts",
    "WorkerLoss",
    "summarize_events",
    "versions_by_role",
]


@dataclasses.dataclass(frozen=True)
class WorkerFacts:
    """One worker as the scheduler sees it."""

    address: str
    name: str
    #: Address of its nanny, None when it runs without one.
    nanny: str | None
    #: ``running``, ``paused``, ``closing_gracefully``, ...
    status: str = "running"
    #: Seconds since its last heartbeat reached the scheduler (scheduler clock).
    silent_for: float | None = None


@dataclasses.dataclass(frozen=True)
class SchedulerSettings:
    """The running scheduler's resilience settings (seconds; None means disabled)."""

    worker_ttl: float | None
    allowed_failures: int | None
    idle_timeout: float | None = None
    no_workers_timeout: float | None = None
    #: Live ``rc.pin_workers()`` leases on the scheduler.
    pin_leases: int = 0


@dataclasses.dataclass(frozen=True)
class ClientSettings:
    """dask.config where the doctor runs: what a client started here would use.

    The defaults are resilient-dask's and distributed's shipped ones, so that tests
    can fabricate settings by naming only what differs.
    """

    #: ``distributed.comm.timeouts.connect``: also how long a client keeps reconnecting.
    connect_timeout: float | None = 30.0
    #: ``distributed.scheduler.worker-ttl`` (seconds, None: off) and ``allowed-failures``
    #: where this config sets them to other than distributed's defaults.
    scheduler_overrides: Mapping[str, float | int | None] = dataclasses.field(
        default_factory=dict
    )
    #: ``resilient-dask.*`` options (None when they are invalid: see ``errors``).
    resubmit: bool | str | None = False
    probe_interval: float | None = 2.0
    probe_timeout: float | None = 5.0
    unresponsive_timeout: float | None = 60.0
    #: ``distributed.adaptive.*``: read where ``cluster.adapt()`` runs.
    adaptive_wait_count: int | None = 3
    adaptive_minimum: float | None = 0
    #: Settings that could not be read, each naming the key, the value and the fix.
    errors: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Retirement:
    """One ``retire_workers`` call the scheduler logged (adaptive scaling makes these)."""

    time: float
    retired: tuple[str, ...]
    could_not_retire: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class WorkerLoss:
    """A worker that left without being retired (killed, crashed, network lost)."""

    time: float
    worker: str
    #: Tasks it was running, which the scheduler had to reschedule.
    processing: int = 0


@dataclasses.dataclass(frozen=True)
class TtlTimeout:
    """Workers the scheduler restarted or removed because their heartbeats stopped."""

    time: float
    workers: tuple[str, ...]
    ttl: float


@dataclasses.dataclass(frozen=True)
class ClusterEvents:
    """The resilience-relevant part of the scheduler's event log."""

    retirements: tuple[Retirement, ...] = ()
    losses: tuple[WorkerLoss, ...] = ()
    ttl_timeouts: tuple[TtlTimeout, ...] = ()


@dataclasses.dataclass(frozen=True)
class Gap:
    """Something the doctor could not observe: what, why, and how to make it observable."""

    message: str
    fix: str


@dataclasses.dataclass(frozen=True)
class Facts:
    """Everything the checks look at. ``None`` means "could not be observed" (see gaps)."""

    address: str
    scheduler_type: str = "Scheduler"
    scheduler_id: str = ""
    #: Scheduler's start time (its wall clock) and its clock when the facts were read.
    started: float | None = None
    now: float | None = None
    workers: tuple[WorkerFacts, ...] = ()
    #: Round trips of the probe (``echo``), in seconds.
    latencies: tuple[float, ...] = ()
    #: ``{"client" | "scheduler" | worker address: {package: version or None}}``.
    versions: Mapping[str, Mapping[str, str | None]] | None = None
    scheduler: SchedulerSettings | None = None
    events: ClusterEvents | None = None
    client: ClientSettings = dataclasses.field(default_factory=ClientSettings)
    #: What could not be observed, and why (each becomes an advice finding).
    gaps: tuple[Gap, ...] = ()


def versions_by_role(raw: Mapping[str, Any]) -> dict[str, dict[str, str | None]]:
    """``Client.get_versions(check=False)`` as ``{role: {package: version}}``.

    Upstream returns ``{"client": info, "scheduler": info, "workers": {address: info}}``
    where ``info["packages"]`` maps package names (and ``"python"``) to versions.
    """
    out: dict[str, dict[str, str | None]] = {}
    for role in ("client", "scheduler"):
        info = raw.get(role)
        if isinstance(info, Mapping):
            out[role] = dict(info.get("packages") or {})
    for address, info in sorted((raw.get("workers") or {}).items()):
        if isinstance(info, Mapping):
            out[str(address)] = dict(info.get("packages") or {})
    return out


def _strings(values: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


def _count(value: Any) -> int:
    return len(value) if isinstance(value, (list, tuple, set, frozenset, dict)) else 0


def summarize_events(
    all_events: Sequence[Sequence[Any]], scheduler_events: Sequence[Sequence[Any]] = ()
) -> ClusterEvents:
    """Pick retirements, unexpected worker losses and worker-ttl timeouts from event logs.

    Upstream (``Client.get_events(topic)`` returns ``(time, message)`` pairs): the
    ``"all"`` topic has ``{"action": "retire-workers", "retired": [...],
    "could-not-retire": [...]}`` and ``{"action": "remove-worker", "worker": ...,
    "expected": bool, "processing-tasks": ...}``; the ``"scheduler"`` topic has
    ``{"action": "worker-ttl-timed-out", "workers": [...], "ttl": seconds}``.
    """
    retirements: list[Retirement] = []
    losses: list[WorkerLoss] = []
    timeouts: list[TtlTimeout] = []
    for when, msg in all_events:
        if not isinstance(msg, Mapping):
            continue
        action = msg.get("action")
        if action == "retire-workers" and (msg.get("retired") or msg.get("could-not-retire")):
            retirements.append(
                Retirement(
                    float(when),
                    _strings(msg.get("retired")),
                    _strings(msg.get("could-not-retire")),
                )
            )
        elif action == "remove-worker" and msg.get("expected") is False and msg.get("worker"):
            losses.append(
                WorkerLoss(float(when), str(msg["worker"]), _count(msg.get("processing-tasks")))
            )
    for when, msg in scheduler_events:
        if isinstance(msg, Mapping) and msg.get("action") == "worker-ttl-timed-out":
            timeouts.append(
                TtlTimeout(float(when), _strings(msg.get("workers")), float(msg.get("ttl") or 0))
            )
    return ClusterEvents(tuple(retirements), tuple(losses), tuple(timeouts))
