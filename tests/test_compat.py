"""Each upstream behaviour the resilient_dask._compat package relies on, checked against the
installed distributed. A failure here means distributed changed: update _compat, not this test."""

from __future__ import annotations

import inspect
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import cloudpickle
import dask.array as da
import pytest
from distributed import Client, Future, LocalCluster, as_completed
from distributed.client import FutureState
from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.scheduler import Scheduler

from resilient_dask import ResilientClient, ResilientFuture, SchedulerConnectionLost, _compat
from resilient_dask._compat import on_scheduler
from resilient_dask._compat.port import ClientPort
from resilient_dask.errors import ErrorContext
from resilient_dask.testing import poll_for

pytestmark = [pytest.mark.compat, pytest.mark.timeout(60)]


def inc(x: int) -> int:
    return x + 1


@pytest.fixture(scope="module")
def local() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
    ) as c:
        yield c


@pytest.fixture
def client(local: LocalCluster) -> Iterator[Client]:
    with Client(local, set_as_default=False) as c:
        yield c


@pytest.fixture
def rc(local: LocalCluster) -> Iterator[ResilientClient]:
    with ResilientClient(local, set_as_default=False) as c:
        yield c


def test_future_state_is_shared_per_key(client: Client) -> None:
    """Future._state is one FutureState per key and client (future_state relies on it)."""
    a = client.submit(inc, 1)
    b = client.submit(inc, 1)
    assert isinstance(_compat.future_state(a), FutureState)
    assert _compat.future_state(a) is _compat.future_state(b)
    assert _compat.client_states(client)[a.key] is _compat.future_state(a)


def test_cancel_state_makes_result_raise_our_exception(client: Client) -> None:
    """A FutureState cancelled by cancel_state makes result() raise exactly that object."""
    future = client.submit(inc, 2)
    assert future.result(timeout=10) == 3
    err = SchedulerConnectionLost(ErrorContext(keys=(str(future.key),)))
    _compat.cancel_state(_compat.future_state(future), err)
    assert future.status == "cancelled" and future.done()
    with pytest.raises(SchedulerConnectionLost) as info:
        future.result(timeout=5)
    assert info.value is err


def test_reconnect_is_what_a_closed_report_stream_awaits_and_its_steps_are_ours() -> None:
    """Client._handle_report awaits self._reconnect() when the stream closes. Upstream's
    _reconnect sets status "connecting" and scheduler_comm None, cancels and clears
    self.futures and retries _ensure_connected before _close(): ClientHooks._reconnect
    takes those steps itself (and runs its own retry loop)."""
    assert "await self._reconnect()" in inspect.getsource(Client._handle_report)
    source = inspect.getsource(Client._reconnect)
    assert 'self.status = "connecting"' in source and "self.scheduler_comm = None" in source
    assert "self.futures.values()" in source and "scheduler-connection-lost" in source
    assert "self.futures.clear()" in source
    assert "await self._ensure_connected(timeout=" in source and "self._close()" in source


def test_ensure_connected_connects_to_the_schedulers_rpc_address() -> None:
    """Client._ensure_connected connects to self.scheduler.address, skips while another
    connection is being made, and sets status "running"; Client._start makes
    self.scheduler = self.rpc(address). ClientHooks._rd_connect swaps that rpc when the
    scheduler moved."""
    source = inspect.getsource(Client._ensure_connected)
    assert "self.scheduler.address" in source.split("await connect(", 1)[1].split(")", 1)[0]
    assert "self._connecting_to_scheduler" in source
    assert 'self.status = "running"' in source
    assert "self.scheduler = self.rpc(address)" in inspect.getsource(Client._start)


def test_the_scheduler_logs_a_clients_sessions_under_its_id(local: LocalCluster) -> None:
    """Scheduler.add_client/remove_client log {"action": "add-client"/"remove-client"}
    under the client's id, and the "events" handler returns them oldest first: what
    ClientHooks._rd_old_session_gone reads to wait for a lingering session."""
    plain = Client(local, set_as_default=False)
    client_id = plain.id
    plain.close()
    with Client(local, set_as_default=False) as observer:

        async def events() -> Any:
            return await observer.scheduler.events(topic=client_id)

        actions = [
            msg["action"]
            for _, msg in observer.sync(events)
            if msg.get("action") in ("add-client", "remove-client")
        ]
    # A closing client is removed twice (its "close-client" message, then the end of
    # its stream): the last event is what tells whether a session is still registered.
    assert actions[0] == "add-client" and actions.count("add-client") == 1
    assert actions[-1] == "remove-client"


