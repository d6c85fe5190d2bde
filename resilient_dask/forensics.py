"""Failure forensics: a failed task's scheduler story, captured right away and rendered.

The scheduler keeps only its last transitions (``distributed.admin.low-level-log-length``,
1,000 by default), so a story read minutes after a failure is often gone, and for a
large map a task's first transitions are gone by the time it fails. A ResilientClient
installs a story recorder on the scheduler (``record_stories``), which keeps the
transitions of computing tasks and of recently erred ones. When a
future of a ResilientClient errs, the client delivers the error and asks the
scheduler for that task's story right after (in batches, in the background), and
attaches it to the error raised from ``result()`` / ``gather()`` / ``compute()`` or
returned by ``exception()`` as ``err.story`` (a :class:`TaskStory`).
``rc.explain(future_or_key)`` renders it as a timeline.

:func:`~resilient_dask._compat.on_scheduler.collect_task_facts` runs *on the
scheduler* (through the handler the story recorder's installer adds there, or
``run_on_scheduler`` without the recorder; shipped by value) and returns builtins;
:meth:`TaskStory.from_facts` turns them into a :class:`TaskStory` here.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, NamedTuple

__all__ = ["StoryStep", "TaskStory", "render"]


class StoryStep(NamedTuple):
    """One scheduler transition of the task: ``start`` → ``finish`` at ``timestamp``.

    A named tuple (immutable, its fields by name or position): a story holds a few and a
    map of failing tasks makes many, so they are built at C speed from the tuples the
    scheduler sends.
    """

    start: str
    finish: str
    timestamp: float
    stimulus_id: str
    #: Worker the stimulus came from (or concerned), if the scheduler logged one.
    worker: str | None = None
    #: What the scheduler logged for that stimulus (``"remove-worker"``, ...), if anything.
    action: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class TaskStory:
    """What the scheduler knew about one task when the story was captured. Pickles."""

    key: str
    captured_at: float
    state: str | None
    steps: tuple[StoryStep, ...] = ()
    #: Workers the task failed on (for a task error) or was running on when they died.
    workers: tuple[str, ...] = ()
    #: How many workers died while running it (the scheduler's ``suspicious`` count).
    deaths: int = 0
    exception: str | None = None
    traceback: str | None = None
    #: The key of the task that actually failed, if this one failed because of it.
    blame: str | None = None
    #: Whether the steps reach back to the task's start (its first transition, from
    #: "released"). With the story recorder on the scheduler, it is unless the task
    #: started before the recorder was installed; without it, only while the
    #: scheduler's transition log still holds that transition.
    complete: bool = True

    @classmethod
    def from_facts(cls, facts: dict[str, Any]) -> TaskStory:
        """Build from what ``_compat.on_scheduler.collect_task_facts`` returned (its steps
        are tuples in the order of :class:`StoryStep`'s fields)."""
        return cls(
            key=facts["key"],
            captured_at=facts["captured_at"],
            state=facts["state"],
            steps=tuple(map(StoryStep._make, facts["steps"])),
            workers=tuple(facts["workers"]),
            deaths=facts["deaths"],
            exception=facts["exception"],
            traceback=facts["traceback"],
            blame=facts["blame"],
            complete=facts["complete"],
        )

    def render(self) -> str:
        """The story as a readable timeline (what :meth:`ResilientClient.explain` returns)."""
        return render(self)

    def __str__(self) -> str:
        return self.render()


def _stamp(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"


def render(story: TaskStory) -> str:
    """Render a :class:`TaskStory`: header, timeline, what failed and why."""
    lines = [f"Task {story.key!r}: {story.state or 'unknown to the scheduler'}"]
    if story.steps:
        first = story.steps[0].timestamp
        lines.append("Timeline (scheduler clock, UTC):")
        for step in story.steps:
            where = f"  [{step.action} {step.worker}]" if step.action and step.worker else (
                f"  [{step.worker}]" if step.worker else ""
            )
            lines.append(
                f"  {_stamp(step.timestamp)}  +{step.timestamp - first:7.3f}s  "
                f"{step.start:>10} -> {step.finish:<10} ({step.stimulus_id}){where}"
            )
        if not story.complete:
            lines.append(
                "  (earlier transitions were no longer in the scheduler's transition log)"
            )
    else:
        lines.append("No transitions left in the scheduler's transition log for this task.")
    if story.deaths:
        lines.append(f"Workers that died while running it: {story.deaths}")
    if story.workers:
        lines.append(f"Workers: {', '.join(story.workers)}")
    if story.blame and story.blame != story.key:
        lines.append(f"Failed because its dependency {story.blame!r} failed.")
    if story.exception:
        lines.append(f"Error: {story.exception}")
    if story.traceback:
        lines.append("Traceback (last lines):")
        tail = [line for line in story.traceback.strip().splitlines() if line.strip()][-6:]
        lines.extend(f"  {line}" for line in tail)
    return "\n".join(lines)
