"""The connection monitor: the state machine, the probe that feeds it, and the cut-off.

:class:`ConnectionMonitor` owns the client's :class:`ConnectionStateMachine`
(pure: events in, transitions out) and everything around it that does I/O or
keeps time in the event loop:

* the probe, which echoes the scheduler every ``probe_interval`` and tells the
  machine whether it answered within ``probe_timeout``;
* the *expiry*: a future that resolves when the scheduler has been silent for
  ``unresponsive_timeout``, which blocking calls wait on beside their own work;
* the *transition* future, which resolves at the next transition (for calls that
  wait for the monitor to notice an outage);
* publishing every transition through :class:`~resilient_dask.connection.Connection`
  (``rc.connection``): history, waiters, callbacks and structlog events.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from distributed.comm.core import CommClosedError

from resilient_dask._compat.port import ClientPort
from resilient_dask._config import Options
from resilient_dask._events import emit
from resilient_dask._state_machine import ConnectionState, ConnectionStateMachine, Transition
from resilient_dask._translate import Situation
from resilient_dask.connection import Connection
from resilient_dask.errors import ErrorContext, SchedulerUnresponsive

logger = logging.getLogger(__name__)


class ConnectionMonitor:
    """Watches the scheduler connection of one client (runs in the client's loop)."""

    def __init__(self, port: ClientPort, options: Options) -> None:
        self._port = port
        self._options = options
        self.machine = ConnectionStateMachine(
            probe_timeout=options.probe_timeout,
            unresponsive_timeout=options.unresponsive_timeout,
        )
        self.connection = Connection(self.machine, address=port.address, loop=port.asyncio_loop)
        #: Whether the client closed because the reconnect loop gave up.
        self.gave_up = False
        self._probe: asyncio.Task[None] | None = None
        self._expiry: asyncio.Future[None] | None = None
        self._expiry_handle: asyncio.TimerHandle | None = None
        self._transition: asyncio.Future[None] | None = None

    # -- what the other services read ---------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self.machine.state

    def situation(self) -> Situation:
        """The connection as it is now, for the errors raised now."""
        machine = self.machine
        state = machine.state
        had_outage = any(t.state is ConnectionState.RECONNECTING for t in machine.history)
        return Situation(
            scheduler=self._port.address(),
            state=state.name,
            reconnected=(
                state in (ConnectionState.CONNECTED, ConnectionState.RESUBMITTING)
                if had_outage
                else None
            ),
            unreachable_for=machine.outage_duration(),
            connected=machine.is_live or state is ConnectionState.RESUBMITTING,
            gave_up=self.gave_up,
        )

    def still_connected(self) -> bool:
        """Whether the client runs and has a scheduler (replay may go on)."""
        return self._port.running and self.machine.state in (
            ConnectionState.RESUBMITTING,
            ConnectionState.CONNECTED,
            ConnectionState.UNRESPONSIVE,
        )

    def widget_timeout(self) -> float | None:
        """How long the notebook widget may wait for the scheduler: None means do not ask."""
        if self.machine.state is not ConnectionState.CONNECTED:
            return None
        return self._options.probe_timeout

    # -- transitions --------------------------------------------------------------------

    def publish(self, transition: Transition | None, **fields: Any) -> None:
        """Announce a transition the machine just made (no-op for None)."""
        if transition is None:
            return
        self.connection.publish(transition, **fields)
        if self._transition is not None and not self._transition.done():
            self._transition.set_result(None)
        if transition.state is ConnectionState.UNRESPONSIVE:
            self._arm_expiry()

    def transition_future(self) -> asyncio.Future[None]:
        """A future that resolves at the next connection transition."""
        if self._transition is None or self._transition.done():
            self._transition = asyncio.get_running_loop().create_future()
        return self._transition

    async def outage_since(self, mark: int) -> bool:
        """Whether the scheduler connection dropped since history entry ``mark``,
        waiting up to one probe (interval + timeout) for the monitor to see it."""
        loop = asyncio.get_running_loop()
        options = self._options
        deadline = loop.time() + options.probe_interval + options.probe_timeout
        while not self.machine.dropped_since(mark):
            remaining = deadline - loop.time()
            if remaining <= 0 or not self._port.running:
                return False
            try:
                await asyncio.wait_for(asyncio.shield(self.transition_future()), remaining)
            except TimeoutError:
                return False
        return True

    def closed(self, *, gave_up: bool) -> None:
        """The client closed: by the user, or because the reconnect loop gave up."""
        self.gave_up = gave_up
        detail = (
            f"gave up reconnecting after {self._port.reconnect_timeout():g} s"
            if gave_up
            else "client closed"
        )
        self.publish(self.machine.closed(detail))
        if self._probe is not None:
            self._probe.cancel()
        if self._expiry_handle is not None:
            self._expiry_handle.cancel()

    # -- the probe ------------------------------------------------------------------------

    def start(self) -> None:
        """Start probing (in the client's loop; again is a no-op)."""
        if self._probe is None:
            self._probe = asyncio.ensure_future(self._probe_loop())

    async def _probe_loop(self) -> None:
        loop = asyncio.get_running_loop()
        options = self._options
        port = self._port
        while not port.closing:
            if port.running and port.scheduler is not None:
                started = loop.time()
                try:
                    await asyncio.wait_for(port.scheduler.echo(), options.probe_timeout)
                except TimeoutError:
                    self.publish(self.machine.probe_timed_out())
                except (OSError, CommClosedError) as exc:
                    self.publish(self.machine.probe_failed(repr(exc)))
                except asyncio.CancelledError:
                    raise
                except Exception:  # pragma: no cover - never let the probe die silently
                    logger.exception("resilient_dask probe failed")
                else:
                    self.publish(self.machine.probe_answered(loop.time() - started))
                self._arm_expiry()
            await asyncio.sleep(options.probe_interval)

    # -- the unresponsive cut-off --------------------------------------------------------

    def expiry_future(self) -> asyncio.Future[None]:
        """The future that resolves when the current unresponsive period runs out."""
        if self._expiry is None or self._expiry.done():
            self._expiry = asyncio.get_running_loop().create_future()
        return self._expiry

    def unresponsive_expired(self) -> bool:
        return self.machine.unresponsive_expired()

    def unresponsive_error(self) -> SchedulerUnresponsive:
        machine = self.machine
        situation = self.situation()
        ctx = ErrorContext(
            scheduler=situation.scheduler,
            happened_at=machine.history[-1].time if machine.history else None,
            state=situation.state,
            reconnected=False,
            details=(
                ("silent_for", machine.silent_for()),
                ("unresponsive_timeout", machine.unresponsive_timeout),
            ),
        )
        return SchedulerUnresponsive(ctx)

    def _arm_expiry(self) -> None:
        """Wake waiting calls when the unresponsive period runs out."""
        deadline = self.machine.unresponsive_deadline()
        if self._expiry_handle is not None:
            self._expiry_handle.cancel()
            self._expiry_handle = None
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, deadline - self.machine.clock.monotonic())
        self._expiry_handle = loop.call_later(delay, self._expire)

    def _expire(self) -> None:
        self._expiry_handle = None
        if not self.machine.unresponsive_expired():
            return
        if self._expiry is not None and not self._expiry.done():
            self._expiry.set_result(None)
        emit(
            "scheduler.unresponsive_timeout",
            address=self._port.address(),
            silent_for=round(self.machine.silent_for(), 3),
        )
