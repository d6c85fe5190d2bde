"""What a notebook shows for a ResilientClient: distributed's widget plus the connection.

Displaying ``rc`` in Jupyter renders distributed's client widget followed by a
"Resilience" section: the connection state, the last probe latency and the
outage history. The outages are ``rc.connection.outages``, derived from the history of
transitions by the pure function :func:`resilient_dask.connection.outages`.

Rendering never blocks on the scheduler: while the connection is not CONNECTED,
distributed's widget is drawn from the scheduler identity cached at the last
answer (see ``ClientHooks._get_scheduler_info`` in ``_compat.client_hooks``), so displaying a
client whose scheduler froze does not freeze the notebook.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence

from resilient_dask._state_machine import ConnectionState, Transition
from resilient_dask.connection import outages

__all__ = ["render_resilience_html"]


def _clock(wall: float) -> str:
    return datetime.datetime.fromtimestamp(wall).strftime("%H:%M:%S")


def _lasted(value: float | None) -> str:
    return "ongoing" if value is None else f"{value:.1f} s"


def render_resilience_html(
    state: ConnectionState, latency: float | None, history: Sequence[Transition]
) -> str:
    """The "Resilience" section of the widget, as an HTML fragment."""
    latency_text = "no probe yet" if latency is None else f"{latency * 1000:.1f} ms"
    found = outages(history)
    rows = "".join(
        "<tr>"
        f"<td>{_clock(o.started)}</td>"
        f"<td>{_lasted(o.duration)}</td>"
        f"<td>{html.escape(o.description)}</td>"
        f"<td>{html.escape(o.detail)}</td>"
        "</tr>"
        for o in found
    )
    if found:
        table = (
            '<table style="width: 100%; text-align: left;">'
            "<tr><th>Started</th><th>Lasted</th><th>What</th><th>Detail</th></tr>"
            f"{rows}</table>"
        )
    else:
        table = "<p>No outages since the client started.</p>"
    return (
        '<div class="resilient-dask" style="margin-top: 0.5em;">'
        "<h4>Resilience</h4>"
        '<table style="text-align: left;">'
        f"<tr><th>Connection</th><td>{html.escape(str(state))}</td></tr>"
        f"<tr><th>Probe latency</th><td>{html.escape(latency_text)}</td></tr>"
        f"<tr><th>Outages</th><td>{len(found)}</td></tr>"
        "</table>"
        f"{table}</div>"
    )
