"""Run distributed's own test files with Client and with ResilientClient; print what differs.

    python tools/compare_upstream.py path/to/distributed/tests/test_client.py [...]

(``make test-upstream DISTRIBUTED_TESTS="..."`` runs this.) The files come from a
checkout of dask/distributed at the installed version; they are copied, with the
checkout's root ``conftest.py``, into a scratch directory (so that the checkout's
``distributed/`` folder does not shadow the installed package) and run three times
with ``-p no:asyncio --tb=line``: plain ``Client``, then swapped in by the plugin
``resilient_dask.testing.swap_client`` in each import order. The report lists every
test whose outcome differs from the plain run, and exits 1 if one does that is not
an accepted difference (``ACCEPTED`` below, each with its reason).
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

#: Differences that are the point of the swap, not bugs: test (every parametrization of
#: it) → why.
ACCEPTED = {
    "test_client.py::test_repr": "asserts the repr starts with '<Client'",
    "test_client.py::test_reconnect_timeout": (
        "asserts Client(timeout=0.5) also ends reconnecting; ours reconnects for "
        "reconnect_timeout (independent of timeout=, docs/connection.md#reconnecting)"
    ),
}

RUNS = (
    ("plain", []),
    ("swapped, resilient_dask imported first", ["--swap-import-order=resilient-first"]),
    ("swapped, distributed.utils_test imported first", ["--swap-import-order=distributed-first"]),
)


def outcomes(junit: pathlib.Path) -> dict[str, str]:
    """Test id → passed, failed, error or skipped, from a JUnit XML report."""
    found: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        # classname: "upstream_tests.test_client" or "upstream_tests.test_client.TestX"
        parts = case.get("classname", "").split(".")
        at = next((i for i, part in enumerate(parts) if part.startswith("test_")), len(parts))
        test_id = "::".join(
            [f"{'.'.join(parts[at : at + 1])}.py", *parts[at + 1 :], case.get("name", "")]
        )
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                break
        if found.get(test_id) in ("failed", "error"):
            continue  # a setup error after a failure: keep the failure
        found[test_id] = outcome
    return found


def accepted(test_id: str) -> str | None:
    return ACCEPTED.get(test_id.split("[", 1)[0])


def prepare(files: list[pathlib.Path], scratch: pathlib.Path) -> list[pathlib.Path]:
    """Copy the test files and the checkout's root conftest.py into ``scratch``."""
    copied = []
    for file in files:
        if not file.is_file():
            raise SystemExit(f"compare_upstream: no such test file: {file}")
        target = scratch / "upstream_tests" / file.name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(file, target)
        copied.append(target)
        for parent in file.resolve().parents:
            conftest = parent / "conftest.py"
            if (parent / "distributed").is_dir() and conftest.is_file():
                shutil.copy(conftest, scratch / "conftest.py")
                break
    (scratch / "pytest.ini").write_text("[pytest]\n")
    return copied


def run(
    label: str, extra: list[str], tests: list[pathlib.Path], scratch: pathlib.Path, args: list[str]
) -> dict[str, str]:
    junit = scratch / f"{len(list(scratch.glob('*.xml')))}.xml"
    command = [
        sys.executable, "-m", "pytest", *map(str, tests), "-p", "no:asyncio",
        "-p", "no:cacheprovider", "-q", "--tb=line", "--junitxml", str(junit), *args,
    ]  # fmt: skip
    if extra:
        command += ["-p", "resilient_dask.testing.swap_client", *extra]
    started = time.monotonic()
    print(f"== {label}: {' '.join(command[3:])}", flush=True)
    subprocess.run(command, cwd=scratch, check=False, stdout=subprocess.DEVNULL)
    elapsed = time.monotonic() - started
    found = outcomes(junit)
    counts = {
        o: sum(1 for v in found.values() if v == o)
        for o in ("passed", "failed", "error", "skipped")
    }
    print(f"   {counts} in {elapsed:.0f} s", flush=True)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=pathlib.Path, help="upstream test files")
    parser.add_argument("--timeout", default="120", help="pytest-timeout per test (s)")
    options, rest = parser.parse_known_args()
    with tempfile.TemporaryDirectory(prefix="rd-upstream-") as tmp:
        scratch = pathlib.Path(tmp)
        tests = prepare(options.files, scratch)
        args = [f"--timeout={options.timeout}", *rest]
        plain = run(*RUNS[0], tests, scratch, args)
        unexpected = 0
        for label, extra in RUNS[1:]:
            swapped = run(label, extra, tests, scratch, args)
            differ = sorted(
                t for t in plain.keys() | swapped.keys() if plain.get(t) != swapped.get(t)
            )
            print(f"-- {label}: {len(differ)} tests differ from plain Client")
            for test_id in differ:
                why = accepted(test_id)
                unexpected += why is None
                note = f"  (accepted: {why})" if why else ""
                print(f"   {test_id}: {plain.get(test_id)} -> {swapped.get(test_id)}{note}")
    print(f"{unexpected} unexpected differences")
    return 1 if unexpected else 0


if __name__ == "__main__":
    raise SystemExit(main())
