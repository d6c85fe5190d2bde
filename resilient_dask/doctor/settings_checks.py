"""Checks of settings: the scheduler's, the dask config here, and what the event log shows.

Each check reads :class:`~resilient_dask.doctor.facts.Facts` and returns findings
without I/O (see :mod:`resilient_dask.doctor.checks` for the list of all checks).
"""

from __future__ import annotations

from resilient_dask.doctor._wording import duration, names, plural
from resilient_dask.doctor.facts import Facts
from resilient_dask.doctor.findings import Finding, advice, ok, problem

#: worker-ttl below this restarts workers that are only busy.
SHORTEST_WORKER_TTL = 30.0
#: worker-ttl above this leaves frozen workers holding their tasks for long.
LONGEST_WORKER_TTL = 600.0
#: allowed-failures above this lets one crashing task take down many workers.
MOST_ALLOWED_FAILURES = 10
#: A client's connect timeout is also its reconnect window; below this a blip closes it.
SHORTEST_CONNECT_TIMEOUT = 10.0


# -- scheduler settings ------------------------------------------------------------------------

_SCHEDULER_ENV = "in the scheduler's environment (or its dask config file) and restart it"


def check_worker_ttl(facts: Facts) -> list[Finding]:
    """The scheduler's worker-ttl: on, and neither so short nor so long that it hurts."""
    if facts.scheduler is None:
        return []
    ttl = facts.scheduler.worker_ttl
    env = "DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL"
    if ttl is None:
        return [
            problem(
                "worker-ttl",
                "distributed.scheduler.worker-ttl is off: a worker whose heartbeats stop "
                "(frozen, blocked event loop, cut off) stays in the cluster forever, and "
                "so do the tasks assigned to it.",
                f"Set {env}='5 minutes' (the default) {_SCHEDULER_ENV}.",
            )
        ]
    if ttl < SHORTEST_WORKER_TTL:
        return [
            problem(
                "worker-ttl",
                f"distributed.scheduler.worker-ttl is {duration(ttl)} (below "
                f"{duration(SHORTEST_WORKER_TTL)}): a worker that is only busy (a long "
                "GIL-holding task, a large (de)serialization) misses its heartbeats that long "
                "and is restarted; its tasks are rescheduled and counted against "
                "allowed-failures, until they fail with KilledWorker.",
                f"Set {env}='5 minutes' (at least '60s') {_SCHEDULER_ENV}; to restart hung "
                "workers early and within a budget, use rc.watch_workers(stale_after='30s').",
            )
        ]
    if ttl > LONGEST_WORKER_TTL:
        return [
            advice(
                "worker-ttl",
                f"distributed.scheduler.worker-ttl is {duration(ttl)}: a worker that freezes "
                "keeps its tasks that long before the scheduler gives up on it.",
                f"Lower it ({env}='5 minutes' {_SCHEDULER_ENV}) or restart stuck workers "
                "sooner from a client: rc.watch_workers(stale_after='30s').",
            )
        ]
    return [
        ok(
            "worker-ttl",
            f"distributed.scheduler.worker-ttl is {duration(ttl)}: workers silent longer are "
            "restarted through their nanny (or removed).",
        )
    ]


def check_allowed_failures(facts: Facts) -> list[Finding]:
    """The scheduler's allowed-failures: tolerates worker deaths, but not endlessly."""
    if facts.scheduler is None or facts.scheduler.allowed_failures is None:
        return []
    allowed = facts.scheduler.allowed_failures
    env = "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"
    if allowed <= 0:
        return [
            problem(
                "allowed-failures",
                f"distributed.scheduler.allowed-failures is {allowed}: the first worker that "
                "dies while running a task (killed for memory, a preempted node, scaled "
                "down) fails that task with KilledWorker (WorkerLost).",
                f"Set {env}=3 (the default) {_SCHEDULER_ENV}.",
            )
        ]
    if allowed > MOST_ALLOWED_FAILURES:
        return [
            advice(
                "allowed-failures",
                f"distributed.scheduler.allowed-failures is {allowed}: a task that itself "
                f"kills its worker (out of memory, a segfault) takes down {allowed + 1} workers "
                "before it fails.",
                f"Lower it to 3-5 ({env}) {_SCHEDULER_ENV}, unless workers die for reasons "
                "unrelated to their tasks (spot instances).",
            )
        ]
    return [
        ok(
            "allowed-failures",
            f"distributed.scheduler.allowed-failures is {allowed}: a task is retried on "
            f"another worker until {plural(allowed + 1, 'worker')} died running it.",
        )
    ]


