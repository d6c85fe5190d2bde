"""The public API, the docs that describe it and the package metadata stay in step."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

import resilient_dask
from resilient_dask import errors

ROOT = pathlib.Path(__file__).resolve().parents[1]
ERROR_CLASSES = [
    getattr(errors, name)
    for name in errors.__all__
    if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), Exception)
]


def test_all_is_sorted_and_importable() -> None:
    """__all__ is sorted and every name in it resolves."""
    assert resilient_dask.__all__ == sorted(resilient_dask.__all__)
    for name in resilient_dask.__all__:
        assert getattr(resilient_dask, name) is not None


def test_docs_api_lists_exactly_the_top_level_names() -> None:
    """docs/api.md's top-level list is __all__."""
    text = (ROOT / "docs" / "api.md").read_text()
    top = text.split("`resilient_dask` (top level):", 1)[1].split("\n\n", 2)[1]
    assert re.findall(r"^- `([^`]+)`$", top, flags=re.M) == resilient_dask.__all__


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_has_a_docs_section_and_a_readme_row(cls: type) -> None:
    """Each error's docs_url anchor is a heading of docs/errors.md, and README lists it."""
    anchor = cls().docs_url.rsplit("#", 1)[1]
    headings = re.findall(r"^## (\w+)$", (ROOT / "docs" / "errors.md").read_text(), flags=re.M)
    assert anchor in [h.lower() for h in headings]
    assert f"| `{cls.__name__}` |" in (ROOT / "README.md").read_text()


def test_importing_the_package_does_not_import_distributed() -> None:
    """`import resilient_dask` stays cheap: distributed loads only when a client is used."""
    code = "import sys, resilient_dask; print('distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_package_is_typed() -> None:
    """py.typed ships with the package."""
    assert (pathlib.Path(resilient_dask.__file__).parent / "py.typed").exists()
