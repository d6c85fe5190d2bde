"""The connection state machine and ``Connection``, driven by hand: no cluster, no sleeps.

Time comes from :class:`FakeClock`, advanced explicitly; the machine is fed the
events the I/O layer would report and must follow the diagram in the docstring of
``resilient_dask._state_machine``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, SupportsIndex, overload

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilient_dask._events import TRANSITION_EVENTS
from resilient_dask._state_machine import ConnectionState, ConnectionStateMachine, Transition
from resilient_dask.connection import Connection
from resilient_dask.testing import capture_events

pytestmark = pytest.mark.timeout(20)

S = ConnectionState
PROBE_TIMEOUT = 5.0
UNRESPONSIVE_TIMEOUT = 60.0
START_MONOTONIC = 1000.0
START_WALL = 1_700_000_000.0
ADDRESS = "tcp://127.0.0.1:8786"


class FakeClock:
    """A clock that only moves when told to (monotonic and wall time move together)."""

    def __init__(self) -> None:
        self.now = START_MONOTONIC
        self.wall_now = START_WALL

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.wall_now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall_now += seconds

    def advance_to(self, monotonic: float) -> None:
        self.wall_now += monotonic - self.now
        self.now = monotonic


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def machine(clock: FakeClock) -> ConnectionStateMachine:
    return new_machine(clock)


def new_machine(clock: FakeClock) -> ConnectionStateMachine:
    return ConnectionStateMachine(
        probe_timeout=PROBE_TIMEOUT, unresponsive_timeout=UNRESPONSIVE_TIMEOUT, clock=clock
    )


def new_connection(machine: ConnectionStateMachine) -> Connection:
    return Connection(machine, address=lambda: ADDRESS, loop=lambda: None)


# -- events and how to reach each state ----------------------------------------------

Event = Callable[[ConnectionStateMachine], "Transition | None"]

EVENTS: dict[str, Event] = {
    "probe_answered": lambda m: m.probe_answered(0.25),
    "probe_timed_out": lambda m: m.probe_timed_out(),
    "probe_failed": lambda m: m.probe_failed("ConnectionRefusedError()"),
    "connection_lost": lambda m: m.connection_lost(),
    "reconnected": lambda m: m.reconnected(),
    "reconnected_resubmitting": lambda m: m.reconnected(resubmitting=True),
    "resubmission_finished": lambda m: m.resubmission_finished(),
    "closed": lambda m: m.closed(),
}

#: Events that bring a fresh (CONNECTED) machine into each state.
PATHS: dict[ConnectionState, tuple[str, ...]] = {
    S.CONNECTED: (),
    S.UNRESPONSIVE: ("probe_timed_out",),
    S.RECONNECTING: ("connection_lost",),
    S.RESUBMITTING: ("connection_lost", "reconnected_resubmitting"),
    S.CLOSED: ("closed",),
}

#: Every arrow of the module docstring's diagram: (from, event) -> to.
DIAGRAM: dict[tuple[ConnectionState, str], ConnectionState] = {
    (S.CONNECTED, "probe_timed_out"): S.UNRESPONSIVE,
    (S.UNRESPONSIVE, "probe_answered"): S.CONNECTED,
    (S.CONNECTED, "connection_lost"): S.RECONNECTING,
    (S.UNRESPONSIVE, "connection_lost"): S.RECONNECTING,
    (S.RESUBMITTING, "connection_lost"): S.RECONNECTING,
    (S.RECONNECTING, "reconnected"): S.CONNECTED,
    (S.RECONNECTING, "reconnected_resubmitting"): S.RESUBMITTING,
    (S.RESUBMITTING, "resubmission_finished"): S.CONNECTED,
    **{(state, "closed"): S.CLOSED for state in S if state is not S.CLOSED},
}

#: (state, event) pairs that must leave the state as it is.
NO_CHANGE: list[tuple[ConnectionState, str]] = [
    (S.CONNECTED, "probe_answered"),
    # A refused/reset probe right after an answer: the stream will report the loss.
    (S.CONNECTED, "probe_failed"),
    (S.CONNECTED, "resubmission_finished"),
    (S.CONNECTED, "reconnected"),
    (S.UNRESPONSIVE, "probe_timed_out"),
    (S.UNRESPONSIVE, "probe_failed"),
    (S.UNRESPONSIVE, "resubmission_finished"),
    (S.RECONNECTING, "probe_timed_out"),
    (S.RECONNECTING, "probe_failed"),
    (S.RECONNECTING, "probe_answered"),
    (S.RECONNECTING, "connection_lost"),
    (S.RECONNECTING, "resubmission_finished"),
    (S.RESUBMITTING, "probe_timed_out"),
    (S.RESUBMITTING, "probe_failed"),
    (S.RESUBMITTING, "reconnected_resubmitting"),
    *((S.CLOSED, event) for event in EVENTS),
]


def drive_to(machine: ConnectionStateMachine, state: ConnectionState) -> None:
    for event in PATHS[state]:
        EVENTS[event](machine)
    assert machine.state is state


def pair_id(pair: tuple[ConnectionState, str]) -> str:
    return f"{pair[1]}-while-{pair[0].name}"


def event_leading(old: ConnectionState, new: ConnectionState) -> str:
    """The event that moves the machine from ``old`` to ``new`` in the diagram."""
    return next(event for (start, event), end in DIAGRAM.items() if (start, end) == (old, new))


# -- transitions ---------------------------------------------------------------------


def test_a_new_machine_is_connected_with_empty_history(machine: ConnectionStateMachine) -> None:
    """A fresh machine starts CONNECTED, with no history and no latency yet."""
    assert (machine.state, machine.history, machine.latency) == (S.CONNECTED, [], None)


@pytest.mark.parametrize(("start", "event"), list(DIAGRAM), ids=[pair_id(p) for p in DIAGRAM])
def test_diagram_transition(
    machine: ConnectionStateMachine, clock: FakeClock, start: ConnectionState, event: str
) -> None:
    """Each arrow of the diagram moves the machine and returns and records its Transition."""
    drive_to(machine, start)
    before = list(machine.history)
    clock.advance(3.0)
    transition = EVENTS[event](machine)
    target = DIAGRAM[(start, event)]
    assert transition is not None
    assert (transition.old, transition.state, transition.time) == (start, target, clock.wall())
    assert machine.state is target
    assert machine.history == [*before, transition]


@pytest.mark.parametrize(("start", "event"), NO_CHANGE, ids=[pair_id(p) for p in NO_CHANGE])
def test_event_that_does_not_change_state(
    machine: ConnectionStateMachine, start: ConnectionState, event: str
) -> None:
    """Events outside the diagram return None and leave state and history untouched."""
    drive_to(machine, start)
    before = list(machine.history)
    assert EVENTS[event](machine) is None
    assert machine.state is start
    assert machine.history == before


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(EVENTS)), max_size=30))
def test_history_is_the_chain_of_returned_transitions(events: list[str]) -> None:
    """For any event sequence, history is exactly the returned transitions, each starting
    where the previous one ended, and nothing leaves CLOSED."""
    machine = new_machine(FakeClock())
    returned: list[Transition] = []
    for event in events:
        before = machine.state
        transition = EVENTS[event](machine)
        if before is S.CLOSED:
            assert transition is None
        if transition is not None:
            assert transition.old is before
            assert transition.state is machine.state
            returned.append(transition)
        else:
            assert machine.state is before
    assert machine.history == returned


def test_transition_new_is_an_alias_of_state(machine: ConnectionStateMachine) -> None:
    """``Transition.new`` is the state the transition moved to."""
    transition = machine.connection_lost()
    assert transition is not None
    assert transition.new is transition.state is S.RECONNECTING


def test_history_records_old_state_new_state_wall_time_and_detail(
    machine: ConnectionStateMachine, clock: FakeClock
) -> None:
    """Every history entry has the old and new state, the fake wall time and a telling detail."""
    clock.advance(1.0)
    machine.probe_timed_out()
    clock.advance(1.0)
    machine.probe_answered(0.25)
    clock.advance(PROBE_TIMEOUT)
    machine.probe_failed("ConnectionResetError(104)")
    clock.advance(1.0)
    machine.connection_lost("stream closed by peer")
    clock.advance(3.0)
    machine.reconnected()
    clock.advance(1.0)
    machine.closed()

    h = PROBE_TIMEOUT
    assert [(t.old, t.state, t.time) for t in machine.history] == [
        (S.CONNECTED, S.UNRESPONSIVE, START_WALL + 1),
        (S.UNRESPONSIVE, S.CONNECTED, START_WALL + 2),
        (S.CONNECTED, S.UNRESPONSIVE, START_WALL + 2 + h),
        (S.UNRESPONSIVE, S.RECONNECTING, START_WALL + 3 + h),
        (S.RECONNECTING, S.CONNECTED, START_WALL + 6 + h),
        (S.CONNECTED, S.CLOSED, START_WALL + 7 + h),
    ]
    details = [t.detail for t in machine.history]
    assert "probe_timeout=5 s" in details[0]
    assert "0.250 s" in details[1]
    assert "ConnectionResetError(104)" in details[2]
    assert details[3] == "stream closed by peer"
    assert "reconnected after 3.0 s" in details[4]
    assert details[5] == "client closed"


def test_failing_probes_mean_unresponsive_only_after_probe_timeout(
    machine: ConnectionStateMachine, clock: FakeClock
) -> None:
    """Refused probes change nothing until the scheduler has been silent for probe_timeout."""
    machine.probe_answered(0.1)
    clock.advance(PROBE_TIMEOUT - 0.001)
    assert machine.probe_failed("ConnectionRefusedError()") is None
    assert machine.state is S.CONNECTED
    clock.advance(0.001)
    transition = machine.probe_failed("ConnectionRefusedError()")
    assert transition is not None and transition.state is S.UNRESPONSIVE
    assert "ConnectionRefusedError()" in transition.detail


# -- latency, silence, deadlines, outages --------------------------------------------


def test_latency_is_the_last_round_trip(machine: ConnectionStateMachine) -> None:
    """``latency`` is the round trip of the most recent answered probe."""
    machine.probe_answered(0.5)
    machine.probe_answered(0.125)
    assert machine.latency == 0.125


def test_a_timed_out_probe_keeps_the_last_latency(machine: ConnectionStateMachine) -> None:
    """A probe without an answer does not overwrite the last measured latency."""
    machine.probe_answered(0.125)
    machine.probe_timed_out()
    assert machine.latency == 0.125


def test_silent_for_counts_from_the_last_answer(
    machine: ConnectionStateMachine, clock: FakeClock
) -> None:
    """``silent_for()`` is the time since the scheduler last answered, reset by an answer."""
    assert machine.silent_for() == 0.0
    clock.advance(7.0)
    assert machine.silent_for() == 7.0
    machine.probe_answered(0.25)
    assert machine.silent_for() == 0.0
    clock.advance(2.0)
    assert machine.silent_for() == 2.0


def test_reconnecting_resets_silent_for(machine: ConnectionStateMachine, clock: FakeClock) -> None:
    """A reconnect counts as a sign of life: ``silent_for()`` starts again from zero."""
    machine.connection_lost()
    clock.advance(9.0)
    machine.reconnected()
    assert machine.silent_for() == 0.0


@pytest.mark.parametrize("state", [s for s in S if s is not S.UNRESPONSIVE], ids=str)
def test_no_unresponsive_deadline_outside_unresponsive(
    machine: ConnectionStateMachine, clock: FakeClock, state: ConnectionState
) -> None:
    """Only an UNRESPONSIVE scheduler has a deadline, however long it has been silent."""
    drive_to(machine, state)
    clock.advance(10 * UNRESPONSIVE_TIMEOUT)
    assert machine.unresponsive_deadline() is None
    assert not machine.unresponsive_expired()


def test_unresponsive_deadline_counts_from_the_last_answer(
    machine: ConnectionStateMachine, clock: FakeClock
) -> None:
    """The deadline is the last answer plus ``unresponsive_timeout``, not the timeout moment."""
    clock.advance(10.0)
    machine.probe_answered(0.25)
    clock.advance(PROBE_TIMEOUT)
    machine.probe_timed_out()
    assert machine.unresponsive_deadline() == START_MONOTONIC + 10.0 + UNRESPONSIVE_TIMEOUT


def test_unresponsive_not_expired_just_before_the_deadline(
    machine: ConnectionStateMachine, clock: FakeClock
) -> None:
    """One millisecond before the deadline, blocking calls may still wait."""
    machine.probe_timed_out()
    deadline = machine.unresponsive_deadline()
    assert deadline is not None
    clock.advance_to(deadline - 0.001)
    assert not machine.unresponsive_expired()


def test_unresponsive_expired_exactly_at_the_deadline(
    machine: ConnectionStateMachine, clock: FakeClock
) -> None:
    """At the deadline itself, blocking calls must give up."""
    machine.probe_timed_out()
    deadline = machine.unresponsive_deadline()
    assert deadline is not None
    clock.advance_to(deadline)
    assert machine.unresponsive_expired()


def test_an_answer_cancels_the_unresponsive_deadline(
    machine: ConnectionStateMachine, clock: FakeClock
) -> None:
    """Once the scheduler answers again, nothing expires any more."""
    machine.probe_timed_out()
    machine.probe_answered(0.25)
    clock.advance(10 * UNRESPONSIVE_TIMEOUT)
    assert machine.unresponsive_deadline() is None
    assert not machine.unresponsive_expired()


def test_outage_duration_runs_from_connection_lost_until_reconnected(
    machine: ConnectionStateMachine, clock: FakeClock
) -> None:
    """``outage_duration()`` is None while connected and counts seconds since the comm closed."""
    assert machine.outage_duration() is None
    clock.advance(2.0)
    machine.connection_lost()
    clock.advance(4.5)
    assert machine.outage_duration() == 4.5
    machine.reconnected()
    assert machine.outage_duration() is None


def test_a_second_connection_lost_does_not_restart_the_outage(
    machine: ConnectionStateMachine, clock: FakeClock
) -> None:
    """A repeated comm-closed report keeps the outage's original start."""
    machine.connection_lost()
    clock.advance(3.0)
    machine.connection_lost()
    clock.advance(1.0)
    assert machine.outage_duration() == 4.0


