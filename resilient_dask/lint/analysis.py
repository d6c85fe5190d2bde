"""The shared analysis every rule consults: names, values and which functions are tasks.

Built once per module on top of :class:`~resilient_dask.lint.scopes.Collector`.
It answers three questions the rules need, and caches the answers:

* what does a dotted name refer to (``qualname``: ``d`` -> ``dask.delayed``
  after ``from dask import delayed as d``);
* what kind of value an expression holds (``kinds``: a client, a Future, a
  container of Futures, a Dask collection, a large object...), following
  simple aliasing within the module;
* which functions run as Dask tasks (``task_kinds``).

Everything is deliberately conservative: when the analysis cannot tell, the
answer is "nothing known", so rules stay quiet rather than guess.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping

from resilient_dask.lint import clients, sizes
from resilient_dask.lint.kinds import (
    CARRIES_LARGE,
    CLIENT,
    CLIENT_FACTORIES,
    CLIENT_METHODS,
    CLIENT_NAMES,
    COLLECTION,
    COLLECTION_METADATA,
    COLLECTION_MODULES,
    COLLECTION_SUBMODULES,
    DELAYED,
    DELAYED_FN,
    FROM_WORKER_CLIENT,
    FUTURE,
    FUTUREISH,
    FUTURES,
    HIDES_FUTURE,
    LARGE,
    METHOD,
    NOT_COLLECTION_FUNCS,
    NOT_COLLECTION_METHODS,
    NOTHING,
    PARTIAL,
    PERSISTED,
    REDUCTIONS,
    RNG,
    UNIMPORTED_NAMES,
    WORKER_CLIENT,
    Kinds,
    canonical,
)
from resilient_dask.lint.scopes import Binding, CallSite, Collector, Pos, Scope, pos_of

_CONTAINER_LITERALS = (
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Dict,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


class Analysis:
    """Scopes, name resolution, value kinds and tasks of one parsed module."""

    def __init__(
        self, tree: ast.Module, imported_tasks: Mapping[str, frozenset[str]] | None = None
    ) -> None:
        """``imported_tasks``: this module's functions that other modules of the
        project run as tasks (name -> how), found by :mod:`~resilient_dask.lint.project`."""
        collector = Collector(tree)
        self.imported_tasks: Mapping[str, frozenset[str]] = imported_tasks or {}
        self.external_tasks: list[tuple[str, str]] = []
        """``(qualname, how)`` of imported functions this module runs as tasks."""
        self.tree = tree
        self.module = collector.module
        self.scopes = collector.scopes
        self.scope_of = collector.scope_of
        self.called = collector.called
        self.awaited = collector.awaited
        self._kinds: dict[int, Kinds] = {}
        self._qualnames: dict[int, str | None] = {}
        self._active: set[int] = set()
        self._tasks: dict[int, set[str]] | None = None
        self.client_receivers: dict[int, frozenset[str]] = {}
        """Per scope: names its code uses as a client (see :func:`clients.used_as_client`)."""

    # -- iteration helpers ---------------------------------------------------
    def calls(self) -> Iterator[CallSite]:
        """Every call in the module, scope by scope."""
        for scope in self.scopes:
            yield from scope.calls

    def functions(self) -> Iterator[Scope]:
        """Every function and lambda scope."""
        return (s for s in self.scopes if s.kind in ("function", "lambda"))

    # -- names ---------------------------------------------------------------
    def lookup(self, name: str, scope: Scope) -> Scope | None:
        """The scope that binds ``name`` as seen from ``scope`` (None: unbound)."""
        current: Scope | None = scope
        first = True
        while current is not None:
            if name in current.declared_global:
                return self.module if name in self.module.bindings else None
            if (
                (first or current.kind != "class")
                and name in current.bindings
                and name not in current.declared_nonlocal
            ):
                return current
            first = False
            current = current.parent
        return None

    def reaching(self, name: str, scope: Scope, pos: Pos) -> tuple[list[Binding], list[Binding]]:
        """Bindings of ``name`` that may hold at ``pos``, and later mutations of it.

        In the scope that binds the name this is the latest binding before
        ``pos``; seen from a nested function (a closure or a global) it is
        every binding, since the call may happen at any time.
        """
        owner = self.lookup(name, scope)
        if owner is None:
            return [], []
        bindings = owner.bindings[name]
        mutations = owner.mutations.get(name, [])
        if owner is scope or owner is scope.function():
            before = [b for b in bindings if b.pos < pos]
            if before:
                last = before[-1]
                return [last], [m for m in mutations if last.pos < m.pos < pos]
        return bindings, mutations

    def qualname(self, expr: ast.expr, scope: Scope) -> str | None:
        """The dotted import path ``expr`` refers to, canonicalised, or None."""
        key = id(expr)
        if key in self._qualnames:
            return self._qualnames[key]
        found = self._qualname(expr, scope)
        self._qualnames[key] = found
        return found

    def _qualname(self, expr: ast.expr, scope: Scope) -> str | None:
        if isinstance(expr, ast.Attribute):
            base = self.qualname(expr.value, scope)
            return canonical(f"{base}.{expr.attr}") if base else None
        if not isinstance(expr, ast.Name):
            return None
        owner = self.lookup(expr.id, scope)
        if owner is None:
            return UNIMPORTED_NAMES.get(expr.id)  # a snippet without its imports
        names: set[str] = set()
        for binding in owner.bindings[expr.id]:
            if binding.kind == "import":
                names.add(canonical(binding.qualname))
            elif (
                binding.kind == "assign"
                and isinstance(binding.value, ast.Attribute | ast.Name)
                and id(binding.value) not in self._active
            ):
                self._active.add(id(binding.value))
                try:
                    target = self.qualname(binding.value, owner)
                finally:
                    self._active.discard(id(binding.value))
                if target is None:
                    return None
                names.add(target)
            else:
                return None
        return names.pop() if len(names) == 1 else None

    def is_call_to(self, call: ast.Call, scope: Scope, *qualnames: str) -> bool:
        """Whether ``call`` calls one of ``qualnames`` (under any alias)."""
        func = call.func
        if not isinstance(func, ast.Name | ast.Attribute):
            return False
        return self.qualname(func, scope) in qualnames

    # -- kinds ---------------------------------------------------------------
    def kinds(self, expr: ast.expr | None, scope: Scope) -> Kinds:
        """What ``expr`` is known to hold (see the module constants)."""
        if expr is None:
            return NOTHING
        key = id(expr)
        cached = self._kinds.get(key)
        if cached is not None:
            return cached
        if key in self._active:
            return NOTHING
        self._active.add(key)
        try:
            result = self._compute_kinds(expr, scope)
        finally:
            self._active.discard(key)
        self._kinds[key] = result
        return result

    def _compute_kinds(self, expr: ast.expr, scope: Scope) -> Kinds:
        if isinstance(expr, ast.Name):
            return self._name_kinds(expr, scope)
        if isinstance(expr, ast.Call):
            return self._call_kinds(expr, scope)
        if isinstance(expr, ast.Attribute):
            return self._attribute_kinds(expr, scope)
        if isinstance(expr, ast.Subscript):
            value = self.kinds(expr.value, scope)
            if FUTURES in value:
                return frozenset({FUTURE}) | (value & {FROM_WORKER_CLIENT})
            return frozenset({COLLECTION}) if COLLECTION in value else NOTHING
        if isinstance(expr, ast.BinOp):
            left, right = self.kinds(expr.left, scope), self.kinds(expr.right, scope)
            both = left | right
            if COLLECTION in both:
                return frozenset({COLLECTION})
            if isinstance(expr.op, ast.Add) and FUTURES in left and FUTURES in right:
                return frozenset({FUTURES})
            if LARGE in both or sizes.literal_bytes(expr) >= sizes.LARGE_BYTES:
                return frozenset({LARGE})
            return NOTHING
        if isinstance(expr, ast.List | ast.Tuple | ast.Set):
            return self._container(expr.elts, scope)
        if isinstance(expr, ast.Dict):
            return self._container([v for v in expr.values if v is not None], scope)
        if isinstance(expr, ast.ListComp | ast.SetComp | ast.GeneratorExp):
            return self._container([expr.elt], self.scope_of.get(id(expr), scope))
        if isinstance(expr, ast.DictComp):
            return self._container([expr.value], self.scope_of.get(id(expr), scope))
        if isinstance(expr, ast.IfExp):
            return self.kinds(expr.body, scope) & self.kinds(expr.orelse, scope)
        if isinstance(expr, ast.Await):
            awaited = expr.value
            if isinstance(awaited, ast.Call) and self.client_method(awaited, scope) == "scatter":
                return self.kinds(awaited, scope)
            return NOTHING
        if isinstance(expr, ast.NamedExpr | ast.Starred):
            return self.kinds(expr.value, scope)
        return NOTHING

    def _container(self, items: list[ast.expr], scope: Scope) -> Kinds:
        for item in items:
            value = self.kinds(item.value if isinstance(item, ast.Starred) else item, scope)
            if value & FUTUREISH:
                return frozenset({FUTURES}) | (value & {FROM_WORKER_CLIENT})
        return NOTHING

    def _name_kinds(self, expr: ast.Name, scope: Scope) -> Kinds:
        bindings, mutations = self.reaching(expr.id, scope, pos_of(expr))
        if not bindings:
            return frozenset({CLIENT}) if expr.id in CLIENT_NAMES else NOTHING
        mutated = NOTHING
        if mutations:
            each = [self._mutation_kinds(m) for m in mutations]
            if all(FUTURES in k for k in each):
                mutated = frozenset({FUTURES}) | frozenset.intersection(*each)
        result: Kinds | None = None
        for binding in bindings:
            if mutated and binding.kind == "assign" and _is_empty_container(binding.value):
                continue
            value = self.binding_kinds(binding)
            result = value if result is None else result & value
        found = (result or NOTHING) | mutated
        if not found and clients.used_as_client(self, expr.id, bindings[0].scope):
            return frozenset({CLIENT})
        return found

    def _mutation_kinds(self, mutation: Binding) -> Kinds:
        value = self.kinds(mutation.value, mutation.scope)
        if mutation.kind == "extend":
            return value if FUTURES in value else NOTHING
        if value & FUTUREISH:
            return frozenset({FUTURES}) | (value & {FROM_WORKER_CLIENT})
        return NOTHING

    def binding_kinds(self, binding: Binding) -> Kinds:
        """What a name holds right after ``binding``."""
        kind, value, scope = binding.kind, binding.value, binding.scope
        if kind == "assign" or kind == "with":
            return self.kinds(value, scope)
        if kind == "element":
            return self.element_kinds(value, scope)
        if kind == "aug":
            return self.kinds(value, scope) & {FUTURES, FROM_WORKER_CLIENT}
        if kind == "def":
            node = binding.node
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                self.is_delayed_decorator(d, scope) for d in node.decorator_list
            ):
                return frozenset({DELAYED_FN})
            return NOTHING
        if kind == "param":
            if value is not None:
                return frozenset({CLIENT}) if clients.names_client(self, value, scope) else NOTHING
            if binding.name in CLIENT_NAMES or clients.is_client_fixture(self, binding):
                return frozenset({CLIENT})
            return NOTHING
        return NOTHING

    def element_kinds(self, iterable: ast.expr | None, scope: Scope) -> Kinds:
        """What iterating over ``iterable`` yields."""
        if iterable is None:
            return NOTHING
        if isinstance(iterable, ast.Call) and self.is_call_to(
            iterable, scope, "distributed.as_completed"
        ):
            return frozenset({FUTURE})
        value = self.kinds(iterable, scope)
        if FUTURES in value:
            return frozenset({FUTURE}) | (value & {FROM_WORKER_CLIENT})
        return NOTHING

    def _attribute_kinds(self, expr: ast.Attribute, scope: Scope) -> Kinds:
        if expr.attr in CLIENT_METHODS:
            receiver = self.kinds(expr.value, scope)
            if CLIENT in receiver:
                return frozenset({METHOD + expr.attr}) | (
                    frozenset({FROM_WORKER_CLIENT}) if WORKER_CLIENT in receiver else NOTHING
                )
        if isinstance(expr.value, ast.Name) and expr.value.id in ("self", "cls"):
            stored = self.self_attribute_kinds(expr.attr, scope)
            if stored is not None:
                return stored
        if expr.attr in CLIENT_NAMES:
            return frozenset({CLIENT})
        if expr.attr not in COLLECTION_METADATA and COLLECTION in self.kinds(expr.value, scope):
            return frozenset({COLLECTION})
        return NOTHING

    def self_attribute_kinds(self, attr: str, scope: Scope) -> Kinds | None:
        """Kinds of ``self.attr`` from every ``self.attr = ...`` in the class."""
        current: Scope | None = scope
        while current is not None and current.kind != "class":
            current = current.parent
        if current is None:
            return None
        result: Kinds | None = None
        stack = list(current.children)
        while stack:
            child = stack.pop()
            stack.extend(child.children)
            for target, value, _ in child.attr_stores:
                if (
                    target.attr == attr
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                ):
                    kinds = self.kinds(value, child)
                    result = kinds if result is None else result & kinds
        return result

    def _call_kinds(self, call: ast.Call, scope: Scope) -> Kinds:
        func = call.func
        method = self.client_method(call, scope)
        if method is not None:
            wc = self.kinds(func, scope) & {FROM_WORKER_CLIENT}
            if method == "submit":
                return frozenset({FUTURE}) | wc
            if method == "map":
                return frozenset({FUTURES}) | wc
            if method in ("scatter", "compute"):
                arg = call.args[0] if call.args else None
                many = isinstance(arg, _CONTAINER_LITERALS)
                return frozenset({FUTURES if many else FUTURE}) | wc
            if method == "persist":
                return frozenset({PERSISTED}) | wc
            return NOTHING
        func_kinds = self.kinds(func, scope)
        if DELAYED_FN in func_kinds:
            return frozenset({DELAYED})
        if clients.returns_client(self, call, scope):
            return frozenset({CLIENT})
        name = self.qualname(func, scope)
        if name is not None:
            if name in CLIENT_FACTORIES:
                return frozenset({CLIENT})
            if name == "distributed.worker_client":
                return frozenset({CLIENT, WORKER_CLIENT})
            if name == "dask.delayed":
                return frozenset({DELAYED_FN, DELAYED}) if call.args else NOTHING
            if name == "functools.partial":
                return frozenset({PARTIAL}) | self._carried(call, scope)
            if name == "types.SimpleNamespace":
                return self._carried(call, scope)
            if name == "numpy.random.default_rng":
                return frozenset({RNG})
            if is_collection_function(name):
                return frozenset({COLLECTION})
            if sizes.is_loader(name) or sizes.call_bytes(name, call) >= sizes.LARGE_BYTES:
                return frozenset({LARGE})
            if name in sizes.LARGE_PRESERVING_FUNCS and any(
                LARGE in self.kinds(a, scope) for a in call.args
            ):
                return frozenset({LARGE})
        if isinstance(func, ast.Attribute):
            receiver = self.kinds(func.value, scope)
            if COLLECTION in receiver and func.attr not in NOT_COLLECTION_METHODS:
                if func.attr in REDUCTIONS and not call.args and not call.keywords:
                    return NOTHING  # a lazy scalar (df.x.sum()): small, fine to hand to delayed
                return frozenset({COLLECTION})
            if LARGE in receiver and func.attr in sizes.LARGE_PRESERVING_METHODS:
                return frozenset({LARGE})
            if func.attr == "fit" and call.args and COLLECTION not in receiver:
                return frozenset({LARGE})  # a fitted model (scikit-learn's fit returns it)
            if RNG in receiver and sizes.rng_bytes(func.attr, call) >= sizes.LARGE_BYTES:
                return frozenset({LARGE})
            if (
                func.attr in ("read", "read_bytes")
                and isinstance(func.value, ast.Call)
                and sizes.opens_file(func.value)
            ):
                return frozenset({LARGE})
        if (
            isinstance(func, ast.Name)
            and func.id in ("bytes", "bytearray", "list")
            and self.lookup(func.id, scope) is None
        ):
            return frozenset({LARGE}) if sizes.builtin_bytes(call) >= sizes.LARGE_BYTES else NOTHING
        if _looks_like_constructor(func):
            if self._class_holds_large(func, scope):
                return frozenset({CARRIES_LARGE})
            return self._carried(call, scope) & {CARRIES_LARGE}
        return NOTHING

    def _class_holds_large(self, func: ast.expr, scope: Scope) -> bool:
        """A class of this module whose ``__init__`` stores a large object on ``self``."""
        if not isinstance(func, ast.Name):
            return False
        owner = self.lookup(func.id, scope)
        if owner is None:
            return False
        for binding in owner.bindings[func.id]:
            if binding.kind != "class" or binding.node is None:
                continue
            body = self.scope_of.get(id(binding.node))
            for method in body.children if body is not None else ():
                if method.name != "__init__":
                    continue
                for target, value, _ in method.attr_stores:
                    if (
                        isinstance(target.value, ast.Name)
                        and target.value.id == "self"
                        and LARGE in self.kinds(value, method)
                    ):
                        return True
        return False

    def _carried(self, call: ast.Call, scope: Scope) -> Kinds:
        found: set[str] = set()
        values = (
            [*call.args[1:], *(k.value for k in call.keywords)]
            if isinstance(call.func, ast.Name | ast.Attribute)
            and self.qualname(call.func, scope) == "functools.partial"
            else [*call.args, *(k.value for k in call.keywords)]
        )
        for value in values:
            kinds = self.kinds(value, scope)
            if kinds & FUTUREISH or HIDES_FUTURE in kinds:
                found.add(HIDES_FUTURE)
            if kinds & {LARGE, CARRIES_LARGE}:
                found.add(CARRIES_LARGE)
        return frozenset(found)

    def client_method(self, call: ast.Call, scope: Scope) -> str | None:
        """``"submit"`` for ``client.submit(...)`` or ``submit = client.submit; submit(...)``."""
        func = call.func
        if isinstance(func, ast.Attribute):
            if func.attr not in CLIENT_METHODS:
                return None
            return func.attr if CLIENT in self.kinds(func.value, scope) else None
        if isinstance(func, ast.Name):
            for kind in self.kinds(func, scope):
                if kind.startswith(METHOD):
                    return kind[len(METHOD) :]
        return None

    def is_delayed_decorator(self, decorator: ast.expr, scope: Scope) -> bool:
        """``@delayed``, ``@dask.delayed`` or ``@delayed(pure=True)``."""
        if isinstance(decorator, ast.Call):
            decorator = decorator.func
        return self.qualname(decorator, scope) == "dask.delayed"

    def is_delayed_call(self, call: ast.Call, scope: Scope) -> bool:
        """``delayed(...)`` under any alias."""
        return self.is_call_to(call, scope, "dask.delayed")

    # -- functions and tasks -------------------------------------------------
    def function_scopes(self, expr: ast.expr | None, scope: Scope) -> list[Scope]:
        """The functions/lambdas of this module that ``expr`` may call."""
        if isinstance(expr, ast.Lambda):
            found = self.scope_of.get(id(expr))
            return [found] if found is not None else []
        if isinstance(expr, ast.Call):
            if self.is_call_to(expr, scope, "functools.partial", "dask.delayed") and expr.args:
                return self.function_scopes(expr.args[0], scope)
            return []
        if (
            isinstance(expr, ast.Attribute)
            and isinstance(expr.value, ast.Name)
            and expr.value.id in ("self", "cls")
        ):
            return self._method_scopes(expr.attr, scope)
        if not isinstance(expr, ast.Name) or id(expr) in self._active:
            return []
        bindings, _ = self.reaching(expr.id, scope, pos_of(expr))
        found_scopes: list[Scope] = []
        self._active.add(id(expr))
        try:
            for binding in bindings:
                if binding.kind == "def" and binding.node is not None:
                    target = self.scope_of.get(id(binding.node))
                    if target is not None:
                        found_scopes.append(target)
                elif binding.kind == "assign":
                    found_scopes.extend(self.function_scopes(binding.value, binding.scope))
                elif binding.kind == "element" and isinstance(
                    binding.value, ast.Tuple | ast.List | ast.Set
                ):  # for fn in (load, parse): client.submit(fn, ...)
                    for element in binding.value.elts:
                        found_scopes.extend(self.function_scopes(element, binding.scope))
        finally:
            self._active.discard(id(expr))
        return found_scopes

    def _method_scopes(self, name: str, scope: Scope) -> list[Scope]:
        current: Scope | None = scope
        while current is not None and current.kind != "class":
            current = current.parent
        if current is None:
            return []
        return [c for c in current.children if c.kind == "function" and c.name == name]

    def task_kinds(self, scope: Scope) -> set[str]:
        """How the function ``scope`` is run as a task: ``submit``, ``delayed``, ``collection``."""
        if self._tasks is None:
            from resilient_dask.lint.tasks import find_tasks

            self._tasks = find_tasks(self)
        return self._tasks.get(id(scope), set())

    def tasks(self) -> Iterator[tuple[Scope, set[str]]]:
        """Every function that runs as a task, with how."""
        for scope in self.functions():
            kinds = self.task_kinds(scope)
            if kinds:
                yield scope, kinds

    # -- context of a call ---------------------------------------------------
    def in_worker_client_block(self, site: CallSite) -> bool:
        """Whether the call is inside ``with worker_client() ...:`` in its function."""
        return any(
            (
                isinstance(item.context_expr, ast.Call)
                and self.is_call_to(item.context_expr, site.scope, "distributed.worker_client")
            )
            or (  # cm = worker_client(); with cm as c:
                isinstance(item.context_expr, ast.Name)
                and WORKER_CLIENT in self.kinds(item.context_expr, site.scope)
            )
            for item in site.withs
        )

    def seceded_at(self, site: CallSite) -> bool:
        """Whether the latest ``secede()``/``rejoin()`` before the call is ``secede()``."""
        function = site.scope.function()
        where = pos_of(site.node)
        latest: tuple[Pos, bool] | None = None
        for scope in self.own_scopes(function):
            for other in scope.calls:
                here = pos_of(other.node)
                if here >= where or (latest is not None and here <= latest[0]):
                    continue
                if self.is_call_to(other.node, scope, "distributed.secede"):
                    latest = (here, True)
                elif self.is_call_to(other.node, scope, "distributed.rejoin"):
                    latest = (here, False)
        return latest is not None and latest[1]

    def own_scopes(self, scope: Scope) -> Iterator[Scope]:
        """A function's scope followed by those of its comprehensions."""
        yield scope
        for child in scope.children:
            if child.kind == "comprehension":
                yield from self.own_scopes(child)

    def body_calls(self, function: Scope) -> Iterator[CallSite]:
        """Calls in a function's own body, including its comprehensions."""
        for scope in self.own_scopes(function):
            yield from scope.calls


def is_collection_function(qualname: str) -> bool:
    """``dask.array.ones``, ``dask.dataframe.read_csv``, ``dask.array.random.random``..."""
    if not qualname.startswith(COLLECTION_MODULES):
        return False
    parts = qualname.split(".")[2:]
    if len(parts) == 2 and parts[0] not in COLLECTION_SUBMODULES:
        return False
    return len(parts) in (1, 2) and parts[-1] not in NOT_COLLECTION_FUNCS


def keyword_arg(call: ast.Call, name: str) -> ast.expr | None:
    """The value of keyword argument ``name`` of ``call``, if given."""
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _is_empty_container(value: ast.expr | None) -> bool:
    if isinstance(value, ast.List | ast.Tuple | ast.Set):
        return not value.elts
    if isinstance(value, ast.Dict):
        return not value.keys
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in ("list", "dict", "set")
        and not value.args
        and not value.keywords
    )


def _looks_like_constructor(func: ast.expr) -> bool:
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return bool(name) and name[0].isupper()