def test_handle_restart_cancels_and_clears_the_states() -> None:
    """Client._handle_restart cancels every state with scheduler-restart and clears them."""
    source = inspect.getsource(Client._handle_restart)
    assert "scheduler-restart" in source and "self.futures.clear()" in source


def test_stream_handlers_route_to_the_hooked_methods(client: Client) -> None:
    """The scheduler's stream messages reach the methods ClientHooks overrides."""
    handlers = client._stream_handlers
    assert handlers["cancelled-keys"] == client._handle_cancelled_keys
    assert handlers["restart"] == client._handle_restart
    assert handlers["lost-data"] == client._handle_lost_data


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("_reconnect", []),
        ("_handle_restart", []),
        ("_handle_cancelled_keys", ["keys", "reason", "msg"]),
        ("_graph_to_futures", ["expr", "keys"]),
        ("_scatter", []),
        ("_close", ["fast"]),
        ("_get_scheduler_info", ["n_workers"]),
        ("_handle_lost_data", ["key"]),
        ("_gather_remote", ["direct", "local_worker"]),
        ("_send_to_scheduler", ["msg"]),
    ],
)
def test_hooked_methods_keep_their_signatures(method: str, params: list[str]) -> None:
    """The private Client methods ClientHooks overrides exist with the parameters it passes."""
    signature = inspect.signature(getattr(Client, method))
    assert list(signature.parameters)[1 : 1 + len(params)] == params


def test_gather_remote_takes_the_shared_keys_once_it_holds_the_semaphore() -> None:
    """Client._gather_remote reads self._gather_keys inside _gather_semaphore and clears it
    and _gather_future; Client._gather makes one fetch task that later gathers join by adding
    their keys to the same set (what _gather_remote's hook watches and clears)."""
    remote = inspect.getsource(Client._gather_remote)
    semaphore = remote.index("async with self._gather_semaphore")
    assert semaphore < remote.index("keys = list(self._gather_keys)")
    assert "self._gather_keys = None" in remote and "self._gather_future = None" in remote
    gather = inspect.getsource(Client._gather)
    assert "self._gather_keys |= set(keys)" in gather
    assert "response = await self._gather_future" in gather  # joins any fetch left set
    assert "asyncio.ensure_future(\n                    self._gather_remote(" in gather
    assert "self._gather_future = future" in gather


def test_gather_fetches_keys_again_after_an_error_response() -> None:
    """Client._gather answers {"status": "error", "keys": ...} by asking the scheduler to
    report each key again and resetting its state, then waiting and fetching again (what the
    hooked _gather_remote answers for a key lost mid-fetch)."""
    source = inspect.getsource(Client._gather)
    error = source.index('if response["status"] == "error":')
    report = source.index('self._send_to_scheduler({"op": "report-key", "key": key})', error)
    assert report < source.index(".reset()", error)
    assert source.index("while True:") < error


def test_messages_sent_while_connecting_go_first_on_the_next_stream() -> None:
    """Client._send_to_scheduler hands every message to _send_to_scheduler_safe, which
    buffers it in _pending_msg_buffer while "connecting"; _ensure_connected sends that
    buffer on the new stream before anything else (why a "report-key" asked during an
    outage is answered before the replay's graph arrives, and the hook drops it)."""
    send = inspect.getsource(Client._send_to_scheduler)
    assert "self._send_to_scheduler_safe, msg" in send
    safe = inspect.getsource(Client._send_to_scheduler_safe)
    assert '"connecting"' in safe and "self._pending_msg_buffer.append(msg)" in safe
    connect = inspect.getsource(Client._ensure_connected)
    assert "for msg in self._pending_msg_buffer:" in connect


