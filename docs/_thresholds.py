"""The collapse thresholds of a deep-VAE sweep as the docs scripts save and show them: the JSON
record (`thresholds_record`) and its Markdown table (`thresholds_table`), shared by
docs/deep_figures.py (docs/deep_vae.md) and docs/mnist_figures.py (docs/mnist.md)."""

from __future__ import annotations

import math
from typing import Any


def number(v: Any, fmt: str = ".4g") -> str:
    """A table cell: "–" for a missing value (None or NaN), "∞" for infinity."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return "∞" if v == math.inf else format(v, fmt)


def thresholds_record(th: Any) -> dict:
    """`DeepCollapseSweep.thresholds()` as lists, for a JSON record."""
    return {
        "k": th.k.tolist(),
        "eigenvalue": th.eigenvalue.tolist(),
        "linear_on_grid": th.linear_on_grid.tolist(),
        "deep": th.deep.tolist(),
        "deep_min": th.deep_min.tolist(),
        "deep_max": th.deep_max.tolist(),
    }


def thresholds_table(th: dict, eigenvalue_header: str = "λ_k") -> list[str]:
    """The Markdown table of a `thresholds_record`, one row per k, after a blank line."""
    rows = [
        "",
        f"| k | {eigenvalue_header} | linear, on the grid | deep, mean over seeds | deep, per seed "
        "| deep / linear |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for i, k in enumerate(th["k"]):
        lin, deep = th["linear_on_grid"][i], th["deep"][i]
        rows.append(
            f"| {k} | {th['eigenvalue'][i]:.4g} | {number(lin)} | {number(deep)} | "
            f"{number(th['deep_min'][i])}–{number(th['deep_max'][i])} | "
            f"{number(deep / lin, '.3f')} |"
        )
    return rows
