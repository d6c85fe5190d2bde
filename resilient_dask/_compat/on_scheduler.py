"""Code that runs *on the scheduler*, through ``Client.run_on_scheduler`` (and the
task-facts handler the story recorder's installer adds there, :data:`FACTS_OP`).

Every read of scheduler state resilient_dask makes is here, each with the
upstream behaviour it relies on (``tests/test_compat.py`` runs each against a
real scheduler): the forensics' task facts and the story recorder plugin, the
watchdog's stale workers and overdue tasks, the pins plugin, and the doctor's
settings.

This module imports only the standard library, dask and distributed's plugin
base class, and everything crossing the wire is builtins: it is shipped by value
(``cloudpickle.register_pickle_by_value``, at the bottom), so the scheduler does
not need resilient_dask installed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

import cloudpickle
from distributed.diagnostics.plugin import SchedulerPlugin

__all__ = [
    "ERRED_STORIES_KEPT",
    "FACTS_OP",
    "PINS_PLUGIN",
    "STORY_PLUGIN",
    "PinPlugin",
    "StoryRecorder",
    "acquire_pin",
    "collect_task_facts",
    "install_story_recorder",
    "list_pins",
    "release_pin",
    "renew_pin",
    "scheduler_settings",
    "stale_workers",
    "task_facts_handler",
]

#: The name the pins plugin is registered under on the scheduler.
PINS_PLUGIN = "resilient-dask-pins"
#: The name the story recorder is registered under on the scheduler.
STORY_PLUGIN = "resilient-dask-stories"
#: How many erred tasks' stories the recorder keeps (oldest dropped first).
ERRED_STORIES_KEPT = 10_000
#: How many worker removals the recorder remembers, to name the worker in a story.
REMOVALS_KEPT = 1_000
#: The scheduler operation (handler) the story recorder's installer adds: a client asks
#: it for failed tasks' facts in one plain RPC (see :func:`task_facts_handler`).
FACTS_OP = "resilient_dask_task_facts"


# -- the story recorder -------------------------------------------------------------------
# The scheduler's transition log is a ring buffer of ``distributed.admin.low-level-log-length``
# entries (1,000 by default): a map of a few hundred tasks or more has pushed a task's first
# transitions out of it by the time the task fails. The recorder keeps, per task on its way
# to a result, its own transitions, and keeps them when the task errs.
#
# Upstream: ``Scheduler._transition`` appends ``Transition(key, start, finish,
# recommendations, stimulus_id, timestamp)`` to ``transition_log`` and then calls every
# plugin's ``transition(key, start, finish, stimulus_id=..., **kwargs)`` with the same
# key, start and (actual) finish, for every transition, a transition through "released"
# (erred -> waiting) as two; a plugin that raises is logged and skipped. A task ends in
# "forgotten" (the scheduler drops it) or "memory"; it starts computing on the way to
# "waiting", "queued", "processing" or "no-worker"; "released" is also a step of a task
# that is computed again (its worker died, or it was retried).

#: Finishing in one of these, a task not yet recorded starts a record.
_STARTS = frozenset({"waiting", "queued", "processing", "no-worker"})
#: Finishing in one of these, a task's record is dropped.
_ENDS = frozenset({"memory", "forgotten"})
#: The clock of the steps (``distributed.metrics.time`` is ``time.time`` on Linux and macOS).
_now = time.time


class StoryRecorder(SchedulerPlugin):
    """Keeps the transitions of each task on its way to a result, and of erred tasks.

    A record starts when a task enters computation and is dropped when the task reaches
    memory or is forgotten; when the task errs, its record moves to ``erred``, which keeps
    the last ``kept`` erred tasks (oldest dropped first). Each step is a tuple in the shape
    of the scheduler's log, ``(key, start, finish, None, stimulus_id, timestamp)``, and a
    task's steps are a tuple too (a new one per step: a task makes a handful), so that the
    garbage collector, which stops tracking tuples of strings and numbers, does not walk
    the records on every collection of the scheduler's process.
    """

    idempotent = True
    name = STORY_PLUGIN

    def __init__(self, kept: int = ERRED_STORIES_KEPT) -> None:
        self.kept = kept
        #: key -> steps, for tasks on their way to a result.
        self.running: dict[Any, tuple[tuple[Any, ...], ...]] = {}
        #: key -> steps, for erred tasks, oldest first.
        self.erred: dict[Any, tuple[tuple[Any, ...], ...]] = {}
        #: stimulus_id -> (worker, "remove-worker") of the last REMOVALS_KEPT removals.
        self.removals: dict[str, tuple[str, str]] = {}

    def transition(
        self, key: Any, start: Any, finish: Any, *args: Any, stimulus_id: str, **kwargs: Any
    ) -> None:
        if finish in _ENDS:
            if self.running.pop(key, None) is None:
                self.erred.pop(key, None)
            return
        step = (key, start, finish, None, stimulus_id, _now())
        steps = self.running.get(key)
        if finish == "erred":
            if steps is None:
                steps = self.erred.pop(key, ())
            else:
                del self.running[key]
            self.erred[key] = (*steps, step)
            if len(self.erred) > self.kept:
                del self.erred[next(iter(self.erred))]
        elif steps is not None:
            self.running[key] = (*steps, step)
        elif key in self.erred:  # an erred task computed again (retried): its story goes on
            self.running[key] = (*self.erred.pop(key), step)
        elif finish in _STARTS:
            self.running[key] = (step,)

    def remove_worker(
        self, scheduler: Any, worker: str, *, stimulus_id: str, **kwargs: Any
    ) -> None:
        # Upstream: Scheduler.remove_worker calls every plugin's remove_worker(scheduler=,
        # worker=, stimulus_id=) with the stimulus id its tasks' transitions carry.
        self.removals[stimulus_id] = (worker, "remove-worker")
        if len(self.removals) > REMOVALS_KEPT:
            del self.removals[next(iter(self.removals))]

    def story(self, key: Any) -> list[tuple[Any, ...]]:
        """The steps recorded for ``key`` (none if it is not computing or erred)."""
        return list(self.running.get(key) or self.erred.get(key) or ())

    def restart(self, scheduler: Any) -> None:
        self.running.clear()
        self.erred.clear()


def install_story_recorder(kept: int, dask_scheduler: Any = None) -> bool:
    """Run on the scheduler: add the story recorder unless one is there, and (again) the
    :data:`FACTS_OP` handler; True if the recorder was added.

    Upstream: ``Scheduler.plugins`` maps names to plugins; ``add_plugin(plugin, name=,
    idempotent=True)`` leaves one already registered under that name in place.
    ``Server.handlers`` maps an operation name to a callable that the server calls
    with the request's fields as keyword arguments (its first argument is the comm only
    if that parameter is called ``comm``; it reads the callable's ``__name__``), and
    whose return value is the reply.
    """
    dask_scheduler.handlers[FACTS_OP] = task_facts_handler(dask_scheduler)
    if STORY_PLUGIN in dask_scheduler.plugins:
        return False
    dask_scheduler.add_plugin(StoryRecorder(kept), name=STORY_PLUGIN, idempotent=True)
    return True


def task_facts_handler(scheduler: Any) -> Any:
    """The :data:`FACTS_OP` handler of ``scheduler``: the facts of ``keys``, in their order.

    A plain RPC, unlike ``run_on_scheduler``: nothing shipped or unpickled per call, no
    "run-function" event logged, and the answer (builtins only) goes as one msgpack message
    rather than one pickle per key.
    """

    def resilient_dask_task_facts(keys: Sequence[Any]) -> list[dict[str, Any]]:
        facts = collect_task_facts(keys, dask_scheduler=scheduler)
        return [facts[key] for key in keys]

    return resilient_dask_task_facts


# -- forensics and the watchdog ---------------------------------------------------------------


def _stimuli(events: Any) -> dict[str, tuple[Any, Any]]:
    """stimulus_id -> (worker, action) of the scheduler's logged events."""
    by_stimulus: dict[str, tuple[Any, Any]] = {}
    for _, msg in events:
        if isinstance(msg, dict) and msg.get("stimulus_id"):
            by_stimulus[msg["stimulus_id"]] = (msg.get("worker"), msg.get("action"))
    return by_stimulus


