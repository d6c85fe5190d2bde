"""The one translator from distributed's exceptions to resilient_dask's errors.

:func:`translate` is the only place that decides which typed error a failure
becomes. The tables below list every cancellation reason and every exception
class distributed defines, each with what it becomes, so that
``tests/test_translate.py`` fails when a new distributed release adds one that
nobody decided about.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from distributed.client import FutureCancelledError, FuturesCancelledError
from distributed.core import clean_exception
from distributed.scheduler import KilledWorker

from resilient_dask._incidents import IncidentLog
from resilient_dask.errors import (
    ErrorContext,
    ResilientDaskError,
    SchedulerConnectionLost,
    SchedulerRestarted,
    WorkerLost,
)


@dataclasses.dataclass(frozen=True)
class PassThrough:
    """Table entry: the exception is raised unchanged, for the reason given."""

    why: str


@dataclasses.dataclass(frozen=True)
class RootCause:
    """Table entry: the error of whatever lost the data this depends on."""

    why: str


@dataclasses.dataclass(frozen=True)
class WhenDisconnected:
    """Table entry: SchedulerConnectionLost while the client has no scheduler, else unchanged."""

    why: str


Target = type[ResilientDaskError] | PassThrough | RootCause | WhenDisconnected

#: Every reason distributed gives when it cancels a future, and what it becomes.
CANCELLATION_REASONS: dict[str, Target] = {
    "scheduler-connection-lost": SchedulerConnectionLost,
    "scheduler-restart": SchedulerRestarted,
    "lost dependencies": RootCause(
        "the scheduler refused a graph that depends on keys it no longer has; the "
        "error names why those keys were lost"
    ),
    "already forgotten": RootCause("the scheduler forgot a key the client asked about"),
    "unknown": PassThrough("Future.cancel() without a reason: the user cancelled it"),
}

#: Every exception class distributed defines (by qualified name), and what it becomes.
EXCEPTION_CLASSES: dict[str, Target] = {
    "distributed.client.FutureCancelledError": RootCause("translated by its reason"),
    "distributed.client.FuturesCancelledError": RootCause(
        "one error carrying every key, of the type of its largest group"
    ),
    "distributed.scheduler.KilledWorker": WorkerLost,
    "distributed.comm.core.CommClosedError": WhenDisconnected(
        "a call failed because the comm closed; a worker comm closing is not a scheduler outage"
    ),
    "distributed.comm.core.FatalCommClosedError": WhenDisconnected("as CommClosedError"),
    "distributed.core.RPCClosed": WhenDisconnected("an RPC object used after it was closed"),
    "distributed.client.ClosedClientError": WhenDisconnected(
        "the client closed itself because it could not reconnect"
    ),
    "distributed.client.AllExit": PassThrough("internal control flow of Client._gather"),
    "distributed.exceptions.Reschedule": PassThrough("raised by tasks on purpose"),
    "distributed.exceptions.WorkerStartTimeoutError": PassThrough(
        "wait_for_workers() timed out; its message already says how many workers came"
    ),
    "distributed.scheduler.NoValidWorkerError": PassThrough(
        "no worker satisfies the task's restrictions; its message names them"
    ),
    "distributed.scheduler.NoWorkerError": PassThrough("no-workers timeout; message names it"),
    "distributed.worker_state_machine.InvalidTransition": PassThrough("worker-internal bug"),
    "distributed.worker_state_machine.InvalidTaskState": PassThrough("worker-internal bug"),
    "distributed.worker_state_machine.RecommendationsConflict": PassThrough("worker-internal bug"),
    "distributed._async_taskgroup.AsyncTaskGroupClosedError": PassThrough("server shutdown"),
    "distributed.shuffle._exceptions.P2PConsistencyError": PassThrough(
        "P2P shuffle failure; surfaces as a task error with its own message"
    ),
    "distributed.shuffle._exceptions.P2PIllegalStateError": PassThrough("as P2PConsistencyError"),
    "distributed.shuffle._exceptions.ShuffleClosedError": PassThrough("as P2PConsistencyError"),
    "distributed.shuffle._exceptions.DataUnavailable": PassThrough("P2P-internal"),
    "distributed.shuffle._exceptions.P2POutOfDiskError": PassThrough(
        "a P2P shuffle ran out of disk; its message says so and how to fix it"
    ),
    "distributed.worker_state_machine.TransitionCounterMaxExceeded": PassThrough(
        "worker-internal safety limit (a bug in distributed)"
    ),
    "distributed.spill.MaxSpillExceeded": PassThrough("worker-internal spill control"),
    "distributed.spill.PickleError": PassThrough("worker-internal spill failure"),
    "distributed.spill.HandledError": PassThrough("worker-internal spill failure"),
    "distributed.comm.inproc.QueueEmpty": PassThrough("inproc comm internal"),
    "distributed.versions.VersionMismatchWarning": PassThrough("a warning, not an error"),
}


@dataclasses.dataclass(frozen=True)
class Situation:
    """The connection as it is when an error is raised."""

    scheduler: str | None
    state: str
    #: Whether the client is connected again after an outage (None: it never had one).
    reconnected: bool | None
    unreachable_for: float | None = None
    connected: bool = True
    gave_up: bool = False


def refresh(
    err: ResilientDaskError, situation: Situation | None, **changes: Any
) -> ResilientDaskError:
    """A copy of ``err`` describing the connection as it is now."""
    ctx = err.context
    if situation is not None:
        ctx = ctx.replace(
            state=situation.state,
            reconnected=situation.reconnected,
            unreachable_for=situation.unreachable_for,
        )
    if changes:
        ctx = ctx.replace(**changes)
    fresh = type(err)(ctx, err.message)
    for name, value in err.__dict__.items():
        if name not in ("context", "message"):
            fresh.__dict__[name] = value
    return fresh


def _merge(errors: Sequence[ResilientDaskError], situation: Situation | None) -> ResilientDaskError:
    """One error for many: the type of the largest group, carrying every key."""
    by_type: dict[type[ResilientDaskError], list[ResilientDaskError]] = collections.defaultdict(
        list
    )
    for err in errors:
        by_type[type(err)].append(err)
    main = max(by_type.values(), key=len)
    keys: list[str] = []
    seen: set[str] = set()
    for err in errors:
        for key in err.keys:
            if key not in seen:
                seen.add(key)
                keys.append(key)
    first = main[0]
    affected = max((e.context.affected or 0) for e in errors) or None
    return refresh(first, situation, keys=tuple(keys), affected=affected)


def cancellation_target(reason: str | None) -> Target:
    """What a cancellation with this reason becomes (user-given reasons pass through)."""
    return CANCELLATION_REASONS.get(reason or "unknown", PassThrough("a reason given by the user"))


def closed_comm(exc: BaseException) -> bool:
    """Whether ``exc`` is one of distributed's closed-connection errors (CommClosedError,
    ...), which mean a scheduler outage only if the client's connection dropped."""
    return isinstance(_class_entry(exc), WhenDisconnected)


