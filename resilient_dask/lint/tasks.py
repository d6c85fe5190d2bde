"""Which functions of a module run as Dask tasks, and how they get there."""

from __future__ import annotations

import ast

from resilient_dask.lint.analysis import Analysis, keyword_arg
from resilient_dask.lint.kinds import COLLECTION
from resilient_dask.lint.scopes import Scope

_COLLECTION_TASK_FUNCS = frozenset(
    {
        "dask.array.map_blocks",
        "dask.array.blockwise",
        "dask.array.map_overlap",
        "dask.dataframe.map_partitions",
        "dask.bag.map",
        "dask.bag.map_partitions",
    }
)
_COLLECTION_TASK_METHODS = frozenset(
    {
        "map",
        "apply",
        "filter",
        "map_partitions",
        "map_blocks",
        "map_overlap",
        "reduction",
        "accumulate",
        "foldby",
        "starmap",
        "transform",
    }
)
_ANY_RECEIVER_TASK_METHODS = frozenset({"map_partitions", "map_blocks", "map_overlap"})
_WORKER_ONLY = (
    "distributed.worker_client",
    "distributed.secede",
    "distributed.rejoin",
    "distributed.get_worker",
)


def find_tasks(analysis: Analysis) -> dict[int, set[str]]:
    """``id(function scope) -> {"submit", "delayed", "collection", "worker"}``.

    A function is a task when the module passes it (by name, as a lambda, in
    ``functools.partial`` or as ``self.method``) to ``client.submit``/``map``,
    ``delayed``, a collection's ``map_partitions``/``map_blocks``/``map``..., when
    it is decorated with ``@delayed``, or when it calls something that only works
    inside a task (``worker_client``, ``secede``, ``rejoin``, ``get_worker``).
    """
    tasks: dict[int, set[str]] = {}

    def mark(expr: ast.expr | None, scope: Scope, how: str) -> None:
        for target in analysis.function_scopes(expr, scope):
            tasks.setdefault(id(target), set()).add(how)

    for function in analysis.functions():
        node = function.node
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and function.parent
            and any(analysis.is_delayed_decorator(d, function.parent) for d in node.decorator_list)
        ):
            tasks.setdefault(id(function), set()).add("delayed")
    for site in analysis.calls():
        call, scope = site.node, site.scope
        first = call.args[0] if call.args else keyword_arg(call, "func")
        method = analysis.client_method(call, scope)
        func = call.func
        if method in ("submit", "map"):
            mark(first, scope, "submit")
        elif isinstance(func, ast.Call) and not func.args and analysis.is_delayed_call(func, scope):
            mark(first, scope, "delayed")  # delayed(pure=True)(f)
        elif analysis.is_delayed_call(call, scope):
            mark(first, scope, "delayed")
        elif isinstance(func, ast.Attribute) and (
            func.attr in _ANY_RECEIVER_TASK_METHODS
            or (
                func.attr in _COLLECTION_TASK_METHODS
                and COLLECTION in analysis.kinds(func.value, scope)
            )
        ):
            mark(first, scope, "collection")
        elif analysis.is_call_to(call, scope, *_COLLECTION_TASK_FUNCS):
            mark(first, scope, "collection")
        elif analysis.is_call_to(call, scope, *_WORKER_ONLY):
            function = scope.function()
            if function.kind in ("function", "lambda"):
                tasks.setdefault(id(function), set()).add("worker")
    return tasks