def test_the_widget_reads_scheduler_info_through_the_hooked_method(client: Client) -> None:
    """Client._repr_html_ gets its data from _get_scheduler_info; the cached identity exists."""
    assert "self._get_scheduler_info(" in inspect.getsource(Client._repr_html_)
    assert client._scheduler_identity.get("address") == client.scheduler.address


def test_futures_are_plain_future_objects_that_can_switch_class(client: Client) -> None:
    """Client makes plain Future objects; a subclass adds no slots, so adopt() can switch them."""
    future = client.submit(inc, 3)
    assert type(future) is Future
    assert not hasattr(Future, "__slots__") or "__dict__" in dir(future)
    _compat.adopt(future, ResilientFuture)
    assert type(future) is ResilientFuture and future.result(timeout=10) == 4


def test_every_way_of_making_futures_gives_resilient_futures(rc: ResilientClient) -> None:
    """submit (also of a held key), map, compute, persist and scatter return ResilientFutures."""
    made = [
        rc.submit(inc, 1),
        rc.submit(inc, 1),
        *rc.map(inc, [5, 6]),
        rc.compute(da.ones(4, chunks=2).sum()),
        *_compat.iter_futures(rc.scatter([1, 2])),
        rc.scatter(10),
    ]
    persisted = rc.persist(da.ones(4, chunks=2))
    made.extend(f for f in persisted.__dask_graph__().values() if isinstance(f, Future))
    assert made and all(type(f) is ResilientFuture for f in made)


def test_graph_dependencies_of_submit_and_persisted_collections(client: Client) -> None:
    """Graph nodes name the keys they read; persisted collections carry Future nodes."""
    first = client.submit(inc, 1)
    seen: list[set[object]] = []
    original = Client._graph_to_futures

    def spy(self: Client, expr: object, keys: object, *args: object, **kwargs: object) -> object:
        seen.append(_compat.graph_dependencies(expr))
        return original(self, expr, keys, *args, **kwargs)

    Client._graph_to_futures = spy  # type: ignore[method-assign]
    try:
        client.submit(inc, first).result(timeout=10)
        persisted = client.persist(da.ones(4, chunks=2))
        assert client.compute(persisted.sum()).result(timeout=10) == 4
    finally:
        Client._graph_to_futures = original  # type: ignore[method-assign]
    assert seen[0] == {first.key}
    assert {f.key for f in persisted.__dask_graph__().values() if isinstance(f, Future)} <= seen[-1]


def test_as_completed_yields_cancelled_futures_exceptions() -> None:
    """Upstream as_completed(with_results=True) yields a cancelled future's exception as
    its result (which for ours is the typed cancellation) and raises only errors."""
    assert "_result(raiseit=False)" in inspect.getsource(as_completed._track_future)
    assert 'future.status == "error"' in inspect.getsource(as_completed._get_and_raise)


def test_tested_version_is_installed() -> None:
    """CI runs against a distributed version this module was checked with."""
    assert _compat.distributed_version() in _compat.TESTED_DISTRIBUTED


def _fails(*args: object) -> None:
    raise ValueError("upstream check")


def test_task_erred_reports_go_through_handle_task_erred(client: Client) -> None:
    """The "task-erred" stream handler is Client._handle_task_erred(key, exception, traceback)."""
    handler = client._stream_handlers["task-erred"]
    assert handler.__func__ is Client._handle_task_erred
    assert list(inspect.signature(Client._handle_task_erred).parameters) == [
        "self",
        "key",
        "exception",
        "traceback",
    ]
    future = client.submit(_fails)
    with pytest.raises(ValueError, match="upstream check"):
        future.result(timeout=10)


def test_releasing_an_erred_key_lets_it_be_submitted_afresh(rc: ResilientClient) -> None:
    """After "client-releases-keys" the scheduler forgets an erred key the client still holds."""
    future = rc.submit(_fails, pure=False)
    with pytest.raises(ValueError):
        future.result(timeout=10)
    key = future.key

    def known(dask_scheduler: object = None) -> bool:
        return key in dask_scheduler.tasks  # type: ignore[attr-defined]

    ClientPort(rc, reconnect_timeout=1.0).release_on_scheduler([key])
    poll_for(lambda: not rc.run_on_scheduler(known), 10, message="key forgotten")
    assert _compat.client_states(rc)[key].status == "error", "the client still holds it"


