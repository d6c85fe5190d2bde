"""Estimating, from source alone, whether an expression builds a large object.

Only literal sizes count (``np.zeros((10_000, 1_000))``, ``b"x" * 10**8``);
a size held in a variable is unknown and never called large. Loading data from
a file (``np.load``, ``pd.read_parquet``, ``joblib.load``...) is always large.
"""

from __future__ import annotations

import ast
import math

LARGE_BYTES = 1_000_000
"""Objects at least this big (estimated) are "large"."""

_LOADER_PREFIXES = ("pandas.read_", "pyarrow.parquet.read_", "xarray.open_")
_LOADERS = frozenset(
    {
        "numpy.load",
        "numpy.loadtxt",
        "numpy.genfromtxt",
        "numpy.fromfile",
        "numpy.memmap",
        "pickle.load",
        "joblib.load",
        "torch.load",
        "cloudpickle.load",
        "h5py.File",
        "pyarrow.parquet.read_table",
        "pyarrow.csv.read_csv",
        "pyarrow.feather.read_table",
        "polars.read_parquet",
        "polars.read_csv",
    }
)
LARGE_PRESERVING_FUNCS = frozenset(
    {
        "numpy.asarray",
        "numpy.array",
        "numpy.ascontiguousarray",
        "numpy.concatenate",
        "numpy.stack",
        "numpy.vstack",
        "numpy.hstack",
        "numpy.copy",
        "pandas.DataFrame",
        "pandas.Series",
        "pandas.concat",
    }
)
LARGE_PRESERVING_METHODS = frozenset(
    {
        "copy",
        "astype",
        "reshape",
        "to_numpy",
        "transpose",
        "ravel",
        "flatten",
        "fillna",
        "dropna",
        "reset_index",
        "set_index",
        "sort_values",
        "merge",
        "join",
        "rename",
    }
)
_ITEMSIZE = {
    "bool": 1,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "float16": 2,
    "int32": 4,
    "uint32": 4,
    "float32": 4,
    "int64": 8,
    "uint64": 8,
    "float64": 8,
    "complex64": 8,
    "complex128": 16,
    "float": 8,
    "int": 8,
    "complex": 16,
}
# numpy functions: (index of the shape/size argument or None for "all positional",
# keyword name). ``arange``/``linspace`` are special-cased.
_NUMPY_SIZED: dict[str, tuple[int | None, str]] = {
    "zeros": (0, "shape"),
    "ones": (0, "shape"),
    "empty": (0, "shape"),
    "full": (0, "shape"),
    "random.random": (0, "size"),
    "random.random_sample": (0, "size"),
    "random.sample": (0, "size"),
    "random.ranf": (0, "size"),
    "random.standard_normal": (0, "size"),
    "random.rand": (None, ""),
    "random.randn": (None, ""),
    "random.normal": (2, "size"),
    "random.uniform": (2, "size"),
    "random.randint": (2, "size"),
    "random.exponential": (1, "size"),
    "random.poisson": (1, "size"),
    "random.binomial": (2, "size"),
    "eye": (None, ""),
    "identity": (0, "n"),
}
_RNG_SIZED: dict[str, tuple[int, str]] = {
    "random": (0, "size"),
    "standard_normal": (0, "size"),
    "normal": (2, "size"),
    "uniform": (2, "size"),
    "integers": (2, "size"),
    "exponential": (1, "size"),
    "poisson": (1, "size"),
    "binomial": (2, "size"),
}


def is_loader(qualname: str) -> bool:
    """Whether calling ``qualname`` loads a (presumably large) data set."""
    return qualname in _LOADERS or qualname.startswith(_LOADER_PREFIXES)


def const_int(expr: ast.expr | None) -> int | None:
    """The value of a literal integer expression (``10**8``, ``int(1e6)``, ``2 * 1024``)."""
    if isinstance(expr, ast.Constant) and not isinstance(expr.value, bool):
        if isinstance(expr.value, int):
            return expr.value
        if isinstance(expr.value, float) and math.isfinite(expr.value) and expr.value.is_integer():
            return int(expr.value)
        return None
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Name)
        and expr.func.id == "int"
        and len(expr.args) == 1
    ):
        return const_int(expr.args[0])
    if isinstance(expr, ast.BinOp):
        left, right = const_int(expr.left), const_int(expr.right)
        if left is None or right is None:
            return None
        if isinstance(expr.op, ast.Mult):
            return left * right if abs(left * right) < 10**18 else None
        if isinstance(expr.op, ast.Pow):
            return left**right if 0 <= right <= 64 and abs(left) <= 10**6 else None
        if isinstance(expr.op, ast.Add):
            return left + right
        if isinstance(expr.op, ast.Sub):
            return left - right
        if isinstance(expr.op, ast.FloorDiv) and right:
            return left // right
        if isinstance(expr.op, ast.LShift) and 0 <= right <= 64:
            return left << right
    return None


