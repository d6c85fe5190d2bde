"""Lineage replay against real processes: futures and collections survive a scheduler loss."""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import dask
import dask.array as da
import dask.dataframe as dd
import distributed
import numpy as np
import pandas as pd
import pytest
from distributed import Future, wait

from resilient_dask import ConnectionState, LineageUnavailable, ResilientClient, ResubmissionFailed
from resilient_dask.testing import SubprocessCluster, TcpProxy, capture_events, poll_for

pytestmark = pytest.mark.timeout(180)

S = ConnectionState


def inc(x: int) -> int:
    return x + 1


def slow_inc(x: int) -> int:
    time.sleep(0.02)
    return x + 1


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    return pd.DataFrame({"k": rng.integers(0, 20, 2_000), "v": rng.integers(0, 1_000, 2_000)})


@pytest.fixture
def cluster2() -> Iterator[SubprocessCluster]:
    with SubprocessCluster(n_workers=2) as c:
        yield c


def outage(cluster: SubprocessCluster, rc: ResilientClient) -> None:
    """SIGKILL the scheduler (its workers close themselves), restart both, same port."""
    cluster.kill_scheduler()
    rc.connection.wait_for(S.RECONNECTING, timeout=30)
    cluster.restart_scheduler(respawn_workers=True)


@pytest.mark.smoke
def test_chain_map_array_and_shuffled_dataframe_survive_a_killed_scheduler(
    cluster2: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """Killed mid-computation and restarted: every value equals the fault-free one."""
    # The replay of a P2P shuffle keeps the scheduler busy on two cores: a heartbeat
    # timeout of 1 s (FAST) may then see a real but irrelevant UNRESPONSIVE blip.
    rc = make_client(cluster2.scheduler_address, resubmit=True, probe_timeout=5.0)
    chain = [rc.submit(slow_inc, 0)]
    for _ in range(49):
        chain.append(rc.submit(slow_inc, chain[-1]))
    mapped = rc.map(inc, list(range(1_000)))
    x = rc.persist(da.arange(10_000, chunks=500))
    with dask.config.set({"dataframe.shuffle.method": "p2p"}):
        df = rc.persist(dd.from_pandas(frame(), npartitions=8).shuffle("k"))
    # SIGKILL the scheduler and every worker while the chain is still running.
    cluster2.kill_scheduler()
    for index in range(len(cluster2.workers)):
        cluster2.kill_worker(index)
    rc.connection.wait_for(S.RECONNECTING, timeout=30)
    assert not chain[-1].done(), "the outage must hit the chain mid-computation"
    cluster2.restart_scheduler(respawn_workers=True)
    expected = frame().groupby("k").v.sum()
    assert chain[-1].result(timeout=120) == 50
    assert rc.gather(mapped) == [i + 1 for i in range(1_000)]
    assert x.sum().compute() == sum(range(10_000))
    pd.testing.assert_series_equal(
        df.groupby("k").v.sum().compute().sort_index(), expected, check_names=False
    )
    assert [t.state for t in rc.connection.history][-3:] == [
        S.RECONNECTING,
        S.RESUBMITTING,
        S.CONNECTED,
    ]


@pytest.mark.smoke
def test_result_waiting_through_the_outage_returns_the_value(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """A result() called during the outage returns once replay is done."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    future = rc.submit(inc, 41)
    assert future.result(timeout=30) == 42
    cluster.kill_scheduler()
    rc.connection.wait_for(S.RECONNECTING, timeout=30)
    with capture_events() as events:
        cluster.restart_scheduler(respawn_workers=True)
        assert future.result(timeout=60) == 42
    assert any(e["event"] == "lineage.resubmitted" and e["replayed"] >= 1 for e in events)


def test_cut_connection_with_live_scheduler_is_replayed(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """The scheduler drops the client's keys on disconnect; replay restores them."""
    with TcpProxy.to(cluster.scheduler_address) as proxy:
        rc = make_client(proxy.address, resubmit=True)
        futures = rc.map(inc, list(range(50)))
        wait(futures)
        x = rc.persist(da.ones(100, chunks=10))
        wait(x)
        proxy.cut()
        rc.connection.wait_for(S.RECONNECTING, timeout=30)
        rc.connection.wait_for(S.CONNECTED, timeout=60)
        assert rc.gather(futures) == list(range(1, 51))
        assert x.sum().compute() == 100


def test_three_outages_in_a_row(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """Each of three kill-and-restart cycles ends with the same correct values."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    chain = [rc.submit(inc, 0)]
    for _ in range(9):
        chain.append(rc.submit(inc, chain[-1]))
    for _ in range(3):
        assert chain[-1].result(timeout=60) == 10
        outage(cluster, rc)
        rc.connection.wait_for(S.CONNECTED, timeout=60)
    assert [f.result(timeout=60) for f in chain] == list(range(1, 11))
    assert sum(t.state is S.RESUBMITTING for t in rc.connection.history) == 3


def replayed(rc: ResilientClient) -> int:
    return [t.state for t in rc.connection.history].count(S.RESUBMITTING)


def test_an_outage_after_a_replay_was_sent_but_before_it_ran_is_replayed_again(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """The replay is sent to a scheduler with no worker yet (it queues the work); a second
    outage before any of it ran is replayed too."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    futures = rc.map(slow_inc, list(range(300)))
    wait(futures)
    cluster.kill_scheduler()
    rc.connection.wait_for(S.RECONNECTING, timeout=30)
    cluster.restart_scheduler()  # no workers yet: the replay is sent and queued
    poll_for(lambda: replayed(rc) == 1 and rc.connection.state is S.CONNECTED, 60)
    assert all(f.status == "pending" for f in futures)
    outage(cluster, rc)  # the second outage, before any of it ran
    assert rc.gather(futures) == [i + 1 for i in range(300)]
    assert rc.connection.state is S.CONNECTED
    assert [t.state for t in rc.connection.history].count(S.RESUBMITTING) == 2


def test_task_with_resubmit_false_raises_lineage_unavailable_while_siblings_recover(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """resubmit=False on a task: it and its dependents raise; everything else recovers."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    side_effect = rc.submit(inc, 100, resubmit=False)
    dependent = rc.submit(inc, side_effect)
    siblings = rc.map(inc, [1, 2, 3])
    wait([side_effect, dependent, *siblings])
    outage(cluster, rc)
    with pytest.raises(LineageUnavailable) as info:
        side_effect.result(timeout=60)
    assert str(side_effect.key) in str(info.value) and "resubmit=False" in str(info.value)
    with pytest.raises(LineageUnavailable) as dep_info:
        dependent.result(timeout=60)
    assert str(side_effect.key) in str(dep_info.value)
    assert rc.gather(siblings) == [2, 3, 4]


def test_scattered_data_is_replayed_only_when_kept(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """scatter_policy='keep' re-scatters; 'raise' names the scattered key."""
    kept = make_client(cluster.scheduler_address, resubmit=True, scatter_policy="keep")
    raised = make_client(cluster.scheduler_address, resubmit=True, set_as_default=False)
    data = kept.scatter([10, 20])
    total = kept.submit(sum, data)
    lost = raised.scatter(5)
    assert total.result(timeout=30) == 30 and lost.result(timeout=30) == 5
    outage(cluster, kept)
    assert total.result(timeout=60) == 30
    assert kept.gather(data) == [10, 20]
    with pytest.raises(LineageUnavailable, match="scatter"):
        lost.result(timeout=60)


def test_manual_resubmit_replays_on_demand_and_reports(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """resubmit='manual': futures fail typed; rc.resubmit() replays them and reports."""
    rc = make_client(cluster.scheduler_address, resubmit="manual")
    futures = rc.map(inc, [1, 2])
    opted_out = rc.submit(inc, 3, resubmit=False)
    wait([*futures, opted_out])
    outage(cluster, rc)
    rc.connection.wait_for(S.CONNECTED, timeout=60)
    report = rc.resubmit()
    assert sorted(report.replayed) == sorted(f.key for f in futures)
    assert report.skipped == {opted_out.key: "opted-out"}
    assert rc.gather(futures) == [2, 3]


def test_released_futures_leave_no_recipes() -> None:
    """After 100,000 submitted-and-released tiny tasks the store holds no recipes for them."""
    with SubprocessCluster(n_workers=0) as cluster:  # nothing runs: this is about the client
        rc = ResilientClient(cluster.scheduler_address, resubmit=True, set_as_default=False)
        try:
            held = rc.submit(inc, -1)
            chained = rc.submit(inc, held)
            store = rc._rd_lineage.store
            assert store is not None
            for start in range(0, 100_000, 10_000):
                batch = rc.map(inc, list(range(start, start + 10_000)))
                assert len(store.recipes) >= 10_000
                del batch
            poll_for(lambda: len(store.recipes) == 2, 60, message="released recipes dropped")
            assert set(store.recipes) == {held.key, chained.key}
            assert store.needed == {held.key: 1}
            del chained
            poll_for(lambda: list(store.recipes) == [held.key], 30, message="dependent dropped")
            assert not store.needed and not store.released and not store.unavailable
        finally:
            rc.close()


def test_no_worker_in_time_raises_resubmission_failed(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """Scheduler back, the replay sent, but no worker to run any of it within
    resubmit_timeout: ResubmissionFailed, saying so, and the client stays CONNECTED."""
    rc = make_client(cluster.scheduler_address, resubmit=True, resubmit_timeout=2)
    future = rc.submit(inc, 1)
    assert future.result(timeout=30) == 2
    cluster.kill_scheduler()
    rc.connection.wait_for(S.RECONNECTING, timeout=30)
    cluster.restart_scheduler()  # and no worker ever joins
    with pytest.raises(ResubmissionFailed) as info:
        future.result(timeout=60)
    text = str(info.value)
    assert "none of the replayed work ran within resubmit_timeout=2 s" in text
    assert "the scheduler has no worker" in text
    rc.connection.wait_for(S.CONNECTED, timeout=30)


def test_recipes_evicted_at_lineage_limit_raise_saying_so(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """Past lineage_limit the oldest recipes go; their futures say the limit was hit."""
    rc = make_client(cluster.scheduler_address, resubmit=True, lineage_limit=3)
    futures = rc.map(inc, [1, 2, 3, 4, 5])
    wait(futures)
    outage(cluster, rc)
    for evicted in futures[:2]:
        with pytest.raises(LineageUnavailable, match="lineage_limit"):
            evicted.result(timeout=60)
    assert rc.gather(futures[2:]) == [4, 5, 6]


def test_work_submitted_during_the_outage_runs_after_replay(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """Submits and computes made while reconnecting, on futures being replayed, get values."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    base = rc.map(inc, list(range(10)))
    x = rc.persist(da.arange(20, chunks=5))
    wait([*base, x])
    cluster.kill_scheduler()
    rc.connection.wait_for(S.RECONNECTING, timeout=30)
    later = rc.submit(sum, base)  # depends on futures that are being kept for replay
    total = rc.compute(x.sum())
    cluster.restart_scheduler(respawn_workers=True)
    assert later.result(timeout=60) == sum(range(1, 11))
    assert total.result(timeout=60) == sum(range(20))


def test_closing_while_futures_wait_for_replay_cancels_them(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """close() during an outage cancels the futures kept for replay instead of leaving them."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    future = rc.submit(inc, 1)
    assert future.result(timeout=30) == 2
    cluster.kill_scheduler()
    rc.connection.wait_for(S.RECONNECTING, timeout=30)
    rc.close()
    assert future.status == "cancelled"


def test_closing_while_the_replay_waits_for_a_worker_cancels_its_futures(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """close() after the replay was sent to a scheduler with no worker cancels its futures."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    future = rc.submit(inc, 1)
    assert future.result(timeout=30) == 2
    cluster.kill_scheduler()
    cluster.restart_scheduler()  # no worker: the replay is sent and waits in the queue
    poll_for(lambda: replayed(rc) == 1 and rc.connection.state is S.CONNECTED, 60)
    assert future.status == "pending"
    rc.close()
    assert future.status == "cancelled"


class _Gate:
    """An argument whose pickling, once armed, blocks until the test opens the gate."""

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.entered = threading.Event()
        self.open = threading.Event()

    def __reduce__(self) -> tuple[Any, ...]:
        if self.armed.is_set():
            self.entered.set()
            self.open.wait(30)
        return (int, (1,))


def _submit_in_thread(rc: ResilientClient, *args: Any) -> tuple[threading.Thread, Any, Any]:
    """Start ``rc.submit(*args)`` in another thread; return (thread, [future], sending).

    ``sending`` is set when that submit enters upstream ``Client._graph_to_futures``:
    every decision resilient_dask makes about recording the call lies before that
    point, and from there on the call waits for a graph the replay is sending.
    """
    submitted: list[Future] = []
    sending = threading.Event()
    upstream = distributed.Client._graph_to_futures.__code__

    def watch(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is upstream:
            sending.set()

    def submit() -> None:
        sys.setprofile(watch)
        try:
            submitted.append(rc.submit(*args))
        finally:
            sys.setprofile(None)

    thread = threading.Thread(target=submit)
    thread.start()
    return thread, submitted, sending


def test_submit_from_another_thread_while_replay_runs_is_recorded(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """A submit made by another thread while a replay is sending survives the next outage.

    Found by the chaos soak: the client marked itself "replaying" for every thread,
    so a user's submit in that window was not recorded and raised
    LineageUnavailable ("no recipe") after the following outage.
    """
    with TcpProxy.to(cluster.scheduler_address) as proxy:
        rc = make_client(proxy.address, resubmit=True, scatter_policy="keep")
        gate = _Gate()
        gated = rc.scatter(gate)
        assert gated.result(timeout=30) == 1
        gate.armed.set()
        proxy.cut()  # the replay scatters `gate` again and blocks while pickling it
        assert gate.entered.wait(30), "the replay never re-scattered the kept data"
        helper, submitted, sending = _submit_in_thread(rc, inc, 10)
        assert sending.wait(30), "the other thread's submit never got to sending its graph"
        gate.open.set()
        helper.join(30)
        (during,) = submitted
        rc.connection.wait_for(S.CONNECTED, timeout=60)
        assert during.result(timeout=60) == 11
        proxy.cut()
        rc.connection.wait_for(S.RECONNECTING, timeout=30)
        rc.connection.wait_for(S.CONNECTED, timeout=60)
        assert during.result(timeout=60) == 11
        assert gated.result(timeout=60) == 1


def test_kept_scattered_data_is_back_after_each_of_ten_cuts(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """After every one of ten cuts, kept scattered data is re-scattered and its futures finish.

    Found by the chaos soak: when the scheduler's report for a re-scattered key came
    before the replay put the user's future state back, that future stayed pending forever.
    """
    with TcpProxy.to(cluster.scheduler_address) as proxy:
        rc = make_client(proxy.address, resubmit=True, scatter_policy="keep")
        data = rc.scatter([10, 20, 30])
        assert rc.gather(data) == [10, 20, 30]

        def replays() -> int:
            return [t.state for t in rc.connection.history].count(S.RESUBMITTING)

        for cut in range(10):
            before = replays()
            proxy.cut()
            poll_for(
                lambda before=before: replays() > before and rc.connection.state is S.CONNECTED,
                30,
                message=f"replay after cut {cut + 1}",
            )
            assert [f.result(timeout=30) for f in data] == [10, 20, 30], f"after cut {cut + 1}"


def test_recipes_are_recorded_before_their_graph_is_sent(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """submit, map, compute and persist record their recipes before the graph goes out.

    Found by the chaos soak: the scheduler can refuse a graph at once (its inputs are
    still being replayed), and the client's event loop decides from the recipes
    whether to replay it; recorded after the send, the recipe was sometimes not
    there yet, and the future failed with SchedulerConnectionLost.
    """
    rc = make_client(cluster.scheduler_address, resubmit=True)
    store = rc._rd_lineage.store
    assert store is not None
    missing: list[object] = []
    upstream = distributed.Client._graph_to_futures

    def sending(self: Any, expr: Any, keys: Any, *args: Any, **kwargs: Any) -> Any:
        missing.extend(key for key in keys if key not in store)
        return upstream(self, expr, keys, *args, **kwargs)

    distributed.Client._graph_to_futures = sending  # type: ignore[method-assign]
    try:
        first = rc.submit(inc, 1)
        mapped = rc.map(inc, [1, 2, 3], pure=False)
        total = rc.compute(da.arange(10, chunks=5).sum())
        persisted = rc.persist(da.arange(6, chunks=3))
        assert rc.gather([first, *mapped, total]) == [2, 2, 3, 4, 45]
        assert persisted.sum().compute() == 15
    finally:
        distributed.Client._graph_to_futures = upstream  # type: ignore[method-assign]
    assert missing == []


def test_a_submit_that_cannot_be_sent_leaves_no_recipe(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """A submit whose argument does not pickle raises, and records nothing for replay."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    store = rc._rd_lineage.store
    assert store is not None
    before = len(store)
    with pytest.raises(TypeError, match=r"cannot be pickled .*\. Nothing was submitted"):
        rc.submit(inc, threading.Lock())
    assert len(store) == before


def replay_diagnosis(rc: ResilientClient) -> str:
    """Where the replay task stands: for a failure message."""
    lineage = rc._rd_lineage
    task = lineage._replay_task
    lines = [f"client status {rc.status}; {len(lineage.parked)} parked; replay task {task!r}"]
    if task is not None and task.done() and not task.cancelled() and task.exception():
        error = task.exception()
        lines.append("".join(traceback.format_exception(error)))
    elif task is not None and not task.done():
        lines.extend(str(frame) for frame in task.get_stack())
    return "\n".join(lines)


def test_futures_submitted_by_a_thread_while_the_connection_drops_all_get_values(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """A thread submitting through three connection cuts: every future gets its value.

    Found by the chaos soak: a future created by another thread just as the client
    began to reconnect was cancelled by upstream with SchedulerConnectionLost
    instead of being kept for replay.
    """
    with TcpProxy.to(cluster.scheduler_address) as proxy:
        rc = make_client(proxy.address, resubmit=True)
        futures: list[Future] = []
        stop = threading.Event()

        def submit_until_stopped() -> None:
            while not stop.is_set() and len(futures) < 20_000:
                futures.append(rc.submit(inc, len(futures), pure=False))
                stop.wait(0.0005)  # paced, so that the cuts land among the submits

        submitter = threading.Thread(target=submit_until_stopped, daemon=True)
        submitter.start()
        try:
            for cut in range(3):
                seen = [t.state for t in rc.connection.history].count(S.RECONNECTING)
                wanted = 200 * (cut + 1)
                poll_for(lambda n=wanted: len(futures) > n, 30, message="submits flowing")
                proxy.cut()
                try:
                    poll_for(
                        lambda seen=seen: [t.state for t in rc.connection.history].count(
                            S.RECONNECTING
                        ) > seen
                        and rc.connection.state is S.CONNECTED,
                        60,
                        message=f"reconnected after cut {cut + 1}",
                    )
                except TimeoutError as exc:  # say where the client stood (CI saw this once)
                    story = "\n".join(map(str, rc.connection.history[-12:]))
                    raise TimeoutError(
                        f"{exc}; the last transitions:\n{story}\n{replay_diagnosis(rc)}"
                    ) from None
        finally:
            stop.set()
            submitter.join(30)
        assert rc.gather(futures) == [i + 1 for i in range(len(futures))]


def test_maps_with_repeated_inputs_or_batches_replay_each_key_with_its_own_inputs(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """A pure map with repeated inputs (shared keys) and a batched map come back right."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    repeated = rc.map(inc, [1, 1, 2, 5, 2])
    batched = rc.map(inc, list(range(10)), batch_size=3)
    assert rc.gather([*repeated, *batched]) == [2, 2, 3, 6, 3, *range(1, 11)]
    outage(cluster, rc)
    assert rc.gather(repeated) == [2, 2, 3, 6, 3]
    assert rc.gather(batched) == list(range(1, 11))


def test_a_map_opted_out_of_replay_stays_out_in_batches_and_over_any_collection(
    cluster: SubprocessCluster, make_client: Callable[..., ResilientClient]
) -> None:
    """map(..., resubmit=False) with batch_size, or over a range, raises LineageUnavailable
    after an outage (its batches used to be recorded as replayable); a map over a range
    without it is replayed."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    batched = rc.map(inc, list(range(7)), batch_size=3, resubmit=False)
    ranged = rc.map(inc, range(10, 14), resubmit=False)
    replayed = rc.map(inc, range(20, 24))
    assert rc.gather([*batched, *ranged, *replayed]) == [*range(1, 8), *range(11, 15),
                                                         *range(21, 25)]  # fmt: skip
    outage(cluster, rc)
    for future in [*batched, *ranged]:
        with pytest.raises(LineageUnavailable, match="resubmit=False"):
            future.result(timeout=60)
    assert rc.gather(replayed) == list(range(21, 25))


def test_a_replay_that_fails_fails_its_futures_typed_instead_of_leaving_them_waiting(
    cluster: SubprocessCluster,
    make_client: Callable[..., ResilientClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should the replay itself raise (a bug, like the race the repeated reconnect test
    found), its futures fail with ResubmissionFailed naming the error and the client
    leaves RESUBMITTING, rather than waiting for good."""
    rc = make_client(cluster.scheduler_address, resubmit=True)
    future = rc.submit(inc, 1)
    assert future.result(timeout=30) == 2
    store = rc._rd_lineage.store
    assert store is not None

    def broken() -> dict[Any, int]:
        raise RuntimeError("the order could not be read")

    monkeypatch.setattr(store, "positions", broken)
    outage(cluster, rc)
    with pytest.raises(ResubmissionFailed) as info:
        future.result(timeout=60)
    assert "the replay failed: RuntimeError('the order could not be read')" in str(info.value)
    poll_for(lambda: rc.connection.state is S.CONNECTED, 30, message="left RESUBMITTING")
