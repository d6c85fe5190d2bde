"""``rc.guard()``: translate errors raised anywhere inside a block (and retry it)."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


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


class RetryingGuard:
    """``rc.guard(retry=policy)``: re-run a block of Dask work on retryable failures.

    A context manager cannot run its block twice, so this is iterated, as
    tenacity's own ``Retrying`` is::

        for attempt in rc.guard(retry=retry.transient()):
            with attempt:
                ...                      # (``async for`` / ``with`` in async code)

    or used as a decorator of a function (sync or async) that is re-run whole.
    Errors are translated before the policy sees them. Before a new attempt
    after a failure, it waits (``ready``) until the client is connected again.
    """

    def __init__(
        self,
        translate: Callable[[BaseException], BaseException],
        policy: Any,
        ready: Callable[[], None],
        async_ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._guard = Guard(translate)
        self._policy = policy
        self._ready = ready
        self._async_ready = async_ready

    def __iter__(self) -> Iterator[_Attempt]:
        def sleep(seconds: float) -> None:
            self._policy.sleep(seconds)
            self._ready()

        for attempt in self._policy.retrying(sleep=sleep):
            yield _Attempt(attempt, self._guard)

    async def __aiter__(self) -> AsyncIterator[_Attempt]:
        async def sleep(seconds: float) -> None:
            await asyncio.sleep(seconds)
            await self._async_ready()

        async for attempt in self._policy.async_retrying(sleep=sleep):
            yield _Attempt(attempt, self._guard)

    def __call__(self, func: F) -> F:
        """Decorate ``func``: each call runs it under this guard, re-run on retryable errors."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async for attempt in self:
                    with attempt:
                        return await func(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for attempt in self:
                with attempt:
                    return func(*args, **kwargs)

        return cast(F, wrapper)

    def __enter__(self) -> None:
        raise TypeError(
            "rc.guard(retry=...) cannot be used as `with rc.guard(retry=...):` because a "
            "with-block cannot run twice. Write `for attempt in rc.guard(retry=...):` "
            "followed by `with attempt:` and the block, or decorate a function with "
            "@rc.guard(retry=...)."
        )

    def __exit__(self, *exc: object) -> None:  # pragma: no cover - __enter__ always raises
        return None


class _Attempt:
    """One attempt: errors leaving it are translated, then judged by the policy."""

    def __init__(self, attempt: Any, guard: Guard) -> None:
        self._attempt = attempt
        self._guard = guard

    @property
    def attempt_number(self) -> int:
        """1 for the first attempt, 2 for the first retry, ..."""
        return int(self._attempt.retry_state.attempt_number)

    def __enter__(self) -> _Attempt:
        self._attempt.__enter__()
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        if exc is not None and needs_translation(exc):
            typed = self._guard._translate(exc)
            if typed is not exc:
                typed.__cause__ = exc
                exc, typ, tb = typed, type(typed), None
        return bool(self._attempt.__exit__(typ, exc, tb))
