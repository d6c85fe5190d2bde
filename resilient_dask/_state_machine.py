"""The connection state machine: events in, transitions out, no I/O.

The async layer (``_monitor.py``, and the reactions to the client hooks) feeds it what it saw:
a probe answered or timed out, the scheduler comm closed, the client
reconnected or closed. The machine decides the state. It never sleeps or reads a
real clock directly: time comes from an injectable :class:`Clock`, so unit tests
drive it without a cluster and without waiting.

::

   probe timed out / failing for probe_timeout
   CONNECTED ───────────────────────────▶ UNRESPONSIVE
       ▲  ▲ ◀───────── probe answered ──────┘ │
       │  │                                        │ comm closed
       │  └── resubmission finished ─ RESUBMITTING │
       │                                   ▲       ▼
       └──────── reconnected ─────────── RECONNECTING ◀── comm closed (any live state)
                                          (reconnected with lost keys → RESUBMITTING)

   close() or reconnect given up, from any state ──▶ CLOSED (final)
"""

from __future__ import annotations

import dataclasses
import enum
import time
from typing import Protocol


class ConnectionState(enum.Enum):
    """Where the client stands with its scheduler."""

    CONNECTED = "connected"
    UNRESPONSIVE = "unresponsive"
    RECONNECTING = "reconnecting"
    RESUBMITTING = "resubmitting"
    CLOSED = "closed"

    def __str__(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class Transition:
    """One change of state: from ``old`` to ``state`` at wall-clock ``time``."""

    old: ConnectionState
    state: ConnectionState
    time: float
    detail: str

    @property
    def new(self) -> ConnectionState:
        """Alias of ``state``."""
        return self.state


class Clock(Protocol):
    """Where the machine reads time: monotonic for durations, wall for people."""

    def monotonic(self) -> float: ...

    def wall(self) -> float: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


_LIVE = (ConnectionState.CONNECTED, ConnectionState.UNRESPONSIVE)


class ConnectionStateMachine:
    """Decides the connection state from what the I/O layer observed.

    Each event method returns the :class:`Transition` it caused, or ``None``
    when the event does not change the state.
    """

    def __init__(
        self,
        *,
        probe_timeout: float,
        unresponsive_timeout: float,
        clock: Clock | None = None,
    ) -> None:
        self.probe_timeout = probe_timeout
        self.unresponsive_timeout = unresponsive_timeout
        self.clock: Clock = clock or SystemClock()
        self.state = ConnectionState.CONNECTED
        self.history: list[Transition] = []
        #: Last probe round trip in seconds, None before the first one.
        self.latency: float | None = None
        #: Monotonic time of the last sign of life from the scheduler.
        self.last_answer = self.clock.monotonic()
        #: Monotonic time the current outage started (comm closed), else None.
        self.lost_since: float | None = None

    # -- events -----------------------------------------------------------

    def probe_answered(self, rtt: float) -> Transition | None:
        """A probe came back after ``rtt`` seconds."""
        self.latency = rtt
        self.last_answer = self.clock.monotonic()
        if self.state is ConnectionState.UNRESPONSIVE:
            return self._move(
                ConnectionState.CONNECTED, f"scheduler answered again (round trip {rtt:.3f} s)"
            )
        return None

    def probe_timed_out(self) -> Transition | None:
        """A probe got no answer within ``probe_timeout``."""
        if self.state is ConnectionState.CONNECTED:
            return self._move(
                ConnectionState.UNRESPONSIVE,
                f"no probe answer within probe_timeout={self.probe_timeout:g} s",
            )
        return None

    def probe_failed(self, error: str) -> Transition | None:
        """A probe failed outright (connection refused or reset).

        A refused or reset probe usually means the scheduler process is gone, and
        the client's stream will report that in a moment (RECONNECTING). Only when
        probes have kept failing for ``probe_timeout`` while the stream stays
        open is the scheduler UNRESPONSIVE.
        """
        if self.state is ConnectionState.CONNECTED and self.silent_for() >= self.probe_timeout:
            return self._move(
                ConnectionState.UNRESPONSIVE,
                f"no probe answer for {self.silent_for():.1f} s; last error: {error}",
            )
        return None

    def connection_lost(self, detail: str = "scheduler comm closed") -> Transition | None:
        """The client's stream to the scheduler closed."""
        if self.state in (ConnectionState.CLOSED, ConnectionState.RECONNECTING):
            return None
        self.lost_since = self.clock.monotonic()
        return self._move(ConnectionState.RECONNECTING, detail)

    def reconnected(self, *, resubmitting: bool = False, detail: str = "") -> Transition | None:
        """The client has a working stream again (to the same or a new scheduler)."""
        if self.state is not ConnectionState.RECONNECTING:
            return None
        outage = self.outage_duration()
        self.lost_since = None
        self.last_answer = self.clock.monotonic()
        text = detail or (f"reconnected after {outage:.1f} s" if outage else "reconnected")
        target = ConnectionState.RESUBMITTING if resubmitting else ConnectionState.CONNECTED
        return self._move(target, text)

    def resubmission_finished(self, detail: str = "lineage replayed") -> Transition | None:
        """Lineage replay after a reconnect is over (done or given up)."""
        if self.state is ConnectionState.RESUBMITTING:
            return self._move(ConnectionState.CONNECTED, detail)
        return None

    def closed(self, detail: str = "client closed") -> Transition | None:
        """The client closed, or gave up reconnecting."""
        if self.state is ConnectionState.CLOSED:
            return None
        return self._move(ConnectionState.CLOSED, detail)

    # -- questions ----------------------------------------------------------

    @property
    def is_live(self) -> bool:
        """Whether the client has a stream to a scheduler (answering or not)."""
        return self.state in _LIVE

    def silent_for(self) -> float:
        """Seconds since the scheduler last answered."""
        return max(0.0, self.clock.monotonic() - self.last_answer)

    def outage_duration(self) -> float | None:
        """Seconds since the stream closed, or None when it is open."""
        if self.lost_since is None:
            return None
        return max(0.0, self.clock.monotonic() - self.lost_since)

    def dropped_since(self, mark: int) -> bool:
        """Whether the stream to the scheduler is closed now, or closed at or after
        ``history[mark]`` (and was perhaps opened again since)."""
        dropped = (ConnectionState.RECONNECTING, ConnectionState.CLOSED)
        return self.state in dropped or any(t.state in dropped for t in self.history[mark:])

    def unresponsive_deadline(self) -> float | None:
        """Monotonic time at which waiting calls must give up, while UNRESPONSIVE."""
        if self.state is not ConnectionState.UNRESPONSIVE:
            return None
        return self.last_answer + self.unresponsive_timeout

    def unresponsive_expired(self) -> bool:
        """Whether blocking calls must now raise SchedulerUnresponsive."""
        deadline = self.unresponsive_deadline()
        return deadline is not None and self.clock.monotonic() >= deadline

    # -- internals ----------------------------------------------------------

    def _move(self, new: ConnectionState, detail: str) -> Transition:
        transition = Transition(self.state, new, self.clock.wall(), detail)
        self.state = new
        self.history.append(transition)
        return transition
