"""Every ```python block of docs/**/*.md and README.md runs, as a reader would run it.

Conventions for writing docs (the tests below honour and check each of them):

* The ```python blocks of a page run in order in one namespace, like one doctest
  session or one script (``__name__ == "__main__"``), in a fresh temporary working
  directory. Blocks in other languages do not run: shell commands are ```bash,
  console sessions ```console, output and other text ```text. A block in docs/ must
  name its language, and Python is always spelled ``python``.
* A page that uses the name ``scheduler_address`` without assigning it gets the
  address of a real scheduler with two workers (a
  :class:`~resilient_dask.testing.SubprocessCluster` shared by such pages; the text
  should say that it stands for the reader's scheduler). A page that kills, freezes or
  restarts a scheduler starts its own ``SubprocessCluster`` in its first block, so that
  a reader can copy and paste it.
* A page must not leave processes behind (every child process started while it ran
  must be gone afterwards); clients it leaves open and ``dask.config`` changes are
  undone after the page.
* ``<!-- docs-test: output -->`` on the line before a ```text block: the block is what
  the python blocks since the previous check printed; ``...`` stands for any text
  within a line.
* ``<!-- docs-test: lint flags RD001 at 6 -->`` on the line before a ```python block:
  the block shows an anti-pattern. It is compiled but not run, and ``resilient-dask
  lint`` must report exactly that rule at exactly those lines (``at 6, 9`` for
  several).
* ``<!-- docs-test: lint clean -->`` on the line before a ```python block: compiled but
  not run, and the linter must find nothing in it. docs/lint-rules.md uses it for the
  rules' "Not flagged" examples and fix sketches, which need the reader's own cluster
  and data.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import dataclasses
import gc
import io
import os
import pathlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import dask.config
import psutil
import pytest
from distributed import Client

from resilient_dask.lint import lint_source
from resilient_dask.testing import SubprocessCluster, poll_for

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: Names a python block may use without defining them, and who provides them.
PROVIDED = "scheduler_address"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)[^`]*$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<what>.*?)\s*-->\s*$")
_LINT_FLAGS = re.compile(r"lint flags (?P<code>RD\d{3}) at (?P<lines>\d+(?:\s*,\s*\d+)*)")
_PYTHON_ALIASES = {"py", "python3", "pycon", "ipython", "py3"}


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page."""

    page: pathlib.Path
    language: str
    source: str
    line: int  # line number of the first line of content (1-based)
    marker: str | None  # the text of a docs-test marker on the line before the fence

    @property
    def where(self) -> str:
        return f"{_relative(self.page)}:{self.line}"


def _relative(page: pathlib.Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)


