"""Test code: where performance advice does not apply.

Tests compute, scatter and submit one case at a time on purpose, to check each
result; the performance rules (severity ``warning``) give advice for code whose
speed matters. So warnings are not reported in test files (``test_*.py``,
``*_test.py``, ``conftest.py``, anything under a ``tests``/``test``/``testing``
directory). Errors (lost data, deadlocks, wrong results) are reported there too: a
test can lose data as well as any code. A rule whose errors in tests are the tests'
purpose says why in ``Rule.not_in_tests`` and is not run there (RD002: a test blocks a
task on its own sub-task to test ``get_client()``, on a cluster it sizes for that).
"""

from __future__ import annotations

from pathlib import PurePath

_TEST_DIRECTORIES = frozenset({"tests", "test", "testing"})


def is_test_path(path: str) -> bool:
    """A test module, by the names pytest collects (and ``conftest.py``)."""
    parts = PurePath(path.replace("\\", "/")).parts
    if not parts:
        return False
    name = parts[-1]
    if name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py":
        return True
    return any(part in _TEST_DIRECTORIES for part in parts[:-1])
