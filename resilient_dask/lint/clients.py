"""Evidence that a value is a Dask client: annotations, fixtures, helpers returning one.

:class:`~resilient_dask.lint.analysis.Analysis` asks these when a name is not
assigned from ``Client(...)``/``get_client()`` directly. A name alone (``c``) is
not evidence: only the first parameter of ``@gen_cluster(client=True)`` is.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from resilient_dask.lint.kinds import CLIENT, CLIENT_FIXTURE_DECORATORS

ONLY_CLIENT_METHODS = frozenset(
    "scheduler_info run_on_scheduler upload_file wait_for_workers rebalance replicate "
    "has_what who_has publish_dataset get_dataset unpublish_dataset list_datasets "
    "register_plugin register_worker_plugin get_task_stream retire_workers "
    "get_worker_logs get_scheduler_logs".split()
)
"""Methods only a Dask client has: their receiver is one, whatever its name."""

if TYPE_CHECKING:
    from resilient_dask.lint.analysis import Analysis
    from resilient_dask.lint.scopes import Binding, Scope


def names_client(analysis: Analysis, annotation: ast.expr, scope: Scope) -> bool:
    """``Client``, ``distributed.Client``, ``"Client"`` or ``Client | None``."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return annotation.value.rsplit(".", 1)[-1] in ("Client", "Client | None")
    if isinstance(annotation, ast.BinOp):
        return names_client(analysis, annotation.left, scope) or names_client(
            analysis, annotation.right, scope
        )
    if isinstance(annotation, ast.Subscript):  # Optional[Client]
        return names_client(analysis, annotation.slice, scope)
    return analysis.qualname(annotation, scope) == "distributed.Client"


def is_client_fixture(analysis: Analysis, binding: Binding) -> bool:
    """The first parameter of a ``@gen_cluster(client=True)`` test."""
    node = binding.scope.node
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.args.args:
        return False
    if node.args.args[0].arg != binding.name or binding.scope.parent is None:
        return False
    for decorator in node.decorator_list:
        if (
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Name | ast.Attribute)
            and analysis.qualname(decorator.func, binding.scope.parent)
            in CLIENT_FIXTURE_DECORATORS
        ):
            flag = _keyword(decorator, "client")
            return isinstance(flag, ast.Constant) and flag.value is True
    return False


def returns_client(analysis: Analysis, call: ast.Call, scope: Scope) -> bool:
    """A call to this module's function annotated ``-> Client``, or returning one."""
    targets = analysis.function_scopes(call.func, scope) if isinstance(call.func, ast.Name) else []
    if not targets:
        return False
    for target in targets:
        node = target.node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return False
        if node.returns is not None and target.parent is not None:
            if not names_client(analysis, node.returns, target.parent):
                return False
            continue
        values = [r.value for r in target.returns]
        if not values or not all(CLIENT in analysis.kinds(v, target) for v in values):
            return False
    return True


def used_as_client(analysis: Analysis, name: str, scope: Scope) -> bool:
    """``name`` (bound in ``scope``, to something unknown) is used as only a client is:
    ``c.scheduler_info()``, ``c.upload_file(...)``..., or both ``c.submit``/``c.map`` and
    ``c.gather`` (an executor has no ``gather``, an MPI communicator no ``submit``)."""
    receivers = analysis.client_receivers.get(id(scope))
    if receivers is None:
        receivers = analysis.client_receivers[id(scope)] = _client_receivers(scope)
    return name in receivers


def _client_receivers(scope: Scope) -> frozenset[str]:
    methods: dict[str, set[str]] = {}
    stack = [scope]
    while stack:
        current = stack.pop()
        stack.extend(current.children)
        for site in current.calls:
            func = site.node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                methods.setdefault(func.value.id, set()).add(func.attr)
    return frozenset(
        name
        for name, used in methods.items()
        if used & ONLY_CLIENT_METHODS or (used & {"submit", "map"} and "gather" in used)
    )


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)
