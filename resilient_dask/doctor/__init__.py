"""``resilient-dask doctor`` and ``resilient-dask explain``: diagnose a running cluster.

The doctor is four small layers, so that each can be tested on its own:

* :mod:`~resilient_dask.doctor.gather` connects (:mod:`~resilient_dask.doctor.connect`,
  within a deadline) and collects plain :class:`~resilient_dask.doctor.facts.Facts`
  through public distributed APIs;
* :mod:`~resilient_dask.doctor.checks` turns facts into
  :class:`~resilient_dask.doctor.findings.Finding` s (ok / advice / problem, each
  advice and problem with its fix) without I/O;
* :mod:`~resilient_dask.doctor.render` prints them as text or JSON;
* :mod:`~resilient_dask.doctor.cli` holds the click commands.

Importing this package imports neither distributed nor dask.
"""

from __future__ import annotations

from resilient_dask.doctor.facts import Facts
from resilient_dask.doctor.findings import Finding, Severity

__all__ = ["Facts", "Finding", "Severity"]
