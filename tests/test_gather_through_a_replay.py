"""A gather already waiting when the connection drops returns every value after the replay.

The outage parks the user's futures for replay, and the replay sends them again in
the order they were made, one batch after another. A gather that was waiting for
one of its futures (``first``) wakes when that future is replayed and finishes; a
future it had already seen finish (``later``, made after data kept for replay) can
still be waiting for its own batch at that moment. distributed's gather then found
``later`` in none of its tables and raised ``AttributeError: 'NoneType' object has
no attribute 'with_traceback'`` (the chaos soak hit this once in CI).

Here the kept data is scattered to a worker the test freezes, so the replay stays
between the two batches until the test thaws it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import distributed
import pytest

from resilient_dask import ConnectionState, ResilientClient
from resilient_dask.testing import SubprocessCluster, TcpProxy, poll_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

S = ConnectionState


def inc(x: int) -> int:
    return x + 1


def inc_once_set(x: int, event: str) -> int:
    distributed.Event(event).wait(60)
    return x + 1


def gathers_waiting(rc: ResilientClient) -> int:
    """How many of distributed's gathers are running in the client's event loop."""

    async def count() -> int:
        return sum(getattr(t.get_coro(), "__name__", "") == "_gather" for t in asyncio.all_tasks())

    return asyncio.run_coroutine_threadsafe(count(), rc.loop.asyncio_loop).result(10)


def test_a_gather_waiting_when_the_connection_drops_gets_every_value_after_the_replay(
    make_client: Callable[..., ResilientClient],
) -> None:
    """gather([first, later]) waits for first; a cut parks both; first is replayed and
    finishes while later waits behind kept data: the gather returns both values."""
    with (
        SubprocessCluster(n_workers=2, nthreads=2) as cluster,
        TcpProxy.to(cluster.scheduler_address) as proxy,
    ):
        rc = make_client(proxy.address, resubmit=True, scatter_policy="keep")
        names = {info["name"]: a for a, info in rc.scheduler_info(n_workers=-1)["workers"].items()}
        computing, holding = names[cluster.workers[0].name], names[cluster.workers[1].name]
        first = rc.submit(inc_once_set, 1, "first-may-finish", workers=[computing], pure=False)
        kept = rc.scatter(10, workers=[holding])
        assert kept.result(timeout=30) == 10
        later = rc.submit(inc, 2, workers=[computing], pure=False)
        assert later.result(timeout=30) == 3
        assert first.status == "pending"

        outcome: list[Any] = []

        def gather() -> None:
            try:
                outcome.append(rc.gather([first, later]))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=gather, daemon=True)
        thread.start()
        try:
            poll_for(lambda: gathers_waiting(rc) == 1, 30, message="the gather waiting for first")
            cluster.workers[1].freeze()  # the replay's scatter of `kept` waits for it
            proxy.cut()
            poll_for(lambda: rc.connection.state is S.RESUBMITTING, 30, message="replaying")
            distributed.Event("first-may-finish", client=rc).set()
            poll_for(lambda: first.status == "finished", 30, message="first replayed and finished")
            assert later.status == "pending", "later was replayed before first: nothing tested"
            poll_for(lambda: gathers_waiting(rc) == 0, 30, message="the gather past its wait")
        finally:
            cluster.workers[1].thaw()
        thread.join(60)
        assert not thread.is_alive(), "the gather never returned"
        assert outcome == [[2, 3]], outcome
        assert kept.result(timeout=30) == 10
        rc.close(timeout=10)  # before the proxy goes
