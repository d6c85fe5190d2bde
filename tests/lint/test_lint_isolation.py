"""The linter only parses code: it never imports dask/distributed nor the checked code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import resilient_dask.lint

PACKAGE = Path(resilient_dask.lint.__file__).parent
ROOT = PACKAGE.parents[1]


def test_lint_package_has_no_dask_imports() -> None:
    """No module of resilient_dask.lint imports dask or distributed."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names
                          if n.split(".")[0] in ("dask", "distributed")]
    assert offenders == []


def test_linting_imports_neither_dask_nor_the_checked_code(tmp_path: Path) -> None:
    """A lint run in a fresh interpreter leaves dask, distributed and the target unimported."""
    target = tmp_path / "victim_module.py"
    target.write_text("import dask\nraise SystemExit('executed!')\n", encoding="utf-8")
    code = (
        "import sys\n"
        "from resilient_dask.lint import lint_paths\n"
        f"report = lint_paths([{str(target)!r}])\n"
        "bad = [m for m in ('dask', 'distributed', 'victim_module') if m in sys.modules]\n"
        "print(report.files_checked, bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.stdout.strip() == "1 []", proc.stderr