def parse_blocks(text: str, page: pathlib.Path) -> list[Block]:
    """The fenced code blocks of ``text``, dedented to their fence's indentation."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        previous = next((ln for ln in reversed(lines[:index]) if ln.strip()), "")
        marker = _MARKER.match(previous)
        body: list[str] = []
        index += 1
        while index < len(lines):
            closing = lines[index].strip()
            if closing.startswith(fence) and set(closing) == {fence[0]}:
                break
            line = lines[index]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            index += 1
        else:
            raise ValueError(f"{_relative(page)}: code block opened here is never closed")
        start = index - len(body) + 1
        source = "\n".join(body) + "\n"
        blocks.append(
            Block(page, opening["info"].lower(), source, start, marker["what"] if marker else None)
        )
        index += 1
    return blocks


def matches_output(expected: str, actual: str) -> bool:
    """Whether ``actual`` is ``expected``, with ``...`` matching any text within a line."""
    want = [line.rstrip() for line in expected.strip("\n").splitlines()]
    got = [line.rstrip() for line in actual.strip("\n").splitlines()]
    if len(want) != len(got):
        return False
    for pattern, line in zip(want, got, strict=True):
        regex = ".*".join(re.escape(part) for part in pattern.split("..."))
        if not re.fullmatch(regex, line):
            return False
    return True


def check_lint_marker(block: Block) -> None:
    """A lint-marked block compiles, and the linter says exactly what the marker says."""
    assert block.language == "python", f"{block.where}: a lint marker needs a python block"
    compile(block.source, block.where, "exec")
    assert block.marker is not None
    flagged = _LINT_FLAGS.fullmatch(block.marker)
    if block.marker == "lint clean":
        found = lint_source(block.source, block.where)
        assert found == [], f"{block.where}: expected no finding, got {found}"
    elif flagged:
        code = flagged["code"]
        expected = [int(n) for n in flagged["lines"].split(",")]
        found = lint_source(block.source, block.where, select=[code])
        assert [d.line for d in found] == expected, (
            f"{block.where}: expected {code} at lines {expected}, got {found}"
        )
    else:
        raise AssertionError(f"{block.where}: unknown lint marker {block.marker!r}")


def _needs_scheduler(blocks: list[Block]) -> bool:
    loads: set[str] = set()
    stores: set[str] = set()
    for block in blocks:
        for node in ast.walk(ast.parse(block.source)):
            if isinstance(node, ast.Name):
                (loads if isinstance(node.ctx, ast.Load) else stores).add(node.id)
    return PROVIDED in loads and PROVIDED not in stores


def _children() -> dict[int, str]:
    """This process's live descendants: pid -> command line."""
    found: dict[int, str] = {}
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.status() != psutil.STATUS_ZOMBIE:
                found[child.pid] = " ".join(child.cmdline())
    return found


@contextlib.contextmanager
def restored_config() -> Iterator[None]:
    """Undo the ``dask.config`` and environment changes a page makes."""
    config, environ = copy.deepcopy(dask.config.config), dict(os.environ)
    try:
        yield
    finally:
        dask.config.config.clear()
        dask.config.config.update(config)
        for name in set(os.environ) - set(environ):
            del os.environ[name]
        os.environ.update(environ)


@contextlib.contextmanager
def no_processes_left(where: str, grace: float) -> Iterator[None]:
    """Fail if processes started inside the block outlive it by ``grace`` seconds.

    The processes left are killed, by pid.
    """
    before = set(_children())
    yield
    try:
        poll_for(lambda: not (set(_children()) - before), grace, message="page's processes exit")
    except TimeoutError:
        left = {pid: cmd for pid, cmd in _children().items() if pid not in before}
        for pid in left:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        raise AssertionError(f"{where} left processes behind: {left}") from None


def run_page(
    page: pathlib.Path,
    *,
    scheduler: Callable[[], str] | None = None,
    grace: float = 15.0,
) -> None:
    """Run the page's python blocks in one namespace; check its markers.

    ``scheduler`` gives the address for pages that use ``scheduler_address`` without
    defining it; ``grace`` is how long processes the page started may take to exit
    after it.
    """
    blocks = parse_blocks(page.read_text(encoding="utf-8"), page)
    runnable = [b for b in blocks if b.language == "python" and b.marker is None]
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(page)}
    if _needs_scheduler(runnable):
        assert scheduler is not None, f"{_relative(page)} uses {PROVIDED} but none is given"
        namespace[PROVIDED] = scheduler()
    printed = io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(no_processes_left(_relative(page), grace))
        stack.enter_context(restored_config())
        stack.callback(_close_clients_opened_since, {id(c) for c in _clients()})
        for block in blocks:
            if block.marker is not None and block.marker.startswith("lint"):
                check_lint_marker(block)
            elif block.marker == "output":
                assert block.language == "text", f"{block.where}: output must be a text block"
                assert matches_output(block.source, printed.getvalue()), (
                    f"{block.where}: the page printed\n{printed.getvalue()}\n"
                    f"but the block says\n{block.source}"
                )
                printed = io.StringIO()
            elif block.marker is not None:
                raise AssertionError(f"{block.where}: unknown docs-test marker {block.marker!r}")
            elif block.language == "python":
                # Pad with blank lines so tracebacks name the page's own line numbers.
                code = compile("\n" * (block.line - 1) + block.source, str(page), "exec")
                with contextlib.redirect_stdout(printed):
                    exec(code, namespace)


