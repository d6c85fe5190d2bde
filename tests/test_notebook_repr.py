"""``rc._repr_html_()``: distributed's widget plus connection state, latency and outages."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree
from typing import Any

import pytest

from resilient_dask import ConnectionState, Transition
from resilient_dask._notebook import render_resilience_html
from resilient_dask.connection import outages
from resilient_dask.testing import SubprocessCluster, poll_for

pytestmark = pytest.mark.timeout(90)

C, U, R, S, X = (
    ConnectionState.CONNECTED,
    ConnectionState.UNRESPONSIVE,
    ConnectionState.RECONNECTING,
    ConnectionState.RESUBMITTING,
    ConnectionState.CLOSED,
)


def history(*steps: tuple[ConnectionState, float, str]) -> list[Transition]:
    """Transitions from CONNECTED through ``(state, time, detail)`` steps."""
    out: list[Transition] = []
    old = C
    for state, at, detail in steps:
        out.append(Transition(old, state, at, detail))
        old = state
    return out


# -- the pure part: grouping transitions into outages ----------------------------------


def test_no_transitions_means_no_outages() -> None:
    assert outages([]) == []


def test_a_freeze_that_thawed_is_one_unresponsive_outage() -> None:
    [outage] = outages(history((U, 10.0, "no answer for 1.0 s"), (C, 14.5, "answered")))
    assert outage.worst is U
    assert outage.duration == pytest.approx(4.5)
    assert outage.description == "scheduler unresponsive"
    assert outage.detail == "no answer for 1.0 s"


def test_an_outage_is_named_after_the_worst_state_it_reached() -> None:
    steps = history(
        (U, 1.0, "slow"), (R, 2.0, "comm closed"), (S, 5.0, "replaying"), (C, 7.0, "done")
    )
    [outage] = outages(steps)
    assert outage.worst is S
    assert outage.description == "connection lost, lineage replayed"
    assert (outage.started, outage.ended) == (1.0, 7.0)
    assert outage.detail == "slow"


def test_separate_outages_are_kept_apart_and_an_open_one_is_ongoing() -> None:
    steps = history((R, 1.0, "lost"), (C, 2.0, "back"), (U, 3.0, "slow"))
    first, second = outages(steps)
    assert (first.worst, first.duration) == (R, 1.0)
    assert (second.worst, second.ended, second.duration) == (U, None, None)


def test_an_outage_ended_by_closing_says_so() -> None:
    [outage] = outages(history((R, 1.0, "lost"), (X, 31.0, "reconnect gave up")))
    assert outage.closed
    assert outage.description == "connection lost; client closed"


def test_closing_a_healthy_client_is_not_an_outage() -> None:
    assert outages(history((X, 1.0, "client closed"))) == []


def test_rendering_escapes_details_and_lists_each_outage() -> None:
    steps = history((R, 1.0, "<script>x</script>"), (C, 3.0, "back"))
    page = render_resilience_html(C, 0.0123, steps)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "12.3 ms" in page
    assert "2.0 s" in page
    assert "connection lost" in page


def test_rendering_with_outages_is_well_formed_markup() -> None:
    steps = history((U, 1.0, "a & b"), (R, 2.0, "<x>"), (C, 3.0, "'back'"), (U, 4.0, ""))
    root = xml.etree.ElementTree.fromstring(render_resilience_html(U, None, steps))
    assert root.tag == "div"


def test_rendering_without_probe_or_outages() -> None:
    page = render_resilience_html(C, None, [])
    assert "no probe yet" in page
    assert "No outages since the client started." in page


# -- against a real scheduler ------------------------------------------------------------


def test_widget_keeps_distributed_content_and_adds_state_and_latency(
    cluster: SubprocessCluster, rc: Any
) -> None:
    poll_for(lambda: rc.connection.latency is not None, timeout=10, message="first probe")
    page = rc._repr_html_()
    assert cluster.scheduler_address in page  # distributed's own widget is still there
    assert "Resilience" in page
    assert "CONNECTED" in page
    assert re.search(r"<th>Probe latency</th><td>\d+\.\d ms</td>", page)
    assert "No outages since the client started." in page


def test_widget_is_well_formed_markup(rc: Any) -> None:
    """The widget parses as one XML element, as upstream's does (distributed's own
    test_repr_localcluster checks that)."""
    root = xml.etree.ElementTree.fromstring(rc._repr_html_())
    assert root.tag == "div"
    assert "Resilience" in xml.etree.ElementTree.tostring(root, encoding="unicode")


def test_widget_lists_the_outage_of_a_scheduler_restart(
    cluster: SubprocessCluster, make_client: Any
) -> None:
    rc = make_client(cluster.scheduler_address, resubmit=True)
    assert rc.submit(sum, [1, 2]).result(timeout=10) == 3
    cluster.restart_scheduler(respawn_workers=True)
    # The client may notice the loss and reconnect while restart_scheduler still waits
    # for the workers, so wait on the recorded outage, not on a future transition.
    poll_for(
        lambda: [o.ended is not None for o in rc.connection.outages] == [True],
        timeout=45,
        message="one outage, ended",
    )
    page = rc._repr_html_()
    [outage] = rc.connection.outages
    assert outage.worst in {R, S}
    assert outage.description in page
    assert "<td>1</td>" in page  # the outage count


def test_widget_does_not_block_on_a_frozen_scheduler(
    cluster: SubprocessCluster, make_client: Any
) -> None:
    """Plain ``Client._repr_html_`` asks a frozen scheduler with no timeout and hangs."""
    rc = make_client(cluster.scheduler_address, probe_timeout=1.0)
    poll_for(lambda: rc.connection.latency is not None, timeout=10, message="first probe")
    cluster.freeze_scheduler()
    try:
        # Still CONNECTED as far as the client knows: the widget asks, bounded.
        started = time.monotonic()
        page = rc._repr_html_()
        assert time.monotonic() - started < 1.0 + 5.0
        assert cluster.scheduler_address in page
        rc.connection.wait_for(U, timeout=15)
        # UNRESPONSIVE: the widget does not ask at all and shows the state.
        started = time.monotonic()
        page = rc._repr_html_()
        assert time.monotonic() - started < 1.0
        assert "UNRESPONSIVE" in page
        assert "scheduler unresponsive" in page
    finally:
        cluster.thaw_scheduler()
