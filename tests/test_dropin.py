"""Drop-in behaviour: the same scenarios on ``Client`` and ``ResilientClient`` give identical,
correct results.

Each test runs one scenario with both client classes against the same real cluster
(a scheduler and two nanny-managed workers in subprocesses, shared by the module) and
checks that every client's result equals the value computed locally (in plain Python,
in pandas, or with Dask's single-threaded scheduler), so that both clients agree with
each other and with the right answer.
"""

from __future__ import annotations

import contextlib
import operator
import os
import pathlib
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from traceback import walk_tb
from typing import Any, TypeVar

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from dask.delayed import Delayed
from distributed import (
    Client,
    Future,
    LocalCluster,
    Variable,
    as_completed,
    fire_and_forget,
    get_client,
    get_worker,
    rejoin,
    secede,
    wait,
)

from resilient_dask import ResilientClient
from resilient_dask.testing import SubprocessCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(30)]

T = TypeVar("T")
CLIENT_CLASSES: dict[str, type[Client]] = {"Client": Client, "ResilientClient": ResilientClient}
#: Seconds a blocking call in a scenario may wait before the test fails.
WAIT = 20
#: The scheduler and workers import this module to run its functions, as a deployment
#: imports the user's code: put its directory on their path.
CLUSTER_ENV = {
    "PYTHONPATH": os.pathsep.join(
        filter(None, [str(pathlib.Path(__file__).parent), os.environ.get("PYTHONPATH")])
    )
}


# -- what the tasks run (on the workers) ---------------------------------------------


def inc(x: int) -> int:
    return x + 1


def square(x: int) -> int:
    return x * x


def fail(message: str) -> None:
    raise ValueError(message)


def set_variable(name: str, x: int) -> None:
    """Store ``inc(x)`` in the distributed Variable ``name``."""
    Variable(name).set(inc(x))


def on_a_worker() -> bool:
    """Whether this runs inside a Dask worker."""
    try:
        get_worker()
    except ValueError:
        return False
    return True


def sum_of_squares_via_get_client(n: int) -> int:
    """Submit ``square`` for ``range(n)`` from inside a task and add up the results."""
    client = get_client()
    futures = client.map(square, range(n))
    secede()
    try:
        return sum(client.gather(futures))
    finally:
        rejoin()


# -- inputs and their locally computed answers ------------------------------------------


def delayed_total(n: int) -> Delayed:
    """``sum(inc(i) for i in range(n))`` as a dask.delayed graph."""
    return dask.delayed(sum)([dask.delayed(inc)(i) for i in range(n)])


def random_array() -> da.Array:
    return da.random.default_rng(42).random((400, 400), chunks=(100, 100))


def frame() -> pd.DataFrame:
    return pd.DataFrame({"key": [i % 7 for i in range(200)], "value": range(200)})


# -- running a scenario on both clients ------------------------------------------------


@pytest.fixture(scope="module")
def scheduler_address() -> Iterator[str]:
    """A real scheduler with two workers, shared by every test of the module."""
    with SubprocessCluster(n_workers=2, env=CLUSTER_ENV) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def clients(scheduler_address: str) -> Iterator[dict[str, Client]]:
    """One client of each class, connected to the shared cluster, closed at the end."""
    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(cls(scheduler_address, set_as_default=False))
            for name, cls in CLIENT_CLASSES.items()
        }


def on_each(clients: Mapping[str, Client], scenario: Callable[[Client], T]) -> dict[str, T]:
    """The result of ``scenario`` with each client, by client class name."""
    return {name: scenario(client) for name, client in clients.items()}


def on_each_class(scenario: Callable[[type[Client]], T]) -> dict[str, T]:
    """The result of ``scenario`` with each client class, by class name."""
    return {name: scenario(cls) for name, cls in CLIENT_CLASSES.items()}


def assert_each_equals(results: Mapping[str, object], expected: object) -> None:
    """Every client got ``expected`` (and therefore the same as the other)."""
    assert results == dict.fromkeys(CLIENT_CLASSES, expected)


def error_of(call: Callable[[], object]) -> tuple[type[BaseException], str]:
    """The type and message of the exception ``call`` raises."""
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value)


# -- the client and its futures ---------------------------------------------------------


def test_resilient_client_is_a_distributed_client(clients: dict[str, Client]) -> None:
    """``isinstance(rc, distributed.Client)`` holds."""
    assert isinstance(clients["ResilientClient"], Client)


