"""The one class that overrides distributed's private ``Client`` methods.

Each override names the upstream behaviour it relies on (``tests/test_compat.py``
checks each) and turns it into one call of :class:`~resilient_dask._client_events.ClientEvents`,
held in ``self._rd_events``. Which services react to an event, and in which order, is
written in :mod:`resilient_dask._reactions`. This class holds no policy of its own
beyond what upstream's mechanics force on it (lock windows, comms to abort).

| upstream method               | event                                            |
|-------------------------------|--------------------------------------------------|
| ``start``                     | ``started``                                      |
| ``sync``                      | ``blocking_call`` (not for close/start/shutdown) |
| ``_get_computation_code``     | (skips our frames when recording user code)      |
| ``_reconnect``                | ``connection_lost``, ``reconnecting``, ``reconnect_finished`` |
| ``_ensure_connected``         | ``connected``; (aborts a comm upstream leaves open) |
| ``_handle_restart``           | ``scheduler_restarted``                          |
| ``_handle_cancelled_keys``    | ``keys_cancelled``                               |
| ``_send_to_scheduler``        | ``report_requested`` (for "report-key" only)     |
| ``_graph_to_futures``         | ``graph_sending``, ``graph_sent``/``graph_not_sent`` |
| ``_release_key``              | ``key_released``                                 |
| ``_scatter``                  | ``scattered``                                    |
| ``_gather_remote``            | ``fetch_started``, ``fetch_ended``               |
| ``_handle_lost_data``         | ``data_lost``                                    |
| ``_handle_task_erred``        | ``task_erred``                                   |
| ``_get_scheduler_info``       | ``scheduler_info_timeout``                       |
| ``_close``                    | ``closing``, then ``closed``                     |
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import dask.config
from dask.utils import parse_timedelta
from distributed import Client
from distributed.comm.core import Comm, CommClosedError
from distributed.objects import SchedulerInfo
from distributed.scheduler import Scheduler
from distributed.utils import sync

from resilient_dask._client_events import ClientEvents
from resilient_dask._events import emit
from resilient_dask._future import adopt
from resilient_dask._tracebacks import hide_own_frames

__all__ = ["UNGUARDED_CALLS", "ClientHooks"]

logger = logging.getLogger("distributed.client")  # where upstream logs the same

#: Client coroutines run through ``Client.sync`` that must never be cut short or
#: retried: closing, starting and shutting down. Upstream: ``Client.close``,
#: ``Client.start`` (synchronous mode) and ``Client.shutdown`` run ``self._close``,
#: ``self._start`` and ``self._shutdown`` through ``self.sync``.
UNGUARDED_CALLS = frozenset({"_close", "_start", "_shutdown"})


class ClientHooks(Client):
    """``distributed.Client`` with every private override resilient_dask needs.

    A subclass sets ``_rd_events`` before calling ``Client.__init__`` (which may
    start the client and close it again on failure).
    """

    _rd_events: ClientEvents
    #: Whether this client holds ``_refcount_lock`` while its states are taken (below).
    _rd_holding_refcounts: bool = False
    #: Since when (monotonic) the scheduler has held this client's previous session.
    _rd_lingering_since: float | None = None

    # Upstream: Client.start(**kwargs) starts the loop (if the client owns it) and
    # schedules the connection; the client's loop runs once it returns. Client.__init__
    # names the client's id after its class (type(self).__name__ + "-" + uuid) before it
    # calls start(), which registers that id with the scheduler. Tools and tests count a
    # scheduler's clients by the "Client-" prefix (workers' clients are "worker-..."), so
    # ours keeps upstream's prefix; the repr still says ResilientClient.
    def start(self, **kwargs: Any) -> None:
        prefix = f"{type(self).__name__}-"
        if self.status == "newly-created" and self.id.startswith(prefix):
            self.id = f"Client-{self.id[len(prefix) :]}"
        super().start(**kwargs)
        if self.loop is not None:
            self.loop.add_callback(self._rd_events.started)

    # Upstream: every call a user blocks on (Future.result, gather, compute(sync=True),
    # dask.compute, run, ...) runs a coroutine through Client.sync(func, *args,
    # asynchronous=, callback_timeout=, **kwargs), which runs it in the loop thread
    # (or returns it, awaitable, in asynchronous mode).
    def sync(
        self,
        func: Callable[..., Awaitable[Any]],
        *args: Any,
        asynchronous: bool | None = None,
        callback_timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        if getattr(func, "__name__", "") in UNGUARDED_CALLS:
            return super().sync(
                func, *args, asynchronous=asynchronous, callback_timeout=callback_timeout, **kwargs
            )
        call = functools.partial(self._rd_events.blocking_call, func, args, kwargs)
        try:
            return super().sync(call, asynchronous=asynchronous, callback_timeout=callback_timeout)
        except BaseException as exc:
            hide_own_frames(exc)  # as short as upstream's (which hides client.py, utils.py)
            raise

    # Upstream: Client._graph_to_futures records the user's code with the graph
    # (the scheduler's Computation.code, shown by the dashboard) through
    # Client._get_computation_code(stacklevel, nframes), which walks up the stack and
    # skips frames of modules matching distributed.diagnostics.computations.ignore-modules
    # (regexes matched against the frame's module name). Our frames sit between the
    # user's call and upstream's; they are skipped too, whatever the config holds.
    @staticmethod
    def _get_computation_code(stacklevel: int | None = None, nframes: int = 1) -> Any:
        if stacklevel is not None or nframes <= 0:
            return Client._get_computation_code(stacklevel, nframes)
        key = "distributed.diagnostics.computations.ignore-modules"
        ignored = dask.config.get(key, default=None)
        if not isinstance(ignored, list):  # upstream's own error (or default) for these
            return Client._get_computation_code(stacklevel, nframes)
        with dask.config.set({key: [*ignored, "resilient_dask"]}):
            return Client._get_computation_code(stacklevel, nframes)

    # Upstream: Client._handle_report awaits self._reconnect() when the report stream
    # closes while the client is "running". Upstream's _reconnect sets status
    # "connecting" and scheduler_comm None, cancels every FutureState in self.futures
    # (reason "scheduler-connection-lost") and clears it, then retries
    # self._ensure_connected for self._timeout (the connect timeout) towards the address
    # it started with, and then _close()s. We keep those steps and replace the retries:
    # the services take the states first (parked or cancelled typed), and the
    # reconnecting event runs the loop (its own window, backoff with jitter, a scheduler
    # that may have moved), calling _rd_connect for each attempt.
    # Concurrency guarantee (the chaos soak found the race): a user thread submitting at
    # that moment adds states under self._refcount_lock (Client._graph_to_futures holds
    # it). We hold it from before the states are taken until they are cleared, so no
    # state created in between is lost.
    async def _reconnect(self) -> None:
        self._refcount_lock.acquire()
        self._rd_holding_refcounts = True
        try:
            self._rd_events.connection_lost()
            self.status = "connecting"
            self.scheduler_comm = None
            self.futures.clear()  # connection_lost took every state
            self._release_refcounts()
            try:
                connected = await self._rd_events.reconnecting(self._rd_connect)
            except ImportError:  # as upstream: the scheduler refused our versions
                connected = False
            if not connected and self.status == "connecting":
                logger.error("Failed to reconnect to the scheduler; closing the client")
                await self._close()
        finally:
            self._release_refcounts()
            self._rd_events.reconnect_finished()

    # Upstream: Client._start makes self.scheduler = self.rpc(address), and
    # _ensure_connected connects to self.scheduler.address (the rpc's). A scheduler
    # that moved gets a new rpc.
    async def _rd_connect(self, address: str | None, timeout: float) -> None:
        """One reconnect attempt, to ``address`` (None: where the client was)."""
        scheduler = self.scheduler
        assert scheduler is not None, "only _close forgets the scheduler"
        if address is not None and address != scheduler.address:
            emit("scheduler.moved", old=scheduler.address, new=address)
            self.scheduler = scheduler = self.rpc(address)
        await self._rd_old_session_gone(scheduler, timeout)
        await self._ensure_connected(timeout=timeout)

    # Upstream: Scheduler.add_client and remove_client log {"action": "add-client"} and
    # {"action": "remove-client"} under the topic of the client's id, and the "events"
    # handler returns a topic's events, oldest first. The scheduler knows a client by
    # its id, which a reconnect keeps: if it has not yet noticed the old stream close
    # when the new one registers, its later removal of the old session removes the new
    # one (releasing every key it wants and closing its stream: a second reconnect and
    # replay). So while the last of those events is an add-client, an attempt fails and
    # the loop tries again later; after distributed.comm.timeouts.tcp (how long the
    # scheduler's own comm takes to give up on a silent peer) the client registers anyway.
    async def _rd_old_session_gone(self, scheduler: Any, timeout: float) -> None:
        events = await asyncio.wait_for(scheduler.events(topic=self.id), timeout)
        actions = [
            msg.get("action")
            for _, msg in events
            if isinstance(msg, dict) and msg.get("action") in ("add-client", "remove-client")
        ]
        if not actions or actions[-1] != "add-client":
            self._rd_lingering_since = None
            return
        now = time.monotonic()
        since = self._rd_lingering_since = self._rd_lingering_since or now
        limit = parse_timedelta(dask.config.get("distributed.comm.timeouts.tcp"), default="s")
        if now - since < limit:
            raise CommClosedError(
                "the scheduler still holds this client's previous session (it has not yet "
                "noticed that connection close)"
            )
        self._rd_lingering_since = None
        emit("scheduler.old_session_lingers", client=self.id, waited=round(now - since, 3))

    # Upstream: Client._ensure_connected opens a new comm (local name ``comm``), sends
    # "register-client" and asserts that the scheduler's first batch on it is exactly
    # [{"op": "stream-start"}], reading it within ``timeout``. A busy scheduler that
    # has not yet seen the old stream drop can send that id's reports on the new
    # stream at once, in the same batch. The AssertionError then ended _reconnect, and
    # the client stayed "connecting" for good (the chaos soak: two cuts 0.6 s apart
    # during a replay). We close that comm (and one whose first reply timed out) and
    # raise an OSError, which the reconnect loop answers by trying again; the reports it
    # carried are the old session's, which the replay makes again.
    # Upstream: _ensure_connected returns at once while connected or connecting; a new
    # connection ends with a new self.scheduler_comm and status "running", before
    # _start (or _reconnect) goes on: the connected event is awaited there.
    async def _ensure_connected(self, timeout: float | None = None) -> None:
        before = self.scheduler_comm
        try:
            await super()._ensure_connected(timeout=timeout)
        except AssertionError as exc:
            _abort_new_comm(exc)
            raise CommClosedError(
                "the scheduler's first reply on the new connection was not a lone "
                "stream-start (it was still sending to this client's previous session)"
            ) from None
        except TimeoutError as exc:
            _abort_new_comm(exc)
            raise
        if self.scheduler_comm is not before and self.status == "running":
            await self._rd_events.connected()

    def _release_refcounts(self) -> None:
        if self._rd_holding_refcounts:
            self._rd_holding_refcounts = False
            self._refcount_lock.release()

    # Upstream: Client._handle_restart() handles the scheduler's "restart" message:
    # it cancels every state with reason "scheduler-restart", clears self.futures,
    # bumps self.generation and clears self.refcount.
    def _handle_restart(self) -> None:
        self._rd_events.scheduler_restarted()
        super()._handle_restart()

    # Upstream: Client._handle_cancelled_keys(keys, reason, msg) handles the
    # scheduler's "cancelled-keys" stream message by cancelling those states.
    def _handle_cancelled_keys(
        self, keys: Iterable[Any], reason: str | None = None, msg: str | None = None
    ) -> None:
        remaining = self._rd_events.keys_cancelled(list(keys), reason, msg)
        if remaining:
            super()._handle_cancelled_keys(remaining, reason=reason, msg=msg)

    # Upstream: Client._gather, when the scheduler answers a gather with
    # {"status": "error", "keys": [...]} (it could not get them), sends
    # {"op": "report-key", "key": key} for each through _send_to_scheduler (buffered
    # while "connecting", sent first on the next stream), and the scheduler answers a
    # key it does not hold with "cancelled-keys" (no reason). A gather cut by an outage
    # gets that answer for a key the lineage is about to replay: asked before the
    # replay's graph reaches the scheduler, the answer would cancel the replayed future.
    def _send_to_scheduler(self, msg: dict[str, Any]) -> None:
        if msg.get("op") == "report-key" and not self._rd_events.report_requested(msg["key"]):
            return
        super()._send_to_scheduler(msg)

    # Upstream: every submit/map/compute/persist/get ends in
    # Client._graph_to_futures(expr, keys, ...), which creates Future(key, self)
    # for the requested keys under self._refcount_lock and sends "update-graph" to
    # the scheduler (queued for the event loop: the scheduler's answer may be
    # handled before it returns).
    def _graph_to_futures(self, expr: Any, keys: Any, *args: Any, **kwargs: Any) -> Any:
        graph = self._rd_events.graph_sending(expr, keys, args, kwargs)
        if graph is None:
            return super()._graph_to_futures(expr, keys, *args, **kwargs)
        try:
            futures = super()._graph_to_futures(expr, keys, *args, **kwargs)
        except BaseException:
            self._rd_events.graph_not_sent(graph)
            raise
        adopt(futures)
        self._rd_events.graph_sent(graph, futures)
        return futures

    # Upstream: Client._release_key(key) runs when the last Future of a key is
    # released (refcount 0): it pops the state and tells the scheduler.
    def _release_key(self, key: Any) -> None:
        self._rd_events.key_released(key)
        super()._release_key(key)

    # Upstream: Client._scatter(data, workers, broadcast, ...) creates Future(key, self)
    # for scattered data, returned in the shape of ``data``.
    async def _scatter(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        result = await super()._scatter(data, *args, **kwargs)
        self._rd_events.scattered(data, result, args, kwargs)
        return adopt(result)

    # Upstream: Client._close(fast=False) closes the client, releasing (and
    # cancelling, with no reason) the states left in self.futures; _reconnect
    # calls it when it gives up.
    async def _close(self, fast: bool = False) -> None:
        self._rd_events.closing()
        try:
            await super()._close(fast=fast)
        finally:
            self._rd_events.closed()

    # Upstream: Client._handle_lost_data(key) handles the scheduler's "lost-data"
    # message: the last worker holding key's data is gone and the scheduler computes
    # it again; upstream marks the state "lost" until "key-in-memory" comes.
    def _handle_lost_data(self, key: Any = None) -> None:
        super()._handle_lost_data(key=key)
        self._rd_events.data_lost(key)

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
        watch = self._rd_events.fetch_started(self._gather_keys or ())
        fetch = asyncio.ensure_future(super()._gather_remote(direct, local_worker))
        try:
            await asyncio.wait((fetch, watch.happened), return_when=asyncio.FIRST_COMPLETED)
            if not fetch.done():
                fetch.cancel()  # its RPC's comm is aborted, the semaphore released
                await asyncio.wait((fetch,))
        except asyncio.CancelledError:
            fetch.cancel()
            self._forget_queued_fetch()
            raise
        finally:
            self._rd_events.fetch_ended(watch)
        if not fetch.cancelled():
            return fetch.result()
        self._forget_queued_fetch()
        return {"status": "error", "keys": list(watch.lost)}

    def _forget_queued_fetch(self) -> None:
        """A fetch stopped while queued behind the semaphore never took its keys:
        later gathers must not join it (upstream would await the stopped task)."""
        if self._gather_future is asyncio.current_task():
            self._gather_future = None
            self._gather_keys = None

    # Upstream: Client._handle_task_erred(key, exception, traceback) handles the
    # scheduler's "task-erred" report by calling set_error on self.futures[key], which
    # result()/gather() then raise; it unpickles the exception and its traceback there,
    # and tblib rebuilds the traceback's frames with the live call stack as their
    # f_back, so every frame on that stack lives as long as the error does. The
    # reactions decide whether (per-task retry= resubmits instead) and with which error
    # (a typed one may replace it) that happens; the error is then delivered from here,
    # one frame above upstream's, never from deeper in the reactions.
    def _handle_task_erred(
        self, key: Any = None, exception: Any = None, traceback: Any = None
    ) -> None:
        error = exception
        try:
            error = self._rd_events.task_erred(
                key, exception, functools.partial(self._deliver_error, key, exception, traceback)
            )
        finally:
            if error is not None:  # None: held by a retry= round, which delivers it if need be
                self._deliver_error(key, exception, traceback, error)

    def _deliver_error(self, key: Any, exception: Any, traceback: Any, error: Any = None) -> None:
        """Deliver ``error`` (the reported ``exception`` if None) to ``key``'s futures; a
        replacement goes without the reported traceback."""
        error = exception if error is None else error
        super()._handle_task_erred(
            key=key, exception=error, traceback=traceback if error is exception else None
        )

    # Upstream: Client._repr_html_() (the notebook widget) gets its data from
    # Client._get_scheduler_info(n_workers). With an in-process cluster scheduler, or
    # an asynchronous client, it reads without I/O; otherwise it asks the scheduler
    # for its identity through distributed.utils.sync with no timeout, so displaying
    # a client whose scheduler is frozen would block the notebook forever. We ask
    # with a bound, and only while the reactions allow it; otherwise, or when the
    # bound passes, we use the identity cached at the last answer
    # (self._scheduler_identity, which upstream's own fallback branch and __repr__ use).
    def _get_scheduler_info(self, n_workers: int) -> Any:
        scheduler, loop = self.scheduler, self.loop
        if (
            isinstance(getattr(self.cluster, "scheduler", None), Scheduler)
            or not self._loop_runner.is_started()
            or scheduler is None
            or loop is None
            or self.asynchronous
        ):
            return super()._get_scheduler_info(n_workers)
        timeout = self._rd_events.scheduler_info_timeout()
        info: Any = self._scheduler_identity
        if timeout is not None:
            try:
                info = sync(loop, scheduler.identity, n_workers=n_workers, callback_timeout=timeout)
            except (OSError, TimeoutError):  # CommClosedError is an OSError
                pass
        return scheduler, SchedulerInfo(info)


def _abort_new_comm(exc: BaseException) -> None:
    """Close the comm that upstream's ``_ensure_connected`` opened before ``exc``."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is Client._ensure_connected.__code__:
            comm = tb.tb_frame.f_locals.get("comm")
            if isinstance(comm, Comm):
                comm.abort()
            return
        tb = tb.tb_next
