"""Code the doctor runs *on the scheduler* (through ``Client.run_on_scheduler``).

It imports only the standard library and dask, is shipped by value
(``cloudpickle.register_pickle_by_value``), so the scheduler needs no
resilient_dask, and it returns only builtins.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["scheduler_settings"]


def _seconds(value: Any) -> float | None:
    from dask.utils import parse_timedelta

    if value is None or value is False:
        return None
    seconds = parse_timedelta(value, default="s")
    return float(seconds) if seconds else None


def scheduler_settings(pins_plugin: str, dask_scheduler: Any = None) -> dict[str, Any]:
    """Run on the scheduler: the settings it runs with, its clock, its live pin leases.

    Upstream: ``Scheduler.__init__`` stores the values it runs with as the public
    attributes ``worker_ttl``, ``allowed_failures``, ``idle_timeout`` and
    ``no_workers_timeout`` (seconds or None), taken from its keyword arguments or
    else from dask.config (``distributed.scheduler.worker-ttl``, ...), which is
    read here when an attribute is missing. Pin leases are kept by the
    ``pins_plugin`` scheduler plugin (``resilient_dask.pins``) in ``.active()``.
    """
    import dask.config

    scheduler = dask_scheduler

    def setting(attribute: str, key: str) -> Any:
        if hasattr(scheduler, attribute):
            return getattr(scheduler, attribute)
        return dask.config.get(f"distributed.scheduler.{key}", None)

    failures = setting("allowed_failures", "allowed-failures")
    plugin = scheduler.plugins.get(pins_plugin)
    try:
        leases = len(plugin.active()) if plugin is not None else 0
    except Exception:  # an older pins plugin: count what it holds
        leases = len(getattr(plugin, "leases", ()))
    return {
        "worker_ttl": _seconds(setting("worker_ttl", "worker-ttl")),
        "allowed_failures": int(failures) if failures is not None else None,
        "idle_timeout": _seconds(setting("idle_timeout", "idle-timeout")),
        "no_workers_timeout": _seconds(setting("no_workers_timeout", "no-workers-timeout")),
        "pin_leases": leases,
        "now": time.time(),
    }
