"""One pass over a module's AST that records scopes, bindings and call sites.

Nothing here knows about Dask: :mod:`resilient_dask.lint.analysis` interprets
what this collects. The walk is a hand-written recursion (not
``ast.NodeVisitor``) because it is the hot path of the linter; node types it
does not know are walked generically, so new syntax never breaks it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Pos = tuple[int, int]
ScopeKind = Literal["module", "function", "lambda", "class", "comprehension"]
Comprehension = ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
Loop = ast.For | ast.AsyncFor | ast.While | Comprehension
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda

_MUTATORS = frozenset({"append", "add", "extend", "insert", "appendleft"})
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def pos_of(node: ast.AST) -> Pos:
    """``(line, col)`` of a node, ``(0, 0)`` for nodes without a position."""
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def end_of(node: ast.AST) -> Pos:
    """``(end_line, end_col)`` of a node (its start if the end is unknown)."""
    line = getattr(node, "end_lineno", None)
    col = getattr(node, "end_col_offset", None)
    if line is None or col is None:
        return pos_of(node)
    return (line, col)


@dataclass(eq=False)
class Binding:
    """A name bound in a scope.

    ``kind`` says how: ``assign`` (``value`` is the assigned expression),
    ``element`` (an element of the iterable ``value``: for-loop and
    comprehension targets, unpacking), ``append`` (``value`` was appended or
    stored into the container), ``aug`` (augmented assignment with ``value``),
    ``with`` (``value`` is the context expression), ``import`` (``qualname``),
    ``def``/``class`` (``node``), ``param`` (``value`` is the annotation), and
    ``other`` (anything the analysis cannot see through: ``del``, ``except``,
    ``match``...).
    """

    name: str
    kind: str
    pos: Pos
    scope: Scope
    value: ast.expr | None = None
    node: ast.AST | None = None
    qualname: str = ""
    loops: tuple[Loop, ...] = ()


@dataclass(eq=False)
class CallSite:
    """A call and its lexical context inside its enclosing function."""

    node: ast.Call
    scope: Scope
    loops: tuple[Loop, ...]
    withs: tuple[ast.withitem, ...]
    parent: ast.AST | None
    statement: ast.AST | None = None
    """The innermost statement containing the call."""


@dataclass(eq=False)
class Scope:
    """A module, function, lambda, class body or comprehension."""

    kind: ScopeKind
    node: ast.AST
    parent: Scope | None
    name: str = ""
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    mutations: dict[str, list[Binding]] = field(default_factory=dict)
    """``xs.append(v)`` / ``xs[k] = v`` (kind ``append``), ``xs.extend(vs)`` (``extend``):
    kept apart from :attr:`bindings` because they do not make ``xs`` local."""
    declared_global: set[str] = field(default_factory=set)
    declared_nonlocal: set[str] = field(default_factory=set)
    calls: list[CallSite] = field(default_factory=list)
    returns: list[ast.Return] = field(default_factory=list)
    loads: list[ast.Name] = field(default_factory=list)
    attr_stores: list[tuple[ast.Attribute, ast.expr, Pos]] = field(default_factory=list)
    children: list[Scope] = field(default_factory=list)

    def function(self) -> Scope:
        """The nearest enclosing scope that is not a comprehension."""
        scope = self
        while scope.kind == "comprehension" and scope.parent is not None:
            scope = scope.parent
        return scope

    def bind(self, binding: Binding) -> None:
        """Record ``binding`` (bindings stay in source order)."""
        self.bindings.setdefault(binding.name, []).append(binding)


class Collector:
    """Walks a module once; the result is :attr:`module` and :attr:`scopes`."""

    def __init__(self, tree: ast.Module) -> None:
        self.module = Scope("module", tree, None, "<module>")
        self.scopes: list[Scope] = [self.module]
        self.scope_of: dict[int, Scope] = {id(tree): self.module}
        self.called: set[int] = set()
        self.awaited: set[int] = set()
        self._scope = self.module
        self._loops: tuple[Loop, ...] = ()
        self._withs: tuple[ast.withitem, ...] = ()
        self._statement: ast.AST | None = None
        self._bound_after: Pos | None = None
        """While binding an assignment's targets: the end of its value, where the names
        are really bound (``x = f(x)`` reads the old ``x``)."""
        self._visit_list(tree.body, tree)

    # -- scopes -------------------------------------------------------------
    def _push(self, kind: ScopeKind, node: ast.AST, name: str) -> Scope:
        scope = Scope(kind, node, self._scope, name)
        self._scope.children.append(scope)
        self.scopes.append(scope)
        self.scope_of[id(node)] = scope
        return scope

    def _bind(
        self,
        name: str,
        kind: str,
        node: ast.AST,
        *,
        value: ast.expr | None = None,
        def_node: ast.AST | None = None,
        qualname: str = "",
        walrus: bool = False,
    ) -> None:
        scope = self._scope.function() if walrus else self._scope
        pos = pos_of(node)
        if self._bound_after is not None and self._bound_after > pos:
            pos = self._bound_after
        scope.bind(Binding(name, kind, pos, scope, value, def_node, qualname, self._loops))

    def _mutate(self, name: str, kind: str, node: ast.AST, value: ast.expr) -> None:
        binding = Binding(name, kind, pos_of(node), self._scope, value, None, "", self._loops)
        self._scope.mutations.setdefault(name, []).append(binding)

    # -- walking ------------------------------------------------------------
    def _visit_list(self, nodes: list[ast.stmt] | list[ast.expr], parent: ast.AST) -> None:
        for node in nodes:
            if isinstance(node, ast.stmt):
                self._statement = node
            self._visit(node, parent)

    def _generic(self, node: ast.AST) -> None:
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, ast.AST):
                self._visit(value, node)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.stmt):
                        self._statement = item
                    if isinstance(item, ast.AST):
                        self._visit(item, node)

    def _visit(self, node: ast.AST, parent: ast.AST | None) -> None:
        handler = _DISPATCH.get(type(node))
        if handler is None:
            self._generic(node)
        else:
            handler(self, node, parent)

    def _name(self, node: ast.Name, parent: ast.AST | None) -> None:
        if type(node.ctx) is ast.Load:
            self._scope.loads.append(node)
        else:
            self._bind(node.id, "other", node)

    def _attribute(self, node: ast.Attribute, parent: ast.AST | None) -> None:
        self._visit(node.value, node)

    def _constant(self, node: ast.Constant, parent: ast.AST | None) -> None:
        return

    def _call(self, node: ast.Call, parent: ast.AST | None) -> None:
        self._scope.calls.append(
            CallSite(node, self._scope, self._loops, self._withs, parent, self._statement)
        )
        func = node.func
        if isinstance(func, ast.Call):
            self.called.add(id(func))
        elif (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.attr in _MUTATORS
            and node.args
        ):
            kind = "extend" if func.attr == "extend" else "append"
            self._mutate(func.value.id, kind, func.value, node.args[-1])
        self._visit(func, node)
        for arg in node.args:
            self._visit(arg, node)
        for keyword in node.keywords:
            self._visit(keyword.value, node)

    def _assign(self, node: ast.Assign, parent: ast.AST | None) -> None:
        self._visit(node.value, node)
        self._bound_after = end_of(node.value)
        for target in node.targets:
            self._target(target, node.value, "assign")
        self._bound_after = None

    def _ann_assign(self, node: ast.AnnAssign, parent: ast.AST | None) -> None:
        if node.value is not None:
            self._visit(node.value, node)
            self._bound_after = end_of(node.value)
            self._target(node.target, node.value, "assign")
            self._bound_after = None
        elif not isinstance(node.target, ast.Name):
            self._visit(node.target, node)
        self._visit(node.annotation, node)

    def _aug_assign(self, node: ast.AugAssign, parent: ast.AST | None) -> None:
        self._visit(node.value, node)
        if isinstance(node.target, ast.Name):
            self._scope.loads.append(ast.Name(node.target.id, ast.Load(), **_loc(node.target)))
            self._bound_after = end_of(node.value)
            self._bind(node.target.id, "aug", node.target, value=node.value)
            self._bound_after = None
        else:
            self._visit(node.target, node)

    def _named_expr(self, node: ast.NamedExpr, parent: ast.AST | None) -> None:
        self._visit(node.value, node)
        self._bind(node.target.id, "assign", node.target, value=node.value, walrus=True)

    def _for(self, node: ast.For | ast.AsyncFor, parent: ast.AST | None) -> None:
        self._visit(node.iter, node)
        self._target(node.target, node.iter, "element")
        outer = self._loops
        self._loops = (*outer, node)
        self._visit_list(node.body, node)
        self._loops = outer
        self._visit_list(node.orelse, node)

    def _while(self, node: ast.While, parent: ast.AST | None) -> None:
        self._visit(node.test, node)
        outer = self._loops
        self._loops = (*outer, node)
        self._visit_list(node.body, node)
        self._loops = outer
        self._visit_list(node.orelse, node)

    def _with(self, node: ast.With | ast.AsyncWith, parent: ast.AST | None) -> None:
        outer_withs = self._withs
        for item in node.items:
            self._visit(item.context_expr, node)
            if item.optional_vars is not None:
                self._target(item.optional_vars, item.context_expr, "with")
            self._withs = (*self._withs, item)
        self._visit_list(node.body, node)
        self._withs = outer_withs

    def _import(self, node: ast.Import, parent: ast.AST | None) -> None:
        for alias in node.names:
            if alias.asname:
                self._bind(alias.asname, "import", node, qualname=alias.name)
            else:
                top = alias.name.split(".")[0]
                self._bind(top, "import", node, qualname=top)

    def _import_from(self, node: ast.ImportFrom, parent: ast.AST | None) -> None:
        # ``from .tasks import f`` -> ".tasks.f"; ``from . import tasks`` -> ".tasks"
        base = "." * node.level + (f"{node.module}." if node.module else "")
        for alias in node.names:
            if alias.name != "*":
                self._bind(
                    alias.asname or alias.name, "import", node, qualname=base + alias.name
                )

    def _return(self, node: ast.Return, parent: ast.AST | None) -> None:
        self._scope.function().returns.append(node)
        if node.value is not None:
            self._visit(node.value, node)

    def _await(self, node: ast.Await, parent: ast.AST | None) -> None:
        self.awaited.add(id(node.value))
        self._visit(node.value, node)

    def _global(self, node: ast.Global, parent: ast.AST | None) -> None:
        self._scope.declared_global.update(node.names)

    def _nonlocal(self, node: ast.Nonlocal, parent: ast.AST | None) -> None:
        self._scope.declared_nonlocal.update(node.names)

    def _except(self, node: ast.ExceptHandler, parent: ast.AST | None) -> None:
        if node.type is not None:
            self._visit(node.type, node)
        if node.name:
            self._bind(node.name, "other", node)
        self._visit_list(node.body, node)

    def _match_name(self, node: ast.MatchAs | ast.MatchStar, parent: ast.AST | None) -> None:
        if node.name:
            self._bind(node.name, "other", node)
        self._generic(node)

    def _match_mapping(self, node: ast.MatchMapping, parent: ast.AST | None) -> None:
        if node.rest:
            self._bind(node.rest, "other", node)
        self._generic(node)

    def _function_node(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, parent: ast.AST | None
    ) -> None:
        self._function(node)

    def _lambda_node(self, node: ast.Lambda, parent: ast.AST | None) -> None:
        self._lambda(node)

    def _class_node(self, node: ast.ClassDef, parent: ast.AST | None) -> None:
        self._class(node)

    def _comprehension_node(self, node: Comprehension, parent: ast.AST | None) -> None:
        self._comprehension(node)

    def _target(self, target: ast.expr, value: ast.expr, kind: str) -> None:
        """Bind the names in an assignment/for/with target to ``value``."""
        if isinstance(target, ast.Name):
            self._bind(target.id, kind, target, value=value)
        elif isinstance(target, ast.Tuple | ast.List):
            self._unpack(target, value, kind)
        elif isinstance(target, ast.Starred):
            self._target(target.value, value, "other")
        elif isinstance(target, ast.Attribute):
            self._visit(target.value, target)
            self._scope.attr_stores.append((target, value, pos_of(target)))
        elif isinstance(target, ast.Subscript):
            self._visit(target.value, target)
            self._visit(target.slice, target)
            if isinstance(target.value, ast.Name):
                self._mutate(target.value.id, "append", target.value, value)
        else:
            self._visit(target, None)

    def _unpack(self, target: ast.Tuple | ast.List, value: ast.expr, kind: str) -> None:
        elts = target.elts
        if (
            kind == "assign"
            and isinstance(value, ast.Tuple | ast.List)
            and len(value.elts) == len(elts)
            and not any(isinstance(e, ast.Starred) for e in (*elts, *value.elts))
        ):
            for sub_target, sub_value in zip(elts, value.elts, strict=True):
                self._target(sub_target, sub_value, "assign")
            return
        if (
            kind == "element"
            and isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and not value.keywords
        ):
            # ``for i, x in enumerate(xs)`` / ``for a, b in zip(xs, ys)``
            if value.func.id == "enumerate" and len(elts) == 2 and value.args:
                self._target(elts[0], value, "other")
                self._target(elts[1], value.args[0], "element")
                return
            if value.func.id == "zip" and len(elts) == len(value.args):
                for sub_target, sub_value in zip(elts, value.args, strict=True):
                    self._target(sub_target, sub_value, "element")
                return
        sub_kind = "element" if kind == "assign" else "other"
        for sub_target in elts:
            self._target(sub_target, value, sub_kind)

    def _arguments(self, args: ast.arguments) -> None:
        for default in (*args.defaults, *(d for d in args.kw_defaults if d is not None)):
            self._visit(default, args)

    def _params(self, args: ast.arguments) -> None:
        for arg in (*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg):
            if arg is not None:
                self._bind(arg.arg, "param", arg, value=arg.annotation)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self._visit(decorator, node)
        self._arguments(node.args)
        for arg in (
            *node.args.posonlyargs,
            *node.args.args,
            node.args.vararg,
            *node.args.kwonlyargs,
            node.args.kwarg,
        ):
            if arg is not None and arg.annotation is not None:
                self._visit(arg.annotation, arg)
        if node.returns is not None:
            self._visit(node.returns, node)
        self._bind(node.name, "def", node, def_node=node)
        self._enter(self._push("function", node, node.name), node.args, node.body)

    def _lambda(self, node: ast.Lambda) -> None:
        self._arguments(node.args)
        scope = self._push("lambda", node, "<lambda>")
        scope.returns.append(ast.Return(value=node.body, **_loc(node.body)))  # its value
        self._enter(scope, node.args, [node.body])

    def _enter(
        self, scope: Scope, args: ast.arguments, body: list[ast.stmt] | list[ast.expr]
    ) -> None:
        outer, loops, withs, statement = self._scope, self._loops, self._withs, self._statement
        self._scope, self._loops, self._withs = scope, (), ()
        self._params(args)
        self._visit_list(body, scope.node)
        self._scope, self._loops, self._withs, self._statement = outer, loops, withs, statement

    def _class(self, node: ast.ClassDef) -> None:
        for expr in (*node.decorator_list, *node.bases, *(k.value for k in node.keywords)):
            self._visit(expr, node)
        self._bind(node.name, "class", node, def_node=node)
        outer, loops, withs = self._scope, self._loops, self._withs
        self._scope, self._loops, self._withs = self._push("class", node, node.name), (), ()
        statement = self._statement
        self._visit_list(node.body, node)
        self._scope, self._loops, self._withs, self._statement = outer, loops, withs, statement

    def _comprehension(self, node: Comprehension) -> None:
        generators = node.generators
        if not generators:  # pragma: no cover - the parser never builds these
            return
        self._visit(generators[0].iter, node)
        outer, loops = self._scope, self._loops
        self._scope = self._push("comprehension", node, "<comprehension>")
        self._loops = (*self._loops, node)
        for index, generator in enumerate(generators):
            if index:
                self._visit(generator.iter, node)
            self._target(generator.target, generator.iter, "element")
            for condition in generator.ifs:
                self._visit(condition, node)
        if isinstance(node, ast.DictComp):
            self._visit(node.key, node)
            self._visit(node.value, node)
        else:
            self._visit(node.elt, node)
        self._scope, self._loops = outer, loops


def _loc(node: ast.AST) -> dict[str, int]:
    return {
        "lineno": getattr(node, "lineno", 0),
        "col_offset": getattr(node, "col_offset", 0),
        "end_lineno": getattr(node, "end_lineno", 0) or 0,
        "end_col_offset": getattr(node, "end_col_offset", 0) or 0,
    }


_DISPATCH: dict[type[ast.AST], Callable[[Collector, Any, ast.AST | None], None]] = {
    ast.Name: Collector._name,
    ast.Attribute: Collector._attribute,
    ast.Constant: Collector._constant,
    ast.Call: Collector._call,
    ast.Assign: Collector._assign,
    ast.AnnAssign: Collector._ann_assign,
    ast.AugAssign: Collector._aug_assign,
    ast.NamedExpr: Collector._named_expr,
    ast.FunctionDef: Collector._function_node,
    ast.AsyncFunctionDef: Collector._function_node,
    ast.Lambda: Collector._lambda_node,
    ast.ClassDef: Collector._class_node,
    ast.ListComp: Collector._comprehension_node,
    ast.SetComp: Collector._comprehension_node,
    ast.GeneratorExp: Collector._comprehension_node,
    ast.DictComp: Collector._comprehension_node,
    ast.For: Collector._for,
    ast.AsyncFor: Collector._for,
    ast.While: Collector._while,
    ast.With: Collector._with,
    ast.AsyncWith: Collector._with,
    ast.Import: Collector._import,
    ast.ImportFrom: Collector._import_from,
    ast.Return: Collector._return,
    ast.Await: Collector._await,
    ast.Global: Collector._global,
    ast.Nonlocal: Collector._nonlocal,
    ast.ExceptHandler: Collector._except,
    ast.MatchAs: Collector._match_name,
    ast.MatchStar: Collector._match_name,
    ast.MatchMapping: Collector._match_mapping,
}
