"""The worker watchdog of a client: restart workers whose heartbeats stopped.

:class:`WorkerWatchdog` runs ``rc.watch_workers()``: it asks the scheduler for the
workers whose heartbeats are overdue (and, with ``task_timeout``, those running a
task for longer than that), and only those, lets the pure
:class:`~resilient_dask.watchdog.WatchdogPolicy` decide, and carries out what it
decided: a restart through the worker's nanny (the scheduler's ``restart_workers``),
and, with ``task_timeout``, failing this client's overdue futures with
:class:`~resilient_dask.errors.TaskTimeout`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from resilient_dask import _compat
from resilient_dask._compat import on_scheduler
from resilient_dask._compat.port import ClientPort
from resilient_dask._config import positive_duration
from resilient_dask.connection import Connection
from resilient_dask.errors import ErrorContext, TaskTimeout
from resilient_dask.watchdog import (
    MISSED_HEARTBEATS,
    Decision,
    WatchdogPolicy,
    WorkerSnapshot,
    WorkerWatch,
)


class WorkerWatchdog:
    """Starts the watches of one client; each runs in the client's loop until stopped."""

    def __init__(self, port: ClientPort, connection: Connection) -> None:
        self._port = port
        self._connection = connection

    def watch(
        self,
        stale_after: str | float,
        restart: bool,
        max_restarts: int,
        window: str | float,
        poll_interval: str | float | None,
        restart_timeout: str | float,
        task_timeout: str | float | None,
    ) -> WorkerWatch:
        """Start a watch (see ``ResilientClient.watch_workers``)."""
        policy = WatchdogPolicy(
            positive_duration("stale_after", stale_after),
            restart=restart,
            max_restarts=max_restarts,
            window=positive_duration("window", window),
            task_timeout=positive_duration("task_timeout", task_timeout) if task_timeout else None,
        )
        interval = (
            positive_duration("poll_interval", poll_interval)
            if poll_interval is not None
            else min(1.0, policy.stale_after / 4)
        )
        timeout = positive_duration("restart_timeout", restart_timeout)
        watch = WorkerWatch(policy, self._port.address())

        def start() -> None:
            task = asyncio.ensure_future(self._watch_loop(watch, interval, timeout))
            watch.on_stop(lambda: self._port.call_soon(task.cancel))

        self._port.call_soon(start)
        watch.record(
            "watchdog.started",
            stale_after=policy.stale_after,
            restart=restart,
            max_restarts=max_restarts,
            window=policy.window,
        )
        return watch

    async def _watch_loop(self, watch: WorkerWatch, interval: float, timeout: float) -> None:
        port = self._port
        policy = watch.policy
        while not watch.stopped and not port.closing:
            try:
                # Only the stale workers come back: the poll costs in proportion to them.
                found = await asyncio.wait_for(
                    port.run_on_scheduler(
                        on_scheduler.stale_workers,
                        policy.limit(time.monotonic()),
                        MISSED_HEARTBEATS,
                        policy.task_timeout,
                    ),
                    max(interval, 5.0),
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                # Scheduler unreachable: the connection monitor reports that.
                await asyncio.sleep(interval)
                continue
            now = time.monotonic()
            policy.heard(now, float(found["interval"]))
            decisions = policy.observe(now, [_snapshot(w) for w in found["stale"]])
            if policy.task_timeout is not None:
                late = found["overdue"]
                snapshots = [_snapshot(w) for w in late]
                decisions += policy.observe_tasks(
                    now, snapshots, {w["address"]: dict(w["tasks"]) for w in late}
                )
            for decision in decisions:
                watch.record_decision(decision)
                if decision.tasks:
                    self._fail_overdue(watch, decision)
                if decision.action == "restart":
                    port.background(self._restart_worker(watch, decision, timeout))
            await asyncio.sleep(interval)

    def _fail_overdue(self, watch: WorkerWatch, decision: Decision) -> None:
        """Fail this client's overdue futures with TaskTimeout and release their tasks."""
        states = self._port.states()
        limit = watch.policy.task_timeout
        for key, ran in decision.tasks:
            state = states.get(key)
            if state is None:
                continue  # not one of ours: the restart reschedules it
            ctx = ErrorContext(
                scheduler=self._port.address(),
                keys=(str(key),),
                happened_at=time.time(),
                state=self._connection.state.name,
                details=(
                    ("task_timeout", limit),
                    ("ran_for", ran),
                    ("worker", decision.worker),
                    ("restarted", decision.action == "restart"),
                ),
            )
            message = f"Task {str(key)!r} ran longer than task_timeout={limit:g} s and was stopped."
            self._port.release_on_scheduler([key])
            _compat.error_state(state, TaskTimeout(ctx, message))

    async def _restart_worker(self, watch: WorkerWatch, decision: Decision, timeout: float) -> None:
        try:
            out = await self._port.scheduler.restart_workers(
                workers=[decision.worker],
                timeout=timeout,
                on_error="return",
                stimulus_id=f"resilient-dask-watchdog-{time.time()}",
            )
            outcome = str(out.get(decision.worker, out))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = repr(exc)
        watch.record(
            "watchdog.restarted" if outcome == "OK" else "watchdog.restart_failed",
            worker=decision.worker,
            name=decision.name,
            outcome=outcome,
        )


def _snapshot(worker: dict[str, Any]) -> WorkerSnapshot:
    return WorkerSnapshot(
        worker["address"],
        str(worker["name"]),
        float(worker["last_seen"]),
        worker["nanny"],
        float(worker["silent_for"]),
    )
