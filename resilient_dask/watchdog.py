"""Worker watchdog: restart workers whose heartbeats stopped, long before worker-ttl.

distributed removes a silent worker only when ``worker-ttl`` (5 minutes) runs
out, and never notices a worker whose event loop is blocked (a task in C code
holding the GIL) while its process lives. ``rc.watch_workers()`` asks the
scheduler, at each poll, for the workers whose heartbeats are overdue and only
those (:func:`~resilient_dask._compat.on_scheduler.stale_workers`: a pass over the
scheduler's workers, an answer the size of the stale ones), and feeds
:class:`WatchdogPolicy`, which decides without any I/O:

* a worker is *stale* once the scheduler has not heard from it for the longer of
  ``stale_after`` and :data:`MISSED_HEARTBEATS` heartbeat intervals, the interval
  being the one the scheduler gives its workers (it grows with the cluster: 0.5 s
  up to 10 workers, ``n / 200 + 1`` s past 200, 31 s at 6,000), so a worker whose
  heartbeats arrive on that schedule is never stale, at any cluster size;
* a stale worker with a nanny is restarted through it (``restart_workers``),
  within a budget of ``max_restarts`` per ``window`` per worker (counted by
  nanny, which keeps its address across restarts); past the budget: reported;
* a stale worker without a nanny is reported and never killed;
* with ``restart=False`` stale workers are only reported (the mode for a client
  that shares the cluster with others and does not own its workers);
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

__all__ = ["MISSED_HEARTBEATS", "Decision", "WatchdogPolicy", "WorkerSnapshot", "WorkerWatch"]

#: A worker is stale only after this many of the heartbeat intervals the scheduler gives
#: its workers have passed without one (and never before ``stale_after``).
MISSED_HEARTBEATS = 3

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
    #: The scheduler's time of the worker's last heartbeat.
    last_seen: float
    nanny: str | None
    #: How long the scheduler had not heard from it, on the scheduler's clock.
    silent_for: float = 0.0


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


class WatchdogPolicy:
    """Stale-worker decisions from successive polls; no I/O, clock passed in.

    Each poll reports the workers the scheduler has not heard from for longer than
    :meth:`limit` (judged on the scheduler's own clock, so ours need not agree with
    it) and the heartbeat interval it gives its workers now (:meth:`heard`). One
    decision per silence: a worker is judged again only after it heartbeats again
    (its ``last_seen`` changes) or is replaced by a new worker process.
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
        #: (address, last_seen) of the silences already decided about.
        self._decided: set[tuple[str, float]] = set()
        #: (when, interval) the scheduler reported, newest last.
        self._intervals: collections.deque[tuple[float, float]] = collections.deque()
        self._restarts: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )

    def heard(self, now: float, interval: float) -> None:
        """The heartbeat interval the scheduler gives its workers, as of this poll."""
        self._intervals.append((now, interval))

    def limit(self, now: float) -> float:
        """How long a worker may be silent before it is stale: ``stale_after``, or
        :data:`MISSED_HEARTBEATS` times the longest interval the scheduler gave in as
        long as that (a worker told a longer interval before the cluster shrank keeps
        it until its next heartbeat), whichever is longer."""
        intervals = self._intervals
        longest = max((i for _, i in intervals), default=0.0)
        while len(intervals) > 1 and intervals[0][0] < now - MISSED_HEARTBEATS * longest:
            intervals.popleft()
        longest = max((i for _, i in intervals), default=0.0)
        return max(self.stale_after, MISSED_HEARTBEATS * longest)

    def observe(self, now: float, stale: Iterable[WorkerSnapshot]) -> list[Decision]:
        """Feed the workers one poll found stale; return the decisions they lead to."""
        decisions = []
        current = set()
        for worker in stale:
            silence = (worker.address, worker.last_seen)
            current.add(silence)
            if silence in self._decided:
                continue
            self._decided.add(silence)
            decisions.append(self._decide(now, worker, worker.silent_for))
        self._decided &= current  # heard from again, or gone: judged afresh next time
        return decisions

    def observe_tasks(
        self,
        now: float,
        workers: Iterable[WorkerSnapshot],
        executing: Mapping[str, Mapping[Any, float]],
    ) -> list[Decision]:
        """Feed what workers are running (key → seconds; the scheduler may send only the
        workers with a task past ``task_timeout``); decide about overdue tasks.

        One decision per worker while it has overdue tasks (a restarted worker has a
        new address).
        """
        if self.task_timeout is None:
            return []
        decisions = []
        late = set()
        for worker in workers:
            running = executing.get(worker.address, {})
            overdue = tuple(
                (key, round(ran, 3)) for key, ran in running.items() if ran >= self.task_timeout
            )
            if not overdue:
                continue
            late.add(worker.address)
            if worker.address in self._timed_out:
                continue
            self._timed_out.add(worker.address)
            decision = self._decide(now, worker, 0.0)
            decisions.append(dataclasses.replace(decision, reason="task_timeout", tasks=overdue))
        self._timed_out &= late
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
