"""Evidence that a value is a Dask client: annotations, fixtures, helpers returning one.

:class:`~resilient_dask.lint.analysis.Analysis` asks these when a name is not
assigned from ``Client(...)``/``get_client()`` directly. A name alone (``c``) is
not evidence: only the first parameter of ``@gen_cluster(client=True)`` is.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from resilient_dask.lint.kinds import CLIENT, CLIENT_FIXTURE_DECORATORS

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


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)
