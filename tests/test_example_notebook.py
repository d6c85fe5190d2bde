"""The example notebook runs top to bottom in a real kernel (nbclient) and cleans up.

The notebook asserts its own values (the replayed results after a scheduler restart);
this test checks that it ran, what its widgets showed, and that every process it
started is gone afterwards.
"""

from __future__ import annotations

import json
import pathlib
import sys
import uuid

import nbformat
import psutil
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.timeout(150)

EXAMPLES = pathlib.Path(__file__).parent.parent / "examples"
NOTEBOOK = EXAMPLES / "resilient_client_in_a_notebook.ipynb"
TOKEN_VARIABLE = "RESILIENT_DASK_NOTEBOOK_TEST"


def _kernel_spec_dir(root: pathlib.Path) -> pathlib.Path:
    """A ``python3`` kernel that runs this interpreter (the test's venv), not a system one."""
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (test)",
        "language": "python",
    }
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return root


def _processes_with(token: str) -> list[int]:
    """Live processes that inherited ``TOKEN_VARIABLE=token``: kernel, scheduler, workers."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get(TOKEN_VARIABLE) == token and proc.status() != "zombie":
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _html_outputs(cell: dict) -> str:
    return "".join(
        out.get("data", {}).get("text/html", "")
        for out in cell.get("outputs", [])
        if out.get("output_type") in {"execute_result", "display_data"}
    )


def test_example_notebook_runs_recovers_and_leaves_nothing(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = uuid.uuid4().hex
    monkeypatch.setenv("JUPYTER_PATH", str(_kernel_spec_dir(tmp_path / "jupyter")))
    monkeypatch.setenv(TOKEN_VARIABLE, token)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=90,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        client.execute()  # raises CellExecutionError, with the cell's traceback, on any failure
    finally:
        leftovers = _processes_with(token)
        for pid in leftovers:  # only processes this test's kernel started
            psutil.Process(pid).kill()
    assert leftovers == [], f"the notebook left processes behind: {leftovers}"

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    first_widget, after_restart = _html_outputs(code[0]), _html_outputs(code[-2])
    assert "Resilience" in first_widget
    assert "No outages since the client started." in first_widget
    assert "connection lost" in after_restart
    assert "<tr><th>Outages</th><td>1</td></tr>" in after_restart
    printed = "".join(out.get("text", "") for out in code[2].get("outputs", []))
    assert f"recovered total = {sum(x * x for x in range(100))}" in printed
