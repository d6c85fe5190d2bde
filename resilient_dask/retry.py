"""Retry policies for Dask work, built on tenacity.

A :class:`RetryPolicy` is a small bundle of tenacity strategies (which errors
to retry, when to stop, how long to wait). Use one in three places::

    from resilient_dask import retry

    # 1. a block of Dask work, re-run as a whole (the tenacity idiom)
    for attempt in rc.guard(retry=retry.transient()):
        with attempt:
            total = rc.compute(x.sum()).result()

    # 2. a function, re-run as a whole
    @retry.transient()
    def job() -> int: ...

    # 3. one task: resubmitted (fresh failure count) when its worker dies
    future = rc.submit(func, 1, retry=retry.transient())

:func:`transient` retries only failures of the cluster (a lost connection, an
unresponsive scheduler, workers that died); an exception raised by your own
code is never retried. :func:`on_exceptions` retries the exception types you
name. Both take ``sleep=`` so that tests need not really sleep.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import tenacity
from dask.utils import parse_timedelta

from resilient_dask.errors import (
    SchedulerConnectionLost,
    SchedulerUnresponsive,
    WorkerLost,
)

__all__ = ["TRANSIENT_ERRORS", "RetryPolicy", "on_exceptions", "transient"]

F = TypeVar("F", bound=Callable[..., Any])

#: What :func:`transient` retries: failures of the cluster, never of user code.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    SchedulerConnectionLost,
    SchedulerUnresponsive,
    WorkerLost,
)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Which errors to retry, when to stop and how long to wait between attempts.

    The fields are tenacity strategies; :meth:`retrying` builds a fresh
    ``tenacity.Retrying`` from them, so one policy can be used any number of
    times, concurrently.
    """

    retry: tenacity.retry_base
    stop: tenacity.stop.stop_base
    wait: tenacity.wait.wait_base
    sleep: Callable[[float], None] = time.sleep
    #: A short description for events and ``repr``.
    name: str = "custom"

    def retrying(self, **overrides: Any) -> tenacity.Retrying:
        """A ``tenacity.Retrying`` that follows this policy (and re-raises the last error)."""
        kwargs: dict[str, Any] = {
            "retry": self.retry,
            "stop": self.stop,
            "wait": self.wait,
            "sleep": self.sleep,
            "reraise": True,
        }
        kwargs.update(overrides)
        return tenacity.Retrying(**kwargs)

    def async_retrying(self, **overrides: Any) -> tenacity.AsyncRetrying:
        """A ``tenacity.AsyncRetrying`` that follows this policy."""
        kwargs: dict[str, Any] = {
            "retry": self.retry,
            "stop": self.stop,
            "wait": self.wait,
            "reraise": True,
        }
        kwargs.update(overrides)
        return tenacity.AsyncRetrying(**kwargs)

    def should_retry(self, error: BaseException, attempt: int, elapsed: float) -> float | None:
        """The delay before attempt ``attempt + 1`` after ``error``, or None to give up.

        For callers that retry by themselves (the per-task ``retry=`` of submit).
        """
        state = tenacity.RetryCallState(self.retrying(), fn=None, args=(), kwargs={})
        state.attempt_number = attempt
        state.outcome_timestamp = state.start_time + elapsed
        outcome: Any = tenacity.Future(attempt)
        outcome.set_exception(error)
        state.outcome = outcome
        if not self.retry(state) or self.stop(state):
            return None
        return float(self.wait(state))

    def __call__(self, func: F) -> F:
        """Use the policy as a decorator: the whole function is re-run on a retryable error."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async for attempt in self.async_retrying():
                    with attempt:
                        return await func(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for attempt in self.retrying():
                with attempt:
                    return func(*args, **kwargs)

        return cast(F, wrapper)

    def __repr__(self) -> str:
        return f"<RetryPolicy {self.name}>"


def check_policy(value: Any, call: str) -> RetryPolicy | None:
    """``value`` if it is a :class:`RetryPolicy` or None; else a ``TypeError`` saying what
    ``retry=`` takes (and, for a number, that distributed's count is ``retries=``).

    ``call`` names the call for the message: ``"submit"``, ``"map"``, ``"compute"``, ``"guard"``.
    (For the client's methods; not part of the public API.)
    """
    if value is None or isinstance(value, RetryPolicy):
        return value
    message = (
        f"{call}(retry={value!r}): retry= takes a RetryPolicy, such as "
        "resilient_dask.retry.transient() or retry.on_exceptions(...), not "
        f"{type(value).__name__} {value!r}."
    )
    if isinstance(value, int) and not isinstance(value, bool):
        message += (
            f" To let the scheduler re-run a failing task {value} more times, use "
            f"distributed's retries={value}."
        )
    raise TypeError(message)


def _seconds(value: str | float) -> float:
    seconds = parse_timedelta(value, default="s")
    if seconds is None or seconds < 0:
        raise ValueError(f"expected a non-negative duration, got {value!r}")
    return float(seconds)


def _policy(
    retry: tenacity.retry_base,
    name: str,
    attempts: int,
    timeout: str | float | None,
    initial: str | float,
    maximum: str | float,
    jitter: str | float,
    sleep: Callable[[float], None] | None,
) -> RetryPolicy:
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts!r}")
    stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(attempts)
    if timeout is not None:
        stop = stop | tenacity.stop_after_delay(_seconds(timeout))
    wait = tenacity.wait_exponential(
        multiplier=_seconds(initial), max=_seconds(maximum)
    ) + tenacity.wait_random(0, _seconds(jitter))
    return RetryPolicy(retry=retry, stop=stop, wait=wait, sleep=sleep or time.sleep, name=name)


def transient(
    *,
    attempts: int = 5,
    timeout: str | float | None = "10 minutes",
    initial: str | float = "1s",
    maximum: str | float = "30s",
    jitter: str | float = "1s",
    sleep: Callable[[float], None] | None = None,
) -> RetryPolicy:
    """Retry on cluster failures only: connection loss, unresponsive scheduler, dead workers.

    Up to ``attempts`` attempts in all, and no new attempt once ``timeout`` has passed
    since the first; exponential backoff from ``initial`` up to ``maximum``, plus
    random jitter of up to ``jitter``. Exceptions raised by user code are never retried.
    """
    return _policy(
        tenacity.retry_if_exception_type(TRANSIENT_ERRORS),
        "transient",
        attempts,
        timeout,
        initial,
        maximum,
        jitter,
        sleep,
    )


def on_exceptions(
    *types: type[BaseException],
    attempts: int = 3,
    timeout: str | float | None = None,
    initial: str | float = "1s",
    maximum: str | float = "30s",
    jitter: str | float = "1s",
    sleep: Callable[[float], None] | None = None,
) -> RetryPolicy:
    """Retry when one of ``types`` is raised (the typed errors, or your own exceptions)."""
    if not types or not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
        raise TypeError("on_exceptions() takes one or more exception classes")
    names = ", ".join(t.__name__ for t in types)
    return _policy(
        tenacity.retry_if_exception_type(types),
        f"on_exceptions({names})",
        attempts,
        timeout,
        initial,
        maximum,
        jitter,
        sleep,
    )
