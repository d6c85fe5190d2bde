"""A task that returns a Future it created (dask/distributed#8854) raises NestedFutureError."""

from __future__ import annotations

from typing import Any

import pytest
from distributed import Future, get_client, worker_client

from resilient_dask import NestedFutureError, ResilientClient

pytestmark = pytest.mark.timeout(90)


def inc(x: int) -> int:
    return x + 1


def returns_future() -> Future[Any]:
    return get_client().submit(inc, 1)


def returns_futures_in_a_dict() -> dict[str, Any]:
    client = get_client()
    return {"a": client.submit(inc, 1), "b": 2}


def returns_values_via_worker_client() -> list[int]:
    with worker_client() as client:
        return client.gather([client.submit(inc, i) for i in range(3)])  # type: ignore[no-any-return]


@pytest.fixture
def rc2(cluster: Any, make_client: Any) -> ResilientClient:
    cluster.add_worker()  # tasks that submit from inside need a second thread somewhere
    return make_client(cluster.scheduler_address)  # type: ignore[no-any-return]


def test_result_of_task_returning_a_future_raises(rc2: ResilientClient) -> None:
    """Future.result() names the task that returned the Future and the fix."""
    outer = rc2.submit(returns_future)
    with pytest.raises(NestedFutureError) as info:
        outer.result(timeout=60)
    err = info.value
    assert isinstance(err, TypeError)
    assert err.keys == (str(outer.key),)
    assert "8854" in str(err) and "inc-" in str(err)
    assert any("worker_client()" in step for step in err.guidance)


def test_gather_finds_a_future_inside_a_container(rc2: ResilientClient) -> None:
    """gather() of several tasks names the one whose dict value holds a Future."""
    good = rc2.submit(inc, 1)
    bad = rc2.submit(returns_futures_in_a_dict)
    with pytest.raises(NestedFutureError) as info:
        rc2.gather([good, bad])
    assert info.value.keys == (str(bad.key),)


def test_worker_client_returning_values_is_fine(rc2: ResilientClient) -> None:
    """The correct pattern (gather inside worker_client, return values) is untouched."""
    assert rc2.submit(returns_values_via_worker_client).result(timeout=60) == [1, 2, 3]
