"""Lineage: how each future of a ResilientClient was made, and in which order to remake them.

Pure data structures, no I/O. ``LineageStore`` keeps one recipe per key,
drops recipes when their futures are released and nothing still held depends on
them, and evicts past ``lineage_limit``. ``plan_replay`` orders the recipes of a
set of keys so that dependencies come first, and says why any key cannot be replayed.

Recipes never hold the user's Future objects: Futures in ``submit``/``map``
arguments are replaced by :class:`Dep` placeholders (so a held result does not
pin its inputs' data on the cluster), and put back as fresh Futures at replay.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

Key = Hashable


@dataclasses.dataclass(frozen=True, slots=True)
class Dep:
    """Placeholder for a Future argument: the key it referred to."""

    key: Key


@dataclasses.dataclass(slots=True, eq=False)
class CallRecipe:
    """``submit(func, *args, **kwargs, key=key, **options)``."""

    func: Any
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]  # shared by all keys of one map() call; see shared()
    options: Mapping[str, Any]  # likewise
    deps: tuple[Key, ...]


@dataclasses.dataclass(slots=True, eq=False)
class GraphRecipe:
    """A graph sent by compute/persist/get: the expression and how it was sent."""

    expr: Any
    keys: tuple[Key, ...]
    call: dict[str, Any]
    annotations: dict[str, Any]


@dataclasses.dataclass(slots=True, eq=False)
class ScatterRecipe:
    """Data scattered with scatter_policy="keep": the client-side reference."""

    value: Any
    options: dict[str, Any]


Recipe = CallRecipe | GraphRecipe | ScatterRecipe

#: The keyword arguments (or options) of a submit() that has none, shared read-only.
NONE: Mapping[str, Any] = MappingProxyType({})


def shared(options: dict[str, Any]) -> Mapping[str, Any]:
    """``options``, or equal read-only ones shared by every submit() recipe with them.

    Scale guarantee (the 1,000,000-recipe benchmark): two dicts of its own, the
    options and the keyword arguments, were most of a submit recipe's memory (400 B a
    recipe for ``submit(f, x, pure=False)``); most submits have no keyword arguments
    (they then share :data:`NONE`) and no options, or the same few. Options with a
    value that is not hashable (a list of workers, annotations) stay the caller's own.
    """
    if not options:
        return NONE
    try:
        return _interned(frozenset((k, type(v), v) for k, v in options.items()))
    except TypeError:
        return options


@functools.lru_cache(maxsize=256)
def _interned(items: frozenset[tuple[str, type, Any]]) -> Mapping[str, Any]:
    return MappingProxyType({k: v for k, _, v in items})

#: Reasons a key cannot be replayed (LineageUnavailable.context.detail("reason")).
SCATTERED = "scattered"
OPTED_OUT = "opted-out"
LIMIT = "limit"
NOT_RECORDED = "not-recorded"


def strip_futures(value: Any, is_future: Callable[[Any], bool], deps: list[Key]) -> Any:
    """``value`` with every Future (in builtin containers) replaced by a Dep.

    Returns ``value`` itself when it holds no Future, so plain arguments are not copied.
    """
    if is_future(value):
        deps.append(value.key)
        return Dep(value.key)
    kind = type(value)
    if kind is tuple or kind is list:
        items = [strip_futures(v, is_future, deps) for v in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items if kind is list else tuple(items)
    if kind is dict:
        pairs = {k: strip_futures(v, is_future, deps) for k, v in value.items()}
        if all(pairs[k] is v for k, v in value.items()):
            return value
        return pairs
    return value


def restore_futures(value: Any, make_future: Callable[[Key], Any]) -> Any:
    """Inverse of :func:`strip_futures`: Deps become Futures again."""
    kind = type(value)
    if kind is Dep:
        return make_future(value.key)
    if kind is tuple or kind is list:
        restored = [restore_futures(v, make_future) for v in value]
        return restored if kind is list else tuple(restored)
    if kind is dict:
        return {k: restore_futures(v, make_future) for k, v in value.items()}
    return value


class LineageStore:
    """Recipes by key, bounded by what the user holds and by ``limit_count``.

    Thread-safe: recipes are added from the user's threads (``submit``) and
    released from the client's event loop.
    """

    def __init__(self, limit_count: int | None = None) -> None:
        self.limit_count = limit_count
        self._lock = threading.Lock()
        self.recipes: dict[Key, Recipe] = {}
        #: How many live recipes depend on each key (keeps released recipes needed by others).
        self.needed: dict[Key, int] = {}
        #: Keys the user released but whose recipe is still needed by a live recipe, in the
        #: order they were released (a dict used as an ordered set: eviction takes the
        #: first ones without scanning every recipe).
        self.released: dict[Key, None] = {}
        #: Keys that cannot be replayed, and why (opted out, scattered, evicted).
        self.unavailable: dict[Key, str] = {}

    def __len__(self) -> int:
        return len(self.recipes)

    def __contains__(self, key: object) -> bool:
        return key in self.recipes

    def add(self, key: Key, recipe: Recipe) -> bool:
        """Remember how ``key`` is made; False if it already had a recipe (kept)."""
        with self._lock:
            return self._add(key, recipe)

    def _add(self, key: Key, recipe: Recipe) -> bool:
        if key in self.recipes:  # same key submitted again: keep the first recipe
            return False
        self.recipes[key] = recipe
        self.unavailable.pop(key, None)
        self.released.pop(key, None)
        if type(recipe) is CallRecipe:
            for dep in recipe.deps:
                self.needed[dep] = self.needed.get(dep, 0) + 1
        if self.limit_count is not None and len(self.recipes) > self.limit_count:
            self._evict(len(self.recipes) - self.limit_count)
        return True

    def positions(self) -> dict[Key, int]:
        """Each key's place in the order its recipe was added (a snapshot).

        Concurrency guarantee (the repeated reconnect test found the race): the replay
        reads the order in the event loop while user threads add recipes; iterating
        ``recipes`` unlocked then fails with "dictionary changed size during iteration".
        """
        with self._lock:
            return {key: i for i, key in enumerate(self.recipes)}

    def mark_unavailable(self, key: Key, reason: str) -> None:
        with self._lock:
            if key not in self.recipes:
                self.unavailable[key] = reason

    def release(self, key: Key) -> None:
        """The user no longer holds ``key``: drop its recipe unless another needs it."""
        with self._lock:
            self._release(key)

    def _release(self, key: Key) -> None:
        self.unavailable.pop(key, None)
        if key not in self.recipes:
            return
        if self.needed.get(key, 0) > 0:
            self.released[key] = None
            return
        self.released.pop(key, None)
        self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self.recipes.clear()
        self.needed.clear()
        self.released.clear()
        self.unavailable.clear()

    def _drop(self, key: Key) -> None:
        """Drop a recipe, and then every released recipe only it still needed."""
        pending = [key]
        while pending:
            recipe = self.recipes.pop(pending.pop(), None)
            if type(recipe) is not CallRecipe:
                continue
            for dep in recipe.deps:
                count = self.needed.get(dep, 0) - 1
                if count > 0:
                    self.needed[dep] = count
                    continue
                self.needed.pop(dep, None)
                if dep in self.released:
                    del self.released[dep]
                    pending.append(dep)

    def _evict(self, n: int) -> None:
        """Drop ``n`` recipes: released-but-needed ones first (the earliest released),
        then the oldest.

        Scale guarantee (the 1,000,000-recipe benchmark found it): each add past the
        limit evicts, so this must not scan every recipe; it reads only as far as it
        needs (it took 71 ms per add at the default limit of 1,000,000 recipes).
        """
        victims = list(itertools.islice(self.released, n))
        if len(victims) < n:
            oldest = (k for k in self.recipes if k not in self.released)
            victims += itertools.islice(oldest, n - len(victims))
        for key in victims:
            self.recipes.pop(key, None)
            self.released.pop(key, None)
            self.unavailable[key] = LIMIT


@dataclasses.dataclass
class ReplayPlan:
    """Recipes in dependency order, the keys each one makes, and what cannot be made."""

    steps: list[tuple[Recipe, tuple[Key, ...]]]
    skipped: dict[Key, str]


def plan_replay(
    targets: Iterable[Key],
    store: LineageStore,
    graph_deps: Callable[[Any], Iterable[Key]],
    available: Callable[[Key], bool] = lambda key: False,
) -> ReplayPlan:
    """Order the recipes that remake ``targets`` (and what they need) dependencies first.

    ``available(key)`` says whether the cluster already has ``key`` (then it is not
    remade). A key whose recipe is missing, or that depends on such a key, is in
    ``skipped`` with the reason.
    """
    steps: list[tuple[Recipe, tuple[Key, ...]]] = []
    done: dict[int, bool] = {}  # id(recipe) -> replayable
    skipped: dict[Key, str] = {}
    visiting: set[Key] = set()

    def deps_of(recipe: Recipe) -> Sequence[Key]:
        if type(recipe) is CallRecipe:
            return recipe.deps
        if type(recipe) is GraphRecipe:
            return [d for d in graph_deps(recipe.expr) if d not in recipe.keys]
        return ()

    def visit(key: Key) -> bool:
        recipe = store.recipes.get(key)
        if recipe is None:
            if available(key):
                return True
            skipped[key] = store.unavailable.get(key, NOT_RECORDED)
            return False
        rid = id(recipe)
        if rid in done:
            if not done[rid]:
                skipped.setdefault(key, skipped.get(_first_key(recipe, key), NOT_RECORDED))
            return done[rid]
        if key in visiting:  # a cycle cannot happen in a DAG; be safe
            return True
        visiting.add(key)
        ok = True
        for dep in deps_of(recipe):
            if not visit(dep):
                skipped[key] = f"depends on {dep!r} ({skipped.get(dep, NOT_RECORDED)})"
                ok = False
                break
        visiting.discard(key)
        done[rid] = ok
        if ok:
            keys = recipe.keys if type(recipe) is GraphRecipe else (key,)
            steps.append((recipe, keys))
        return ok

    for key in targets:
        visit(key)
    return ReplayPlan(steps, skipped)


def _first_key(recipe: Recipe, default: Key) -> Key:
    return recipe.keys[0] if type(recipe) is GraphRecipe else default


@dataclasses.dataclass
class Batch:
    """Recipes sent together: one recipe, or the CallRecipes of one map() call."""

    recipes: list[Recipe]
    keys: list[Key]

    def takes(self, recipe: Recipe) -> bool:
        """Whether ``recipe`` comes from the same map() call as this batch.

        The items of one map() call share their options dict; submits share read-only
        mappings (see :func:`shared`) and are sent one by one.
        """
        first = self.recipes[0]
        return (
            type(recipe) is CallRecipe
            and type(first) is CallRecipe
            and type(first.options) is dict
            and recipe.options is first.options
            and recipe.kwargs is first.kwargs
            and recipe.func is first.func
        )


def send_order(plan: ReplayPlan, store: LineageStore) -> list[Batch]:
    """The plan's steps in the order their futures were first made, batched per map() call.

    A future can only depend on futures that existed before it, so creation order
    (the store's insertion order) is a dependency order; sending the items of one
    map() call as one graph costs the scheduler what the original call cost.
    """
    position = store.positions()
    steps = sorted(plan.steps, key=lambda step: position.get(step[1][0], -1))
    batches: list[Batch] = []
    for recipe, keys in steps:
        if batches and batches[-1].takes(recipe):
            batches[-1].recipes.append(recipe)
            batches[-1].keys.extend(keys)
        else:
            batches.append(Batch([recipe], list(keys)))
    return batches
