"""Reconnecting after the connection drops: a window of its own, jittered backoff, a
scheduler that may have moved.

distributed's ``Client`` retries for its connect timeout (``Client(timeout=)``, 30 s
by default) and then closes, always towards the address it started with; inside
each attempt, ``distributed.comm.connect`` backs off exponentially without a cap,
so after a long outage the client may sleep for a long while after the scheduler
is back. :class:`Reconnection` replaces that loop:

* it keeps trying for ``reconnect_timeout`` (``resilient-dask.reconnect-timeout``),
  whatever the connect timeout;
* each attempt gets at most ``probe_timeout`` (a scheduler that cannot take a
  connection within it would be UNRESPONSIVE anyway);
* between failed attempts it sleeps a random time up to a bound that doubles from
  0.1 s to 5 s ("full jitter"), so that many clients of one restarted scheduler do
  not all reconnect in the same instant;
* before every attempt it asks where the scheduler is now (a :data:`Locator`:
  ``scheduler_file=``, a callable address, a cluster object), and connects there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pathlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

from resilient_dask._events import emit

__all__ = ["Connect", "Locator", "Reconnection", "backoff_delay", "first_address", "locator_for"]

logger = logging.getLogger(__name__)

#: Where the scheduler is now, or None when that cannot be told right now (the last
#: address known is tried again). Called before every reconnect attempt, in a thread.
Locator = Callable[[], "str | None"]
#: One attempt: connect to this address (None: the current one) within this many seconds.
Connect = Callable[["str | None", float], Awaitable[None]]

#: The first bound of the random sleep after a failed attempt, and its cap (seconds).
FIRST_DELAY = 0.1
MAX_DELAY = 5.0


def backoff_delay(failures: int, rng: Callable[[], float] = random.random) -> float:
    """The sleep after the ``failures``-th failed attempt in a row: uniform in
    ``[0, min(MAX_DELAY, FIRST_DELAY * 2 ** (failures - 1))]``."""
    bound = min(MAX_DELAY, FIRST_DELAY * 2.0 ** min(max(failures - 1, 0), 32))
    return rng() * bound


class Reconnection:
    """The reconnect loop of one client (runs in the client's event loop)."""

    def __init__(
        self,
        *,
        window: float,
        attempt_timeout: float,
        locate: Locator | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.window = window
        self.attempt_timeout = attempt_timeout
        self._locate = locate
        self._rng = rng
        #: Whether the last run gave up: its window passed, or the scheduler refused
        #: the client's versions (not: the client was closed while it ran).
        self.gave_up = False

    async def run(self, connect: Connect, connecting: Callable[[], bool]) -> bool:
        """Try ``connect`` until it succeeds, ``connecting()`` turns false (someone
        else ended the reconnect, closing the client for instance) or the window
        passes. Returns False only in the last case: the caller then gives up.
        ``gave_up`` tells afterwards which way it ended."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window
        failures = 0
        self.gave_up = False
        while connecting():
            remaining = deadline - loop.time()
            if remaining <= 0:
                self.gave_up = True
                return False
            address = await self._where()
            try:
                await connect(address, min(remaining, self.attempt_timeout))
                return True
            except ImportError:  # the scheduler refused our versions: no use retrying
                self.gave_up = True
                raise
            except OSError as exc:  # CommClosedError and TimeoutError are OSErrors
                failures += 1
                logger.debug("reconnect attempt %d to %s failed: %r", failures, address, exc)
            remaining = deadline - loop.time()
            await asyncio.sleep(max(0.0, min(remaining, backoff_delay(failures, self._rng))))
        return True

    async def _where(self) -> str | None:
        locate = self._locate
        if locate is None:
            return None
        try:
            return await asyncio.to_thread(locate)
        except Exception as exc:  # a lookup that fails now may work on the next attempt
            emit("scheduler.locate_failed", error=repr(exc))
            return None


def locator_for(address: Any, scheduler_file: Any) -> Locator | None:
    """How to find the scheduler again: by the callable given as the address, from the
    scheduler file, from the cluster object; None for a fixed address."""
    if scheduler_file is not None:
        path = pathlib.Path(scheduler_file)
        return lambda: _read_scheduler_file(path)
    if _is_cluster(address):
        return lambda: str(address.scheduler_address)
    if callable(address):
        return lambda: checked_address(address(), address)
    return None


def first_address(address: Any) -> Any:
    """What ``distributed.Client`` is given: the address a callable returns now, or
    ``address`` itself (a string, a cluster object, None)."""
    if callable(address) and not _is_cluster(address):
        return checked_address(address(), address)
    return address


def _is_cluster(address: Any) -> bool:
    """A Cluster (LocalCluster, SpecCluster, ...), which distributed.Client accepts too."""
    return hasattr(address, "scheduler_address")


def checked_address(value: Any, source: Any) -> str:
    """``value`` if it is an address string, else a TypeError naming ``source``."""
    if not isinstance(value, str) or not value:
        raise TypeError(
            f"the address callable {source!r} returned {value!r}; it must return the "
            "scheduler's address as a string, such as 'tcp://10.0.0.5:8786'"
        )
    return value


def _read_scheduler_file(path: pathlib.Path) -> str | None:
    """The address in a scheduler file, or None while it is missing or half written."""
    try:
        address = json.loads(path.read_text())["address"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return address if isinstance(address, str) and address else None
