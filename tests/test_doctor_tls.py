"""`resilient-dask doctor` and `explain` over TLS and from a scheduler file, and their bad input."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from distributed import Client
from distributed.security import Security

from resilient_dask.cli import main
from resilient_dask.testing import SubprocessCluster, free_port

pytestmark = [pytest.mark.timeout(120), pytest.mark.cluster]


def inc(x: int) -> int:
    return x + 1


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def words(text: str) -> str:
    """``text`` with its line wrapping undone."""
    return " ".join(text.split())


@dataclasses.dataclass(frozen=True)
class Pems:
    """A CA certificate, a certificate and its key (PEM files), as given to the TLS options."""

    ca: pathlib.Path
    cert: pathlib.Path
    key: pathlib.Path

    @classmethod
    def of(cls, cluster: SubprocessCluster) -> Pems:
        files: Any = cluster.tls_files
        assert files is not None, "a cluster started with tls=True"
        return cls(files.ca, files.cert, files.key)


def tls_options(files: Pems) -> list[str]:
    return ["--tls-ca-file", str(files.ca), "--tls-cert", str(files.cert),
            "--tls-key", str(files.key)]  # fmt: skip


def write_certificates(directory: pathlib.Path) -> Pems:
    """A self-signed certificate of a CA of its own, and its key, as PEM files."""
    directory.mkdir()
    made = Security.temporary()
    files = Pems(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    files.ca.write_text(made.tls_ca_file)
    files.cert.write_text(made.tls_client_cert)
    files.key.write_text(made.tls_client_key)
    return files


def assert_usage_error(result: Result, *messages: str) -> None:
    """Exit 2 before connecting, nothing on stdout, each message on stderr, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    text = words(result.stderr)
    for message in messages:
        assert message in text, result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def secure() -> Iterator[SubprocessCluster]:
    """A scheduler and one nanny-managed worker that speak only TLS."""
    with SubprocessCluster(n_workers=1, tls=True) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def plain() -> Iterator[SubprocessCluster]:
    """A plain TCP scheduler without workers, which writes a scheduler file."""
    with SubprocessCluster(n_workers=0) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> Pems:
    """Valid PEM files of a CA no scheduler here uses."""
    return write_certificates(tmp_path_factory.mktemp("tls") / "own")


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Pems:
    """Valid PEM files of another CA, for certificates a scheduler rejects."""
    return write_certificates(tmp_path_factory.mktemp("tls") / "foreign")


# -- over TLS and from a scheduler file -------------------------------------------------------


def test_doctor_over_tls_with_the_three_options(secure: SubprocessCluster) -> None:
    """--tls-ca-file, --tls-cert, --tls-key: a healthy TLS cluster exits 0, named by tls://."""
    address = secure.scheduler_address
    assert address.startswith("tls://")
    result = run("doctor", address, "--samples", "2", *tls_options(Pems.of(secure)))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"resilient-dask doctor {address}\n")
    text = words(result.stdout)
    assert f"ok reachable Scheduler at {address} answered" in text
    assert "ok nannies The worker runs under a nanny." in text
    assert "PROBLEM" not in text and "exit status 0" in text
    assert result.stderr == ""


def test_doctor_reads_a_tls_address_from_the_scheduler_file(secure: SubprocessCluster) -> None:
    """--scheduler-file instead of ADDRESS: the tls:// address the scheduler wrote is checked."""
    result = run("doctor", "--scheduler-file", str(secure.scheduler_file), "--samples", "2",
                 "--format", "json", *tls_options(Pems.of(secure)))  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["address"] == secure.scheduler_address
    assert document["summary"]["problem"] == 0
    assert len(document["facts"]["workers"]) == 1


def test_doctor_reads_a_tcp_address_from_the_scheduler_file(plain: SubprocessCluster) -> None:
    """--scheduler-file of a plain TCP scheduler, without TLS options: checked as ADDRESS is."""
    result = run("doctor", "--scheduler-file", str(plain.scheduler_file), "--samples", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"resilient-dask doctor {plain.scheduler_address}\n")
    assert f"ok reachable Scheduler at {plain.scheduler_address} answered" in words(result.stdout)


def test_explain_over_tls_from_the_scheduler_file(secure: SubprocessCluster) -> None:
    """explain KEY --scheduler-file with the TLS options prints the task's story."""
    with Client(secure.scheduler_address, security=secure.security(),
                set_as_default=False) as client:  # fmt: skip
        future = client.submit(inc, 41)
        assert future.result(timeout=30) == 42
        result = run("explain", str(future.key), "--scheduler-file", str(secure.scheduler_file),
                     *tls_options(Pems.of(secure)))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"Task {str(future.key)!r}: memory"
    assert "processing -> memory" in result.stdout


