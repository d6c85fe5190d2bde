"""The events a ResilientClient reacts to: one typed interface between upstream and us.

:class:`~resilient_dask._compat.client_hooks.ClientHooks` overrides distributed's
private ``Client`` methods and turns each into one call of :class:`ClientEvents`;
:class:`~resilient_dask._reactions.Reactions` implements it by handing the event to
the client's services in a fixed order. mypy checks both sides against this
Protocol: renaming an event on one side only fails the type check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Protocol

from resilient_dask._lost_data import LostWatch
from resilient_dask._reconnection import Connect

#: Delivers a task's error to its futures; called with a replacement error, or with none.
Deliver = Callable[..., None]


@dataclasses.dataclass
class OutgoingGraph:
    """A graph about to be sent: what the reactions to its sending need afterwards."""

    #: Keys it reads that an outage destroyed: its futures fail at once, typed.
    lost: list[Any]
    #: Keys whose recipe recording it added (forgotten again if sending fails).
    recorded: list[Any]


class ClientEvents(Protocol):
    """What happened inside ``distributed.Client``, as the services need to hear it.

    Every method runs in the client's event loop, except ``graph_*``, ``key_released``
    and ``scheduler_info_timeout``, which run in whichever thread submits, releases or
    renders.
    """

    def started(self) -> None:
        """The client started (``Client.start``); its loop runs."""

    def blocking_call(
        self, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Awaitable[Any]:
        """A call a user blocks on (through ``Client.sync``): run ``func`` and return
        what it returns or raise what it raises, typed."""
        ...

    def connected(self) -> Awaitable[None]:
        """A new connection to the scheduler is up (the first, or a reconnect's); awaited
        before the client's start (or the reconnect) completes."""
        ...

    def connection_lost(self) -> None:
        """The report stream closed while running, before upstream cancels the futures."""

    def reconnecting(self, connect: Connect) -> Awaitable[bool]:
        """Retry ``connect`` (one attempt: address, timeout) until connected; False
        when the client should give up and close."""
        ...

    def reconnect_finished(self) -> None:
        """The reconnect loop ended: connected again, or closed."""

    def scheduler_restarted(self) -> None:
        """``restart()`` reached the client, before upstream cancels the futures."""

    def keys_cancelled(self, keys: list[Any], reason: str | None, msg: str | None) -> list[Any]:
        """The scheduler cancelled ``keys``; returns the keys left for upstream to cancel."""
        ...

    def report_requested(self, key: Any) -> bool:
        """Upstream asks the scheduler to report on ``key`` again (a gather it could not
        serve); False: do not ask."""
        ...

    def graph_sending(
        self, expr: Any, keys: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> OutgoingGraph | None:
        """A graph is about to be sent. None: it is the replay's own, left alone."""
        ...

    def graph_not_sent(self, graph: OutgoingGraph) -> None:
        """Sending the graph failed (an argument does not pickle, say)."""

    def graph_sent(self, graph: OutgoingGraph, futures: dict[Any, Any]) -> None:
        """The graph was sent; ``futures`` are its new Futures by key."""

    def key_released(self, key: Any) -> None:
        """The last Future of ``key`` was released."""

    def scattered(
        self, data: Any, futures: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """``data`` was scattered as ``futures`` (in the shape of ``data``)."""

    def fetch_started(self, keys: Collection[Any]) -> LostWatch:
        """A fetch of ``keys`` from the cluster starts: watch for their loss."""
        ...

    def fetch_ended(self, watch: LostWatch) -> None:
        """The fetch watched by ``watch`` ended."""

    def data_lost(self, key: Any) -> None:
        """The scheduler said the last copy of ``key`` is gone and it is computed again."""

    def task_erred(self, key: Any, exception: Any, deliver: Deliver) -> Any:
        """``key`` erred: the error to deliver to its futures now (``exception`` itself, or
        a typed replacement), or None to hold it (then ``deliver`` delivers it later)."""

    def scheduler_info_timeout(self) -> float | None:
        """How long the notebook widget may wait for the scheduler (None: do not ask)."""
        ...

    def closing(self) -> None:
        """The client starts closing, before upstream forgets its address and futures."""

    def closed(self) -> None:
        """The client is closed."""
