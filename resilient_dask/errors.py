"""Errors raised by resilient_dask.

Every error is a :class:`ResilientDaskError` *and*, where distributed already has
a class for the situation, an instance of that class too, so existing
``except FutureCancelledError`` / ``except KilledWorker`` code keeps working::

    Exception
    └── ResilientDaskError                  .context, .guidance, .docs_url
        ├── SchedulerConnectionLost         + distributed.client.FutureCancelledError
        │                                     + distributed.client.FuturesCancelledError
        ├── SchedulerRestarted              + (the same two)
        ├── SchedulerUnresponsive           + TimeoutError
        ├── TaskTimeout                     + TimeoutError
        ├── WorkerLost                      + distributed.scheduler.KilledWorker
        ├── LineageUnavailable
        ├── ResubmissionFailed
        ├── ClientClosed                    + RuntimeError
        └── NestedFutureError               + TypeError

``str(err)`` renders what happened (scheduler address, keys, when, the
connection state at the time the error was raised), numbered next steps and a
link to the docs page of the error: ``docs/errors/<kebab-case-name>.md``, for
example ``docs/errors/scheduler-connection-lost.md``. Every error pickles with its context,
because errors travel between processes in Dask.

Errors are built from an :class:`ErrorContext` by the translator in
``resilient_dask._translate``; user code normally only catches them.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from distributed.client import (
    CancelledFuturesGroup,
    FutureCancelledError,
    FuturesCancelledError,
)
from distributed.scheduler import KilledWorker

__all__ = [
    "ClientClosed",
    "ErrorContext",
    "LineageUnavailable",
    "NestedFutureError",
    "ResilientDaskError",
    "ResubmissionFailed",
    "SchedulerConnectionLost",
    "SchedulerRestarted",
    "SchedulerUnresponsive",
    "TaskTimeout",
    "WorkerLost",
]

#: Where the error pages live: one page per error class, named after the class in
#: kebab case. The GitHub rendering, because no docs site is published yet; a page's
#: relative links work there as they do in the mkdocs build of docs/.
DOCS_BASE = "https://github.com/resilient-dask/resilient-dask/blob/main/docs/errors"
MAX_KEYS_SHOWN = 5


@dataclasses.dataclass(frozen=True)
class ErrorContext:
    """What a person needs to understand an error; plain data, so it pickles.

    ``happened_at`` is wall-clock seconds since the epoch. ``state`` is the
    connection state's name when the error was raised and ``reconnected``
    whether the client had a working connection again at that moment.
    """

    scheduler: str | None = None
    keys: tuple[str, ...] = ()
    happened_at: float | None = None
    state: str | None = None
    reconnected: bool | None = None
    #: How many futures the same event affected (may be more than ``keys``).
    affected: int | None = None
    #: Seconds the client had been trying to reach the scheduler, if it was.
    unreachable_for: float | None = None
    #: Free-form facts specific to one error type (worker addresses, timeouts...).
    details: tuple[tuple[str, Any], ...] = ()

    def detail(self, name: str, default: Any = None) -> Any:
        """Return one entry of ``details`` by name."""
        for key, value in self.details:
            if key == name:
                return value
        return default

    def replace(self, **changes: Any) -> ErrorContext:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _docs_page_name(cls: type) -> str:
    """The docs page of an error class: its name in kebab case (``WorkerLost`` -> ``worker-lost``).

    A subclass you define gets a page name too, but no page: override ``docs_url``
    to point at your own documentation.
    """
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", cls.__name__).lower()


def _format_keys(keys: Sequence[str], affected: int | None) -> str:
    shown = ", ".join(repr(k) for k in keys[:MAX_KEYS_SHOWN])
    total = max(len(keys), affected or 0)
    if total > MAX_KEYS_SHOWN or total > len(keys[:MAX_KEYS_SHOWN]):
        return f"{shown} ({total} in all)"
    return shown


def _format_when(happened_at: float | None) -> str:
    if happened_at is None:
        return "unknown"
    stamp = datetime.datetime.fromtimestamp(happened_at, tz=datetime.UTC)
    ago = max(0.0, time.time() - happened_at)
    return f"{stamp:%Y-%m-%d %H:%M:%S} UTC ({ago:.1f} s ago)"


class ResilientDaskError(Exception):
    """Base of every resilient_dask error.

    Subclasses set ``summary`` (one sentence on what happened) and implement
    :meth:`_guidance`; ``__str__`` renders both with the context and the docs link.
    """

    #: One sentence: what happened. Formatted with the context's fields.
    summary: ClassVar[str] = "resilient_dask error"

    context: ErrorContext

    def __init__(self, context: ErrorContext | None = None, message: str | None = None) -> None:
        self._init_resilient(context or ErrorContext(), message)
        Exception.__init__(self, self.headline())

    def _init_resilient(self, context: ErrorContext, message: str | None) -> None:
        self.context = context
        self.message = message

    # -- what a person reads --------------------------------------------------

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys this error is about (all of them, not only those shown)."""
        return self.context.keys

    @property
    def guidance(self) -> list[str]:
        """Concrete next steps, most useful first."""
        return self._guidance()

    @property
    def docs_url(self) -> str:
        """Where this error, its causes and fixes are explained (its own page)."""
        return f"{DOCS_BASE}/{_docs_page_name(type(self))}.md"

    def _guidance(self) -> list[str]:
        return []

    def headline(self) -> str:
        """The first line of ``str(err)``."""
        return self.message or self.summary

    def __str__(self) -> str:
        ctx = self.context
        lines = [self.headline()]
        if ctx.scheduler:
            lines.append(f"  scheduler:  {ctx.scheduler}")
        if ctx.keys:
            lines.append(f"  keys:       {_format_keys(ctx.keys, None)}")
        if ctx.affected and ctx.affected > len(ctx.keys):
            lines.append(f"  affected:   {ctx.affected} futures in the same event")
        if ctx.happened_at is not None:
            lines.append(f"  when:       {_format_when(ctx.happened_at)}")
        if ctx.state:
            suffix = ""
            if ctx.reconnected is not None:
                suffix = " (reconnected)" if ctx.reconnected else " (not reconnected)"
            lines.append(f"  connection: {ctx.state}{suffix}")
        lines.extend(self._extra_lines())
        steps = self.guidance
        if steps:
            lines.append("What to do:")
            lines.extend(f"  {i}. {step}" for i, step in enumerate(steps, 1))
        lines.append(f"Docs: {self.docs_url}")
        return "\n".join(lines)

    def _extra_lines(self) -> list[str]:
        return []

    # -- pickling ---------------------------------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.context, self.message), self.__dict__.copy())

    def __setstate__(self, state: dict[str, Any] | None) -> None:
        self.__dict__.update(state or {})