def _count(shape: ast.expr | None) -> int | None:
    if isinstance(shape, ast.Tuple | ast.List):
        total = 1
        for elt in shape.elts:
            size = const_int(elt)
            if size is None:
                return None
            total *= size
        return total
    return const_int(shape)


def _argument(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    for item in call.keywords:
        if item.arg == keyword:
            return item.value
    return call.args[index] if index < len(call.args) else None


def _itemsize(call: ast.Call) -> int:
    for item in call.keywords:
        if item.arg == "dtype":
            value = item.value
            name = (
                value.value
                if isinstance(value, ast.Constant)
                else getattr(value, "attr", getattr(value, "id", ""))
            )
            return _ITEMSIZE.get(str(name), 8)
    return 8


def call_bytes(qualname: str, call: ast.Call) -> int:
    """Estimated bytes built by a numpy call with literal sizes (0 when unknown)."""
    if not qualname.startswith("numpy."):
        return 0
    name = qualname[len("numpy.") :]
    count: int | None
    if name == "arange":
        values = [const_int(a) for a in call.args[:3]]
        if not values or any(v is None for v in values):
            return 0
        ints = [v for v in values if v is not None]
        start, stop, step = (
            (0, ints[0], 1) if len(ints) == 1 else (*ints[:2], ints[2] if len(ints) > 2 else 1)
        )
        count = (stop - start) // step if step else 0
    elif name == "linspace":
        count = const_int(_argument(call, 2, "num"))
    elif name in _NUMPY_SIZED:
        index, keyword = _NUMPY_SIZED[name]
        if index is None:
            sizes = [const_int(a) for a in call.args]
            count = (
                math.prod(s for s in sizes if s is not None)
                if sizes and None not in sizes
                else None
            )
            if name == "eye" and len(call.args) == 1 and count is not None:
                count *= count
        else:
            count = _count(_argument(call, index, keyword))
            if name == "identity" and count is not None:
                count *= count
    else:
        return 0
    return max(count or 0, 0) * _itemsize(call)


def rng_bytes(method: str, call: ast.Call) -> int:
    """Estimated bytes built by ``rng.<method>(...)`` on a numpy Generator."""
    if method not in _RNG_SIZED:
        return 0
    index, keyword = _RNG_SIZED[method]
    return max(_count(_argument(call, index, keyword)) or 0, 0) * 8


def literal_bytes(expr: ast.BinOp) -> int:
    """``[0] * n``, ``b"x" * n``, ``"x" * n`` with literal ``n``: estimated bytes."""
    if not isinstance(expr.op, ast.Mult):
        return 0
    for seq, times in ((expr.left, expr.right), (expr.right, expr.left)):
        count = const_int(times)
        if count is None:
            continue
        if isinstance(seq, ast.Constant) and isinstance(seq.value, str | bytes):
            return len(seq.value) * count
        if isinstance(seq, ast.List | ast.Tuple):
            return len(seq.elts) * count * 8
    return 0


def builtin_bytes(call: ast.Call) -> int:
    """``bytes(n)`` / ``bytearray(n)`` / ``list(range(n))`` with literal ``n``."""
    if len(call.args) != 1 or call.keywords:
        return 0
    arg = call.args[0]
    if isinstance(call.func, ast.Name) and call.func.id == "list":
        if (
            isinstance(arg, ast.Call)
            and isinstance(arg.func, ast.Name)
            and arg.func.id == "range"
            and len(arg.args) == 1
        ):
            return max(const_int(arg.args[0]) or 0, 0) * 8
        return 0
    return max(const_int(arg) or 0, 0)


def opens_file(call: ast.Call) -> bool:
    """``open(...)`` or ``Path(...).open(...)``: the receiver of ``.read()``."""
    func = call.func
    return (
        (isinstance(func, ast.Name) and func.id == "open")
        or (isinstance(func, ast.Attribute) and func.attr == "open")
        or (isinstance(func, ast.Name) and func.id == "Path")
    )