# -- touches lineage replay relies on ---------------------------------------------------


def test_reset_and_register_state_make_the_same_future_wait_again(client: Client) -> None:
    """A reset FutureState registered under its key is finished again by the scheduler."""
    future = client.submit(inc, 10)
    assert future.result(timeout=10) == 11
    state = _compat.future_state(future)
    assert state is not None
    _compat.client_states(client).pop(future.key)
    _compat.register_state(client, future.key, state)
    assert future.status == "pending" and not future.done()
    client._send_to_scheduler({"op": "report-key", "key": future.key})
    assert future.result(timeout=10) == 11


def test_error_state_makes_result_raise_and_wait_return(client: Client) -> None:
    """A state failed with error_state raises from result() but counts as done for wait()."""
    from distributed import wait as dwait

    future = client.submit(inc, 20)
    assert future.result(timeout=10) == 21
    state = _compat.future_state(future)
    assert state is not None
    _compat.error_state(state, ValueError("replay failed"))
    assert future.status == "error"
    with pytest.raises(ValueError, match="replay failed"):
        future.result(timeout=5)
    with client.as_current():
        assert future in dwait([future], timeout=5).done


def test_send_graph_sends_a_recorded_graph_again_under_the_same_keys(rc: ResilientClient) -> None:
    """_graph_to_futures(expr, keys, *args, **kwargs) called again makes the same keys."""
    recorded: list[tuple[object, object, tuple[object, ...], dict[str, object]]] = []
    original = Client._graph_to_futures

    def spy(self: Client, expr: object, keys: object, *args: object, **kwargs: object) -> object:
        recorded.append((expr, keys, args, kwargs))
        return original(self, expr, keys, *args, **kwargs)

    Client._graph_to_futures = spy  # type: ignore[method-assign]
    try:
        first = rc.compute(da.arange(10, chunks=5).sum())
        assert first.result(timeout=10) == 45
    finally:
        Client._graph_to_futures = original  # type: ignore[method-assign]
    expr, keys, args, kwargs = recorded[-1]
    again = _compat.send_graph(rc, expr, keys, {"args": args, "kwargs": kwargs})
    assert set(again) == {first.key}
    assert again[first.key].result(timeout=10) == 45


def test_release_key_runs_when_the_last_future_of_a_key_goes() -> None:
    """Client._release_key(key) is how the client learns a key is released."""
    source = inspect.getsource(Client._dec_ref)
    assert "self._release_key(key)" in source


def test_scatter_returns_futures_in_the_shape_of_the_data(rc: ResilientClient) -> None:
    """_scatter returns Futures shaped like its input (list, dict, single)."""
    as_list = rc.scatter([1, 2])
    as_dict = rc.scatter({"a": 1})
    single = rc.scatter(3)
    assert isinstance(as_list, list) and len(as_list) == 2
    assert set(as_dict) == {"a"} and isinstance(single, Future)


def test_scatter_finishes_the_state_of_each_key_itself(client: Client) -> None:
    """Client._scatter marks each scattered key's state finished before it returns."""
    future = client.scatter(5, hash=False)
    state = _compat.client_states(client)[future.key]
    assert state.status == "finished" and state.type is int


def test_register_state_carries_over_a_replayed_state_that_is_already_done(
    client: Client,
) -> None:
    """A user's state put back after its replay finished is finished (or failed) too."""
    replayed = client.scatter(7, hash=False)
    user_state = FutureState(replayed.key)
    _compat.register_state(client, replayed.key, user_state)
    assert user_state.status == "finished" and user_state.type is int
    assert _compat.client_states(client)[replayed.key] is user_state

    failing = client.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(timeout=10)
    other = FutureState(failing.key)
    _compat.register_state(client, failing.key, other)
    assert other.status == "error" and isinstance(other.exception, ZeroDivisionError)


