"""``rc.connection``: the client's view of its scheduler connection.

The state itself is decided by :class:`~resilient_dask._state_machine.ConnectionStateMachine`;
this module publishes it: the current state, the history of transitions, the last
probe latency, waiting for a state, and callbacks on every change.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from resilient_dask._events import emit, transition_event
from resilient_dask._state_machine import ConnectionState, ConnectionStateMachine, Transition
from resilient_dask.errors import ClientClosed, ErrorContext

__all__ = ["Connection", "ConnectionState", "Outage", "Subscription", "Transition", "outages"]

logger = logging.getLogger(__name__)

_LABEL = {
    ConnectionState.UNRESPONSIVE: "scheduler unresponsive",
    ConnectionState.RECONNECTING: "connection lost",
    ConnectionState.RESUBMITTING: "connection lost, lineage replayed",
}
# How bad each state is, to name an outage after the worst state it reached.
_SEVERITY = {
    ConnectionState.UNRESPONSIVE: 1,
    ConnectionState.RECONNECTING: 2,
    ConnectionState.RESUBMITTING: 3,
}


@dataclasses.dataclass(frozen=True)
class Outage:
    """One stretch of time away from CONNECTED.

    ``ended`` is None while the outage goes on; ``closed`` is True when it ended
    with the client closing (or giving up) rather than recovering.
    """

    started: float
    ended: float | None
    worst: ConnectionState
    detail: str
    closed: bool = False

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None while it goes on."""
        return None if self.ended is None else self.ended - self.started

    @property
    def description(self) -> str:
        """What happened, in a few words."""
        text = _LABEL[self.worst]
        return f"{text}; client closed" if self.closed else text


def outages(history: Sequence[Transition]) -> list[Outage]:
    """Group connection transitions into outages, oldest first.

    An outage starts when the client leaves CONNECTED for UNRESPONSIVE or
    RECONNECTING and ends at the next return to CONNECTED, or at CLOSED.
    """
    found: list[Outage] = []
    start: Transition | None = None
    worst = ConnectionState.UNRESPONSIVE
    for transition in history:
        if transition.state in _SEVERITY:
            if start is None:
                start, worst = transition, transition.state
            elif _SEVERITY[transition.state] > _SEVERITY[worst]:
                worst = transition.state
        elif start is not None:
            closed = transition.state is ConnectionState.CLOSED
            found.append(Outage(start.time, transition.time, worst, start.detail, closed))
            start = None
    if start is not None:
        found.append(Outage(start.time, None, worst, start.detail))
    return found


ConnectionCallback = Callable[[ConnectionState, ConnectionState, str], Any]


class Subscription:
    """Handle returned by ``rc.on_connection_change``; call :meth:`unsubscribe` to stop."""

    def __init__(self, connection: Connection, callback: ConnectionCallback) -> None:
        self._connection = connection
        self.callback = callback

    def unsubscribe(self) -> None:
        """Stop calling the callback (idempotent)."""
        self._connection._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unsubscribe()