def _rebuild(
    cls: type[ResilientDaskError], context: ErrorContext, message: str | None
) -> ResilientDaskError:
    """Unpickle any ResilientDaskError without running its ``__init__`` twice."""
    return cls(context, message)


def _outage_guidance(ctx: ErrorContext, *, restarted: bool) -> list[str]:
    """Next steps after futures were cancelled by a scheduler outage."""
    if ctx.reconnected:
        return [
            "The scheduler is reachable again: re-run the work (submit or compute again), "
            "or construct the client with ResilientClient(..., resubmit=True) so that lost "
            "futures are recomputed for you next time.",
            "Persisted collections and scattered data were lost with the old scheduler "
            "state: persist or scatter them again.",
            "To find out why the scheduler "
            + ("restarted" if restarted else "went away")
            + ", read the scheduler's log (or its pod/job log) around the time above.",
        ]
    waited = ctx.unreachable_for
    still = (
        f" still unreachable after {waited:.0f} s"
        if waited and waited >= 1
        else " not reachable yet"
    )
    return [
        f"The scheduler at {ctx.scheduler or '(unknown address)'} is{still}: check that "
        "its process, pod or job is alive, and read its log.",
        "Check the network path between this client and the scheduler "
        "(VPN, proxy, load balancer, firewall).",
        "Once it is back, re-run the work; rc.connection.wait_for(ConnectionState.CONNECTED) "
        "waits for that moment. With ResilientClient(..., resubmit=True) the client "
        "replays lost futures by itself.",
    ]


class _CancelledError(ResilientDaskError, FutureCancelledError, FuturesCancelledError):
    """A typed cancellation that is also distributed's FutureCancelledError and
    FuturesCancelledError: distributed raises the first for one future (``result``,
    ``gather``, ``await``) and the second for several (``wait``, ``futures_of``), and
    code written for either keeps catching ours."""

    #: The cancellation reason distributed gives for this situation.
    reason_code: ClassVar[str] = "unknown"

    def __init__(self, context: ErrorContext | None = None, message: str | None = None) -> None:
        ctx = context or ErrorContext()
        key = ctx.keys[0] if ctx.keys else None
        # ``msg`` is what distributed shows for a cancelled future (as_completed's
        # results, the groups of a FuturesCancelledError): say what happened there too.
        FutureCancelledError.__init__(self, key, self.reason_code, message or self.summary)  # type: ignore[arg-type]
        self._init_resilient(ctx, message)
        Exception.__init__(self, self.headline())

    @property
    def error_groups(self) -> list[CancelledFuturesGroup]:  # type: ignore[override]
        """FuturesCancelledError's view: one group of plain cancellations, one per key."""
        errors = [FutureCancelledError(k, self.reason_code, self.msg) for k in self.keys]
        return [CancelledFuturesGroup(errors=errors, reason=self.reason_code)]

    __str__ = ResilientDaskError.__str__
    __reduce__ = ResilientDaskError.__reduce__


