"""Blocking calls of a ResilientClient: typed errors, the unresponsive cut-off, outages.

Every call a user blocks on (``result``, ``gather``, ``compute(sync=True)``,
``dask.compute``, ...) runs through ``Client.sync``; :class:`BlockingCalls`
overrides it once, so that each such call

* raises ``SchedulerUnresponsive`` once the scheduler has been silent for
  ``unresponsive_timeout``, instead of waiting forever;
* waits, when it asks for futures parked for lineage replay, until they are
  replayed;
* is called again, when an outage cut it short while it asked for futures that
  are now parked for replay (a ``gather`` whose RPC to the scheduler broke, or
  that was waiting for one future while the outage parked another);
* raises distributed's errors translated into resilient_dask's.

A call that fails on a closed comm while the monitor still says CONNECTED (a cut
connection resets every socket at once, and the report stream may notice a
moment after the call's own RPC) waits up to one heartbeat for the monitor to
see the outage, so that it is told as ``SchedulerConnectionLost``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from distributed import Future

from resilient_dask import _compat
from resilient_dask._guard import needs_translation
from resilient_dask._nested import nested_future_error
from resilient_dask._translate import closed_comm
from resilient_dask.errors import ErrorContext, ResilientDaskError, SchedulerUnresponsive

#: Client coroutines that must never be cut short by the unresponsive timeout.
_UNGUARDED = frozenset({"_close", "_start", "_shutdown"})

#: How many outages in a row one blocking call waits through before it raises.
MAX_CALLS_THROUGH_OUTAGES = 10


class BlockingCalls:
    """``Client.sync`` with typed errors, the unresponsive cut-off and outage handling.

    A mixin of ResilientClient; the ``_rd_*`` attributes it uses are the client's.
    """

    _rd_machine: Any
    _rd_parked: dict[Any, Any]
    _rd_expiry: asyncio.Future[None] | None
    _rd_transition: asyncio.Future[None] | None

    def sync(
        self,
        func: Callable[..., Awaitable[Any]],
        *args: Any,
        asynchronous: bool | None = None,
        callback_timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Run ``func`` like ``distributed.Client.sync``, with typed errors and the
        unresponsive-scheduler cut-off."""
        if getattr(func, "__name__", "") in _UNGUARDED:
            return super().sync(  # type: ignore[misc]
                func, *args, asynchronous=asynchronous, callback_timeout=callback_timeout, **kwargs
            )
        guarded = functools.partial(self._rd_guarded, func, args, kwargs)
        return super().sync(  # type: ignore[misc]
            guarded, asynchronous=asynchronous, callback_timeout=callback_timeout
        )

    async def _rd_guarded(
        self, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        for attempt in range(MAX_CALLS_THROUGH_OUTAGES + 1):
            mark = len(self._rd_machine.history)
            try:
                return await self._rd_call_once(func, args, kwargs)
            except BaseException as exc:
                if not needs_translation(exc):
                    raise
                if attempt < MAX_CALLS_THROUGH_OUTAGES and await self._rd_cut_short(exc, mark):
                    if self._rd_replays(func, args):
                        continue  # parked for replay: wait for it and ask again
                typed = self._rd_typed(exc, func, args)
                if typed is exc:
                    raise
                raise typed from (None if isinstance(exc, ResilientDaskError) else exc)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _rd_call_once(
        self, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if self._rd_machine.unresponsive_expired():
            raise self._rd_unresponsive_error()
        expiry = self._rd_expiry_future()
        if self._rd_parked:
            await self._rd_wait_for_replay(func, args)
        task = asyncio.ensure_future(func(*args, **kwargs))
        try:
            await asyncio.wait((task, expiry), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not task.done():
            task.cancel()
            raise self._rd_unresponsive_error()
        result = task.result()
        requested = _compat.delivered_request(func, args)
        if requested is not None:
            nested = nested_future_error(requested, result, self._rd_address())  # type: ignore[attr-defined]
            if nested is not None:
                raise nested
        return result

    def _rd_typed(
        self, exc: BaseException, func: Callable[..., Any], args: tuple[Any, ...]
    ) -> BaseException:
        """``exc`` as the typed error to raise, with the failed task's story attached."""
        keys = _involved_keys(func, args)
        typed: BaseException = self.translate_error(exc, keys)  # type: ignore[attr-defined]
        self._rd_decorate_error(typed, keys)  # type: ignore[attr-defined]
        return typed if typed is exc else typed.with_traceback(None)

    # -- outages ------------------------------------------------------------------

    async def _rd_outage_since(self, mark: int) -> bool:
        """Whether the scheduler connection dropped since history entry ``mark``,
        waiting up to one heartbeat (interval + timeout) for the monitor to see it."""
        options = self.options  # type: ignore[attr-defined]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + options.heartbeat_interval + options.heartbeat_timeout
        while not self._rd_machine.dropped_since(mark):
            remaining = deadline - loop.time()
            if remaining <= 0 or self.status != "running":  # type: ignore[attr-defined]
                return False
            try:
                await asyncio.wait_for(asyncio.shield(self._rd_transition_future()), remaining)
            except TimeoutError:
                return False
        return True

    async def _rd_cut_short(self, exc: BaseException, mark: int) -> bool:
        """Whether an outage since history entry ``mark`` cut the call short.

        Either its own RPC broke (a closed comm), or the outage parked futures it was
        reading: distributed's gather then finds them in none of its tables and fails
        with whatever it finds there (an ``AttributeError`` on the missing exception
        of a future that had finished; the chaos soak found that). Our own errors
        (``SchedulerUnresponsive``: the call waited as long as it was allowed to) are
        answers, not accidents of the outage.
        """
        if isinstance(exc, ResilientDaskError):
            return False
        if self._rd_machine.dropped_since(mark):
            return True
        return closed_comm(exc) and await self._rd_outage_since(mark)

    def _rd_replays(self, func: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        """Whether the futures ``func`` asks for are parked for automatic replay."""
        requested = _compat.delivered_request(func, args)
        if requested is None:
            return False
        return any(self._rd_will_replay(f.key) for f in _compat.iter_futures(requested))  # type: ignore[attr-defined]

    def _rd_transition_future(self) -> asyncio.Future[None]:
        """A future that resolves at the next connection transition."""
        if self._rd_transition is None or self._rd_transition.done():
            self._rd_transition = asyncio.get_running_loop().create_future()
        return self._rd_transition

    def _rd_transitioned(self) -> None:
        """Wake calls waiting for a transition (runs in the event loop)."""
        if self._rd_transition is not None and not self._rd_transition.done():
            self._rd_transition.set_result(None)

    # -- replay and the unresponsive cut-off -------------------------------------

    async def _rd_wait_for_replay(self, func: Any, args: tuple[Any, ...]) -> None:
        """A gather of futures parked for replay waits until they are replayed."""
        requested = _compat.delivered_request(func, args)
        if requested is None:
            return
        parked = [
            state
            for f in _compat.iter_futures(requested)
            if (state := self._rd_parked.get(f.key)) is not None
        ]
        if parked:
            await asyncio.gather(*(state.wait() for state in parked))

    def _rd_expiry_future(self) -> asyncio.Future[None]:
        """The future that resolves when the current unresponsive period runs out."""
        if self._rd_expiry is None or self._rd_expiry.done():
            self._rd_expiry = asyncio.get_running_loop().create_future()
        return self._rd_expiry

    def _rd_unresponsive_error(self) -> SchedulerUnresponsive:
        machine = self._rd_machine
        situation = self._rd_situation()  # type: ignore[attr-defined]
        ctx = ErrorContext(
            scheduler=situation.scheduler,
            happened_at=machine.history[-1].time if machine.history else None,
            state=situation.state,
            reconnected=False,
            details=(
                ("silent_for", machine.silent_for()),
                ("unresponsive_timeout", machine.unresponsive_timeout),
            ),
        )
        return SchedulerUnresponsive(ctx)


def _involved_keys(func: Callable[..., Any], args: tuple[Any, ...]) -> list[Any] | None:
    """The keys of the futures a failing call was about that an outage cancelled."""
    owner = getattr(func, "__self__", None)
    futures = [owner] if isinstance(owner, Future) else []
    if args and not futures:
        futures = list(_compat.iter_futures(args[0]))
    keys: list[Any] = []
    for future in futures:
        state = _compat.future_state(future)
        if state is not None and isinstance(state.exception, ResilientDaskError):
            keys.append(future.key)
    return list(dict.fromkeys(keys)) or None

