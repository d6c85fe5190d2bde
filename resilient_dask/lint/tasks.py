"""Which functions of a module run as Dask tasks, and how they get there."""

from __future__ import annotations

import ast

from resilient_dask.lint.analysis import Analysis, keyword_arg
from resilient_dask.lint.kinds import CLIENT, COLLECTION
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
_CLIENT_SIDE_METHODS = frozenset(
    {
        "register_plugin",
        "register_worker_plugin",
        "register_scheduler_plugin",
        "run_on_scheduler",
        "restart",
        "restart_workers",
        "shutdown",
        "upload_file",
        "scheduler_info",
        "sync",
        "wait_for_workers",
        "rebalance",
        "replicate",
        "get_task_stream",
        "get_dashboard_link",
    }
)
"""Client methods for driving a cluster, which code running in a task does not call."""
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
    inside a task (``worker_client``, ``secede``, ``rejoin``, ``get_worker``), or
    ``get_client()`` in a function (not a method) this module never calls itself.
    """
    tasks: dict[int, set[str]] = {}
    client_side: list[Scope] = []

    def mark(expr: ast.expr | None, scope: Scope, how: str) -> None:
        targets = analysis.function_scopes(expr, scope)
        for target in targets:
            tasks.setdefault(id(target), set()).add(how)
        if not targets:
            imported = _imported_function(analysis, expr, scope)
            if imported is not None:
                analysis.external_tasks.append((imported, how))

    for function in analysis.module.children:
        hows = analysis.imported_tasks.get(function.name)
        if hows and function.kind == "function":
            tasks.setdefault(id(function), set()).update(hows)

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
        elif analysis.is_call_to(call, scope, "distributed.get_client"):
            function = scope.function()
            if function.kind == "function" and function.parent and function.parent.kind != "class":
                client_side.append(function)
    for function in _not_called_here(analysis, client_side):
        tasks.setdefault(id(function), set()).add("worker")
    return tasks


def _not_called_here(analysis: Analysis, functions: list[Scope]) -> list[Scope]:
    """The functions this module never calls directly (by name, outside a task call).

    ``get_client()`` works on both sides: a function that calls it and that the
    module calls itself is client code; one that the module only defines or hands
    to others runs on a worker.
    """
    functions = [f for f in functions if not _administers_cluster(analysis, f)]
    if not functions:
        return []
    names = {f.name for f in functions}
    called: set[int] = set()
    for site in analysis.calls():
        func = site.node.func
        if isinstance(func, ast.Name) and func.id in names:
            called.update(id(s) for s in analysis.function_scopes(func, site.scope))
    return [f for f in functions if id(f) not in called]


def _administers_cluster(analysis: Analysis, function: Scope) -> bool:
    """Client-side code: it drives the cluster (``client.register_plugin``...)."""
    for site in analysis.body_calls(function):
        func = site.node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in _CLIENT_SIDE_METHODS
            and CLIENT in analysis.kinds(func.value, site.scope)
        ):
            return True
    return False


def _imported_function(analysis: Analysis, expr: ast.expr | None, scope: Scope) -> str | None:
    """The import path of ``expr`` when it names an imported function (maybe in a partial)."""
    if isinstance(expr, ast.Call):
        if analysis.is_call_to(expr, scope, "functools.partial", "dask.delayed") and expr.args:
            return _imported_function(analysis, expr.args[0], scope)
        return None
    if not isinstance(expr, ast.Name | ast.Attribute):
        return None
    name = analysis.qualname(expr, scope)
    if name is None or name.startswith(("dask.", "distributed.")) or "." not in name:
        return None
    return name
