"""``rc.guard()``: translate errors raised anywhere inside a block."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType


def needs_translation(exc: BaseException) -> bool:
    """Errors worth translating: not a plain task cancellation, not KeyboardInterrupt."""
    if type(exc) is asyncio.CancelledError:
        return False
    return isinstance(exc, (Exception, asyncio.CancelledError))


class Guard:
    """Sync and async context manager: errors leaving the block come out typed.

    Works for code that uses plain ``distributed.Future`` objects, ``wait``,
    ``as_completed`` or ``dask.compute`` too, because it translates the
    exception itself rather than wrapping the calls.
    """

    def __init__(self, translate: Callable[[BaseException], BaseException]) -> None:
        self._translate = translate

    def _exit(self, exc: BaseException | None) -> None:
        if exc is None or not needs_translation(exc):
            return
        typed = self._translate(exc)
        if typed is not exc:
            raise typed from exc

    def __enter__(self) -> Guard:
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(exc)

    async def __aenter__(self) -> Guard:
        return self

    async def __aexit__(
        self,
        typ: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(exc)
