"""The flake8 entry point class follows flake8's AST-plugin protocol."""

from __future__ import annotations

import ast

from lint_samples import RETURNED_FUTURE

from resilient_dask.lint.flake8_plugin import Flake8Plugin


def test_plugin_yields_flake8_tuples() -> None:
    """run() yields (line, 0-based col, 'RDnnn message', type) per finding."""
    plugin = Flake8Plugin(ast.parse(RETURNED_FUTURE), "job.py",
                          RETURNED_FUTURE.splitlines(keepends=True))
    ((line, col, message, kind),) = list(plugin.run())
    assert (line, col, kind) == (6, 4, Flake8Plugin)
    assert message.startswith("RD001 ")


def test_plugin_leaves_noqa_to_flake8() -> None:
    """The plugin reports noqa'd lines; flake8 itself filters them."""
    source = RETURNED_FUTURE.replace("return fut", "return fut  # noqa: RD001")
    plugin = Flake8Plugin(ast.parse(source), "job.py", source.splitlines(keepends=True))
    assert len(list(plugin.run())) == 1


def test_plugin_has_name_and_version() -> None:
    """flake8 shows the plugin's name and version."""
    assert Flake8Plugin.name == "resilient-dask"
    assert isinstance(Flake8Plugin.version, str)
