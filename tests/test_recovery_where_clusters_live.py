"""Recovery as deployments need it, against real processes.

Outages longer than the connect timeout, a client that gives up, a scheduler that
comes back on a new port (found through its scheduler file or an address callable),
workers that come back at new addresses, an adaptive cluster that scaled to zero,
TLS, and a scheduler still holding the client's previous session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import dask
import dask.array as da
import dask.core
import pytest
from distributed import Client, LocalCluster

from resilient_dask import ClientClosed, ConnectionState, ResilientClient, pins
from resilient_dask.testing import SubprocessCluster, TcpProxy, capture_events, poll_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

S = ConnectionState


def inc(x: int) -> int:
    return x + 1


def slow_inc(x: int) -> int:
    time.sleep(0.5)
    return x + 1


def outages(rc: ResilientClient) -> int:
    return [t.state for t in rc.connection.history].count(S.RECONNECTING)


class Waiter(threading.Thread):
    """Calls ``rc.gather(futures)`` in a thread and keeps what it returned or raised."""

    def __init__(self, rc: ResilientClient, futures: Any) -> None:
        super().__init__(daemon=True)
        self.rc, self.futures = rc, futures
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.rc.gather(self.futures)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def outcome(self, timeout: float) -> Any:
        self.join(timeout)
        assert not self.is_alive(), f"gather still waiting after {timeout} s"
        if self.error is not None:
            raise self.error
        return self.result


# -- the reconnect window ------------------------------------------------------------------


@pytest.mark.timeout(360)
def test_futures_made_before_a_90_second_outage_get_their_values_with_default_options() -> None:
    """Scheduler and workers SIGKILLed, back after 90 s on the same address. With the
    default options plus resubmit=True, the client is still reconnecting when they
    return (distributed's 30 s connect timeout would have closed it), a gather waiting
    through the outage and result() afterwards get the right values, and new work runs."""
    with SubprocessCluster(n_workers=1) as cluster:
        rc = ResilientClient(cluster.scheduler_address, resubmit=True, set_as_default=False)
        try:
            done = rc.map(inc, range(20))
            assert rc.gather(done) == list(range(1, 21))
            running = rc.map(slow_inc, range(100, 110))
            waiter = Waiter(rc, running)
            waiter.start()
            cluster.kill_scheduler()
            for index in range(len(cluster.workers)):
                cluster.kill_worker(index)
            killed = time.monotonic()
            rc.connection.wait_for(S.RECONNECTING, timeout=30)
            with pytest.raises(TimeoutError):  # 90 s without closing
                rc.connection.wait_for(S.CLOSED, timeout=max(0.0, 90 - (time.monotonic() - killed)))
            assert rc.connection.state is S.RECONNECTING
            cluster.restart_scheduler(respawn_workers=True)
            assert waiter.outcome(120) == list(range(101, 111))
            assert [f.result(timeout=60) for f in done] == list(range(1, 21))
            assert rc.submit(inc, 1000, pure=False).result(timeout=60) == 1001
            assert outages(rc) == 1
        finally:
            rc.close(timeout=10)


def test_the_connect_timeout_does_not_end_the_reconnect_window(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """Client(timeout=2) bounds the first connection only: the client keeps reconnecting
    past it (for reconnect_timeout) and recovers when the scheduler is back."""
    rc = make_client(cluster.scheduler_address, timeout=2, resubmit=True)
    futures = rc.map(inc, range(5))
    assert rc.gather(futures) == [1, 2, 3, 4, 5]
    cluster.kill_scheduler()
    rc.connection.wait_for(S.RECONNECTING, timeout=30)
    with pytest.raises(TimeoutError):
        rc.connection.wait_for(S.CLOSED, timeout=6)
    cluster.restart_scheduler(respawn_workers=True)
    assert rc.gather(futures) == [1, 2, 3, 4, 5]


def test_waiting_for_connected_raises_within_a_second_of_the_client_giving_up(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """wait_for(CONNECTED, timeout=300) raises ClientClosed as the client closes (the
    reconnect window passed), not 300 s later, and says why; a later call raises at once."""
    rc = make_client(cluster.scheduler_address, reconnect_timeout=2)
    cluster.kill_scheduler()
    rc.connection.wait_for(S.RECONNECTING, timeout=30)
    with pytest.raises(ClientClosed) as info:
        rc.connection.wait_for(S.CONNECTED, timeout=300)
    raised = time.time()
    closing = rc.connection.history[-1]
    assert closing.state is S.CLOSED
    assert raised - closing.time < 1.0
    assert "gave up reconnecting after 2 s" in str(info.value)
    assert "raise reconnect_timeout" in str(info.value)
    started = time.monotonic()
    with pytest.raises(ClientClosed):
        rc.connection.wait_for(S.RECONNECTING, timeout=300)
    assert time.monotonic() - started < 1.0
    assert rc.connection.wait_for(S.CLOSED, timeout=1) is None


# -- a scheduler that moves -------------------------------------------------------------------


@pytest.mark.parametrize("found_by", ["scheduler_file", "callable"])
def test_a_scheduler_restarted_on_a_new_port_is_found_and_the_work_replayed(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient], found_by: str
) -> None:
    """The scheduler comes back on another port with new workers, as a re-queued batch
    job does: the client finds it through the scheduler file it rewrote (or an address
    callable), and futures and a persisted collection work again."""
    if found_by == "scheduler_file":
        rc = make_client(None, scheduler_file=str(cluster.scheduler_file), resubmit=True)
    else:
        rc = make_client(lambda: cluster.scheduler_address, resubmit=True)
    futures = rc.map(inc, range(10))
    array = rc.persist(da.arange(1_000, chunks=100))
    assert rc.gather(futures) == list(range(1, 11))
    old = cluster.scheduler_address
    with capture_events() as events:
        cluster.kill_scheduler()
        rc.connection.wait_for(S.RECONNECTING, timeout=30)
        cluster.restart_scheduler(new_port=True, respawn_workers=True)
        assert cluster.scheduler_address != old
        assert rc.gather(futures) == list(range(1, 11))
        assert int(array.sum().compute()) == sum(range(1_000))
    assert rc.scheduler.address == cluster.scheduler_address
    assert rc.connection.address == cluster.scheduler_address
    moved = [e for e in events if e["event"] == "scheduler.moved"]
    assert [(e["old"], e["new"]) for e in moved] == [(old, cluster.scheduler_address)]
    assert rc.submit(inc, 41, pure=False).result(timeout=30) == 42


def test_an_address_callable_that_returns_no_address_is_refused_naming_it(
    cluster: SubprocessCluster,
) -> None:
    """A callable address must return an address string: anything else is a TypeError
    naming the callable and what it returned, before anything starts."""

    def lookup() -> Any:
        return None

    with pytest.raises(TypeError, match=r"returned None; it must return the scheduler's address"):
        ResilientClient(lookup, set_as_default=False)


# -- workers at new addresses ------------------------------------------------------------


def test_a_chain_whose_first_task_was_pinned_to_a_worker_address_comes_back(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """A chain's first task was restricted to the only worker's address; after the
    restart the only worker has a new address. The replay drops the address that is
    gone (and says so in an event naming the key and the address): the chain's value
    comes back."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    (address,) = rc.scheduler_info()["workers"]
    first = rc.submit(inc, 1, workers=[address])
    second = rc.submit(inc, first)
    third = rc.submit(inc, second)
    assert third.result(timeout=30) == 4
    with capture_events() as events:
        cluster.kill_scheduler()
        cluster.kill_worker(0)
        rc.connection.wait_for(S.RECONNECTING, timeout=30)
        cluster.restart_scheduler(respawn_workers=True)
        assert address not in rc.scheduler_info()["workers"]
        assert third.result(timeout=60) == 4
    dropped = [e for e in events if e["event"] == "lineage.restriction_dropped"]
    assert [(e["keys"], e["addresses"]) for e in dropped] == [([str(first.key)], [address])]


def test_a_persisted_collection_and_an_annotated_submit_pinned_to_a_gone_worker_come_back(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """persist(..., workers=[address]) and a submit under dask.annotate(workers=[address]):
    after the restart at a new worker address both are replayed without that address."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    (address,) = rc.scheduler_info()["workers"]
    array = rc.persist(da.arange(100, chunks=25), workers=[address])
    with dask.annotate(workers=[address]):
        pinned = rc.submit(inc, 10)
    assert int(array.sum().compute()) == sum(range(100)) and pinned.result(timeout=30) == 11
    with capture_events() as events:
        cluster.kill_scheduler()
        cluster.kill_worker(0)
        rc.connection.wait_for(S.RECONNECTING, timeout=30)
        cluster.restart_scheduler(respawn_workers=True)
        assert int((array + 1).sum().compute()) == sum(range(1, 101))
        assert pinned.result(timeout=60) == 11
    dropped = [e for e in events if e["event"] == "lineage.restriction_dropped"]
    assert {a for e in dropped for a in e["addresses"]} == {address}
    keys = {k for e in dropped for k in e["keys"]}
    assert str(pinned.key) in keys
    assert {str(k) for k in dask.core.flatten(array.__dask_keys__())} <= keys


# -- adaptive clusters -------------------------------------------------------------------------


@pytest.fixture
def adaptive() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=0,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=":0",
    ) as cluster:
        cluster.adapt(minimum=0, maximum=2, interval="100ms", wait_count=2)
        yield cluster


def test_a_gather_waiting_through_a_cut_gets_its_values_from_an_adaptive_cluster_at_zero(
    adaptive: LocalCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """The client's path is down until the scheduler has forgotten the client's keys and
    adaptive has scaled to zero workers. When the path is back, the replay is sent at
    once (no worker to wait for), adaptive scales up for it, and the gather that was
    waiting all along gets its values."""
    scheduler = adaptive.scheduler
    assert scheduler is not None
    with TcpProxy.to(adaptive.scheduler_address) as proxy:
        rc = make_client(proxy.address, resubmit=True, resubmit_timeout=5)
        futures = rc.map(inc, range(20))
        assert rc.gather(futures) == list(range(1, 21))
        proxy.blackhole()
        proxy.cut()
        rc.connection.wait_for(S.RECONNECTING, timeout=30)
        poll_for(lambda: not scheduler.tasks, 30, message="the scheduler forgot the keys")
        poll_for(lambda: not scheduler.workers, 30, message="adaptive scaled to zero")
        waiter = Waiter(rc, futures)
        waiter.start()
        proxy.restore()
        assert waiter.outcome(60) == list(range(1, 21))
        assert outages(rc) == 1


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture
def tls_cluster() -> Iterator[SubprocessCluster]:
    with SubprocessCluster(n_workers=1, tls=True) as cluster:
        yield cluster


def test_probe_pins_restart_and_replay_over_tls(
    tls_cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """Over tls:// with certificates made for the test: the probe answers, a pin reaches
    the scheduler plugin, and after the scheduler and workers are killed and restarted
    the client reconnects with TLS and replays futures and a persisted collection."""
    rc = make_client(tls_cluster.scheduler_address, security=tls_cluster.security(), resubmit=True)
    poll_for(lambda: rc.connection.latency is not None, 30, message="a probe answered")
    (worker,) = rc.scheduler_info()["workers"]
    assert worker.startswith("tls://")
    with rc.pin_workers([worker], reason="over tls"):
        assert [p["reason"] for p in rc.run_on_scheduler(pins.list_pins)] == ["over tls"]
    futures = rc.map(inc, range(10))
    array = rc.persist(da.arange(500, chunks=50))
    assert rc.gather(futures) == list(range(1, 11))
    tls_cluster.kill_scheduler()
    rc.connection.wait_for(S.RECONNECTING, timeout=30)
    tls_cluster.restart_scheduler(respawn_workers=True)
    assert rc.gather(futures) == list(range(1, 11))
    assert int(array.sum().compute()) == sum(range(500))
    assert rc.connection.state is S.CONNECTED


def test_a_tls_scheduler_restarted_on_a_new_port_is_found_through_its_scheduler_file(
    tls_cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """The same move to a new port as over TCP, with TLS end to end."""
    rc = make_client(
        None,
        scheduler_file=str(tls_cluster.scheduler_file),
        security=tls_cluster.security(),
        resubmit=True,
    )
    futures = rc.map(inc, range(10))
    assert rc.gather(futures) == list(range(1, 11))
    tls_cluster.kill_scheduler()
    rc.connection.wait_for(S.RECONNECTING, timeout=30)
    tls_cluster.restart_scheduler(new_port=True, respawn_workers=True)
    assert rc.gather(futures) == list(range(1, 11))
    assert rc.scheduler.address == tls_cluster.scheduler_address


# -- the scheduler's previous session ------------------------------------------------------------


def test_a_reconnect_waits_until_the_scheduler_has_dropped_the_previous_session(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """Only the client's side of the connection is cut: the scheduler keeps the old
    session until the proxy closes its side too, a while later. The client registers
    after that, so the scheduler's removal of the old session (same client id) does not
    end the new one: one outage, one replay, and the scheduler's record of the client
    is add, remove, add."""
    observer = Client(cluster.scheduler_address, set_as_default=False)  # not through the proxy

    def actions(client_id: str) -> list[str]:
        sessions = ("add-client", "remove-client")
        events = observer.get_events(client_id)
        return [m["action"] for _, m in events if m.get("action") in sessions]

    try:
        with TcpProxy.to(cluster.scheduler_address) as proxy:
            rc = make_client(proxy.address, resubmit=True)
            futures = rc.map(inc, range(10))
            assert rc.gather(futures) == list(range(1, 11))
            proxy.cut(hold_server_side=True)
            rc.connection.wait_for(S.RECONNECTING, timeout=30)
            # While the old session lingers, the client does not register a new one.
            with pytest.raises(TimeoutError):
                poll_for(lambda: actions(rc.id).count("add-client") > 1, 3)
            assert actions(rc.id) == ["add-client"]
            proxy.release_held()
            rc.connection.wait_for(S.CONNECTED, timeout=30)
            assert rc.gather(futures) == list(range(1, 11))
            assert rc.submit(inc, 100, pure=False).result(timeout=30) == 101
            assert actions(rc.id) == ["add-client", "remove-client", "add-client"]
            assert outages(rc) == 1
            rc.close(timeout=10)
    finally:
        observer.close(timeout=10)
