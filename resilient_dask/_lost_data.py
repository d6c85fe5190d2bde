"""Watches for the scheduler's "lost-data" messages, for fetches in flight.

When the last worker holding a key dies, the scheduler recomputes the key and
tells the clients that want it ("lost-data"). A fetch of that key already in
flight can then take the whole connect timeout (30 s by default) to fail: the
scheduler's ``gather`` may have picked the dead worker just before removing it,
and then retries connecting to it. ResilientClient's fetch watches its keys
here, and on a loss stops waiting and lets distributed fetch the key again once
it is recomputed (see ``ClientHooks._gather_remote`` in ``_compat/client_hooks.py``).

Everything runs in the client's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any


class LostWatch:
    """One fetch's keys; :attr:`happened` resolves at the first loss among them.

    ``keys`` is kept, not copied: distributed adds the keys of gathers that join a
    fetch to the same set until the fetch takes it.
    """

    def __init__(self, keys: Collection[Any], loop: asyncio.AbstractEventLoop) -> None:
        self.keys = keys
        self.lost: set[Any] = set()
        self.happened: asyncio.Future[None] = loop.create_future()


class LostData:
    """The watches of the fetches in flight."""

    def __init__(self) -> None:
        self._watches: set[LostWatch] = set()

    def watch(self, keys: Collection[Any]) -> LostWatch:
        watch = LostWatch(keys, asyncio.get_running_loop())
        self._watches.add(watch)
        return watch

    def unwatch(self, watch: LostWatch) -> None:
        self._watches.discard(watch)

    def lost(self, key: Any) -> None:
        """The scheduler said ``key``'s data is lost: wake the fetches that wait for it."""
        for watch in self._watches:
            if key in watch.keys:
                watch.lost.add(key)
                if not watch.happened.done():
                    watch.happened.set_result(None)
