"""Recognising calls that create tasks, and what they send along (shared by rules)."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.kinds import DELAYED_FN
from resilient_dask.lint.scopes import CallSite

# Keyword arguments of Client.submit/map that configure the task, not its inputs.
SUBMIT_OPTIONS = frozenset(
    {
        "key",
        "workers",
        "resources",
        "retries",
        "priority",
        "pure",
        "allow_other_workers",
        "fifo_timeout",
        "actor",
        "actors",
        "annotations",
        "batch_size",
        "span",
    }
)


@dataclass(frozen=True)
class TaskCall:
    """A call that creates tasks: ``how`` it does, the function and the data it sends."""

    how: str  # "submit", "map" or "delayed"
    function: ast.expr | None
    payload: tuple[ast.expr, ...]


def task_call(analysis: Analysis, site: CallSite) -> TaskCall | None:
    """``client.submit/map(f, ...)``, ``delayed(f)(...)``, ``delayed(x)`` or ``delayed_fn(...)``."""
    call, scope = site.node, site.scope
    method = analysis.client_method(call, scope)
    if method in ("submit", "map"):
        options = [k.value for k in call.keywords if k.arg not in SUBMIT_OPTIONS and k.arg]
        function = call.args[0] if call.args else None
        payload = call.args[1:] if method == "submit" else []
        return TaskCall(method, function, (*payload, *options))
    func = call.func
    if isinstance(func, ast.Call) and analysis.is_delayed_call(func, scope):
        function = func.args[0] if func.args else None
        return TaskCall("delayed", function, (*call.args, *(k.value for k in call.keywords)))
    if analysis.is_delayed_call(call, scope):
        if id(call) in analysis.called:
            return None  # the enclosing delayed(f)(...) call is the task
        return TaskCall("delayed", call.args[0] if call.args else None, ())
    if isinstance(func, ast.Name | ast.Attribute) and DELAYED_FN in analysis.kinds(func, scope):
        return TaskCall("delayed", None, (*call.args, *(k.value for k in call.keywords)))
    return None