def _class_entry(exc: BaseException) -> Target | None:
    """The EXCEPTION_CLASSES entry of ``exc``'s class (None: not one of distributed's)."""
    return EXCEPTION_CLASSES.get(f"{type(exc).__module__}.{type(exc).__qualname__}")


def translate(
    exc: BaseException,
    situation: Situation | None = None,
    incidents: IncidentLog | None = None,
    keys: Sequence[Any] | None = None,
) -> BaseException:
    """Return the typed error for ``exc`` (or ``exc`` itself if it stays as it is).

    ``keys``, when given, are the keys of the futures the failing call was
    about; a cancellation error then names those of them that the same event
    cancelled, rather than only the first one distributed reported.
    """
    if isinstance(exc, ResilientDaskError):
        if (
            keys
            and len(keys) > 1
            and isinstance(exc, (SchedulerConnectionLost, SchedulerRestarted))
        ):
            return refresh(exc, situation, keys=tuple(str(k) for k in keys))
        return refresh(exc, situation)
    if isinstance(exc, FuturesCancelledError):
        typed = [
            t
            for group in exc.error_groups
            for e in group.errors
            if isinstance(t := translate(e, situation, incidents), ResilientDaskError)
        ]
        return _merge(typed, situation) if typed else exc
    if isinstance(exc, FutureCancelledError):
        target = cancellation_target(exc.reason)
        if isinstance(target, type):
            ctx = ErrorContext(
                scheduler=situation.scheduler if situation else None, keys=(str(exc.key),)
            )
            return refresh(target(ctx), situation)
        if isinstance(target, RootCause) and incidents is not None:
            incident = incidents.cause_of(exc.key) or incidents.latest
            if incident is not None:
                return refresh(incident.error([exc.key]), situation)
        return exc
    if isinstance(exc, KilledWorker):
        worker = getattr(exc.last_worker, "address", exc.last_worker)
        ctx = ErrorContext(
            scheduler=situation.scheduler if situation else None,
            keys=(str(exc.task),),
            happened_at=time.time(),
            details=(
                ("last_worker", str(worker) if worker is not None else None),
                ("workers", (str(worker),) if worker is not None else ()),
                ("allowed_failures", exc.allowed_failures),
                # The scheduler fails the task at the first death past allowed-failures.
                ("deaths", _deaths(exc.allowed_failures)),
            ),
        )
        return refresh(WorkerLost(ctx), situation)
    entry = _class_entry(exc)
    if isinstance(entry, WhenDisconnected) and situation is not None and not situation.connected:
        incident = incidents.latest if incidents is not None else None
        ctx = ErrorContext(
            scheduler=situation.scheduler,
            keys=tuple(str(k) for k in keys or ()),
            happened_at=incident.happened_at if incident else time.time(),
            affected=incident.affected if incident else None,
        )
        message = None
        if situation.gave_up:
            message = (
                "The client lost its connection to the scheduler and gave up reconnecting; "
                "it is closed."
            )
        return refresh(SchedulerConnectionLost(ctx, message), situation)
    return exc


def _deaths(allowed_failures: Any) -> int | None:
    return allowed_failures + 1 if isinstance(allowed_failures, int) else None


def killed_worker(reported: Any) -> KilledWorker | None:
    """The ``KilledWorker`` in a task's "task-erred" report, if that is what it is.

    The report carries the exception serialized; ``clean_exception`` rebuilds it (and a
    report that does not deserialize is simply not one). Upstream: the scheduler
    pickles the exception (``distributed.protocol.pickle.dumps``), and pickle names an
    object's class in its bytes; a report whose bytes do not name KilledWorker is not
    unpickled here (upstream unpickles it to deliver it: once is enough on the error path).
    """
    if isinstance(reported, (bytes, bytearray)) and b"KilledWorker" not in reported:
        return None
    with contextlib.suppress(Exception):
        _, reported, _ = clean_exception(reported)
    return reported if isinstance(reported, KilledWorker) else None