def check_scheduler_timeouts(facts: Facts) -> list[Finding]:
    """Scheduler timeouts that end work which would otherwise have survived."""
    if facts.scheduler is None:
        return []
    findings: list[Finding] = []
    idle = facts.scheduler.idle_timeout
    if idle is not None:
        findings.append(
            advice(
                "scheduler-timeouts",
                f"distributed.scheduler.idle-timeout is {duration(idle)}: the scheduler shuts "
                "itself down after that long without running tasks, even while clients are "
                "connected and hold results, so a pause that long loses all of them.",
                "Unset it (DASK_DISTRIBUTED__SCHEDULER__IDLE_TIMEOUT=null) for schedulers "
                "that people work with interactively, or make sure something restarts the "
                "scheduler and clients use resubmit=True.",
            )
        )
    no_workers = facts.scheduler.no_workers_timeout
    if no_workers is not None:
        findings.append(
            advice(
                "scheduler-timeouts",
                f"distributed.scheduler.no-workers-timeout is {duration(no_workers)}: tasks "
                "that find no worker for that long fail, e.g. while adaptive scaling starts "
                "workers from zero or after a restart.",
                "Make it longer than your workers take to start "
                "(DASK_DISTRIBUTED__SCHEDULER__NO_WORKERS_TIMEOUT='10 minutes'), or unset it.",
            )
        )
    if not findings:
        findings.append(
            ok("scheduler-timeouts", "No idle-timeout or no-workers-timeout ends work early.")
        )
    return findings


# -- adaptive scaling and worker losses --------------------------------------------------------

_ADAPTIVE_UNSEEN = (
    "Adaptive scaling runs in the process that owns the cluster object (cluster.adapt() in "
    "a notebook, dask-gateway, the Kubernetes operator), not in the scheduler, so whether "
    "it is on cannot be seen from here; only the workers it retires can."
)


def check_adaptive(facts: Facts) -> list[Finding]:
    """What adaptive scaling left behind: retirements, pins, wait-count here."""
    findings: list[Finding] = []
    wait_count = facts.client.adaptive_wait_count
    if wait_count is not None and wait_count <= 1:
        findings.append(
            advice(
                "adaptive",
                f"distributed.adaptive.wait-count is {wait_count} here: cluster.adapt() "
                "started here retires a worker the first time the scheduler suggests it, "
                "including one that is idle only for a moment.",
                "Keep it at 3 (the default) or more: DASK_DISTRIBUTED__ADAPTIVE__WAIT_COUNT=3.",
            )
        )
    if facts.events is None:
        return findings
    pins = facts.scheduler.pin_leases if facts.scheduler is not None else 0
    pinned = f" {plural(pins, 'rc.pin_workers() lease')} active." if pins else ""
    retirements = facts.events.retirements
    if retirements:
        retired = [w for r in retirements for w in r.retired]
        refused = [w for r in retirements for w in r.could_not_retire]
        refused_text = (
            f" {len(refused)} could not be retired (their data had nowhere to go)."
            if refused
            else ""
        )
        findings.append(
            advice(
                "adaptive",
                f"The scheduler retired {plural(len(retired), 'worker')} in "
                f"{plural(len(retirements), 'retire_workers call')} since it started."
                f"{refused_text} Adaptive scaling makes such calls (as does an explicit "
                "retire_workers()); the scheduler does not record which. Data only a retired "
                f"worker held is moved first; its running tasks are rescheduled.{pinned} "
                + _ADAPTIVE_UNSEEN,
                "If retirements take workers whose state you need (a loaded model, a warm "
                "cache), pin them while you need them: `with rc.pin_workers(reason=...):`, "
                "or raise the minimum of cluster.adapt(minimum=...).",
            )
        )
    else:
        findings.append(
            ok(
                "adaptive",
                "No worker retirements in the scheduler's event log." + pinned + " "
                + _ADAPTIVE_UNSEEN,
            )
        )
    return findings


