"""rc.watch_workers(): stale workers restarted through their nanny, reported otherwise, budgeted."""

from __future__ import annotations

import itertools
import os
import pathlib
import time
from collections.abc import Callable

import pytest
from distributed import LocalCluster

from resilient_dask import ResilientClient
from resilient_dask.errors import TaskTimeout
from resilient_dask.testing import SubprocessCluster, capture_events, poll_for
from resilient_dask.watchdog import MISSED_HEARTBEATS, WatchdogPolicy, WorkerSnapshot

pytestmark = pytest.mark.timeout(120)

STALE = 3.0
#: The events of a watch that are not decisions about a worker.
WATCH_BOOKKEEPING = {"watchdog.started", "watchdog.stopped"}


def block_loop_first_time(flag: str, x: int) -> int:
    """Hold the GIL in C code (the worker's event loop stops) unless ``flag`` exists."""
    if not os.path.exists(flag):
        pathlib.Path(flag).touch()
        sum(range(10**11))  # minutes of C code that never releases the GIL
    return 2 * x


def double(x: int) -> int:
    return 2 * x


def sleep_long() -> None:
    """Hang in a thread while the worker's event loop stays alive (heartbeats go on)."""
    time.sleep(600)


def block_loop_always() -> int:
    return sum(range(10**11))


def worker(
    address: str, last_seen: float, nanny: str | None = "tcp://nanny:1", silent: float = 5.0
) -> WorkerSnapshot:
    return WorkerSnapshot(address, address[-1], last_seen, nanny, silent)


# -- the policy, without a cluster ----------------------------------------------------


def test_policy_restarts_a_worker_the_scheduler_reports_stale_once_per_silence() -> None:
    """A worker reported stale gets one restart decision; again only after a new heartbeat."""
    policy = WatchdogPolicy(3.0, window=600)
    [decision] = policy.observe(0.0, [worker("w1", 100.0, silent=3.5)])
    assert (decision.action, decision.worker, decision.silent_for) == ("restart", "w1", 3.5)
    assert policy.observe(1.0, [worker("w1", 100.0, silent=4.5)]) == [], "one per silence"
    assert policy.observe(2.0, []) == [], "it heartbeat again"
    [again] = policy.observe(9.0, [worker("w1", 105.0, silent=3.2)])
    assert again.action == "restart"


def test_policy_limit_is_missed_heartbeats_of_the_schedulers_interval() -> None:
    """limit() is stale_after, or MISSED_HEARTBEATS x the interval the scheduler gives
    (the longest given within as long), whichever is longer."""
    policy = WatchdogPolicy(30.0, window=600)
    assert policy.limit(0.0) == 30.0
    policy.heard(0.0, 0.5)
    assert policy.limit(0.0) == 30.0
    policy.heard(1.0, 31.0)  # 6,000 workers: 6000 / 200 + 1
    assert policy.limit(1.0) == MISSED_HEARTBEATS * 31.0
    policy.heard(2.0, 0.5)  # the cluster shrank: workers keep 31 s until their next beat
    assert policy.limit(50.0) == MISSED_HEARTBEATS * 31.0
    policy.heard(200.0, 0.5)
    assert policy.limit(200.0) == 30.0


def test_policy_reports_workers_without_nanny() -> None:
    """A stale worker without a nanny is reported (no_nanny), never restarted."""
    policy = WatchdogPolicy(1.0, window=600)
    [decision] = policy.observe(1.5, [worker("w1", 5.0, nanny=None)])
    assert decision.action == "no_nanny"


def test_policy_budget_counts_by_nanny_across_restarts() -> None:
    """Past max_restarts per window (per nanny), a stale worker is reported, not restarted."""
    policy = WatchdogPolicy(1.0, max_restarts=2, window=60)
    actions = []
    for round_, address in enumerate(["w1", "w2", "w3"]):  # a new address after each restart
        actions += [d.action for d in policy.observe(round_ * 10.0, [worker(address, 1.0)])]
    assert actions == ["restart", "restart", "budget_exhausted"]
    [later] = policy.observe(100.0, [worker("w4", 1.0)])
    assert later.action == "restart", "the window slid past the old restarts"


def test_policy_with_restart_false_only_reports() -> None:
    """restart=False: a stale worker is reported as stale."""
    policy = WatchdogPolicy(1.0, restart=False, window=60)
    assert [d.action for d in policy.observe(2.0, [worker("w1", 1.0)])] == ["stale"]


def test_policy_task_timeout_decides_once_per_worker() -> None:
    """A task running past task_timeout leads to one restart decision naming it."""
    policy = WatchdogPolicy(30.0, window=600, task_timeout=2.0)
    w1 = worker("w1", 1.0)
    assert policy.observe_tasks(0.0, [w1], {"w1": {"k": 1.5}}) == []
    [decision] = policy.observe_tasks(1.0, [w1], {"w1": {"k": 2.5, "other": 0.1}})
    assert (decision.action, decision.reason) == ("restart", "task_timeout")
    assert decision.tasks == (("k", 2.5),)
    assert policy.observe_tasks(2.0, [w1], {"w1": {"k": 3.5}}) == []


def test_bad_durations_raise_value_error(rc: ResilientClient) -> None:
    """watch_workers() rejects non-positive durations, naming the option."""
    with pytest.raises(ValueError, match="stale_after"):
        rc.watch_workers(stale_after=0)


# -- real processes ------------------------------------------------------------------------