class SchedulerConnectionLost(_CancelledError):
    """A future was cancelled because the connection to the scheduler dropped."""

    summary = "The client lost its connection to the scheduler; its futures were cancelled."
    reason_code = "scheduler-connection-lost"

    def _guidance(self) -> list[str]:
        return _outage_guidance(self.context, restarted=False)


class SchedulerRestarted(_CancelledError):
    """A future was cancelled because the scheduler was restarted (``Client.restart``)."""

    summary = "The scheduler was restarted (Client.restart()); its futures were cancelled."
    reason_code = "scheduler-restart"

    def _guidance(self) -> list[str]:
        return [
            "Client.restart() (called by this or another client) clears all tasks and "
            "data on the cluster: re-run the work after the restart.",
            "If restart() was called to recover from stuck or leaking workers, consider "
            "Client.restart_workers([...]) which keeps other workers' data.",
        ]


class SchedulerUnresponsive(ResilientDaskError, TimeoutError):
    """The scheduler stopped answering probes for too long while a call waited."""

    summary = "The scheduler stopped answering; the call waited as long as it was allowed to."

    def _guidance(self) -> list[str]:
        silent = self.context.detail("silent_for")
        limit = self.context.detail("unresponsive_timeout")
        first = (
            f"The scheduler at {self.context.scheduler} has not answered a probe for "
            f"{silent:.1f} s (unresponsive_timeout={limit} s). Its process may be frozen "
            "(stopped, swapping, a long garbage collection or an event loop blocked by "
            "heavy work): check its CPU and memory and read its log."
            if silent is not None and limit is not None
            else "The scheduler process may be frozen: check its CPU, memory and log."
        )
        return [
            first,
            "Your futures are not lost: if the scheduler recovers, call result() again.",
            "If the scheduler is slow rather than frozen (very large graphs), raise "
            "unresponsive_timeout (or probe_timeout).",
        ]


class WorkerLost(ResilientDaskError, KilledWorker):
    """A task exceeded allowed-failures because the workers running it died."""

    summary = "A task failed because the workers running it died."

    def __init__(self, context: ErrorContext | None = None, message: str | None = None) -> None:
        ctx = context or ErrorContext()
        self._init_resilient(ctx, message)
        # KilledWorker keeps (task, last_worker, allowed_failures) in args; we keep
        # the worker address (a str) so the error pickles without scheduler objects.
        Exception.__init__(
            self,
            ctx.keys[0] if ctx.keys else None,
            ctx.detail("last_worker"),
            ctx.detail("allowed_failures", 0),
        )

    @property
    def last_worker(self) -> Any:
        return self.context.detail("last_worker")

    def headline(self) -> str:
        """How many workers died under the task, as the scheduler counted (``deaths``)."""
        if self.message:
            return self.message
        return f"A task failed because {worker_deaths(self.context.detail('deaths'))}."

    def _extra_lines(self) -> list[str]:
        lines = []
        workers = self.context.detail("workers")
        if workers:
            lines.append(f"  workers:    {', '.join(workers)} died while running it")
        elif self.last_worker:
            lines.append(f"  last worker:{' '}{self.last_worker}")
        failures = self.context.detail("allowed_failures")
        if failures is not None:
            lines.append(f"  attempts:   {failures + 1} (allowed-failures={failures})")
        return lines

    def _guidance(self) -> list[str]:
        return [
            "Read the log of the worker(s) named above around the time above: a worker "
            "that dies while running a task is usually killed for using too much memory "
            "(look for 'Worker exceeded 95% memory budget' or the OOM killer), or "
            "crashed in compiled code (segfault).",
            "If the task needs more memory than a worker has, give workers more memory "
            "or split the task into smaller pieces.",
            "If the workers died for reasons unrelated to the task (preemption, "
            "scale-down), raise distributed.scheduler.allowed-failures or retry with "
            "rc.submit(..., retry=...) once the cluster is stable.",
        ]

    __str__ = ResilientDaskError.__str__
    __reduce__ = ResilientDaskError.__reduce__


