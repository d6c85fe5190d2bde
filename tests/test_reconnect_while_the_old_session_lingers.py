"""Reconnecting while the scheduler still sends to the client's old session.

The scheduler knows a client by its id, which stays the same across a reconnect.
A busy scheduler that has not yet noticed the old connection drop goes on sending
what it has for that id (reports on keys) to the newest stream. When such a message
goes out in the same batch as the new stream's "stream-start", distributed's
``Client._ensure_connected`` fails its ``assert len(msg) == 1``; the AssertionError
ends ``_reconnect``, and the client stays "connecting" for good. The chaos soak hit
this with two connection cuts 0.6 s apart during a replay.

Here a scheduler plugin puts one message in that first batch, once.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pytest

from resilient_dask import ConnectionState, ResilientClient
from resilient_dask.testing import SubprocessCluster, TcpProxy

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

S = ConnectionState


def inc(x: int) -> int:
    return x + 1


def send_with_the_next_stream_start(dask_scheduler: Any) -> None:
    """The next client stream's first batch carries a report besides "stream-start"."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    class OneReportWithStreamStart(SchedulerPlugin):
        name = "rd-test-report-with-stream-start"

        def __init__(self) -> None:
            self.sent = 0

        def add_client(self, scheduler: Any, client: str) -> None:
            if self.sent:
                return
            self.sent += 1
            # Runs once add_client has queued "stream-start" on the new stream, before
            # that stream's sender wakes up: both go out as one batch.
            report = {"op": "key-in-memory", "key": "rd-no-such-key"}
            scheduler.loop.add_callback(lambda: scheduler.client_comms[client].send(report))

    dask_scheduler.add_plugin(OneReportWithStreamStart())


def reports_sent(dask_scheduler: Any) -> int:
    return dask_scheduler.plugins["rd-test-report-with-stream-start"].sent  # type: ignore[no-any-return]


def test_a_report_in_the_first_batch_of_the_new_stream_does_not_stop_the_reconnect(
    cluster: SubprocessCluster,
    make_client: Callable[..., ResilientClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Cut; the new stream's first batch has "stream-start" and a report: the client
    closes that connection, connects again and runs new work."""
    with TcpProxy.to(cluster.scheduler_address) as proxy:
        rc = make_client(proxy.address)
        assert rc.submit(inc, 1).result(timeout=30) == 2
        rc.run_on_scheduler(send_with_the_next_stream_start)
        proxy.cut()
        rc.connection.wait_for(S.RECONNECTING, timeout=30)
        rc.connection.wait_for(S.CONNECTED, timeout=30)
        assert rc.run_on_scheduler(reports_sent) == 1
        gc.collect()  # a comm dropped while open warns when it is collected
        dangling = [r for r in caplog.records if "Closing dangling stream" in r.getMessage()]
        assert not dangling, "the refused connection was left open"
        assert rc.submit(inc, 2, pure=False).result(timeout=30) == 3
        rc.close(timeout=10)  # before the proxy goes
