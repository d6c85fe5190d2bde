"""Client.restart(), workers dying under a task, and rc.guard() around plain distributed code."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
from distributed import Client, Future, wait
from distributed.scheduler import KilledWorker

from resilient_dask import (
    ConnectionState,
    ResilientClient,
    SchedulerConnectionLost,
    SchedulerRestarted,
    WorkerLost,
)
from resilient_dask.testing import SubprocessCluster

pytestmark = pytest.mark.timeout(120)


def square(x: int) -> int:
    return x * x


def kill_own_worker() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_restart_cancels_with_scheduler_restarted(rc: ResilientClient) -> None:
    """rc.restart() makes held futures raise SchedulerRestarted, and new work runs."""
    futures = rc.map(square, range(4))
    wait(futures)
    rc.restart()
    with pytest.raises(SchedulerRestarted) as info:
        rc.gather(futures)
    assert set(info.value.keys) == {str(f.key) for f in futures}
    assert "restart" in " ".join(info.value.guidance)
    assert rc.submit(square, 9, pure=False).result(timeout=60) == 81


def test_killed_worker_becomes_worker_lost_naming_the_worker(
    make_client: Callable[..., ResilientClient],
) -> None:
    """A task whose workers all die raises WorkerLost (a KilledWorker) naming worker and logs."""
    env = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    with SubprocessCluster(n_workers=1, env=env) as cluster:
        rc = make_client(cluster.scheduler_address)
        future = rc.submit(kill_own_worker)
        with pytest.raises(WorkerLost) as info:
            future.result(timeout=60)
        err = info.value
        assert isinstance(err, KilledWorker)
        assert err.keys == (str(future.key),)
        assert str(err.last_worker).startswith("tcp://127.0.0.1:")
        text = str(err)
        assert str(err.last_worker) in text
        assert "allowed-failures=0" in text
        assert "log" in err.guidance[0]


def test_guard_translates_errors_of_plain_distributed_futures(
    cluster: SubprocessCluster, rc: ResilientClient
) -> None:
    """Inside rc.guard(), a plain Client's cancelled future raises SchedulerConnectionLost."""
    plain = Client(cluster.scheduler_address, set_as_default=False)
    try:
        future: Future = plain.submit(time.sleep, 30)
        cluster.kill_scheduler()
        rc.connection.wait_for(ConnectionState.RECONNECTING, timeout=30)
        with pytest.raises(SchedulerConnectionLost) as info, rc.guard():
            future.result(timeout=30)
        assert info.value.keys == (str(future.key),)
        assert type(info.value.__cause__).__name__ == "FutureCancelledError"
    finally:
        plain.close(timeout=5)


async def test_async_guard_translates(fast: dict[str, float]) -> None:
    """`async with rc.guard()` translates a KilledWorker raised inside the block."""
    env = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    with SubprocessCluster(n_workers=1, env=env) as cluster:
        plain = await Client(cluster.scheduler_address, asynchronous=True, set_as_default=False)
        rc = await ResilientClient(cluster.scheduler_address, asynchronous=True, **fast)
        try:
            with pytest.raises(WorkerLost):
                async with rc.guard():
                    await plain.submit(kill_own_worker)
        finally:
            await plain.close()
            await rc.close()


def test_guard_leaves_user_errors_alone(rc: ResilientClient) -> None:
    """A user exception inside rc.guard() comes out unchanged."""
    with pytest.raises(ZeroDivisionError), rc.guard():
        rc.submit(lambda: 1 / 0).result(timeout=30)
