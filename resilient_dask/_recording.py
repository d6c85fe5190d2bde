"""Recording: the recipes of one ``submit``/``map`` call, taken from the user's arguments.

A ``submit`` or ``map`` call sends one graph (a ``map`` with ``batch_size``, one per
batch); its recipes are built from the call's own arguments and recorded when
that graph is about to be sent, under the keys it sends. Graphs sent by anything
else (``compute``, ``persist``, ``get``) are recorded as graphs.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from dask.base import get_annotations
from distributed import Future

from resilient_dask._lineage import NONE, OPTED_OUT, CallRecipe, LineageStore, shared, strip_futures

#: submit() keywords that are options of the call, not arguments of the function.
SUBMIT_OPTIONS = frozenset(
    {"key", "workers", "resources", "retries", "priority", "fifo_timeout",
     "allow_other_workers", "actor", "actors", "pure"}
)  # fmt: skip
MAP_OPTIONS = SUBMIT_OPTIONS | {"batch_size"}

# Concurrency guarantee (the replay-context check; the chaos soak found the race):
# whose replay, or whose submit/map recording, the running code is part of is kept
# in context variables, not on the client. A replay runs in the client's event loop
# while user threads (and, in asynchronous clients, other tasks) keep submitting; a
# flag on the client made their calls look like the replay's own, so they were not
# recorded and raised LineageUnavailable after the next outage. Each thread and each
# asyncio task sees only what its own code set.
REPLAYING: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "resilient_dask_replaying", default=None
)
RECORDING: contextvars.ContextVar[Recording | None] = contextvars.ContextVar(
    "resilient_dask_recording", default=None
)


def is_future(value: Any) -> bool:
    return isinstance(value, Future)


@dataclasses.dataclass
class Recording:
    """The recipes of one submit/map, recorded when the graph of that call is sent.

    ``recipes`` are in the order of the call's keys (None: opted out of replay).
    A map with ``batch_size`` sends several graphs: each takes the next recipes.
    """

    owner: object
    store: LineageStore
    recipes: list[CallRecipe] | None
    #: How many of the call's keys have been recorded, in the call's order.
    recorded: int = 0

    @contextmanager
    def active(self) -> Iterator[None]:
        """While the call runs, the graph it sends records these recipes, not its graph."""
        token = RECORDING.set(self)
        try:
            yield
        finally:
            RECORDING.reset(token)

    def sent_as(self, keys: list[Any]) -> list[Any]:
        """Record the next ``len(keys)`` recipes under ``keys`` (position by position:
        equal inputs of a pure map share a key); return the keys added."""
        start = self.recorded
        if self.recipes is not None:
            keys = keys[: len(self.recipes) - start]
        self.recorded += len(keys)
        if self.recipes is None:
            for key in keys:
                self.store.mark_unavailable(key, OPTED_OUT)
            return []
        pairs = zip(keys, self.recipes[start : self.recorded], strict=True)
        return [key for key, recipe in pairs if self.store.add(key, recipe)]

    def finish(self, keys: list[Any]) -> None:
        """After the call: record it now if it sent no graph of its own (a submit of a
        key the client already held; a map with ``batch_size``, whose batches record
        themselves, adds nothing new here)."""
        if not self.recorded:
            self.sent_as(keys)


def current_recording(owner: object) -> Recording | None:
    """The recording of ``owner``'s submit/map the running code is part of, if any."""
    recording = RECORDING.get()
    return recording if recording is not None and recording.owner is owner else None


def replayable(resubmit: bool, kwargs: dict[str, Any]) -> bool:
    """Whether a submit/map call may be replayed (not opted out, not an actor)."""
    return resubmit and not kwargs.get("actor") and not kwargs.get("actors")


def submit_recipe(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallRecipe:
    """The recipe of ``submit(func, *args, **kwargs)``."""
    options = {k: v for k, v in kwargs.items() if k in SUBMIT_OPTIONS and k != "key"}
    func_kwargs = {k: v for k, v in kwargs.items() if k not in SUBMIT_OPTIONS}
    deps: list[Any] = []
    return CallRecipe(
        func,
        strip_futures(args, is_future, deps),
        strip_futures(func_kwargs, is_future, deps) or NONE,
        shared(with_annotations(options)),
        tuple(deps),
    )


def map_recipes(func: Any, iterables: tuple[Any, ...], kwargs: dict[str, Any]) -> list[CallRecipe]:
    """The recipes of ``map(func, *iterables, **kwargs)``, one per item."""
    options = with_annotations(
        {k: v for k, v in kwargs.items() if k in SUBMIT_OPTIONS and k != "key"}
    )
    kw_deps: list[Any] = []
    func_kwargs = strip_futures(
        {k: v for k, v in kwargs.items() if k not in MAP_OPTIONS}, is_future, kw_deps
    )
    recipes = []
    for items in zip(*iterables, strict=False):
        deps = list(kw_deps)
        args = strip_futures(tuple(items), is_future, deps)
        recipes.append(CallRecipe(func, args, func_kwargs, options, tuple(deps)))
    return recipes


def with_annotations(options: dict[str, Any]) -> dict[str, Any]:
    annotations = get_annotations()
    return {**options, "annotations": dict(annotations)} if annotations else options


def pair_scattered(data: Any, result: Any) -> Iterable[tuple[Any, Any]]:
    """(value, Future) pairs of a scatter, whatever the shape of ``data``."""
    if isinstance(result, Future):
        yield data, result
    elif isinstance(result, dict) and isinstance(data, dict):
        for name, future in result.items():
            yield data[name], future
    elif isinstance(result, (list, tuple)) and isinstance(data, (list, tuple, set, frozenset)):
        yield from zip(data, result, strict=False)
