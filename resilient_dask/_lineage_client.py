"""Lineage replay for ResilientClient: record recipes, park futures, replay them.

With ``resubmit=True`` every future the client makes is recorded
(:mod:`resilient_dask._lineage`). When the connection drops, the client's
future states are *parked* instead of cancelled, so that ``result()`` keeps
waiting; once a scheduler answers again and has a worker, the recipes are sent
again in dependency order under the same keys, and the parked states are
registered again: the user's existing Future objects and persisted collections
work again. ``resubmit="manual"`` records but replays only on ``rc.resubmit()``.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from dask.base import annotate, get_annotations
from distributed import Client, Future

from resilient_dask import _compat
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
    strip_futures,
)
from resilient_dask._state_machine import ConnectionState
from resilient_dask.errors import ErrorContext, LineageUnavailable, ResubmissionFailed

#: submit() keywords that are options of the call, not arguments of the function.
SUBMIT_OPTIONS = frozenset(
    {"key", "workers", "resources", "retries", "priority", "fifo_timeout",
     "allow_other_workers", "actor", "actors", "pure"}
)  # fmt: skip
MAP_OPTIONS = SUBMIT_OPTIONS | {"batch_size"}


#: The client whose replay, or whose submit/map recording, the running code is part of.
#: Context variables, not client attributes: a replay runs in the client's event loop
#: while user threads (and, in asynchronous clients, other tasks) keep submitting, and
#: a flag on the client made their calls look like the replay's own, so they were not
#: recorded and raised LineageUnavailable after the next outage. Each thread and each
#: asyncio task sees only what its own code set.
_REPLAYING: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "resilient_dask_replaying", default=None
)
_RECORDING: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "resilient_dask_recording", default=None
)


def _is_future(value: Any) -> bool:
    return isinstance(value, Future)


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
    """Mixin of ResilientClient; ``_rd_init_lineage`` runs in its ``__init__``."""

    _rd_lineage: LineageStore | None
    _rd_parked: dict[Any, Any]
    _rd_replay_generation: int

    def _rd_init_lineage(self, resubmit: bool | str, limit_count: int | None) -> None:
        self._rd_lineage = LineageStore(limit_count) if resubmit else None
        self._rd_auto_replay = resubmit is True
        self._rd_parked = {}
        self._rd_replay_generation = 0
        self._rd_replay_task: asyncio.Task[Any] | None = None

    @property
    def _rd_replaying(self) -> bool:
        """Whether the running code is this client's replay sending recipes."""
        return _REPLAYING.get() is self

    # -- recording -------------------------------------------------------------------

    def submit(self, func: Any, *args: Any, resubmit: bool = True, **kwargs: Any) -> Any:
        store = self._rd_lineage
        if store is None or self._rd_replaying:
            return super().submit(func, *args, **kwargs)  # type: ignore[misc]
        if _replayable(resubmit, kwargs):
            options = {k: v for k, v in kwargs.items() if k in SUBMIT_OPTIONS and k != "key"}
            func_kwargs = {k: v for k, v in kwargs.items() if k not in SUBMIT_OPTIONS}
            deps: list[Any] = []
            recipe = CallRecipe(
                func,
                strip_futures(args, _is_future, deps),
                strip_futures(func_kwargs, _is_future, deps),
                _with_annotations(options),
                tuple(deps),
            )
            recording = _Recording(self, store, [recipe])
        else:
            recording = _Recording(self, store, None)
        with self._rd_recording(recording):
            future = super().submit(func, *args, **kwargs)  # type: ignore[misc]
        recording.finish([future.key])
        return future

    def map(self, func: Any, *iterables: Any, resubmit: bool = True, **kwargs: Any) -> Any:
        store = self._rd_lineage
        # Upstream's map with batch_size calls self.map once per batch: the batches
        # are recorded by the recording of the call that made them, which took their
        # recipes (or their opting out) from the user's arguments. An iterator is
        # refused by upstream; reading it here first would empty it.
        outer = _RECORDING.get()
        batch = isinstance(outer, _Recording) and outer.client is self
        iterators = any(isinstance(it, Iterator) for it in iterables)
        if store is None or self._rd_replaying or batch or iterators:
            return super().map(func, *iterables, **kwargs)  # type: ignore[misc]
        recipes = None
        if _replayable(resubmit, kwargs):
            options = _with_annotations(
                {k: v for k, v in kwargs.items() if k in SUBMIT_OPTIONS and k != "key"}
            )
            kw_deps: list[Any] = []
            func_kwargs = strip_futures(
                {k: v for k, v in kwargs.items() if k not in MAP_OPTIONS}, _is_future, kw_deps
            )
            recipes = []
            for items in zip(*iterables, strict=False):
                deps = list(kw_deps)
                args = strip_futures(tuple(items), _is_future, deps)
                recipes.append(CallRecipe(func, args, func_kwargs, options, tuple(deps)))
        recording = _Recording(self, store, recipes)
        with self._rd_recording(recording):
            futures = super().map(func, *iterables, **kwargs)  # type: ignore[misc]
        recording.finish([future.key for future in futures])
        return futures

    @contextmanager
    def _rd_recording(self, recording: _Recording) -> Iterator[None]:
        """While a submit/map runs, the graph it sends records its recipes, not its graph."""
        token = _RECORDING.set(recording)
        try:
            yield
        finally:
            _RECORDING.reset(token)

    def _rd_graph_sending(
        self, expr: Any, keys: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> list[Any]:
        """Record how ``keys`` are made, *before* their graph is sent; return the keys
        whose recipe this added.

        Before, not after: the scheduler may answer at once (refusing a graph whose
        inputs are being replayed, for instance), and the client's event loop decides
        from the recipes whether to replay what it refused, while the user's thread
        may not have got past the send yet.
        """
        store = self._rd_lineage
        if store is None:
            return []
        recording = _RECORDING.get()
        if isinstance(recording, _Recording) and recording.client is self:
            return recording.sent_as(list(keys))
        recipe = GraphRecipe(
            expr, tuple(keys), {"args": args, "kwargs": kwargs}, dict(get_annotations())
        )
        return [key for key in recipe.keys if store.add(key, recipe)]

    def _rd_graph_not_sent(self, added: list[Any]) -> None:
        """Sending failed (say, an argument does not pickle): forget what it recorded."""
        if self._rd_lineage is not None:
            for key in added:
                self._rd_lineage.release(key)

    def _rd_scattered(
        self, data: Any, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        store = self._rd_lineage
        if store is None or self._rd_replaying:
            return
        keep = self.options.scatter_policy == "keep"  # type: ignore[attr-defined]
        options = {"workers": kwargs.get("workers", args[0] if args else None)}
        for value, future in _pair_scattered(data, result):
            if keep:
                store.add(future.key, ScatterRecipe(value, options))
            else:
                store.mark_unavailable(future.key, SCATTERED)

    def _rd_key_released(self, key: Any) -> None:
        if self._rd_lineage is not None:
            self._rd_lineage.release(key)
        self._rd_parked.pop(key, None)

    # -- parking ------------------------------------------------------------------------

    def _rd_park(self, states: dict[Any, Any], failure: Any) -> None:
        """Keep the user's states for replay: pending (automatic) or failed (manual)."""
        for key, state in states.items():
            if self._rd_auto_replay:
                _compat.reset_state(state)
            else:
                _compat.cancel_state(state, failure(key))
            self._rd_parked[key] = state

    def _rd_will_replay(self, key: Any) -> bool:
        return self._rd_auto_replay and self._rd_lineage is not None and key in self._rd_parked

    # -- replay ---------------------------------------------------------------------------

    def resubmit(self, futures: Any = None) -> Any:
        """Replay the lineage of ``futures`` (default: every future lost in an outage).

        Returns a :class:`ReplayReport` (awaitable in asynchronous clients): the
        keys replayed, the keys skipped with the reason, and failures.
        """
        keys = None if futures is None else [f.key for f in _compat.iter_futures(futures)]
        return self.sync(self._rd_replay, keys, False)  # type: ignore[attr-defined]

    def _rd_start_replay(self) -> None:
        self._rd_replay_task = asyncio.ensure_future(self._rd_replay(None, True))

    async def _rd_replay(self, keys: list[Any] | None, automatic: bool) -> ReplayReport:
        report = ReplayReport()
        store = self._rd_lineage
        self._rd_replay_generation += 1
        generation = self._rd_replay_generation
        targets = list(self._rd_parked) if keys is None else list(keys)
        if store is None:
            report.skipped = {k: "the client records no lineage (resubmit=False)" for k in targets}
            return report
        lost = [k for k in targets if k in self._rd_parked]
        report.skipped.update({k: "not lost" for k in targets if k not in self._rd_parked})
        if not await self._rd_wait_for_workers(generation):
            if generation == self._rd_replay_generation and self._rd_still_connected():
                self._rd_fail_parked(lost, report)
                self._rd_replay_finished(report, automatic)
            return report
        made: list[Any] = []  # temporary Futures that keep replayed dependencies alive
        while lost:
            if not await self._rd_replay_round(lost, store, generation, report, made):
                return report  # another outage: the next reconnect replays what is parked
            # Work refused for lost dependencies while this round ran was parked
            # meanwhile: replay it too, after what it depends on.
            tried = set(lost)
            stuck = [k for k in self._rd_parked if k in tried]  # never expected; never hang
            self._rd_fail_parked(stuck, report, "it could not be scheduled for replay")
            lost = list(self._rd_parked) if automatic else []
        del made
        self._rd_replay_finished(report, automatic)
        return report

    async def _rd_replay_round(
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
            if generation != self._rd_replay_generation or not self._rd_still_connected():
                return False
            try:
                made.append(await self._rd_send(batch))
            except Exception as exc:  # reported per key, and raised by the futures
                for key in batch.keys:
                    report.failed[key] = repr(exc)
                    state = self._rd_parked.pop(key, None)
                    if state is not None:
                        _compat.error_state(state, self._rd_resubmission_failed([key], repr(exc)))
                continue
            for key in batch.keys:
                state = self._rd_parked.pop(key, None)
                if state is not None:
                    _compat.register_state(self, key, state)  # type: ignore[arg-type]
                report.replayed.append(key)
        for key, reason in plan.skipped.items():
            state = self._rd_parked.pop(key, None)
            report.skipped[key] = reason
            if state is not None:
                _compat.error_state(state, self._rd_unavailable(key, reason))
        return True

    async def _rd_send(self, batch: Batch) -> Any:
        """Send one batch of recipes again, under the original keys."""
        client = cast(Client, self)
        recipe = batch.recipes[0]
        token = _REPLAYING.set(self)
        try:
            if type(recipe) is CallRecipe:
                options = dict(recipe.options)
                annotations = options.pop("annotations", None) or {}
                kwargs = restore_futures(recipe.kwargs, self._rd_future)
                with annotate(**annotations):
                    if len(batch.recipes) == 1:
                        args = restore_futures(recipe.args, self._rd_future)
                        return Client.submit(
                            client, recipe.func, *args, key=batch.keys[0], **options, **kwargs
                        )
                    rows = [restore_futures(r.args, self._rd_future) for r in batch.recipes]  # type: ignore[union-attr]
                    return Client.map(
                        client, recipe.func, *zip(*rows, strict=True), key=batch.keys,
                        **options, **kwargs,
                    )  # fmt: skip
            if type(recipe) is GraphRecipe:
                with annotate(**recipe.annotations):
                    return _compat.send_graph(client, recipe.expr, recipe.keys, recipe.call)
            assert type(recipe) is ScatterRecipe
            scattered = Client.scatter(
                client, {batch.keys[0]: recipe.value}, hash=False, asynchronous=True,
                **recipe.options,
            )  # fmt: skip
            return await scattered
        finally:
            _REPLAYING.reset(token)

    def _rd_future(self, key: Any) -> Future[Any]:
        return Future(key, cast(Client, self))

    async def _rd_wait_for_workers(self, generation: int) -> bool:
        """Wait until the scheduler has a worker, within resubmit_timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.resubmit_timeout  # type: ignore[attr-defined]
        while generation == self._rd_replay_generation and self._rd_still_connected():
            try:
                info = await self.scheduler.identity(n_workers=1)  # type: ignore[attr-defined]
                if info.get("workers"):
                    return True
            except OSError:
                pass
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.1)
        return False

    def _rd_still_connected(self) -> bool:
        return self.status == "running" and self._rd_machine.state in (  # type: ignore[attr-defined]
            ConnectionState.RESUBMITTING,
            ConnectionState.CONNECTED,
            ConnectionState.UNRESPONSIVE,
        )

    def _rd_replay_finished(self, report: ReplayReport, automatic: bool) -> None:
        emit(
            "lineage.resubmitted",
            address=self._rd_address(),  # type: ignore[attr-defined]
            replayed=len(report.replayed),
            skipped=len(report.skipped),
            failed=len(report.failed),
        )
        self._rd_publish(  # type: ignore[attr-defined]
            self._rd_machine.resubmission_finished(f"lineage replayed: {report}")  # type: ignore[attr-defined]
        )

    def _rd_fail_parked(
        self, keys: Iterable[Any], report: ReplayReport, reason: str | None = None
    ) -> None:
        timeout = self.options.resubmit_timeout  # type: ignore[attr-defined]
        reason = reason or f"no worker joined the scheduler within resubmit_timeout={timeout:g} s"
        for key in list(keys):
            state = self._rd_parked.pop(key, None)
            report.failed[key] = reason
            if state is not None:
                _compat.error_state(state, self._rd_resubmission_failed([key], reason))

    def _rd_unavailable(self, key: Any, reason: str) -> LineageUnavailable:
        why = {
            SCATTERED: "it was scattered and no client-side copy was kept (scatter_policy='raise')",
            OPTED_OUT: "it was submitted with resubmit=False",
            "limit": "its recipe was dropped because the lineage store reached lineage_limit",
            "not-recorded": "the client has no recipe for it",
        }
        base = reason.split(" (", 1)[0] if reason.startswith("depends on") else reason
        text = why.get(base, reason)
        ctx = ErrorContext(
            scheduler=self._rd_address(),  # type: ignore[attr-defined]
            keys=(str(key),),
            details=(("reason", reason if reason in why else _root_reason(reason)),),
        )
        return LineageUnavailable(
            ctx, f"{str(key)!r} cannot be recomputed after the outage: {text}."
        )

    def _rd_resubmission_failed(self, keys: list[Any], reason: str) -> ResubmissionFailed:
        ctx = ErrorContext(
            scheduler=self._rd_address(),  # type: ignore[attr-defined]
            keys=tuple(str(k) for k in keys),
            details=(("reason", reason),),
        )
        return ResubmissionFailed(ctx, f"The client reconnected but could not replay: {reason}.")


@dataclasses.dataclass
class _Recording:
    """The recipes of one submit/map, recorded when the graph of that call is sent.

    ``recipes`` are in the order of the call's keys (None: opted out of replay).
    A map with ``batch_size`` sends several graphs: each takes the next recipes.
    """

    client: object
    store: LineageStore
    recipes: list[CallRecipe] | None
    #: How many of the call's keys have been recorded, in the call's order.
    recorded: int = 0

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


def _replayable(resubmit: bool, kwargs: dict[str, Any]) -> bool:
    """Whether a submit/map call may be replayed (not opted out, not an actor)."""
    return resubmit and not kwargs.get("actor") and not kwargs.get("actors")


def _root_reason(reason: str) -> str:
    """The reason of the innermost dependency in 'depends on X (depends on Y (opted-out))'."""
    inner = reason
    while inner.startswith("depends on ") and "(" in inner:
        inner = inner[inner.index("(") + 1 : -1]
    return inner


def _with_annotations(options: dict[str, Any]) -> dict[str, Any]:
    annotations = get_annotations()
    return {**options, "annotations": dict(annotations)} if annotations else options


def _pair_scattered(data: Any, result: Any) -> Iterable[tuple[Any, Any]]:
    if isinstance(result, Future):
        yield data, result
    elif isinstance(result, dict) and isinstance(data, dict):
        for name, future in result.items():
            yield data[name], future
    elif isinstance(result, (list, tuple)) and isinstance(data, (list, tuple, set, frozenset)):
        yield from zip(data, result, strict=False)
