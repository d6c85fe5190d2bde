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
scheduler* through ``Client.run_on_scheduler`` (for example
``rc.run_on_scheduler(pins.list_pins)``). They are defined, with every other read
of scheduler state, in ``resilient_dask._compat.on_scheduler``, which is shipped
by value: the scheduler does not need resilient_dask installed.
"""

from __future__ import annotations

from resilient_dask._compat.on_scheduler import PINS_PLUGIN as PLUGIN_NAME
from resilient_dask._compat.on_scheduler import PinPlugin, list_pins
from resilient_dask._compat.on_scheduler import acquire_pin as acquire
from resilient_dask._compat.on_scheduler import release_pin as release
from resilient_dask._compat.on_scheduler import renew_pin as renew

__all__ = ["PLUGIN_NAME", "PinPlugin", "acquire", "list_pins", "release", "renew"]