# -- TLS that cannot work ---------------------------------------------------------------------


def test_tls_address_without_tls_settings_says_which_options(secure: SubprocessCluster) -> None:
    """A tls:// address with no TLS options and none in the dask config: exit 2, the options."""
    address = secure.scheduler_address
    assert_usage_error(
        run("doctor", address),
        f"{address} is a TLS address, but there are no TLS settings: pass --tls-ca-file, "
        "--tls-cert and --tls-key",
        "distributed.comm.tls.ca-file",
    )


def test_explain_from_a_tls_scheduler_file_without_tls_settings(
    secure: SubprocessCluster,
) -> None:
    """explain with a scheduler file naming a tls:// address, but no TLS options: exit 2."""
    assert_usage_error(
        run("explain", "x", "--scheduler-file", str(secure.scheduler_file)),
        f"{secure.scheduler_address} is a TLS address, but there are no TLS settings",
    )


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("client", "the scheduler rejected this client's certificate (--tls-cert"),
        ("scheduler", "this client rejected the scheduler's certificate: it is not signed by "
                      "the CA in --tls-ca-file"),
    ],
)  # fmt: skip
def test_rejected_certificate_is_a_failed_tls_handshake(
    secure: SubprocessCluster, foreign: Pems, who: str, message: str
) -> None:
    """A certificate of another CA: exit 2 at once, the TLS handshake named, and what to check."""
    if who == "client":  # the right CA, a client certificate the scheduler's CA did not sign
        files = Pems(Pems.of(secure).ca, foreign.cert, foreign.key)
    else:  # a CA that did not sign the scheduler's certificate
        files = Pems(foreign.ca, Pems.of(secure).cert, Pems.of(secure).key)
    address = secure.scheduler_address
    result = run("doctor", address, "--connect-timeout", "20", *tls_options(files))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"error: Cannot reach the scheduler at {address}: the TLS handshake with 127.0.0.1 "
        f"port {secure.scheduler_port} failed ("
    )
    assert message in result.stderr
    assert "Check that --tls-ca-file is the CA that signed the scheduler's certificate, " in (
        result.stderr
    )
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_tcp_address_of_a_tls_scheduler_names_the_protocol(secure: SubprocessCluster) -> None:
    """tcp:// to a scheduler that speaks TLS: the handshake fails, and the message says tls://."""
    address = secure.scheduler_address.replace("tls://", "tcp://")
    result = run("doctor", address, "--connect-timeout", "10")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: Cannot reach the scheduler at {address}: something")
    assert "a scheduler started with --protocol tls has a tls:// address, and needs " in (
        result.stderr
    )


# -- bad TLS options --------------------------------------------------------------------------


def test_missing_ca_file_is_named(pems: Pems, tmp_path: pathlib.Path) -> None:
    """--tls-ca-file naming no file: exit 2, the option, the path and what to give."""
    missing = tmp_path / "no-such-ca.pem"
    address = f"tls://127.0.0.1:{free_port()}"
    result = run("doctor", address, "--tls-ca-file", str(missing),
                 "--tls-cert", str(pems.cert), "--tls-key", str(pems.key))  # fmt: skip
    assert_usage_error(
        result,
        "Invalid value for '--tls-ca-file'",
        f"{str(missing)!r} does not exist: give the path of the PEM file of the CA certificate "
        "that signed the scheduler's certificate",
    )


def test_directory_as_key_is_named(pems: Pems, tmp_path: pathlib.Path) -> None:
    """--tls-key naming a directory: exit 2, the option and the path."""
    result = run("explain", "x", "--scheduler", f"tls://127.0.0.1:{free_port()}",
                 "--tls-ca-file", str(pems.ca), "--tls-cert", str(pems.cert),
                 "--tls-key", str(tmp_path))  # fmt: skip
    assert_usage_error(
        result, "Invalid value for '--tls-key'", f"{str(tmp_path)!r} is a directory"
    )


def test_ca_file_that_is_no_certificate_is_named(pems: Pems, tmp_path: pathlib.Path) -> None:
    """A --tls-ca-file that is not PEM: exit 2, naming the option, the file and what it must be."""
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    result = run("doctor", f"tls://127.0.0.1:{free_port()}", "--tls-ca-file", str(garbage),
                 "--tls-cert", str(pems.cert), "--tls-key", str(pems.key))  # fmt: skip
    assert_usage_error(
        result,
        f"--tls-ca-file {str(garbage)!r} holds no CA certificate",
        "give the PEM file of the CA that signed the scheduler's certificate",
    )