def _steps(
    transitions: Iterable[Sequence[Any]], by_stimulus: dict[str, tuple[Any, Any]]
) -> list[tuple[str, str, float, str, Any, Any]]:
    """``(start, finish, timestamp, stimulus_id, worker, action)`` per transition: tuples,
    not dicts, as they are the bulk of a capture's answer (a few per key)."""
    steps = []
    for transition in transitions:
        _, start, finish, _, stimulus_id, timestamp = transition
        worker, action = by_stimulus.get(stimulus_id, (None, None))
        steps.append((str(start), str(finish), float(timestamp), str(stimulus_id), worker, action))
    return steps


def collect_task_facts(
    keys: Sequence[Any], dask_scheduler: Any = None
) -> dict[Any, dict[str, Any]]:
    """Run on the scheduler: plain facts about each key (see :meth:`TaskStory.from_facts`).

    Upstream: ``Scheduler.story(*keys)`` returns, in one pass over the transition log,
    the ``Transition(key, start, finish, recommendations, stimulus_id, timestamp)``
    tuples that touch any of ``keys`` (its own, and others' that recommend it);
    ``Scheduler.get_events("all")`` holds ``(time, msg)`` with ``msg["stimulus_id"]``
    and ``msg["worker"]`` for worker removals; ``TaskState`` has ``state``,
    ``suspicious``, ``erred_on``, ``exception_text``, ``traceback_text``,
    ``exception_blame`` and ``processing_on``. One call serves a batch of keys at the
    cost of one pass over the log. Returns only builtins, so that it can be shipped
    by value and its answer read anywhere.

    When the story recorder (:class:`StoryRecorder`) is installed, a key's steps are
    whichever of its record and the log's transitions is longer: both are the end of the
    same history, so the longer reaches further back (the log has the earlier history of
    a task recomputed after it was in memory, and of one that failed before the recorder
    was installed; the recorder has what the log has already dropped). It is found by
    name and read through its ``story(key)`` and ``removals`` alone: a recorder shipped
    by another client's copy of this module is a class of its own. The worker a step's
    stimulus removed comes from the recorder's ``removals``, or, without a recorder (or
    with one that predates them), from one pass over the scheduler's "all" events.
    """
    scheduler = dask_scheduler
    recorder = scheduler.plugins.get(STORY_PLUGIN)
    by_stimulus = getattr(recorder, "removals", None)
    if by_stimulus is None:  # no recorder: one pass over the scheduler's events
        try:
            events = scheduler.get_events("all")
        except Exception:  # pragma: no cover - events are an optional enrichment
            events = ()
        by_stimulus = _stimuli(events)
    own: dict[Any, list[Sequence[Any]]] = {key: [] for key in keys}
    for transition in scheduler.story(*keys):
        mine = own.get(transition[0])
        if mine is not None:
            mine.append(transition)
    out: dict[Any, dict[str, Any]] = {}
    captured_at = time.time()
    recorded_story = getattr(recorder, "story", None)
    for key in keys:
        transitions = own[key]
        if recorded_story is not None:
            recorded = recorded_story(key)
            if len(recorded) > len(transitions):
                transitions = recorded
        steps = _steps(transitions, by_stimulus)
        ts = scheduler.tasks.get(key)
        workers: list[str] = []
        if ts is not None:
            workers.extend(sorted(ts.erred_on or ()))
            if ts.processing_on is not None:
                workers.append(ts.processing_on.address)
        workers.extend(s[4] for s in steps if s[4] and s[4] not in workers)
        blame = getattr(ts, "exception_blame", None) if ts is not None else None
        out[key] = {
            "key": str(key),
            "captured_at": captured_at,
            "state": ts.state if ts is not None else None,
            "steps": steps,
            "workers": list(dict.fromkeys(workers)),
            "deaths": int(ts.suspicious) if ts is not None else 0,
            "exception": (ts.exception_text or None) if ts is not None else None,
            "traceback": (ts.traceback_text or None) if ts is not None else None,
            "blame": str(blame.key) if blame is not None else None,
            "complete": bool(steps) and steps[0][0] == "released",
        }
    return out


