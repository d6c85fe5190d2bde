"""A throwaway Dask cluster of real processes on loopback, with fault injection.

``dask scheduler`` and ``dask worker`` (with a nanny by default) run as
subprocesses of the current Python, each in its own process group, on free
127.0.0.1 ports, over plain TCP or (``tls=True``) TLS with certificates made for
the cluster. The scheduler writes its address to :attr:`SubprocessCluster.scheduler_file`.
Faults are real: ``SIGKILL``, ``SIGSTOP``/``SIGCONT``, a scheduler restarted on
the same port or on a new one. :meth:`SubprocessCluster.close` (and the
context manager, and a finaliser at interpreter exit) kills every process the
cluster started, and only those, by process group id.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from resilient_dask.testing._poll import poll_for

__all__ = ["ManagedProcess", "SubprocessCluster", "TlsFiles", "free_port", "scheduler_identity"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scheduler_identity(
    address: str, timeout: float = 5.0, *, security: Any = None
) -> dict[str, Any] | None:
    """The scheduler's ``identity()`` reply, or None if it does not answer in time."""
    from distributed.core import rpc

    args = security.get_connection_args("client") if security is not None else {}

    async def ask() -> dict[str, Any]:
        async with rpc(address, timeout=timeout, connection_args=args) as r:
            return await asyncio.wait_for(r.identity(), timeout)

    result: list[dict[str, Any] | None] = [None]

    def run() -> None:
        # A thread of its own: callers may be inside a running event loop (async tests).
        with contextlib.suppress(Exception):
            result[0] = asyncio.run(asyncio.wait_for(ask(), timeout + 1))

    thread = threading.Thread(target=run, name="scheduler_identity", daemon=True)
    thread.start()
    thread.join(timeout + 5)
    return result[0]


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """PEM files of a test cluster's TLS: its CA, and a certificate and key for every role."""

    ca: pathlib.Path
    cert: pathlib.Path
    key: pathlib.Path


def _write_certificates(directory: pathlib.Path) -> TlsFiles:
    """A self-signed certificate and its key, made now (needs ``cryptography``)."""
    from distributed.security import Security

    made = Security.temporary()
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    files.ca.write_text(made.tls_ca_file)
    files.cert.write_text(made.tls_client_cert)
    files.key.write_text(made.tls_client_key)
    files.key.chmod(0o600)
    return files


class ManagedProcess:
    """One subprocess in its own process group, with its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], log_dir: pathlib.Path, env: dict[str, str]):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # own process group: signals reach its children too
        )
        self.pid = self.popen.pid
        self.frozen = False

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to this process and every process it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the whole process group and reap the process."""
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)
        self.frozen = False
        self._log.close()

    def freeze(self) -> None:
        self.signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        self.signal(signal.SIGCONT)
        self.frozen = False

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace")


def _kill_all(processes: list[ManagedProcess]) -> None:
    for proc in processes:
        proc.kill()


