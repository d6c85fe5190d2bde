"""Facts about loops that the loop rules share (computed on demand, per loop)."""

from __future__ import annotations

import ast
from collections.abc import Iterable

from resilient_dask.lint.scopes import Loop

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def loop_nodes(loop: Loop) -> list[ast.AST]:
    """The nodes that run once per iteration (the body, conditions, element)."""
    if isinstance(loop, ast.For | ast.AsyncFor | ast.While):
        return list(loop.body)
    nodes: list[ast.AST] = []
    for generator in loop.generators:
        nodes.append(generator.target)
        nodes.extend(generator.ifs)
    nodes.extend([loop.key, loop.value] if isinstance(loop, ast.DictComp) else [loop.elt])
    return nodes


def walk_body(nodes: Iterable[ast.AST], exclude: ast.AST | None = None) -> Iterable[ast.AST]:
    """Every node under ``nodes``, not descending into nested functions or classes."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if node is exclude:
            continue
        yield node
        if isinstance(node, _SCOPES):
            continue
        stack.extend(ast.iter_child_nodes(node))


def target_names(loop: Loop) -> set[str]:
    """Names the loop itself binds on each iteration."""
    targets: list[ast.AST] = []
    if isinstance(loop, ast.For | ast.AsyncFor):
        targets.append(loop.target)
    elif not isinstance(loop, ast.While):
        targets.extend(g.target for g in loop.generators)
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def varying_names(loop: Loop, exclude: ast.AST | None = None) -> set[str]:
    """Names whose value may change from one iteration to the next.

    The loop targets, every name assigned in the body, and (conservatively)
    every name whose object the body may mutate: receivers of method calls,
    names passed to calls, bases of attribute or item stores. The call
    ``exclude`` (the one being judged) is skipped.
    """
    names = target_names(loop)
    for node in walk_body(loop_nodes(loop), exclude):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                names.add(func.value.id)
            for arg in (*node.args, *(k.value for k in node.keywords)):
                if isinstance(arg, ast.Name):
                    names.add(arg.id)
        elif isinstance(node, ast.Attribute | ast.Subscript) and not isinstance(node.ctx, ast.Load):
            base = node.value
            while isinstance(base, ast.Attribute | ast.Subscript):
                base = base.value
            if isinstance(base, ast.Name):
                names.add(base.id)
    return names


def assigned_names(loop: Loop) -> set[str]:
    """Names (re)bound in the loop body or by the loop target."""
    names = target_names(loop)
    for node in walk_body(loop_nodes(loop)):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
    return names


def exits_early(loop: Loop) -> bool:
    """Whether the body can leave the loop or the function (break/return/yield/raise)."""
    if not isinstance(loop, ast.For | ast.AsyncFor | ast.While):
        return False
    return any(
        isinstance(node, ast.Break | ast.Return | ast.Yield | ast.YieldFrom | ast.Raise)
        for node in walk_body(loop.body)
    )


def names_in(expr: ast.AST) -> set[str]:
    """Every name loaded anywhere inside ``expr``."""
    return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def test_names(loop: Loop) -> set[str]:
    """Names read by conditions (if/while/assert/ternary) inside the loop body."""
    names: set[str] = set()
    for node in walk_body(loop_nodes(loop)):
        if isinstance(node, ast.If | ast.While | ast.IfExp | ast.Assert):
            names |= names_in(node.test)
    if not isinstance(loop, ast.For | ast.AsyncFor | ast.While):
        for generator in loop.generators:
            for condition in generator.ifs:
                names |= names_in(condition)
    return names