def _worker_facts(ws: Any, now: float) -> dict[str, Any]:
    return {
        "address": ws.address,
        "name": str(ws.name),
        "nanny": ws.nanny,
        "last_seen": float(ws.last_seen),
        "silent_for": now - float(ws.last_seen),
    }


def stale_workers(
    limit: float, missed: int, task_timeout: float | None = None, dask_scheduler: Any = None
) -> dict[str, Any]:
    """Run on the scheduler: only the workers whose heartbeats are overdue, and (with
    ``task_timeout``) only those running a task for at least that long.

    Upstream: the scheduler answers each worker's heartbeat with ``"heartbeat-interval":
    distributed.scheduler.heartbeat_interval(len(Scheduler.workers))``, which the worker
    takes as its heartbeat period; ``WorkerState.last_seen`` is the scheduler's
    ``distributed.metrics.time()`` at the last heartbeat; ``WorkerState`` has ``name``,
    ``nanny`` and ``executing`` (``TaskState`` → seconds running, from the heartbeats).
    A worker is stale once silent for longer than ``limit`` and than ``missed`` of those
    intervals. One pass over the workers (a subtraction and a comparison each); the
    answer holds only the stale (and overdue) ones, plus the interval.
    """
    from distributed.metrics import time as scheduler_time
    from distributed.scheduler import heartbeat_interval

    workers = dask_scheduler.workers
    interval = float(heartbeat_interval(len(workers)))
    threshold = max(float(limit), missed * interval)
    now = scheduler_time()
    stale = [
        _worker_facts(ws, now) for ws in workers.values() if now - ws.last_seen > threshold
    ]
    overdue = []
    if task_timeout is not None:
        for ws in workers.values():
            tasks = {ts.key: float(ran) for ts, ran in ws.executing.items() if ran >= task_timeout}
            if tasks:
                overdue.append({**_worker_facts(ws, now), "tasks": tasks})
    return {"interval": interval, "limit": threshold, "stale": stale, "overdue": overdue}


