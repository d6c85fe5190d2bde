"""Checking one source text: decode, parse, analyse, run the rules, apply ``# noqa``."""

from __future__ import annotations

import ast
import gc
import io
import re
import tokenize
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from resilient_dask.lint.analysis import Analysis
from resilient_dask.lint.diagnostics import Diagnostic, PathError, SourceError
from resilient_dask.lint.rules import RULES, RULES_BY_CODE, Rule, expand_selector
from resilient_dask.lint.testcode import is_test_path

_NOQA = re.compile(
    r"#\s*noqa(?::\s?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE
)
_CODE = re.compile(r"[A-Z]+[0-9]+", re.IGNORECASE)


def decode(data: bytes, path: str) -> str:
    """Source bytes to text, honouring a PEP 263 coding line; SourceError if impossible."""
    if b"\0" in data:
        raise SourceError(PathError(path, "binary file (contains NUL bytes), not Python source"))
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        if "unknown encoding" in str(error.msg):
            raise SourceError(PathError(path, f"cannot decode: {error.msg}")) from None
        encoding = "utf-8"  # undecodable first lines: report the offending byte below
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise SourceError(
            PathError(
                path,
                f"not valid {encoding.upper()}: byte 0x{data[error.start]:02x} at line {line}; "
                "save the file as UTF-8 or declare its encoding (# -*- coding: ... -*-)",
            )
        ) from None
    except LookupError:
        raise SourceError(PathError(path, f"unknown source encoding {encoding!r}")) from None
    return text[1:] if text.startswith("\ufeff") else text


def parse(source: str, path: str) -> ast.Module:
    """Parse without executing; every parser failure becomes a one-line SourceError."""
    try:
        # The checked code's own SyntaxWarnings (invalid escapes, ...) are not ours to print.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.parse(source, filename=path)
    except SyntaxError as error:
        line = error.lineno or 0
        col = error.offset or 0 if line else 0
        name = type(error).__name__
        raise SourceError(
            PathError(path, f"{name}: {error.msg}; file not checked", line, col)
        ) from None
    except (RecursionError, MemoryError):
        raise SourceError(
            PathError(path, "expression nested too deeply for the Python parser; file not checked")
        ) from None
    except ValueError as error:  # e.g. NUL bytes in a str source
        raise SourceError(PathError(path, f"cannot parse: {error}; file not checked")) from None


def resolve_codes(select: Iterable[str] | None, ignore: Iterable[str] | None) -> tuple[str, ...]:
    """Rule codes enabled by ``select`` (default: all) minus ``ignore``.

    Raises ValueError naming the first selector that matches no rule.
    """
    chosen: list[str] = []
    for selector in [r.code for r in RULES] if select is None else select:
        codes = expand_selector(selector)
        if codes is None:
            raise ValueError(f"unknown rule selector {selector!r}")
        chosen.extend(c for c in codes if c not in chosen)
    dropped: set[str] = set()
    for selector in ignore or ():
        codes = expand_selector(selector)
        if codes is None:
            raise ValueError(f"unknown rule selector {selector!r}")
        dropped.update(codes)
    return tuple(sorted(c for c in chosen if c not in dropped))


def noqa_codes(line: str) -> frozenset[str] | None:
    """None: no ``# noqa``; empty set: bare ``# noqa`` (all codes); else the codes listed."""
    if "noqa" not in line.lower():
        return None
    match = _NOQA.search(line)
    if match is None:
        return None
    codes = match.group("codes")
    return frozenset(c.upper() for c in _CODE.findall(codes)) if codes else frozenset()


def _suppressed(diagnostic: Diagnostic, lines: Sequence[str], end_line: int) -> bool:
    for number in {diagnostic.line, end_line}:
        if 0 < number <= len(lines):
            codes = noqa_codes(lines[number - 1])
            if codes is not None and (not codes or diagnostic.code in codes):
                return True
    return False


def _column(lines: Sequence[str], line: int, byte_offset: int) -> int:
    """1-based character column from the AST's UTF-8 byte offset."""
    if 0 < line <= len(lines):
        text = lines[line - 1]
        if not text.isascii():
            return len(text.encode("utf-8")[:byte_offset].decode("utf-8", "replace")) + 1
    return byte_offset + 1


def check_tree(
    tree: ast.Module, source: str, path: str, codes: Sequence[str], *, noqa: bool = True
) -> list[Diagnostic]:
    """Run the rules ``codes`` on a parsed module. Rule bugs raise RuntimeError."""
    return check_module_tree(tree, source, path, codes, noqa=noqa).diagnostics


@dataclass(frozen=True)
class ModuleResult:
    """A module's findings, and the imported functions it runs as tasks."""

    diagnostics: list[Diagnostic]
    submitted: tuple[tuple[str, str], ...] = ()
    """``(import path as written, how)``: input to the whole-project pass."""