def test_reconnected_detail_names_the_outage_duration(
    machine: ConnectionStateMachine, clock: FakeClock
) -> None:
    """The reconnect transition says how long the outage lasted."""
    machine.connection_lost()
    clock.advance(12.25)
    transition = machine.reconnected()
    assert transition is not None
    assert transition.detail == "reconnected after 12.2 s"


# -- Connection: subscribers ---------------------------------------------------------


@pytest.fixture
def connection(machine: ConnectionStateMachine) -> Connection:
    return new_connection(machine)


class Recorder:
    """A connection callback that records its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[ConnectionState, ConnectionState, str]] = []

    def __call__(self, old: ConnectionState, new: ConnectionState, detail: str) -> None:
        self.calls.append((old, new, detail))


def test_publish_notifies_subscribers_with_old_new_and_detail(
    machine: ConnectionStateMachine, connection: Connection
) -> None:
    """Every subscriber gets ``(old, new, detail)`` of a published transition."""
    first, second = Recorder(), Recorder()
    connection.subscribe(first)
    connection.subscribe(second)
    connection.publish(machine.connection_lost("comm closed"))
    expected = [(S.CONNECTED, S.RECONNECTING, "comm closed")]
    assert (first.calls, second.calls) == (expected, expected)


def test_publish_of_no_transition_notifies_nobody(connection: Connection) -> None:
    """Publishing None (an event that changed nothing) calls no subscriber."""
    recorder = Recorder()
    connection.subscribe(recorder)
    assert connection.publish(None) is None
    assert recorder.calls == []


def test_unsubscribe_stops_the_callback(
    machine: ConnectionStateMachine, connection: Connection
) -> None:
    """After ``unsubscribe()`` (called twice: it is idempotent) the callback is not called."""
    recorder = Recorder()
    subscription = connection.subscribe(recorder)
    connection.publish(machine.probe_timed_out())
    subscription.unsubscribe()
    subscription.unsubscribe()
    connection.publish(machine.probe_answered(0.25))
    assert [new for _, new, _ in recorder.calls] == [S.UNRESPONSIVE]


def test_a_raising_callback_does_not_stop_the_others(
    machine: ConnectionStateMachine, connection: Connection
) -> None:
    """A callback that raises is logged and skipped; later callbacks still run."""

    def explode(old: ConnectionState, new: ConnectionState, detail: str) -> None:
        raise RuntimeError("callback bug")

    recorder = Recorder()
    connection.subscribe(explode)
    connection.subscribe(recorder)
    transition = connection.publish(machine.connection_lost())
    assert transition is not None
    assert recorder.calls == [(S.CONNECTED, S.RECONNECTING, transition.detail)]


# -- Connection: wait_for ------------------------------------------------------------


class ObservedHistory(list[Transition]):
    """``machine.history`` that reports how ``Connection.wait_for`` reads it.

    ``on_first_read`` runs at the first read of any kind; ``scanned`` is set when a
    slice is taken, which wait_for does (holding the connection's lock) to look
    for the awaited state among transitions made since it started.
    """

    def __init__(self, on_first_read: Callable[[], Any] = lambda: None) -> None:
        super().__init__()
        self.scanned = threading.Event()
        self._on_first_read: Callable[[], Any] | None = on_first_read

    def _reading(self) -> None:
        hook, self._on_first_read = self._on_first_read, None
        if hook is not None:
            hook()

    def __len__(self) -> int:
        self._reading()
        return super().__len__()

    def __iter__(self) -> Iterator[Transition]:
        self._reading()
        return super().__iter__()

    @overload
    def __getitem__(self, index: SupportsIndex) -> Transition: ...

    @overload
    def __getitem__(self, index: slice) -> list[Transition]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> Transition | list[Transition]:
        self._reading()
        if isinstance(index, slice):
            self.scanned.set()
        return super().__getitem__(index)


def test_wait_for_from_another_thread_returns_the_published_transition(
    machine: ConnectionStateMachine, connection: Connection
) -> None:
    """A thread blocked in ``wait_for(state)`` gets the transition once it is published."""
    history = machine.history = ObservedHistory()
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(connection.wait_for, S.RECONNECTING, 10)
        # wait_for scans the history holding the connection's lock, then blocks;
        # publish() needs that lock, so its notification reaches a blocked waiter.
        assert history.scanned.wait(10), "wait_for never scanned the history"
        transition = connection.publish(machine.connection_lost())
        assert waiting.result(timeout=10) == transition


def test_wait_for_sees_a_transition_made_as_it_starts(
    machine: ConnectionStateMachine, connection: Connection
) -> None:
    """``wait_for(state)`` returns when the machine reaches the state while wait_for is
    starting (after its first look at the state, before it blocks), as happens when the
    client's loop thread moves the machine concurrently."""
    made: list[Transition | None] = []
    machine.history = ObservedHistory(lambda: made.append(machine.connection_lost()))
    result = connection.wait_for(S.RECONNECTING, timeout=1)
    assert machine.state is S.RECONNECTING
    # Either answer is right by the docstring: None ("already in it") or the transition.
    assert result in (None, made[0])


def test_wait_for_returns_none_when_already_in_the_state(connection: Connection) -> None:
    """Waiting for the current state returns None at once."""
    assert connection.wait_for(S.CONNECTED, timeout=1) is None


def test_wait_for_times_out_naming_the_state(connection: Connection) -> None:
    """Without the transition, ``wait_for`` raises TimeoutError naming the awaited state."""
    with pytest.raises(TimeoutError, match=r"RECONNECTING within 0\.2 s"):
        connection.wait_for(S.RECONNECTING, timeout=0.2)


# -- Connection: events --------------------------------------------------------------


def test_every_diagram_arrow_has_an_event_name() -> None:
    """TRANSITION_EVENTS names exactly the diagram's arrows (moves to CLOSED are client.closed)."""
    arrows = {(start, end) for (start, _), end in DIAGRAM.items() if end is not S.CLOSED}
    assert set(TRANSITION_EVENTS) == arrows


@pytest.mark.parametrize(
    ("arrow", "name"),
    [
        *TRANSITION_EVENTS.items(),
        *(((s, S.CLOSED), "client.closed") for s in S if s is not S.CLOSED),
    ],
    ids=lambda v: f"{v[0]}->{v[1]}" if isinstance(v, tuple) else str(v),
)
def test_publish_emits_the_transition_event(
    machine: ConnectionStateMachine,
    connection: Connection,
    arrow: tuple[ConnectionState, ConnectionState],
    name: str,
) -> None:
    """Each published transition emits one event with its name, address, states and detail."""
    old, new = arrow
    drive_to(machine, old)
    with capture_events() as events:
        transition = connection.publish(EVENTS[event_leading(old, new)](machine), futures=3)
    assert transition is not None
    assert events == [
        {
            "event": name,
            "address": ADDRESS,
            "old": old.name,
            "new": new.name,
            "detail": transition.detail,
            "futures": 3,
        }
    ]


def test_dropped_since_sees_an_outage_after_the_mark_even_once_reconnected(
    machine: ConnectionStateMachine,
) -> None:
    """dropped_since(mark): closed now, or closed after history[mark] and reopened since."""
    mark = len(machine.history)
    assert not machine.dropped_since(mark)
    machine.connection_lost()
    assert machine.dropped_since(mark)
    machine.reconnected(resubmitting=True)
    machine.resubmission_finished()
    assert machine.state is S.CONNECTED
    assert machine.dropped_since(mark)
    assert not machine.dropped_since(len(machine.history))
    machine.closed()
    assert machine.dropped_since(len(machine.history))
