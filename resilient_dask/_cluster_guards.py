"""Cluster-side guards of ResilientClient: worker watchdog, pins, per-call retries, forensics.

A mixin: ResilientClient inherits it before ``distributed.Client``. Everything
here talks to the cluster through public distributed APIs (``run_on_scheduler``,
the scheduler's ``identity``, ``who_has`` and ``restart_workers`` RPCs); the two
private hooks it needs (``_handle_task_erred``, releasing a key on the scheduler)
live in ``_compat.ClientHooks``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import cloudpickle
from dask.utils import parse_timedelta
from distributed import Future
from distributed.core import clean_exception
from distributed.scheduler import KilledWorker

from resilient_dask import _compat, _scheduler_probe, pins
from resilient_dask._events import emit
from resilient_dask._guard import RetryingGuard
from resilient_dask._state_machine import ConnectionState
from resilient_dask.errors import ErrorContext, TaskTimeout, WorkerLost
from resilient_dask.forensics import TaskStory
from resilient_dask.watchdog import Decision, WatchdogPolicy, WorkerSnapshot, WorkerWatch

if TYPE_CHECKING:
    from resilient_dask.retry import RetryPolicy

logger = logging.getLogger(__name__)

# Code that runs on the scheduler is shipped by value: the scheduler needs no resilient_dask.
cloudpickle.register_pickle_by_value(pins)
cloudpickle.register_pickle_by_value(_scheduler_probe)

#: How many captured stories a client keeps (oldest dropped first).
STORIES_KEPT = 1000
#: Past this many remembered retry= tasks, those released or finished are forgotten.
RETRIES_PRUNED_AT = 1000
#: How long capturing a story may delay delivering a task's error.
STORY_TIMEOUT = 5.0


def _seconds(name: str, value: str | float) -> float:
    seconds = parse_timedelta(value, default="s")
    if seconds is None or not seconds > 0:
        raise ValueError(f"{name} must be a positive duration, got {value!r}")
    return float(seconds)


class _RetryEntry:
    """A task submitted with ``retry=``: how to submit it again, and its attempts."""

    def __init__(self, policy: RetryPolicy, resubmit: Callable[[], Any]) -> None:
        self.policy = policy
        self.resubmit = resubmit
        self.attempt = 1
        self.started = time.monotonic()


class _GuardState:
    def __init__(self) -> None:
        self.retries: dict[Any, _RetryEntry] = {}
        self.stories: collections.OrderedDict[Any, TaskStory] = collections.OrderedDict()
        self.background: set[asyncio.Future[Any]] = set()


class ClusterGuards:
    """Client-facing methods of the cluster guards (see the module docstring)."""

    # -- state ------------------------------------------------------------------------

    def _rd_guards(self) -> _GuardState:
        state = self.__dict__.get("_rd_guard_state")
        if state is None:
            state = self.__dict__["_rd_guard_state"] = _GuardState()
        return state

    def _rd_background(self, coro: Any) -> None:
        """Run ``coro`` in the client's loop (call from that loop), keeping a reference."""
        task = asyncio.ensure_future(coro)
        background = self._rd_guards().background
        background.add(task)
        task.add_done_callback(background.discard)

    async def _rd_on_scheduler(self, func: Callable[..., Any], *args: Any) -> Any:
        return await self.run_on_scheduler(func, *args, asynchronous=True)  # type: ignore[attr-defined]

    # -- retry -----------------------------------------------------------------------------

    def _rd_retrying_guard(self, policy: RetryPolicy) -> RetryingGuard:
        connection = self.connection  # type: ignore[attr-defined]

        def wait_limit() -> float:
            return _compat.reconnect_timeout(self)  # type: ignore[arg-type]

        def ready() -> None:
            with contextlib.suppress(TimeoutError):
                connection.wait_for(ConnectionState.CONNECTED, timeout=wait_limit())

        async def async_ready() -> None:
            with contextlib.suppress(TimeoutError):
                waiting = connection.wait_for(ConnectionState.CONNECTED, timeout=wait_limit())
                if waiting is not None:
                    await waiting

        return RetryingGuard(self.translate_error, policy, ready, async_ready)  # type: ignore[attr-defined]

    def submit(self, func: Any, *args: Any, retry: RetryPolicy | None = None, **kwargs: Any) -> Any:
        """``Client.submit``; with ``retry=`` the task is resubmitted when its workers die.

        The resubmission uses the same key and a fresh failure count (unlike
        ``Future.retry()``, which keeps the count), as often as the policy allows.
        Only worker deaths (``WorkerLost``) are retried: errors raised by the task
        itself are not.
        """
        future = super().submit(func, *args, **kwargs)  # type: ignore[misc]
        if retry is not None and isinstance(future, Future):
            options = {**kwargs, "key": future.key}
            parent = super()

            def resubmit() -> Any:
                return parent.submit(func, *args, **options)  # type: ignore[attr-defined]

            self._rd_track_retry(future, _RetryEntry(retry, resubmit))
        return future

    def compute(
        self, collections: Any, *args: Any, retry: RetryPolicy | None = None, **kwargs: Any
    ) -> Any:
        """``Client.compute``; with ``retry=`` each result is recomputed when its workers die.

        With ``sync=True`` the whole call is re-run on any failure the policy retries.
        """
        parent = super()
        if retry is None:
            return parent.compute(collections, *args, **kwargs)  # type: ignore[attr-defined]
        if kwargs.get("sync"):
            for attempt in self._rd_retrying_guard(retry):
                with attempt:
                    return parent.compute(collections, *args, **kwargs)  # type: ignore[attr-defined]
        result = parent.compute(collections, *args, **kwargs)  # type: ignore[attr-defined]
        many = isinstance(collections, (list, tuple, set, frozenset))
        pairs = zip(collections, result, strict=False) if many else [(collections, result)]
        for collection, future in pairs:
            if isinstance(future, Future):

                def resubmit(collection: Any = collection) -> Any:
                    return parent.compute(collection, *args, **kwargs)  # type: ignore[attr-defined]

                self._rd_track_retry(future, _RetryEntry(retry, resubmit))
        return result

    def _rd_track_retry(self, future: Future[Any], entry: _RetryEntry) -> None:
        """Remember how to resubmit ``future``'s task (forgotten once it is released or done)."""
        retries = self._rd_guards().retries
        if len(retries) >= RETRIES_PRUNED_AT:
            states = _compat.client_states(self)  # type: ignore[arg-type]
            for key in list(retries):
                state = states.get(key)
                if state is None or state.status != "pending":
                    retries.pop(key, None)
        retries[future.key] = entry

    def _rd_maybe_retry(self, key: Any, exception: Any, deliver: Callable[..., None]) -> bool:
        """Resubmit ``key`` if it was submitted with ``retry=`` and the policy allows."""
        entry = self._rd_guards().retries.get(key)
        if entry is None:
            return False
        with contextlib.suppress(Exception):  # the report carries it serialized
            _, exception, _ = clean_exception(exception)
        if not isinstance(exception, KilledWorker):
            return False
        typed = self.translate_error(exception, [key])  # type: ignore[attr-defined]
        delay = entry.policy.should_retry(typed, entry.attempt, time.monotonic() - entry.started)
        if delay is None:
            return False
        entry.attempt += 1
        emit(
            "task.retrying",
            address=self._rd_address(),  # type: ignore[attr-defined]
            key=str(key),
            attempt=entry.attempt,
            delay=round(delay, 3),
            reason=type(typed).__name__,
        )
        loop = asyncio.get_running_loop()
        loop.call_later(delay, self._rd_resubmit, key, entry, deliver)
        return True

    def _rd_resubmit(self, key: Any, entry: _RetryEntry, deliver: Callable[..., None]) -> None:
        states = _compat.client_states(self)  # type: ignore[arg-type]
        state = states.get(key)
        if state is None:
            return  # the user released the future meanwhile
        self._rd_release_on_scheduler([key])  # type: ignore[attr-defined]
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
            self._rd_guards().retries.pop(key, None)
            deliver()

    # -- forensics ---------------------------------------------------------------------------

    def _rd_task_erred(self, key: Any, exception: Any, deliver: Callable[..., None]) -> None:
        """A task erred: retry it, or capture its story, then deliver the error."""
        if self._rd_maybe_retry(key, exception, deliver):
            return
        self._rd_guards().retries.pop(key, None)
        self._rd_background(self._rd_capture_then_deliver(key, exception, deliver))

    async def _rd_capture_then_deliver(
        self, key: Any, exception: Any, deliver: Callable[..., None]
    ) -> None:
        story = None
        error = exception
        try:
            story = await self._rd_capture_story(key)
            error = self._rd_typed_task_error(key, exception)
        finally:
            deliver(error)
        # The error result() raises is what upstream built from the message (unpickled).
        state = _compat.client_states(self).get(key)  # type: ignore[arg-type]
        if story is not None and state is not None and state.exception is not None:
            with contextlib.suppress(Exception):
                state.exception.story = story

    def _rd_typed_task_error(self, key: Any, exception: Any) -> Any:
        """A WorkerLost naming ``key`` (and the dependency whose workers died), else as given."""
        with contextlib.suppress(Exception):  # the report carries it serialized
            _, exception, _ = clean_exception(exception)
        if not isinstance(exception, KilledWorker):
            return exception
        typed = self.translate_error(exception, [key])  # type: ignore[attr-defined]
        if not isinstance(typed, WorkerLost) or str(exception.task) == str(key):
            return typed
        task = str(exception.task)
        return WorkerLost(
            typed.context.replace(keys=(str(key), task)),
            f"{str(key)!r} did not run: its dependency {task!r} was tried on workers that "
            "all died while running it.",
        )

    async def _rd_capture_story(self, key: Any) -> TaskStory | None:
        try:
            facts = await asyncio.wait_for(
                self._rd_on_scheduler(_scheduler_probe.collect_task_facts, [key]), STORY_TIMEOUT
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            emit("forensics.story_unavailable", key=str(key), reason=repr(exc))
            return None
        story = TaskStory.from_facts(facts[key])
        stories = self._rd_guards().stories
        stories[str(key)] = story
        while len(stories) > STORIES_KEPT:
            stories.popitem(last=False)
        return story

    def _rd_decorate_error(self, error: BaseException, keys: Sequence[Any] | None) -> None:
        """Attach the captured story of the failed task to the error being raised."""
        if getattr(error, "story", None) is not None:
            return
        stories = self._rd_guards().stories
        candidates = [*(keys or ()), *getattr(error, "keys", ())]
        story = next((stories[str(k)] for k in candidates if str(k) in stories), None)
        if story is None:
            return
        with contextlib.suppress(Exception):
            error.story = story  # type: ignore[attr-defined]
        if isinstance(error, WorkerLost) and story.workers:
            known = tuple(error.context.detail("workers") or ())
            workers = tuple(dict.fromkeys([*known, *story.workers]))
            details = tuple((k, v) for k, v in error.context.details if k != "workers")
            error.context = error.context.replace(details=(*details, ("workers", workers)))

    def explain(self, future_or_key: Any) -> Any:
        """The task's story as a readable timeline: states, workers, times, what failed and why.

        Uses the story captured when the task erred (the scheduler forgets old
        transitions), else asks the scheduler now. Returns a ``str`` (awaitable in
        async mode).
        """
        key = future_or_key.key if isinstance(future_or_key, Future) else future_or_key
        return self.sync(self._rd_explain, key)  # type: ignore[attr-defined]

    async def _rd_explain(self, key: Any) -> str:
        story = self._rd_guards().stories.get(str(key))
        if story is None:
            facts = await self._rd_on_scheduler(_scheduler_probe.collect_task_facts, [key])
            story = TaskStory.from_facts(facts[key])
        return story.render()

    # -- watchdog -------------------------------------------------------------------------------

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
        """Restart workers whose heartbeats stopped for ``stale_after``, through their nanny.

        At most ``max_restarts`` restarts per worker per ``window``; past that, and for
        workers without a nanny, the worker is only reported. Every decision is a
        ``watchdog.*`` event. Returns a handle with ``.events`` and ``.stop()`` (also a
        context manager). The scheduler is polled every ``poll_interval`` (default:
        ``stale_after / 4``, at most 1 s).

        With ``task_timeout``, a task of this client running longer than that fails with
        :class:`~resilient_dask.errors.TaskTimeout`, is released on the scheduler, and its
        worker is restarted (within the same budget; workers without a nanny are only
        reported). Durations come from the workers' heartbeats (about every second).
        """
        policy = WatchdogPolicy(
            _seconds("stale_after", stale_after),
            restart=restart,
            max_restarts=max_restarts,
            window=_seconds("window", window),
            task_timeout=_seconds("task_timeout", task_timeout) if task_timeout else None,
        )
        interval = (
            _seconds("poll_interval", poll_interval)
            if poll_interval is not None
            else min(1.0, policy.stale_after / 4)
        )
        timeout = _seconds("restart_timeout", restart_timeout)
        watch = WorkerWatch(policy, self._rd_address())  # type: ignore[attr-defined]

        def start() -> None:
            task = asyncio.ensure_future(self._rd_watch_loop(watch, interval, timeout))
            watch._on_stop.append(lambda: self.loop.add_callback(task.cancel))  # type: ignore[attr-defined]

        self.loop.add_callback(start)  # type: ignore[attr-defined]
        watch.record(
            "watchdog.started",
            stale_after=policy.stale_after,
            restart=restart,
            max_restarts=max_restarts,
            window=policy.window,
        )
        return watch

    async def _rd_watch_loop(self, watch: WorkerWatch, interval: float, timeout: float) -> None:
        while not watch.stopped and self.status not in ("closing", "closed"):  # type: ignore[attr-defined]
            try:
                info = await asyncio.wait_for(
                    self.scheduler.identity(n_workers=-1),  # type: ignore[attr-defined]
                    max(interval, 5.0),
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                # Scheduler unreachable: the connection monitor reports that.
                await asyncio.sleep(interval)
                continue
            snapshots = [
                WorkerSnapshot(
                    addr, str(meta.get("name")), float(meta["last_seen"]), meta.get("nanny")
                )
                for addr, meta in info.get("workers", {}).items()
            ]
            decisions = watch.policy.observe(time.monotonic(), snapshots)
            if watch.policy.task_timeout is not None:
                with contextlib.suppress(Exception):
                    executing = await asyncio.wait_for(
                        self._rd_on_scheduler(_scheduler_probe.executing_tasks), 5.0
                    )
                    decisions += watch.policy.observe_tasks(
                        time.monotonic(), snapshots, executing
                    )
            for decision in decisions:
                watch.record_decision(decision)
                if decision.tasks:
                    self._rd_fail_overdue(watch, decision)
                if decision.action == "restart":
                    self._rd_background(self._rd_restart_worker(watch, decision, timeout))
            await asyncio.sleep(interval)

    def _rd_fail_overdue(self, watch: WorkerWatch, decision: Decision) -> None:
        """Fail this client's overdue futures with TaskTimeout and release their tasks."""
        states = _compat.client_states(self)  # type: ignore[arg-type]
        limit = watch.policy.task_timeout
        for key, ran in decision.tasks:
            state = states.get(key)
            if state is None:
                continue  # not one of ours: the restart reschedules it
            ctx = ErrorContext(
                scheduler=self._rd_address(),  # type: ignore[attr-defined]
                keys=(str(key),),
                happened_at=time.time(),
                state=self.connection.state.name,  # type: ignore[attr-defined]
                details=(
                    ("task_timeout", limit),
                    ("ran_for", ran),
                    ("worker", decision.worker),
                    ("restarted", decision.action == "restart"),
                ),
            )
            message = f"Task {str(key)!r} ran longer than task_timeout={limit:g} s and was stopped."
            self._rd_release_on_scheduler([key])  # type: ignore[attr-defined]
            _compat.error_state(state, TaskTimeout(ctx, message))

    async def _rd_restart_worker(
        self, watch: WorkerWatch, decision: Decision, timeout: float
    ) -> None:
        try:
            out = await self.scheduler.restart_workers(  # type: ignore[attr-defined]
                workers=[decision.worker],
                timeout=timeout,
                on_error="return",
                stimulus_id=f"resilient-dask-watchdog-{time.time()}",
            )
            outcome = str(out.get(decision.worker, out))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = repr(exc)
        watch.record(
            "watchdog.restarted" if outcome == "OK" else "watchdog.restart_failed",
            worker=decision.worker,
            name=decision.name,
            outcome=outcome,
        )

    # -- pins -------------------------------------------------------------------------------------

    def pin_workers(
        self, workers: Sequence[str] | None = None, reason: str = "", *, lease: str | float = "30s"
    ) -> PinnedWorkers:
        """Context manager (sync and async): adaptive scaling will not retire these workers.

        ``workers=None`` pins the workers holding this client's data when the block
        starts. The pin is a lease of ``lease`` seconds renewed while the block runs,
        so a client that dies leaves no permanent pin. Explicit
        ``retire_workers(workers=[...])`` is not blocked.
        """
        return PinnedWorkers(self, workers, reason, _seconds("lease", lease))

    async def _rd_pin(self, pin: PinnedWorkers) -> None:
        workers = list(pin.requested) if pin.requested is not None else None
        if workers is None:
            keys = list(_compat.client_states(self))  # type: ignore[arg-type]
            who_has = await self.scheduler.who_has(keys=keys) if keys else {}  # type: ignore[attr-defined]
            workers = sorted({w for holders in who_has.values() for w in holders})
        pin.workers = await self._rd_on_scheduler(
            pins.acquire, pin.id, workers, pin.reason, pin.lease, self.id  # type: ignore[attr-defined]
        )
        pin.renewer = asyncio.ensure_future(self._rd_renew_pin(pin))
        emit(
            "workers.pinned",
            address=self._rd_address(),  # type: ignore[attr-defined]
            lease=pin.id,
            workers=pin.workers,
            reason=pin.reason,
        )

    async def _rd_renew_pin(self, pin: PinnedWorkers) -> None:
        while True:
            await asyncio.sleep(pin.lease / 3)
            try:
                if not await self._rd_on_scheduler(pins.renew, pin.id, pin.lease):
                    await self._rd_on_scheduler(
                        pins.acquire, pin.id, pin.workers, pin.reason, pin.lease, self.id  # type: ignore[attr-defined]
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # scheduler away: try again at the next renewal
                logger.debug("resilient_dask: renewing pin %s failed: %r", pin.id, exc)

    async def _rd_unpin(self, pin: PinnedWorkers) -> None:
        if pin.renewer is not None:
            pin.renewer.cancel()
        try:
            await self._rd_on_scheduler(pins.release, pin.id)
        finally:
            emit("workers.unpinned", address=self._rd_address(), lease=pin.id)  # type: ignore[attr-defined]


class PinnedWorkers:
    """What ``rc.pin_workers()`` returns: use it as ``with`` / ``async with``.

    ``workers`` holds the pinned worker addresses once the block has started.
    """

    def __init__(
        self, client: Any, requested: Sequence[str] | None, reason: str, lease: float
    ) -> None:
        self.client = client
        self.requested = (requested,) if isinstance(requested, str) else requested
        self.reason = reason
        self.lease = lease
        self.id = f"pin-{uuid.uuid4().hex}"
        self.workers: list[str] = []
        self.renewer: asyncio.Future[None] | None = None

    def __enter__(self) -> PinnedWorkers:
        self.client.sync(self.client._rd_pin, self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.sync(self.client._rd_unpin, self)

    async def __aenter__(self) -> PinnedWorkers:
        await self.client._rd_pin(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client._rd_unpin(self)

    def __repr__(self) -> str:
        return f"<PinnedWorkers {self.workers} reason={self.reason!r} lease={self.lease:g}s>"
