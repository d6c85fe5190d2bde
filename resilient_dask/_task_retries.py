"""Per-task ``retry=``: resubmit a task whose workers died, as its policy allows.

``rc.submit(f, retry=policy)`` and ``rc.compute(x, retry=policy)`` register how
to send the task again; when its ``task-erred`` report is a worker death
(``KilledWorker``), the task is released on the scheduler and sent again under the
same key, with a fresh failure count, after the policy's delay. The user's
Futures share the key's state, so they get the new result. Errors raised by the
task itself are never retried.

``rc.guard(retry=policy)`` and ``rc.compute(..., sync=True, retry=policy)`` re-run
a whole block instead (:class:`~resilient_dask._guard.RetryingGuard`), waiting
for the connection between attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from distributed import Future

from resilient_dask._client_events import Deliver
from resilient_dask._compat.port import ClientPort
from resilient_dask._events import emit
from resilient_dask._guard import RetryingGuard
from resilient_dask._outages import Outages
from resilient_dask._state_machine import ConnectionState
from resilient_dask._translate import killed_worker
from resilient_dask.connection import Connection

if TYPE_CHECKING:
    from resilient_dask.retry import RetryPolicy

logger = logging.getLogger(__name__)

#: Past this many remembered retry= tasks, those released or finished are forgotten.
RETRIES_PRUNED_AT = 1000


class _RetryEntry:
    """A task submitted with ``retry=``: how to submit it again, and its attempts."""

    def __init__(self, policy: RetryPolicy, resubmit: Callable[[], Any]) -> None:
        self.policy = policy
        self.resubmit = resubmit
        self.attempt = 1
        self.started = time.monotonic()


class TaskRetries:
    """The tasks of one client submitted with ``retry=``, and their resubmission."""

    def __init__(self, port: ClientPort, connection: Connection, outages: Outages) -> None:
        self._port = port
        self._connection = connection
        self._translate = outages.translate
        self._entries: dict[Any, _RetryEntry] = {}

    def guard(self, policy: RetryPolicy) -> RetryingGuard:
        """A guard that re-runs a block on the failures ``policy`` retries, once the
        client is connected again (waiting at most the reconnect timeout)."""
        connection = self._connection

        def ready() -> None:
            with contextlib.suppress(TimeoutError):
                connection.wait_for(
                    ConnectionState.CONNECTED, timeout=self._port.reconnect_timeout()
                )

        async def async_ready() -> None:
            with contextlib.suppress(TimeoutError):
                waiting = connection.wait_for(
                    ConnectionState.CONNECTED, timeout=self._port.reconnect_timeout()
                )
                if inspect.isawaitable(waiting):
                    await waiting

        return RetryingGuard(self._translate, policy, ready, async_ready)

    def track(self, future: Any, policy: RetryPolicy, resubmit: Callable[[], Any]) -> None:
        """Remember how to resubmit ``future``'s task (forgotten once released or done)."""
        if not isinstance(future, Future):
            return
        if len(self._entries) >= RETRIES_PRUNED_AT:
            states = self._port.states()
            for key in list(self._entries):
                state = states.get(key)
                if state is None or state.status != "pending":
                    self._entries.pop(key, None)
        self._entries[future.key] = _RetryEntry(policy, resubmit)

    def forget(self, key: Any) -> None:
        self._entries.pop(key, None)

    def task_erred(self, key: Any, exception: Any, deliver: Deliver) -> bool:
        """Resubmit ``key`` if it was submitted with ``retry=`` and the policy allows;
        whether it was (then its error is not delivered)."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        killed = killed_worker(exception)
        if killed is None:
            return False
        typed = self._translate(killed, [key])
        delay = entry.policy.should_retry(typed, entry.attempt, time.monotonic() - entry.started)
        if delay is None:
            return False
        entry.attempt += 1
        emit(
            "task.retrying",
            address=self._port.address(),
            key=str(key),
            attempt=entry.attempt,
            delay=round(delay, 3),
            reason=type(typed).__name__,
        )
        loop = asyncio.get_running_loop()
        loop.call_later(delay, self._resubmit, key, entry, deliver)
        return True

    def _resubmit(self, key: Any, entry: _RetryEntry, deliver: Deliver) -> None:
        states = self._port.states()
        state = states.get(key)
        if state is None:
            return  # the user released the future meanwhile
        self._port.release_on_scheduler([key])
        del states[key]  # so that the new submission is sent, not short-circuited
        try:
            fresh = entry.resubmit()
            same_key = isinstance(fresh, Future) and fresh.key == key
        except Exception:  # pragma: no cover - resubmission of something that once worked
            logger.exception("resilient_dask: resubmitting %r failed", key)
            same_key = False
        finally:
            states[key] = state  # the user's Futures share this state: it gets the new result
        if not same_key:
            self._entries.pop(key, None)
            deliver()