def test_blocked_worker_is_restarted_and_the_future_returns(
    cluster: SubprocessCluster, rc: ResilientClient, tmp_path: pathlib.Path
) -> None:
    """A task blocking its worker's event loop: nanny restart within stale_after + ~3 s; value."""
    flag = str(tmp_path / "blocked-once")
    with capture_events() as events, rc.watch_workers(stale_after=STALE) as watch:
        future = rc.submit(block_loop_first_time, flag, 21)
        poll_for(lambda: os.path.exists(flag), 30, message="task started")
        blocked_at = time.monotonic()
        poll_for(
            lambda: any(e["event"] == "watchdog.restart" for e in watch.events),
            STALE + 10,
            message="restart decision",
        )
        decided_after = time.monotonic() - blocked_at
        assert future.result(timeout=60) == 42
        # The restart RPC answers once the new worker is registered, maybe after the value.
        poll_for(
            lambda: any(e["event"] == "watchdog.restarted" for e in watch.events),
            30,
            message="restart finished",
        )
    assert decided_after <= STALE + 3.0, f"restart decided {decided_after:.1f} s after blocking"
    names = [e["event"] for e in events]
    assert names.index("watchdog.restart") < names.index("watchdog.restarted")
    restarted = next(e for e in watch.events if e["event"] == "watchdog.restarted")
    assert restarted["outcome"] == "OK"
    assert cluster.workers[0].alive, "the nanny process lives on"


def test_worker_without_nanny_is_reported_not_killed(
    make_client: Callable[..., ResilientClient],
) -> None:
    """A stale worker without a nanny: a watchdog.no_nanny event, and its process is left alone."""
    with SubprocessCluster(n_workers=1, nanny=False) as cluster:
        rc = make_client(cluster.scheduler_address)
        with rc.watch_workers(stale_after=STALE) as watch:
            future = rc.submit(block_loop_always)  # held, so that the task is not released
            reported = poll_for(
                lambda: [e for e in watch.events if e["event"] == "watchdog.no_nanny"],
                STALE + 15,
                message="no_nanny report",
            )
            assert reported[0]["nanny"] is None
            assert cluster.workers[0].alive
            assert not any(e["event"].startswith("watchdog.restart") for e in watch.events)
            assert future.status == "pending"


def test_budget_stops_a_restart_loop(
    make_client: Callable[..., ResilientClient],
) -> None:
    """A task that blocks every worker it lands on: one restart (max_restarts=1), then reports."""
    env = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "10"}
    with SubprocessCluster(n_workers=1, env=env) as cluster:
        rc = make_client(cluster.scheduler_address)
        with rc.watch_workers(stale_after=STALE, max_restarts=1) as watch:
            future = rc.submit(block_loop_always)  # held: it blocks every worker it lands on
            poll_for(
                lambda: any(e["event"] == "watchdog.budget_exhausted" for e in watch.events),
                60,
                message="budget exhausted",
            )
            names = [e["event"] for e in watch.events]
            assert names.count("watchdog.restart") == 1
            exhausted = next(e for e in watch.events if e["event"] == "watchdog.budget_exhausted")
            assert exhausted["restarts_in_window"] == 1 and exhausted["max_restarts"] == 1
            assert cluster.workers[0].alive
            assert future.status == "pending"


def test_task_timeout_fails_the_future_and_restarts_the_worker(
    cluster: SubprocessCluster, rc: ResilientClient
) -> None:
    """A task past task_timeout raises TaskTimeout naming it; its worker restarts; work goes on."""
    with rc.watch_workers(stale_after=30, task_timeout=2) as watch:
        future = rc.submit(sleep_long)
        started = time.monotonic()
        with pytest.raises(TaskTimeout) as info:
            future.result(timeout=30)
        assert time.monotonic() - started < 2 + 4
        err = info.value
        assert isinstance(err, TimeoutError) and err.keys == (str(future.key),)
        assert f"Task {str(future.key)!r} ran longer than task_timeout=2 s" in str(err)
        poll_for(
            lambda: any(e["event"] == "watchdog.restarted" for e in watch.events),
            30,
            message="worker restarted",
        )
        [decision] = [e for e in watch.events if e["event"] == "watchdog.restart"]
        assert decision["reason"] == "task_timeout" and decision["tasks"][0][0] == str(future.key)
        assert rc.submit(double, 4, pure=False).result(timeout=30) == 8


def test_workers_on_a_long_heartbeat_interval_are_never_restarted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scheduler gives its workers a 4 s heartbeat interval (as it would at ~600
    workers): with stale_after=1s the watchdog leaves them alone through several beats."""
    import distributed.scheduler

    monkeypatch.setattr(distributed.scheduler, "heartbeat_interval", lambda n: 4.0)
    with LocalCluster(n_workers=2, processes=False, dashboard_address=":0") as local:
        scheduler = local.scheduler
        assert scheduler is not None
        with ResilientClient(local, set_as_default=False) as rc:
            seen: dict[str, list[float]] = {address: [] for address in scheduler.workers}

            def beats() -> bool:
                for address, ws in scheduler.workers.items():
                    if not seen[address] or seen[address][-1] != ws.last_seen:
                        seen[address].append(ws.last_seen)
                return all(len(times) >= 4 for times in seen.values())

            with rc.watch_workers(stale_after=1, poll_interval=0.1) as watch:
                poll_for(beats, 60, interval=0.05, message="three heartbeats from each worker")
            gaps = [b - a for times in seen.values() for a, b in itertools.pairwise(times[1:])]
            assert min(gaps) > 3.0, f"the workers heartbeat on the 4 s schedule: {gaps}"
            decisions = [e for e in watch.events if e["event"] not in WATCH_BOOKKEEPING]
            assert decisions == [], decisions
