"""The ``resilient-dask`` command line (also ``python -m resilient_dask``).

Each sub-command lives next to the code it drives and is only registered here,
so that importing the CLI stays cheap: ``lint`` never imports distributed.
"""

from __future__ import annotations

import click

from resilient_dask.demo.command import demo
from resilient_dask.doctor.cli import doctor, explain
from resilient_dask.lint.cli import lint


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="resilient-dask")
def main() -> None:
    """Make Dask distributed survive the failures its users hit every week."""


main.add_command(lint)
main.add_command(demo)
main.add_command(doctor)
main.add_command(explain)
