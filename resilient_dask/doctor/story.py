"""``resilient-dask explain``: a task's story from a running scheduler.

The story is what ``rc.explain(key)`` shows: the same scheduler-side collector
(:func:`resilient_dask._compat.on_scheduler.collect_task_facts`, shipped by value) and the same
:class:`~resilient_dask.forensics.TaskStory` rendering, fetched here by a fresh
client that holds no futures.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from resilient_dask._compat import on_scheduler
from resilient_dask.doctor.address import SchedulerAddress
from resilient_dask.doctor.connect import Unreachable, bounded, connected_client, failure
from resilient_dask.forensics import TaskStory

if TYPE_CHECKING:
    from distributed.security import Security

__all__ = ["BadKey", "StoryRefused", "fetch_story", "is_unknown", "parse_key"]

_TUPLE_HINT = "write a tuple key as a Python literal, e.g. \"('sum-3f2a9c', 0)\""


class BadKey(ValueError):
    """A KEY argument that is not a valid Dask key; the message says how to write one."""


def parse_key(text: str) -> Any:
    """A Dask key from the command line: a string, or a tuple written as a literal."""
    if not text.strip():
        raise BadKey("the key is empty; copy it from future.key (print(future.key))")
    if not text.lstrip().startswith("("):
        return text
    try:
        key = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        raise BadKey(f"{text!r} looks like a tuple key but does not parse; {_TUPLE_HINT}") from None
    if not isinstance(key, tuple) or not key:
        raise BadKey(f"{text!r} is not a tuple key; {_TUPLE_HINT}")
    return key


def is_unknown(story: TaskStory) -> bool:
    """The scheduler neither holds the task nor has it in its transition log."""
    return story.state is None and not story.steps


class StoryRefused(Exception):
    """The scheduler answered but would not run the story collector; says why and the fix."""


async def fetch_story(
    address: SchedulerAddress, key: Any, timeout: float, security: Security | None = None
) -> TaskStory:
    """Connect within ``timeout`` (with ``security``, if given); ask for ``key``'s story.

    Raises :class:`~resilient_dask.doctor.connect.Unreachable` or :class:`StoryRefused`.
    """
    async with connected_client(address, timeout, security) as client:
        asking = client.run_on_scheduler(on_scheduler.collect_task_facts, [key])
        try:
            facts = await bounded(asking, timeout, address, "reading the task's story")
        except Unreachable:
            raise
        except Exception as exc:
            raise StoryRefused(
                f"The scheduler at {address} did not give the task's story: run_on_scheduler "
                f"failed ({failure(exc)}). The story is read by a function run on the "
                "scheduler: remove run_function from distributed.scheduler.blocked-handlers "
                "in its config, or read it there with Scheduler.story(key)."
            ) from None
    return TaskStory.from_facts(facts[key])
