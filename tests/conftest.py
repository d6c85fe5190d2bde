"""Shared fixtures: real clusters in subprocesses, clients with fast probes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from resilient_dask import ResilientClient
from resilient_dask.testing import SubprocessCluster

#: Probe settings that make failure tests fast but stay robust on 2 busy cores.
FAST = {"probe_interval": 0.2, "probe_timeout": 1.0, "unresponsive_timeout": 30.0}


@pytest.fixture(scope="session")
def fast() -> dict[str, float]:
    """Probe options for failure tests (see FAST)."""
    return dict(FAST)


@pytest.fixture
def cluster() -> Iterator[SubprocessCluster]:
    """A real scheduler and one nanny-managed worker, killed at teardown."""
    with SubprocessCluster(n_workers=1) as c:
        try:
            yield c
        finally:
            processes = list(c._processes)
    assert all(not p.alive for p in processes), "cluster left processes behind"


@pytest.fixture
def make_client() -> Iterator[Any]:
    """Factory for ResilientClients that are closed at teardown, even on failure."""
    clients: list[ResilientClient] = []

    def make(address: str, **kwargs: Any) -> ResilientClient:
        options = {**FAST, "set_as_default": True, **kwargs}
        rc = ResilientClient(address, **options)
        clients.append(rc)
        return rc

    yield make
    for rc in clients:
        rc.close(timeout=10)


@pytest.fixture
def rc(cluster: SubprocessCluster, make_client: Any) -> ResilientClient:
    """A ResilientClient connected to ``cluster`` with fast probes."""
    return make_client(cluster.scheduler_address)  # type: ignore[no-any-return]
