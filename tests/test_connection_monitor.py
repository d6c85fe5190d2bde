"""The connection monitor against real faults: restart, freeze, cut, blackhole, give up."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from distributed.client import FutureCancelledError

from resilient_dask import (
    ConnectionState,
    ResilientClient,
    SchedulerConnectionLost,
    SchedulerUnresponsive,
)
from resilient_dask.testing import SubprocessCluster, TcpProxy, capture_events, poll_for

pytestmark = pytest.mark.timeout(120)

S = ConnectionState
NO_SUCH_WORKER = "tcp://127.0.0.1:9"  # a task restricted to it waits in the scheduler


def double(x: int) -> int:
    return 2 * x


def slow_double(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return 2 * x


def states(rc: ResilientClient) -> list[ConnectionState]:
    return [t.state for t in rc.connection.history]


@pytest.fixture
def proxy(cluster: SubprocessCluster) -> Iterator[TcpProxy]:
    with TcpProxy.to(cluster.scheduler_address) as p:
        yield p


def test_restarted_scheduler_reconnects_and_runs_new_work(
    cluster: SubprocessCluster, rc: ResilientClient
) -> None:
    """SIGKILL then restart on the same port: RECONNECTING → CONNECTED, new work runs."""
    assert rc.submit(double, 1).result(timeout=30) == 2
    cluster.kill_scheduler()
    rc.connection.wait_for(S.RECONNECTING, timeout=30)
    cluster.restart_scheduler(respawn_workers=True)
    rc.connection.wait_for(S.CONNECTED, timeout=30)
    assert states(rc)[-2:] == [S.RECONNECTING, S.CONNECTED]
    assert rc.submit(double, 21, pure=False).result(timeout=60) == 42


@pytest.mark.smoke
def test_frozen_scheduler_is_detected_and_recovers(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """SIGSTOP → UNRESPONSIVE within 2 x (interval + timeout); SIGCONT → CONNECTED, value comes."""
    interval, timeout = 0.5, 1.0
    rc = make_client(
        cluster.scheduler_address, probe_interval=interval, probe_timeout=timeout
    )
    assert rc.submit(double, 1).result(timeout=30) == 2
    future = rc.submit(slow_double, 21, 1.5)
    frozen_at = time.monotonic()
    cluster.freeze_scheduler()
    rc.connection.wait_for(S.UNRESPONSIVE, timeout=2 * (interval + timeout))
    assert time.monotonic() - frozen_at <= 2 * (interval + timeout)
    cluster.thaw_scheduler()
    rc.connection.wait_for(S.CONNECTED, timeout=10)
    assert future.result(timeout=30) == 42
    assert rc.submit(double, 5).result(timeout=30) == 10


@pytest.mark.smoke
def test_frozen_past_unresponsive_timeout_raises_instead_of_hanging(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """A blocking result() raises SchedulerUnresponsive once unresponsive_timeout has passed."""
    rc = make_client(cluster.scheduler_address, unresponsive_timeout=3.0)
    future = rc.submit(double, 4, pure=False)
    assert future.result(timeout=30) == 8
    pending = rc.submit(slow_double, 50, 2)
    cluster.freeze_scheduler()
    started = time.monotonic()
    with pytest.raises(SchedulerUnresponsive) as info:
        pending.result()
    waited = time.monotonic() - started
    assert waited < 3.0 + 2.0, f"raised after {waited:.1f} s"
    assert isinstance(info.value, TimeoutError)
    assert "unresponsive_timeout=3.0 s" in str(info.value)
    cluster.thaw_scheduler()
    rc.connection.wait_for(S.CONNECTED, timeout=10)
    assert pending.result(timeout=30) == 100, "the future survives an unresponsive period"


def test_cut_connection_raises_connection_lost_then_reconnects(
    cluster: SubprocessCluster, proxy: TcpProxy, make_client: Callable[..., ResilientClient]
) -> None:
    """A reset through the proxy (scheduler alive) → SchedulerConnectionLost, then CONNECTED."""
    rc = make_client(proxy.address)
    finished = rc.submit(double, 3)
    assert finished.result(timeout=30) == 6
    # Pending without holding the only worker thread: a task still sleeping there after
    # the cut would make the new work below wait for it (CI once timed out that way).
    pending = rc.submit(double, 5, workers=[NO_SUCH_WORKER])
    with capture_events() as events:
        proxy.cut()
        with pytest.raises(SchedulerConnectionLost):
            pending.result(timeout=30)
        with pytest.raises(SchedulerConnectionLost):
            finished.result(timeout=30)
        rc.connection.wait_for(S.CONNECTED, timeout=30)
    assert cluster.scheduler is not None and cluster.scheduler.alive
    names = [e["event"] for e in events]
    assert names.index("scheduler.connection_lost") < names.index("scheduler.reconnected")
    lost = next(e for e in events if e["event"] == "scheduler.connection_lost")
    assert lost["address"] == proxy.address and lost["futures_cancelled"] == 2
    assert rc.submit(double, 7, pure=False).result(timeout=30) == 14


def test_blackholed_connection_becomes_unresponsive(
    cluster: SubprocessCluster, proxy: TcpProxy, make_client: Callable[..., ResilientClient]
) -> None:
    """Blackholed proxy (nothing answers, scheduler alive) → UNRESPONSIVE; restored → CONNECTED."""
    rc = make_client(proxy.address)
    assert rc.submit(double, 2).result(timeout=30) == 4
    proxy.blackhole()
    rc.connection.wait_for(S.UNRESPONSIVE, timeout=10)
    proxy.restore()
    rc.connection.wait_for(S.CONNECTED, timeout=10)
    assert rc.submit(double, 8, pure=False).result(timeout=30) == 16


def test_giving_up_closes_the_client_and_fails_pending_work_typed(
    cluster: SubprocessCluster,
    make_client: Callable[..., ResilientClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the scheduler gone for good, the client goes CLOSED after reconnect_timeout,
    says it gave up, and logs "Failed to reconnect" where distributed logs it."""
    rc = make_client(cluster.scheduler_address, reconnect_timeout=3)
    finished = rc.submit(double, 1)
    assert finished.result(timeout=30) == 2
    cluster.kill_scheduler()
    rc.connection.wait_for(S.CLOSED, timeout=30)
    assert "gave up reconnecting" in rc.connection.history[-1].detail
    logged = [r.getMessage() for r in caplog.records if r.name == "distributed.client"]
    assert any("Failed to reconnect" in message for message in logged)
    with pytest.raises(SchedulerConnectionLost) as info:
        finished.result(timeout=10)
    assert "(not reconnected)" in str(info.value)


