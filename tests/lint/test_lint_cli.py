"""The ``resilient-dask lint`` command: arguments, exit codes, output formats."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from lint_samples import CLEAN, RETURNED_FUTURE

pytestmark = pytest.mark.smoke

ROOT = Path(__file__).resolve().parents[2]
Run = Callable[..., Result]
Write = Callable[..., Path]


def test_clean_file_exits_zero_silently(run_lint: Run, write: Write) -> None:
    """A clean file: exit 0 and no output."""
    write("ok.py", CLEAN)
    result = run_lint("ok.py")
    assert (result.exit_code, result.output) == (0, "")


def test_findings_are_printed_as_path_line_col_code_message(run_lint: Run, write: Write) -> None:
    """Text output is ``path:line:col: CODE message``; exit 1."""
    write("bad.py", RETURNED_FUTURE)
    result = run_lint("bad.py")
    assert result.exit_code == 1
    assert result.stdout.startswith("bad.py:6:5: RD001 task 'task' returns a Future")
    assert result.stdout.count("\n") == 1


def test_directory_is_walked_in_sorted_order(run_lint: Run, write: Write) -> None:
    """A directory argument checks its *.py files recursively, in sorted order."""
    write("pkg/b.py", RETURNED_FUTURE)
    write("pkg/a/x.py", RETURNED_FUTURE)
    write("pkg/.hidden/y.py", RETURNED_FUTURE)
    write("pkg/__pycache__/z.py", RETURNED_FUTURE)
    write("pkg/notes.txt", "client.submit")
    result = run_lint("pkg")
    paths = [line.split(":")[0] for line in result.stdout.splitlines()]
    assert paths == [str(Path("pkg/a/x.py")), str(Path("pkg/b.py"))]


def test_stdin_dash_is_linted(run_lint: Run) -> None:
    """``-`` reads the module from standard input and reports it as ``-``."""
    result = run_lint("-", input=RETURNED_FUTURE)
    assert result.exit_code == 1
    assert result.stdout.startswith("-:6:5: RD001")


def test_stdin_filename_names_stdin_findings(run_lint: Run) -> None:
    """``--stdin-filename`` is the path shown for stdin findings."""
    result = run_lint("-", "--stdin-filename", "src/job.py", input=RETURNED_FUTURE)
    assert result.stdout.startswith("src/job.py:6:5: RD001")


def test_select_limits_rules(run_lint: Run, write: Write) -> None:
    """``--select`` runs only the listed rules."""
    write("bad.py", RETURNED_FUTURE)
    assert run_lint("--select", "RD002,RD003", "bad.py").exit_code == 0
    assert run_lint("--select", "RD001", "bad.py").exit_code == 1


def test_ignore_skips_rules(run_lint: Run, write: Write) -> None:
    """``--ignore`` skips the listed rules (codes or names)."""
    write("bad.py", RETURNED_FUTURE)
    assert run_lint("--ignore", "returned-future", "bad.py").exit_code == 0


def test_unknown_select_code_is_a_usage_error(run_lint: Run, write: Write) -> None:
    """An unknown code in ``--select`` exits 2 naming the code."""
    write("ok.py", CLEAN)
    result = run_lint("--select", "RD999", "ok.py")
    assert result.exit_code == 2
    assert "'RD999'" in result.output


def test_no_path_lints_the_current_directory(run_lint: Run, write: Write) -> None:
    """Without PATH the current directory is checked, as ruff does."""
    write("pkg/bad.py", RETURNED_FUTURE)
    result = run_lint()
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{Path('pkg/bad.py')}:6:5: RD001")


def test_exit_zero_exits_zero_with_findings(run_lint: Run, write: Write) -> None:
    """``--exit-zero`` prints the findings and exits 0."""
    write("bad.py", RETURNED_FUTURE)
    result = run_lint("--exit-zero", "bad.py")
    assert result.exit_code == 0
    assert result.stdout.startswith("bad.py:6:5: RD001")


def test_exit_zero_still_fails_on_paths_not_checked(run_lint: Run, write: Write) -> None:
    """``--exit-zero`` covers findings only: a missing path still exits 1 (2 if alone)."""
    write("bad.py", RETURNED_FUTURE)
    assert run_lint("--exit-zero", "bad.py", "missing.py").exit_code == 1
    assert run_lint("--exit-zero", "missing.py").exit_code == 2


WARNING_ONLY = """\
import dask

results = []
for d in delayed_values:
    results.append(d.compute())
