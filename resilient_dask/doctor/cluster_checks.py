"""Checks of the cluster itself: reachable, answering fast, workers alive, nannies, versions.

Each check reads :class:`~resilient_dask.doctor.facts.Facts` and returns findings
without I/O (see :mod:`resilient_dask.doctor.checks` for the list of all checks).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping

from resilient_dask.doctor._wording import age, duration, names, plural, worker
from resilient_dask.doctor.facts import Facts
from resilient_dask.doctor.findings import Finding, advice, ok, problem

#: A median probe round trip above this is a busy scheduler or a slow network.
SLOW_ROUND_TRIP = 0.25
#: A worker silent this long has a blocked event loop or a frozen process.
STALE_AFTER = 30.0


# -- the scheduler and the way to it ------------------------------------------------------


def check_reachable(facts: Facts) -> list[Finding]:
    """The scheduler answered: say which one, since when, with how many workers."""
    uptime = ""
    if facts.started is not None and facts.now is not None:
        uptime = f", up {age(facts.now - facts.started)}"
    return [
        ok(
            "reachable",
            f"{facts.scheduler_type} at {facts.address} answered "
            f"(id {facts.scheduler_id or 'unknown'}{uptime}, "
            f"{plural(len(facts.workers), 'worker')}).",
        )
    ]


def check_latency(facts: Facts) -> list[Finding]:
    """Probe round trips against the ResilientClient probe-timeout configured here."""
    if not facts.latencies:
        return []
    median = statistics.median(facts.latencies)
    worst = max(facts.latencies)
    measured = (
        f"median {duration(median)}, max {duration(worst)} over "
        f"{plural(len(facts.latencies), 'round trip')} of the probe"
    )
    limit = facts.client.probe_timeout
    raise_limit = (
        f"or raise resilient-dask.probe-timeout above {duration(worst)} "
        "(DASK_RESILIENT_DASK__PROBE_TIMEOUT)."
    )
    if limit is not None and median >= limit:
        return [
            problem(
                "latency",
                f"The scheduler answers slower than resilient-dask.probe-timeout "
                f"({duration(limit)}): {measured}. A ResilientClient started here would "
                "keep marking it UNRESPONSIVE.",
                "Find what keeps the scheduler busy (its CPU, graph sizes, number of "
                f"clients; the dashboard's System page) or the slow network path, {raise_limit}",
            )
        ]
    if limit is not None and worst >= limit:
        return [
            advice(
                "latency",
                f"Some round trips took longer than resilient-dask.probe-timeout "
                f"({duration(limit)}): {measured}. A ResilientClient would flap between "
                "CONNECTED and UNRESPONSIVE.",
                f"Look for scheduler pauses (large graphs, garbage collection), {raise_limit}",
            )
        ]
    if median > SLOW_ROUND_TRIP:
        return [
            advice(
                "latency",
                f"The scheduler is slow to answer: {measured} (above "
                f"{duration(SLOW_ROUND_TRIP)}).",
                "Check the scheduler's CPU load and the network between here and it; "
                "a busy scheduler delays every task.",
            )
        ]
    return [ok("latency", f"Probe round trips: {measured}.")]


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
                f"{plural(len(stale), 'worker')} sent no heartbeat for more than "
                f"{duration(STALE_AFTER)} (up to {duration(round(longest))}): "
                f"{names([worker(w) for w in stale])}. Their event loop is blocked "
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
                f"{plural(len(paused), 'worker')} paused (memory above "
                f"distributed.worker.memory.pause, no new tasks): "
                f"{names([worker(w) for w in paused])}.",
                "Give workers more memory (--memory-limit) or make partitions smaller.",
            )
        )
    leaving = [w for w in facts.workers if w.status not in ("running", "paused")]
    if leaving:
        findings.append(
            advice(
                "workers",
                f"{plural(len(leaving), 'worker')} not running: "
                + names([f"{worker(w)} is {w.status}" for w in leaving])
                + ".",
                "If workers are being retired by adaptive scaling while you need their "
                "state, pin them: `with rc.pin_workers(reason=...):`.",
            )
        )
    if not findings:
        findings.append(
            ok("workers", f"{plural(len(facts.workers), 'worker')}, all running and heartbeating.")
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
            f"{len(bare)} of {plural(len(facts.workers), 'worker')} "
            f"{'runs' if len(bare) == 1 else 'run'} without a nanny: "
            f"{names([worker(w) for w in bare])}. Nothing restarts such a worker when it "
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
                f"{plural(len(workers), 'worker')} ({names(workers)})" if len(workers) > 1
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
        who = f"Client, scheduler and {plural(workers, 'worker')}" if workers else (
            "Client and scheduler"
        )
        findings.append(ok("versions", f"{who} run the same versions of {checked}."))
    return findings
