"""Runtime counterpart of lint rule RD001: a task that returned a Future.

Since dask 2024.9 a Future created inside a task and returned from it refers to
data the cluster released when the task finished (dask/distributed#8854): it
arrives "not properly initialized" and can never be gathered. The client sees
it among the gathered results; this module finds it and builds the error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from distributed import Future

from resilient_dask.errors import ErrorContext, NestedFutureError


def _inner_futures(value: Any) -> list[Future[Any]]:
    """``value`` if it is a Future, or the Futures directly inside a list/tuple/set/dict."""
    if isinstance(value, Future):
        return [value]
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, Future)]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [v for v in value if isinstance(v, Future)]
    return []


def _pairs(requested: Any, delivered: Any) -> Iterator[tuple[Any, Any]]:
    """(task key, its value) for each Future in ``requested``, matched in ``delivered``."""
    if isinstance(requested, Future):
        yield requested.key, delivered
    elif isinstance(requested, dict) and isinstance(delivered, dict):
        for name, item in requested.items():
            if name in delivered:
                yield from _pairs(item, delivered[name])
    elif isinstance(requested, (list, tuple)) and isinstance(delivered, (list, tuple)):
        for item, value in zip(requested, delivered, strict=False):
            yield from _pairs(item, value)


def nested_future_error(
    requested: Any, delivered: Any, scheduler: str | None
) -> NestedFutureError | None:
    """The error for the first task in ``requested`` whose value holds a Future, if any."""
    for key, value in _pairs(requested, delivered):
        inner = _inner_futures(value)
        if inner:
            shown = ", ".join(repr(str(f.key)) for f in inner[:3])
            more = f" and {len(inner) - 3} more" if len(inner) > 3 else ""
            ctx = ErrorContext(
                scheduler=scheduler,
                keys=(str(key),),
                details=(("inner_keys", tuple(str(f.key) for f in inner)),),
            )
            return NestedFutureError(
                ctx,
                f"Task {str(key)!r} returned a Future ({shown}{more}) that it created itself; "
                "the cluster released that data when the task finished "
                "(dask/distributed#8854), so it can never be gathered.",
            )
    return None
