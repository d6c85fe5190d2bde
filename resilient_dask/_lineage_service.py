"""Lineage replay: record recipes, park futures through an outage, replay them.

With ``resubmit=True`` every future the client makes is recorded
(:mod:`resilient_dask._lineage`, :mod:`resilient_dask._recording`). When the
connection drops, the client's future states are *parked* instead of cancelled,
so that ``result()`` keeps waiting; once a scheduler answers again, the recipes
are sent again in dependency order under the same keys (workers or not: the
scheduler queues them), and the parked states are registered again: the user's
existing Future objects and persisted collections work again. If, for
``resubmit_timeout``, none of the replayed work finishes and the scheduler has no
worker, the futures still waiting fail with ResubmissionFailed.
``resubmit="manual"`` records but replays only on ``rc.resubmit()``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dask.base import annotate, get_annotations
from distributed.client import FutureCancelledError, FutureState

from resilient_dask import _compat
from resilient_dask._compat.port import ClientPort
from resilient_dask._config import Options
from resilient_dask._events import emit
from resilient_dask._lineage import (
    OPTED_OUT,
    SCATTERED,
    Batch,
    CallRecipe,
    GraphRecipe,
    LineageStore,
    ScatterRecipe,
    plan_replay,
    restore_futures,
    send_order,
)
from resilient_dask._monitor import ConnectionMonitor
from resilient_dask._recording import (
    REPLAYING,
    Recording,
    current_recording,
    map_recipes,
    pair_scattered,
    replayable,
    submit_recipe,
)
from resilient_dask._restrictions import relax, restricted_to_addresses
from resilient_dask.errors import ErrorContext, LineageUnavailable, ResubmissionFailed

__all__ = ["Lineage", "ReplayReport"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ReplayReport:
    """What ``rc.resubmit()`` (or an automatic replay) did."""

    replayed: list[Any] = dataclasses.field(default_factory=list)
    skipped: dict[Any, str] = dataclasses.field(default_factory=dict)
    failed: dict[Any, str] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return (
            f"replayed {len(self.replayed)} keys, skipped {len(self.skipped)}, "
            f"failed {len(self.failed)}"
        )


class Lineage:
    """The recipes of one client's futures, its parked states, and their replay."""

    def __init__(self, port: ClientPort, monitor: ConnectionMonitor, options: Options) -> None:
        self._port = port
        self._monitor = monitor
        self._options = options
        #: The recipes (None: ``resubmit=False``, nothing is recorded).
        self.store = LineageStore(options.lineage_limit.count) if options.resubmit else None
        #: Whether a reconnect replays by itself (``resubmit=True``, not "manual").
        self.automatic = options.resubmit is True
        #: The user's states kept through an outage, by key, until replayed or failed.
        self.parked: dict[Any, FutureState] = {}
        self._generation = 0
        #: The worker addresses the scheduler had at replay generation N: (N, addresses).
        self._alive: tuple[int, frozenset[str]] | None = None
        self._replay_task: asyncio.Task[Any] | None = None

    @property
    def replaying(self) -> bool:
        """Whether the running code is this client's replay sending recipes."""
        return REPLAYING.get() is self

    # -- recording -------------------------------------------------------------------

    def submit(
        self,
        func: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        resubmit: bool,
        send: Callable[[], Any],
    ) -> Any:
        """Run ``send`` (a submit of ``func(*args, **kwargs)``), recording its recipe."""
        store = self.store
        if store is None or self.replaying:
            return send()
        recipes = [submit_recipe(func, args, kwargs)] if replayable(resubmit, kwargs) else None
        recording = Recording(self, store, recipes)
        with recording.active():
            future = send()
        recording.finish([future.key])
        return future

    def map(
        self,
        func: Any,
        iterables: tuple[Any, ...],
        kwargs: dict[str, Any],
        resubmit: bool,
        send: Callable[[], Any],
    ) -> Any:
        """Run ``send`` (a map of ``func`` over ``iterables``), recording its recipes."""
        store = self.store
        # Upstream's map with batch_size calls self.map once per batch: the batches
        # are recorded by the recording of the call that made them, which took their
        # recipes (or their opting out) from the user's arguments. An iterator is
        # refused by upstream; reading it here first would empty it.
        batch = current_recording(self) is not None
        iterators = any(isinstance(it, Iterator) for it in iterables)
        if store is None or self.replaying or batch or iterators:
            return send()
        recipes = map_recipes(func, iterables, kwargs) if replayable(resubmit, kwargs) else None
        recording = Recording(self, store, recipes)
        with recording.active():
            futures = send()
        recording.finish([future.key for future in futures])
        return futures

    def graph_sending(
        self, expr: Any, keys: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> list[Any]:
        """Record how ``keys`` are made, *before* their graph is sent; return the keys
        whose recipe this added.

        Concurrency guarantee (recording before sending; the chaos soak found the
        race): the scheduler may answer at once (refusing a graph whose inputs are
        being replayed, for instance), and the client's event loop decides from the
        recipes whether to replay what it refused, while the user's thread may not
        have got past the send yet.
        """
        store = self.store
        if store is None:
            return []
        recording = current_recording(self)
        if recording is not None:
            return recording.sent_as(list(keys))
        recipe = GraphRecipe(
            expr, tuple(keys), {"args": args, "kwargs": kwargs}, dict(get_annotations())
        )
        return [key for key in recipe.keys if store.add(key, recipe)]

    def graph_not_sent(self, added: list[Any]) -> None:
        """Sending failed (say, an argument does not pickle): forget what it recorded."""
        if self.store is not None:
            for key in added:
                self.store.release(key)

    def scattered(
        self, data: Any, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        store = self.store
        if store is None or self.replaying:
            return
        keep = self._options.scatter_policy == "keep"
        options = {"workers": kwargs.get("workers", args[0] if args else None)}
        for value, future in pair_scattered(data, result):
            if keep:
                store.add(future.key, ScatterRecipe(value, options))
            else:
                store.mark_unavailable(future.key, SCATTERED)

    def key_released(self, key: Any) -> None:
        if self.store is not None:
            self.store.release(key)
        self.parked.pop(key, None)

    def forget_all(self) -> None:
        """``restart()`` forgot every key and refcount: so do the recipes."""
        if self.store is not None:
            self.store.clear()
            self.parked.clear()

    # -- parking ------------------------------------------------------------------------

    @property
    def records(self) -> bool:
        return self.store is not None

    def park(self, states: dict[Any, FutureState], failure: Callable[[Any], BaseException]) -> None:
        """Keep the user's states for replay: pending (automatic) or failed (manual)."""
        for key, state in states.items():
            if self.automatic:
                _compat.reset_state(state)
            else:
                _compat.cancel_state(state, failure(key))
            self.parked[key] = state

    def will_replay(self, key: Any) -> bool:
        return self.automatic and self.store is not None and key in self.parked

    def park_refused(self, keys: list[Any]) -> list[Any]:
        """Keys the scheduler refused because their inputs were being replayed: park
        and replay them too, after those inputs. Returns the keys not parked."""
        if not self.automatic or self.store is None:
            return keys
        states = self._port.states()
        remaining = []
        for key in keys:
            if key in states and key in self.store:
                self.park({key: states.pop(key)}, lambda k: FutureCancelledError(k, None))
                if self._replay_task is None or self._replay_task.done():
                    self.start_replay()
            else:
                remaining.append(key)
        return remaining

    def take_parked(self) -> dict[Any, FutureState]:
        """Every parked state, no longer parked."""
        parked, self.parked = self.parked, {}
        return parked

    def cancel_parked(self) -> None:
        """Closed by the user: parked futures are cancelled like the rest (upstream
        cancels the states it holds, with no reason)."""
        for key, state in self.take_parked().items():
            _compat.cancel_state(state, FutureCancelledError(key, None, "client closed"))

    async def wait_for_replay(self, keys: Iterable[Any]) -> None:
        """Wait until those of ``keys`` that are parked are replayed (or fail)."""
        parked = [state for key in keys if (state := self.parked.get(key)) is not None]
        if parked:
            await asyncio.gather(*(state.wait() for state in parked))

    # -- replay ---------------------------------------------------------------------------

    def resubmit(self, futures: Any = None) -> Any:
        """Replay ``futures`` (default: every parked one) now; see ``rc.resubmit``."""
        keys = None if futures is None else [f.key for f in _compat.iter_futures(futures)]
        return self._port.sync(self._replay, keys, False)

    def start_replay(self) -> None:
        task = self._replay_task = asyncio.ensure_future(self._replay(None, True))
        task.add_done_callback(self._replay_ended)

    def _replay_ended(self, task: asyncio.Task[Any]) -> None:
        """A replay that raised must not leave its futures waiting (and the client
        RESUBMITTING) for good: what is still parked fails, typed, saying why."""
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        logger.error("resilient_dask: the lineage replay failed", exc_info=error)
        report = ReplayReport()
        self._fail_parked(list(self.parked), report, f"the replay failed: {error!r}")
        self._replay_finished(report)

    async def _replay(self, keys: list[Any] | None, automatic: bool) -> ReplayReport:
        report = ReplayReport()
        store = self.store
        self._generation += 1
        generation = self._generation
        targets = list(self.parked) if keys is None else list(keys)
        if store is None:
            report.skipped = {k: "the client records no lineage (resubmit=False)" for k in targets}
            return report
        lost = [k for k in targets if k in self.parked]
        report.skipped.update({k: "not lost" for k in targets if k not in self.parked})
        # Sent at once, workers or not: the scheduler queues the work, and an adaptive
        # cluster (which starts workers only when there is work) scales up for it.
        made: list[Any] = []  # temporary Futures that keep replayed dependencies alive
        while lost:
            if not await self._replay_round(lost, store, generation, report, made):
                return report  # another outage: the next reconnect replays what is parked
            # Work refused for lost dependencies while this round ran was parked
            # meanwhile: replay it too, after what it depends on.
            tried = set(lost)
            stuck = [k for k in self.parked if k in tried]  # never expected; never hang
            self._fail_parked(stuck, report, "it could not be scheduled for replay")
            lost = list(self.parked) if automatic else []
        del made
        self._replay_finished(report)
        if report.replayed:
            self._port.background(self._watch_progress(report.replayed, generation))
        return report

    async def _replay_round(
        self,
        lost: list[Any],
        store: LineageStore,
        generation: int,
        report: ReplayReport,
        made: list[Any],
    ) -> bool:
        """Replay the recipes of ``lost``; False if another outage interrupted it."""
        plan = plan_replay(lost, store, _compat.graph_dependencies)
        for batch in send_order(plan, store):
            if generation != self._generation or not self._monitor.still_connected():
                return False
            try:
                made.append(await self._send(batch))
            except Exception as exc:  # reported per key, and raised by the futures
                for key in batch.keys:
                    report.failed[key] = repr(exc)
                    state = self.parked.pop(key, None)
                    if state is not None:
                        _compat.error_state(state, self._resubmission_failed([key], repr(exc)))
                continue
            for key in batch.keys:
                state = self.parked.pop(key, None)
                if state is not None:
                    self._port.register_state(key, state)
                report.replayed.append(key)
        for key, reason in plan.skipped.items():
            state = self.parked.pop(key, None)
            report.skipped[key] = reason
            if state is not None:
                _compat.error_state(state, self._unavailable(key, reason))
        return True

    async def _send(self, batch: Batch) -> Any:
        """Send one batch of recipes again, under the original keys.

        Through the port's plain calls: distributed's own submit/map/scatter, past
        ResilientClient's recording overrides (the hooks still see the graph, and
        leave it alone because the replay context is set). Worker addresses that are
        gone are dropped from the restrictions first (:mod:`resilient_dask._restrictions`).
        """
        port = self._port
        recipe = batch.recipes[0]
        if type(recipe) is CallRecipe:
            options = dict(recipe.options)
            annotations = dict(options.pop("annotations", None) or {})
            await self._drop_gone_workers(batch.keys, options, annotations)
        elif type(recipe) is GraphRecipe:
            call = {"args": recipe.call["args"], "kwargs": dict(recipe.call["kwargs"])}
            annotations = dict(recipe.annotations)
            await self._drop_gone_workers(batch.keys, call["kwargs"], annotations)
        else:
            assert type(recipe) is ScatterRecipe
            options = dict(recipe.options)
            await self._drop_gone_workers(batch.keys, options)
        token = REPLAYING.set(self)
        try:
            if type(recipe) is CallRecipe:
                kwargs = restore_futures(recipe.kwargs, port.new_future)
                with annotate(**annotations):
                    if len(batch.recipes) == 1:
                        args = restore_futures(recipe.args, port.new_future)
                        return port.plain_submit(
                            recipe.func, *args, key=batch.keys[0], **options, **kwargs
                        )
                    rows = [restore_futures(r.args, port.new_future) for r in batch.recipes]  # type: ignore[union-attr]
                    return port.plain_map(
                        recipe.func, *zip(*rows, strict=True), key=batch.keys,
                        **options, **kwargs,
                    )  # fmt: skip
            if type(recipe) is GraphRecipe:
                with annotate(**annotations):
                    return port.send_graph(recipe.expr, recipe.keys, call)
            assert type(recipe) is ScatterRecipe
            scattered = port.plain_scatter(
                {batch.keys[0]: recipe.value}, hash=False, asynchronous=True, **options
            )
            return await scattered
        finally:
            REPLAYING.reset(token)

    async def _drop_gone_workers(self, keys: list[Any], *places: dict[str, Any]) -> None:
        """Drop, from the "workers" entry of each of ``places`` (in place), the worker
        addresses no registered worker has (asking the scheduler once per replay)."""
        if not restricted_to_addresses(*(place.get("workers") for place in places)):
            return
        if self._alive is None or self._alive[0] != self._generation:
            try:
                info = await self._port.scheduler.identity(n_workers=-1)
            except OSError:  # another outage: the next replay decides again
                return
            self._alive = (self._generation, frozenset(info.get("workers", ())))
        for place in places:
            kept, gone = relax(place.get("workers"), self._alive[1])
            if not gone:
                continue
            if kept is None:
                place.pop("workers")
            else:
                place["workers"] = kept
            emit(
                "lineage.restriction_dropped",
                keys=[str(key) for key in keys],
                addresses=gone,
                reason="no worker has this address since the reconnect",
            )

    async def _watch_progress(self, keys: list[Any], generation: int) -> None:
        """Fail the replayed futures still waiting with ResubmissionFailed when, for
        resubmit_timeout, none of them finishes and the scheduler has no worker."""
        loop = asyncio.get_running_loop()
        timeout = self._options.resubmit_timeout
        deadline = loop.time() + timeout
        while generation == self._generation and self._monitor.still_connected():
            states = self._port.states()
            waiting = {k: st for k in keys if (st := states.get(k)) is not None}
            waiting = {k: st for k, st in waiting.items() if st.status == "pending"}
            if len(waiting) < len(keys) or await self._has_worker():
                return  # progress: some ran (or were released), or a worker runs them
            if loop.time() >= deadline:
                reason = (
                    f"none of the replayed work ran within resubmit_timeout={timeout:g} s, "
                    "and the scheduler has no worker"
                )
                self._port.release_on_scheduler(list(waiting))
                for key, state in waiting.items():
                    _compat.error_state(state, self._resubmission_failed([key], reason))
                emit("lineage.replay_stalled", address=self._port.address(), failed=len(waiting))
                return
            await asyncio.sleep(min(1.0, timeout / 10))

    async def _has_worker(self) -> bool:
        try:
            info = await self._port.scheduler.identity(n_workers=1)
        except OSError:
            return False
        return bool(info.get("workers"))

    def _replay_finished(self, report: ReplayReport) -> None:
        emit(
            "lineage.resubmitted",
            address=self._port.address(),
            replayed=len(report.replayed),
            skipped=len(report.skipped),
            failed=len(report.failed),
        )
        monitor = self._monitor
        monitor.publish(monitor.machine.resubmission_finished(f"lineage replayed: {report}"))

    def _fail_parked(self, keys: Iterable[Any], report: ReplayReport, reason: str) -> None:
        for key in list(keys):
            state = self.parked.pop(key, None)
            report.failed[key] = reason
            if state is not None:
                _compat.error_state(state, self._resubmission_failed([key], reason))

    # -- errors -----------------------------------------------------------------------------

    def _unavailable(self, key: Any, reason: str) -> LineageUnavailable:
        why = {
            SCATTERED: "it was scattered and no client-side copy was kept (scatter_policy='raise')",
            OPTED_OUT: "it was submitted with resubmit=False",
            "limit": "its recipe was dropped because the lineage store reached lineage_limit",
            "not-recorded": "the client has no recipe for it",
        }
        base = reason.split(" (", 1)[0] if reason.startswith("depends on") else reason
        text = why.get(base, reason)
        ctx = ErrorContext(
            scheduler=self._port.address(),
            keys=(str(key),),
            details=(("reason", reason if reason in why else _root_reason(reason)),),
        )
        return LineageUnavailable(
            ctx, f"{str(key)!r} cannot be recomputed after the outage: {text}."
        )

    def _resubmission_failed(self, keys: list[Any], reason: str) -> ResubmissionFailed:
        ctx = ErrorContext(
            scheduler=self._port.address(),
            keys=tuple(str(k) for k in keys),
            details=(("reason", reason),),
        )
        return ResubmissionFailed(ctx, f"The client reconnected but could not replay: {reason}.")


def _root_reason(reason: str) -> str:
    """The reason of the innermost dependency in 'depends on X (depends on Y (opted-out))'."""
    inner = reason
    while inner.startswith("depends on ") and "(" in inner:
        inner = inner[inner.index("(") + 1 : -1]
    return inner
