"""Structured events: every connection transition and recovery step.

Events go to structlog (``structlog.get_logger("resilient_dask")``), so they
follow whatever structlog configuration the application has, and to any sinks
opened by :func:`resilient_dask.testing.capture_events`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from resilient_dask._state_machine import ConnectionState, Transition

# Until the application configures structlog, events go to the standard library
# logger "resilient_dask" (rendered as key=value), so that a library does not print
# to stdout by default: warnings show, info events only if logging is set up for them.
_stdlib_logger = structlog.wrap_logger(
    logging.getLogger("resilient_dask"),
    processors=[structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True)],
    wrapper_class=structlog.stdlib.BoundLogger,
)
_sinks: list[list[dict[str, Any]]] = []
_sinks_lock = threading.Lock()

_C = ConnectionState
#: The event name of each transition, by (old, new) state.
TRANSITION_EVENTS: dict[tuple[ConnectionState, ConnectionState], str] = {
    (_C.CONNECTED, _C.UNRESPONSIVE): "scheduler.unresponsive",
    (_C.UNRESPONSIVE, _C.CONNECTED): "scheduler.responsive",
    (_C.CONNECTED, _C.RECONNECTING): "scheduler.connection_lost",
    (_C.UNRESPONSIVE, _C.RECONNECTING): "scheduler.connection_lost",
    (_C.RESUBMITTING, _C.RECONNECTING): "scheduler.connection_lost",
    (_C.RECONNECTING, _C.CONNECTED): "scheduler.reconnected",
    (_C.RECONNECTING, _C.RESUBMITTING): "scheduler.reconnected",
    (_C.RESUBMITTING, _C.CONNECTED): "lineage.resubmitted",
}
_WARNINGS = {"scheduler.unresponsive", "scheduler.connection_lost"}


def transition_event(transition: Transition) -> str:
    """The event name of a transition (``client.closed`` for any move to CLOSED)."""
    if transition.state is ConnectionState.CLOSED:
        return "client.closed"
    return TRANSITION_EVENTS.get(
        (transition.old, transition.state),
        f"scheduler.{transition.state.value}",
    )


def emit(event: str, **fields: Any) -> None:
    """Send one event to structlog and to every open capture."""
    record = {"event": event, **fields}
    with _sinks_lock:
        for sink in _sinks:
            sink.append(dict(record))
    logger = structlog.get_logger("resilient_dask") if structlog.is_configured() else _stdlib_logger
    log = logger.warning if event in _WARNINGS else logger.info
    log(event, **fields)


@contextmanager
def open_sink() -> Iterator[list[dict[str, Any]]]:
    """Collect every event emitted while the block runs (any thread)."""
    sink: list[dict[str, Any]] = []
    with _sinks_lock:
        _sinks.append(sink)
    try:
        yield sink
    finally:
        with _sinks_lock:
            _sinks.remove(sink)
