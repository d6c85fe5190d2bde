"""rc.pin_workers(): adaptive scaling leaves pinned workers alone; pins are leases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import LocalCluster

from resilient_dask import ResilientClient, pins
from resilient_dask.testing import SubprocessCluster, poll_for

pytestmark = pytest.mark.timeout(120)


def closable(dask_scheduler: Any = None) -> list[str]:
    """What adaptive scaling would retire now (every idle worker it may close)."""
    return list(dask_scheduler.workers_to_close(n=len(dask_scheduler.workers)))


def has_pin_plugin(dask_scheduler: Any = None) -> bool:
    return pins.PLUGIN_NAME in dask_scheduler.plugins


def double(x: int) -> int:
    return 2 * x


@pytest.fixture
def local_three() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=3, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        yield cluster


def test_adaptive_retires_unpinned_workers_and_keeps_pinned_until_exit(
    local_three: LocalCluster,
) -> None:
    """Adaptive (minimum=0) retires idle unpinned workers; the pinned one only after the block."""
    with ResilientClient(local_three, set_as_default=False) as rc:
        workers = sorted(rc.scheduler_info()["workers"])
        pinned = workers[0]
        with rc.pin_workers([pinned], reason="holds a model", lease=2) as pin:
            pinned_at = time.monotonic()
            assert pin.workers == [pinned]
            local_three.adapt(minimum=0, maximum=3, interval="100ms", wait_count=2)
            poll_for(
                lambda: sorted(rc.scheduler_info()["workers"]) == [pinned],
                30,
                message="unpinned workers retired",
            )
            # The pin outlives three lease periods while the block runs (it is renewed).
            poll_for(lambda: time.monotonic() - pinned_at > 3 * 2, 10, message="3 leases")
            assert [p["reason"] for p in rc.run_on_scheduler(pins.list_pins)] == ["holds a model"]
            assert rc.run_on_scheduler(closable) == []
            assert sorted(rc.scheduler_info()["workers"]) == [pinned]
        poll_for(lambda: not rc.scheduler_info()["workers"], 30, message="pinned worker retired")
        assert rc.run_on_scheduler(has_pin_plugin) is False, "the plugin removed itself"


def test_none_pins_the_workers_holding_the_clients_data(
    cluster: SubprocessCluster, rc: ResilientClient
) -> None:
    """workers=None pins exactly the workers that hold this client's futures."""
    cluster.add_worker()
    holder = sorted(rc.scheduler_info()["workers"])[1]
    data = rc.submit(double, 4, workers=[holder])
    assert data.result(timeout=30) == 8
    with rc.pin_workers(reason="keep my data") as pin:
        assert pin.workers == [holder]
        assert holder not in rc.run_on_scheduler(closable)
    assert rc.run_on_scheduler(pins.list_pins) == []


def test_nested_and_concurrent_pins_from_two_clients(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """Pins of two clients and a nested pin coexist; each release frees only its own workers."""
    cluster.add_worker()
    a = make_client(cluster.scheduler_address)
    b = make_client(cluster.scheduler_address)
    w1, w2 = sorted(a.scheduler_info()["workers"])
    with a.pin_workers([w1], reason="a"):
        with b.pin_workers([w2], reason="b"):
            with a.pin_workers([w1], reason="a, nested"):
                assert set(a.run_on_scheduler(closable)).isdisjoint({w1, w2})
            assert set(a.run_on_scheduler(closable)).isdisjoint({w1, w2})
        assert w2 in a.run_on_scheduler(closable) and w1 not in a.run_on_scheduler(closable)
        assert [p["reason"] for p in a.run_on_scheduler(pins.list_pins)] == ["a"]
    assert a.run_on_scheduler(pins.list_pins) == []


def test_explicit_retire_workers_is_not_blocked(
    cluster: SubprocessCluster, rc: ResilientClient
) -> None:
    """retire_workers(workers=[...]) retires a pinned worker anyway (documented)."""
    [worker] = rc.scheduler_info()["workers"]
    with rc.pin_workers([worker], reason="pinned"):
        rc.retire_workers(workers=[worker])
        poll_for(lambda: not rc.scheduler_info()["workers"], 30, message="worker retired")


CLIENT_SCRIPT = """
import sys, time
from resilient_dask import ResilientClient
rc = ResilientClient(sys.argv[1])
with rc.pin_workers([sys.argv[2]], reason="client about to be killed", lease=2):
    print("PINNED", flush=True)
    time.sleep(600)
"""


@pytest.mark.timeout(90)
def test_killed_client_frees_its_pin_within_the_lease(
    cluster: SubprocessCluster, rc: ResilientClient, tmp_path: Path
) -> None:
    """A pinning client SIGKILLed: its pin is gone within the lease (2 s) plus a poll."""
    [worker] = rc.scheduler_info()["workers"]
    script = tmp_path / "pinning_client.py"
    script.write_text(textwrap.dedent(CLIENT_SCRIPT))
    proc = subprocess.Popen(
        [sys.executable, str(script), cluster.scheduler_address, worker],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"PINNED"
        assert worker not in rc.run_on_scheduler(closable)
        [lease] = rc.run_on_scheduler(pins.list_pins)
        assert lease["reason"] == "client about to be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        poll_for(lambda: worker in rc.run_on_scheduler(closable), 2 + 1.5, message="pin expired")
        assert rc.run_on_scheduler(pins.list_pins) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


async def test_async_pin_holds_and_releases(
    cluster: SubprocessCluster, fast: dict[str, float]
) -> None:
    """`async with rc.pin_workers(...)` pins while the block runs and releases at exit."""
    rc = await ResilientClient(cluster.scheduler_address, asynchronous=True, **fast)
    try:
        info = await rc.scheduler.identity(n_workers=-1)
        [worker] = info["workers"]
        async with rc.pin_workers([worker], reason="async", lease=2) as pin:
            assert pin.workers == [worker]
            assert await rc.run_on_scheduler(closable) == []
        assert await rc.run_on_scheduler(pins.list_pins) == []
        assert await rc.run_on_scheduler(closable) == [worker]
    finally:
        await rc.close()