def test_futures_are_distributed_futures(clients: dict[str, Client]) -> None:
    """Futures of both clients are ``distributed.Future`` instances."""
    assert_each_equals(on_each(clients, lambda c: isinstance(c.submit(inc, 1), Future)), True)


def test_submit_result(clients: dict[str, Client]) -> None:
    """``submit(...).result()`` returns the task's value."""
    assert_each_equals(on_each(clients, lambda c: c.submit(inc, 41).result(WAIT)), inc(41))


def test_map_gather(clients: dict[str, Client]) -> None:
    """``gather(map(...))`` returns the values in order."""
    results = on_each(clients, lambda c: c.gather(c.map(square, range(10))))
    assert_each_equals(results, [square(i) for i in range(10)])


def test_gather_nested_structure(clients: dict[str, Client]) -> None:
    """``gather`` of a dict holding futures and lists of futures keeps the structure."""

    def scenario(c: Client) -> Any:
        return c.gather(
            {"one": c.submit(inc, 1), "many": [c.submit(inc, 2), c.submit(inc, 3)], "plain": 7}
        )

    assert_each_equals(on_each(clients, scenario), {"one": 2, "many": [3, 4], "plain": 7})


def test_futures_as_arguments(clients: dict[str, Client]) -> None:
    """Futures passed to ``submit`` are replaced by their values (a dependency chain)."""

    def scenario(c: Client) -> Any:
        a = c.submit(inc, 1)
        b = c.submit(operator.mul, a, 10)
        return c.submit(operator.add, a, b).result(WAIT)

    a = inc(1)
    assert_each_equals(on_each(clients, scenario), operator.add(a, operator.mul(a, 10)))


def test_scatter_then_submit(clients: dict[str, Client]) -> None:
    """Scattered data can be passed to ``submit``."""
    payload = list(range(100))

    def scenario(c: Client) -> Any:
        [data] = c.scatter([payload])
        return c.submit(sum, data).result(WAIT)

    assert_each_equals(on_each(clients, scenario), sum(payload))


def test_user_error_comes_out_of_result_unchanged(clients: dict[str, Client]) -> None:
    """A ValueError raised by the task comes out of ``result()`` with its type and message."""
    results = on_each(
        clients, lambda c: error_of(lambda: c.submit(fail, "bad input 7").result(WAIT))
    )
    assert_each_equals(results, (ValueError, "bad input 7"))


def test_user_error_comes_out_of_gather_unchanged(clients: dict[str, Client]) -> None:
    """A ValueError raised by one task comes out of ``gather`` with its type and message."""

    def scenario(c: Client) -> tuple[type[BaseException], str]:
        futures = [c.submit(inc, 1), c.submit(fail, "bad input 8")]
        return error_of(lambda: c.gather(futures))

    assert_each_equals(on_each(clients, scenario), (ValueError, "bad input 8"))


def test_exception_returns_the_user_error(clients: dict[str, Client]) -> None:
    """``future.exception()`` returns the task's ValueError with its message."""

    def scenario(c: Client) -> tuple[type[BaseException], str]:
        error = c.submit(fail, "bad input 9").exception(WAIT)
        return type(error), str(error)

    assert_each_equals(on_each(clients, scenario), (ValueError, "bad input 9"))


# -- waiting ------------------------------------------------------------------------------


def test_wait(clients: dict[str, Client]) -> None:
    """``wait`` returns every future done and none pending."""

    def scenario(c: Client) -> Any:
        with c.as_current():  # wait() uses the current client, as it does for Client
            done, not_done = wait(c.map(inc, range(8)), timeout=WAIT)
        return sorted(f.result() for f in done), len(not_done)

    assert_each_equals(on_each(clients, scenario), ([inc(i) for i in range(8)], 0))


@pytest.mark.parametrize("with_results", [True, False], ids=["with_results", "futures"])
def test_as_completed(clients: dict[str, Client], with_results: bool) -> None:
    """``as_completed`` yields every result of a ``map``, in whatever order."""

    def scenario(c: Client) -> set[int]:
        futures = c.map(square, range(12))
        with c.as_current():  # as_completed() uses the current client's loop
            if with_results:
                return {value for _, value in as_completed(futures, with_results=True)}
            return {future.result() for future in as_completed(futures)}

    assert_each_equals(on_each(clients, scenario), {square(i) for i in range(12)})


