"""Incidents: events that cancelled many futures at once, and which keys each took.

The :class:`IncidentLog` is how an error raised later names its root cause: a
graph that reads a key an outage destroyed fails with the error of that outage.
Pure data, no I/O.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Iterable, Sequence
from typing import Any

from resilient_dask.errors import ErrorContext, ResilientDaskError


@dataclasses.dataclass(frozen=True)
class Incident:
    """An event that cancelled many futures at once."""

    error_type: type[ResilientDaskError]
    happened_at: float
    scheduler: str | None
    affected: int
    detail: str = ""

    def error(self, keys: Sequence[Any]) -> ResilientDaskError:
        """The typed error for some of the keys this incident cancelled."""
        ctx = ErrorContext(
            scheduler=self.scheduler,
            keys=tuple(str(k) for k in keys),
            happened_at=self.happened_at,
            affected=self.affected,
        )
        return self.error_type(ctx)


class IncidentLog:
    """Which keys the last few incidents cancelled, to name root causes later."""

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self._incidents: collections.deque[tuple[Incident, set[Any]]] = collections.deque()
        self._cause: dict[Any, Incident] = {}

    def record(
        self,
        error_type: type[ResilientDaskError],
        keys: Iterable[Any],
        scheduler: str | None,
        detail: str = "",
    ) -> Incident:
        keyset = set(keys)
        incident = Incident(error_type, time.time(), scheduler, len(keyset), detail)
        self._incidents.append((incident, keyset))
        for key in keyset:
            self._cause[key] = incident
        while len(self._incidents) > self.keep:
            old, old_keys = self._incidents.popleft()
            for key in old_keys:
                if self._cause.get(key) is old:
                    del self._cause[key]
        return incident

    def __bool__(self) -> bool:
        return bool(self._incidents)

    @property
    def latest(self) -> Incident | None:
        return self._incidents[-1][0] if self._incidents else None

    def cause_of(self, key: Any) -> Incident | None:
        return self._cause.get(key)

    def lost_among(self, keys: Iterable[Any]) -> list[Any]:
        return [k for k in keys if k in self._cause]
