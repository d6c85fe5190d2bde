"""The public API, the docs that describe it and the package metadata stay in step."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
from urllib.parse import urlparse

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


def _page_of(cls: type) -> pathlib.Path:
    """The file in this repository that an error's docs_url shows on GitHub."""
    path = urlparse(cls().docs_url).path
    prefix = "/resilient-dask/resilient-dask/blob/main/"
    assert path.startswith(prefix), path
    return ROOT / path.removeprefix(prefix)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_has_a_docs_page_and_a_readme_row(cls: type) -> None:
    """Each error's docs_url is a page of docs/errors/ about that class; README lists it."""
    page = _page_of(cls)
    assert page.parent == ROOT / "docs" / "errors" and page.is_file()
    text = page.read_text()
    assert text.startswith(f"# {cls.__name__}\n")
    assert f"`resilient_dask.{cls.__name__}`" in text
    assert f"[`{cls.__name__}`](errors/{page.name})" in (ROOT / "docs" / "errors.md").read_text()
    assert f"| `{cls.__name__}` |" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_error_pages_have_every_section(cls: type) -> None:
    """An error page says what happened, its causes, what to do, shows a message, names options."""
    headings = re.findall(r"^## (.+)$", _page_of(cls).read_text(), flags=re.M)
    if cls is errors.ResilientDaskError:
        assert {"What it carries", "What to do", "Related configuration"} <= set(headings)
        return
    for section in ("What happened", "Typical causes", "What to do", "Related configuration"):
        assert section in headings
    assert "Example message" in headings or "Example" in headings


def test_every_error_page_belongs_to_an_error_class() -> None:
    """docs/errors/ holds no page that no error's docs_url points to."""
    pages = {_page_of(cls) for cls in ERROR_CLASSES}
    assert set((ROOT / "docs" / "errors").glob("*.md")) == pages


def test_importing_the_package_does_not_import_distributed() -> None:
    """`import resilient_dask` stays cheap: distributed loads only when a client is used."""
    code = "import sys, resilient_dask; print('distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_public_submodules_are_attributes_of_a_fresh_package() -> None:
    """`resilient_dask.retry`, `.testing`, `.lint`, `.errors`, ... work after a bare
    `import resilient_dask`, each imported on first use (lint still without distributed)."""
    code = (
        "import sys, resilient_dask as rdk; rdk.lint; loaded = 'distributed' in sys.modules; "
        "rdk.retry.transient(); rdk.testing.poll_for; rdk.errors.WorkerLost; rdk.pins; "
        "rdk.watchdog; rdk.connection; rdk.forensics; rdk.client; rdk.doctor; rdk.demo; "
        "rdk.cli; print(loaded, sorted(rdk._SUBMODULES) == [n for n in dir(rdk) if n in "
        "rdk._SUBMODULES])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "True"]


def test_unknown_attributes_still_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        resilient_dask.nope  # noqa: B018


def test_package_is_typed() -> None:
    """py.typed ships with the package."""
    assert (pathlib.Path(resilient_dask.__file__).parent / "py.typed").exists()
