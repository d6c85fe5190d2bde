"""The pytest plugin ``resilient_dask.testing.swap_client`` runs a suite with ResilientClient."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(120)

CONFTEST = "from distributed.utils_test import *  # noqa: F403  (as distributed's own conftest)\n"

SUITE = '''
import distributed.client
from distributed import Client
from distributed.utils_test import gen_cluster

from resilient_dask import ResilientClient


@gen_cluster(client=True)
async def test_gen_cluster_hands_out_a_resilient_client(c, s, a, b):
    assert type(c) is ResilientClient
    assert await c.submit(sum, [1, 2]) == 3


def test_the_modules_client_is_swapped_and_distributeds_own_is_not():
    assert Client is ResilientClient
    assert distributed.client.Client is not ResilientClient


@gen_cluster(client=True)
async def test_a_config_reset_by_gen_cluster_breaks_nothing(c, s, a, b):
    assert await c.submit(sum, [3, 4]) == 7
    assert c.options.probe_interval == 2.0
'''


def _run(tmp_path: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_suite.py").write_text(SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:asyncio", "-p", "no:cacheprovider", "-q",
         *args, str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("order", ["resilient-first", "distributed-first"])
def test_every_client_of_the_suite_is_a_resilient_client(
    tmp_path: pathlib.Path, order: str
) -> None:
    """In either import order, gen_cluster's client and the module's Client are ours."""
    out = _run(
        tmp_path, "-p", "resilient_dask.testing.swap_client", f"--swap-import-order={order}"
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "3 passed" in out.stdout


def test_without_the_plugin_the_suite_sees_distributeds_client(tmp_path: pathlib.Path) -> None:
    """The suite above does test the swap: without the plugin, every test fails."""
    out = _run(tmp_path)
    assert "3 failed" in out.stdout.splitlines()[-1], out.stdout[-3000:]