def test_closing_the_client_while_it_reconnects_is_a_close_not_a_give_up(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """rc.close() during a reconnect: the client says it was closed, not that it gave up,
    and a future kept for replay is cancelled like the rest, not failed as lost."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    kept = rc.submit(double, 1)
    assert kept.result(timeout=30) == 2
    cluster.kill_scheduler()
    rc.connection.wait_for(S.RECONNECTING, timeout=30)
    rc.close(timeout=10)
    assert rc.connection.state is S.CLOSED
    assert rc.connection.history[-1].detail == "client closed"
    assert kept.status == "cancelled"
    error = kept._state.exception  # result() of a closed client raises "IOLoop is closed"
    assert isinstance(error, FutureCancelledError), repr(error)
    assert not isinstance(error, SchedulerConnectionLost), repr(error)
    assert "client closed" in str(error)


def test_callbacks_and_events_follow_every_transition(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """on_connection_change gets (old, new, detail) for each transition, and each is an event."""
    seen: list[tuple[Any, Any, str]] = []
    with capture_events() as events:
        rc = make_client(cluster.scheduler_address)
        handle = rc.on_connection_change(lambda old, new, detail: seen.append((old, new, detail)))
        cluster.kill_scheduler()
        rc.connection.wait_for(S.RECONNECTING, timeout=30)
        cluster.restart_scheduler()
        rc.connection.wait_for(S.CONNECTED, timeout=30)
        handle.unsubscribe()
        rc.close()
    assert [(old, new) for old, new, _ in seen] == [
        (S.CONNECTED, S.RECONNECTING),
        (S.RECONNECTING, S.CONNECTED),
    ]
    assert all(detail for _, _, detail in seen)
    names = [e["event"] for e in events]
    assert names == ["scheduler.connection_lost", "scheduler.reconnected", "client.closed"]
    assert all(e["address"] == cluster.scheduler_address for e in events)
    assert [t.state for t in rc.connection.history] == [S.RECONNECTING, S.CONNECTED, S.CLOSED]


def test_latency_is_measured(rc: ResilientClient) -> None:
    """rc.connection.latency is the round trip of the last heartbeat."""
    latency = poll_for(lambda: rc.connection.latency, 10)
    assert 0 < latency < 1.0
