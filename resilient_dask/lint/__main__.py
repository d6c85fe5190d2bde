"""``python -m resilient_dask.lint PATH...``: the lint command on its own."""

from resilient_dask.lint.cli import lint

if __name__ == "__main__":  # pragma: no branch
    lint(prog_name="python -m resilient_dask.lint")
