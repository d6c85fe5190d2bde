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

import pytest

from resilient_dask import ConnectionState, ResilientClient, SchedulerConnectionLost
from resilient_dask.testing import SubprocessCluster, TcpProxy, poll_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def inc(x: int) -> int:
    return x + 1


def _request_waiting_at(worker: str) -> bool:
    """Whether bytes wait unread on a connection to ``worker``'s listening port.

    The worker is frozen, so the only request that can wait there is the scheduler's
    fetch of the gathered data. (A connection the scheduler already holds to the
    worker, from earlier work, says nothing: the fetch may not have been sent yet.)
    """
    host, port = worker.rsplit("/", 1)[-1].rsplit(":", 1)
    assert host == "127.0.0.1", worker
    local = f"0100007F:{int(port):04X}"
    with open("/proc/net/tcp") as table:
        next(table)  # the header
        for line in table:
            fields = line.split()
            established = fields[3] == "01"
            if established and fields[1] == local and int(fields[4].split(":")[1], 16) > 0:
                return True
    return False


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
            lambda: _request_waiting_at(worker), 30,
            message="the scheduler's fetch of the data waiting at the frozen worker",
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


def test_a_report_asked_during_the_outage_does_not_cancel_the_replayed_future(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """resubmit=True: a gather the scheduler could not serve asks it to report each key
    again (distributed's Client._gather sends "report-key"). Asked during the outage,
    that message goes first on the new stream, before the replay's graph: the
    scheduler, which forgot the key with the old session, answers "cancelled-keys".
    That answer must not cancel the replayed future: its result() returns the value.

    Deterministic: the proxy keeps the scheduler's side of the old session open, so
    the client stays RECONNECTING while the report is asked, until it is released.
    """
    with TcpProxy.to(cluster.scheduler_address) as proxy:
        rc = make_client(proxy.address, resubmit=True)
        future = rc.submit(inc, 41, pure=False)
        assert future.result(timeout=30) == 42
        proxy.cut(hold_server_side=True)
        poll_for(lambda: rc.connection.state is ConnectionState.RECONNECTING, 30)
        rc._send_to_scheduler({"op": "report-key", "key": future.key})  # as Client._gather does
        outcome: list[Any] = []

        def result() -> None:
            try:
                outcome.append(future.result(timeout=60))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=result, daemon=True)
        thread.start()
        proxy.release_held()
        thread.join(90)
        assert not thread.is_alive(), "result() never returned after the reconnect"
        assert outcome == [42], outcome
        poll_for(lambda: rc.connection.state is ConnectionState.CONNECTED, 30)
