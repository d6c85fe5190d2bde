"""Messages name what the code actually called."""

from __future__ import annotations

import textwrap

from resilient_dask.lint import lint_source


def _messages(source: str, code: str) -> list[str]:
    return [d.message for d in lint_source(textwrap.dedent(source), select=[code])]


def test_compute_in_delayed_names_dask_compute() -> None:
    """RD004 on ``dask.compute(x)`` says ``dask.compute()``, not ``.compute()``."""
    (message,) = _messages(
        """
        import dask

        @dask.delayed
        def f(x):
            return dask.compute(x)[0]
        """,
        "RD004",
    )
    assert message.startswith("delayed function 'f' calls dask.compute():")


def test_compute_in_delayed_names_the_method_and_receiver() -> None:
    """RD004 on ``df.x.persist()`` names ``df.x.persist()``."""
    (message,) = _messages(
        """
        import dask

        @dask.delayed
        def f(df):
            return df.x.persist()
        """,
        "RD004",
    )
    assert message.startswith("delayed function 'f' calls df.x.persist():")


def test_compute_in_loop_names_the_call() -> None:
    """RD006 names the computed expression's call as written."""
    (message,) = _messages(
        """
        import dask

        for d in delayed_values:
            results.append(d.compute())
        """,
        "RD006",
    )
    assert message.startswith("d.compute() runs once per loop iteration")


def test_identical_submit_names_the_receiver() -> None:
    """RD011 names the client it was called on (``dask_client.submit``)."""
    (message,) = _messages(
        """
        from dask.distributed import Client

        dask_client = Client()
        for _ in range(3):
            futures.append(dask_client.submit(load, "a.csv"))
        """,
        "RD011",
    )
    assert message.startswith("dask_client.submit(load, ...) has the same function")


def test_scatter_of_the_same_object_says_so() -> None:
    """RD012 on an invariant argument names the object scattered again."""
    (message,) = _messages(
        """
        from dask.distributed import Client

        c = Client()
        for p in grid:
            c.submit(fit, c.scatter(table), p)
        """,
        "RD012",
    )
    assert message == "c.scatter() sends the same object 'table' again on every iteration"


def test_scatter_of_ready_items_names_the_container() -> None:
    """RD012 on items of a list names the list and says how many round trips."""
    (message,) = _messages(
        """
        from dask.distributed import Client

        client = Client()
        futures = [client.scatter(x) for x in chunks]
        """,
        "RD012",
    )
    assert message == (
        "client.scatter() scatters the items of 'chunks', already in memory, one at a time: "
        "one round trip per item"
    )


def test_blocking_wait_names_the_future_it_waits_on() -> None:
    """RD002 names ``future.result()`` and ``cc.gather()`` as written."""
    messages = _messages(
        """
        from distributed import get_client

        def f(x):
            cc = get_client()
            future = cc.submit(inc, x)
            both = cc.gather([future])
            return future.result()
        """,
        "RD002",
    )
    assert [m.split(" while ")[0] for m in messages] == [
        "task 'f' blocks on cc.gather()", "task 'f' blocks on future.result()"]