def _clients() -> list[Client]:
    """Every distributed Client alive in this process, named by the page or not."""
    return [obj for obj in gc.get_objects() if issubclass(type(obj), Client)]


def _close_clients_opened_since(before: set[int]) -> None:
    for client in _clients():
        if id(client) not in before and client.status not in ("closed", "closing"):
            client.close(timeout=10)


def _pages() -> list[pathlib.Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def _pages_with_python() -> list[pathlib.Path]:
    return [
        page
        for page in _pages()
        if any(b.language == "python" for b in parse_blocks(page.read_text("utf-8"), page))
    ]


# -- the pages ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_cluster() -> Iterator[SubprocessCluster]:
    """The scheduler with two workers behind ``scheduler_address``, shared by the pages.

    Pages that use it do not inject faults (those start their own cluster); clients
    are closed after each page, so the next page finds an idle cluster.
    """
    with SubprocessCluster(n_workers=2) as cluster:
        yield cluster


@pytest.mark.timeout(90)
@pytest.mark.parametrize("page", _pages_with_python(), ids=_relative)
def test_python_blocks_of_the_page_run(
    page: pathlib.Path,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """The page's python blocks run in order, its outputs and lint markers hold."""

    def scheduler() -> str:
        cluster: SubprocessCluster = request.getfixturevalue("shared_cluster")
        cluster.wait_for_workers(2, timeout=30)  # a page before this one must not break it
        return cluster.scheduler_address

    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    run_page(page, scheduler=scheduler)
    print(f"{_relative(page)}: {time.monotonic() - started:.1f} s")


@pytest.mark.parametrize("page", [p for p in _pages() if p.is_relative_to(DOCS)], ids=_relative)
def test_every_docs_block_names_its_language(page: pathlib.Path) -> None:
    """A docs block says what it is, and Python is spelled ``python`` (so that it runs)."""
    for block in parse_blocks(page.read_text("utf-8"), page):
        assert block.language, f"{block.where}: say ```python, ```bash, ```text, ..."
        assert block.language not in _PYTHON_ALIASES, f"{block.where}: write ```python"


# -- the conventions themselves ---------------------------------------------------------

SAMPLE = """\
# Title

```python
x = 1
```

- a list item:

    ```python
    print(x + 1)
    ```

<!-- docs-test: output -->
```text
2
```

<!-- docs-test: lint flags RD001 at 6 -->
````python
```not a fence
````
"""


def test_parse_blocks_finds_languages_lines_markers_and_indented_blocks() -> None:
    """Blocks come with their language, first content line, marker and dedented source."""
    blocks = parse_blocks(SAMPLE, ROOT / "sample.md")
    assert [(b.language, b.line, b.marker) for b in blocks] == [
        ("python", 4, None),
        ("python", 10, None),
        ("text", 15, "output"),
        ("python", 20, "lint flags RD001 at 6"),
    ]
    assert blocks[1].source == "print(x + 1)\n"
    assert blocks[3].source == "```not a fence\n"


def test_unclosed_block_is_an_error_naming_the_page() -> None:
    """A fence that is never closed fails instead of swallowing the rest of the page."""
    with pytest.raises(ValueError, match=r"sample\.md: code block .* never closed"):
        parse_blocks("```python\nx = 1\n", ROOT / "sample.md")


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        ("a\nb\n", "a\nb", True),
        ("when: ... UTC (... s ago)", "when: 2026-01-01 00:00:00 UTC (3.0 s ago)", True),
        ("a ... c", "a b\nc", False),
        ("a\nb", "a", False),
        ("exactly", "exactly not", False),
    ],
)
def test_output_matching(expected: str, actual: str, matches: bool) -> None:
    """``...`` matches any text within one line; everything else must be equal."""
    assert matches_output(expected, actual) is matches


