"""Every touch of distributed's internals, in one package.

* this module: ``FutureState`` fields, the client's key table, graphs, futures;
* :mod:`.client_hooks`: the one class that overrides private ``Client`` methods
  and turns each into an event of :class:`~.client_hooks.ClientEvents`;
* :mod:`.port`: what the services may ask of the client (private attributes
  included), typed;
* :mod:`.on_scheduler`: the code shipped to the scheduler, which reads its state.

Each function or override names the upstream behaviour it relies on.
``tests/test_compat.py`` checks each of those behaviours against the installed
distributed and fails loudly when one changes; the versions it has been run
against are stated in ``pyproject.toml``.

Nothing outside this package reads or writes a private attribute of
distributed (names starting with ``_``), relies on a private method, or reads
scheduler state.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import distributed
from distributed.client import Future, FutureState

if TYPE_CHECKING:
    from distributed import Client

#: distributed releases tests/test_compat.py has passed against (docs/compatibility.md).
#: 2026.1.0 was published requiring dask 2025.12.0, and was tested with it.
TESTED_DISTRIBUTED = (
    "2025.4.0", "2025.4.1", "2025.5.0", "2025.5.1", "2025.7.0", "2025.9.0", "2025.9.1",
    "2025.9.2", "2025.9.3", "2025.10.0", "2025.11.0", "2025.12.0", "2026.1.0", "2026.1.1",
    "2026.1.2", "2026.1.3", "2026.3.0", "2026.6.0", "2026.7.0", "2026.7.1", "2026.8.0",
)  # fmt: skip


# -- FutureState ---------------------------------------------------------------


def future_state(future: Future[Any]) -> FutureState | None:
    """The shared state object behind a Future.

    Upstream: ``Future._state`` is the ``FutureState`` shared by every Future of
    the same key and client; ``Future.result()`` raises ``_state.exception``
    when ``_state.status`` is ``"cancelled"`` or ``"error"``.
    """
    return future._state


def cancel_state(state: FutureState, exception: BaseException) -> None:
    """Cancel a FutureState with our own exception object.

    Upstream: ``FutureState.cancel(reason, msg)`` sets ``status="cancelled"``,
    builds a plain ``FutureCancelledError`` into ``exception`` and sets the event
    that ``FutureState.wait()`` waits on. We do the same with a typed error.
    """
    state.status = "cancelled"
    state.exception = exception  # type: ignore[assignment]
    state.traceback = None
    state._get_event().set()


def reset_state(state: FutureState) -> None:
    """Make a FutureState pending again (lineage replay re-uses the user's states).

    Upstream: ``FutureState.reset()`` sets ``status="pending"`` and clears the event;
    the scheduler's later "key-in-memory"/"task-erred" messages finish it again.
    """
    state.reset()


def error_state(state: FutureState, exception: BaseException) -> None:
    """Fail a FutureState with ``exception`` (status "error", like a task error).

    Upstream: ``FutureState.set_error(exception, traceback)``; ``result()``,
    ``gather`` and ``as_completed`` raise errors of erred futures, and ``wait``
    treats them as done (it asserts that *cancelled* ones are FutureCancelledErrors,
    which LineageUnavailable and ResubmissionFailed are not).
    """
    state.set_error(exception, None)


def register_state(client: Client, key: Any, state: FutureState) -> None:
    """Make ``state`` the client's state for ``key`` again: pending, or done if the
    replay's own state for ``key`` already is.

    Upstream: the client routes the scheduler's reports for a key to
    ``client.futures[key]``; every Future object of that key shares that state.
    ``Client._scatter`` awaits the scatter RPC and then calls ``finish(type=...)`` on
    the state of each scattered key itself, and the scheduler's "key-in-memory"
    report may arrive before that; either way the replay's state can be done by the
    time the user's state is put back, and no later report would finish the user's.
    """
    replayed = client.futures.get(key)
    reset_state(state)
    client.futures[key] = state
    if replayed is None or replayed is state:
        return
    if replayed.status == "finished":
        state.finish(type=replayed.type)
    elif replayed.status == "error":
        state.set_error(replayed.exception, replayed.traceback)


def send_graph(client: Client, expr: Any, keys: Any, call: dict[str, Any]) -> Any:
    """Send a recorded graph again, exactly as it was sent the first time.

    Upstream: ``Client._graph_to_futures(expr, keys, span_metadata, **options)`` sends
    "update-graph" and returns the new Futures by key.
    """
    return client._graph_to_futures(expr, keys, *call["args"], **call["kwargs"])


def client_states(client: Client) -> dict[Any, FutureState]:
    """The client's key → FutureState table.

    Upstream: ``Client.futures`` maps every key the client holds to its
    ``FutureState``; ``_reconnect`` and ``_handle_restart`` cancel and clear it.
    """
    return client.futures


def adopt(obj: Any, cls: type[Future[Any]]) -> Any:
    """Turn the distributed Futures in ``obj`` (a Future or list/tuple/set/dict of them)
    into instances of the Future subclass ``cls`` in place.

    Upstream: the Client creates plain ``Future(key, self)`` objects in
    ``_graph_to_futures``, ``submit`` (for a key it already holds) and
    ``_scatter``. A subclass adds no instance state, so the class can be switched.
    """
    if type(obj) is Future:
        obj.__class__ = cls
    elif isinstance(obj, dict):
        for value in obj.values():
            adopt(value, cls)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for value in obj:
            adopt(value, cls)
    return obj


def iter_futures(obj: Any, limit: int = 100_000) -> Iterator[Future[Any]]:
    """Futures found in ``obj`` and plain containers in it (no graph traversal)."""
    stack = [obj]
    seen = 0
    while stack and seen < limit:
        item = stack.pop()
        seen += 1
        if isinstance(item, Future):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)


def graph_dependencies(expr: Any) -> set[Any]:
    """Keys a graph reads from the cluster rather than computing them itself.

    Upstream: every expression ``_graph_to_futures`` receives has
    ``__dask_graph__()``, a dict of key → ``GraphNode``; a node's
    ``dependencies`` names the keys it reads, and persisted collections carry
    their data as ``Future`` nodes. Keys read but not computed in the graph,
    and the keys of those Future nodes, live on the cluster.
    """
    graph = expr.__dask_graph__()
    deps: set[Any] = set()
    held: set[Any] = set()
    for node in graph.values():
        if isinstance(node, Future):
            held.add(node.key)
        else:
            deps.update(getattr(node, "dependencies", ()) or ())
    return held | (deps - set(graph))


def delivered_request(func: Any, args: tuple[Any, ...]) -> Any:
    """What the user asked for, if ``func`` is a coroutine that delivers task results.

    Upstream: ``Future.result()`` runs ``Future._result`` and ``Client.gather``
    runs ``Client._gather(futures, ...)`` through ``Client.sync``; both return
    the tasks' values in the shape of the request. Returns the Future or the
    gathered structure, or None for any other coroutine.
    """
    target = getattr(func, "__func__", None)
    if target is Future._result:
        return func.__self__
    if target is distributed.Client._gather and args:
        return args[0]
    return None


def exception_request(func: Any) -> Any:
    """The Future whose exception ``func`` returns, if it is ``Future.exception()``'s coroutine.

    Upstream: ``Future.exception()`` runs ``Future._exception`` through ``Client.sync``;
    it returns the state's exception object itself (the one ``result()`` raises).
    """
    if getattr(func, "__func__", None) is Future._exception:
        return func.__self__
    return None


def distributed_version() -> str:
    """The installed distributed version."""
    return importlib.metadata.version("distributed")