class Connection:
    """Connection state, history and latency of one ResilientClient.

    Transitions are applied in the client's event loop; every public attribute
    is safe to read from any thread.
    """

    def __init__(
        self,
        machine: ConnectionStateMachine,
        *,
        address: Callable[[], str | None],
        loop: Callable[[], asyncio.AbstractEventLoop | None],
    ) -> None:
        self._machine = machine
        self._address = address
        self._loop = loop
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._subscriptions: list[Subscription] = []
        self._async_waiters: list[tuple[ConnectionState, asyncio.Future[Transition | None]]] = []

    # -- what users read --------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """The current :class:`ConnectionState`."""
        return self._machine.state

    @property
    def history(self) -> list[Transition]:
        """Every transition since the client started, oldest first (a copy)."""
        with self._lock:
            return list(self._machine.history)

    @property
    def outages(self) -> list[Outage]:
        """Every stretch of time away from CONNECTED since the client started, oldest first."""
        return outages(self.history)

    @property
    def latency(self) -> float | None:
        """Round trip of the last answered probe, in seconds (None before the first)."""
        return self._machine.latency

    @property
    def address(self) -> str | None:
        """The scheduler address the client talks to."""
        return self._address()

    def wait_for(
        self, state: ConnectionState, timeout: float | None = None
    ) -> Transition | Awaitable[Transition | None] | None:
        """Block until the connection is in ``state``; awaitable inside the client's loop.

        Returns the transition that reached the state (``None`` if it already was
        in it). Raises ``TimeoutError`` after ``timeout`` seconds, and
        :class:`~resilient_dask.errors.ClientClosed` at once when the client closes
        (it gave up reconnecting, or was closed) unless ``state`` is CLOSED.
        """
        if not isinstance(state, ConnectionState):
            raise TypeError(f"wait_for() takes a ConnectionState, got {state!r}")
        loop = self._loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is loop:
            return self._wait_async(state, timeout)
        ends = (state, ConnectionState.CLOSED)
        with self._changed:
            # Read the history length before the state: the machine moves in the
            # loop thread, and a transition between the two reads must not be missed.
            start = len(self._machine.history)
            if self._machine.state is state:
                return None
            if self._machine.state is ConnectionState.CLOSED:
                raise self._closed_error(state, self._machine.history[-1])
            found = self._changed.wait_for(
                lambda: any(t.state in ends for t in self._machine.history[start:]),
                timeout=timeout,
            )
            if not found:
                raise TimeoutError(
                    f"connection did not reach {state} within {timeout} s "
                    f"(it is {self._machine.state})"
                )
            reached = next(t for t in self._machine.history[start:] if t.state in ends)
        if reached.state is not state:
            raise self._closed_error(state, reached)
        return reached

    async def _wait_async(self, state: ConnectionState, timeout: float | None) -> Transition | None:
        if self._machine.state is state:
            return None
        if self._machine.state is ConnectionState.CLOSED:
            raise self._closed_error(state, self._machine.history[-1])
        waiter: asyncio.Future[Transition | None] = asyncio.get_running_loop().create_future()
        entry = (state, waiter)
        self._async_waiters.append(entry)
        try:
            reached = await asyncio.wait_for(waiter, timeout)
            if reached is not None and reached.state is not state:
                raise self._closed_error(state, reached)
            return reached
        except TimeoutError:
            raise TimeoutError(
                f"connection did not reach {state} within {timeout} s (it is {self._machine.state})"
            ) from None
        finally:
            if entry in self._async_waiters:
                self._async_waiters.remove(entry)

    def _closed_error(self, state: ConnectionState, closing: Transition) -> ClientClosed:
        context = ErrorContext(
            scheduler=self._address(),
            happened_at=closing.time,
            state=ConnectionState.CLOSED.name,
            details=(("closed", closing.detail),),
        )
        return ClientClosed(
            context,
            f"The client closed ({closing.detail}) while waiting for the connection to be "
            f"{state.name}; it never will be.",
        )

    def subscribe(self, callback: ConnectionCallback) -> Subscription:
        """Call ``callback(old, new, detail)`` on every transition (in the client's loop)."""
        if not callable(callback):
            raise TypeError(f"on_connection_change() takes a callable, got {callback!r}")
        subscription = Subscription(self, callback)
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    # -- fed by the client ----------------------------------------------------------

    def publish(self, transition: Transition | None, **fields: Any) -> Transition | None:
        """Announce a transition the machine just made (no-op for ``None``)."""
        if transition is None:
            return None
        with self._changed:
            self._changed.notify_all()
            subscriptions = list(self._subscriptions)
        closed = transition.state is ConnectionState.CLOSED
        for state, waiter in list(self._async_waiters):
            if (closed or state is transition.state) and not waiter.done():
                waiter.set_result(transition)
        emit(
            transition_event(transition),
            address=self._address(),
            old=transition.old.name,
            new=transition.state.name,
            detail=transition.detail,
            **fields,
        )
        for subscription in subscriptions:
            try:
                subscription.callback(transition.old, transition.state, transition.detail)
            except Exception:
                logger.exception("connection callback %r failed", subscription.callback)
        return transition

    def __repr__(self) -> str:
        latency = f"{self.latency * 1000:.1f} ms" if self.latency is not None else "n/a"
        return f"<Connection {self.state} to {self.address} latency={latency}>"
