"""What the client's services may ask of the client: one narrow, typed port.

The services (:mod:`resilient_dask._monitor`, :mod:`resilient_dask._lineage_service`,
...) never hold the client itself; they hold a :class:`ClientPort`. Everything
the port reads or calls is listed here, private attributes of distributed
included, each with the upstream behaviour it relies on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from distributed import Client, Future
from distributed.client import FutureState

from resilient_dask._compat import client_states, register_state, send_graph


class ClientPort:
    """The client as its services see it."""

    def __init__(self, client: Client, *, reconnect_timeout: float) -> None:
        self._client = client
        self._reconnect_timeout = reconnect_timeout
        self._last_address: str | None = None
        self._background: set[asyncio.Future[Any]] = set()

    # -- where and how it runs ---------------------------------------------------------

    def address(self) -> str | None:
        """The scheduler address, or the last one known once the client forgot it.

        Upstream: ``Client.scheduler`` is the scheduler's ``rpc`` (with ``.address``)
        once connected; ``_close`` sets it to None.
        """
        address = getattr(getattr(self._client, "scheduler", None), "address", None)
        if address is not None:
            self._last_address = address
        return address or self._last_address

    def asyncio_loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the client runs in (None before it has one)."""
        loop = getattr(self._client, "loop", None)
        return getattr(loop, "asyncio_loop", None)

    @property
    def running(self) -> bool:
        return self._client.status == "running"

    @property
    def connecting(self) -> bool:
        """Whether the client is (re)connecting. Upstream: ``Client.status`` is
        "connecting" from ``_reconnect``'s start until connected or closed."""
        return self._client.status == "connecting"

    @property
    def closing(self) -> bool:
        return self._client.status in ("closing", "closed")

    @property
    def id(self) -> str:
        return str(self._client.id)

    @property
    def scheduler(self) -> Any:
        """The scheduler's RPC (``identity``, ``who_has``, ``restart_workers``, ``echo``;
        its methods are made on the fly, so it has no type to check them against)."""
        return self._client.scheduler

    def call_soon(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` in the client's loop (from any thread)."""
        loop = self._client.loop
        assert loop is not None, "the client has no loop before it starts"
        loop.add_callback(callback)

    def sync(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``Client.sync``: run a coroutine function as a blocking (or awaitable) call."""
        return self._client.sync(func, *args, **kwargs)

    def background(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the client's loop (call from that loop), keeping a reference."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def run_on_scheduler(self, func: Callable[..., Any], *args: Any) -> Any:
        return await self._client.run_on_scheduler(func, *args, asynchronous=True)

    async def scheduler_call(self, op: str, **fields: Any) -> Any:
        """Ask the scheduler's handler ``op`` (one a plugin installer added) over RPC.

        Upstream: ``Client.scheduler`` is a pooled ``rpc`` whose attribute ``op`` sends
        ``{"op": op, **fields}`` and returns the handler's reply (msgpack: tuples and
        lists both come back as tuples).
        """
        return await getattr(self._client.scheduler, op)(**fields)

    # -- the futures it holds ------------------------------------------------------------

    def states(self) -> dict[Any, FutureState]:
        """The client's key → FutureState table (see ``_compat.client_states``)."""
        return client_states(self._client)

    def register_state(self, key: Any, state: FutureState) -> None:
        """Make ``state`` the client's state for ``key`` again (see ``_compat.register_state``)."""
        register_state(self._client, key, state)

    def reconnect_timeout(self) -> float:
        """How long the client keeps reconnecting (``reconnect_timeout``)."""
        return self._reconnect_timeout

    def release_on_scheduler(self, keys: list[Any]) -> None:
        """Tell the scheduler this client no longer wants ``keys``.

        Upstream: the "client-releases-keys" stream message (Client._send_to_scheduler,
        ordered with "update-graph") makes the scheduler drop this client's wish for
        ``keys``; an erred task nobody else wants is then forgotten, so the same key can
        be submitted afresh, with a fresh failure count.
        """
        self._client._send_to_scheduler(
            {"op": "client-releases-keys", "keys": keys, "client": self._client.id}
        )

    # -- sending work again, past ResilientClient's own overrides -------------------------
    # Replay sends recorded work again with distributed's public methods called on the
    # Client class itself: ResilientClient's submit/map (which record, and take retry=)
    # are bypassed, while its hooks still see the graph.

    def plain_submit(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        return Client.submit(self._client, func, *args, **kwargs)

    def plain_map(self, func: Any, *iterables: Any, **kwargs: Any) -> Any:
        return Client.map(self._client, func, *iterables, **kwargs)

    def plain_scatter(self, data: Any, **kwargs: Any) -> Any:
        return Client.scatter(self._client, data, **kwargs)

    def send_graph(self, expr: Any, keys: Any, call: dict[str, Any]) -> Any:
        """Send a recorded graph again (see ``_compat.send_graph``)."""
        return send_graph(self._client, expr, keys, call)

    def new_future(self, key: Any) -> Future[Any]:
        """A Future of ``key`` held by this client (keeps the key wanted)."""
        return Future(key, self._client)