# -- pins -------------------------------------------------------------------------------
# A pin is a *lease*: it holds for ``duration`` seconds on the scheduler's clock and the
# client that took it renews it while its ``with rc.pin_workers():`` block runs. A client
# that dies stops renewing, so its pins expire by themselves. Several clients (and nested
# blocks) hold leases side by side; the plugin is added with the first lease and removes
# itself when none is left.
#
# Upstream: ``Scheduler.workers_to_close`` (what ``distributed.deploy.Adaptive`` asks
# before it retires workers) passes its candidates (``WorkerState``, with ``.address``
# and ``.name``) through every plugin's ``valid_workers_downscaling(scheduler,
# workers)``; ``Scheduler.plugins`` maps names to plugins, ``add_plugin(plugin, name=,
# idempotent=)`` and ``remove_plugin(name=)`` change it; ``Scheduler.workers`` maps
# addresses to ``WorkerState``. Explicit ``retire_workers(workers=[...])`` and
# ``restart_workers`` do not go through ``workers_to_close`` and are not blocked.


class PinPlugin(SchedulerPlugin):
    """Keeps pinned workers out of ``workers_to_close`` while their leases last."""

    idempotent = True
    name = PINS_PLUGIN

    def __init__(self) -> None:
        #: lease id -> {"workers": [...], "client", "reason", "expires", "duration"}
        self.leases: dict[str, dict[str, Any]] = {}

    def active(self, now: float | None = None) -> dict[str, dict[str, Any]]:
        """The leases that have not expired (expired ones are dropped)."""
        now = time.time() if now is None else now
        for lease_id in [i for i, lease in self.leases.items() if lease["expires"] <= now]:
            del self.leases[lease_id]
        return self.leases

    def pinned(self) -> set[str]:
        """Addresses and names of every worker some live lease pins."""
        return {w for lease in self.active().values() for w in lease["workers"]}

    def valid_workers_downscaling(self, scheduler: Any, workers: list[Any]) -> list[Any]:
        pinned = self.pinned()
        if not self.leases:
            _remove(scheduler)
        return [ws for ws in workers if ws.address not in pinned and str(ws.name) not in pinned]


def _plugin(scheduler: Any, create: bool) -> PinPlugin | None:
    plugin: PinPlugin | None = scheduler.plugins.get(PINS_PLUGIN)
    if plugin is None and create:
        plugin = PinPlugin()
        scheduler.add_plugin(plugin, name=PINS_PLUGIN, idempotent=True)
    return plugin


