"""Code that runs on the scheduler (through ``run_on_scheduler``) for forensics.

Imports only the standard library and returns only builtins: it is shipped by
value (``cloudpickle.register_pickle_by_value``), so the scheduler does not need
resilient_dask installed, and its answers unpickle anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["collect_task_facts", "executing_tasks"]


def _steps(transitions: Iterable[Sequence[Any]], key: Any, events: Any) -> list[dict[str, Any]]:
    by_stimulus: dict[str, tuple[Any, Any]] = {}
    for _, msg in events:
        if isinstance(msg, dict) and msg.get("stimulus_id"):
            by_stimulus[msg["stimulus_id"]] = (msg.get("worker"), msg.get("action"))
    steps = []
    for transition in transitions:
        if transition[0] != key:
            continue
        _, start, finish, _, stimulus_id, timestamp = transition
        worker, action = by_stimulus.get(stimulus_id, (None, None))
        steps.append(
            {
                "start": str(start),
                "finish": str(finish),
                "timestamp": float(timestamp),
                "stimulus_id": str(stimulus_id),
                "worker": worker,
                "action": action,
            }
        )
    return steps


def collect_task_facts(
    keys: Sequence[Any], dask_scheduler: Any = None
) -> dict[Any, dict[str, Any]]:
    """Run on the scheduler: plain facts about each key (see :meth:`TaskStory.from_facts`).

    Upstream: ``Scheduler.story(key)`` returns ``Transition(key, start, finish,
    recommendations, stimulus_id, timestamp)`` tuples; ``Scheduler.get_events("all")``
    holds ``(time, msg)`` with ``msg["stimulus_id"]`` and ``msg["worker"]`` for
    worker removals; ``TaskState`` has ``state``, ``suspicious``, ``erred_on``,
    ``exception_text``, ``traceback_text``, ``exception_blame`` and ``processing_on``.
    Returns only builtins, so that it can be shipped by value and its answer read anywhere.
    """
    scheduler = dask_scheduler
    try:
        events = scheduler.get_events("all")
    except Exception:  # pragma: no cover - events are an optional enrichment
        events = ()
    out: dict[Any, dict[str, Any]] = {}
    for key in keys:
        steps = _steps(scheduler.story(key), key, events)
        ts = scheduler.tasks.get(key)
        workers: list[str] = []
        if ts is not None:
            workers.extend(sorted(ts.erred_on or ()))
            if ts.processing_on is not None:
                workers.append(ts.processing_on.address)
        workers.extend(s["worker"] for s in steps if s["worker"] and s["worker"] not in workers)
        blame = getattr(ts, "exception_blame", None) if ts is not None else None
        out[key] = {
            "key": str(key),
            "captured_at": time.time(),
            "state": ts.state if ts is not None else None,
            "steps": steps,
            "workers": list(dict.fromkeys(workers)),
            "deaths": int(ts.suspicious) if ts is not None else 0,
            "exception": (ts.exception_text or None) if ts is not None else None,
            "traceback": (ts.traceback_text or None) if ts is not None else None,
            "blame": str(blame.key) if blame is not None else None,
            "complete": bool(steps) and steps[0]["start"] == "released",
        }
    return out


def executing_tasks(dask_scheduler: Any = None) -> dict[str, dict[Any, float]]:
    """Run on the scheduler: for each worker, the tasks it runs and for how long (seconds).

    Upstream: workers report ``executing={key: seconds since the task started}`` with
    each heartbeat; the scheduler keeps it as ``WorkerState.executing``
    (``TaskState`` → seconds).
    """
    return {
        address: {ts.key: float(duration) for ts, duration in ws.executing.items()}
        for address, ws in dask_scheduler.workers.items()
    }