class SubprocessCluster:
    """A real scheduler and workers in subprocesses, on free loopback ports.

    >>> with SubprocessCluster(n_workers=2) as cluster:          # doctest: +SKIP
    ...     client = ResilientClient(cluster.scheduler_address)
    ...     cluster.kill_scheduler()
    ...     cluster.restart_scheduler()
    """

    def __init__(
        self,
        n_workers: int = 1,
        *,
        nthreads: int = 1,
        nanny: bool = True,
        worker_options: Sequence[str] = (),
        scheduler_options: Sequence[str] = (),
        env: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
        tls: bool = False,
    ) -> None:
        self.n_workers = n_workers
        self.nthreads = nthreads
        self.nanny = nanny
        self.worker_options = list(worker_options)
        self.scheduler_options = list(scheduler_options)
        self.startup_timeout = startup_timeout
        self.scheduler_port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="resilient-dask-cluster-")
        self.directory = pathlib.Path(self._tmp.name)
        # Keep the scheduler's and workers' scratch space inside our temporary directory,
        # and let them import what this process imports (as multiprocessing's spawn
        # does for LocalCluster), so functions defined in test modules unpickle there.
        import_path = os.pathsep.join(
            [p for p in sys.path if p] + [os.environ.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        self.env = {
            "DASK_TEMPORARY_DIRECTORY": str(self.directory),
            **os.environ,
            "PYTHONPATH": import_path,
            **(env or {}),
        }
        #: The file the scheduler writes its address to (``Client(scheduler_file=...)``).
        self.scheduler_file = self.directory / "scheduler.json"
        #: With ``tls=True``: the cluster's CA, certificate and key files (one self-signed
        #: certificate serves every role, as ``Security.temporary()`` makes it).
        self.tls_files = _write_certificates(self.directory) if tls else None
        self.scheduler: ManagedProcess | None = None
        self.workers: list[ManagedProcess] = []
        self._processes: list[ManagedProcess] = []
        self._worker_count = 0
        # Whatever happens to the test, never leave processes behind.
        self._finalizer = weakref.finalize(self, _kill_all, self._processes)

    @property
    def scheduler_address(self) -> str:
        scheme = "tls" if self.tls_files else "tcp"
        return f"{scheme}://127.0.0.1:{self.scheduler_port}"

    def security(self) -> Any:
        """A ``distributed.Security`` for a client of this cluster (None without TLS)."""
        if self.tls_files is None:
            return None
        from distributed.security import Security

        return Security(
            tls_ca_file=str(self.tls_files.ca),
            tls_client_cert=str(self.tls_files.cert),
            tls_client_key=str(self.tls_files.key),
            require_encryption=True,
        )

    def _tls_options(self) -> list[str]:
        files = self.tls_files
        if files is None:
            return []
        return ["--tls-ca-file", str(files.ca), "--tls-cert", str(files.cert),
                "--tls-key", str(files.key)]  # fmt: skip

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> SubprocessCluster:
        try:
            self.start_scheduler()
            for _ in range(self.n_workers):
                self.add_worker(wait=False)
            self.wait_for_workers(self.n_workers)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Kill every process this cluster started (SIGKILL, by process group)."""
        _kill_all(self._processes)
        self._processes.clear()
        self.workers.clear()
        self.scheduler = None
        self._tmp.cleanup()

    def __enter__(self) -> SubprocessCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, name: str, argv: Sequence[str]) -> ManagedProcess:
        proc = ManagedProcess(name, argv, self.directory, self.env)
        self._processes.append(proc)
        return proc

    # -- scheduler ------------------------------------------------------------------

    def start_scheduler(self) -> ManagedProcess:
        """Start the scheduler on :attr:`scheduler_port` and wait until it answers."""
        argv = [
            sys.executable, "-m", "dask", "scheduler",
            "--host", "127.0.0.1",
            "--port", str(self.scheduler_port),
            "--no-dashboard",
            "--scheduler-file", str(self.scheduler_file),
            *(["--protocol", "tls"] if self.tls_files else []),
            *self._tls_options(),
            *self.scheduler_options,
        ]  # fmt: skip
        self.scheduler = self._spawn("scheduler", argv)
        proc = self.scheduler
        poll_for(
            lambda: (not proc.alive) or self.identity(2.0),
            self.startup_timeout,
            interval=0.1,
            message=f"scheduler answering at {self.scheduler_address}",
        )
        if not proc.alive:
            raise RuntimeError(f"scheduler exited during start-up:\n{proc.log()}")
        return proc

    def kill_scheduler(self) -> None:
        """SIGKILL the scheduler."""
        if self.scheduler is not None:
            self.scheduler.kill()

    def freeze_scheduler(self) -> None:
        """SIGSTOP the scheduler: its sockets stay open but it answers nothing."""
        if self.scheduler is not None:
            self.scheduler.freeze()

    def thaw_scheduler(self) -> None:
        """SIGCONT a frozen scheduler."""
        if self.scheduler is not None:
            self.scheduler.thaw()

    def restart_scheduler(
        self, *, respawn_workers: bool = False, new_port: bool = False
    ) -> ManagedProcess:
        """Kill the scheduler if it runs, then start a new one on the same port at once
        (``new_port=True``: on another free port, as a re-queued batch job or a
        rescheduled pod would; :attr:`scheduler_file` then names the new address, and
        new workers join there).

        With ``respawn_workers=True``, also wait for each old worker to exit (they close
        themselves when their scheduler goes away) or to register with the new
        scheduler (one that was still starting does), SIGKILL any that has done
        neither after 30 s, as an orchestrator would, and start new ones.
        """
        self.kill_scheduler()
        if new_port:
            self.scheduler_port = free_port()
            for worker in self.workers:  # they would wait for the old address in vain
                worker.kill()
        old = list(self.workers)
        proc = self.start_scheduler()  # before the workers settle: clients reconnect meanwhile
        if respawn_workers:

            def unsettled() -> list[ManagedProcess]:
                registered = self.registered_worker_names()
                return [w for w in old if w.alive and w.name not in registered]

            with contextlib.suppress(TimeoutError):
                poll_for(lambda: not unsettled(), 30, interval=0.1)
            for worker in unsettled():
                worker.kill()
            self.respawn_workers()
        return proc

    # -- workers ----------------------------------------------------------------------

    def add_worker(self, *, wait: bool = True, options: Sequence[str] = ()) -> ManagedProcess:
        """Start one more worker (with a nanny unless the cluster says otherwise)."""
        self._worker_count += 1
        name = f"worker-{self._worker_count}"
        argv = [
            sys.executable, "-m", "dask", "worker", self.scheduler_address,
            "--host", "127.0.0.1",
            "--nthreads", str(self.nthreads),
            "--name", name,
            "--no-dashboard",
            "--nanny" if self.nanny else "--no-nanny",
            "--local-directory", str(self.directory / name),
            *self._tls_options(),
            *self.worker_options,
            *options,
        ]  # fmt: skip
        proc = self._spawn(name, argv)
        self.workers.append(proc)
        if wait:
            self.wait_for_workers(len([w for w in self.workers if w.alive]))
        return proc

    def respawn_workers(self, *, wait: bool = True) -> list[ManagedProcess]:
        """Start a new worker for each one whose process has exited, as a deployment's
        orchestrator (Kubernetes, a job scheduler) would.

        Since distributed 2023.x a worker closes itself, nanny included, when it
        loses its scheduler; after :meth:`restart_scheduler` call this to get workers.
        """
        dead = [w for w in self.workers if not w.alive]
        for proc in dead:
            self.workers.remove(proc)
        started = [self.add_worker(wait=False) for _ in dead]
        if wait and started:
            self.wait_for_workers(len(self.workers))
        return started

    def kill_worker(self, index: int = 0) -> ManagedProcess:
        """SIGKILL worker ``index`` and its nanny (the whole worker process group)."""
        proc = self.workers[index]
        proc.kill()
        return proc

    def registered_worker_names(self) -> set[str]:
        """The names of the workers the scheduler knows (none if it does not answer)."""
        return {str(info.get("name")) for info in self._known_workers().values()}

    def worker_count(self) -> int:
        """How many workers the scheduler currently knows (0 if it does not answer)."""
        return len(self._known_workers())

    def _known_workers(self) -> dict[str, Any]:
        identity = self.identity(2.0)
        return identity["workers"] if identity else {}

    def identity(self, timeout: float = 5.0) -> dict[str, Any] | None:
        """The scheduler's ``identity()`` reply, or None if it does not answer in time."""
        return scheduler_identity(self.scheduler_address, timeout, security=self.security())

    def wait_for_workers(self, n: int, timeout: float | None = None) -> None:
        """Wait until the scheduler knows at least ``n`` workers."""
        poll_for(
            lambda: self.worker_count() >= n,
            self.startup_timeout if timeout is None else timeout,
            interval=0.1,
            message=f"{n} workers registered with {self.scheduler_address}",
        )

    def logs(self, tail: int | None = None) -> str:
        """The output of every process (its last ``tail`` non-blank lines), for failure reports.

        A scheduler restarted on its port appends to the same log, which is shown once.
        """
        shown: set[pathlib.Path] = set()
        parts = []
        for proc in self._processes:
            if proc.log_path in shown:
                continue
            shown.add(proc.log_path)
            text = proc.log()
            if tail is not None:
                text = "\n".join([ln for ln in text.splitlines() if ln.strip()][-tail:])
            parts.append(f"--- {proc.name} (pid {proc.pid}) ---\n{text}")
        return "\n".join(parts)

    def wait_until_dead(self, proc: ManagedProcess, timeout: float = 10.0) -> None:
        poll_for(lambda: not proc.alive, timeout, message=f"{proc.name} exited")

    def __repr__(self) -> str:
        return (
            f"<SubprocessCluster {self.scheduler_address} "
            f"workers={len(self.workers)} started={time.strftime('%H:%M:%S')}>"
        )
