"""The vocabulary of the analysis: kinds of values and the Dask names it knows."""

from __future__ import annotations

Kinds = frozenset[str]
NOTHING: Kinds = frozenset()

# Kinds of values.
CLIENT = "client"
WORKER_CLIENT = "worker_client"  # the client of a ``with worker_client() as c`` block
FUTURE = "future"
FUTURES = "futures"  # a list/tuple/dict holding Futures
PERSISTED = "persisted"  # a collection returned by client.persist (backed by Futures)
FROM_WORKER_CLIENT = "from_worker_client"  # a Future made by a worker_client client
COLLECTION = "collection"  # dask array / dataframe / bag
DELAYED = "delayed"  # a Delayed object
DELAYED_FN = "delayed_fn"  # calling it builds a Delayed: delayed(f), @delayed def
LARGE = "large"
PARTIAL = "partial"
HIDES_FUTURE = "hides_future"  # an object holding a Future that Dask cannot see
CARRIES_LARGE = "carries_large"  # a partial or object holding a large object
RNG = "rng"  # numpy.random.default_rng()
METHOD = "method:"  # prefix: a bound client method, e.g. ``submit = client.submit``

FUTUREISH = frozenset({FUTURE, FUTURES, PERSISTED})

CLIENT_WORDS = (
    "client",
    "Client",
    "Executor",
    "gather",
    "scheduler_info",
    "wait_for_workers",
    "upload_file",
)
"""Words a module that uses a client spells (``Rule.triggers`` of the client rules): its
names, the old ``Executor``, and the methods by which an unknown value shows it is one."""
CLIENT_NAMES = frozenset("client _client dask_client".split())
"""Names assumed to hold a Client when nothing else is known about them."""
CLIENT_METHODS = frozenset("submit map scatter compute persist gather result".split())
CLIENT_FACTORIES = frozenset(
    "distributed.get_client distributed.Client distributed.default_client "
    "distributed.Client.current distributed.Executor".split()
)
CLIENT_FIXTURE_DECORATORS = frozenset({"distributed.utils_test.gen_cluster"})
"""``@gen_cluster(client=True)`` passes the client as the first parameter (``c``)."""
DISTRIBUTED_NAMES = frozenset(
    "Client get_client worker_client secede rejoin wait as_completed fire_and_forget "
    "default_client Future get_worker LocalCluster Executor".split()
)
UNIMPORTED_NAMES: dict[str, str] = {
    "dask": "dask",
    "distributed": "distributed",
    "delayed": "dask.delayed",
    "da": "dask.array",
    "dd": "dask.dataframe",
    "db": "dask.bag",
    "np": "numpy",
    "pd": "pandas",
    **{
        name: f"distributed.{name}"
        for name in "Client get_client worker_client secede rejoin get_worker "
        "default_client fire_and_forget as_completed".split()
    },
}
"""What a name means when the module never binds it: snippets from issues and answers
often leave out their imports (``delayed(f(x))``). A module that binds the name, by
import or otherwise, uses its own meaning."""
COLLECTION_MODULES = ("dask.array.", "dask.dataframe.", "dask.bag.")
COLLECTION_SUBMODULES = frozenset("random fft linalg ma".split())
"""``dask.array.random.random(...)`` builds a collection; ``dask.dataframe.utils.*`` does not."""
NOT_COLLECTION_FUNCS = frozenset(
    "compute persist visualize store to_zarr to_hdf5 to_npy_stack to_parquet to_csv to_hdf "
    "to_sql to_json to_textfiles to_orc to_delayed Array DataFrame Series Bag Index Item "
    "Scalar core utils optimize normalize_chunks make_meta".split()
)
NOT_COLLECTION_METHODS = NOT_COLLECTION_FUNCS | frozenset(
    "head tail __dask_graph__ __dask_keys__ take_first".split()
)
REDUCTIONS = frozenset(
    "sum mean count min max std var prod any all nunique size median idxmin idxmax".split()
)
"""Called without arguments on a collection these give a small lazy scalar."""
COLLECTION_METADATA = frozenset(
    "shape npartitions dtypes dtype columns divisions chunks chunksize ndim name "
    "known_divisions numblocks nbytes size dask _meta itemsize empty compute persist "
    "to_delayed visualize __dask_graph__".split()
)


def canonical(qualname: str) -> str:
    """One spelling per Dask name: ``dask.distributed.Client`` -> ``distributed.Client``."""
    if qualname.startswith("dask.distributed."):
        qualname = "distributed." + qualname[len("dask.distributed.") :]
    parts = qualname.split(".")
    if parts[0] == "distributed" and parts[-1] == "local_client":
        return "distributed.worker_client"  # its name before distributed 1.15
    if parts[0] == "distributed" and len(parts) > 2 and parts[-1] in DISTRIBUTED_NAMES:
        return "distributed." + parts[-1]
    if qualname == "dask.delayed.delayed":
        return "dask.delayed"
    if qualname in ("dask.base.compute", "dask.base.persist"):
        return "dask." + parts[-1]
    return qualname
