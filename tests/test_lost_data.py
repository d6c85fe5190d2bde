"""LostData: which fetches a "lost-data" message wakes (pure asyncio, no cluster)."""

from __future__ import annotations

import asyncio

from resilient_dask._lost_data import LostData


def test_a_loss_wakes_only_the_fetches_that_wait_for_that_key() -> None:
    """lost(key) resolves the watches holding key, records every lost key, and ignores the rest."""

    async def scenario() -> None:
        lost = LostData()
        a, b = lost.watch({"x", "y"}), lost.watch({"z"})
        lost.lost("y")
        lost.lost("x")
        lost.lost("unknown")
        assert a.happened.done() and a.lost == {"x", "y"}
        assert not b.happened.done() and b.lost == set()

    asyncio.run(scenario())


def test_keys_joining_a_fetch_are_watched_and_an_unwatched_fetch_is_not_woken() -> None:
    """Keys added to the watched set later count (distributed merges joining gathers into it);
    after unwatch() a loss changes nothing."""

    async def scenario() -> None:
        lost = LostData()
        keys = {"x"}
        joined, gone = lost.watch(keys), lost.watch({"w"})
        keys |= {"late"}
        lost.unwatch(gone)
        lost.lost("late")
        lost.lost("w")
        assert joined.happened.done() and joined.lost == {"late"}
        assert not gone.happened.done() and gone.lost == set()

    asyncio.run(scenario())