def test_ensure_connected_asserts_a_lone_stream_start_on_its_new_comm() -> None:
    """Upstream _ensure_connected keeps its new comm in the local ``comm``, asserts the
    first batch is one "stream-start", and reads it with wait_for(comm.read(), timeout)
    (a TimeoutError there leaves the comm open, which ClientHooks aborts)."""
    source = inspect.getsource(Client._ensure_connected)
    opened = source.index("comm = await connect(")
    first = source.index("assert len(msg) == 1")
    assert opened < first < source.index('assert msg[0]["op"] == "stream-start"')
    assert "msg = await wait_for(comm.read(), timeout)" in source


def test_graph_to_futures_creates_states_under_the_refcount_lock() -> None:
    """Upstream _graph_to_futures holds self._refcount_lock while it makes Futures."""
    source = inspect.getsource(Client._graph_to_futures)
    assert "with self._refcount_lock:" in source.split("Future(", 1)[0]


# -- the blocking calls that must not be cut short ------------------------------------------


@pytest.mark.parametrize(
    ("method", "coroutine"),
    [("close", "_close"), ("shutdown", "_shutdown"), ("start", "_start")],
)
def test_close_start_and_shutdown_run_their_coroutines_through_sync(
    method: str, coroutine: str
) -> None:
    """Client.close/shutdown/start run self._close/_shutdown/_start through self.sync (then
    ClientHooks.sync lets them through unguarded) or through distributed.utils.sync."""
    from resilient_dask._compat.client_hooks import UNGUARDED_CALLS

    assert coroutine in UNGUARDED_CALLS
    source = inspect.getsource(getattr(Client, method))
    assert f"self.sync(self.{coroutine}" in source or f"sync(self.loop, self.{coroutine}" in source


# -- code shipped to the scheduler ----------------------------------------------------------


def _holds(event: str, dask_worker: object = None) -> None:
    from distributed import Event

    Event(event).wait(30)


def test_task_facts_read_story_events_and_task_state(local: LocalCluster, client: Client) -> None:
    """Scheduler.story gives 6-tuples from "released"; TaskState has the fields the facts read."""
    future = client.submit(_fails, pure=False)
    with pytest.raises(ValueError):
        future.result(timeout=10)
    scheduler = local.scheduler
    assert scheduler is not None
    assert all(len(t) == 6 for t in scheduler.story(future.key))
    ts = scheduler.tasks[future.key]
    for field in (
        "state", "suspicious", "erred_on", "exception_text", "traceback_text",
        "exception_blame", "processing_on",
    ):  # fmt: skip
        assert hasattr(ts, field), field
    facts = client.run_on_scheduler(on_scheduler.collect_task_facts, [future.key])[future.key]
    assert facts["state"] == "erred" and facts["complete"]
    assert "upstream check" in facts["exception"]
    assert facts["steps"][0][0] == "released"  # (start, finish, ...)
    assert set(facts["workers"]) == set(scheduler.workers)


def test_story_of_several_keys_is_one_pass_over_the_log(
    local: LocalCluster, client: Client
) -> None:
    """Scheduler.story(*keys) returns every key's own transitions; facts come per key."""
    futures = client.map(_fails, range(3), pure=False)
    for future in futures:
        with pytest.raises(ValueError):
            future.result(timeout=10)
    scheduler = local.scheduler
    assert scheduler is not None
    keys = [f.key for f in futures]
    together = scheduler.story(*keys)
    for key in keys:
        assert [t for t in together if t[0] == key] == [
            t for t in scheduler.story(key) if t[0] == key
        ]
    facts = client.run_on_scheduler(on_scheduler.collect_task_facts, keys)
    assert set(facts) == set(keys)
    assert all(facts[k]["state"] == "erred" and facts[k]["complete"] for k in keys)


