"""Pinned workers: a scheduler plugin that keeps adaptive scaling off some workers.

``Scheduler.workers_to_close`` (what ``distributed.deploy.Adaptive`` asks before
it retires workers) passes its candidates through every plugin's
``valid_workers_downscaling``; :class:`PinPlugin` removes the pinned ones.

A pin is a *lease*: it holds for ``duration`` seconds on the scheduler's clock
and the client that took it renews it while its ``with rc.pin_workers():``
block runs. A client that dies stops renewing, so its pins expire by
themselves. Several clients (and nested blocks) hold leases side by side; the
plugin is added with the first lease and removes itself when none is left.

Explicit ``retire_workers(workers=[...])`` and ``restart_workers`` do not go
through ``workers_to_close`` and are not blocked.

The functions ``acquire``/``renew``/``release``/``list_pins`` run *on the
scheduler* through ``Client.run_on_scheduler``. This module imports only the
standard library and distributed, so it is shipped by value: the scheduler does
not need resilient_dask installed. Everything crossing the wire is builtins.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

__all__ = ["PLUGIN_NAME", "PinPlugin", "acquire", "list_pins", "release", "renew"]

PLUGIN_NAME = "resilient-dask-pins"


class PinPlugin(SchedulerPlugin):
    """Keeps pinned workers out of ``workers_to_close`` while their leases last."""

    idempotent = True
    name = PLUGIN_NAME

    def __init__(self) -> None:
        #: lease id -> {"workers": [...], "client", "reason", "expires", "duration"}
        self.leases: dict[str, dict[str, Any]] = {}

    def active(self, now: float | None = None) -> dict[str, dict[str, Any]]:
        """The leases that have not expired (expired ones are dropped)."""
        now = time.time() if now is None else now
        for lease_id in [i for i, lease in self.leases.items() if lease["expires"] <= now]:
            del self.leases[lease_id]
        return self.leases

    def pinned(self) -> set[str]:
        """Addresses and names of every worker some live lease pins."""
        return {w for lease in self.active().values() for w in lease["workers"]}

    def valid_workers_downscaling(self, scheduler: Any, workers: list[Any]) -> list[Any]:
        pinned = self.pinned()
        if not self.leases:
            _remove(scheduler)
        return [ws for ws in workers if ws.address not in pinned and str(ws.name) not in pinned]


def _plugin(scheduler: Any, create: bool) -> PinPlugin | None:
    plugin: PinPlugin | None = scheduler.plugins.get(PLUGIN_NAME)
    if plugin is None and create:
        plugin = PinPlugin()
        scheduler.add_plugin(plugin, name=PLUGIN_NAME, idempotent=True)
    return plugin


def _remove(scheduler: Any) -> None:
    if PLUGIN_NAME in scheduler.plugins:
        scheduler.remove_plugin(name=PLUGIN_NAME)


def acquire(
    lease_id: str,
    workers: Sequence[str],
    reason: str,
    duration: float,
    client: str,
    dask_scheduler: Any = None,
) -> list[str]:
    """Take (or refresh) a lease pinning ``workers``; returns the addresses it pins.

    Names are resolved to addresses; workers the scheduler does not know are kept
    as given, so that a worker joining later under that name is pinned too.
    """
    plugin = _plugin(dask_scheduler, create=True)
    assert plugin is not None
    by_name = {str(ws.name): ws.address for ws in dask_scheduler.workers.values()}
    resolved = [by_name.get(str(w), str(w)) for w in workers]
    plugin.leases[lease_id] = {
        "workers": sorted(set(resolved)),
        "client": client,
        "reason": reason,
        "duration": float(duration),
        "expires": time.time() + float(duration),
    }
    return sorted(set(resolved))


def renew(lease_id: str, duration: float, dask_scheduler: Any = None) -> bool:
    """Extend a lease; False if it is gone (expired, or the scheduler restarted)."""
    plugin = _plugin(dask_scheduler, create=False)
    if plugin is None or lease_id not in plugin.active():
        return False
    plugin.leases[lease_id]["expires"] = time.time() + float(duration)
    return True


def release(lease_id: str, dask_scheduler: Any = None) -> None:
    """Drop a lease; remove the plugin when no lease is left."""
    plugin = _plugin(dask_scheduler, create=False)
    if plugin is None:
        return
    plugin.leases.pop(lease_id, None)
    if not plugin.active():
        _remove(dask_scheduler)


def list_pins(dask_scheduler: Any = None) -> list[dict[str, Any]]:
    """Every live lease: id, workers, client, reason, seconds left."""
    plugin = _plugin(dask_scheduler, create=False)
    if plugin is None:
        return []
    now = time.time()
    return [
        {
            "id": lease_id,
            "workers": list(lease["workers"]),
            "client": lease["client"],
            "reason": lease["reason"],
            "expires_in": lease["expires"] - now,
        }
        for lease_id, lease in sorted(plugin.active(now).items())
    ]
