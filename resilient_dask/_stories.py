"""Task stories: what the scheduler knew about a failed task, kept with its error.

A failed task's error is delivered at once, as with ``distributed.Client``; its
story (transitions, workers, deaths; :class:`~resilient_dask.forensics.TaskStory`)
is captured from the scheduler right after, in the background and in batches:
the keys that fail while one capture is under way, or within :data:`STORY_WINDOW`
after one, go together in one capture (one request, one pass over the scheduler's
transition log, for up to :data:`STORY_BATCH` keys). The request is a plain RPC to
the handler the story recorder's installer adds on the scheduler
(:data:`~resilient_dask._compat.on_scheduler.FACTS_OP`); without the recorder, it is
``run_on_scheduler`` of the same function. The story is
attached to the error ``result()`` raises or ``exception()`` returns (``err.story``);
a blocking call that meets a failed task whose story is still being captured waits
for that capture (at most :data:`STORY_TIMEOUT`), so ``err.story`` is there when the
error reaches the user.
A worker death becomes a :class:`~resilient_dask.errors.WorkerLost` naming the
task, how many workers died and which. ``rc.explain()`` renders a kept story (waiting
for one being captured), or asks the scheduler.

The scheduler's transition log keeps only its last transitions, so for a large map a
task's first ones are gone by the time it fails. With ``record_stories`` (the default)
the client installs the story recorder on the scheduler each time it connects
(:class:`~resilient_dask._compat.on_scheduler.StoryRecorder`, one per scheduler, shared
by its clients), which keeps each computing task's transitions until it reaches memory,
and erred tasks' for longer; the capture reads the recorder's steps where they reach
further back than the log's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from resilient_dask._compat import on_scheduler
from resilient_dask._compat.port import ClientPort
from resilient_dask._events import emit
from resilient_dask._outages import Outages
from resilient_dask._translate import killed_worker
from resilient_dask.errors import WorkerLost, worker_deaths
from resilient_dask.forensics import TaskStory

logger = logging.getLogger(__name__)

#: How many captured stories a client keeps (oldest dropped first).
STORIES_KEPT = 1000
#: How long a blocking call (or ``rc.explain()``) waits for a story being captured.
STORY_TIMEOUT = 5.0
#: At most this many keys' stories are asked for in one request.
STORY_BATCH = 1000
#: A capture that follows another within this long (seconds) first waits this long for
#: more failures to join it, unless a blocking call or ``rc.explain()`` waits for one of
#: its stories: tasks failing one after the other cost a few captures, not one each,
#: while the first failure after a quiet spell is captured at once. Each capture is a
#: round trip and a pass over the scheduler's log and events, on the loop an in-process
#: scheduler shares: at 50 ms, the ~500 captures of a map of 10,000 failing tasks cost it
#: about a tenth of its time; at 0.5 s, a few dozen cost next to nothing.
STORY_WINDOW = 0.5


class TaskStories:
    """The stories of one client's failed tasks."""

    def __init__(self, port: ClientPort, outages: Outages, *, record: bool) -> None:
        self._port = port
        self._outages = outages
        #: Whether to install the story recorder on the scheduler (``record_stories``).
        self._record = record
        self._stories: collections.OrderedDict[str, TaskStory] = collections.OrderedDict()
        #: Keys waiting for the next capture (str(key) -> key), in the order they failed.
        self._queued: dict[str, Any] = {}
        #: Keys queued or being captured -> the future set when their capture is over.
        self._capturing: dict[str, asyncio.Future[None]] = {}
        self._next: asyncio.Future[None] | None = None
        self._running = False
        #: Set when someone waits for a story: the next capture starts at once.
        self._hurry: asyncio.Event | None = None
        #: When the last capture ended (loop clock): a failure soon after waits for others.
        self._last_capture = float("-inf")
        #: Whether the scheduler has the recorder's facts handler (installed with it).
        self._facts_op = False

    async def connected(self) -> None:
        """Install the story recorder on the scheduler just connected to, unless one is
        there (another client's, or ours before a reconnect to the same scheduler).
        Without it, stories come from the scheduler's log alone, as before."""
        self._facts_op = False
        if not self._record:
            return
        try:
            added = await asyncio.wait_for(
                self._port.run_on_scheduler(
                    on_scheduler.install_story_recorder, on_scheduler.ERRED_STORIES_KEPT
                ),
                STORY_TIMEOUT,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            emit("forensics.recorder_unavailable", address=self._port.address(), reason=repr(exc))
            return
        self._facts_op = True
        logger.debug("resilient_dask: story recorder %s", "installed" if added else "present")

    def task_erred(self, key: Any, exception: Any) -> Any:
        """The (typed) error of ``key`` to deliver now; its story is captured right after,
        in the background (unless the report repeats a failure already delivered: the
        scheduler reports an erred key again to a client that sends a graph needing it)."""
        state = self._port.states().get(key)
        if state is None or state.status != "error":
            self._queue(key)
        return self._typed_task_error(key, exception)

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

    # -- capturing, in batches ------------------------------------------------------------

    def _queue(self, key: Any) -> None:
        name = str(key)
        if name in self._capturing:
            return
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        self._queued[name] = key
        self._capturing[name] = self._next
        if not self._running:
            self._running = True
            self._port.background(self._capture_queued())

    def _take(self) -> tuple[list[Any], asyncio.Future[None]]:
        """The next batch of queued keys, now pointing at a future of their own; those
        left point at a new one (whoever waited on the old one looks again)."""
        loop = asyncio.get_running_loop()
        names = list(self._queued)[:STORY_BATCH]
        batch = [self._queued.pop(name) for name in names]
        done: asyncio.Future[None] = loop.create_future()
        for name in names:
            self._capturing[name] = done
        moved, self._next = self._next, None
        if self._queued:
            left: asyncio.Future[None] = loop.create_future()
            for name in self._queued:
                self._capturing[name] = left
            self._next = left
        if moved is not None:
            moved.set_result(None)
        return batch, done

    async def _capture_queued(self) -> None:
        """Capture the queued keys' stories, a batch at a time, until none is left."""
        hurry = self._hurry = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            while self._queued:
                if loop.time() - self._last_capture < STORY_WINDOW:  # failures in a burst
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(hurry.wait(), STORY_WINDOW)
                    hurry.clear()
                batch, done = self._take()
                try:
                    await self._capture(batch)
                finally:
                    self._last_capture = loop.time()
                    for key in batch:
                        self._capturing.pop(str(key), None)
                    done.set_result(None)
        finally:
            self._running = False
            self._hurry = None
            if self._queued:  # cancelled (the client closed): nobody waits for these
                for name in self._queued:
                    self._capturing.pop(name, None)
                self._queued.clear()
                if self._next is not None:
                    self._next.set_result(None)
                    self._next = None

    async def _facts(self, keys: list[Any]) -> list[dict[str, Any]]:
        """The scheduler's facts of ``keys``, in their order: through the recorder's
        handler when it was installed, else ``collect_task_facts`` shipped to run there."""
        if self._facts_op:
            answer = await self._port.scheduler_call(on_scheduler.FACTS_OP, keys=keys)
            if answer is not None:
                return list(answer)
            # A scheduler without the handler answers None: one restarted at the same
            # address before this client reinstalled the recorder on it.
        facts = await self._port.run_on_scheduler(on_scheduler.collect_task_facts, keys)
        return [facts[key] for key in keys]

    async def _capture(self, keys: list[Any]) -> None:
        try:
            facts = await asyncio.wait_for(self._facts(keys), STORY_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            emit("forensics.story_unavailable", keys=len(keys), reason=repr(exc))
            return
        states = self._port.states()
        for key, known in zip(keys, facts, strict=True):
            story = TaskStory.from_facts(known)
            self._stories[str(key)] = story
            # The error result() raises is what upstream built from the message.
            state = states.get(key)
            if state is not None and state.exception is not None:
                self._attach(state.exception, story)
        while len(self._stories) > STORIES_KEPT:
            self._stories.popitem(last=False)

    async def _captured(self, keys: Sequence[Any]) -> None:
        """Wait (at most STORY_TIMEOUT) until the stories of ``keys`` being captured are."""
        names = [str(k) for k in keys]
        if self._hurry is not None and any(n in self._capturing for n in names):
            self._hurry.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STORY_TIMEOUT
        while True:
            waiting = {self._capturing[n] for n in names if n in self._capturing}
            left = deadline - loop.time()
            if not waiting or left <= 0:
                return
            await asyncio.wait(waiting, timeout=left)

    # -- what the user reads --------------------------------------------------------------

    async def decorate(self, error: BaseException, keys: Sequence[Any] | None) -> None:
        """Attach the story of the failed task to the error being raised (or returned),
        waiting for its capture if it is under way."""
        if getattr(error, "story", None) is not None:
            return
        candidates = [*(keys or ()), *getattr(error, "keys", ())]
        if self._capturing:
            await self._captured(candidates)
        story = next((self._stories[str(k)] for k in candidates if str(k) in self._stories), None)
        if story is not None:
            self._attach(error, story)

    @staticmethod
    def _attach(error: BaseException, story: TaskStory) -> None:
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
        """The story of ``key`` as text: the kept one (once captured), else the scheduler's now."""
        await self._captured([key])
        story = self._stories.get(str(key))
        if story is None:
            (facts,) = await self._facts([key])
            story = TaskStory.from_facts(facts)
        return story.render()
