"""How the demo stops on Ctrl-C, SIGTERM or SIGHUP without leaving anything behind.

Inside :func:`signals_raise` the signals become exceptions in the main thread, so
that every cleanup callback runs (one that Python swallows, because it landed in a
weakref callback or a ``__del__``, is delivered again). Inside
:func:`held_interrupts` they wait until the block ends: a client interrupted
half-way through connecting exists but was never returned, so nothing could close
it, and at interpreter exit its ``__del__`` waits forever on an event loop that is
already gone.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any


class Interrupted(BaseException):
    """Raised in the main thread by SIGTERM or SIGHUP, so that cleanup runs as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Held:
    """Signals that arrived while a :func:`held_interrupts` block ran (main thread only)."""

    depth = 0
    pending: int | None = None
    #: The exception a signal raised last, to know it again if Python swallows it.
    raised: BaseException | None = None


def _raise_for(signum: int) -> None:
    error: BaseException = KeyboardInterrupt() if signum == signal.SIGINT else Interrupted(signum)
    _Held.raised = error
    raise error


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

    previous_hook = sys.unraisablehook

    def swallowed(unraisable: Any) -> None:
        # A signal that lands while Python runs a weakref callback or a __del__ raises
        # there, and Python only prints that exception: deliver the signal once more,
        # a moment later, when the main thread runs ordinary code again.
        error = unraisable.exc_value
        if error is None or error is not _Held.raised:
            previous_hook(unraisable)
            return
        signum = error.signum if isinstance(error, Interrupted) else signal.SIGINT
        signal.signal(signum, stop)
        main = threading.main_thread().ident
        assert main is not None
        threading.Timer(0.05, signal.pthread_kill, (main, signum)).start()

    previous = {sig: signal.signal(sig, stop) for sig in watched}
    sys.unraisablehook = swallowed
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        _Held.raised = None  # its traceback holds the frames it passed through
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
