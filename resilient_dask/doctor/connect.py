"""Connecting to a scheduler within a deadline, and saying precisely why it failed.

``distributed.Client`` reports every failure to connect as "Timed out trying to
connect", and waits past its ``timeout`` for a scheduler that accepts the TCP
connection but never answers (one stopped with SIGSTOP). Here a plain TCP probe
first tells a wrong host name, a closed port and a silent host apart; then the
client gets what is left of one deadline, after which it is closed, so neither
command ever hangs. Every failure is an :class:`Unreachable` whose message is
one paragraph: what happened, the likely causes, what to do. A ``tls://`` address
is probed the same way (TCP first); a certificate either side rejects is told
apart from other failed handshakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from distributed import Client

from resilient_dask.doctor.address import SchedulerAddress

if TYPE_CHECKING:
    from distributed.security import Security

__all__ = ["Unreachable", "bounded", "connected_client", "failure", "tcp_probe"]

#: How long closing a client may take before it is abandoned.
CLOSE_TIMEOUT = 5.0


class Unreachable(Exception):
    """The scheduler could not be reached or stopped answering; ``str()`` says what to do."""


def failure(exc: BaseException) -> str:
    """``"ValueError: what it said"`` (without a final period, for use inside a sentence)."""
    text = str(exc).strip().rstrip(".")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _lead(address: SchedulerAddress) -> str:
    return f"Cannot reach the scheduler at {address}:"


async def tcp_probe(address: SchedulerAddress, timeout: float) -> None:
    """Open (and close) a TCP connection to the address; raise :class:`Unreachable` if none."""
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(address.host, address.port), timeout
        )
    except socket.gaierror as exc:
        raise Unreachable(
            f"{_lead(address)} the host name {address.host!r} does not resolve "
            f"({exc.strerror or exc}). Check its spelling, and this machine's DNS or VPN."
        ) from None
    except ConnectionRefusedError:
        raise Unreachable(
            f"{_lead(address)} nothing listens on {address.host} port {address.port} "
            "(connection refused). Check that the scheduler process (pod, job) is running "
            f"and listens on that port (`dask scheduler --port {address.port}`), and that "
            "this is the scheduler's address, not the dashboard's (usually port 8787)."
        ) from None
    except TimeoutError:
        raise Unreachable(
            f"{_lead(address)} no TCP answer from {address.host} port {address.port} within "
            f"{timeout:g} s: the host is down, or a firewall (security group, VPN) drops the "
            "connection. Check the address and the network path; --connect-timeout gives a "
            "slow network more time."
        ) from None
    except OSError as exc:
        raise Unreachable(
            f"{_lead(address)} {exc.strerror or exc}. Check the address and the network "
            "path from this machine to the scheduler."
        ) from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _close(client: Client) -> None:
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.wait_for(client.close(timeout=CLOSE_TIMEOUT), CLOSE_TIMEOUT + 1)


async def _start(client: Client) -> Client:
    return await client  # type: ignore[no-any-return]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it: ``__cause__``, ``__context__`` and tornado's ``real_error``."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = (current.__cause__, current.__context__, getattr(current, "real_error", None))
        pending.extend(e for e in linked if isinstance(e, BaseException))


def _tls_rejection(address: SchedulerAddress, error: BaseException) -> str | None:
    """The message for a TLS handshake that failed, or None if ``error`` is not one."""
    ssl_error = next((e for e in _chain(error) if isinstance(e, ssl.SSLError)), None)
    if ssl_error is None:
        return None
    if isinstance(ssl_error, ssl.SSLCertVerificationError):
        who = (
            "this client rejected the scheduler's certificate: it is not signed by the CA "
            "in --tls-ca-file (distributed.comm.tls.ca-file), or it has expired"
        )
    else:
        who = (
            "the scheduler rejected this client's certificate (--tls-cert, "
            "distributed.comm.tls.client.cert): it is not signed by a CA the scheduler "
            "trusts, or it has expired"
        )
    return (
        f"{_lead(address)} the TLS handshake with {address.host} port {address.port} failed "
        f"({failure(ssl_error)}): {who}. Check that --tls-ca-file is the CA that signed "
        "the scheduler's certificate, that --tls-cert (with its key, --tls-key) is signed "
        "by a CA the scheduler trusts (its own --tls-ca-file, as its workers' certificates "
        "are), and that neither certificate has expired (`openssl x509 -noout -dates -in "
        "FILE`)."
    )


@contextlib.asynccontextmanager
async def connected_client(
    address: SchedulerAddress, timeout: float, security: Security | None = None
) -> AsyncIterator[Client]:
    """An asynchronous ``Client`` connected within ``timeout`` seconds, closed on exit.

    ``security`` is passed to the client (None: distributed reads the dask
    config's TLS settings). Raises :class:`Unreachable` when the TCP probe fails
    or the scheduler does not complete the handshake in time.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    await tcp_probe(address, timeout)
    remaining = max(0.1, deadline - loop.time())
    with warnings.catch_warnings():
        # The client warns about version mismatches on connect; the doctor reports them.
        warnings.simplefilter("ignore")
        # The client's own timeout is longer than ours, so that a scheduler that never
        # answers always ends in our deadline (and its clear message), not in a race.
        client = Client(
            address.url,
            asynchronous=True,
            timeout=remaining + CLOSE_TIMEOUT,
            set_as_default=False,
            security=security,
        )
        starting: asyncio.Task[Client] = asyncio.ensure_future(_start(client))
        done, _ = await asyncio.wait({starting}, timeout=remaining)
    if not done:
        starting.cancel()
        await _close(client)
        raise Unreachable(
            f"{_lead(address)} something accepts connections on {address.host} port "
            f"{address.port} but did not answer as a Dask scheduler within {timeout:g} s. "
            "The scheduler is frozen (stopped with SIGSTOP, swapped out, its event loop "
            "blocked) or overloaded, or the port belongs to another service. Check the "
            "scheduler's process and log; a larger --connect-timeout helps only if it is "
            "merely slow."
        )
    error = starting.exception()
    if error is not None:
        await _close(client)
        raise Unreachable(
            _tls_rejection(address, error)
            or f"{_lead(address)} something answers on {address.host} port {address.port}, "
            f"but the Dask handshake failed ({failure(error)}). Check that "
            "this is a Dask scheduler's address, not another service's, and that the "
            "protocol matches: a scheduler started with --protocol tls has a tls:// "
            "address, and needs --tls-ca-file, --tls-cert and --tls-key."
        ) from None
    try:
        yield client
    finally:
        await _close(client)


async def bounded(awaitable: Any, timeout: float, address: SchedulerAddress, what: str) -> Any:
    """Await a scheduler call; raise :class:`Unreachable` if it takes longer than ``timeout``."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except TimeoutError:
        raise Unreachable(
            f"The scheduler at {address} stopped answering: {what} took longer than "
            f"{timeout:g} s. It is frozen or overloaded; check its process and log, and "
            "run the command again."
        ) from None
    except OSError as exc:
        raise Unreachable(
            f"The scheduler at {address} dropped the connection during {what} "
            f"({failure(exc)}). Check whether it is still running, and run the "
            "command again."
        ) from None
