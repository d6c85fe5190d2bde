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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'resilient_dask' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
