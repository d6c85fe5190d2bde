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
import dataclasses
import inspect
import itertools
import logging
import time
from collections.abc import Callable, Iterator
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


@dataclasses.dataclass(eq=False)
class SentTogether:
    """The tasks of one call (a ``compute`` of several collections), resubmitted as one call.

    Their graphs share tasks: resubmitting each output alone sends a shared failed
    dependency once per output, and every copy after the first meets it still erred on
    the scheduler and fails again at once. ``send(members)`` sends the members given
    (collections) as one call and returns their futures, in that order.
    """

    send: Callable[[list[Any]], list[Any]]


class _RetryEntry:
    """A task submitted with ``retry=``: how to submit it again, and its attempts."""

    def __init__(
        self,
        policy: RetryPolicy,
        resubmit: Callable[[], Any],
        together: tuple[SentTogether, Any] | None,
        order: int,
    ) -> None:
        self.policy = policy
        self.resubmit = resubmit
        #: The call it is resubmitted with, and what it is in that call.
        self.together = together
        #: When it was tracked: resubmissions go out in this order (dependencies first).
        self.order = order
        self.attempt = 1
        self.started = time.monotonic()


class _Round:
    """The tasks that failed because one task's workers died, resubmitted together once."""

    def __init__(self) -> None:
        self.waiting: dict[Any, tuple[_RetryEntry, Deliver]] = {}


class TaskRetries:
    """The tasks of one client submitted with ``retry=``, and their resubmission."""

    def __init__(self, port: ClientPort, connection: Connection, outages: Outages) -> None:
        self._port = port
        self._connection = connection
        self._translate = outages.translate
        self._entries: dict[Any, _RetryEntry] = {}
        #: Pending resubmissions, by the key of the task whose workers died.
        self._rounds: dict[str, _Round] = {}
        self._order = itertools.count()

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

    def track(
        self,
        future: Any,
        policy: RetryPolicy,
        resubmit: Callable[[], Any],
        together: tuple[SentTogether, Any] | None = None,
    ) -> None:
        """Remember how to resubmit ``future``'s task (forgotten once released or done):
        alone with ``resubmit()``, or, given ``together=(call, member)``, with the other
        members of ``call`` that fail from the same cause."""
        if not isinstance(future, Future):
            return
        if len(self._entries) >= RETRIES_PRUNED_AT:
            states = self._port.states()
            for key in list(self._entries):
                state = states.get(key)
                if state is None or state.status != "pending":
                    self._entries.pop(key, None)
        self._entries[future.key] = _RetryEntry(policy, resubmit, together, next(self._order))

    def forget(self, key: Any) -> None:
        self._entries.pop(key, None)

    def task_erred(self, key: Any, exception: Any, deliver: Deliver) -> bool:
        """Resubmit ``key`` if it was submitted with ``retry=`` and the policy allows;
        whether it was (then its error is not delivered).

        Every task that failed because the same task's workers died (that task and the
        outputs that need it, whose reports come in one batch) joins one round: after
        the first one's delay, all are released on the scheduler in one message and
        sent again, so the failed task they share is resubmitted once and each output
        waits for that one resubmission.
        """
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
        cause = str(killed.task)
        emit(
            "task.retrying",
            address=self._port.address(),
            key=str(key),
            attempt=entry.attempt,
            delay=round(delay, 3),
            reason=type(typed).__name__,
            cause=cause,
        )
        pending = self._rounds.get(cause)
        if pending is None:
            pending = self._rounds[cause] = _Round()
            asyncio.get_running_loop().call_later(delay, self._resubmit, cause)
        pending.waiting[key] = (entry, deliver)
        return True

    def _resubmit(self, cause: str) -> None:
        pending = self._rounds.pop(cause, None)
        if pending is None:
            return
        states = self._port.states()
        # Tasks the user released meanwhile are not sent again.
        waiting = sorted(
            ((key, entry, deliver) for key, (entry, deliver) in pending.waiting.items()
             if key in states),
            key=lambda item: item[1].order,
        )  # fmt: skip
        if not waiting:
            return
        keys = [key for key, _, _ in waiting]
        kept = {key: states.pop(key) for key in keys}  # so that the new submission is sent
        # One message: the scheduler forgets them, and the erred tasks only they needed,
        # before the new graphs (ordered after it on the same stream) arrive.
        self._port.release_on_scheduler(keys)
        sent: set[Any] = set()
        try:
            sent = self._send(waiting)
        finally:
            states.update(kept)  # the user's Futures share these states: they get the result
        for key, _, deliver in waiting:
            if key not in sent:
                self._entries.pop(key, None)
                deliver()

    def _send(self, waiting: list[tuple[Any, _RetryEntry, Deliver]]) -> set[Any]:
        """Send each task of a round again, those of one call as one call; the keys sent
        again under their own key."""
        calls: dict[SentTogether, list[tuple[Any, Any]]] = {}
        sent: set[Any] = set()
        for key, entry, _ in waiting:
            if entry.together is not None:
                call, member = entry.together
                calls.setdefault(call, []).append((key, member))
                continue
            with _logged(key):
                fresh = entry.resubmit()
                if isinstance(fresh, Future) and fresh.key == key:
                    sent.add(key)
        for call, members in calls.items():
            with _logged([key for key, _ in members]):
                futures = call.send([member for _, member in members])
                sent.update(
                    key
                    for (key, _), fresh in zip(members, futures, strict=True)
                    if isinstance(fresh, Future) and fresh.key == key
                )
        return sent


@contextlib.contextmanager
def _logged(what: Any) -> Iterator[None]:
    try:
        yield
    except Exception:  # pragma: no cover - resubmission of something that once worked
        logger.exception("resilient_dask: resubmitting %r failed", what)
