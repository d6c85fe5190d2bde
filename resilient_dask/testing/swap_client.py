"""A pytest plugin that runs a test suite with ``ResilientClient`` in place of ``Client``.

Use it to check that your own tests (or distributed's) pass with the drop-in::

    pytest -p resilient_dask.testing.swap_client tests/
    pytest -p resilient_dask.testing.swap_client --swap-import-order=distributed-first ...

Every ``Client`` a test module, ``distributed.utils_test`` (``gen_cluster``, the
``c``/``client`` fixtures) or ``distributed.Client`` hands out is a
:class:`~resilient_dask.ResilientClient`. ``distributed.client.Client`` itself is
left alone, so distributed's internals (a worker's own client, ``isinstance``
checks inside distributed) behave as they always do.

``--swap-import-order`` decides what is imported first: ``resilient-first``
(default) imports resilient_dask before ``distributed.utils_test``;
``distributed-first`` imports ``distributed.utils_test`` first, as a conftest with
``from distributed.utils_test import *`` does (its config snapshot then predates
resilient_dask's defaults).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import pytest

ORDERS = ("resilient-first", "distributed-first")

#: Module attributes that hand out the client class.
_PATCHED = (
    ("distributed", "Client"),
    ("dask.distributed", "Client"),
    ("distributed.utils_test", "Client"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--swap-import-order",
        choices=ORDERS,
        default="resilient-first",
        help="import resilient_dask before distributed.utils_test, or after it",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """Import in the chosen order before any conftest.py (which may import
    distributed.utils_test itself) is loaded."""
    order = getattr(early_config.known_args_namespace, "swap_import_order", ORDERS[0])
    names = ["resilient_dask.client", "distributed.utils_test"]
    if order == "distributed-first":
        names.reverse()
    for name in names:
        importlib.import_module(name)


def pytest_configure(config: pytest.Config) -> None:
    from resilient_dask import ResilientClient

    original = sys.modules["distributed.client"].Client
    config.stash[_ORIGINAL] = original
    for module_name, attribute in _PATCHED:
        module = importlib.import_module(module_name)
        if getattr(module, attribute, None) is original:
            setattr(module, attribute, ResilientClient)


_ORIGINAL = pytest.StashKey[Any]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Test modules that imported ``Client`` itself get ``ResilientClient`` instead."""
    from resilient_dask import ResilientClient

    original = config.stash[_ORIGINAL]
    for module in {id(m): m for m in (getattr(i, "module", None) for i in items) if m}.values():
        for name, value in vars(module).items():
            if value is original:
                setattr(module, name, ResilientClient)


def pytest_report_header(config: pytest.Config) -> str:
    return (
        "resilient_dask.testing.swap_client: Client is ResilientClient "
        f"(import order: {config.getoption('--swap-import-order')})"
    )
