"""Bad input gets a clear error naming the value and the fix, and loses nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import dask
import pytest
from distributed import LocalCluster

from resilient_dask import ResilientClient

pytestmark = pytest.mark.timeout(60)


def add(x: int, y: object = None) -> int:
    return x + 1


@pytest.fixture(scope="module")
def rc() -> Iterator[ResilientClient]:
    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
        with ResilientClient(cluster, set_as_default=False) as client:
            yield client


def test_unpicklable_positional_argument_is_named(rc: ResilientClient) -> None:
    """submit() with a lock argument says which argument, why, and how to fix it."""
    with pytest.raises(TypeError) as info:
        rc.submit(add, 1, threading.Lock())
    text = str(info.value)
    assert "submit(add, ...)" in text
    assert "positional argument 1" in text and "_thread.lock" in text
    assert "create that object inside the task" in text
    assert "serialize" in text, "distributed's word, which users and tests match on"
    assert info.value.__suppress_context__, "no traceback from internals"


def test_unpicklable_keyword_argument_is_named(rc: ResilientClient) -> None:
    """A bad keyword argument is named by its keyword."""
    with pytest.raises(TypeError, match="keyword argument 'y'"):
        rc.submit(add, 1, y=threading.Lock())


def test_unpicklable_map_item_is_named(rc: ResilientClient) -> None:
    """map() names the item of the iterable that cannot be pickled."""
    with pytest.raises(TypeError, match="item 2 of iterable 0"):
        rc.map(add, [1, 2, threading.Lock()], pure=False)


def test_client_keeps_working_after_bad_input(rc: ResilientClient) -> None:
    """After a refused submit, the client and its other futures are unaffected."""
    good = rc.submit(add, 41)
    with pytest.raises(TypeError):
        rc.submit(add, 1, threading.Lock())
    assert good.result(timeout=10) == 42
    assert rc.submit(add, 1, pure=False).result(timeout=10) == 2


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("probe_interval", "-1s"),
        ("probe_timeout", 0),
        ("unresponsive_timeout", "soon"),
        ("scatter_policy", "copy"),
        ("lineage_limit", -5),
    ],
)
def test_invalid_option_fails_before_connecting(option: str, value: object) -> None:
    """An invalid option raises ValueError naming it, before any connection is tried."""
    with pytest.raises(ValueError, match=option):
        ResilientClient("tcp://127.0.0.1:1", **{option: value})


@pytest.mark.parametrize("call", ["submit", "map", "compute", "guard"])
def test_retry_of_a_wrong_type_names_retry_policy(rc: ResilientClient, call: str) -> None:
    """retry= that is not a RetryPolicy raises TypeError naming RetryPolicy, and sends nothing."""
    before = set(rc.futures)
    with pytest.raises(TypeError, match="retry= takes a RetryPolicy") as info:
        if call == "submit":
            rc.submit(add, 1, retry="transient")
        elif call == "map":
            rc.map(add, [1, 2], retry="transient")
        elif call == "compute":
            rc.compute(dask.delayed(add)(1), retry="transient")
        else:
            rc.guard(retry="transient")  # type: ignore[call-overload]
    assert f"{call}(retry='transient')" in str(info.value)
    assert "retries=" not in str(info.value), "a string is not a count"
    # No new key. (Keys may leave meanwhile: the futures of the test before are
    # released asynchronously, through the client's event loop.)
    assert not set(rc.futures) - before, "the refused call made futures"


def test_retry_given_a_count_points_to_retries(rc: ResilientClient) -> None:
    """submit(f, retry=3) says retry= takes a RetryPolicy and that the count is retries=3."""
    with pytest.raises(TypeError) as info:
        rc.submit(add, 1, retry=3)
    text = str(info.value)
    assert "submit(retry=3)" in text and "RetryPolicy" in text
    assert "retries=3" in text
