"""Jupyter notebooks are linted cell by cell, with positions in the notebook's own terms."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

Run = Callable[..., Result]
Write = Callable[..., Path]


def notebook(*cells: tuple[str, str]) -> str:
    """An nbformat-4 notebook with these ``(cell_type, source)`` cells."""
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": kind,
                    "metadata": {},
                    "source": source.splitlines(keepends=True),
                    **({"outputs": [], "execution_count": None} if kind == "code" else {}),
                }
                for kind, source in cells
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


TASK_NOTEBOOK = notebook(
    ("markdown", "# Fan-out\nA task that submits work."),
    ("code", "%matplotlib inline\n!pip install dask\nfrom dask.distributed import get_client\n"),
    ("code", "%%bash\nthis is not python\n"),
    ("code", "def task(x):\n    fut = get_client().submit(inc, x)\n    return fut\n"),
    ("code", "files = !ls\ntask?\nclient.submit(task, 1)\n"),
)
"""RD001 in code cell 3 (the %%bash cell is code cell 2), line 3, column 5."""


def test_finding_in_a_cell_points_at_cell_and_line(run_lint: Run, write: Write) -> None:
    """Text output says ``cell N, line M`` for a finding in a notebook; exit 1."""
    write("fan_out.ipynb", TASK_NOTEBOOK)
    result = run_lint("fan_out.ipynb")
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("fan_out.ipynb:cell 3, line 3, col 5: RD001 task 'task'")
    assert result.stdout.count("\n") == 1


def test_magics_and_shell_lines_are_skipped(run_lint: Run, write: Write) -> None:
    """%magics, !shell, ``x = !cmd``, ``obj?`` and %% cell magics parse as nothing."""
    write("magic.ipynb", notebook(
        ("code", "%load_ext autoreload\nfor i in range(2):\n    !echo {i}\nout = %time f()\n"),
        ("code", "%%bash\nls -l | wc\n"),
        ("code", "x?\n??x\n"),
    ))
    result = run_lint("magic.ipynb")
    assert (result.exit_code, result.output) == (0, "")


def test_a_time_cell_magic_body_is_checked(run_lint: Run, write: Write) -> None:
    """The body of a ``%%time`` cell is Python and is checked (the magic line is not)."""
    write("timed.ipynb", notebook(
        ("code", "%%time\nfrom dask.distributed import get_client\n\n"
                 "def task(x):\n    return get_client().submit(inc, x)\n"),
    ))
    result = run_lint("timed.ipynb")
    assert result.stdout.startswith("timed.ipynb:cell 1, line 5, col 5: RD001")


def test_noqa_works_in_a_cell(run_lint: Run, write: Write) -> None:
    """``# noqa: RD001`` on the line in the cell silences the finding."""
    write("quiet.ipynb", TASK_NOTEBOOK.replace("return fut", "return fut  # noqa: RD001"))
    assert run_lint("quiet.ipynb").exit_code == 0


def test_json_output_has_cell_and_line_in_cell(run_lint: Run, write: Write) -> None:
    """JSON findings in a notebook carry ``cell`` and the line within that cell."""
    write("fan_out.ipynb", TASK_NOTEBOOK)
    (item,) = json.loads(run_lint("--output-format", "json", "fan_out.ipynb").stdout)
    assert (item["path"], item["cell"], item["line"], item["column"]) == (
        "fan_out.ipynb", 3, 3, 5)


def test_sarif_output_has_the_cell_region(run_lint: Run, write: Write) -> None:
    """SARIF results name the cell (logical location, property) and the line in it."""
    write("fan_out.ipynb", TASK_NOTEBOOK)
    log = json.loads(run_lint("--output-format", "sarif", "fan_out.ipynb").stdout)
    (result,) = log["runs"][0]["results"]
    (location,) = result["locations"]
    assert location["physicalLocation"]["region"] == {"startLine": 3, "startColumn": 5}
    assert location["logicalLocations"] == [{"name": "cell 3", "kind": "module"}]
    assert result["properties"] == {"cell": 3}


def test_directories_include_notebooks(run_lint: Run, write: Write) -> None:
    """A directory walk checks ``*.ipynb`` next to ``*.py``."""
    write("proj/a.ipynb", TASK_NOTEBOOK)
    result = run_lint("proj")
    assert result.stdout.startswith(f"{Path('proj/a.ipynb')}:cell 3, line 3, col 5: RD001")


def test_syntax_error_names_the_cell(run_lint: Run, write: Write) -> None:
    """A syntax error in a cell is one error line naming the cell and its line; exit 2."""
    write("broken.ipynb", notebook(("code", "x = 1\n"), ("code", "y = 2\ndef f(:\n")))
    result = run_lint("broken.ipynb")
    assert result.exit_code == 2
    assert "in cell 2, line 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_notebook_is_reported_without_traceback(run_lint: Run, write: Write) -> None:
    """A .ipynb that is not JSON, or has no cells, gets one clear error line."""
    write("text.ipynb", "print('hello')\n")
    write("empty.ipynb", "{}")
    result = run_lint("text.ipynb", "empty.ipynb")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("text.ipynb: error: not a Jupyter notebook (invalid JSON")
    assert lines[1].startswith("empty.ipynb: error: not a Jupyter notebook (no 'cells' list")


def test_an_indented_cell_is_read_as_ipython_runs_it(run_lint: Run, write: Write) -> None:
    """IPython removes a cell's leading indentation (dask-cloudprovider's EC2 example has
    `` data = data.drop(...)``): no syntax error, and findings keep their real column."""
    write("indented.ipynb", notebook(
        ("code", "from dask.distributed import get_client\n"),
        ("code", "  data = data.drop('Airline', axis=1)\n"),
        ("code", "  def task(x):\n      fut = get_client().submit(inc, x)\n      return fut\n"
                 "  client.submit(task, 1)\n"),
    ))  # fmt: skip
    result = run_lint("indented.ipynb")
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("indented.ipynb:cell 3, line 3, col 7: RD001 task 'task'")
    assert "not checked" not in result.output
