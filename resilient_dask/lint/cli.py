"""The ``resilient-dask lint`` command (registered on the main CLI group)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from resilient_dask.lint.config import (
    ConfigError,
    ConfigSource,
    LintConfig,
    NearestConfig,
    load_config,
)
from resilient_dask.lint.diagnostics import SEVERITY_ORDER, Severity
from resilient_dask.lint.docs import explain as explain_rule
from resilient_dask.lint.formatters import FORMATS, RENDERERS, render_statistics
from resilient_dask.lint.rules import RULES, expand_selector, find_rule
from resilient_dask.lint.runner import LintReport, lint_paths


def _selectors(values: tuple[str, ...], option: str) -> tuple[str, ...] | None:
    if not values:
        return None
    found: list[str] = []
    for value in values:
        for item in value.replace(" ", ",").split(","):
            if not item:
                continue
            if expand_selector(item) is None:
                raise click.BadParameter(
                    f"unknown rule code {item!r}; valid codes are "
                    f"{RULES[0].code}..{RULES[-1].code} (see --explain CODE)",
                    param_hint=option,
                )
            found.append(item)
    return tuple(found)


def _config(config_file: str | None, isolated: bool) -> ConfigSource:
    if isolated:
        return LintConfig()
    if config_file is not None:
        return load_config(Path(config_file))
    return NearestConfig()


def _emit(text: str, *, err: bool = False) -> None:
    if text:
        click.echo(text, nl=False, err=err)


@click.command("lint", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option(
    "--select",
    multiple=True,
    metavar="CODES",
    help="Only these rules (comma-separated codes, prefixes or names; replaces the "
    "config's select).",
)
@click.option(
    "--ignore",
    multiple=True,
    metavar="CODES",
    help="Skip these rules (added to the config's ignore).",
)
@click.option(
    "--output-format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text: path:line:col: CODE message; json; sarif (2.1.0); github annotations.",
)
@click.option(
    "--exit-zero",
    is_flag=True,
    help="Exit 0 even when there are findings (paths that cannot be checked still fail).",
)
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITY_ORDER),
    default="warning",
    show_default=True,
    help="Lowest severity that makes the exit status 1; with 'error', warnings are shown "
    "but do not fail.",
)
@click.option("--explain", metavar="CODE", help="Explain a rule (e.g. RD001) and exit.")
@click.option("--statistics", is_flag=True, help="Print counts per rule instead of findings.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Read settings from this pyproject.toml instead of the nearest one.",
)
@click.option("--isolated", is_flag=True, help="Ignore all configuration files.")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    metavar="N",
    help="Processes to use for many files (default: one per CPU).",
)
@click.option(
    "--stdin-filename",
    metavar="NAME",
    help="Path to report (and match per-file-ignores) when reading stdin ('-').",
)
def lint(
    paths: tuple[str, ...],
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    output_format: str,
    exit_zero: bool,
    fail_on: Severity,
    explain: str | None,
    statistics: bool,
    config_file: str | None,
    isolated: bool,
    jobs: int | None,
    stdin_filename: str | None,
) -> None:
    """Find Dask distributed misuse in PATH... (files, directories, notebooks, or - for
    stdin; default: the current directory).

    The code is parsed, never imported or run. Each file uses the nearest
    pyproject.toml with a [tool.resilient-dask.lint] table. Exit status: 0 clean,
    1 findings (see --exit-zero and --fail-on) or some paths could not be checked,
    2 usage/configuration error or nothing could be checked.
    """
    if explain is not None:
        rule = find_rule(explain)
        if rule is None:
            raise click.BadParameter(
                f"unknown rule {explain!r}; valid codes are " + ", ".join(r.code for r in RULES),
                param_hint="--explain",
            )
        click.echo(explain_rule(rule), nl=False)
        return
    chosen = _selectors(select, "--select")
    skipped = _selectors(ignore, "--ignore") or ()
    try:
        report = lint_paths(
            paths or (".",),
            select=chosen,
            ignore=skipped,
            config=_config(config_file, isolated),
            jobs=jobs,
            stdin_filename=stdin_filename,
        )
    except ConfigError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except Exception as error:  # pragma: no cover - guard against our own bugs
        click.echo(
            f"error: internal error ({type(error).__name__}: {error}); please report it", err=True
        )
        sys.exit(2)
    _report(report, output_format, statistics)
    sys.exit(report.exit_status(fail_on=fail_on, exit_zero=exit_zero))


def _report(report: LintReport, output_format: str, statistics: bool) -> None:
    diagnostics, errors = report.diagnostics, report.errors
    try:
        if statistics:
            _emit(render_statistics(diagnostics, output_format))
        else:
            _emit(RENDERERS[output_format](diagnostics, errors))
        if output_format != "github" or statistics:
            for error in errors:
                click.echo(error.render(), err=True)
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
