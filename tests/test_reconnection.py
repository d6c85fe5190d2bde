"""The reconnect loop and the restriction relaxing, as pure logic (no cluster).

The same behaviour against real processes is in test_recovery_where_clusters_live.py.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import random
import time

import pytest

from resilient_dask._reconnection import (
    FIRST_DELAY,
    MAX_DELAY,
    Reconnection,
    backoff_delay,
    locator_for,
)
from resilient_dask._restrictions import relax, restricted_to_addresses

pytestmark = pytest.mark.timeout(30)


def test_the_backoff_bound_doubles_from_a_tenth_of_a_second_to_five() -> None:
    """With the random draw at its top the delay is the bound: 0.1, 0.2, 0.4 ... 5, 5."""
    bounds = [backoff_delay(n, rng=lambda: 1.0) for n in range(1, 10)]
    assert bounds == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, MAX_DELAY, MAX_DELAY, MAX_DELAY]
    assert backoff_delay(10_000, rng=lambda: 1.0) == MAX_DELAY
    assert FIRST_DELAY == 0.1


def test_a_hundred_clients_spread_their_attempts_over_the_whole_bound() -> None:
    """Full jitter: after many failures, 100 clients' next attempts are spread over
    0..5 s (no 100 ms window holds more than a handful), not bunched together."""
    rng = random.Random(7)
    delays = sorted(backoff_delay(12, rng=rng.random) for _ in range(100))
    assert 0 <= delays[0] and delays[-1] <= MAX_DELAY
    assert delays[-1] - delays[0] > 4.0
    busiest = max(sum(1 for d in delays if start <= d < start + 0.1) for start in delays)
    assert busiest <= 10


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_the_loop_retries_until_connected_asking_where_the_scheduler_is_each_time() -> None:
    """Failed attempts are retried; each attempt goes where the locator says now."""
    places = iter(["tcp://a:1", "tcp://a:1", "tcp://b:2"])
    tried: list[tuple[str | None, float]] = []

    async def connect(address: str | None, timeout: float) -> None:
        tried.append((address, timeout))
        if address != "tcp://b:2":
            raise ConnectionRefusedError("nothing there")

    loop = Reconnection(window=30, attempt_timeout=2, locate=lambda: next(places), rng=lambda: 0.0)
    assert run(loop.run(connect, lambda: True)) is True
    assert tried == [("tcp://a:1", 2), ("tcp://a:1", 2), ("tcp://b:2", 2)]


def test_the_loop_gives_up_when_the_window_passes_and_never_attempts_past_it() -> None:
    """A scheduler that never answers: False once reconnect_timeout has passed, and no
    attempt is given more time than is left of the window."""
    timeouts: list[float] = []

    async def connect(address: str | None, timeout: float) -> None:
        timeouts.append(timeout)
        await asyncio.sleep(min(timeout, 0.05))
        raise TimeoutError("no answer")

    loop = Reconnection(window=0.5, attempt_timeout=5, rng=lambda: 0.5)
    started = time.monotonic()
    assert run(loop.run(connect, lambda: True)) is False
    assert 0.5 <= time.monotonic() - started < 2.0
    assert timeouts and all(t <= 0.5 for t in timeouts)
    assert loop.gave_up


def test_the_loop_stops_without_giving_up_when_someone_else_ends_the_reconnect() -> None:
    """The client closed meanwhile (no longer connecting): the loop ends, and does not
    ask its caller to close the client again."""
    attempts: list[object] = []

    async def connect(address: str | None, timeout: float) -> None:
        attempts.append(address)
        raise OSError("refused")

    loop = Reconnection(window=30, attempt_timeout=1)
    assert run(loop.run(connect, lambda: not attempts))
    assert len(attempts) == 1
    assert not loop.gave_up


def test_a_scheduler_that_refuses_our_versions_ends_the_loop_as_given_up() -> None:
    """ImportError (distributed's answer to mismatched versions) is not retried."""

    async def connect(address: str | None, timeout: float) -> None:
        raise ImportError("version mismatch")

    loop = Reconnection(window=30, attempt_timeout=1)
    with pytest.raises(ImportError):
        run(loop.run(connect, lambda: True))
    assert loop.gave_up


def test_a_locator_that_fails_leaves_the_address_as_it_was() -> None:
    """A lookup that raises counts as "no new address": the attempt goes to the last one."""
    tried: list[str | None] = []

    def broken() -> str:
        raise KeyError("registry down")

    async def connect(address: str | None, timeout: float) -> None:
        tried.append(address)

    assert run(Reconnection(window=5, attempt_timeout=1, locate=broken).run(connect, lambda: True))
    assert tried == [None]


def test_the_scheduler_file_is_read_on_every_lookup(tmp_path: pathlib.Path) -> None:
    """scheduler_file=: the address in the file now; None while it is missing or partial."""
    path = tmp_path / "scheduler.json"
    locate = locator_for(None, str(path))
    assert locate is not None
    assert locate() is None
    path.write_text('{"addr')
    assert locate() is None
    path.write_text(json.dumps({"address": "tcp://10.0.0.5:8786"}))
    assert locate() == "tcp://10.0.0.5:8786"
    path.write_text(json.dumps({"address": "tls://10.0.0.6:8786"}))
    assert locate() == "tls://10.0.0.6:8786"


def test_a_fixed_address_has_no_locator_and_a_callable_is_checked() -> None:
    """A string address is not looked up again; a callable's answer must be an address."""
    assert locator_for("tcp://h:1", None) is None
    locate = locator_for(lambda: 42, None)
    assert locate is not None
    with pytest.raises(TypeError, match="returned 42; it must return the scheduler's address"):
        locate()


@pytest.mark.parametrize(
    ("workers", "alive", "kept", "gone"),
    [
        (None, set(), None, []),
        (["tcp://a:1"], {"tcp://a:1"}, ["tcp://a:1"], []),
        (["tcp://a:1"], {"tcp://b:2"}, None, ["tcp://a:1"]),
        ("tcp://a:1", set(), None, ["tcp://a:1"]),
        (["tcp://a:1", "tcp://b:2"], {"tcp://b:2"}, ["tcp://b:2"], ["tcp://a:1"]),
        (("tls://a:1", "worker-3"), set(), ("worker-3",), ["tls://a:1"]),
        (["worker-3", "10.0.0.5"], set(), ["worker-3", "10.0.0.5"], []),
        ({"tcp://a:1", "gpu-node"}, set(), {"gpu-node"}, ["tcp://a:1"]),
    ],
    ids=repr,
)
def test_only_addresses_that_are_gone_are_dropped_from_a_restriction(
    workers: object, alive: set[str], kept: object, gone: list[str]
) -> None:
    """Addresses no worker has are dropped; names and hosts stay; nothing left is None."""
    assert relax(workers, alive) == (kept, gone)


def test_a_restriction_is_looked_at_only_when_it_names_an_address() -> None:
    assert restricted_to_addresses(None, ["worker-1"], "host") is False
    assert restricted_to_addresses(None, {"tcp://a:1"}) is True
    assert restricted_to_addresses("tls://a:1") is True


def test_an_awaited_wait_for_raises_client_closed_when_the_client_closes() -> None:
    """Inside the client's loop, ``await connection.wait_for(CONNECTED)`` ends with
    ClientClosed the moment CLOSED is published, naming why; waiting for CLOSED itself
    returns the transition."""
    from resilient_dask._state_machine import ConnectionState, ConnectionStateMachine
    from resilient_dask.connection import Connection
    from resilient_dask.errors import ClientClosed

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        machine = ConnectionStateMachine(probe_timeout=1.0, unresponsive_timeout=5.0)
        connection = Connection(machine, address=lambda: "tcp://h:1", loop=lambda: loop)
        connection.publish(machine.connection_lost("comm closed"))
        connected = asyncio.ensure_future(connection.wait_for(ConnectionState.CONNECTED, 300))  # type: ignore[arg-type]
        closed = asyncio.ensure_future(connection.wait_for(ConnectionState.CLOSED, 300))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        connection.publish(machine.closed("gave up reconnecting after 3 s"))
        with pytest.raises(ClientClosed, match=r"gave up reconnecting after 3 s"):
            await asyncio.wait_for(connected, 1)
        reached = await asyncio.wait_for(closed, 1)
        assert reached is not None and reached.state is ConnectionState.CLOSED
        with pytest.raises(ClientClosed):
            await connection.wait_for(ConnectionState.CONNECTED, 300)  # type: ignore[misc]

    asyncio.run(scenario())
