"""Every touch of distributed's private internals, in one place.

Each function or override below names the upstream behaviour it relies on.
``tests/test_compat.py`` checks each of those behaviours against the installed
distributed and fails loudly when one changes; the versions it has been run
against are stated in ``pyproject.toml``.

Nothing outside this module reads or writes a private attribute of
distributed (names starting with ``_``) or relies on a private method.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import distributed
from distributed.client import Future, FutureState, as_completed
from distributed.comm.core import Comm, CommClosedError
from distributed.objects import SchedulerInfo
from distributed.scheduler import Scheduler
from distributed.utils import sync

if TYPE_CHECKING:
    from distributed import Client

#: distributed versions tests/test_compat.py has passed against.
TESTED_DISTRIBUTED = ("2026.8.0",)


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


def reconnect_timeout(client: Client) -> float:
    """How long ``Client._reconnect`` keeps trying before it closes the client.

    Upstream: ``_reconnect`` retries ``_ensure_connected`` until ``self._timeout``
    seconds (the ``timeout=`` argument, default ``distributed.comm.timeouts.connect``).
    """
    return float(client._timeout)


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


def _abort_new_comm(exc: BaseException) -> None:
    """Close the comm that upstream's ``_ensure_connected`` opened before ``exc``."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is distributed.Client._ensure_connected.__code__:
            comm = tb.tb_frame.f_locals.get("comm")
            if isinstance(comm, Comm):
                comm.abort()
            return
        tb = tb.tb_next


# -- Client hooks -------------------------------------------------------------------


