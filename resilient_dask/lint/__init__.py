"""``resilient-dask lint``: find Dask distributed misuse by reading code, never running it.

The checker parses source with the standard library's :mod:`ast`; it never
imports the code it checks, nor ``dask`` or ``distributed`` themselves.
"""

from __future__ import annotations

from resilient_dask.lint.config import ConfigError, LintConfig, NearestConfig, load_config
from resilient_dask.lint.diagnostics import Diagnostic, PathError, Severity, SourceError
from resilient_dask.lint.engine import lint_source
from resilient_dask.lint.rules import RULES, Rule, find_rule
from resilient_dask.lint.runner import LintReport, lint_paths

__all__ = [
    "RULES",
    "ConfigError",
    "Diagnostic",
    "LintConfig",
    "LintReport",
    "NearestConfig",
    "PathError",
    "Rule",
    "Severity",
    "SourceError",
    "find_rule",
    "lint_paths",
    "lint_source",
    "load_config",
]
