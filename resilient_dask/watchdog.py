"""Worker watchdog: restart workers whose heartbeats stopped, long before worker-ttl.

distributed removes a silent worker only when ``worker-ttl`` (5 minutes) runs
out, and never notices a worker whose event loop is blocked (a task in C code
holding the GIL) while its process lives. ``rc.watch_workers()`` polls the
scheduler's ``identity`` (each worker's ``last_seen``, the scheduler's time of
its last heartbeat, and its ``nanny``) and feeds :class:`WatchdogPolicy`, which
decides without any I/O:

* a worker whose ``last_seen`` has not moved for ``stale_after`` is *stale*;
* a stale worker with a nanny is restarted through it (``restart_workers``),
  within a budget of ``max_restarts`` per ``window`` per worker (counted by
  nanny, which keeps its address across restarts); past the budget: reported;
* a stale worker without a nanny is reported and never killed;
* with ``restart=False`` stale workers are only reported;
* with ``task_timeout``, a worker running one task for longer than that is
  treated the same way (restart within the budget, else reported), and the
  client fails that task's future with :class:`~resilient_dask.errors.TaskTimeout`.

Each decision is a structlog event (``watchdog.*``) and is kept in
``handle.events``.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from resilient_dask._events import emit

__all__ = ["Decision", "WatchdogPolicy", "WorkerSnapshot", "WorkerWatch"]

Action = Literal["restart", "no_nanny", "budget_exhausted", "stale"]

#: The event name of each decision.
EVENTS: dict[Action, str] = {
    "restart": "watchdog.restart",
    "no_nanny": "watchdog.no_nanny",
    "budget_exhausted": "watchdog.budget_exhausted",
    "stale": "watchdog.stale",
}


@dataclasses.dataclass(frozen=True)
class WorkerSnapshot:
    """What the scheduler says about one worker at one poll."""

    address: str
    name: str
    last_seen: float
    nanny: str | None


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the watchdog decided about one stale worker."""

    action: Action
    worker: str
    name: str
    nanny: str | None
    silent_for: float
    #: Restarts of this worker (by nanny) in the current window, this one included.
    restarts_in_window: int
    #: Why: "stale" (heartbeats stopped) or "task_timeout".
    reason: str = "stale"
    #: For "task_timeout": the overdue tasks and how long each had run.
    tasks: tuple[tuple[Any, float], ...] = ()

    @property
    def event(self) -> str:
        return EVENTS[self.action]


@dataclasses.dataclass
class _Track:
    last_seen: float
    since: float
    decided: bool = False


class WatchdogPolicy:
    """Stale-worker decisions from successive snapshots; no I/O, clock passed in.

    Staleness is measured on the caller's monotonic clock from the poll where a
    worker's ``last_seen`` last changed, so the scheduler's clock need not agree
    with ours. One decision per silence: a worker is judged again only after it
    heartbeats again (or is replaced by a new worker process).
    """

    def __init__(
        self,
        stale_after: float,
        *,
        restart: bool = True,
        max_restarts: int = 3,
        window: float,
        task_timeout: float | None = None,
    ) -> None:
        if stale_after <= 0 or window <= 0:
            raise ValueError("stale_after and window must be positive durations")
        if task_timeout is not None and task_timeout <= 0:
            raise ValueError(f"task_timeout must be a positive duration, got {task_timeout!r}")
        if max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {max_restarts!r}")
        self.stale_after = stale_after
        self.restart = restart
        self.max_restarts = max_restarts
        self.window = window
        self.task_timeout = task_timeout
        self._timed_out: set[str] = set()
        self._tracks: dict[str, _Track] = {}
        self._restarts: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )

    def observe(self, now: float, workers: Iterable[WorkerSnapshot]) -> list[Decision]:
        """Feed one poll; return the decisions it leads to."""
        decisions = []
        seen = set()
        for worker in workers:
            seen.add(worker.address)
            track = self._tracks.get(worker.address)
            if track is None or track.last_seen != worker.last_seen:
                self._tracks[worker.address] = _Track(worker.last_seen, now)
                continue
            silent = now - track.since
            if track.decided or silent < self.stale_after:
                continue
            track.decided = True
            decisions.append(self._decide(now, worker, silent))
        for address in set(self._tracks) - seen:
            del self._tracks[address]
        self._timed_out &= seen
        return decisions

    def observe_tasks(
        self,
        now: float,
        workers: Iterable[WorkerSnapshot],
        executing: Mapping[str, Mapping[Any, float]],
    ) -> list[Decision]:
        """Feed what each worker is running (key → seconds); decide about overdue tasks.

        One decision per worker until it is replaced (a restarted worker has a new address).
        """
        if self.task_timeout is None:
            return []
        decisions = []
        for worker in workers:
            running = executing.get(worker.address, {})
            overdue = tuple(
                (key, round(ran, 3)) for key, ran in running.items() if ran >= self.task_timeout
            )
            if not overdue or worker.address in self._timed_out:
                continue
            self._timed_out.add(worker.address)
            decision = self._decide(now, worker, 0.0)
            decisions.append(dataclasses.replace(decision, reason="task_timeout", tasks=overdue))
        return decisions

    def _decide(self, now: float, worker: WorkerSnapshot, silent: float) -> Decision:
        budget_key = worker.nanny or worker.name or worker.address
        history = self._restarts[budget_key]
        while history and history[0] <= now - self.window:
            history.popleft()
        action: Action
        if not self.restart:
            action = "stale"
        elif worker.nanny is None:
            action = "no_nanny"
        elif len(history) >= self.max_restarts:
            action = "budget_exhausted"
        else:
            history.append(now)
            action = "restart"
        return Decision(
            action, worker.address, worker.name, worker.nanny, round(silent, 3), len(history)
        )


class WorkerWatch:
    """Handle returned by ``rc.watch_workers()``: ``.events``, ``.stop()``.

    ``events`` lists every decision and restart outcome as the dicts that were
    emitted as structlog events (``event``, ``worker``, ``silent_for``, ...).
    """

    def __init__(self, policy: WatchdogPolicy, scheduler: str | None) -> None:
        self.policy = policy
        self.scheduler = scheduler
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._on_stop: list[Callable[[], None]] = []

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the watch stops."""
        self._on_stop.append(callback)

    def stop(self) -> None:
        """Stop watching (idempotent). Restarts already asked for still complete."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        for callback in self._on_stop:
            callback()
        self.record("watchdog.stopped")

    def record(self, event: str, **fields: Any) -> None:
        """Emit one event and keep it in ``events``."""
        record = {"event": event, "address": self.scheduler, **fields}
        with self._lock:
            self.events.append(record)
        emit(event, **{k: v for k, v in record.items() if k != "event"})

    def record_decision(self, decision: Decision) -> None:
        self.record(
            decision.event,
            worker=decision.worker,
            name=decision.name,
            nanny=decision.nanny,
            silent_for=decision.silent_for,
            restarts_in_window=decision.restarts_in_window,
            max_restarts=self.policy.max_restarts,
            reason=decision.reason,
            tasks=[(str(key), ran) for key, ran in decision.tasks],
        )

    def __enter__(self) -> WorkerWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self.stopped else "watching"
        return f"<WorkerWatch {state} stale_after={self.policy.stale_after:g}s>"