def test_key_of_another_certificate_is_named(pems: Pems, foreign: Pems) -> None:
    """--tls-key that does not belong to --tls-cert: exit 2, both files named."""
    result = run("doctor", f"tls://127.0.0.1:{free_port()}", "--tls-ca-file", str(pems.ca),
                 "--tls-cert", str(pems.cert), "--tls-key", str(foreign.key))  # fmt: skip
    assert_usage_error(
        result,
        f"--tls-cert {str(pems.cert)!r} and --tls-key {str(foreign.key)!r} do not load as a "
        "certificate and its private key",
        "the key unencrypted and belonging to that certificate",
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (("--tls-ca-file", "--tls-key"), "--tls-key was given without --tls-cert: a client "
                                         "certificate needs its private key, so give both"),
        (("--tls-ca-file", "--tls-cert"), "--tls-cert was given without --tls-key"),
        (("--tls-ca-file",), "--tls-ca-file alone is not enough: the scheduler asks every "
                             "client for a certificate, so pass --tls-cert and --tls-key"),
        (("--tls-cert", "--tls-key"), "--tls-cert and --tls-key need the CA as well: pass "
                                      "--tls-ca-file"),
    ],
)  # fmt: skip
def test_incomplete_tls_options_say_what_is_missing(
    pems: Pems, given: tuple[str, ...], message: str
) -> None:
    """A key without its certificate, or the reverse, or no CA or no certificate: exit 2."""
    paths = {"--tls-ca-file": pems.ca, "--tls-cert": pems.cert, "--tls-key": pems.key}
    options = [part for option in given for part in (option, str(paths[option]))]
    assert_usage_error(run("doctor", f"tls://127.0.0.1:{free_port()}", *options), message)


def test_tls_options_for_a_tcp_address_say_to_use_tls(pems: Pems) -> None:
    """The TLS options with a tcp:// address: exit 2, the tls:// address to give instead."""
    port = free_port()
    assert_usage_error(
        run("doctor", f"tcp://127.0.0.1:{port}", *tls_options(pems)),
        f"--tls-ca-file, --tls-cert and --tls-key are for a scheduler that uses TLS, but "
        f"tcp://127.0.0.1:{port} is not encrypted",
        f"give tls://127.0.0.1:{port}, or drop the TLS options",
    )


# -- bad scheduler files, and ADDRESS together with one ---------------------------------------


def test_missing_scheduler_file_is_named(tmp_path: pathlib.Path) -> None:
    """--scheduler-file naming no file: exit 2, the path and what file it should be."""
    missing = tmp_path / "scheduler.json"
    assert_usage_error(
        run("doctor", "--scheduler-file", str(missing)),
        "Invalid value for '--scheduler-file'",
        f"{str(missing)!r} does not exist: give the path of the file `dask scheduler "
        "--scheduler-file PATH` writes",
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("tcp://127.0.0.1:8786", "is not JSON (Expecting value, line 1)"),
        ('{"type": "Scheduler", "id": "Scheduler-1"}', 'has no scheduler address (no "address" '
                                                       "string in it)"),
        ("[1, 2]", 'has no scheduler address (no "address" string in it)'),
        ('{"address": "tcp://127.0.0.1"}', "is wrong: 'tcp://127.0.0.1' has no port"),
    ],
)  # fmt: skip
def test_scheduler_file_without_an_address_is_named(
    tmp_path: pathlib.Path, content: str, message: str
) -> None:
    """A scheduler file that is not JSON, has no address, or a malformed one: exit 2."""
    path = tmp_path / "scheduler.json"
    path.write_text(content)
    assert_usage_error(
        run("explain", "x", "--scheduler-file", str(path)),
        "Invalid value for '--scheduler-file'",
        f"{str(path)!r}",
        message,
    )


def test_address_and_scheduler_file_together_are_a_usage_error(plain: SubprocessCluster) -> None:
    """ADDRESS and --scheduler-file both given: exit 2, saying to give one."""
    assert_usage_error(
        run("doctor", plain.scheduler_address, "--scheduler-file", str(plain.scheduler_file)),
        "give either ADDRESS or --scheduler-file, not both",
    )
    both = ["--scheduler", plain.scheduler_address, "--scheduler-file", str(plain.scheduler_file)]
    assert_usage_error(
        run("explain", "x", *both), "give either --scheduler or --scheduler-file, not both"
    )


def test_no_scheduler_at_all_is_a_usage_error() -> None:
    """Neither ADDRESS nor --scheduler-file: exit 2, saying what to give."""
    assert_usage_error(
        run("doctor"),
        "no scheduler given: give its ADDRESS (e.g. tcp://scheduler-host:8786) or "
        "--scheduler-file PATH",
    )
    assert_usage_error(
        run("explain", "x"), "no scheduler given: give its --scheduler (e.g. tcp://"
    )
