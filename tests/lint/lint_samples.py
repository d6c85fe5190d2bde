"""Small modules shared by the linter tests."""

from __future__ import annotations

RETURNED_FUTURE = """\
from dask.distributed import get_client

def task(x):
    client = get_client()
    fut = client.submit(inc, x)
    return fut

client.submit(task, 1)
"""
"""A module with exactly one finding: RD001 at line 6, column 5."""

CLEAN = """\
from dask.distributed import Client

client = Client()
print(client.submit(sum, [1, 2]).result())
"""
