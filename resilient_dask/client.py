"""ResilientClient: a ``distributed.Client`` whose failures are typed and watched.

What it adds to ``distributed.Client``:

* cancellations caused by a lost connection or a scheduler restart become
  :class:`~resilient_dask.errors.SchedulerConnectionLost` /
  :class:`~resilient_dask.errors.SchedulerRestarted` on every path a user meets
  a result by (``result``, ``exception``, ``await``, ``gather``, ``wait``,
  ``as_completed``, ``compute``, ``dask.compute``);
* a probe that notices a frozen scheduler (``rc.connection``), and blocking
  calls that raise :class:`~resilient_dask.errors.SchedulerUnresponsive` instead
  of waiting forever;
* lineage replay (``resubmit=True``), per-task ``retry=``, ``rc.guard()``,
  ``rc.pin_workers()``, ``rc.watch_workers()`` and ``rc.explain()``.

The class is thin: ``__init__`` builds the services (each owns its state and
reaches the client only through a :class:`~resilient_dask._compat.port.ClientPort`),
the public methods delegate to them, and the hooks class it inherits turns
distributed's private events into calls of :class:`~resilient_dask._reactions.Reactions`.
See ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

from distributed import Client, Future
from distributed.client import FuturesCancelledError

from resilient_dask._blocking_calls import BlockingCalls
from resilient_dask._compat.client_hooks import ClientHooks
from resilient_dask._compat.port import ClientPort
from resilient_dask._config import Options
from resilient_dask._future import ResilientFuture, adopt
from resilient_dask._guard import Guard, RetryingGuard
from resilient_dask._lineage_service import Lineage, ReplayReport
from resilient_dask._lost_data import LostData
from resilient_dask._monitor import ConnectionMonitor
from resilient_dask._notebook import render_resilience_html
from resilient_dask._outages import Outages
from resilient_dask._pinning import PinnedWorkers, WorkerPins
from resilient_dask._reactions import Reactions
from resilient_dask._reconnection import Reconnection, first_address, locator_for
from resilient_dask._serialization import unpicklable_argument_error
from resilient_dask._stories import TaskStories
from resilient_dask._task_retries import SentTogether, TaskRetries
from resilient_dask._worker_watchdog import WorkerWatchdog
from resilient_dask.connection import ConnectionCallback, Subscription
from resilient_dask.watchdog import WorkerWatch

if TYPE_CHECKING:
    from resilient_dask.retry import RetryPolicy

__all__ = ["ReplayReport", "ResilientClient", "ResilientFuture"]


class ResilientClient(ClientHooks):
    """A drop-in ``distributed.Client`` that survives and explains failures.

    Takes every argument ``distributed.Client`` takes, plus (defaults from
    ``dask.config`` under ``resilient-dask``; keyword arguments win):

    address:
        As for ``distributed.Client`` (an address, a cluster object), or a callable
        that returns the scheduler's current address: it is called now and before
        every reconnect attempt (gateway and service-discovery setups). With
        ``scheduler_file=``, the file is read again before every reconnect attempt.
    resubmit:
        Replay lineage after reconnecting to a scheduler that lost the keys.
    resubmit_timeout:
        How long a replay may go without progress before its futures fail with
        ResubmissionFailed (``"60s"``).
    reconnect_timeout:
        How long the client keeps reconnecting after the connection drops, before
        it closes (``"5 minutes"``); independent of ``timeout=``, which bounds the
        first connection.
    probe_interval:
        How often the scheduler is probed (``"2s"``).
    probe_timeout:
        A probe slower than this marks the scheduler UNRESPONSIVE (``"5s"``).
    unresponsive_timeout:
        Blocking calls raise SchedulerUnresponsive once the scheduler has not
        answered for this long (``"60s"``).
    scatter_policy:
        ``"raise"`` or ``"keep"`` (keep a client-side copy to re-scatter).
    lineage_limit:
        Bound on remembered recipes: a count, a size, or both.
    record_stories:
        Install the story recorder on the scheduler when connecting (``True``), so
        that a failed task's ``err.story`` reaches back to its start.

    ``heartbeat_interval`` (and every other argument of ``distributed.Client``)
    means what it means there: distributed's own client heartbeat, in milliseconds
    when given a number.
    """

    def __init__(
        self,
        address: Any = None,
        *args: Any,
        resubmit: bool | str | None = None,
        resubmit_timeout: str | float | None = None,
        reconnect_timeout: str | float | None = None,
        probe_interval: str | float | None = None,
        probe_timeout: str | float | None = None,
        unresponsive_timeout: str | float | None = None,
        scatter_policy: str | None = None,
        lineage_limit: Any = None,
        record_stories: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if address is None:
            address = kwargs.pop("address_or_cluster", None)
        # Validate everything before anything starts, so bad input leaves nothing behind.
        self.options = Options.resolve(
            resubmit=resubmit,
            resubmit_timeout=resubmit_timeout,
            reconnect_timeout=reconnect_timeout,
            probe_interval=probe_interval,
            probe_timeout=probe_timeout,
            unresponsive_timeout=unresponsive_timeout,
            scatter_policy=scatter_policy,
            lineage_limit=lineage_limit,
            record_stories=record_stories,
        )
        locate = locator_for(address, kwargs.get("scheduler_file"))
        address = first_address(address)
        port = ClientPort(self, reconnect_timeout=self.options.reconnect_timeout)
        monitor = ConnectionMonitor(port, self.options)
        outages = Outages(port, monitor)
        self._rd_lineage = Lineage(port, monitor, self.options)
        self._rd_stories = TaskStories(port, outages, record=self.options.record_stories)
        self._rd_retries = TaskRetries(port, monitor.connection, outages)
        self._rd_outages = outages
        self._rd_watchdog = WorkerWatchdog(port, monitor.connection)
        self._rd_pins = WorkerPins(port)
        self.connection = monitor.connection
        self._rd_events = Reactions(
            port,
            monitor=monitor,
            outages=outages,
            lineage=self._rd_lineage,
            calls=BlockingCalls(
                port, monitor, outages, self._rd_lineage, self._rd_stories.decorate
            ),
            retries=self._rd_retries,
            stories=self._rd_stories,
            lost_data=LostData(),
            reconnection=Reconnection(
                window=self.options.reconnect_timeout,
                attempt_timeout=self.options.probe_timeout,
                locate=locate,
            ),
        )
        super().__init__(address, *args, **kwargs)  # type: ignore[no-untyped-call]

    # -- submitting work ----------------------------------------------------------------

    def submit(
        self,
        func: Any,
        *args: Any,
        retry: RetryPolicy | None = None,
        resubmit: bool = True,
        **kwargs: Any,
    ) -> Any:
        """``Client.submit``, plus:

        ``retry=``: a :mod:`resilient_dask.retry` policy; the task is resubmitted
        when its workers die, under the same key and with a fresh failure count
        (unlike ``Future.retry()``, which keeps the count), as often as the policy
        allows. Only worker deaths (``WorkerLost``) are retried, not errors the task
        raises.

        ``resubmit=False``: keep this (side-effecting) task out of lineage replay.
        """
        policy = _checked_retry(retry, "submit")
        lineage = self._rd_lineage

        def send(**options: Any) -> Any:
            return lineage.submit(
                func, args, options, resubmit, lambda: Client.submit(self, func, *args, **options)
            )

        try:
            future = send(**kwargs)
        except TypeError as exc:
            candidates = [("the function", func)]
            candidates += [(f"positional argument {i}", a) for i, a in enumerate(args)]
            candidates += [(f"keyword argument {k!r}", v) for k, v in kwargs.items()]
            clear = unpicklable_argument_error(exc, f"submit({_name(func)}, ...)", candidates)
            if clear is None:
                raise
            raise clear from None
        if policy is not None and isinstance(future, Future):
            key = future.key
            self._rd_retries.track(future, policy, lambda: send(**{**kwargs, "key": key}))
        return adopt(future)

    def map(
        self,
        func: Any,
        *iterables: Any,
        retry: RetryPolicy | None = None,
        resubmit: bool = True,
        **kwargs: Any,
    ) -> Any:
        """``Client.map``, plus ``retry=`` (each task, as with ``submit``) and
        ``resubmit=False`` to keep these tasks out of lineage replay."""
        policy = _checked_retry(retry, "map")

        def send() -> Any:
            return Client.map(self, func, *iterables, **kwargs)

        try:
            futures = self._rd_lineage.map(func, iterables, kwargs, resubmit, send)
        except TypeError as exc:
            candidates = [("the function", func)]
            candidates += [
                (f"item {j} of iterable {i}", item)
                for i, iterable in enumerate(iterables)
                if isinstance(iterable, (list, tuple))
                for j, item in enumerate(iterable)
            ]
            candidates += [(f"keyword argument {k!r}", v) for k, v in kwargs.items()]
            clear = unpicklable_argument_error(exc, f"map({_name(func)}, ...)", candidates)
            if clear is None:
                raise
            raise clear from None
        if policy is not None:
            self._track_mapped(futures, policy, func, iterables, resubmit, kwargs)
        return futures

    def _track_mapped(
        self,
        futures: list[Any],
        policy: RetryPolicy,
        func: Any,
        iterables: tuple[Any, ...],
        resubmit: bool,
        kwargs: dict[str, Any],
    ) -> None:
        """``map(retry=)``: each task is resubmitted alone, as ``submit`` would send it."""
        columns = [list(iterable) for iterable in iterables]  # upstream refused iterators
        options = {k: v for k, v in kwargs.items() if k not in ("key", "batch_size")}
        lineage = self._rd_lineage
        for i, future in enumerate(futures):
            args = tuple(column[i] for column in columns)

            def send(key: Any = future.key, args: tuple[Any, ...] = args) -> Any:
                call = {**options, "key": key}
                return lineage.submit(
                    func, args, call, resubmit, lambda: Client.submit(self, func, *args, **call)
                )

            self._rd_retries.track(future, policy, send)

    def compute(
        self, collections: Any, *args: Any, retry: RetryPolicy | None = None, **kwargs: Any
    ) -> Any:
        """``Client.compute``; with ``retry=`` each result is recomputed when its workers die.

        With ``sync=True`` the whole call is re-run on any failure the policy retries.
        """
        policy = _checked_retry(retry, "compute")
        if policy is None:
            return Client.compute(self, collections, *args, **kwargs)
        if kwargs.get("sync"):
            for attempt in self._rd_retries.guard(policy):
                with attempt:
                    return Client.compute(self, collections, *args, **kwargs)
        result = Client.compute(self, collections, *args, **kwargs)
        many = isinstance(collections, (list, tuple, set, frozenset))
        pairs = zip(collections, result, strict=False) if many else [(collections, result)]
        # Results that fail from one cause are computed again in one call: their graphs
        # may share the task that failed (see SentTogether).
        together = SentTogether(lambda members: Client.compute(self, members, *args, **kwargs))
        for collection, future in pairs:

            def resubmit(collection: Any = collection) -> Any:
                return Client.compute(self, collection, *args, **kwargs)

            self._rd_retries.track(future, policy, resubmit, (together, collection))
        return result

    def resubmit(self, futures: Any = None) -> Any:
        """Replay the lineage of ``futures`` (default: every future lost in an outage).

        Returns a :class:`ReplayReport` (awaitable in asynchronous clients): the
        keys replayed, the keys skipped with the reason, and failures.
        """
        return self._rd_lineage.resubmit(futures)

    # -- errors and the connection --------------------------------------------------------

    def on_connection_change(self, callback: ConnectionCallback) -> Subscription:
        """Call ``callback(old_state, new_state, detail)`` on every connection transition.

        The callback runs in the client's event loop and must not block. Returns a
        handle whose ``unsubscribe()`` stops the calls.
        """
        return self.connection.subscribe(callback)

    @overload
    def guard(self) -> Guard: ...
    @overload
    def guard(self, retry: RetryPolicy) -> RetryingGuard: ...
    def guard(self, retry: RetryPolicy | None = None) -> Guard | RetryingGuard:
        """Context manager (sync and async) translating errors raised inside the block.

        Errors from any distributed call in the block, including code that uses
        plain ``distributed.Future`` objects or ``dask.compute``, come out as the
        typed errors of :mod:`resilient_dask.errors`.

        With ``retry=`` (a :mod:`resilient_dask.retry` policy) the block is re-run
        on the failures the policy retries, after the client is connected again.
        A with-block cannot run twice, so iterate instead (or decorate a function)::

            for attempt in rc.guard(retry=retry.transient()):
                with attempt:
                    ...
        """
        policy = _checked_retry(retry, "guard")
        if policy is None:
            return Guard(self.translate_error)
        return self._rd_retries.guard(policy)

    def translate_error(
        self, exc: BaseException, keys: Sequence[Any] | None = None
    ) -> BaseException:
        """The typed error for ``exc`` as of now (``exc`` itself if it has none)."""
        return self._rd_outages.translate(exc, keys)

    def futures_of(self, futures: Any) -> Any:
        """``Client.futures_of``; futures an outage cancelled raise their typed error
        (also a ``FuturesCancelledError``, as upstream raises there)."""
        try:
            return Client.futures_of(self, futures)
        except FuturesCancelledError as exc:
            typed = self.translate_error(exc)
            if typed is exc:
                raise
            raise typed.with_traceback(None) from exc

    def explain(self, future_or_key: Any) -> Any:
        """The task's story as a readable timeline: states, workers, times, what failed and why.

        Uses the story captured when the task erred (the scheduler forgets old
        transitions), else asks the scheduler now. Returns a ``str`` (awaitable in
        async mode).
        """
        key = future_or_key.key if isinstance(future_or_key, Future) else future_or_key
        return self.sync(self._rd_stories.explain, key)

    # -- the cluster ------------------------------------------------------------------------

    def watch_workers(
        self,
        stale_after: str | float = "30s",
        restart: bool = True,
        max_restarts: int = 3,
        window: str | float = "10m",
        *,
        poll_interval: str | float | None = None,
        restart_timeout: str | float = "60s",
        task_timeout: str | float | None = None,
    ) -> WorkerWatch:
        """Restart workers whose heartbeats stopped, through their nanny.

        A worker is stale once the scheduler has not heard from it for longer than both
        ``stale_after`` and three of the heartbeat intervals the scheduler gives its
        workers (which grow with the cluster). At most ``max_restarts`` restarts per
        worker per ``window``; past that, and for workers without a nanny, the worker is
        only reported; ``restart=False`` only reports (for a client that does not own
        the cluster: run restarts from one client per cluster). Every decision is a
        ``watchdog.*`` event. Returns a handle with ``.events`` and ``.stop()`` (also a
        context manager). The scheduler is asked for the stale workers (only those) every
        ``poll_interval`` (default: ``stale_after / 4``, at most 1 s).

        With ``task_timeout``, a task of this client running longer than that fails with
        :class:`~resilient_dask.errors.TaskTimeout`, is released on the scheduler, and its
        worker is restarted (within the same budget; workers without a nanny are only
        reported). Durations come from the workers' heartbeats (about every second).
        """
        return self._rd_watchdog.watch(
            stale_after, restart, max_restarts, window, poll_interval, restart_timeout, task_timeout
        )

    def pin_workers(
        self, workers: Sequence[str] | None = None, reason: str = "", *, lease: str | float = "30s"
    ) -> PinnedWorkers:
        """Context manager (sync and async): adaptive scaling will not retire these workers.

        ``workers=None`` pins the workers holding this client's data when the block
        starts. The pin is a lease of ``lease`` seconds renewed while the block runs,
        so a client that dies leaves no permanent pin. Explicit
        ``retire_workers(workers=[...])`` is not blocked.
        """
        return self._rd_pins.pin(workers, reason, lease)

    # -- notebooks --------------------------------------------------------------------------

    def _repr_html_(self) -> str:
        """distributed's widget, followed by the connection's state and outages."""
        connection = self.connection
        base: str = super()._repr_html_()  # type: ignore[no-untyped-call]
        section = render_resilience_html(connection.state, connection.latency, connection.history)
        # One root element: the widget stays well-formed markup, as upstream's is.
        return f"<div>{base}{section}</div>"


def _checked_retry(retry: Any, call: str) -> RetryPolicy | None:
    """``retry`` if it is a policy (or None), else the TypeError saying what it takes."""
    if retry is None:
        return None
    from resilient_dask.retry import check_policy  # tenacity, only when retry= is used

    return check_policy(retry, call)


def _name(func: Any) -> str:
    return getattr(func, "__name__", None) or type(func).__name__
