"""Wording shared by the doctor's checks: durations, ages, lists of names, plurals."""

from __future__ import annotations

from collections.abc import Sequence

from resilient_dask.doctor.facts import WorkerFacts

#: How many names a message lists before it says "and N more".
NAMES_SHOWN = 3


def duration(seconds: float) -> str:
    """A setting's length as people write it: ``5 minutes``, ``30 s``, ``0.4 ms``."""
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} minutes"
    if seconds >= 1:
        return f"{seconds:g} s"
    return f"{seconds * 1000:.1f} ms"


def age(seconds: float) -> str:
    """How long something has been up, rounded: ``3 s``, ``12 minutes``, ``4 days``."""
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(0.0, seconds):.0f} s"


def names(items: Sequence[str]) -> str:
    """The first few items, then how many more: messages stay short for big clusters."""
    shown = ", ".join(items[:NAMES_SHOWN])
    more = len(items) - NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def worker(facts: WorkerFacts) -> str:
    """``name (address)``, or just the address when the worker has no name of its own."""
    return facts.address if facts.name == facts.address else f"{facts.name} ({facts.address})"


def plural(count: int, word: str) -> str:
    """``1 worker``, ``2 workers``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
