"""A scheduler killed with SIGKILL: every way of meeting a result raises SchedulerConnectionLost."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import pytest
from distributed import Future, as_completed, futures_of, wait
from distributed.client import FutureCancelledError, FuturesCancelledError

from resilient_dask import ConnectionState, ResilientClient, SchedulerConnectionLost
from resilient_dask.testing import SubprocessCluster

pytestmark = [pytest.mark.smoke, pytest.mark.timeout(120)]


def inc(x: int) -> int:
    return x + 1


@dataclass
class Outage:
    """A client whose scheduler was SIGKILLed with finished and pending futures."""

    rc: ResilientClient
    cluster: SubprocessCluster
    finished: list[Future]
    pending: Future
    persisted: Any
    delayed_on_lost: Any


@pytest.fixture(scope="module")
def outage(fast: dict[str, float]) -> Iterator[Outage]:
    with SubprocessCluster(n_workers=1) as cluster:
        rc = ResilientClient(cluster.scheduler_address, set_as_default=True, **fast)
        try:
            finished = rc.map(inc, range(8))
            persisted = rc.persist(da.arange(12, chunks=4))
            wait([*finished, persisted])
            pending = rc.submit(time.sleep, 60)  # occupies the only worker thread
            delayed_on_lost = dask.delayed(inc)(finished[0])
            cluster.kill_scheduler()
            rc.connection.wait_for(ConnectionState.RECONNECTING, timeout=30)
            yield Outage(rc, cluster, finished, pending, persisted, delayed_on_lost)
        finally:
            rc.close(timeout=10)


def _raises_lost(call: Callable[[], Any]) -> SchedulerConnectionLost:
    with pytest.raises(SchedulerConnectionLost) as info:
        call()
    err = info.value
    assert isinstance(err, FutureCancelledError)
    assert isinstance(err, CancelledError)
    return err


def test_result_of_pending_future_raises_connection_lost(outage: Outage) -> None:
    """Future.result() of a pending future raises SchedulerConnectionLost naming its key."""
    err = _raises_lost(outage.pending.result)
    assert err.keys == (str(outage.pending.key),)
    assert outage.cluster.scheduler_address in str(err)


def test_result_of_finished_future_raises_connection_lost(outage: Outage) -> None:
    """Future.result() of a future that had finished raises SchedulerConnectionLost."""
    err = _raises_lost(outage.finished[3].result)
    assert err.keys == (str(outage.finished[3].key),)


def test_cancelled_futures_keep_distributed_status(outage: Outage) -> None:
    """The futures are 'cancelled', as distributed reports them."""
    assert outage.pending.status == "cancelled"
    assert outage.pending.cancelled()


def test_exception_raises_connection_lost(outage: Outage) -> None:
    """Future.exception() raises SchedulerConnectionLost (plain distributed returns None)."""
    _raises_lost(outage.finished[0].exception)


def test_gather_raises_one_error_naming_every_key(outage: Outage) -> None:
    """rc.gather raises one SchedulerConnectionLost carrying all gathered keys."""
    err = _raises_lost(lambda: outage.rc.gather([*outage.finished, outage.pending]))
    assert set(err.keys) == {str(f.key) for f in [*outage.finished, outage.pending]}
    assert "(9 in all)" in str(err)


def test_wait_raises_one_error_naming_every_key(outage: Outage) -> None:
    """distributed.wait raises one SchedulerConnectionLost, which is also the
    FuturesCancelledError upstream raises there."""
    err = _raises_lost(lambda: wait([*outage.finished, outage.pending]))
    assert set(err.keys) == {str(f.key) for f in [*outage.finished, outage.pending]}
    assert isinstance(err, FuturesCancelledError)
    [group] = err.error_groups
    assert {e.key for e in group.errors} == {f.key for f in [*outage.finished, outage.pending]}
    assert group.reason == "scheduler-connection-lost"


def test_as_completed_with_results_yields_the_typed_cancellation(outage: Outage) -> None:
    """as_completed(..., with_results=True) yields each cancelled future with its
    SchedulerConnectionLost as the result, as upstream yields its FutureCancelledError."""
    yielded = list(as_completed(outage.finished, with_results=True))
    assert {f.key for f, _ in yielded} == {f.key for f in outage.finished}
    for future, result in yielded:
        assert isinstance(result, SchedulerConnectionLost)
        assert result.keys == (str(future.key),)
        assert "connection to the scheduler" in result.msg


def test_futures_of_raises_a_futures_cancelled_error_naming_the_connection(
    outage: Outage,
) -> None:
    """rc.futures_of raises the typed error; distributed.futures_of raises upstream's
    FuturesCancelledError, whose message says the connection to the scheduler dropped."""
    err = _raises_lost(lambda: outage.rc.futures_of(outage.finished))
    assert isinstance(err, FuturesCancelledError)
    with pytest.raises(FuturesCancelledError, match="connection to the scheduler"):
        futures_of(outage.finished, client=outage.rc)


def test_compute_sync_of_persisted_collection_raises(outage: Outage) -> None:
    """rc.compute(persisted.sum(), sync=True) raises, naming the lost persisted keys."""
    err = _raises_lost(lambda: outage.rc.compute(outage.persisted.sum(), sync=True))
    assert "arange" in str(err)


def test_dask_compute_with_default_client_raises(outage: Outage) -> None:
    """dask.compute(collection) with the ResilientClient as default client raises."""
    _raises_lost(lambda: dask.compute(outage.persisted.sum()))


def test_collection_compute_raises(outage: Outage) -> None:
    """collection.compute() raises SchedulerConnectionLost."""
    _raises_lost(lambda: outage.persisted.sum().compute())


def test_delayed_on_lost_future_names_root_cause(outage: Outage) -> None:
    """A graph that depends on a lost future fails with the outage, naming that future."""
    err = _raises_lost(outage.delayed_on_lost.compute)
    assert str(outage.finished[0].key) in str(err)
    assert "depends on" in str(err)


def test_submit_on_lost_future_names_root_cause(outage: Outage) -> None:
    """submit() with a lost future as argument fails at once, naming the lost key."""
    future = outage.rc.submit(inc, outage.finished[1])
    err = _raises_lost(future.result)
    assert str(outage.finished[1].key) in str(err)


def test_error_says_when_and_what_to_do(outage: Outage) -> None:
    """The message has the time, the connection state and numbered next steps."""
    text = str(_raises_lost(outage.pending.result))
    assert "UTC" in text and "s ago" in text
    assert "connection: RECONNECTING (not reconnected)" in text
    assert "1. " in text
    assert re.search(r"is (not reachable yet|still unreachable after \d+ s)", text)
    assert text.rstrip().endswith("docs/errors/scheduler-connection-lost.md")


async def test_await_future_raises_connection_lost(fast: dict[str, float]) -> None:
    """`await future` in an asynchronous client raises SchedulerConnectionLost."""
    with SubprocessCluster(n_workers=1) as cluster:
        async with ResilientClient(cluster.scheduler_address, asynchronous=True, **fast) as rc:
            done = rc.submit(inc, 1)
            assert await done == 2
            future = rc.submit(time.sleep, 60)
            cluster.kill_scheduler()
            await rc.connection.wait_for(ConnectionState.RECONNECTING, timeout=30)
            with pytest.raises(SchedulerConnectionLost):
                await future
            with pytest.raises(SchedulerConnectionLost):
                await done
            with pytest.raises(SchedulerConnectionLost):
                await rc.gather([future, done])
