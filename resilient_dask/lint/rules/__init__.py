"""The rule registry: every rule class, in code order.

To add a rule, write ``rdNNN_<name>.py`` with one :class:`~.base.Rule` subclass
and list it in :data:`RULES`; its examples are then tested, and it appears in
``--explain`` and in docs/lint-rules.md.
"""

from __future__ import annotations

from resilient_dask.lint.rules.base import Example, Finding, Rule, example
from resilient_dask.lint.rules.rd001_returned_future import ReturnedFuture
from resilient_dask.lint.rules.rd002_blocking_wait_in_task import BlockingWaitInTask
from resilient_dask.lint.rules.rd003_closure_captured_future import ClosureCapturedFuture
from resilient_dask.lint.rules.rd004_compute_in_delayed import ComputeInDelayed
from resilient_dask.lint.rules.rd005_delayed_of_result import DelayedOfResult
from resilient_dask.lint.rules.rd006_compute_in_loop import ComputeInLoop
from resilient_dask.lint.rules.rd007_repeated_large_argument import RepeatedLargeArgument
from resilient_dask.lint.rules.rd008_delayed_in_delayed import DelayedInDelayed
from resilient_dask.lint.rules.rd009_delayed_of_collection import DelayedOfCollection
from resilient_dask.lint.rules.rd010_hidden_future_argument import HiddenFutureArgument
from resilient_dask.lint.rules.rd011_identical_submit_in_loop import IdenticalSubmitInLoop
from resilient_dask.lint.rules.rd012_scatter_in_loop import ScatterInLoop
from resilient_dask.lint.rules.rd013_result_after_worker_client import ResultAfterWorkerClient
from resilient_dask.lint.rules.rd014_delayed_extra_arguments import DelayedExtraArguments

RULES: tuple[type[Rule], ...] = (
    ReturnedFuture,
    BlockingWaitInTask,
    ClosureCapturedFuture,
    ComputeInDelayed,
    DelayedOfResult,
    ComputeInLoop,
    RepeatedLargeArgument,
    DelayedInDelayed,
    DelayedOfCollection,
    HiddenFutureArgument,
    IdenticalSubmitInLoop,
    ScatterInLoop,
    ResultAfterWorkerClient,
    DelayedExtraArguments,
)
"""Every rule class, sorted by code."""

RULES_BY_CODE: dict[str, type[Rule]] = {rule.code: rule for rule in RULES}


def find_rule(code_or_name: str) -> type[Rule] | None:
    """The rule with this code (``RD001``, any case) or name (``returned-future``)."""
    wanted = code_or_name.strip()
    for rule in RULES:
        if rule.code == wanted.upper() or rule.name == wanted.lower():
            return rule
    return None


def expand_selector(selector: str) -> list[str] | None:
    """Codes matched by a code, a code prefix (``RD0``), a rule name, or ``ALL``.

    Returns None when nothing matches (an invalid selector).
    """
    wanted = selector.strip()
    if wanted.upper() == "ALL":
        return [rule.code for rule in RULES]
    rule = find_rule(wanted)
    if rule is not None:
        return [rule.code]
    matched = [r.code for r in RULES if wanted and r.code.startswith(wanted.upper())]
    return matched or None


__all__ = [
    "RULES",
    "RULES_BY_CODE",
    "Example",
    "Finding",
    "Rule",
    "example",
    "expand_selector",
    "find_rule",
]
