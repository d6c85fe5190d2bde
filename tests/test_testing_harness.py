"""resilient_dask.testing keeps its promises: real processes, exact clean-up, real faults."""

from __future__ import annotations

import os
import signal
import socket
import threading

import psutil
import pytest

from resilient_dask.testing import SubprocessCluster, TcpProxy, poll_for, scheduler_identity

pytestmark = pytest.mark.timeout(90)


def group_pids(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    pids = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                pids.append(proc.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return pids


def test_cluster_is_cleaned_up_when_the_block_raises() -> None:
    """An exception inside the block still kills every process the cluster started."""
    with pytest.raises(RuntimeError, match="boom"), SubprocessCluster(n_workers=1) as cluster:
        groups = [p.pid for p in cluster._processes]
        assert all(group_pids(g) for g in groups)
        raise RuntimeError("boom")
    for group in groups:
        poll_for(lambda group=group: not group_pids(group), 10, message=f"group {group} gone")


def test_kill_worker_kills_its_nanny_and_worker_process() -> None:
    """kill_worker() SIGKILLs the whole worker process group (nanny and worker)."""
    with SubprocessCluster(n_workers=1) as cluster:
        worker = cluster.workers[0]
        poll_for(lambda: len(group_pids(worker.pid)) >= 2, 20, message="nanny and worker up")
        cluster.kill_worker(0)
        poll_for(lambda: not group_pids(worker.pid), 10, message="worker group gone")
        poll_for(lambda: cluster.worker_count() == 0, 30, message="scheduler notices")
        cluster.add_worker()
        assert cluster.worker_count() == 1


def test_restart_scheduler_reuses_the_port_and_respawns_workers() -> None:
    """restart_scheduler(respawn_workers=True) answers on the same address with workers."""
    with SubprocessCluster(n_workers=1) as cluster:
        address = cluster.scheduler_address
        old = cluster.scheduler
        cluster.restart_scheduler(respawn_workers=True)
        assert cluster.scheduler is not old and cluster.scheduler_address == address
        assert scheduler_identity(address) is not None
        assert cluster.worker_count() == 1


def test_logs_show_a_restarted_schedulers_log_once_and_tail_keeps_the_end() -> None:
    """logs() shows the scheduler's log (which a restart appends to) once; tail=N keeps the
    last N non-blank lines of each process's log."""
    with SubprocessCluster(n_workers=0) as cluster:
        first = cluster.scheduler
        cluster.restart_scheduler()
        assert first is not None and cluster.scheduler is not first
        full = cluster.logs()
        assert full.count("--- scheduler (pid ") == 1
        assert full.count("Scheduler at:") == 2, "both schedulers' output is there"
        ends = cluster.logs(tail=2).split("\n")
        assert ends[0] == f"--- scheduler (pid {first.pid}) ---"
        assert ends[1:] == [ln for ln in full.splitlines() if ln.strip()][-2:]


def test_restart_scheduler_replaces_a_worker_that_does_not_exit_by_itself() -> None:
    """A worker still running 30 s after its scheduler died (here: frozen, so it cannot exit)
    is SIGKILLed and replaced by restart_scheduler(respawn_workers=True); the new scheduler
    answers meanwhile (a client's reconnect window is 30 s too)."""
    with SubprocessCluster(n_workers=1) as cluster:
        stuck = cluster.workers[0]
        stuck.freeze()
        old = cluster.scheduler
        restart = threading.Thread(
            target=cluster.restart_scheduler, kwargs={"respawn_workers": True}
        )
        restart.start()
        try:
            poll_for(
                lambda: cluster.scheduler not in (None, old)
                and scheduler_identity(cluster.scheduler_address, 1.0) is not None,
                20,
                message="the new scheduler answering",
            )
            assert stuck.alive, "the new scheduler answered only once the stuck worker was gone"
        finally:
            restart.join(90)
        assert not restart.is_alive()
        assert not stuck.alive
        assert cluster.workers[0] is not stuck and cluster.worker_count() == 1


def test_freeze_stops_answers_and_thaw_resumes() -> None:
    """A frozen scheduler does not answer identity(); a thawed one does."""
    with SubprocessCluster(n_workers=0) as cluster:
        cluster.freeze_scheduler()
        assert scheduler_identity(cluster.scheduler_address, timeout=1.0) is None
        cluster.thaw_scheduler()
        assert scheduler_identity(cluster.scheduler_address) is not None


def test_proxy_cut_resets_open_connections_but_accepts_new_ones() -> None:
    """cut() resets an open connection; a new connection through the proxy works."""
    with SubprocessCluster(n_workers=0) as cluster, TcpProxy.to(cluster.scheduler_address) as proxy:
        assert scheduler_identity(proxy.address) is not None
        sock = socket.create_connection(("127.0.0.1", proxy.port or 0), timeout=5)
        poll_for(lambda: proxy.connections_accepted >= 2, 5)
        proxy.cut()
        sock.settimeout(5)
        with pytest.raises(ConnectionResetError):
            while sock.recv(65536):  # the scheduler's handshake may still be buffered
                pass
        sock.close()
        assert scheduler_identity(proxy.address) is not None


def test_proxy_blackhole_answers_nothing_until_restored() -> None:
    """blackhole() makes calls through the proxy get no answer; restore() brings them back."""
    with SubprocessCluster(n_workers=0) as cluster, TcpProxy.to(cluster.scheduler_address) as proxy:
        proxy.blackhole()
        assert scheduler_identity(proxy.address, timeout=1.0) is None
        proxy.restore()
        assert scheduler_identity(proxy.address) is not None


def test_proxy_blackhole_holds_a_close_until_restored() -> None:
    """A connection closed on one side of a blackholed proxy stays open on the other (a dead
    path delivers no FIN either) until restore()."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        target_port = server.getsockname()[1]
        with TcpProxy("127.0.0.1", target_port) as proxy:
            near = socket.create_connection(("127.0.0.1", proxy.port or 0), timeout=5)
            server.settimeout(5)
            far, _ = server.accept()
            far.settimeout(5)
            near.sendall(b"ping")
            assert far.recv(4) == b"ping"
            proxy.blackhole()
            near.close()
            far.settimeout(1.0)
            with pytest.raises(TimeoutError):
                far.recv(1)  # no EOF while blackholed
            proxy.restore()
            far.settimeout(5)
            assert far.recv(1) == b"", "the close arrives once the path is restored"
            far.close()


def test_poll_for_returns_the_value_or_names_the_condition() -> None:
    """poll_for returns the first truthy value, or raises TimeoutError naming the condition."""
    values = iter([0, None, 7])
    assert poll_for(lambda: next(values), 5, interval=0.001) == 7
    with pytest.raises(TimeoutError, match="never true"):
        poll_for(lambda: False, 0.05, interval=0.01, message="never true")


def test_signals_reach_only_our_process_group() -> None:
    """Faults are sent by process group id to processes the cluster started, never by name."""
    with SubprocessCluster(n_workers=0) as cluster:
        assert cluster.scheduler is not None
        pid = cluster.scheduler.pid
        assert os.getpgid(pid) == pid != os.getpgid(0)
        cluster.scheduler.signal(signal.SIGSTOP)
        poll_for(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED, 5)
        cluster.scheduler.signal(signal.SIGCONT)