_SUBMISSION_WORDS = (
    "submit(",
    "delayed",
    ".map(",
    "map_partitions(",
    "map_blocks(",
    "map_overlap(",
    "blockwise(",
)
"""A module that spells none of these hands no function to Dask: no facts to collect."""


def check_module_tree(
    tree: ast.Module,
    source: str,
    path: str,
    codes: Sequence[str],
    *,
    noqa: bool = True,
    imported_tasks: Mapping[str, frozenset[str]] | None = None,
    test_code: bool | None = None,
) -> ModuleResult:
    """Run the rules on a parsed module knowing which of its functions other modules
    submit as tasks (their rules run whatever words the module contains).
    ``test_code``: whether it is a test module (None: judged from ``path``)."""
    rules = [RULES_BY_CODE[code] for code in codes]
    if not imported_tasks:
        rules = [r for r in rules if not r.triggers or any(word in source for word in r.triggers)]
    if is_test_path(path) if test_code is None else test_code:
        rules = [r for r in rules if r.severity == "error" and r.not_in_tests is None]
    wants_facts = "import" in source and any(word in source for word in _SUBMISSION_WORDS)
    if not rules and not wants_facts:
        return ModuleResult([])
    lines = source.splitlines()
    enabled = gc.isenabled()
    gc.disable()  # the analysis allocates many small objects; collection costs ~30%
    try:
        analysis = Analysis(tree, imported_tasks)
        found = _run_rules(analysis, rules, lines, path, noqa=noqa) if rules else []
        if wants_facts:
            analysis.task_kinds(analysis.module)  # runs find_tasks, which records them
        return ModuleResult(found, tuple(analysis.external_tasks))
    finally:
        if enabled:
            gc.enable()


def _run_rules(
    analysis: Analysis, rules: list[type[Rule]], lines: list[str], path: str, *, noqa: bool
) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for rule_class in rules:
        code = rule_class.code
        try:
            findings = list(rule_class().check(analysis))
        except RecursionError:
            continue  # pathological nesting: the rule gives up on this module
        except Exception as error:  # a bug in a rule must not crash a run
            raise RuntimeError(
                f"internal error in rule {code} ({type(error).__name__}: {error}); "
                "please report it with this file"
            ) from error
        for finding in findings:
            if _elided(finding.node):
                continue
            line = getattr(finding.node, "lineno", 1)
            col = _column(lines, line, getattr(finding.node, "col_offset", 0))
            diagnostic = Diagnostic(
                path=path,
                line=line,
                col=col,
                code=code,
                name=rule_class.name,
                severity=rule_class.severity,
                message=rule_class.render_message(finding.args),
                fix=rule_class.fix.format_map(_Defaults(finding.args)),
            )
            end_line = getattr(finding.node, "end_lineno", None) or line
            if noqa and _suppressed(diagnostic, lines, end_line):
                continue
            found.append(diagnostic)
    return sorted(set(found))


def check_source(
    source: str, path: str, codes: Sequence[str], *, noqa: bool = True
) -> list[Diagnostic]:
    """Parse and check source text; SourceError if it cannot be parsed."""
    return check_module(source, path, codes, noqa=noqa).diagnostics


def check_module(
    source: str,
    path: str,
    codes: Sequence[str],
    *,
    noqa: bool = True,
    imported_tasks: Mapping[str, frozenset[str]] | None = None,
    test_code: bool | None = None,
) -> ModuleResult:
    """Parse and check source text (see :func:`check_module_tree`); SourceError if it
    cannot be parsed."""
    enabled = gc.isenabled()
    gc.disable()  # parsing allocates many objects and builds no cycles
    try:
        tree = parse(source, path)
        return check_module_tree(
            tree, source, path, codes,
            noqa=noqa, imported_tasks=imported_tasks, test_code=test_code,
        )  # fmt: skip
    except RuntimeError as error:
        raise SourceError(PathError(path, str(error))) from None
    finally:
        if enabled:
            gc.enable()


def lint_source(
    source: str | bytes,
    path: str = "<string>",
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    noqa: bool = True,
) -> list[Diagnostic]:
    """Lint one module's source (text or bytes) and return its diagnostics, sorted.

    ``select``/``ignore`` take codes (``RD001``), prefixes (``RD00``), rule names
    or ``ALL``; no configuration file is read. The code is parsed, never
    imported or run. Raises :class:`SourceError` if the source cannot be
    decoded or parsed, and ValueError for an unknown selector.
    """
    codes = resolve_codes(select, ignore)
    text = decode(source, path) if isinstance(source, bytes) else source
    return check_source(text, path, codes, noqa=noqa)


def _elided(node: ast.AST) -> bool:
    """A call with a ``...`` placeholder among its arguments (a documentation snippet):
    what was left out cannot be judged."""
    if not isinstance(node, ast.Call):
        return False
    return any(
        isinstance(inner, ast.Constant) and inner.value is Ellipsis
        for arg in (*node.args, *(k.value for k in node.keywords))
        for inner in ast.walk(arg)
    )


class _Defaults(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
