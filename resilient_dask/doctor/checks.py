"""The doctor's checks: one function per concern, from :class:`Facts` to findings.

Each check reads gathered facts and returns findings; none does I/O, so each is
tested with fabricated facts. A check returns nothing when the facts it needs
could not be observed (the gatherer reports that gap itself). The checks live in
:mod:`~resilient_dask.doctor.cluster_checks` (the cluster itself) and
:mod:`~resilient_dask.doctor.settings_checks` (settings and the event log);
thresholds are module constants there, named in the messages.
"""

from __future__ import annotations

from collections.abc import Callable

from resilient_dask.doctor.cluster_checks import (
    check_latency,
    check_nannies,
    check_reachable,
    check_versions,
    check_workers,
)
from resilient_dask.doctor.facts import Facts
from resilient_dask.doctor.findings import Finding
from resilient_dask.doctor.settings_checks import (
    check_adaptive,
    check_allowed_failures,
    check_client_config,
    check_gaps,
    check_scheduler_timeouts,
    check_worker_losses,
    check_worker_ttl,
)

__all__ = [
    "CHECKS",
    "check_adaptive",
    "check_allowed_failures",
    "check_client_config",
    "check_gaps",
    "check_latency",
    "check_nannies",
    "check_reachable",
    "check_scheduler_timeouts",
    "check_versions",
    "check_worker_losses",
    "check_worker_ttl",
    "check_workers",
    "run_checks",
]

#: Every check, in the order the report lists them.
CHECKS: tuple[Callable[[Facts], list[Finding]], ...] = (
    check_reachable,
    check_latency,
    check_workers,
    check_nannies,
    check_versions,
    check_worker_ttl,
    check_allowed_failures,
    check_scheduler_timeouts,
    check_adaptive,
    check_worker_losses,
    check_client_config,
    check_gaps,
)


def run_checks(facts: Facts) -> list[Finding]:
    """Run every check on ``facts``."""
    return [finding for check in CHECKS for finding in check(facts)]
