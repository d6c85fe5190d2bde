"""Helpers to test code against real Dask failures (public API).

* :class:`SubprocessCluster`: a real scheduler and workers in subprocesses on
  free loopback ports, with ``kill_scheduler()``, ``freeze_scheduler()`` /
  ``thaw_scheduler()``, ``restart_scheduler()`` (same port), ``kill_worker()``
  and ``add_worker()``. Closing it kills every process it started.
* :class:`TcpProxy`: put it between a client and the scheduler to ``cut()`` the
  connection (reset) or ``blackhole()`` it while the scheduler stays alive.
* :func:`poll_for` / :func:`async_poll_for`: wait for a condition, with a timeout.
* :func:`capture_events`: collect resilient_dask's structured events.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from resilient_dask._events import open_sink
from resilient_dask.testing._cluster import (
    ManagedProcess,
    SubprocessCluster,
    free_port,
    scheduler_identity,
)
from resilient_dask.testing._poll import async_poll_for, poll_for
from resilient_dask.testing._proxy import TcpProxy

__all__ = [
    "ManagedProcess",
    "SubprocessCluster",
    "TcpProxy",
    "async_poll_for",
    "capture_events",
    "free_port",
    "poll_for",
    "scheduler_identity",
]


@contextmanager
def capture_events() -> Iterator[list[dict[str, Any]]]:
    """Collect every resilient_dask event emitted while the block runs.

    Each event is a dict with at least ``event`` (for example
    ``"scheduler.connection_lost"``) and ``address``::

        with capture_events() as events:
            ...
        assert any(e["event"] == "scheduler.reconnected" for e in events)
    """
    with open_sink() as sink:
        yield sink
