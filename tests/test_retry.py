"""Retry policies: presets, rc.guard(retry=), decorators, and per-call retry= of submit/compute."""

from __future__ import annotations

import os
import pathlib
import signal
import threading
import time
from collections.abc import Callable, Iterator

import dask
import pytest

from resilient_dask import (
    ConnectionState,
    ResilientClient,
    SchedulerConnectionLost,
    SchedulerUnresponsive,
    WorkerLost,
    retry,
)
from resilient_dask.errors import ErrorContext
from resilient_dask.testing import SubprocessCluster, capture_events

pytestmark = pytest.mark.timeout(120)

NO_SLEEP: list[float] = []
FAST = {"initial": 0.05, "maximum": 0.2, "jitter": 0.05}


def double(x: int) -> int:
    return 2 * x


def slow_double(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return 2 * x


def die_first_times(counter: str, times: int, x: int) -> int:
    """SIGKILL the worker running this on the first ``times`` calls (counted in a file)."""
    path = pathlib.Path(counter)
    calls = int(path.read_text()) if path.exists() else 0
    path.write_text(str(calls + 1))
    if calls < times:
        os.kill(os.getpid(), signal.SIGKILL)
    return 2 * x


# -- policies, without a cluster ----------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [SchedulerConnectionLost(ErrorContext()), SchedulerUnresponsive(ErrorContext()),
     WorkerLost(ErrorContext())],
)  # fmt: skip
def test_transient_retries_cluster_failures(error: BaseException) -> None:
    """transient() retries connection loss, an unresponsive scheduler and worker loss."""
    assert retry.transient(**FAST).should_retry(error, attempt=1, elapsed=0.0) is not None


def test_transient_never_retries_user_exceptions() -> None:
    """transient() gives up at once on a ValueError raised by user code."""
    assert retry.transient().should_retry(ValueError("bad"), attempt=1, elapsed=0.0) is None


def test_transient_stops_after_attempts_and_backs_off() -> None:
    """Waits grow exponentially (with jitter) and stop after `attempts`."""
    policy = retry.transient(attempts=4, initial=1, maximum=100, jitter=0.5)
    err = WorkerLost(ErrorContext())
    waits = [policy.should_retry(err, attempt=n, elapsed=0.0) for n in (1, 2, 3, 4)]
    assert waits[3] is None
    assert 1 <= waits[0] <= 1.5 and 2 <= waits[1] <= 2.5 and 4 <= waits[2] <= 4.5  # type: ignore[operator]


def test_on_exceptions_decorator_reruns_the_function() -> None:
    """@on_exceptions(KeyError) re-runs the function until it succeeds, sleeping in between."""
    sleeps: list[float] = []
    calls = []

    @retry.on_exceptions(KeyError, attempts=3, sleep=sleeps.append, **FAST)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise KeyError("not yet")
        return "done"

    assert flaky() == "done"
    assert len(calls) == 3 and len(sleeps) == 2


def test_on_exceptions_requires_exception_classes() -> None:
    """on_exceptions() without exception classes is a TypeError."""
    with pytest.raises(TypeError):
        retry.on_exceptions()


# -- rc.guard(retry=) ---------------------------------------------------------------------


def test_guard_with_retry_refuses_a_with_block(rc: ResilientClient) -> None:
    """`with rc.guard(retry=...)` raises TypeError pointing to `for attempt in ...`."""
    with pytest.raises(TypeError, match=r"for attempt in rc\.guard"):
        with rc.guard(retry=retry.transient()):  # type: ignore[attr-defined]
            pass


def test_guard_retry_never_retries_user_value_error(rc: ResilientClient) -> None:
    """A ValueError raised by a task inside the block runs once and comes out unchanged."""
    attempts = []
    with pytest.raises(ValueError, match="user bug"):
        for attempt in rc.guard(retry=retry.transient(**FAST)):
            with attempt:
                attempts.append(attempt.attempt_number)
                rc.submit(int, "user bug").result(timeout=30)
    assert attempts == [1]


def test_guard_retry_survives_a_scheduler_kill_mid_block(
    cluster: SubprocessCluster, rc: ResilientClient
) -> None:
    """A scheduler SIGKILL mid-block: the block re-runs once the scheduler is back, and succeeds."""
    attempts: list[int] = []
    restarter: list[threading.Thread] = []
    with capture_events() as events:
        for attempt in rc.guard(retry=retry.transient(**FAST)):
            with attempt:
                attempts.append(attempt.attempt_number)
                first = rc.submit(double, 1, pure=False).result(timeout=30)
                in_flight = rc.submit(slow_double, 20, 2.0, pure=False)
                if len(attempts) == 1:
                    cluster.kill_scheduler()
                    rc.connection.wait_for(ConnectionState.RECONNECTING, timeout=30)
                    thread = threading.Thread(
                        target=cluster.restart_scheduler, kwargs={"respawn_workers": True}
                    )
                    thread.start()
                    restarter.append(thread)
                second = in_flight.result(timeout=60)
    restarter[0].join(60)
    assert (first, second) == (2, 40)
    assert attempts == [1, 2]
    names = [e["event"] for e in events]
    assert names.index("scheduler.connection_lost") < names.index("scheduler.reconnected")


