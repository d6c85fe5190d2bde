"""Which services react to each upstream event, and in which order: one place.

:class:`Reactions` implements :class:`~resilient_dask._client_events.ClientEvents`
(what :class:`~resilient_dask._compat.client_hooks.ClientHooks` reports) by
handing each event to the services of one client, in the order written in its
method. The services own their state and know nothing of each other beyond the
ones they are given when built (see ``ResilientClient.__init__``):

* ``monitor`` (:class:`~resilient_dask._monitor.ConnectionMonitor`): state machine,
  probe, unresponsive cut-off, ``rc.connection``;
* ``outages`` (:class:`~resilient_dask._outages.Outages`): incidents, typed
  cancellations and root causes, the translator;
* ``lineage`` (:class:`~resilient_dask._lineage_service.Lineage`): recording,
  parking, replay;
* ``calls`` (:class:`~resilient_dask._blocking_calls.BlockingCalls`): every call a
  user blocks on;
* ``retries`` (:class:`~resilient_dask._task_retries.TaskRetries`): per-task ``retry=``;
* ``stories`` (:class:`~resilient_dask._stories.TaskStories`): failed tasks' stories;
* ``lost_data`` (:class:`~resilient_dask._lost_data.LostData`): fetches watching for
  lost keys;
* ``reconnection`` (:class:`~resilient_dask._reconnection.Reconnection`): the reconnect
  loop.

``docs/architecture.md`` draws the same table for readers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any

from resilient_dask._blocking_calls import BlockingCalls
from resilient_dask._client_events import ClientEvents, Deliver, OutgoingGraph
from resilient_dask._compat.port import ClientPort
from resilient_dask._events import emit
from resilient_dask._lineage_service import Lineage
from resilient_dask._lost_data import LostData, LostWatch
from resilient_dask._monitor import ConnectionMonitor
from resilient_dask._outages import Outages, cancel_with
from resilient_dask._reconnection import Connect, Reconnection
from resilient_dask._state_machine import ConnectionState
from resilient_dask._stories import TaskStories
from resilient_dask._task_retries import TaskRetries

__all__ = ["Reactions"]


class Reactions(ClientEvents):
    """The services of one client, told of each upstream event in a fixed order."""

    def __init__(
        self,
        port: ClientPort,
        *,
        monitor: ConnectionMonitor,
        outages: Outages,
        lineage: Lineage,
        calls: BlockingCalls,
        retries: TaskRetries,
        stories: TaskStories,
        lost_data: LostData,
        reconnection: Reconnection,
    ) -> None:
        self._port = port
        self._reconnection = reconnection
        self._monitor = monitor
        self._outages = outages
        self._lineage = lineage
        self._calls = calls
        self._retries = retries
        self._stories = stories
        self._lost_data = lost_data

    # -- the client's life --------------------------------------------------------------

    def started(self) -> None:
        self._monitor.start()

    def blocking_call(
        self, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Awaitable[Any]:
        return self._calls.call(func, args, kwargs)

    def closing(self) -> None:
        """1. remember the address (upstream forgets it); 2. if the user closes: cancel
        what lineage parked; if the reconnect loop gave up: every pending future
        fails with SchedulerConnectionLost."""
        self._port.address()
        if not self._gave_up():
            self._lineage.cancel_parked()
            return
        self._outages.gave_up({**self._lineage.take_parked(), **self._port.states()})

    def closed(self) -> None:
        self._monitor.closed(gave_up=self._gave_up())

    def _gave_up(self) -> bool:
        """Whether the client closes because the reconnect loop gave up (a user may
        close it while it reconnects, too)."""
        return self._monitor.state is ConnectionState.RECONNECTING and self._reconnection.gave_up

    # -- the connection -------------------------------------------------------------------

    def connected(self) -> Awaitable[None]:
        """The stories install their recorder on the scheduler."""
        return self._stories.connected()

    def connection_lost(self) -> None:
        """1. outages record the incident; 2. lineage parks the states (or they are
        cancelled, typed); 3. the monitor moves to RECONNECTING. Runs under the refcount
        lock (see ``ClientHooks._reconnect``)."""
        states = self._port.states()
        incident = self._outages.connection_lost(states)
        if self._lineage.records:
            self._lineage.park(states, lambda key: incident.error([key]))
            what = "kept for replay" if self._lineage.automatic else "cancelled (rc.resubmit())"
        else:
            cancel_with(states, incident)
            what = "cancelled"
        # Concurrency guarantee: the states are cleared before upstream's cancel loop
        # runs, so it cancels nothing of ours with an untyped error.
        states.clear()
        monitor = self._monitor
        monitor.publish(
            monitor.machine.connection_lost(
                f"scheduler comm closed; {incident.affected} futures {what}"
            ),
            futures_cancelled=incident.affected,
        )

    def reconnecting(self, connect: Connect) -> Awaitable[bool]:
        """The reconnect loop (window, backoff, where the scheduler is now)."""
        return self._reconnection.run(connect, lambda: self._port.connecting)

    def reconnect_finished(self) -> None:
        """1. the monitor moves to CONNECTED (or RESUBMITTING); 2. lineage replays."""
        if not self._port.running:
            return
        replay = self._lineage.automatic and bool(self._lineage.parked)
        monitor = self._monitor
        monitor.publish(monitor.machine.reconnected(resubmitting=replay))
        if replay:
            self._lineage.start_replay()

    def scheduler_restarted(self) -> None:
        """1. outages cancel every state (SchedulerRestarted); 2. lineage forgets every
        recipe; 3. the event."""
        states = self._port.states()
        incident = self._outages.scheduler_restarted(states)
        states.clear()
        self._lineage.forget_all()
        emit(
            "scheduler.restarted", address=self._port.address(), futures_cancelled=incident.affected
        )

    def keys_cancelled(self, keys: list[Any], reason: str | None, msg: str | None) -> list[Any]:
        """Only for refusals an earlier incident explains: 1. keys already failed typed
        are done; 2. lineage parks those it will replay after their inputs; 3. outages
        cancel the rest with their root cause; what is left goes to upstream."""
        if not self._outages.explains(reason):
            return keys
        keys = self._outages.not_yet_typed(keys)
        keys = self._lineage.park_refused(keys)
        return self._outages.cancel_refused(keys)

    def report_requested(self, key: Any) -> bool:
        """Not for a key parked for replay: the scheduler does not hold it yet, and its
        "cancelled-keys" answer would cancel the replayed future; the replay reports it."""
        return not self._lineage.will_replay(key)

    # -- graphs and futures -----------------------------------------------------------------

    def graph_sending(
        self, expr: Any, keys: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> OutgoingGraph | None:
        """The replay's own graphs are left alone. Otherwise: 1. outages name the keys
        it reads that an outage destroyed; 2. lineage records it (before it is sent)."""
        if self._lineage.replaying:
            return None
        lost = self._outages.lost_dependencies(expr, self._lineage.will_replay)
        return OutgoingGraph(lost, self._lineage.graph_sending(expr, keys, args, kwargs))

    def graph_not_sent(self, graph: OutgoingGraph) -> None:
        self._lineage.graph_not_sent(graph.recorded)

    def graph_sent(self, graph: OutgoingGraph, futures: dict[Any, Any]) -> None:
        self._outages.fail_readers(futures, graph.lost)

    def key_released(self, key: Any) -> None:
        self._lineage.key_released(key)

    def scattered(
        self, data: Any, futures: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self._lineage.scattered(data, futures, args, kwargs)

    # -- results ----------------------------------------------------------------------------

    def fetch_started(self, keys: Collection[Any]) -> LostWatch:
        return self._lost_data.watch(keys)

    def fetch_ended(self, watch: LostWatch) -> None:
        self._lost_data.unwatch(watch)

    def data_lost(self, key: Any) -> None:
        self._lost_data.lost(key)

    def task_erred(self, key: Any, exception: Any, deliver: Deliver) -> Any:
        """1. a ``retry=`` task may be resubmitted instead (then it is held: None);
        2. its (typed) error is delivered, and its story captured right after."""
        if self._retries.task_erred(key, exception, deliver):
            return None
        self._retries.forget(key)
        return self._stories.task_erred(key, exception)

    def scheduler_info_timeout(self) -> float | None:
        return self._monitor.widget_timeout()