def test_stale_workers_reads_last_seen_interval_and_executing(
    local: LocalCluster, client: Client
) -> None:
    """The scheduler's heartbeat_interval(n) is what its workers are told; last_seen is the
    scheduler's metrics.time(); WorkerState.executing maps each running TaskState to
    seconds. stale_workers returns only workers past the limit, and only overdue tasks."""
    import distributed.scheduler
    from distributed import Event
    from distributed.metrics import time as scheduler_time

    scheduler = local.scheduler
    assert scheduler is not None
    answer = inspect.getsource(distributed.scheduler.Scheduler.heartbeat_worker)
    assert '"heartbeat-interval": heartbeat_interval(len(self.workers))' in answer
    [ws] = scheduler.workers.values()
    assert 0 <= scheduler_time() - ws.last_seen < 10
    assert hasattr(ws, "name") and hasattr(ws, "nanny")
    fresh = client.run_on_scheduler(on_scheduler.stale_workers, 30.0, 3, None)
    expected = distributed.scheduler.heartbeat_interval(1)
    assert (fresh["interval"], fresh["limit"], fresh["stale"]) == (expected, 30.0, [])
    everyone = client.run_on_scheduler(on_scheduler.stale_workers, -1.0, 0, None)
    assert [w["address"] for w in everyone["stale"]] == [ws.address]
    event = Event(f"hold-{uuid.uuid4().hex}", client=client)
    future = client.submit(_holds, event.name, pure=False)

    def overdue() -> list[dict[str, object]]:
        found = client.run_on_scheduler(on_scheduler.stale_workers, 30.0, 3, 0.0)
        return [w for w in found["overdue"] if future.key in w["tasks"]]  # type: ignore[operator]

    [late] = poll_for(overdue, 20, message="the task shows as executing")
    assert all(isinstance(s, float) for s in late["tasks"].values())  # type: ignore[attr-defined]
    none_late = client.run_on_scheduler(on_scheduler.stale_workers, 30.0, 3, 600.0)
    assert none_late["overdue"] == []
    event.set()
    future.result(timeout=10)


def test_pins_plugin_filters_workers_to_close(local: LocalCluster, client: Client) -> None:
    """Scheduler.workers_to_close asks plugins' valid_workers_downscaling; add_plugin and
    remove_plugin change Scheduler.plugins."""
    scheduler = local.scheduler
    assert scheduler is not None
    assert "valid_workers_downscaling" in inspect.getsource(type(scheduler).workers_to_close)
    [worker] = scheduler.workers
    pinned = client.run_on_scheduler(on_scheduler.acquire_pin, "p1", [worker], "test", 30, "me")
    assert pinned == [worker] and on_scheduler.PINS_PLUGIN in scheduler.plugins
    assert worker not in scheduler.workers_to_close()
    client.run_on_scheduler(on_scheduler.release_pin, "p1")
    assert on_scheduler.PINS_PLUGIN not in scheduler.plugins


def test_scheduler_settings_are_public_attributes_of_the_scheduler(
    local: LocalCluster, client: Client
) -> None:
    """Scheduler keeps worker_ttl, allowed_failures, idle_timeout and no_workers_timeout."""
    scheduler = local.scheduler
    for attribute in ("worker_ttl", "allowed_failures", "idle_timeout", "no_workers_timeout"):
        assert hasattr(scheduler, attribute), attribute
    settings = client.run_on_scheduler(on_scheduler.scheduler_settings, on_scheduler.PINS_PLUGIN)
    assert settings["allowed_failures"] == scheduler.allowed_failures
    assert settings["pin_leases"] == 0


def test_code_for_the_scheduler_unpickles_without_resilient_dask() -> None:
    """on_scheduler is pickled by value: a process that cannot import resilient_dask runs it."""
    payload = cloudpickle.dumps(
        [on_scheduler.collect_task_facts, on_scheduler.acquire_pin, on_scheduler.PinPlugin,
         on_scheduler.stale_workers, on_scheduler.StoryRecorder,
         on_scheduler.install_story_recorder]
    )
    code = (
        "import sys, pickle; sys.modules['resilient_dask'] = None; "
        "funcs = pickle.loads(sys.stdin.buffer.read()); recorder = funcs[4](3); "
        "recorder.transition('x', 'released', 'waiting', stimulus_id='s'); "
        "print(funcs[2]().leases, recorder.kept, recorder.story('x')[0][:3])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=payload, capture_output=True, timeout=60, check=True
    )
    assert out.stdout.strip() == b"{} 3 ('x', 'released', 'waiting')"