def test_fire_and_forget(clients: dict[str, Client]) -> None:
    """A task given to ``fire_and_forget`` runs although nobody holds its future."""

    def scenario(c: Client) -> Any:
        name = f"dropin-{uuid.uuid4().hex}"
        variable = Variable(name, client=c)
        fire_and_forget(c.submit(set_variable, name, 16, pure=False))
        try:
            return variable.get(timeout=WAIT)
        finally:
            variable.delete()

    assert_each_equals(on_each(clients, scenario), inc(16))


def test_get_client_inside_a_task(clients: dict[str, Client]) -> None:
    """A task can submit work through ``get_client()`` and gather it."""
    results = on_each(clients, lambda c: c.submit(sum_of_squares_via_get_client, 10).result(WAIT))
    assert_each_equals(results, sum(square(i) for i in range(10)))


# -- dask collections ---------------------------------------------------------------------


def test_compute_delayed_graph(clients: dict[str, Client]) -> None:
    """``client.compute`` of a dask.delayed graph returns its value."""
    results = on_each(clients, lambda c: c.compute(delayed_total(10)).result(WAIT))
    assert_each_equals(results, sum(inc(i) for i in range(10)))


def test_dask_compute_uses_the_default_client(scheduler_address: str) -> None:
    """``dask.compute`` runs on the cluster when the client is the default client."""

    def scenario(cls: type[Client]) -> Any:
        with cls(scheduler_address, set_as_default=True):
            return dask.compute(delayed_total(10), dask.delayed(on_a_worker)())

    assert_each_equals(on_each_class(scenario), (sum(inc(i) for i in range(10)), True))


def test_array_sum_and_mean(clients: dict[str, Client]) -> None:
    """Sum and mean of a seeded random dask.array equal the local single-threaded result."""

    def stats(c: Client) -> tuple[float, float]:
        x = random_array()
        total, mean = c.gather(c.compute([x.sum(), x.mean()]))
        return float(total), float(mean)

    x = random_array()
    expected = (float(x.sum().compute(scheduler="sync")), float(x.mean().compute(scheduler="sync")))
    assert_each_equals(on_each(clients, stats), expected)


def test_persisted_array_rechunk(clients: dict[str, Client]) -> None:
    """A persisted array can be rechunked and computed, giving the same values."""

    def scenario(c: Client) -> Any:
        persisted = c.persist(random_array())
        return c.compute(persisted.rechunk((200, 50))).result(WAIT)

    expected = random_array().compute(scheduler="sync")
    for name, value in on_each(clients, scenario).items():
        np.testing.assert_array_equal(value, expected, err_msg=name)


def test_persisted_dataframe_groupby(clients: dict[str, Client]) -> None:
    """A groupby-sum of a persisted dask.dataframe equals pandas' own."""

    def scenario(c: Client) -> Any:
        persisted = c.persist(dd.from_pandas(frame(), npartitions=4))
        return c.compute(persisted.groupby("key")["value"].sum()).result(WAIT).sort_index()

    expected = frame().groupby("key")["value"].sum()
    for name, value in on_each(clients, scenario).items():
        pd.testing.assert_series_equal(value, expected, obj=name)


# -- lifecycle ----------------------------------------------------------------------------


def test_context_manager_closes_the_client(scheduler_address: str) -> None:
    """``with cls(address) as c:`` works inside the block and leaves the client closed."""

    def scenario(cls: type[Client]) -> tuple[int, str]:
        with cls(scheduler_address, set_as_default=False) as c:
            value = c.submit(inc, 1).result(WAIT)
        return value, c.status

    assert_each_equals(on_each_class(scenario), (inc(1), "closed"))


def test_no_address_starts_a_local_cluster(scheduler_address: str) -> None:
    """Without an address the client starts a LocalCluster, computes on it and closes it."""

    def scenario(cls: type[Client]) -> tuple[bool, int, str]:
        with cls(n_workers=1, processes=False, dashboard_address=":0", set_as_default=False) as c:
            cluster = c.cluster
            value = c.submit(inc, 1).result(WAIT)
        return isinstance(cluster, LocalCluster), value, cluster.status.name

    assert_each_equals(on_each_class(scenario), (True, inc(1), "closed"))