def worker_deaths(deaths: int | None) -> str:
    """``"1 worker died while running it"``, ``"3 workers died ..."`` (None: not known)."""
    if not deaths:
        return "the workers running it died"
    return f"{deaths} worker{'' if deaths == 1 else 's'} died while running it"


class LineageUnavailable(ResilientDaskError):
    """A future cannot be replayed: its recipe was never kept or was dropped."""

    summary = "This future cannot be recomputed: the client does not know how it was made."

    def _guidance(self) -> list[str]:
        reason = self.context.detail("reason")
        steps = []
        if reason == "scattered":
            steps.append(
                "The data was scattered and no client-side copy was kept: scatter it "
                "again, or use scatter_policy='keep' so that the client can re-scatter it."
            )
        elif reason == "opted-out":
            steps.append(
                "The task was submitted with resubmit=False (for example because it has "
                "side effects): decide whether it is safe to run again, then submit it again."
            )
        elif reason == "limit":
            steps.append(
                "The lineage store reached lineage_limit and dropped this recipe: raise "
                "lineage_limit, or release futures you no longer need."
            )
        steps.append("Recreate the future by running the code that made it.")
        return steps


class ResubmissionFailed(ResilientDaskError):
    """Replaying lineage after a reconnect did not complete."""

    summary = "The client reconnected but could not replay the lost work."

    def _guidance(self) -> list[str]:
        return [
            "The scheduler is back, but no worker joined in time: restart the workers "
            "(or check that the deployment restarts them) so that replay can run.",
            "These futures stay failed (rc.resubmit() does not revive them): once workers "
            "are back, run the code that made them again.",
            "If workers take longer than that to start, raise resubmit_timeout.",
        ]


class ClientClosed(ResilientDaskError, RuntimeError):
    """The client closed while something waited for its connection (``wait_for``)."""

    summary = "The client closed; its connection will not come back."

    def _extra_lines(self) -> list[str]:
        why = self.context.detail("closed")
        return [f"  closed:     {why}"] if why else []

    def _guidance(self) -> list[str]:
        if str(self.context.detail("closed") or "").startswith("gave up"):
            return [
                "The scheduler stayed unreachable for the whole reconnect window: check "
                "that its process, pod or job is alive, and read its log.",
                "If it takes longer than that to come back (a batch queue, a node being "
                "provisioned), raise reconnect_timeout (ResilientClient(reconnect_timeout="
                "'30 minutes') or 'resilient-dask.reconnect-timeout' in dask.config).",
                "Create a new client once the scheduler is back; a closed client stays closed.",
            ]
        return ["The client was closed (close(), or its with-block ended): create a new one."]


class NestedFutureError(ResilientDaskError, TypeError):
    """A task returned a Future (or a container holding one)."""

    summary = "A task returned a Future; its data was released when the task finished."

    def _guidance(self) -> list[str]:
        return [
            "Submit the inner work from the client instead of from inside the task.",
            "Or, inside the task, use `with worker_client() as c:` and return "
            "c.gather(futures) (values), not the futures themselves.",
            "Run `resilient-dask lint` on your code: rule RD001 finds this pattern.",
        ]


class TaskTimeout(ResilientDaskError, TimeoutError):
    """A task ran longer than the watchdog's ``task_timeout`` (``rc.watch_workers``)."""

    summary = "A task ran longer than task_timeout; the watchdog stopped it."

    def _extra_lines(self) -> list[str]:
        ctx = self.context
        lines = []
        limit, ran = ctx.detail("task_timeout"), ctx.detail("ran_for")
        if limit is not None:
            ran_text = f" (it had run {ran:.1f} s)" if ran is not None else ""
            lines.append(f"  timeout:    task_timeout={limit:g} s{ran_text}")
        worker = ctx.detail("worker")
        if worker:
            what = (
                "restarted through its nanny"
                if ctx.detail("restarted")
                else "not restarted (no nanny, or its restart budget is used up)"
            )
            lines.append(f"  worker:     {worker} ({what})")
        return lines

    def _guidance(self) -> list[str]:
        return [
            "If the task legitimately runs this long, raise task_timeout in "
            "rc.watch_workers(..., task_timeout=...).",
            "Otherwise find out where it hangs: rc.explain(key) for its timeline, the "
            "worker's log, and a stack dump of a worker running it (py-spy dump --pid ...).",
            "The task was released on the scheduler; submit it again once it is fixed.",
        ]
