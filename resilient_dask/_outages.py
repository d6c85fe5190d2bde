"""Outages: what an outage or a restart cancelled, and the errors that name it.

:class:`Outages` owns the client's :class:`~resilient_dask._incidents.IncidentLog`.
It cancels futures with typed errors when the connection drops, the scheduler
restarts or the client gives up, and later names the root cause: a new graph
that reads a key an outage destroyed fails at once with that outage's error, and
so does a key the scheduler refuses for lost dependencies. Every error the client
raises is translated here (:meth:`Outages.translate`), against the connection as
it is at that moment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from distributed.client import FutureState

from resilient_dask import _compat
from resilient_dask._compat.port import ClientPort
from resilient_dask._incidents import Incident, IncidentLog
from resilient_dask._monitor import ConnectionMonitor
from resilient_dask._translate import translate
from resilient_dask.errors import ResilientDaskError, SchedulerConnectionLost, SchedulerRestarted

#: Cancellation reasons of the scheduler whose root cause an earlier incident may be.
ROOT_CAUSE_REASONS = ("lost dependencies", "already forgotten")


class Outages:
    """The incidents of one client and the typed errors they explain."""

    def __init__(self, port: ClientPort, monitor: ConnectionMonitor) -> None:
        self._port = port
        self._monitor = monitor
        self.incidents = IncidentLog()

    def translate(self, exc: BaseException, keys: Sequence[Any] | None = None) -> BaseException:
        """The typed error for ``exc`` as of now (``exc`` itself if it has none)."""
        return translate(exc, self._monitor.situation(), self.incidents, keys)

    # -- incidents ------------------------------------------------------------------------

    def connection_lost(self, states: dict[Any, FutureState]) -> Incident:
        """Record that the connection dropped while the client held ``states``."""
        return self.incidents.record(
            SchedulerConnectionLost,
            states,
            self._port.address(),
            "the connection to the scheduler dropped",
        )

    def scheduler_restarted(self, states: dict[Any, FutureState]) -> Incident:
        """Cancel ``states``: ``restart()`` forgot every key."""
        incident = self.incidents.record(
            SchedulerRestarted, states, self._port.address(), "the scheduler was restarted"
        )
        cancel_with(states, incident)
        return incident

    def gave_up(self, states: dict[Any, FutureState]) -> None:
        """Cancel ``states``: the client gave up reconnecting, they can never finish."""
        if states:
            incident = self.incidents.record(
                SchedulerConnectionLost,
                states,
                self._port.address(),
                "the client gave up reconnecting",
            )
            cancel_with(states, incident)

    # -- root causes ----------------------------------------------------------------------

    def explains(self, reason: str | None) -> bool:
        """Whether a cancellation with ``reason`` may be an earlier incident's doing."""
        return reason in ROOT_CAUSE_REASONS and bool(self.incidents)

    def not_yet_typed(self, keys: list[Any]) -> list[Any]:
        """``keys`` less those already failed with their root cause (when their graph
        was sent)."""
        states = self._port.states()
        return [
            key
            for key in keys
            if not isinstance(getattr(states.get(key), "exception", None), ResilientDaskError)
        ]

    def cancel_refused(self, keys: list[Any]) -> list[Any]:
        """Cancel with their root cause the refused ``keys`` an incident explains;
        return the rest."""
        states = self._port.states()
        remaining = []
        for key in keys:
            state = states.get(key)
            err = self.root_cause_error(key, [key])
            if state is None or err is None:
                remaining.append(key)
            else:
                _compat.cancel_state(state, err)
        return remaining

    def lost_dependencies(self, expr: Any, will_replay: Callable[[Any], bool]) -> list[Any]:
        """Keys a new graph reads that an outage destroyed (only looked for after one)."""
        if not self.incidents:
            return []
        live = self._port.states()
        return [
            key
            for key in _compat.graph_dependencies(expr)
            if key not in live and not will_replay(key) and self.incidents.cause_of(key) is not None
        ]

    def fail_readers(self, futures: dict[Any, Any], lost: list[Any]) -> None:
        """New futures whose graph reads destroyed data fail at once, typed."""
        if not lost:
            return
        states = self._port.states()
        for key in futures:
            err = self.root_cause_error(key, lost)
            if err is not None and key in states:
                _compat.cancel_state(states[key], err)

    def root_cause_error(self, key: Any, lost: list[Any]) -> ResilientDaskError | None:
        """The error of the incident that destroyed ``lost``, told about ``key``."""
        incident = self.incidents.cause_of(lost[0]) or self.incidents.latest
        if incident is None:
            return None
        err = incident.error([key])
        if lost == [key]:
            return err
        shown = ", ".join(repr(str(k)) for k in lost[:3])
        more = f" and {len(lost) - 3} more" if len(lost) > 3 else ""
        verb = "was" if len(lost) == 1 else "were"
        return type(err)(
            err.context,
            f"{str(key)!r} depends on {shown}{more}, which {verb} lost when "
            f"{incident.detail or 'the scheduler state was lost'} "
            f"({err.summary[0].lower()}{err.summary[1:]})",
        )


def cancel_with(states: dict[Any, FutureState], incident: Incident) -> None:
    """Cancel each state with the incident's typed error for its key."""
    for key, state in states.items():
        _compat.cancel_state(state, incident.error([key]))
