"""A worker dies under a chain of tasks: every future ends correct or WorkerLost, and work goes on.

Two workers with different resources; f (blocking) needs the first worker's
resource, g depends on f, h1 and h2 depend on g; the first worker is SIGKILLed.
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import dask
import pytest
from distributed import Future

from resilient_dask import ResilientClient, WorkerLost, retry
from resilient_dask.testing import SubprocessCluster, capture_events, poll_for

pytestmark = pytest.mark.timeout(120)

#: A retry policy that does not make the tests wait.
FAST = {"initial": 0.05, "maximum": 0.2, "jitter": 0.05}


def block_first_time(flag: str) -> int:
    """Block (until killed) on the first call; return at once on later ones."""
    path = pathlib.Path(flag)
    if not path.exists():
        path.touch()
        time.sleep(600)
    return 1


def inc(x: int) -> int:
    return x + 1


def two_workers(allowed_failures: int) -> SubprocessCluster:
    env = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures)}
    cluster = SubprocessCluster(n_workers=0, env=env).start()
    try:
        cluster.add_worker(options=["--resources", "A=1"])
        cluster.add_worker(options=["--resources", "B=1"])
    except BaseException:
        cluster.close()
        raise
    return cluster


@pytest.fixture
def strict() -> Iterator[SubprocessCluster]:
    """allowed-failures=0: the first death of a worker fails the task it was running."""
    cluster = two_workers(0)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def tolerant() -> Iterator[SubprocessCluster]:
    """The default allowed-failures (3)."""
    cluster = two_workers(3)
    try:
        yield cluster
    finally:
        cluster.close()


def submit_chain(rc: ResilientClient, flag: str) -> dict[str, Future]:
    f = rc.submit(block_first_time, flag, resources={"A": 1}, key="f")
    g = rc.submit(inc, f, key="g")
    return {
        "f": f,
        "g": g,
        "h1": rc.submit(inc, g, key="h1"),
        "h2": rc.submit(inc, g, key="h2"),
    }


def test_first_worker_killed_every_future_raises_worker_lost_naming_it(
    strict: SubprocessCluster, make_client: Callable[..., ResilientClient], tmp_path: pathlib.Path
) -> None:
    """f, g, h1, h2 each raise WorkerLost naming f, the dead worker and what to check."""
    rc = make_client(strict.scheduler_address)
    dead = next(a for a, w in rc.scheduler_info()["workers"].items() if w["resources"] == {"A": 1})
    flag = str(tmp_path / "f-started")
    futures = submit_chain(rc, flag)
    poll_for(lambda: os.path.exists(flag), 30, message="f running")
    strict.kill_worker(0)
    for name, future in futures.items():
        with pytest.raises(WorkerLost) as info:
            future.result(timeout=60)
        err = info.value
        assert err.keys[0] == name and "f" in err.keys, name
        text = str(err)
        assert f"{dead} died while running it" in text, text
        assert "Read the log of the worker(s)" in text
        if name != "f":
            assert text.startswith(f"'{name}' did not run: its dependency 'f'")
    assert rc.submit(inc, 41, resources={"B": 1}, pure=False).result(timeout=30) == 42


def test_first_worker_killed_and_replaced_every_future_is_correct(
    tolerant: SubprocessCluster, make_client: Callable[..., ResilientClient], tmp_path: pathlib.Path
) -> None:
    """With allowed-failures left and a replacement worker, f is rerun and every value is right."""
    rc = make_client(tolerant.scheduler_address)
    flag = str(tmp_path / "f-started")
    futures = submit_chain(rc, flag)
    poll_for(lambda: os.path.exists(flag), 30, message="f running")
    tolerant.kill_worker(0)
    tolerant.add_worker(options=["--resources", "A=1"])
    results = {name: future.result(timeout=60) for name, future in futures.items()}
    assert results == {"f": 1, "g": 2, "h1": 3, "h2": 3}
    assert rc.submit(inc, 41, resources={"B": 1}, pure=False).result(timeout=30) == 42


def two_after_block(flag: str) -> int:
    """Block (until killed) on the first call; return 2 at once on later ones."""
    return 2 * block_first_time(flag)


def fan_out(flag: str) -> list[Any]:
    """The issue's graph: f on B, g = inc(f), hb = inc(g) on B, ha = inc(g) on A."""
    with dask.annotate(resources={"B": 1}):
        f = dask.delayed(two_after_block)(flag, dask_key_name="f")
    g = dask.delayed(inc)(f, dask_key_name="g")
    with dask.annotate(resources={"B": 1}):
        hb = dask.delayed(inc)(g, dask_key_name="hb")
    with dask.annotate(resources={"A": 1}):
        ha = dask.delayed(inc)(g, dask_key_name="ha")
    return [f, ha, hb]


def transition_errors(cluster: SubprocessCluster) -> list[str]:
    """Lines of the scheduler's log that report a failed or invalid transition."""
    assert cluster.scheduler is not None
    return [
        line
        for line in cluster.scheduler.log().splitlines()
        if "Error transitioning" in line or "InvalidTransition" in line or "Traceback" in line
    ]


def test_retry_resubmits_a_shared_failed_dependency_once(
    strict: SubprocessCluster, make_client: Callable[..., ResilientClient], tmp_path: pathlib.Path
) -> None:
    """compute([f, ha, hb], retry=) with f's worker killed and replaced: [2, 4, 4], f rerun once."""
    rc = make_client(strict.scheduler_address)
    flag = str(tmp_path / "f-started")
    with capture_events() as events:
        futures = rc.compute(fan_out(flag), retry=retry.transient(**FAST))
        poll_for(lambda: os.path.exists(flag), 30, message="f running")
        strict.kill_worker(1)
        strict.add_worker(options=["--resources", "B=1"])
        assert rc.gather(futures) == [2, 4, 4]
    retried = [e for e in events if e["event"] == "task.retrying"]
    assert sorted(e["key"] for e in retried) == ["f", "ha", "hb"], retried
    assert {e["attempt"] for e in retried} == {2}, "one resubmission for all three"
    assert transition_errors(strict) == []


def test_without_retry_the_fan_out_raises_worker_lost_naming_the_dead_worker(
    strict: SubprocessCluster, make_client: Callable[..., ResilientClient], tmp_path: pathlib.Path
) -> None:
    """compute([f, ha, hb]), f's worker killed: each raises WorkerLost naming that one worker."""
    rc = make_client(strict.scheduler_address)
    dead = next(a for a, w in rc.scheduler_info()["workers"].items() if w["resources"] == {"B": 1})
    flag = str(tmp_path / "f-started")
    futures = rc.compute(fan_out(flag))
    poll_for(lambda: os.path.exists(flag), 30, message="f running")
    strict.kill_worker(1)
    for name, future in zip(["f", "ha", "hb"], futures, strict=True):
        with pytest.raises(WorkerLost) as info:
            future.result(timeout=60)
        text = str(info.value)
        assert "1 worker died" in text and dead in text, text
        assert "several workers" not in text, text
        assert info.value.keys[0] == name, text
    assert transition_errors(strict) == []
