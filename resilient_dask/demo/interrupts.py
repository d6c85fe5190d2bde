"""How the demo stops on Ctrl-C, SIGTERM or SIGHUP without leaving anything behind.

Inside :func:`signals_raise` the signals become exceptions in the main thread, so
that every cleanup callback runs. Inside :func:`held_interrupts` they wait until
the block ends: a client interrupted half-way through connecting exists but was
never returned, so nothing could close it, and at interpreter exit its
``__del__`` waits forever on an event loop that is already gone.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Interrupted(BaseException):
    """Raised in the main thread by SIGTERM or SIGHUP, so that cleanup runs as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Held:
    """Signals that arrived while a :func:`held_interrupts` block ran (main thread only)."""

    depth = 0
    pending: int | None = None


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt (as usual), SIGTERM and SIGHUP :class:`Interrupted`
    (by default they end Python without any cleanup). After the first signal further ones
    are ignored, so that a second Ctrl-C cannot cut the cleanup short."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    watched = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def stop(signum: int, frame: FrameType | None) -> None:
        for sig in watched:
            signal.signal(sig, signal.SIG_IGN)
        if _Held.depth:
            _Held.pending = signum
            return
        _raise_for(signum)

    previous = {sig: signal.signal(sig, stop) for sig in watched}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def held_interrupts() -> Iterator[None]:
    """Inside :func:`signals_raise`, hold a signal until the block ends, then raise it.

    For short steps that must not be cut in two, such as creating a client and
    registering its ``close``. Elsewhere (other threads, no handler set) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _Held.depth += 1
    try:
        yield
    finally:
        _Held.depth -= 1
        if not _Held.depth and _Held.pending is not None:
            signum, _Held.pending = _Held.pending, None
            _raise_for(signum)
