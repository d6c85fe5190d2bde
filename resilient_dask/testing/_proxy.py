"""A TCP proxy between a client and its scheduler, to simulate network faults.

Point the client at ``proxy.address`` instead of the scheduler. Then:

* :meth:`TcpProxy.cut` resets every open connection (RST), as a network blip or
  a restarted load balancer does; new connections go through again. With
  ``hold_server_side=True`` only the client's side is reset: the scheduler's side
  stays open and silent (the scheduler has not noticed yet) until
  :meth:`TcpProxy.release_held`;
* :meth:`TcpProxy.blackhole` stops forwarding anything, in both directions, on
  open and new connections, while the scheduler stays alive, as a dead load
  balancer or a silently dropped route does; :meth:`TcpProxy.restore` resumes.

The proxy runs its own event loop in a daemon thread and listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from typing import Any


class TcpProxy:
    """Forward ``127.0.0.1:<port>`` to ``target_host:target_port``."""

    def __init__(
        self, target_host: str, target_port: int, *, port: int = 0, scheme: str = "tcp"
    ) -> None:
        #: The scheme of :attr:`address`: "tls" forwards TLS unchanged, end to end.
        self.scheme = scheme
        self.target_host = target_host
        self.target_port = target_port
        self._requested_port = port
        self.port: int | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="TcpProxy")
        self._server: asyncio.base_events.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._flowing: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Scheduler-side writers kept open by cut(hold_server_side=True).
        self._held: set[asyncio.StreamWriter] = set()
        #: Connections accepted so far (for tests that assert on reconnection).
        self.connections_accepted = 0

    @classmethod
    def to(cls, address: str, **kwargs: Any) -> TcpProxy:
        """A proxy to a ``tcp://host:port`` (or ``tls://host:port``) address."""
        scheme, _, location = address.rpartition("://")
        host, _, port = location.rpartition(":")
        return cls(host, int(port), scheme=scheme or "tcp", **kwargs)

    @property
    def address(self) -> str:
        """The address clients should connect to (``tcp://`` or ``tls://``)."""
        if self.port is None:
            raise RuntimeError("TcpProxy is not started")
        return f"{self.scheme}://127.0.0.1:{self.port}"

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> TcpProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self._requested_port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        """Stop listening and drop every connection."""
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._reset_all()
        for writer in list(self._held):
            _reset(writer)
        self._held.clear()
        for task in list(self._tasks):
            task.cancel()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- faults -----------------------------------------------------------------

    def cut(self, *, hold_server_side: bool = False) -> None:
        """Reset every open connection; later connections work normally.

        ``hold_server_side=True``: reset only the client's side, and keep the
        scheduler's side open, forwarding nothing, until :meth:`release_held`.
        """
        self._call(lambda: self._reset_all(hold_server_side))

    def release_held(self) -> None:
        """Reset the scheduler-side connections a ``cut(hold_server_side=True)`` kept."""

        def release() -> None:
            for writer in list(self._held):
                _reset(writer)
            self._held.clear()

        self._call(release)

    def blackhole(self) -> None:
        """Stop forwarding in both directions, on open and new connections."""
        self._call(lambda: self._flowing.clear() if self._flowing else None)

    def restore(self) -> None:
        """Resume forwarding after :meth:`blackhole`."""
        self._call(lambda: self._flowing.set() if self._flowing else None)

    def _call(self, fn: Any) -> None:
        async def run() -> None:
            fn()

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    # -- forwarding --------------------------------------------------------------

    def _reset_all(self, hold_server_side: bool = False) -> None:
        for client_writer, upstream_writer in list(self._pairs):
            _reset(client_writer)
            if upstream_writer is None:
                continue
            if hold_server_side:
                self._held.add(upstream_writer)
            else:
                _reset(upstream_writer)
        self._pairs.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_accepted += 1
        task = asyncio.current_task()
        assert task is not None and self._flowing is not None
        self._tasks.add(task)
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (writer, None)
        self._pairs.add(pair)
        try:
            await self._flowing.wait()
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
            if pair not in self._pairs:  # cut while connecting
                _reset(up_writer)
                return
            self._pairs.discard(pair)
            pair = (writer, up_writer)
            self._pairs.add(pair)
            await asyncio.gather(
                self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
            )
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._pairs.discard(pair)
            for w in pair:
                if w is not None and w not in self._held:
                    w.close()
            self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(65536)
                await self._flowing.wait()  # blackholed: forward neither the data nor the close
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        finally:
            if not writer.is_closing() and writer not in self._held:
                writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN, as a broken network path does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()