"""
"""One RD006 warning at line 5, nothing else."""


def test_fail_on_error_shows_warnings_but_exits_zero(run_lint: Run, write: Write) -> None:
    """``--fail-on error``: a file with only warnings prints them and exits 0."""
    write("slow.py", WARNING_ONLY)
    result = run_lint("--fail-on", "error", "slow.py")
    assert result.exit_code == 0
    assert result.stdout.startswith("slow.py:5:20: RD006")


def test_fail_on_error_fails_on_an_error(run_lint: Run, write: Write) -> None:
    """``--fail-on error`` with an error finding exits 1."""
    write("slow.py", WARNING_ONLY)
    write("bad.py", RETURNED_FUTURE)
    assert run_lint("--fail-on", "error", "slow.py", "bad.py").exit_code == 1


def test_fail_on_warning_is_the_default(run_lint: Run, write: Write) -> None:
    """By default (and with ``--fail-on warning``) a warning alone exits 1."""
    write("slow.py", WARNING_ONLY)
    assert run_lint("slow.py").exit_code == 1
    assert run_lint("--fail-on", "warning", "slow.py").exit_code == 1


def test_fail_on_unknown_severity_is_a_usage_error(run_lint: Run, write: Write) -> None:
    """``--fail-on`` accepts only warning or error; anything else exits 2 naming it."""
    write("slow.py", WARNING_ONLY)
    result = run_lint("--fail-on", "info", "slow.py")
    assert result.exit_code == 2
    assert "'info'" in result.output


def test_help_lists_the_new_options(run_lint: Run) -> None:
    """``--help`` documents --exit-zero, --fail-on and the default path."""
    text = run_lint("--help").output
    assert "--exit-zero" in text and "--fail-on [warning|error]" in text
    assert "default: the current directory" in text


def test_unknown_output_format_is_a_usage_error(run_lint: Run, write: Write) -> None:
    """An unknown ``--output-format`` exits 2."""
    write("ok.py", CLEAN)
    assert run_lint("--output-format", "xml", "ok.py").exit_code == 2


def test_json_output_carries_every_field(run_lint: Run, write: Write) -> None:
    """JSON findings have code, name, severity, path, line, column, message and fix."""
    write("bad.py", RETURNED_FUTURE)
    result = run_lint("--output-format", "json", "bad.py")
    (item,) = json.loads(result.stdout)
    assert set(item) == {"code", "name", "severity", "path", "line", "column", "message", "fix"}
    assert (item["code"], item["name"], item["severity"]) == ("RD001", "returned-future", "error")
    assert (item["path"], item["line"], item["column"]) == ("bad.py", 6, 5)


def test_github_output_is_workflow_commands(run_lint: Run, write: Write) -> None:
    """GitHub format prints ``::error file=...,line=...,col=...::`` annotations."""
    write("bad.py", RETURNED_FUTURE)
    result = run_lint("--output-format", "github", "bad.py")
    expected = "::error file=bad.py,line=6,col=5,title=RD001 returned-future::RD001 task"
    assert result.stdout.startswith(expected)


def test_sarif_output_has_rules_and_results(run_lint: Run, write: Write) -> None:
    """SARIF 2.1.0 output lists every rule and one result per finding."""
    write("bad.py", RETURNED_FUTURE)
    log = json.loads(run_lint("--output-format", "sarif", "bad.py").stdout)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert len(run["tool"]["driver"]["rules"]) >= 8
    (result,) = run["results"]
    assert result["ruleId"] == "RD001"
    assert result["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 6, "startColumn": 5}


def test_statistics_counts_findings_per_rule(run_lint: Run, write: Write) -> None:
    """``--statistics`` prints one count line per rule instead of the findings."""
    write("a.py", RETURNED_FUTURE)
    write("b.py", RETURNED_FUTURE)
    result = run_lint("--statistics", "a.py", "b.py")
    assert result.exit_code == 1
    assert result.stdout.split() == ["2", "RD001", "returned-future", "[error]"]


def test_explain_prints_the_rule(run_lint: Run) -> None:
    """``--explain RD002`` prints the rule's explanation and exits 0."""
    result = run_lint("--explain", "RD002")
    assert result.exit_code == 0
    assert result.stdout.startswith("RD002 blocking-wait-in-task (error)")
    assert "secede()" in result.stdout


def test_explain_unknown_code_is_a_usage_error(run_lint: Run) -> None:
    """``--explain`` of an unknown code exits 2 and lists valid codes."""
    result = run_lint("--explain", "RD000")
    assert result.exit_code == 2
    assert "RD001" in result.output


def test_noqa_comment_suppresses_in_cli(run_lint: Run, write: Write) -> None:
    """A ``# noqa: RD001`` comment on the line silences that finding."""
    write("bad.py", RETURNED_FUTURE.replace("return fut", "return fut  # noqa: RD001"))
    assert run_lint("bad.py").exit_code == 0


def _subprocess(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "resilient_dask", "lint", *args], cwd=ROOT, input=stdin,
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_end_to_end_module_entry_point_reports_findings(tmp_path: Path) -> None:
    """``python -m resilient_dask lint FILE`` prints the finding and exits 1."""
    bad = tmp_path / "bad.py"
    bad.write_text(RETURNED_FUTURE, encoding="utf-8")
    proc = _subprocess(str(bad))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == f"{bad}:6:5: RD001 " + proc.stdout.split(" RD001 ", 1)[1]
    assert "Traceback" not in proc.stderr


def test_end_to_end_bad_inputs_exit_two_without_traceback(tmp_path: Path) -> None:
    """Only unreadable inputs: one error line each on stderr, exit 2, no traceback."""
    (tmp_path / "broken.py").write_text("def f(:\n", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    proc = _subprocess(str(tmp_path / "broken.py"), str(tmp_path / "empty"),
                       str(tmp_path / "missing.py"))
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 3
    assert "Traceback" not in proc.stderr
