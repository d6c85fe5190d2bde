"""Watch a blocking call for a bounded time and say what it did.

What a plain ``distributed.Client`` user sees during a frozen scheduler is a
call that never returns. The demo cannot wait forever to show that, so the call
runs in a daemon thread and is *observed*: returned a value, raised an error, or
is still waiting after N seconds. Observing again later shows what became of it.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

Outcome = Literal["value", "error", "waiting"]


@dataclasses.dataclass(frozen=True)
class Observation:
    """What a watched call had done when it was looked at."""

    outcome: Outcome
    seconds: float  # how long the call ran, or has been waiting so far
    value: Any = None
    error: BaseException | None = None

    def describe(self) -> str:
        """One line for people: ``TypeName: message``, a value, or how long it waited."""
        if self.outcome == "error":
            return describe_error(self.error)
        if self.outcome == "waiting":
            return f"still waiting after {self.seconds:.1f} s"
        return f"returned {self.value!r} after {self.seconds:.1f} s"


#: A Dask key's token: the hexadecimal tail of ``finalize-1d74e4111c6645a9ae7978bd6ece90bb``.
_TOKEN = re.compile(r"\b([0-9a-f]{8})[0-9a-f]{16,}\b")


def describe_error(error: BaseException | None, max_lines: int = 2) -> str:
    """``TypeName: first lines of the message``, on one line, with key tokens shortened.

    Key tokens (32 hex digits) are cut to their first 8, as in ``finalize-1d74e411...``:
    the rest of the message is word for word what the error says.
    """
    if error is None:
        return "no error"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = _TOKEN.sub(r"\1...", " ".join(lines[:max_lines]))
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class WatchedCall:
    """A call running in a daemon thread; :meth:`observe` looks at it without stopping it."""

    def __init__(self, call: Callable[[], Any], name: str = "watched-call") -> None:
        self._call = call
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        self._finished_at: float | None = None
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # any outcome is what we report
            self._error = exc
        finally:
            self._finished_at = time.monotonic()
            self._done.set()

    def observe(self, within: float) -> Observation:
        """Wait until the call is done or ``within`` seconds after it started; report."""
        self._done.wait(max(0.0, self.started_at + within - time.monotonic()))
        if not self._done.is_set():
            return Observation("waiting", time.monotonic() - self.started_at)
        assert self._finished_at is not None
        seconds = self._finished_at - self.started_at
        if self._error is not None:
            return Observation("error", seconds, error=self._error)
        return Observation("value", seconds, value=self._value)