def test_guard_retry_as_decorator(rc: ResilientClient) -> None:
    """@rc.guard(retry=...) on a function: typed errors inside are retried, the value returned."""
    calls = []

    @rc.guard(retry=retry.on_exceptions(SchedulerConnectionLost, **FAST))
    def job() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise SchedulerConnectionLost(ErrorContext())
        return int(rc.submit(double, 5, pure=False).result(timeout=30))

    assert job() == 10 and len(calls) == 2


# -- per-call retry= ----------------------------------------------------------------------------


@pytest.fixture
def fragile(
    make_client: Callable[..., ResilientClient],
) -> Iterator[tuple[SubprocessCluster, ResilientClient]]:
    """A one-worker cluster with allowed-failures=0: the first worker death fails a task."""
    env = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    cluster = SubprocessCluster(n_workers=1, env=env).start()
    try:
        yield cluster, make_client(cluster.scheduler_address)
    finally:
        cluster.close()


def test_submit_retry_resubmits_after_worker_loss_with_a_fresh_count(
    fragile: tuple[SubprocessCluster, ResilientClient], tmp_path: pathlib.Path
) -> None:
    """allowed-failures=0 and two worker deaths: submit(retry=) still returns the value."""
    _, rc = fragile
    counter = str(tmp_path / "calls")
    with capture_events() as events:
        future = rc.submit(die_first_times, counter, 2, 21, retry=retry.transient(**FAST))
        assert future.result(timeout=90) == 42
    retried = [e for e in events if e["event"] == "task.retrying"]
    assert [e["attempt"] for e in retried] == [2, 3]
    assert all(e["key"] == str(future.key) for e in retried)


def test_submit_without_retry_raises_worker_lost(
    fragile: tuple[SubprocessCluster, ResilientClient], tmp_path: pathlib.Path
) -> None:
    """The same task without retry= raises WorkerLost on the first death (allowed-failures=0)."""
    _, rc = fragile
    future = rc.submit(die_first_times, str(tmp_path / "calls"), 1, 21)
    with pytest.raises(WorkerLost):
        future.result(timeout=60)


def test_compute_retry_recomputes_after_worker_loss(
    fragile: tuple[SubprocessCluster, ResilientClient], tmp_path: pathlib.Path
) -> None:
    """rc.compute(delayed, retry=) recomputes a result whose worker died."""
    _, rc = fragile
    value = dask.delayed(die_first_times)(str(tmp_path / "calls"), 1, 4)
    future = rc.compute(value, retry=retry.transient(**FAST))
    assert future.result(timeout=90) == 8


def test_map_retry_resubmits_each_task_after_worker_loss(
    fragile: tuple[SubprocessCluster, ResilientClient], tmp_path: pathlib.Path
) -> None:
    """map(retry=) retries each task whose worker died, and does not pass retry= to the function."""
    _, rc = fragile
    counter = str(tmp_path / "calls")
    with capture_events() as events:
        futures = rc.map(
            die_first_times, [counter] * 2, [1, 1], [21, 4], retry=retry.transient(**FAST)
        )
        assert rc.gather(futures) == [42, 8]
    retried = {e["key"] for e in events if e["event"] == "task.retrying"}
    assert str(futures[0].key) in retried, "the task that killed its worker was retried"
    assert retried <= {str(f.key) for f in futures}


async def test_async_guard_retry_reruns_the_block(
    cluster: SubprocessCluster, fast: dict[str, float]
) -> None:
    """`async for attempt in rc.guard(retry=...)` re-runs the block in an async client."""
    rc = await ResilientClient(cluster.scheduler_address, asynchronous=True, **fast)
    try:
        attempts = []
        async for attempt in rc.guard(retry=retry.on_exceptions(SchedulerConnectionLost, **FAST)):
            with attempt:
                attempts.append(attempt.attempt_number)
                if len(attempts) == 1:
                    raise SchedulerConnectionLost(ErrorContext())
                value = await rc.submit(double, 4, pure=False)
        assert (attempts, value) == ([1, 2], 8)
    finally:
        await rc.close()
