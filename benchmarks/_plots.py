"""Plots of benchmark figures against a size, as SVG files that rerun into clean diffs.

matplotlib comes with the ``docs`` extra (``pip install -e '.[docs]'``; ``make venv``
installs it). Without it :func:`draw` raises :class:`PlotsUnavailable`, and the
benchmarks write their tables all the same.

The SVGs are deterministic: the Agg backend, a fixed ``svg.hashsalt`` (the ids of
clip paths and glyphs) and no date in the metadata, so a rerun with the same figures
writes the same bytes, and one with new figures changes only the plotted lines.
"""

from __future__ import annotations

import dataclasses
import pathlib


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed."""


@dataclasses.dataclass(frozen=True)
class Line:
    """One plotted line: a value per size, and optionally each run's value as dots."""

    label: str
    sizes: list[int]
    values: list[float]
    runs: list[list[float]] | None = None


@dataclasses.dataclass(frozen=True)
class Target:
    value: float
    label: str


def draw(
    path: pathlib.Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    lines: list[Line],
    targets: list[Target],
) -> None:
    """Draw ``lines`` (log x-axis) with each target as a dashed horizontal line."""
    try:
        import matplotlib
    except ImportError as exc:
        raise PlotsUnavailable(
            "matplotlib is not installed (it comes with the docs extra: "
            "pip install -e '.[docs]'); no plots drawn"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "resilient-dask-benchmarks"
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    try:
        for line in lines:
            (drawn,) = ax.plot(line.sizes, line.values, marker="o", label=line.label)
            for size, values in zip(line.sizes, line.runs or [], strict=False):
                dots = {"linestyle": "none", "marker": ".", "markersize": 4, "alpha": 0.5}
                ax.plot([size] * len(values), values, color=drawn.get_color(), **dots)
        for target in targets:
            ax.axhline(target.value, linestyle="--", linewidth=1, color="tab:red")
            where = {"xycoords": ("axes fraction", "data"), "textcoords": "offset points"}
            ax.annotate(
                target.label,
                (0.01, target.value),
                xytext=(0, 3),
                fontsize=8,
                color="tab:red",
                **where,
            )
        ax.set_xscale("log")
        sizes = sorted({size for line in lines for size in line.sizes})
        ax.set_xticks(sizes, [f"{size:,}" for size in sizes])
        ax.minorticks_off()
        values = [
            v
            for line in lines
            for v in [*line.values, *(v for run in line.runs or [] for v in run)]
        ]
        top = max([*values, *(target.value for target in targets)])
        ax.set_ylim(bottom=0, top=top * 1.25)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="svg", metadata={"Date": None})
    finally:
        plt.close(fig)
