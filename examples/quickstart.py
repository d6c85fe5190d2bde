"""resilient_dask in one minute: a real scheduler dies, the error says what to do,
the scheduler comes back and the client carries on.

Run with ``make demo`` (or ``python examples/quickstart.py`` in the project's venv).
It starts a real ``dask scheduler`` and ``dask worker`` in subprocesses on free
loopback ports and kills them all when it ends.
"""

from __future__ import annotations

import sys
import time

from resilient_dask import ConnectionState, ResilientClient, SchedulerConnectionLost
from resilient_dask.testing import SubprocessCluster


def square(x: int) -> int:
    return x * x


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main() -> int:
    with SubprocessCluster(n_workers=1) as cluster:
        step(f"scheduler and worker running at {cluster.scheduler_address}")
        with ResilientClient(cluster.scheduler_address, heartbeat_interval="0.5s") as rc:
            futures = rc.map(square, range(10))
            total = sum(rc.gather(futures))
            print(f"sum of squares 0..9 = {total}")

            step("killing the scheduler (SIGKILL)")
            cluster.kill_scheduler()
            rc.connection.wait_for(ConnectionState.RECONNECTING, timeout=30)
            try:
                rc.gather(futures)
            except SchedulerConnectionLost as err:
                print(
                    "plain distributed would say: "
                    f'"{futures[0].key} cancelled for reason: scheduler-connection-lost."'
                )
                print("resilient_dask says:\n")
                print(err)

            step("restarting the scheduler on the same port (and its worker)")
            started = time.monotonic()
            cluster.restart_scheduler(respawn_workers=True)
            rc.connection.wait_for(ConnectionState.CONNECTED, timeout=60)
            print(
                f"connection state: {rc.connection.state} after {time.monotonic() - started:.1f} s"
            )
            for transition in rc.connection.history:
                print(f"  {transition.old} -> {transition.state}: {transition.detail}")

            step("running the work again")
            again = sum(rc.gather(rc.map(square, range(10), pure=False)))
            print(f"sum of squares 0..9 = {again}")
            if again != total or total != 285:
                print("WRONG VALUE", file=sys.stderr)
                return 1
    print("\nall processes stopped; done.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
