"""The lineage store and replay planner, without a cluster."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from resilient_dask._lineage import (
    LIMIT,
    NONE,
    NOT_RECORDED,
    OPTED_OUT,
    CallRecipe,
    Dep,
    GraphRecipe,
    LineageStore,
    ScatterRecipe,
    plan_replay,
    restore_futures,
    send_order,
    strip_futures,
)
from resilient_dask._recording import submit_recipe


class FakeFuture:
    def __init__(self, key: str) -> None:
        self.key = key


def is_future(value: Any) -> bool:
    return isinstance(value, FakeFuture)


def call(*deps: str) -> CallRecipe:
    return CallRecipe(len, (), {}, {}, tuple(deps))


def no_graph_deps(expr: Any) -> list[Any]:
    return []


def test_strip_and_restore_futures_round_trip() -> None:
    """Futures in nested tuples/lists/dicts become Deps and come back as Futures."""
    deps: list[Any] = []
    args = (1, FakeFuture("a"), [FakeFuture("b"), {"c": FakeFuture("c")}], "x")
    stripped = strip_futures(args, is_future, deps)
    assert deps == ["a", "b", "c"]
    assert stripped == (1, Dep("a"), [Dep("b"), {"c": Dep("c")}], "x")
    restored = restore_futures(stripped, FakeFuture)
    assert [restored[1].key, restored[2][0].key, restored[2][1]["c"].key] == ["a", "b", "c"]


def test_strip_futures_keeps_plain_arguments_unchanged() -> None:
    """Arguments without futures are returned as the very same objects (no copies)."""
    args = (1, [2, 3], {"k": "v"})
    assert strip_futures(args, is_future, []) is args


def test_release_drops_a_recipe_nobody_needs() -> None:
    """Releasing a key drops its recipe when no live recipe depends on it."""
    store = LineageStore()
    store.add("a", call())
    store.release("a")
    assert len(store) == 0


def test_released_dependency_is_kept_until_its_dependent_goes() -> None:
    """A released key stays while a held recipe needs it, and goes with that recipe."""
    store = LineageStore()
    store.add("a", call())
    store.add("b", call("a"))
    store.release("a")
    assert "a" in store and set(store.released) == {"a"}
    store.release("b")
    assert len(store) == 0 and not store.needed and not store.released


def test_limit_evicts_released_recipes_first_then_the_oldest() -> None:
    """Past limit_count, released-but-needed recipes go first, then the oldest; both are marked."""
    store = LineageStore(limit_count=2)
    store.add("a", call())
    store.add("b", call("a"))
    store.release("a")
    store.add("c", call())
    assert set(store.recipes) == {"b", "c"} and store.unavailable == {"a": LIMIT}
    store.add("d", call())
    assert set(store.recipes) == {"c", "d"} and store.unavailable["b"] == LIMIT


def test_limit_evicts_the_earliest_released_recipe_first() -> None:
    """Among released-but-needed recipes, the one released first goes first."""
    store = LineageStore(limit_count=3)
    store.add("a", call())
    store.add("b", call())
    store.add("c", call("a", "b"))
    store.release("b")
    store.release("a")
    store.add("d", call())
    assert set(store.recipes) == {"a", "c", "d"} and store.unavailable == {"b": LIMIT}


def test_submits_with_equal_options_share_them_and_are_sent_one_by_one() -> None:
    """Submit recipes share equal options (and empty keyword arguments) instead of a
    dict each, and are still replayed one by one, not batched as if one map() call."""
    first = submit_recipe(len, ("a",), {"pure": False, "key": "s-0"})
    second = submit_recipe(len, ("b",), {"pure": False, "key": "s-1"})
    assert first.options is second.options and first.options == {"pure": False}
    assert first.kwargs is second.kwargs is NONE
    own = submit_recipe(len, ("c",), {"workers": ["tcp://w:1"], "n": 1})
    assert own.options == {"workers": ["tcp://w:1"]} and own.kwargs == {"n": 1}
    store = LineageStore()
    store.add("s-0", first)
    store.add("s-1", second)
    batches = send_order(plan_replay(["s-0", "s-1"], store, no_graph_deps), store)
    assert [b.keys for b in batches] == [["s-0"], ["s-1"]]


def test_plan_orders_dependencies_first() -> None:
    """Recipes come out in dependency order, each once."""
    store = LineageStore()
    store.add("c", call("b"))
    store.add("b", call("a"))
    store.add("a", call())
    plan = plan_replay(["c", "a", "b"], store, no_graph_deps)
    assert [keys for _, keys in plan.steps] == [("a",), ("b",), ("c",)]
    assert plan.skipped == {}


def test_plan_replays_a_graph_recipe_once_for_all_its_keys() -> None:
    """A graph recipe that makes several keys is sent once, after what its graph reads."""
    store = LineageStore()
    store.add("data", ScatterRecipe([1, 2], {}))
    graph = GraphRecipe(object(), ("x-0", "x-1"), {"args": (), "kwargs": {}}, {})
    store.add("x-0", graph)
    store.add("x-1", graph)
    plan = plan_replay(["x-1", "x-0"], store, lambda expr: ["data", "x-0"])
    assert [keys for _, keys in plan.steps] == [("data",), ("x-0", "x-1")]


def test_plan_skips_unrecorded_keys_and_their_dependents_with_reasons() -> None:
    """Opted-out and unknown keys are skipped, and so is what depends on them."""
    store = LineageStore()
    store.mark_unavailable("side", OPTED_OUT)
    store.add("after", call("side"))
    store.add("fine", call())
    plan = plan_replay(["after", "fine", "ghost"], store, no_graph_deps)
    assert [keys for _, keys in plan.steps] == [("fine",)]
    assert plan.skipped["side"] == OPTED_OUT
    assert plan.skipped["after"] == f"depends on 'side' ({OPTED_OUT})"
    assert plan.skipped["ghost"] == NOT_RECORDED


@pytest.mark.parametrize("n", [1, 10, 1_000])
def test_store_accounting_returns_to_empty(n: int) -> None:
    """Adding a chain and releasing every key leaves nothing behind."""
    store = LineageStore()
    store.add("k0", call())
    for i in range(1, n):
        store.add(f"k{i}", call(f"k{i - 1}"))
    for i in range(n):
        store.release(f"k{i}")
    assert len(store) == 0 and not store.needed and not store.released


def test_send_order_follows_creation_and_batches_one_map_call() -> None:
    """Steps go out in creation order; consecutive items of one map() call form one batch."""
    store = LineageStore()
    shared_options: dict[str, Any] = {}
    shared_kwargs: dict[str, Any] = {}
    store.add("m-0", CallRecipe(len, ("a",), shared_kwargs, shared_options, ()))
    store.add("m-1", CallRecipe(len, ("b",), shared_kwargs, shared_options, ()))
    store.add("after", call("m-1"))
    plan = plan_replay(["after", "m-1", "m-0"], store, no_graph_deps)
    batches = send_order(plan, store)
    assert [b.keys for b in batches] == [["m-0", "m-1"], ["after"]]


@pytest.mark.timeout(60)
def test_send_order_runs_while_another_thread_adds_recipes() -> None:
    """The replay orders its recipes in the event loop while user threads submit (and
    so add recipes): it must neither fail ("dictionary changed size during iteration",
    which left a replay dead and its futures waiting for good) nor lose a step."""
    store = LineageStore()
    for i in range(2_000):
        store.add(f"old-{i}", call())
    plan = plan_replay([f"old-{i}" for i in range(2_000)], store, no_graph_deps)
    stop = threading.Event()

    def submit_until_stopped() -> None:
        i = 0
        while not stop.is_set():
            store.add(f"new-{i}", call())
            i += 1

    adder = threading.Thread(target=submit_until_stopped, daemon=True)
    adder.start()
    deadline = time.monotonic() + 2.0  # the race showed within a second, every time
    try:
        while time.monotonic() < deadline:
            batches = send_order(plan, store)
            assert [key for batch in batches for key in batch.keys] == [
                f"old-{i}" for i in range(2_000)
            ]
    finally:
        stop.set()
        adder.join(10)
