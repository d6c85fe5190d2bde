"""Worker restrictions on replay: addresses that are gone are dropped.

A recipe submitted with ``workers=[address]`` (or under ``dask.annotate(workers=...)``)
names a worker process. After an outage its worker may be gone for good: pods and
batch jobs come back at new addresses. Replayed with that restriction, the task
could never run. So, on replay, every entry of ``workers=`` that is an address
(``scheme://host:port``) no registered worker has is dropped, with a
``lineage.restriction_dropped`` event naming the keys and the addresses; if none is
left, the task may run anywhere. Worker *names*, host names and resource
restrictions survive restarts and are kept as they were.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

__all__ = ["is_address", "relax"]


def is_address(entry: Any) -> bool:
    """Whether a ``workers=`` entry is a worker address (not a name or a host)."""
    return isinstance(entry, str) and "://" in entry


def relax(workers: Any, alive: Collection[str]) -> tuple[Any, list[str]]:
    """``workers`` without the addresses not in ``alive``, and those addresses.

    ``workers`` is what ``submit``/``compute``/``scatter`` took: None, one entry or a
    collection of them. What is left keeps its form; None when nothing is left.
    """
    if workers is None:
        return None, []
    single = isinstance(workers, str) or not isinstance(workers, (list, tuple, set, frozenset))
    entries = [workers] if single else list(workers)
    gone = [e for e in entries if is_address(e) and e not in alive]
    if not gone:
        return workers, []
    kept = [e for e in entries if e not in gone]
    if not kept:
        return None, gone
    return (kept[0] if single else type(workers)(kept)), gone


def restricted_to_addresses(*candidates: Any) -> bool:
    """Whether any of these ``workers=`` values names an address."""
    for workers in candidates:
        if workers is None:
            continue
        entries = [workers] if isinstance(workers, str) else workers
        if isinstance(entries, (list, tuple, set, frozenset)) and any(map(is_address, entries)):
            return True
    return False
