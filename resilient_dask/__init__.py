"""resilient_dask: make Dask distributed survive the failures its users hit.

Public names are imported lazily, so that ``import resilient_dask`` (and the
``resilient-dask lint`` command) does not import distributed until a client or
an error class is actually used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

__all__ = [
    "ClientClosed",
    "ConnectionState",
    "LineageUnavailable",
    "NestedFutureError",
    "ReplayReport",
    "ResilientClient",
    "ResilientDaskError",
    "ResilientFuture",
    "ResubmissionFailed",
    "SchedulerConnectionLost",
    "SchedulerRestarted",
    "SchedulerUnresponsive",
    "TaskTimeout",
    "Transition",
    "WorkerLost",
    "__version__",
]

_LAZY = {
    "ClientClosed": "resilient_dask.errors",
    "ConnectionState": "resilient_dask._state_machine",
    "Transition": "resilient_dask._state_machine",
    "ReplayReport": "resilient_dask._lineage_service",
    "ResilientClient": "resilient_dask.client",
    "ResilientFuture": "resilient_dask.client",
    "LineageUnavailable": "resilient_dask.errors",
    "NestedFutureError": "resilient_dask.errors",
    "ResilientDaskError": "resilient_dask.errors",
    "ResubmissionFailed": "resilient_dask.errors",
    "SchedulerConnectionLost": "resilient_dask.errors",
    "SchedulerRestarted": "resilient_dask.errors",
    "SchedulerUnresponsive": "resilient_dask.errors",
    "TaskTimeout": "resilient_dask.errors",
    "WorkerLost": "resilient_dask.errors",
}

if TYPE_CHECKING:
    from resilient_dask._lineage_service import ReplayReport
    from resilient_dask._state_machine import ConnectionState, Transition
    from resilient_dask.client import ResilientClient, ResilientFuture
    from resilient_dask.errors import (
        ClientClosed,
        LineageUnavailable,
        NestedFutureError,
        ResilientDaskError,
        ResubmissionFailed,
        SchedulerConnectionLost,
        SchedulerRestarted,
        SchedulerUnresponsive,
        TaskTimeout,
        WorkerLost,
    )


#: Public submodules, reachable as attributes (``resilient_dask.retry``), imported on
#: first use like the names above.
_SUBMODULES = frozenset(
    {"cli", "client", "connection", "demo", "doctor", "errors", "forensics", "lint",
     "pins", "retry", "testing", "watchdog"}
)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = importlib.import_module(f"resilient_dask.{name}")
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'resilient_dask' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
