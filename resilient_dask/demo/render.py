"""What the demo prints: progress while it runs, then a side-by-side summary.

Progress has three modes. ``live`` (a terminal): step lines plus one status line
that redraws itself in place (elapsed time, results on the cluster). ``lines``
(a pipe or a log file): the same step lines and nothing else, so that no carriage
return or escape sequence ends up in a log. ``quiet``: nothing; only the summary.
"""

from __future__ import annotations

import dataclasses
import itertools
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, TextIO

from resilient_dask.demo.verify import Mismatch

Mode = Literal["live", "lines", "quiet"]

#: Clears the terminal line the cursor is on and returns to its start.
_CLEAR_LINE = "\r\x1b[2K"
_SPINNER = "|/-\\"


class Progress:
    """Step lines, and on a terminal one status line kept at the bottom."""

    def __init__(
        self,
        stream: TextIO,
        mode: Mode,
        *,
        clock: Callable[[], float] = time.monotonic,
        redraw_every: float = 0.1,
        width: int = 80,
    ) -> None:
        self.stream = stream
        self.mode = mode
        self.width = width  # the status line is cut to fit: a wrapped one cannot be redrawn
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._status: Callable[[], str] | None = None
        self._spinner = itertools.cycle(_SPINNER)
        self._status_shown = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if mode == "live" and redraw_every > 0:
            self._ticker = threading.Thread(
                target=self._tick, args=(redraw_every,), name="demo-progress", daemon=True
            )
            self._ticker.start()

    @property
    def elapsed(self) -> float:
        """Seconds since the demo started."""
        return self._clock() - self._started

    def step(self, text: str) -> None:
        """A line that stays: ``[  3.2 s] text``."""
        self._write(f"[{self.elapsed:5.1f} s] {text}")

    def detail(self, text: str, indent: int = 10) -> None:
        """Indented lines under the last step (for example an error message in full)."""
        pad = " " * indent
        self._write("\n".join(pad + line for line in text.splitlines()))

    def status(self, describe: Callable[[], str] | None) -> None:
        """What the live status line shows from now on (``None``: nothing)."""
        with self._lock:
            self._status = describe

    def redraw(self) -> None:
        """Draw the live status line again (the ticker thread calls this)."""
        if self.mode != "live":
            return
        with self._lock:
            self._draw_status()
            self.stream.flush()

    def close(self) -> None:
        """Stop the ticker and remove the status line."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        with self._lock:
            self._clear_status()
            self.stream.flush()

    def _write(self, text: str) -> None:
        if self.mode == "quiet":
            return
        with self._lock:
            self._clear_status()
            self.stream.write(text + "\n")
            if self.mode == "live":
                self._draw_status()
            self.stream.flush()

    def _clear_status(self) -> None:
        if self._status_shown:
            self.stream.write(_CLEAR_LINE)
            self._status_shown = False

    def _draw_status(self) -> None:
        if self._status is None:
            self._clear_status()
            return
        try:
            text = self._status()
        except Exception as exc:  # the status is decoration: never let it end the demo
            text = f"({type(exc).__name__} while reading progress)"
        line = f"  {next(self._spinner)} {self.elapsed:5.1f} s  {text}"
        self.stream.write(_CLEAR_LINE + line[: max(10, self.width - 1)])
        self._status_shown = True

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            self.redraw()


@dataclasses.dataclass
class SceneResult:
    """One fault, and what each client made of it."""

    number: int
    title: str
    plain: list[str]  # what the plain distributed.Client got, one paragraph per item
    resilient: list[str]  # what the ResilientClient did
    values: dict[str, Any] = dataclasses.field(default_factory=dict)  # ResilientClient's values
    failure: str | None = None  # why the scene could not finish, if it could not


PLAIN_HEADING = "plain distributed.Client"
RESILIENT_HEADING = "ResilientClient(resubmit=True)"


def values_line(result: SceneResult, wrong: set[str]) -> str:
    """``map ok (24 values), chain ok (= 20), ...`` for the values a scene got."""
    parts = []
    for name, value in result.values.items():
        verdict = "WRONG" if name in wrong else "ok"
        label = name.split(": ", 1)[-1]
        shown = f"{len(value)} values" if isinstance(value, list) else f"= {value}"
        parts.append(f"{label} {verdict} ({shown})")
    return "values: " + ", ".join(parts) if parts else "values: none"


def side_by_side(left: Sequence[str], right: Sequence[str], width: int) -> list[str]:
    """Two columns of wrapped paragraphs, separated by `` | ``."""
    column = max(20, (width - 3) // 2)
    left_lines = _wrap(left, column)
    right_lines = _wrap(right, column)
    rows = itertools.zip_longest(left_lines, right_lines, fillvalue="")
    return [f"{a:<{column}} | {b}".rstrip() for a, b in rows]


def _wrap(paragraphs: Sequence[str], width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in paragraphs:
        lines += textwrap.wrap(
            paragraph, width, break_long_words=False, break_on_hyphens=False
        ) or [""]
    return lines


def render_summary(
    results: Sequence[SceneResult], mismatches: Sequence[Mismatch], checked: int, width: int
) -> str:
    """The summary: each fault, the two clients side by side, then the verdict."""
    width = max(60, width)
    wrong = {m.name for m in mismatches}
    out = ["", " Summary ".center(width, "=")]
    for result in results:
        out += ["", f"{result.number}. {result.title}"]
        resilient = list(result.resilient)
        if result.failure is not None:
            resilient.append(f"the demo could not finish this scene: {result.failure}")
        resilient.append(values_line(result, wrong))
        rows = side_by_side(
            [PLAIN_HEADING, "-" * len(PLAIN_HEADING), *result.plain],
            [RESILIENT_HEADING, "-" * len(RESILIENT_HEADING), *resilient],
            width - 3,
        )
        out += ["   " + row for row in rows]
    out += ["", verdict(mismatches, checked)]
    return "\n".join(out) + "\n"


def verdict(mismatches: Sequence[Mismatch], checked: int) -> str:
    """The last line(s): all right, or which values are wrong."""
    if not mismatches:
        return f"All {checked} values right."
    lines = [f"{len(mismatches)} of {checked} values WRONG or missing:"]
    lines += [f"  - {m}" for m in mismatches]
    return "\n".join(lines)