async def test_async_mode(scheduler_address: str) -> None:
    """With ``asynchronous=True``, awaiting futures, ``gather`` and ``compute`` give the values."""

    async def scenario(cls: type[Client]) -> tuple[int, list[int], int, str]:
        async with cls(scheduler_address, asynchronous=True, set_as_default=False) as c:
            future = c.submit(inc, 1)
            awaited = await future
            gathered = await c.gather(c.map(square, range(5)))
            computed = await c.compute(delayed_total(5))
        return awaited, gathered, computed, c.status

    results = {name: await scenario(cls) for name, cls in CLIENT_CLASSES.items()}
    assert_each_equals(
        results, (inc(1), [square(i) for i in range(5)], sum(inc(i) for i in range(5)), "closed")
    )


# -- options that mean what they mean in distributed --------------------------------------


def test_heartbeat_interval_is_distributeds_client_heartbeat(scheduler_address: str) -> None:
    """``heartbeat_interval=1234`` sets distributed's client heartbeat to 1234 ms with either
    class; the probe keeps its own defaults."""

    def scenario(cls: type[Client]) -> float:
        with cls(scheduler_address, heartbeat_interval=1234, set_as_default=False) as c:
            return float(c._periodic_callbacks["heartbeat"].callback_time)

    assert_each_equals(on_each_class(scenario), 1234.0)
    with ResilientClient(scheduler_address, heartbeat_interval=1234, set_as_default=False) as rc:
        assert (rc.options.probe_interval, rc.options.probe_timeout) == (2.0, 5.0)


def test_a_config_reset_that_forgets_our_defaults_breaks_nothing() -> None:
    """With distributed.utils_test imported first, its reset_config() (run by every
    gen_cluster test) drops resilient-dask's defaults from dask.config: options missing
    there fall back to the shipped defaults, and the client computes."""
    code = """
import distributed.utils_test as utils_test
from distributed import LocalCluster
from resilient_dask import ResilientClient
import dask.config
utils_test.reset_config()
assert dask.config.get("resilient-dask", None) is None, "the reset dropped our defaults"
with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
    with ResilientClient(cluster, set_as_default=False) as rc:
        print(rc.submit(sum, [1, 2]).result(timeout=20), rc.options.probe_interval)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["3", "2.0"]


# -- what a user reads: tracebacks, the dashboard's code ------------------------------------


def _frames_of(call: Callable[[], object]) -> list[str]:
    with pytest.raises(ValueError) as info:
        call()
    return [
        f"{f.f_code.co_filename}:{f.f_code.co_name}" for f, _ in walk_tb(info.value.__traceback__)
    ]


@pytest.mark.parametrize("method", ["result", "gather"])
def test_a_task_error_has_the_same_short_traceback(clients: dict[str, Client], method: str) -> None:
    """A task's error comes out of result()/gather() with the same frames through either
    client (distributed hides its own; resilient_dask hides its own too)."""

    def scenario(c: Client) -> list[str]:
        future = c.submit(fail, "boom", pure=False)
        if method == "result":
            return _frames_of(lambda: future.result(WAIT))
        return _frames_of(lambda: c.gather(future))

    results = on_each(clients, scenario)
    assert results["ResilientClient"] == results["Client"]
    assert not any("resilient_dask" in frame for frame in results["ResilientClient"])


def test_the_computation_record_shows_the_users_code() -> None:
    """The scheduler's Computation records (the dashboard's code) hold this scenario's
    source with either client, not resilient_dask's frames (each on a scheduler of its
    own, so that no other computation is mixed in)."""

    def scenario(cls: type[Client]) -> list[bool]:
        with dask.config.set({"distributed.diagnostics.computations.nframes": 1}):
            with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
                with cls(cluster, set_as_default=False) as c:
                    c.submit(inc, 1).result(WAIT)
                    assert cluster.scheduler is not None
                    [computation] = cluster.scheduler.computations
        return [
            "c.submit(inc, 1).result(WAIT)" in frame.code and "resilient_dask" not in frame.filename
            for frames in computation.code
            for frame in frames
        ]

    assert_each_equals(on_each_class(scenario), [True])


def test_the_client_id_has_distributeds_prefix(scheduler_address: str) -> None:
    """The scheduler knows either client by an id starting with "Client-" (tools and
    distributed's own tests count clients by it); the repr still names the class."""

    def scenario(cls: type[Client]) -> tuple[bool, bool]:
        with cls(scheduler_address, set_as_default=False) as c:
            known = c.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.clients))
            return c.id.startswith("Client-"), c.id in known

    assert_each_equals(on_each_class(scenario), (True, True))
    with ResilientClient(scheduler_address, set_as_default=False) as rc:
        assert repr(rc).startswith("<ResilientClient")
