"""``resilient-dask explain``: a task's story from a running scheduler.

The story is what ``rc.explain(key)`` shows: the same scheduler-side collector
(:func:`resilient_dask._scheduler_probe.collect_task_facts`) and the same
:class:`~resilient_dask.forensics.TaskStory` rendering, fetched here by a fresh
client that holds no futures.
"""

from __future__ import annotations

import ast
from typing import Any

import cloudpickle

from resilient_dask import _scheduler_probe
from resilient_dask.doctor.address import SchedulerAddress
from resilient_dask.doctor.connect import bounded, connected_client
from resilient_dask.forensics import TaskStory

__all__ = ["BadKey", "fetch_story", "is_unknown", "parse_key"]

# Shipped by value: the scheduler does not need resilient_dask installed.
cloudpickle.register_pickle_by_value(_scheduler_probe)

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


async def fetch_story(address: SchedulerAddress, key: Any, timeout: float) -> TaskStory:
    """Connect within ``timeout`` and ask the scheduler for ``key``'s story."""
    async with connected_client(address, timeout) as client:
        facts = await bounded(
            client.run_on_scheduler(_scheduler_probe.collect_task_facts, [key]),
            timeout,
            address,
            "reading the task's story (run_on_scheduler)",
        )
    return TaskStory.from_facts(facts[key])
