"""Waiting for a condition without bare sleep loops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _describe(predicate: Callable[[], object], message: str | None) -> str:
    return message or str(getattr(predicate, "__qualname__", None) or repr(predicate))


def poll_for(
    predicate: Callable[[], T],
    timeout: float,
    *,
    interval: float = 0.05,
    message: str | None = None,
) -> T:
    """Call ``predicate`` until it returns something truthy; return that.

    Raises ``TimeoutError`` naming the condition after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not true after {timeout} s: {_describe(predicate, message)}")
        time.sleep(interval)


async def async_poll_for(
    predicate: Callable[[], T],
    timeout: float,
    *,
    interval: float = 0.05,
    message: str | None = None,
) -> T:
    """:func:`poll_for` for coroutines: waits with ``asyncio.sleep``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not true after {timeout} s: {_describe(predicate, message)}")
        await asyncio.sleep(interval)
