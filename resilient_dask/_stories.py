"""Task stories: what the scheduler knew about a failed task, kept with its error.

When a task errs, :class:`TaskStories` asks the scheduler for the task's story
(transitions, workers, deaths; :class:`~resilient_dask.forensics.TaskStory`) before
the error is delivered, because the scheduler forgets it soon after. The story
is attached to the error ``result()`` raises (``err.story``), and a worker death
becomes a :class:`~resilient_dask.errors.WorkerLost` naming the task and the
workers. ``rc.explain()`` renders a kept story, or asks the scheduler.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Sequence
from typing import Any

from resilient_dask._client_events import Deliver
from resilient_dask._compat import on_scheduler
from resilient_dask._compat.port import ClientPort
from resilient_dask._events import emit
from resilient_dask._outages import Outages
from resilient_dask._translate import killed_worker
from resilient_dask.errors import WorkerLost, worker_deaths
from resilient_dask.forensics import TaskStory

#: How many captured stories a client keeps (oldest dropped first).
STORIES_KEPT = 1000
#: How long capturing a story may delay delivering a task's error.
STORY_TIMEOUT = 5.0


class TaskStories:
    """The stories of one client's failed tasks."""

    def __init__(self, port: ClientPort, outages: Outages) -> None:
        self._port = port
        self._outages = outages
        self._stories: collections.OrderedDict[str, TaskStory] = collections.OrderedDict()

    def task_erred(self, key: Any, exception: Any, deliver: Deliver) -> None:
        """Capture the story of ``key``, then deliver its (typed) error."""
        self._port.background(self._capture_then_deliver(key, exception, deliver))

    async def _capture_then_deliver(self, key: Any, exception: Any, deliver: Deliver) -> None:
        story = None
        error = exception
        try:
            story = await self._capture(key)
            error = self._typed_task_error(key, exception)
        finally:
            deliver(error)
        # The error result() raises is what upstream built from the message (unpickled).
        state = self._port.states().get(key)
        if story is not None and state is not None and state.exception is not None:
            with contextlib.suppress(Exception):
                state.exception.story = story

    def _typed_task_error(self, key: Any, exception: Any) -> Any:
        """A WorkerLost naming ``key`` (and the dependency whose workers died), else
        ``exception`` itself: the very object of the report, so that its traceback (the
        task's frames on the worker) is delivered with it."""
        killed = killed_worker(exception)
        if killed is None:
            return exception
        typed = self._outages.translate(killed, [key])
        if not isinstance(typed, WorkerLost) or str(killed.task) == str(key):
            return typed
        task = str(killed.task)
        deaths = worker_deaths(typed.context.detail("deaths"))
        return WorkerLost(
            typed.context.replace(keys=(str(key), task)),
            f"{str(key)!r} did not run: its dependency {task!r} failed because {deaths}.",
        )

    async def _capture(self, key: Any) -> TaskStory | None:
        try:
            facts = await asyncio.wait_for(
                self._port.run_on_scheduler(on_scheduler.collect_task_facts, [key]),
                STORY_TIMEOUT,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            emit("forensics.story_unavailable", key=str(key), reason=repr(exc))
            return None
        story = TaskStory.from_facts(facts[key])
        self._stories[str(key)] = story
        while len(self._stories) > STORIES_KEPT:
            self._stories.popitem(last=False)
        return story

    def decorate(self, error: BaseException, keys: Sequence[Any] | None) -> None:
        """Attach the captured story of the failed task to the error being raised."""
        if getattr(error, "story", None) is not None:
            return
        candidates = [*(keys or ()), *getattr(error, "keys", ())]
        story = next((self._stories[str(k)] for k in candidates if str(k) in self._stories), None)
        if story is None:
            return
        with contextlib.suppress(Exception):
            # Any exception class may carry it: the attribute is ours, not its class's.
            error.story = story  # type: ignore[attr-defined]
        if isinstance(error, WorkerLost) and (story.workers or story.deaths):
            # The story tells which workers died under the task, and how many.
            known = tuple(error.context.detail("workers") or ())
            workers = tuple(dict.fromkeys([*known, *story.workers]))
            deaths = story.deaths or error.context.detail("deaths")
            details = tuple(
                (k, v) for k, v in error.context.details if k not in ("workers", "deaths")
            )
            error.context = error.context.replace(
                details=(*details, ("workers", workers), ("deaths", deaths))
            )

    async def explain(self, key: Any) -> str:
        """The story of ``key`` as text: the kept one, else the scheduler's now."""
        story = self._stories.get(str(key))
        if story is None:
            facts = await self._port.run_on_scheduler(on_scheduler.collect_task_facts, [key])
            story = TaskStory.from_facts(facts[key])
        return story.render()
