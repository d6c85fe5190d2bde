"""Blocking calls of a ResilientClient: typed errors, the unresponsive cut-off, outages.

Every call a user blocks on (``result``, ``gather``, ``compute(sync=True)``,
``dask.compute``, ...) runs through ``Client.sync``; the hooks hand each to
:meth:`BlockingCalls.call`, so that each such call

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
moment after the call's own RPC) waits up to one probe for the monitor to
see the outage, so that it is told as ``SchedulerConnectionLost``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from distributed import Future

from resilient_dask import _compat
from resilient_dask._compat.port import ClientPort
from resilient_dask._future import ResilientFuture
from resilient_dask._guard import needs_translation
from resilient_dask._lineage_service import Lineage
from resilient_dask._monitor import ConnectionMonitor
from resilient_dask._nested import nested_future_error
from resilient_dask._outages import Outages
from resilient_dask._tracebacks import hide_own_frames
from resilient_dask._translate import closed_comm
from resilient_dask.errors import ResilientDaskError

#: How many outages in a row one blocking call waits through before it raises.
MAX_CALLS_THROUGH_OUTAGES = 10

#: Attaches what is known about the failed tasks (their stories) to an error raised
#: or returned, waiting for a story still being captured.
Decorate = Callable[[BaseException, Sequence[Any] | None], Awaitable[None]]


class BlockingCalls:
    """Runs the client's blocking calls: typed errors, the cut-off, outage handling."""

    def __init__(
        self,
        port: ClientPort,
        monitor: ConnectionMonitor,
        outages: Outages,
        lineage: Lineage,
        decorate: Decorate,
    ) -> None:
        self._port = port
        self._monitor = monitor
        self._outages = outages
        self._lineage = lineage
        self._decorate = decorate

    async def call(
        self, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Run ``func(*args, **kwargs)``: its result, or its error typed."""
        for attempt in range(MAX_CALLS_THROUGH_OUTAGES + 1):
            mark = len(self._monitor.machine.history)
            try:
                result = await self._call_once(func, args, kwargs)
            except BaseException as exc:
                if not needs_translation(exc):
                    raise
                if attempt < MAX_CALLS_THROUGH_OUTAGES and await self._cut_short(exc, mark):
                    if self._replays(func, args):
                        continue  # parked for replay: wait for it and ask again
                typed = await self._typed(exc, func, args)
                if typed is exc:
                    hide_own_frames(exc)
                    raise
                raise typed from (None if isinstance(exc, ResilientDaskError) else exc)
            if isinstance(result, BaseException):
                asked = _exception_request(func)
                if asked is not None:
                    await self._decorate(result, [asked.key])  # exception() returns it
            return result
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _call_once(
        self, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        monitor = self._monitor
        if monitor.unresponsive_expired():
            raise monitor.unresponsive_error()
        if _answered_here(func):
            return await func(*args, **kwargs)  # nothing to wait for: no cut-off needed
        expiry = monitor.expiry_future()
        requested = _compat.delivered_request(func, args)
        if requested is not None and self._lineage.parked:
            await self._lineage.wait_for_replay(f.key for f in _compat.iter_futures(requested))
        task = asyncio.ensure_future(func(*args, **kwargs))
        try:
            await asyncio.wait((task, expiry), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not task.done():
            task.cancel()
            raise monitor.unresponsive_error()
        result = task.result()
        if requested is not None:
            nested = nested_future_error(requested, result, self._port.address())
            if nested is not None:
                raise nested
        return result

    async def _typed(
        self, exc: BaseException, func: Callable[..., Any], args: tuple[Any, ...]
    ) -> BaseException:
        """``exc`` as the typed error to raise, with the failed task's story attached."""
        keys = _involved_keys(func, args)
        typed = self._outages.translate(exc, keys)
        await self._decorate(typed, keys or _raising_key(func, args, exc))
        return typed if typed is exc else typed.with_traceback(None)

    async def _cut_short(self, exc: BaseException, mark: int) -> bool:
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
        if self._monitor.machine.dropped_since(mark):
            return True
        return closed_comm(exc) and await self._monitor.outage_since(mark)

    def _replays(self, func: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        """Whether the futures ``func`` asks for are parked for automatic replay."""
        requested = _compat.delivered_request(func, args)
        if requested is None:
            return False
        return any(self._lineage.will_replay(f.key) for f in _compat.iter_futures(requested))


def _involved_keys(func: Callable[..., Any], args: tuple[Any, ...]) -> list[Any] | None:
    """The keys of the futures a failing call was about that an outage cancelled."""
    keys: list[Any] = []
    for future in _requested_futures(func, args):
        state = _compat.future_state(future)
        if state is not None and isinstance(state.exception, ResilientDaskError):
            keys.append(future.key)
    return list(dict.fromkeys(keys)) or None


def _exception_request(func: Callable[..., Any]) -> Future[Any] | None:
    """The future whose ``exception()`` ``func`` is (distributed's, or ResilientFuture's)."""
    if getattr(func, "__func__", None) is ResilientFuture._typed_exception:
        owner: Future[Any] = func.__self__  # type: ignore[attr-defined]
        return owner
    return _compat.exception_request(func)  # type: ignore[no-any-return]


def _answered_here(func: Callable[..., Any]) -> bool:
    """Whether ``func`` is the ``exception()`` of a future that is done: the answer is in
    the client already (reading it asks nobody), so it needs no task and no cut-off."""
    asked = _exception_request(func)
    if asked is None:
        return False
    state = _compat.future_state(asked)
    return state is not None and state.done()


def _requested_futures(func: Callable[..., Any], args: tuple[Any, ...]) -> Iterable[Future[Any]]:
    owner = getattr(func, "__self__", None)
    if isinstance(owner, Future):
        return [owner]
    return _compat.iter_futures(args[0]) if args else []


def _raising_key(
    func: Callable[..., Any], args: tuple[Any, ...], exc: BaseException
) -> list[Any] | None:
    """The key of the requested future whose task's error ``exc`` is (result() and
    gather() raise the very object of the future's state)."""
    for future in _requested_futures(func, args):
        state = _compat.future_state(future)
        if state is not None and state.exception is exc:
            return [future.key]
    return None
