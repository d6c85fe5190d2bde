"""A blocking call whose own RPC to the scheduler is cut: typed, or answered after replay.

A ``gather`` asks the scheduler for the data; here the worker holding it is frozen,
so the scheduler's fetch, and with it the client's RPC, stays in flight until the
test cuts the client's connection. Every socket is reset at once, and whether the
call's RPC or the client's report stream notices first is up to the event loop:
both orders must give the same outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from resilient_dask import ConnectionState, ResilientClient, SchedulerConnectionLost
from resilient_dask.testing import SubprocessCluster, TcpProxy, poll_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def inc(x: int) -> int:
    return x + 1


def _scheduler_fetching_from(cluster: SubprocessCluster, worker: str) -> bool:
    """Whether the scheduler has a TCP connection open to ``worker``'s listening port."""
    assert cluster.scheduler is not None
    port = int(worker.rsplit(":", 1)[1])
    connections = psutil.Process(cluster.scheduler.pid).net_connections(kind="tcp")
    return any(c.raddr and c.raddr.port == port for c in connections)


def _gather_cut_mid_rpc(
    cluster: SubprocessCluster, proxy: TcpProxy, rc: ResilientClient
) -> tuple[list[Any], Any]:
    """Gather a finished future while its worker is frozen, cut the connection, thaw.

    Returns what the gather returned or raised, and the future.
    """
    future = rc.submit(inc, 41, pure=False)
    assert future.result(timeout=30) == 42
    (worker,) = rc.scheduler_info()["workers"]
    cluster.workers[0].freeze()
    outcome: list[Any] = []

    def gather() -> None:
        try:
            outcome.append(rc.gather([future]))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=gather, daemon=True)
    try:
        thread.start()
        poll_for(
            lambda: _scheduler_fetching_from(cluster, worker), 30,
            message="the scheduler fetching the data from the frozen worker",
        )  # fmt: skip
        assert not outcome, "the gather finished although the worker holding the data is frozen"
        proxy.cut()
    finally:
        cluster.workers[0].thaw()
    thread.join(90)
    assert not thread.is_alive(), "the gather never returned after the cut"
    return outcome, future


def test_a_gather_cut_mid_rpc_returns_its_value_after_the_replay(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """resubmit=True: the cut gather waits for the replay and returns the value."""
    with TcpProxy.to(cluster.scheduler_address) as proxy:
        rc = make_client(proxy.address, resubmit=True)
        outcome, future = _gather_cut_mid_rpc(cluster, proxy, rc)
        assert outcome == [[42]], outcome
        states = [t.state for t in rc.connection.history]
        assert ConnectionState.RECONNECTING in states, "the cut was not seen as an outage"
        assert future.result(timeout=30) == 42


def test_a_gather_cut_mid_rpc_raises_scheduler_connection_lost(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """resubmit=False: the cut gather raises SchedulerConnectionLost, not CommClosedError."""
    with TcpProxy.to(cluster.scheduler_address) as proxy:
        rc = make_client(proxy.address)
        outcome, _ = _gather_cut_mid_rpc(cluster, proxy, rc)
        (error,) = outcome
        assert isinstance(error, SchedulerConnectionLost), repr(error)
        assert proxy.address in str(error) and error.guidance