def _block(source: str, marker: str) -> Block:
    return Block(ROOT / "sample.md", "python", source, 1, marker)


RETURNED_FUTURE = """\
from distributed import get_client

def task(x):
    return get_client().submit(abs, x)

client.submit(task, 1)
"""


def test_lint_marker_requires_the_stated_findings() -> None:
    """A flagged block must be flagged at exactly the stated lines, and not elsewhere."""
    check_lint_marker(_block(RETURNED_FUTURE, "lint flags RD001 at 4"))
    with pytest.raises(AssertionError, match="expected RD001 at lines"):
        check_lint_marker(_block(RETURNED_FUTURE, "lint flags RD001 at 5"))
    with pytest.raises(AssertionError, match="expected no finding"):
        check_lint_marker(_block(RETURNED_FUTURE, "lint clean"))


def test_lint_marker_block_must_compile() -> None:
    """An anti-pattern block is still valid Python."""
    with pytest.raises(SyntaxError):
        check_lint_marker(_block("return 1\n", "lint clean"))


def test_scheduler_is_provided_only_when_used_and_not_defined() -> None:
    """``scheduler_address`` comes from the test only if the page does not assign it."""
    page = ROOT / "sample.md"
    uses = [Block(page, "python", "rc = connect(scheduler_address)\n", 1, None)]
    defines = [*uses, Block(page, "python", "scheduler_address = 'tcp://x:1'\n", 3, None)]
    assert _needs_scheduler(uses) and not _needs_scheduler(defines)
    assert not _needs_scheduler([Block(page, "python", "x = 1\n", 1, None)])


def test_failing_block_names_the_page_line(tmp_path: pathlib.Path) -> None:
    """A failing block's traceback points at the page's own line."""
    page = tmp_path / "broken.md"
    page.write_text("# Broken\n\n```python\nx = 1\nraise RuntimeError(x)\n```\n")
    with pytest.raises(RuntimeError) as info:
        run_page(page)
    frames = [f for f in info.traceback if str(f.path) == str(page)]
    assert frames and frames[-1].lineno + 1 == 5


def test_page_leaving_a_process_behind_fails(tmp_path: pathlib.Path) -> None:
    """A page whose code leaves a child process running fails, and the process is killed."""
    page = tmp_path / "leaky.md"
    page.write_text(
        "```python\nimport subprocess, sys\n"
        "proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n```\n"
    )
    with pytest.raises(AssertionError, match="left processes behind") as info:
        run_page(page, grace=1.0)
    match = re.search(r"\{(\d+): ", str(info.value))
    assert match, info.value
    pid = int(match[1])
    poll_for(lambda: pid not in _children(), 10, message=f"leaked process {pid} killed")


def test_page_config_and_environment_changes_are_undone(tmp_path: pathlib.Path) -> None:
    """dask.config.set and os.environ changes made by a page do not reach later tests."""
    page = tmp_path / "settings.md"
    page.write_text(
        "```python\nimport os\n\nimport dask\n\n"
        'dask.config.set({"resilient-dask.resubmit": True})\n'
        'os.environ["RESILIENT_DASK_DOCS_TEST"] = "1"\n'
        'print(dask.config.get("resilient-dask.resubmit"))\n```\n\n'
        "<!-- docs-test: output -->\n```text\nTrue\n```\n"
    )
    run_page(page)
    assert dask.config.get("resilient-dask.resubmit") is False
    assert "RESILIENT_DASK_DOCS_TEST" not in os.environ


def test_wrong_output_fails_naming_the_block(tmp_path: pathlib.Path) -> None:
    """An output block that differs from what was printed fails, showing both."""
    page = tmp_path / "wrong.md"
    page.write_text(
        "```python\nprint(6 * 7)\n```\n\n<!-- docs-test: output -->\n```text\n41\n```\n"
    )
    with pytest.raises(AssertionError, match=r"wrong\.md:7: the page printed\n\s*42\n"):
        run_page(page)
