"""The doctor's checks: one function per concern, from :class:`Facts` to findings.

Each check reads gathered facts and returns findings; none does I/O, so each is
tested with fabricated facts. A check returns nothing when the facts it needs
could not be observed (the gatherer reports that gap itself). Thresholds are
module constants, named in the messages, so the docs and tests can refer to them.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence

from resilient_dask.doctor.facts import Facts, WorkerFacts
from resilient_dask.doctor.findings import Finding, advice, ok, problem

__all__ = ["CHECKS", "run_checks"]

#: A median probe round trip above this is a busy scheduler or a slow network.
SLOW_ROUND_TRIP = 0.25
#: A worker silent this long has a blocked event loop or a frozen process.
STALE_AFTER = 30.0
#: worker-ttl below this restarts workers that are only busy.
SHORTEST_WORKER_TTL = 30.0
#: worker-ttl above this leaves frozen workers holding their tasks for long.
LONGEST_WORKER_TTL = 600.0
#: allowed-failures above this lets one crashing task take down many workers.
MOST_ALLOWED_FAILURES = 10
#: A client's connect timeout is also its reconnect window; below this a blip closes it.
SHORTEST_CONNECT_TIMEOUT = 10.0
#: How many names a message lists before it says "and N more".
NAMES_SHOWN = 3


def _duration(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} minutes"
    if seconds >= 1:
        return f"{seconds:g} s"
    return f"{seconds * 1000:.1f} ms"


def _age(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(0.0, seconds):.0f} s"


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(items[:NAMES_SHOWN])
    more = len(items) - NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _worker(worker: WorkerFacts) -> str:
    return worker.address if worker.name == worker.address else f"{worker.name} ({worker.address})"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# -- the scheduler and the way to it ------------------------------------------------------


def check_reachable(facts: Facts) -> list[Finding]:
    """The scheduler answered: say which one, since when, with how many workers."""
    uptime = ""
    if facts.started is not None and facts.now is not None:
        uptime = f", up {_age(facts.now - facts.started)}"
    return [
        ok(
            "reachable",
            f"{facts.scheduler_type} at {facts.address} answered "
            f"(id {facts.scheduler_id or 'unknown'}{uptime}, "
            f"{_plural(len(facts.workers), 'worker')}).",
        )
    ]


def check_latency(facts: Facts) -> list[Finding]:
    """Probe round trips against the ResilientClient heartbeat-timeout configured here."""
    if not facts.latencies:
        return []
    median = statistics.median(facts.latencies)
    worst = max(facts.latencies)
    measured = (
        f"median {_duration(median)}, max {_duration(worst)} over "
        f"{_plural(len(facts.latencies), 'round trip')} of the heartbeat probe"
    )
    limit = facts.client.heartbeat_timeout
    raise_limit = (
        f"or raise resilient-dask.heartbeat-timeout above {_duration(worst)} "
        "(DASK_RESILIENT_DASK__HEARTBEAT_TIMEOUT)."
    )
    if limit is not None and median >= limit:
        return [
            problem(
                "latency",
                f"The scheduler answers slower than resilient-dask.heartbeat-timeout "
                f"({_duration(limit)}): {measured}. A ResilientClient started here would "
                "keep marking it UNRESPONSIVE.",
                "Find what keeps the scheduler busy (its CPU, graph sizes, number of "
                f"clients; the dashboard's System page) or the slow network path, {raise_limit}",
            )
        ]
    if limit is not None and worst >= limit:
        return [
            advice(
                "latency",
                f"Some round trips took longer than resilient-dask.heartbeat-timeout "
                f"({_duration(limit)}): {measured}. A ResilientClient would flap between "
                "CONNECTED and UNRESPONSIVE.",
                f"Look for scheduler pauses (large graphs, garbage collection), {raise_limit}",
            )
        ]
    if median > SLOW_ROUND_TRIP:
        return [
            advice(
                "latency",
                f"The scheduler is slow to answer: {measured} (above "
                f"{_duration(SLOW_ROUND_TRIP)}).",
                "Check the scheduler's CPU load and the network between here and it; "
                "a busy scheduler delays every task.",
            )
        ]
    return [ok("latency", f"Heartbeat round trips: {measured}.")]


# -- workers ---------------------------------------------------------------------------------


def check_workers(facts: Facts) -> list[Finding]:
    """Workers present, heartbeating, and running (not paused or closing)."""
    if not facts.workers:
        return [
            advice(
                "workers",
                "No workers are connected: submitted work waits until one joins.",
                f"Start workers (`dask worker {facts.address}`), or check your deployment "
                "and the minimum of adaptive scaling.",
            )
        ]
    findings: list[Finding] = []
    stale = [w for w in facts.workers if w.silent_for is not None and w.silent_for > STALE_AFTER]
    if stale:
        longest = max(w.silent_for or 0.0 for w in stale)
        findings.append(
            problem(
                "workers",
                f"{_plural(len(stale), 'worker')} sent no heartbeat for more than "
                f"{_duration(STALE_AFTER)} (up to {_duration(round(longest))}): "
                f"{_names([_worker(w) for w in stale])}. Their event loop is blocked "
                "(GIL-holding code) or the process is frozen; the scheduler waits for "
                "worker-ttl before it acts.",
                "Restart them (client.restart_workers([...])) and let a ResilientClient "
                "restart such workers early: rc.watch_workers(stale_after='30s').",
            )
        )
    paused = [w for w in facts.workers if w.status == "paused"]
    if paused:
        findings.append(
            advice(
                "workers",
                f"{_plural(len(paused), 'worker')} paused (memory above "
                f"distributed.worker.memory.pause, no new tasks): "
                f"{_names([_worker(w) for w in paused])}.",
                "Give workers more memory (--memory-limit) or make partitions smaller.",
            )
        )
    leaving = [w for w in facts.workers if w.status not in ("running", "paused")]
    if leaving:
        findings.append(
            advice(
                "workers",
                f"{_plural(len(leaving), 'worker')} not running: "
                + _names([f"{_worker(w)} is {w.status}" for w in leaving])
                + ".",
                "If workers are being retired by adaptive scaling while you need their "
                "state, pin them: `with rc.pin_workers(reason=...):`.",
            )
        )
    if not findings:
        findings.append(
            ok("workers", f"{_plural(len(facts.workers), 'worker')}, all running and heartbeating.")
        )
    return findings


def check_nannies(facts: Facts) -> list[Finding]:
    """Every worker runs under a nanny, which restarts it when it dies or hangs."""
    if not facts.workers:
        return []
    bare = [w for w in facts.workers if not w.nanny]
    if not bare:
        count = len(facts.workers)
        every = "The worker runs" if count == 1 else f"All {count} workers run"
        return [ok("nannies", f"{every} under a nanny.")]
    return [
        problem(
            "nannies",
            f"{len(bare)} of {_plural(len(facts.workers), 'worker')} "
            f"{'runs' if len(bare) == 1 else 'run'} without a nanny: "
            f"{_names([_worker(w) for w in bare])}. Nothing restarts such a worker when it "
            "dies, runs out of memory or hangs: worker-ttl, restart() and rc.watch_workers() "
            "can only remove it, and the cluster shrinks.",
            "Start workers with a nanny: `dask worker ADDRESS` does by default (drop "
            "--no-nanny), and in Python use distributed.Nanny instead of distributed.Worker.",
        )
    ]


# -- versions ---------------------------------------------------------------------------------

#: The roles get_versions reports besides one per worker.
_ROLES = ("client", "scheduler")
#: Packages that must match everywhere (they serialize and schedule the work).
MUST_MATCH = ("dask", "distributed", "cloudpickle", "msgpack", "tornado", "toolz")
#: Packages whose mismatch between client and workers can break (de)serialization.
SHOULD_MATCH = ("numpy", "pandas", "lz4")


def _python_minor(version: str | None) -> str | None:
    return ".".join(version.split(".")[:2]) if version else version


def _spread(
    versions: Mapping[str, Mapping[str, str | None]],
    package: str,
    roles: Iterable[str],
    normalize: Callable[[str | None], str | None] = lambda v: v,
) -> dict[str | None, list[str]]:
    """``{version: [roles having it]}`` for ``package`` among ``roles``."""
    spread: dict[str | None, list[str]] = {}
    for role in roles:
        if package in versions[role]:
            spread.setdefault(normalize(versions[role][package]), []).append(role)
    return spread


def _describe_spread(spread: Mapping[str | None, list[str]]) -> str:
    parts = []
    for version, roles in spread.items():
        workers = [r for r in roles if r not in _ROLES]
        named = [r for r in roles if r in _ROLES]
        if workers:
            named.append(
                f"{_plural(len(workers), 'worker')} ({_names(workers)})" if len(workers) > 1
                else f"worker {workers[0]}"
            )
        parts.append(f"{version or 'not installed'} on {', '.join(named)}")
    return "; ".join(parts)


def _mismatch(
    package: str, spread: Mapping[str | None, list[str]], reference: str | None, serious: bool
) -> Finding:
    what = "Python" if package == "python" else package
    message = f"{what} differs: {_describe_spread(spread)}."
    target = f" (the scheduler has {reference})" if reference else ""
    fix = (
        f"Install the same {what} version for client, scheduler and workers{target}, "
        "e.g. from one container image or lock file."
    )
    if serious:
        return problem("versions", message + " Work may fail to (de)serialize or schedule.", fix)
    return advice("versions", message, fix)


def check_versions(facts: Facts) -> list[Finding]:
    """Client, scheduler and workers run the same Python and core package versions."""
    if facts.versions is None:
        return []
    versions = facts.versions
    everyone = list(versions)
    not_scheduler = [r for r in everyone if r != "scheduler"]
    scheduler = versions.get("scheduler", {})
    findings: list[Finding] = []
    minor = _spread(versions, "python", everyone, _python_minor)
    full = _spread(versions, "python", everyone)
    if len(minor) > 1:
        findings.append(_mismatch("python", full, scheduler.get("python"), serious=True))
    elif len(full) > 1:
        findings.append(_mismatch("python", full, scheduler.get("python"), serious=False))
    for package in MUST_MATCH:
        spread = _spread(versions, package, everyone)
        if len(spread) > 1:
            findings.append(_mismatch(package, spread, scheduler.get(package), serious=True))
    for package in SHOULD_MATCH:
        spread = _spread(versions, package, not_scheduler)
        if len(spread) > 1:
            findings.append(_mismatch(package, spread, None, serious=False))
    if not findings:
        checked = ", ".join(("python", *MUST_MATCH, *SHOULD_MATCH))
        workers = len(everyone) - len(_ROLES)
        who = f"Client, scheduler and {_plural(workers, 'worker')}" if workers else (
            "Client and scheduler"
        )
        findings.append(ok("versions", f"{who} run the same versions of {checked}."))
    return findings


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
                f"distributed.scheduler.worker-ttl is {_duration(ttl)} (below "
                f"{_duration(SHORTEST_WORKER_TTL)}): a worker that is only busy (a long "
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
                f"distributed.scheduler.worker-ttl is {_duration(ttl)}: a worker that freezes "
                "keeps its tasks that long before the scheduler gives up on it.",
                f"Lower it ({env}='5 minutes' {_SCHEDULER_ENV}) or restart stuck workers "
                "sooner from a client: rc.watch_workers(stale_after='30s').",
            )
        ]
    return [
        ok(
            "worker-ttl",
            f"distributed.scheduler.worker-ttl is {_duration(ttl)}: workers silent longer are "
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
            f"another worker until {_plural(allowed + 1, 'worker')} died running it.",
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
                f"distributed.scheduler.idle-timeout is {_duration(idle)}: the scheduler shuts "
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
                f"distributed.scheduler.no-workers-timeout is {_duration(no_workers)}: tasks "
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
    pinned = f" {_plural(pins, 'rc.pin_workers() lease')} active." if pins else ""
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
                f"The scheduler retired {_plural(len(retired), 'worker')} in "
                f"{_plural(len(retirements), 'retire_workers call')} since it started."
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
                f"{_plural(len(losses), 'worker')} left without being retired since the "
                f"scheduler started (killed, crashed, restarted or cut off): "
                f"{_names(list(dict.fromkeys(loss.worker for loss in losses)))}; "
                f"{_plural(rescheduled, 'running task')} had to be rescheduled.",
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
                f"worker-ttl expired for {_plural(len(timed_out), 'worker')}: "
                f"{_names(timed_out)}; they stopped sending heartbeats (a blocked event loop "
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
                f"distributed.comm.timeouts.connect is {_duration(client.connect_timeout)}: "
                "a client gives up connecting, and reconnecting after the connection drops, "
                "after that long; a scheduler restart or a network blip that lasts longer "
                "closes the client for good.",
                "Set DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=30s (the default) or more, "
                "or pass timeout= to the client.",
            )
        )
    interval, timeout = client.heartbeat_interval, client.heartbeat_timeout
    unresponsive = client.unresponsive_timeout
    if unresponsive is not None and (
        (timeout is not None and timeout >= unresponsive)
        or (interval is not None and interval >= unresponsive)
    ):
        findings.append(
            problem(
                "client-config",
                f"resilient-dask.unresponsive-timeout ({_duration(unresponsive)}) is not "
                f"longer than heartbeat-interval ({_duration(interval or 0)}) and "
                f"heartbeat-timeout ({_duration(timeout or 0)}): blocking calls would give up "
                "with SchedulerUnresponsive before a single probe could tell.",
                "Keep heartbeat-interval and heartbeat-timeout well below "
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
                f"(connect timeout {_duration(client.connect_timeout or 0)}, resubmit "
                f"{client.resubmit}).",
            )
        )
    return findings


def _local_scheduler_settings(facts: Facts) -> list[Finding]:
    """Scheduler settings set here that the running scheduler does not use."""
    if facts.scheduler is None:
        return []
    def ttl(seconds: float | None) -> str:
        return "off" if seconds is None else _duration(seconds)

    here, there = facts.client, facts.scheduler
    pairs = []
    if here.local_worker_ttl != there.worker_ttl:
        pairs.append(("worker-ttl", ttl(here.local_worker_ttl), ttl(there.worker_ttl)))
    if here.local_allowed_failures != there.allowed_failures:
        pairs.append(
            ("allowed-failures", str(here.local_allowed_failures), str(there.allowed_failures))
        )
    return [
        advice(
            "client-config",
            f"distributed.scheduler.{name} is {mine} here but {theirs} on the scheduler: "
            "a scheduler setting in the client's config changes nothing on a running "
            "scheduler.",
            f"Set distributed.scheduler.{name} {_SCHEDULER_ENV}, or drop it here to avoid "
            "confusion.",
        )
        for name, mine, theirs in pairs
    ]


def check_gaps(facts: Facts) -> list[Finding]:
    """Whatever could not be observed is said, with how to make it observable."""
    return [advice("observability", gap.message, gap.fix) for gap in facts.gaps]


#: Every check, in the order the report lists them.
CHECKS: tuple[Callable[[Facts], list[Finding]], ...] = (
    check_reachable,
    check_latency,
    check_workers,
    check_nannies,
    check_versions,
    check_worker_ttl,
    check_allowed_failures,
    check_scheduler_timeouts,
    check_adaptive,
    check_worker_losses,
    check_client_config,
    check_gaps,
)


def run_checks(facts: Facts) -> list[Finding]:
    """Run every check on ``facts``."""
    return [finding for check in CHECKS for finding in check(facts)]
