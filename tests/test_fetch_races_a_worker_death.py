"""A result asked for just as its only worker dies comes back once it is recomputed.

The scheduler's ``gather`` first picks the workers holding each key, then connects
to them. When the only holder dies in between and the scheduler removes it first,
upstream keeps trying to connect to the dead address for the whole
``distributed.comm.timeouts.connect`` (30 s by default), and ``result()`` waits that
long although the key was recomputed elsewhere in a second. The demo hit this once in
CI, a stress loop of worker kills about once in 300 kills.

The window is one turn of the scheduler's event loop. The test widens it inside the
real scheduler process: a gather that picked the doomed worker waits until that
worker is removed before it connects, as it does when the race is lost. The worker
is then SIGKILLed for real, and the connect timeout is 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from distributed import Client

from resilient_dask import ResilientClient
from resilient_dask.demo.observe import WatchedCall
from resilient_dask.testing import SubprocessCluster, poll_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

CONNECT_TIMEOUT = 10


def inc(x: int) -> int:
    return x + 1


def widen_the_gather_window(dask_scheduler: Any, doomed: str) -> None:
    """Make the scheduler's gathers that picked ``doomed`` connect only once it is removed."""
    import distributed.scheduler as module

    original = module.gather_from_workers
    seen: dict[str, list[str]] = {"picked": [], "gave up": []}
    dask_scheduler.rd_test_gathers = seen

    async def connect_after_the_removal(who_has: Any, *args: Any, **kwargs: Any) -> Any:
        if not any(doomed in workers for workers in who_has.values()):
            return await original(who_has, *args, **kwargs)
        keys = sorted(map(str, who_has))
        seen["picked"] += keys
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while doomed in dask_scheduler.workers and loop.time() < deadline:
            await asyncio.sleep(0.02)
        try:
            return await original(who_has, *args, **kwargs)
        finally:
            seen["gave up"] += keys

    module.gather_from_workers = connect_after_the_removal


def has_work_stealing(dask_scheduler: Any) -> bool:
    return "stealing" in dask_scheduler.extensions


def gathers(dask_scheduler: Any) -> dict[str, list[str]]:
    return {name: list(keys) for name, keys in dask_scheduler.rd_test_gathers.items()}


def test_a_result_asked_as_its_only_worker_dies_does_not_wait_for_the_connect_timeout() -> None:
    """ResilientClient's result() returns the recomputed value while the scheduler's gather
    still retries the dead worker; a plain Client's result() is still waiting for that gather."""
    env = {
        "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": f"{CONNECT_TIMEOUT}s",
        # Both tasks go to the doomed worker's one thread, so one of them waits there,
        # and work stealing may move a task with loose restrictions to the idle worker
        # (CI once saw the plain Client's key computed on the other one).
        "DASK_DISTRIBUTED__SCHEDULER__WORK_STEALING": "False",
    }
    with (
        SubprocessCluster(n_workers=2, env=env) as cluster,
        ResilientClient(cluster.scheduler_address, set_as_default=False) as rc,
        Client(cluster.scheduler_address, set_as_default=False) as plain,
    ):
        assert not rc.run_on_scheduler(has_work_stealing)
        names = {info["name"]: a for a, info in rc.scheduler_info(n_workers=-1)["workers"].items()}
        doomed = names[cluster.workers[0].name]
        on_doomed = {"workers": [doomed], "allow_other_workers": True}
        mine = rc.submit(inc, 1, key="rc-on-doomed", **on_doomed)
        theirs = plain.submit(inc, 2, key="plain-on-doomed", **on_doomed)
        poll_for(lambda: mine.status == theirs.status == "finished", 30, message="both computed")
        assert rc.who_has([mine]) == {"rc-on-doomed": (doomed,)}
        assert plain.who_has([theirs]) == {"plain-on-doomed": (doomed,)}

        rc.run_on_scheduler(widen_the_gather_window, doomed=doomed)
        my_call = WatchedCall(lambda: mine.result(timeout=60), "resilient-result")
        their_call = WatchedCall(lambda: theirs.result(timeout=60), "plain-result")
        poll_for(
            lambda: len(rc.run_on_scheduler(gathers)["picked"]) == 2,
            20,
            message="both gathers picked the doomed worker",
        )
        cluster.kill_worker(0)

        got = my_call.observe(within=CONNECT_TIMEOUT * 3)
        assert (got.outcome, got.value) == ("value", 2), got.describe()
        at_that_moment = rc.run_on_scheduler(gathers)
        assert "rc-on-doomed" not in at_that_moment["gave up"], (
            "the ResilientClient waited until the scheduler's gather gave up"
        )
        assert their_call.observe(within=0).outcome == "waiting"

        later = their_call.observe(within=CONNECT_TIMEOUT * 4)
        assert (later.outcome, later.value) == ("value", 3), later.describe()
        assert "plain-on-doomed" in rc.run_on_scheduler(gathers)["gave up"]


@contextlib.contextmanager
def every_fetch_permit_held(rc: ResilientClient) -> Iterator[None]:
    """Hold every permit of distributed's gather semaphore (five fetches in flight)."""
    semaphore = rc._gather_semaphore
    permits = semaphore._value

    async def hold_every_permit() -> None:
        for _ in range(permits):
            await semaphore.acquire()

    async def release_every_permit() -> None:
        for _ in range(permits):
            semaphore.release()

    rc.sync(hold_every_permit)
    try:
        yield
    finally:
        rc.sync(release_every_permit)


def test_a_fetch_stopped_while_queued_behind_other_fetches_leaves_later_fetches_working(
    rc: ResilientClient,
) -> None:
    """A loss reported while the fetch still waits for distributed's gather semaphore (five
    fetches in flight) stops it before it took its keys; the next fetch starts afresh and
    returns the value once the semaphore is free."""
    future = rc.submit(inc, 1, key="queued-fetch")
    assert future.result(timeout=30) == 2
    with every_fetch_permit_held(rc):
        call = WatchedCall(lambda: future.result(timeout=30), "queued-result")
        poll_for(lambda: rc._gather_future is not None, 10, message="the fetch is queued")
        queued = rc._gather_future
        # The scheduler's "lost-data" message, as its stream handler receives it.
        rc.loop.add_callback(rc._handle_lost_data, key="queued-fetch")
        poll_for(
            lambda: rc._gather_future not in (None, queued),
            10,
            message="a new fetch replaced the stopped one",
        )
        assert queued is not None and queued.done()
        assert call.observe(within=0).outcome == "waiting", "nothing fetched while queued"
    got = call.observe(within=30)
    assert (got.outcome, got.value) == ("value", 2), got.describe()


def test_a_fetch_that_timed_out_while_queued_leaves_later_fetches_working(
    rc: ResilientClient,
) -> None:
    """result(timeout=) running out while the fetch waits for the gather semaphore stops
    that fetch; the next result() fetches afresh instead of joining the stopped fetch
    (every later result() then failed, with an UnboundLocalError from distributed's
    sync(), as the stopped fetch's CancelledError reached it)."""
    future = rc.submit(inc, 1, key="fetch-timed-out")
    assert future.result(timeout=30) == 2
    with every_fetch_permit_held(rc):
        with pytest.raises(TimeoutError):
            future.result(timeout=0.5)
        # The caller's thread raises at once; the event loop stops the fetch a moment later.
        poll_for(lambda: rc._gather_future is None, 10, message="the stopped fetch forgotten")
    assert future.result(timeout=30) == 2