class _Spy(SchedulerPlugin):
    """Records how the scheduler calls a plugin's transition hook."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def transition(self, key: Any, start: Any, finish: Any, *args: Any, **kwargs: Any) -> None:
        self.calls.append((key, start, finish, args, kwargs.get("stimulus_id")))


def test_scheduler_calls_plugin_transition_for_each_logged_transition(
    local: LocalCluster, client: Client
) -> None:
    """Scheduler._transition calls each plugin's transition(key, start, finish,
    stimulus_id=...) once per transition it logs, with the log's start, finish and
    stimulus id, in the same order: what StoryRecorder records (a transition through
    "released" is two of each)."""
    scheduler = local.scheduler
    assert scheduler is not None
    spy = _Spy()
    scheduler.add_plugin(spy, name="resilient-dask-test-spy")
    try:
        failed = client.submit(_fails, pure=False)
        done = client.submit(inc, 1, pure=False)
        with pytest.raises(ValueError):
            failed.result(timeout=10)
        assert done.result(timeout=10) == 2
        failed.retry()
        with pytest.raises(ValueError):
            failed.result(timeout=10)
    finally:
        scheduler.remove_plugin(name="resilient-dask-test-spy")
    for key in (failed.key, done.key):
        logged = [(t[0], t[1], t[2], (), t[4]) for t in scheduler.story(key) if t[0] == key]
        assert [c for c in spy.calls if c[0] == key] == logged
        assert all(len(t) == 6 for t in scheduler.story(key))
    starts = [(c[1], c[2]) for c in spy.calls if c[0] == failed.key]
    assert starts[0] == ("released", "waiting") and ("erred", "released") in starts


def test_story_recorder_is_added_once_by_name(local: LocalCluster, client: Client) -> None:
    """Scheduler.add_plugin(plugin, name=, idempotent=True) registers the recorder under
    STORY_PLUGIN in Scheduler.plugins; a second install finds it and leaves it; the
    facts read its steps (longer than what the log has kept) by that name."""
    scheduler = local.scheduler
    assert scheduler is not None
    if on_scheduler.STORY_PLUGIN in scheduler.plugins:
        scheduler.remove_plugin(name=on_scheduler.STORY_PLUGIN)
    try:
        assert client.run_on_scheduler(on_scheduler.install_story_recorder, 5) is True
        recorder = scheduler.plugins[on_scheduler.STORY_PLUGIN]
        assert client.run_on_scheduler(on_scheduler.install_story_recorder, 5) is False
        assert scheduler.plugins[on_scheduler.STORY_PLUGIN] is recorder
        future = client.submit(_fails, pure=False)
        with pytest.raises(ValueError):
            future.result(timeout=10)
        scheduler.transition_log.clear()  # as a log that has moved on
        facts = client.run_on_scheduler(on_scheduler.collect_task_facts, [future.key])
        assert facts[future.key]["complete"] and facts[future.key]["steps"][-1][1] == "erred"
    finally:
        scheduler.remove_plugin(name=on_scheduler.STORY_PLUGIN)


def test_a_handler_added_by_the_installer_answers_an_rpc_with_tuple_keys(
    local: LocalCluster, client: Client
) -> None:
    """Server.handlers[op] is called with the request's fields (no comm unless asked for)
    and its return value is the reply; the rpc of Client.scheduler sends a tuple key and
    the handler gets it as a tuple, so Scheduler.tasks finds it."""
    scheduler = local.scheduler
    assert scheduler is not None
    key = ("compat-failing", 0)
    future = client.submit(_fails, key=key)
    with pytest.raises(ValueError):
        future.result(timeout=10)
    try:
        client.run_on_scheduler(on_scheduler.install_story_recorder, 5)
        assert on_scheduler.FACTS_OP in scheduler.handlers

        async def ask() -> Any:
            return await getattr(client.scheduler, on_scheduler.FACTS_OP)(keys=[key])

        [facts] = client.sync(ask)
        assert facts["key"] == str(key) and facts["state"] == "erred"
        assert "upstream check" in facts["exception"]
    finally:
        scheduler.handlers.pop(on_scheduler.FACTS_OP, None)
        scheduler.remove_plugin(name=on_scheduler.STORY_PLUGIN)


def test_remove_worker_tells_plugins_the_stimulus_of_its_transitions() -> None:
    """Scheduler.remove_worker calls each plugin's remove_worker(scheduler=, worker=,
    stimulus_id=) with the stimulus id its tasks' transitions carry (the recorder names
    the dead worker in a story by it)."""
    source = inspect.getsource(Scheduler.remove_worker)
    assert "plugin.remove_worker(" in source
    assert "scheduler=self, worker=address, stimulus_id=stimulus_id" in source
    assert "self.transitions(recommendations, stimulus_id=stimulus_id)" in source


def test_ensure_connected_makes_a_new_scheduler_comm_and_running() -> None:
    """Client._ensure_connected returns at once while connected (or connecting), and a new
    connection sets self.scheduler_comm and status "running": ClientHooks._ensure_connected
    awaits the connected event when scheduler_comm changed and the client runs."""
    source = inspect.getsource(Client._ensure_connected)
    early = source.index("return")
    assert "not self.scheduler_comm.closed()" in source[:early]
    assert early < source.index("self._connecting_to_scheduler = True")
    assert "self.scheduler_comm = bcomm" in source
    assert source.index("self.scheduler_comm = bcomm") < source.index('self.status = "running"')
    assert "await self._ensure_connected(timeout=timeout)" in inspect.getsource(Client._start)


def test_result_and_gather_run_their_coroutines_through_client_sync(client: Client) -> None:
    """Future.result runs Future._result and Client.gather runs Client._gather(futures)
    through Client.sync: what ClientHooks.sync hands to the blocking calls, and what
    delivered_request recognises."""
    future = client.submit(inc, 1)
    calls: list[object] = []
    original = Client.sync

    def spy(self: Client, func: object, *args: object, **kwargs: object) -> object:
        calls.append(_compat.delivered_request(func, args))
        return original(self, func, *args, **kwargs)

    Client.sync = spy  # type: ignore[method-assign]
    try:
        assert future.result(timeout=10) == 2
        assert client.gather([future]) == [2]
    finally:
        Client.sync = original  # type: ignore[method-assign]
    assert calls[0] is future and calls[1] == [future]


def test_start_leaves_a_running_loop_for_the_started_event(client: Client) -> None:
    """Client.start (run by Client.__init__) leaves self.loop set: ClientHooks.start adds
    the started event to it."""
    assert "self._start" in inspect.getsource(Client.start)
    assert client.loop is not None and client.status == "running"


def test_client_init_names_the_id_after_the_class_before_starting() -> None:
    """Client.__init__ builds self.id from type(self).__name__, then calls self.start(),
    which registers the id: ClientHooks.start renames it to upstream's "Client-" prefix."""
    source = inspect.getsource(Client.__init__)
    assert "type(self).__name__" in source
    assert source.index("self.id = (") < source.index("self.start(")


def test_future_exception_returns_the_states_exception(client: Client) -> None:
    """Future.exception() runs Future._exception and returns the very object result() raises."""
    future = client.submit(_fails, pure=False)
    returned = future.exception(timeout=10)
    with pytest.raises(ValueError) as info:
        future.result(timeout=10)
    assert returned is info.value
    assert Future._exception.__name__ == "_exception"
    assert _compat.exception_request(future._exception) is future


def test_a_pickled_killed_worker_names_its_class_in_its_bytes() -> None:
    """The scheduler's pickled KilledWorker names the class (killed_worker's fast check)."""
    from distributed.protocol import pickle as dask_pickle
    from distributed.scheduler import KilledWorker

    from resilient_dask._translate import killed_worker

    reported = dask_pickle.dumps(KilledWorker("f", "tcp://127.0.0.1:1", allowed_failures=0))
    assert b"KilledWorker" in reported
    found = killed_worker(reported)
    assert isinstance(found, KilledWorker) and found.task == "f"
    assert killed_worker(dask_pickle.dumps(ValueError("KilledWorker? no"))) is None