def check_worker_losses(facts: Facts) -> list[Finding]:
    """Workers that left without being retired, and worker-ttl timeouts, in the event log."""
    if facts.events is None:
        return []
    findings: list[Finding] = []
    losses = facts.events.losses
    if losses:
        rescheduled = sum(loss.processing for loss in losses)
        findings.append(
            advice(
                "worker-losses",
                f"{plural(len(losses), 'worker')} left without being retired since the "
                f"scheduler started (killed, crashed, restarted or cut off): "
                f"{names(list(dict.fromkeys(loss.worker for loss in losses)))}; "
                f"{plural(rescheduled, 'running task')} had to be rescheduled.",
                "Read those workers' logs (out of memory? preempted?). Workers under a nanny "
                "come back by themselves; allowed-failures bounds how often a task may be "
                "caught by such a death.",
            )
        )
    timeouts = facts.events.ttl_timeouts
    if timeouts:
        timed_out = list(dict.fromkeys(w for t in timeouts for w in t.workers))
        findings.append(
            advice(
                "worker-losses",
                f"worker-ttl expired for {plural(len(timed_out), 'worker')}: "
                f"{names(timed_out)}; they stopped sending heartbeats (a blocked event loop "
                "or a frozen process) and were restarted or removed.",
                "Find what blocks their event loop (GIL-holding code, huge results); "
                "rc.watch_workers(stale_after='30s') restarts such workers sooner.",
            )
        )
    if not findings:
        findings.append(
            ok(
                "worker-losses",
                "No worker left unexpectedly or timed out, as far as the scheduler's event "
                "log reaches.",
            )
        )
    return findings


# -- configuration where the doctor runs --------------------------------------------------------


def check_client_config(facts: Facts) -> list[Finding]:
    """dask.config here: what a client started in this environment would do on failures."""
    client = facts.client
    findings = [
        problem(
            "client-config",
            error,
            "Fix that value in your dask config (YAML file, DASK_... variable or "
            "dask.config.set); the message names what is allowed.",
        )
        for error in client.errors
    ]
    if client.connect_timeout is not None and client.connect_timeout < SHORTEST_CONNECT_TIMEOUT:
        findings.append(
            problem(
                "client-config",
                f"distributed.comm.timeouts.connect is {duration(client.connect_timeout)}: "
                "a client gives up connecting, and reconnecting after the connection drops, "
                "after that long; a scheduler restart or a network blip that lasts longer "
                "closes the client for good.",
                "Set DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=30s (the default) or more, "
                "or pass timeout= to the client.",
            )
        )
    interval, timeout = client.probe_interval, client.probe_timeout
    unresponsive = client.unresponsive_timeout
    if unresponsive is not None and (
        (timeout is not None and timeout >= unresponsive)
        or (interval is not None and interval >= unresponsive)
    ):
        findings.append(
            problem(
                "client-config",
                f"resilient-dask.unresponsive-timeout ({duration(unresponsive)}) is not "
                f"longer than probe-interval ({duration(interval or 0)}) and "
                f"probe-timeout ({duration(timeout or 0)}): blocking calls would give up "
                "with SchedulerUnresponsive before a single probe could tell.",
                "Keep probe-interval and probe-timeout well below "
                "unresponsive-timeout, e.g. 2s, 5s and 60s (the defaults): "
                "DASK_RESILIENT_DASK__UNRESPONSIVE_TIMEOUT=60s.",
            )
        )
    if client.resubmit is False:
        findings.append(
            advice(
                "client-config",
                "resilient-dask.resubmit is off: when the scheduler restarts, a "
                "ResilientClient's futures and persisted collections fail with "
                "SchedulerConnectionLost instead of being replayed.",
                "Set DASK_RESILIENT_DASK__RESUBMIT=true (or ResilientClient(resubmit=True)); "
                "opt side-effecting tasks out with submit(..., resubmit=False).",
            )
        )
    findings.extend(_local_scheduler_settings(facts))
    if not findings:
        findings.append(
            ok(
                "client-config",
                "The dask config here gives clients room to reconnect and replay "
                f"(connect timeout {duration(client.connect_timeout or 0)}, resubmit "
                f"{client.resubmit}).",
            )
        )
    return findings


def _local_scheduler_settings(facts: Facts) -> list[Finding]:
    """Scheduler settings made here that the running scheduler does not use."""
    if facts.scheduler is None:
        return []

    def shown(name: str, value: float | int | None) -> str:
        if name == "worker-ttl":
            return "off" if value is None else duration(value)
        return str(value)

    running = {
        "worker-ttl": facts.scheduler.worker_ttl,
        "allowed-failures": facts.scheduler.allowed_failures,
    }
    return [
        advice(
            "client-config",
            f"distributed.scheduler.{name} is set to {shown(name, mine)} here but is "
            f"{shown(name, running[name])} on the scheduler: a scheduler setting in the "
            "client's config changes nothing on a running scheduler.",
            f"Set distributed.scheduler.{name} {_SCHEDULER_ENV}, or drop it here to avoid "
            "confusion.",
        )
        for name, mine in sorted(facts.client.scheduler_overrides.items())
        if name in running and mine != running[name]
    ]


def check_gaps(facts: Facts) -> list[Finding]:
    """Whatever could not be observed is said, with how to make it observable."""
    return [advice("observability", gap.message, gap.fix) for gap in facts.gaps]