class ClientHooks:
    """Overrides of private ``distributed.Client`` methods, forwarding to plain hooks.

    ``ResilientClient`` inherits from this mixin before ``distributed.Client``;
    the hooks it calls (``_rd_*``) are ordinary methods of ResilientClient.
    """

    # Upstream: Client._reconnect() runs when the report stream closes while the
    # client is "running". It cancels every FutureState in self.futures with
    # reason "scheduler-connection-lost", clears self.futures, and then, with no
    # await in between, calls self._ensure_connected (retrying for self._timeout
    # seconds, then _close()). We take the states first (parked or cancelled with
    # typed errors), so upstream finds none left. A user thread submitting at that
    # moment adds states under self._refcount_lock (Client._graph_to_futures holds
    # it); we hold it from before we take the states until upstream's cancel loop
    # is over, that is until it calls _ensure_connected, so no state created in
    # between is cancelled untyped (the chaos soak found that race).
    async def _reconnect(self) -> None:
        self._refcount_lock.acquire()  # type: ignore[attr-defined]
        self._rd_holding_refcounts = True
        try:
            self._rd_connection_lost()  # type: ignore[attr-defined]
            await super()._reconnect()  # type: ignore[misc]
        finally:
            self._rd_release_refcounts()
            self._rd_reconnect_finished()  # type: ignore[attr-defined]

    # Upstream: Client._ensure_connected opens a new comm (local name ``comm``), sends
    # "register-client" and asserts that the scheduler's first batch on it is exactly
    # [{"op": "stream-start"}]. The scheduler knows the client by its id, which a
    # reconnect keeps; a busy scheduler that has not yet seen the old stream drop can
    # send that id's reports on the new stream at once, in the same batch. The
    # AssertionError then ended _reconnect, and the client stayed "connecting" for
    # good (the chaos soak: two cuts 0.6 s apart during a replay). We close that comm
    # and raise an OSError, which _reconnect answers by trying again 0.1 s later; the
    # reports it carried are the old session's, which the replay makes again.
    async def _ensure_connected(self, timeout: float | None = None) -> None:
        self._rd_release_refcounts()  # upstream's _reconnect has cancelled what it holds
        try:
            await super()._ensure_connected(timeout=timeout)  # type: ignore[misc]
        except AssertionError as exc:
            _abort_new_comm(exc)
            raise CommClosedError(
                "the scheduler's first reply on the new connection was not a lone "
                "stream-start (it was still sending to this client's previous session)"
            ) from None

    def _rd_release_refcounts(self) -> None:
        if getattr(self, "_rd_holding_refcounts", False):
            self._rd_holding_refcounts = False
            self._refcount_lock.release()  # type: ignore[attr-defined]

    # Upstream: Client._handle_restart() handles the scheduler's "restart" message:
    # it cancels every state with reason "scheduler-restart", clears self.futures,
    # bumps self.generation and clears self.refcount.
    def _handle_restart(self) -> None:
        self._rd_scheduler_restarted()  # type: ignore[attr-defined]
        super()._handle_restart()  # type: ignore[misc]

    # Upstream: Client._handle_cancelled_keys(keys, reason, msg) handles the
    # scheduler's "cancelled-keys" stream message by cancelling those states.
    def _handle_cancelled_keys(
        self, keys: Iterable[Any], reason: str | None = None, msg: str | None = None
    ) -> None:
        keys = list(keys)
        remaining = self._rd_keys_cancelled(keys, reason, msg)  # type: ignore[attr-defined]
        if remaining:
            super()._handle_cancelled_keys(remaining, reason=reason, msg=msg)  # type: ignore[misc]

    # Upstream: every submit/map/compute/persist/get ends in
    # Client._graph_to_futures(expr, keys, ...), which creates Future(key, self)
    # for the requested keys and sends "update-graph" to the scheduler (queued for
    # the event loop: the scheduler's answer may be handled before it returns).
    def _graph_to_futures(self, expr: Any, keys: Any, *args: Any, **kwargs: Any) -> Any:
        if self._rd_replaying:  # type: ignore[attr-defined]
            return super()._graph_to_futures(expr, keys, *args, **kwargs)  # type: ignore[misc]
        lost = self._rd_lost_dependencies(expr)  # type: ignore[attr-defined]
        added = self._rd_graph_sending(expr, keys, args, kwargs)  # type: ignore[attr-defined]
        try:
            futures = super()._graph_to_futures(expr, keys, *args, **kwargs)  # type: ignore[misc]
        except BaseException:
            self._rd_graph_not_sent(added)  # type: ignore[attr-defined]
            raise
        return self._rd_new_futures(futures, lost)  # type: ignore[attr-defined]

    # Upstream: Client._release_key(key) runs when the last Future of a key is
    # released (refcount 0): it pops the state and tells the scheduler.
    def _release_key(self, key: Any) -> None:
        self._rd_key_released(key)  # type: ignore[attr-defined]
        super()._release_key(key)  # type: ignore[misc]

    # Upstream: Client._scatter(data, workers, broadcast, ...) creates Future(key, self)
    # for scattered data, returned in the shape of ``data``.
    async def _scatter(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        result = await super()._scatter(data, *args, **kwargs)  # type: ignore[misc]
        self._rd_scattered(data, result, args, kwargs)  # type: ignore[attr-defined]
        return self._rd_adopt(result)  # type: ignore[attr-defined]

    # Upstream: Client._close(fast=False) closes the client, releasing (and
    # cancelling, with no reason) the states left in self.futures; _reconnect
    # calls it when it gives up.
    async def _close(self, fast: bool = False) -> None:
        self._rd_closing()  # type: ignore[attr-defined]
        try:
            await super()._close(fast=fast)  # type: ignore[misc]
        finally:
            self._rd_closed()  # type: ignore[attr-defined]

    # Upstream: Client._handle_lost_data(key) handles the scheduler's "lost-data"
    # message: the last worker holding key's data is gone and the scheduler computes
    # it again; upstream marks the state "lost" until "key-in-memory" comes.
    def _handle_lost_data(self, key: Any = None) -> None:
        super()._handle_lost_data(key=key)  # type: ignore[misc]
        self._rd_lost_data.lost(key)  # type: ignore[attr-defined]

    # Upstream: Client._gather(futures) fetches through Client._gather_remote(direct,
    # local_worker), which takes the keys in self._gather_keys once it holds
    # self._gather_semaphore (clearing _gather_keys and _gather_future, which other
    # gathers of the same moment join) and returns the scheduler's gather response.
    # On {"status": "error", "keys": [...]} _gather asks the scheduler to report
    # those keys again ("report-key"), resets them to pending and fetches again once
    # they are back in memory. The scheduler's gather can pick a worker that dies
    # just before the scheduler removes it, and then retries connecting to it for
    # distributed.comm.timeouts.connect (30 s): the demo hit this once in CI, a
    # stress loop of worker kills about once in 300 kills. When the scheduler says a
    # fetched key is lost (it is being computed again), we stop that fetch and answer
    # as upstream does for keys it could not gather, so the key is fetched once it is
    # recomputed. A fetch stopped while still queued (by that, or by its caller's
    # timeout) also clears _gather_future and _gather_keys, which it never took:
    # upstream leaves them, and every later gather joins the stopped fetch.
    async def _gather_remote(self, direct: bool, local_worker: Any) -> Any:
        watch = self._rd_lost_data.watch(self._gather_keys or ())  # type: ignore[attr-defined]
        fetch = asyncio.ensure_future(super()._gather_remote(direct, local_worker))  # type: ignore[misc]
        try:
            await asyncio.wait((fetch, watch.happened), return_when=asyncio.FIRST_COMPLETED)
            if not fetch.done():
                fetch.cancel()  # its RPC's comm is aborted, the semaphore released
                await asyncio.wait((fetch,))
        except asyncio.CancelledError:
            fetch.cancel()
            self._rd_forget_queued_fetch()
            raise
        finally:
            self._rd_lost_data.unwatch(watch)  # type: ignore[attr-defined]
        if not fetch.cancelled():
            return fetch.result()
        self._rd_forget_queued_fetch()
        return {"status": "error", "keys": list(watch.lost)}

    def _rd_forget_queued_fetch(self) -> None:
        """A fetch stopped while queued behind the semaphore never took its keys:
        later gathers must not join it (upstream would await the stopped task)."""
        if self._gather_future is asyncio.current_task():  # type: ignore[has-type]
            self._gather_future = None
            self._gather_keys = None

    # Upstream: Client._handle_task_erred(key, exception, traceback) handles the
    # scheduler's "task-erred" report by calling set_error on self.futures[key], which
    # result()/gather() then raise. The cluster guards decide when (after capturing
    # the task's story) and whether (per-task retry= resubmits instead) that happens.
    def _handle_task_erred(
        self, key: Any = None, exception: Any = None, traceback: Any = None
    ) -> None:
        parent = super()._handle_task_erred  # type: ignore[misc]

        def deliver(error: Any = exception) -> None:  # the guards may deliver a typed error
            parent(key=key, exception=error, traceback=traceback if error is exception else None)

        self._rd_task_erred(key, exception, deliver)  # type: ignore[attr-defined]

    # Upstream: Client._repr_html_() (the notebook widget) gets its data from
    # Client._get_scheduler_info(n_workers). With an in-process cluster scheduler, or
    # an asynchronous client, it reads without I/O; otherwise it asks the scheduler
    # for its identity through distributed.utils.sync with no timeout, so displaying
    # a client whose scheduler is frozen would block the notebook forever. We ask
    # with a bound, and only while CONNECTED; otherwise, or when the bound passes, we
    # use the identity cached at the last answer (self._scheduler_identity, which
    # upstream's own fallback branch and __repr__ use).
    def _get_scheduler_info(self, n_workers: int) -> Any:
        asks_scheduler = (
            not isinstance(getattr(self.cluster, "scheduler", None), Scheduler)  # type: ignore[attr-defined]
            and self._loop_runner.is_started()  # type: ignore[attr-defined]
            and self.scheduler is not None  # type: ignore[attr-defined]
            and not self.asynchronous  # type: ignore[attr-defined]
        )
        if not asks_scheduler:
            return super()._get_scheduler_info(n_workers)  # type: ignore[misc]
        timeout: float | None = self._rd_identity_timeout()  # type: ignore[attr-defined]
        info: Any = self._scheduler_identity  # type: ignore[attr-defined]
        if timeout is not None:
            try:
                info = sync(
                    self.loop,  # type: ignore[attr-defined]
                    self.scheduler.identity,  # type: ignore[attr-defined]
                    n_workers=n_workers,
                    callback_timeout=timeout,
                )
            except (OSError, TimeoutError):  # CommClosedError is an OSError
                pass
        return self.scheduler, SchedulerInfo(info)  # type: ignore[attr-defined]

    # Upstream: the "client-releases-keys" stream message (Client._send_to_scheduler,
    # ordered with "update-graph") makes the scheduler drop this client's wish for
    # ``keys``; an erred task nobody else wants is then forgotten, so the same key can
    # be submitted afresh, with a fresh failure count.
    def _rd_release_on_scheduler(self, keys: list[Any]) -> None:
        self._send_to_scheduler(  # type: ignore[attr-defined]
            {"op": "client-releases-keys", "keys": keys, "client": self.id}  # type: ignore[attr-defined]
        )


# -- as_completed(with_results=True) -------------------------------------------------

_PATCH_MARK = "_resilient_dask_patched"


def install_as_completed_translation(
    raise_typed: Callable[[Future[Any], BaseException], BaseException | None],
) -> None:
    """Make ``as_completed(..., with_results=True)`` raise our typed cancellations.

    Upstream: ``as_completed._get_and_raise`` raises a future's error only when
    ``future.status == "error"``; a *cancelled* future is yielded with its
    ``CancelledError`` as the "result". For futures of a ResilientClient, whose
    cancellations are typed errors (SchedulerConnectionLost, ...), we raise them
    like errors, as every other result path does. Plain clients are unaffected:
    ``raise_typed`` returns None for anything that is not ours.
    """
    original = as_completed._get_and_raise
    if getattr(original, _PATCH_MARK, False):
        return

    def _get_and_raise(self: as_completed) -> Any:
        res = original(self)  # type: ignore[no-untyped-call]
        if self.with_results and self.raise_errors:
            future, result = res
            if isinstance(result, BaseException):
                typed = raise_typed(future, result)
                if typed is not None:
                    raise typed
        return res

    setattr(_get_and_raise, _PATCH_MARK, True)
    as_completed._get_and_raise = _get_and_raise  # type: ignore[method-assign]


def distributed_version() -> str:
    """The installed distributed version."""
    return str(distributed.__version__)  # type: ignore[attr-defined]