def _remove(scheduler: Any) -> None:
    if PINS_PLUGIN in scheduler.plugins:
        scheduler.remove_plugin(name=PINS_PLUGIN)


def acquire_pin(
    lease_id: str,
    workers: Sequence[str],
    reason: str,
    duration: float,
    client: str,
    dask_scheduler: Any = None,
) -> list[str]:
    """Take (or refresh) a lease pinning ``workers``; returns the addresses it pins.

    Names are resolved to addresses; workers the scheduler does not know are kept
    as given, so that a worker joining later under that name is pinned too.
    """
    plugin = _plugin(dask_scheduler, create=True)
    assert plugin is not None
    by_name = {str(ws.name): ws.address for ws in dask_scheduler.workers.values()}
    resolved = [by_name.get(str(w), str(w)) for w in workers]
    plugin.leases[lease_id] = {
        "workers": sorted(set(resolved)),
        "client": client,
        "reason": reason,
        "duration": float(duration),
        "expires": time.time() + float(duration),
    }
    return sorted(set(resolved))


def renew_pin(lease_id: str, duration: float, dask_scheduler: Any = None) -> bool:
    """Extend a lease; False if it is gone (expired, or the scheduler restarted)."""
    plugin = _plugin(dask_scheduler, create=False)
    if plugin is None or lease_id not in plugin.active():
        return False
    plugin.leases[lease_id]["expires"] = time.time() + float(duration)
    return True


def release_pin(lease_id: str, dask_scheduler: Any = None) -> None:
    """Drop a lease; remove the plugin when no lease is left."""
    plugin = _plugin(dask_scheduler, create=False)
    if plugin is None:
        return
    plugin.leases.pop(lease_id, None)
    if not plugin.active():
        _remove(dask_scheduler)


def list_pins(dask_scheduler: Any = None) -> list[dict[str, Any]]:
    """Every live lease: id, workers, client, reason, seconds left."""
    plugin = _plugin(dask_scheduler, create=False)
    if plugin is None:
        return []
    now = time.time()
    return [
        {
            "id": lease_id,
            "workers": list(lease["workers"]),
            "client": lease["client"],
            "reason": lease["reason"],
            "expires_in": lease["expires"] - now,
        }
        for lease_id, lease in sorted(plugin.active(now).items())
    ]


# -- the doctor ----------------------------------------------------------------------------


def _as_seconds(value: Any) -> float | None:
    from dask.utils import parse_timedelta

    if value is None or value is False:
        return None
    seconds = parse_timedelta(value, default="s")
    return float(seconds) if seconds else None


def scheduler_settings(pins_plugin: str, dask_scheduler: Any = None) -> dict[str, Any]:
    """Run on the scheduler: the settings it runs with, its clock, its live pin leases.

    Upstream: ``Scheduler.__init__`` stores the values it runs with as the public
    attributes ``worker_ttl``, ``allowed_failures``, ``idle_timeout`` and
    ``no_workers_timeout`` (seconds or None), taken from its keyword arguments or
    else from dask.config (``distributed.scheduler.worker-ttl``, ...), which is
    read here when an attribute is missing. Pin leases are kept by the
    ``pins_plugin`` scheduler plugin (:class:`PinPlugin`) in ``.active()``.
    """
    import dask.config

    scheduler = dask_scheduler

    def setting(attribute: str, key: str) -> Any:
        if hasattr(scheduler, attribute):
            return getattr(scheduler, attribute)
        return dask.config.get(f"distributed.scheduler.{key}", None)

    failures = setting("allowed_failures", "allowed-failures")
    plugin = scheduler.plugins.get(pins_plugin)
    try:
        leases = len(plugin.active()) if plugin is not None else 0
    except Exception:  # an older pins plugin: count what it holds
        leases = len(getattr(plugin, "leases", ()))
    return {
        "worker_ttl": _as_seconds(setting("worker_ttl", "worker-ttl")),
        "allowed_failures": int(failures) if failures is not None else None,
        "idle_timeout": _as_seconds(setting("idle_timeout", "idle-timeout")),
        "no_workers_timeout": _as_seconds(setting("no_workers_timeout", "no-workers-timeout")),
        "pin_leases": leases,
        "now": time.time(),
    }


cloudpickle.register_pickle_by_value(sys.modules[__name__])
