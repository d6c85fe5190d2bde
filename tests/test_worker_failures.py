"""A worker dies under a chain of tasks: every future ends correct or WorkerLost, and work goes on.

Two workers with different resources; f (blocking) needs the first worker's
resource, g depends on f, h1 and h2 depend on g; the first worker is SIGKILLed.
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Callable, Iterator

import pytest
from distributed import Future

from resilient_dask import ResilientClient, WorkerLost
from resilient_dask.testing import SubprocessCluster, poll_for

pytestmark = pytest.mark.timeout(120)


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
