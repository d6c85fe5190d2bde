"""ResilientFuture: the Future class of a ResilientClient."""

from __future__ import annotations

from typing import Any

from distributed import Future

from resilient_dask import _compat
from resilient_dask.errors import ResilientDaskError

__all__ = ["ResilientFuture"]


class ResilientFuture(Future):  # type: ignore[type-arg]
    """A ``distributed.Future`` of a :class:`~resilient_dask.ResilientClient`.

    Behaves exactly like its base class, except that ``exception()`` raises the
    typed cancellation (for example :class:`SchedulerConnectionLost`) of a future
    cancelled by an outage, as ``concurrent.futures.Future.exception()`` raises
    for cancelled futures, instead of returning ``None``.
    """

    def exception(self, timeout: Any = None, **kwargs: Any) -> Any:
        return self.client.sync(self._typed_exception, callback_timeout=timeout, **kwargs)

    async def _typed_exception(self) -> BaseException | None:
        state = _compat.future_state(self)
        assert state is not None
        await state.wait()
        if state.status == "error":
            return state.exception
        if state.status == "cancelled" and isinstance(state.exception, ResilientDaskError):
            raise state.exception
        return None


def adopt(obj: Any) -> Any:
    """Make the distributed Futures in ``obj`` ResilientFutures, in place; returns ``obj``."""
    return _compat.adopt(obj, ResilientFuture)
