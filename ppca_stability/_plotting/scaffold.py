"""The scaffold every figure stands on: matplotlib loaded once (or one line naming the `plot`
extra), the styles of the stability labels, axes and legends placed the same way everywhere.

Figures are built from `matplotlib.figure.Figure` directly, never through pyplot, so no GUI
backend is ever needed: save them with ``fig.savefig(path)``. Each figure function draws into the
axes it is given (or into a new figure) and returns the figure.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from .._base.optional import require

require("matplotlib", "plot", "Drawing figures")  # one line naming the extra, before matplotlib's


from matplotlib import colormaps  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from .._base.classification import Stability  # noqa: E402

__all__ = [
    "colormaps",
    "Axes",
    "ScalarMappable",
    "BoundaryNorm",
    "ListedColormap",
    "Figure",
    "Line2D",
    "FuncFormatter",
    "MaxNLocator",
    "STABILITY_STYLE",
    "STABILITY_LABEL",
    "COLLAPSED_COLOR",
    "LEGEND_STYLE",
    "axes_for",
    "log_count",
    "power_of_ten",
    "legend_beside",
    "roundoff_floor",
    "latent_colors",
]

STABILITY_STYLE = {
    Stability.MAXIMUM: dict(color="#1b9e77", marker="*", s=160, zorder=4),
    Stability.MINIMUM: dict(color="#7570b3", marker="v", s=70, zorder=3),
    Stability.SADDLE: dict(color="#d95f02", marker="o", s=22, zorder=2),
    Stability.DEGENERATE: dict(color="#e7298a", marker="X", s=60, zorder=3),
}
STABILITY_LABEL = {
    Stability.MAXIMUM: "maximum (global)",
    Stability.MINIMUM: "minimum ($W = 0$)",
    Stability.SADDLE: "saddles",
    Stability.DEGENERATE: "degenerate (at breakpoints)",
}
COLLAPSED_COLOR = "#e6e6e6"
# Training curves of a linear VAE: two panels side by side, legends to their right.
LEGEND_STYLE: dict[str, Any] = dict(fontsize="small", framealpha=0.9)
# Legends drawn into given axes go right of the panel; past its right-hand tick labels and axis
# label (colour bar, twin axis) when it has them (in font sizes).
# Legends drawn into given axes go right of the panel; past its right-hand tick labels and axis
# label (colour bar, twin axis) when it has them (in font sizes).
PAD_PAST_LABELS = 5.5


def axes_for(ax: Any, n: int, figsize: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        axes = fig.subplots(n, 1, sharex=n > 1, squeeze=False)[:, 0]
        return fig, list(axes)
    given = [ax] if isinstance(ax, Axes) else list(np.ravel(np.asarray(ax, dtype=object)))
    if len(given) != n or not all(isinstance(a, Axes) for a in given):
        raise ValueError(f"`ax` must be None or {n} matplotlib Axes (one per panel); got {ax!r}.")
    return cast(Figure, given[0].figure), given


def log_count(n: int) -> float:
    # Exact counts exceed the float range for large models; their log10 never does.
    return math.log10(n) if n > 0 else -np.inf


def power_of_ten(value: float, _pos: Any) -> str:
    return f"$10^{{{value:g}}}$"


def legend_beside(ax: Axes, where: Axes | None, outer: Axes | None = None, **kw: Any) -> None:
    """The legend of panel `ax`, outside its data: in the legend axes `where` (a column of the
    figure's own layout), or else right of the panel, past the labels of `outer` (its colour bar
    or twin axis) when it has one."""
    handles, labels = kw.pop("handles", None), kw.pop("labels", None)
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if where is not None:
        where.legend(handles, labels, loc="upper left", borderaxespad=0.0, **LEGEND_STYLE)
        return
    # Drawn by the outermost axes, so that a constrained layout makes room for it there.
    (outer or ax).legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        borderaxespad=PAD_PAST_LABELS if outer is not None else 0.5,
        **LEGEND_STYLE,
    )


# The ELBO gap is clipped from below at this many ulps of |optimum|: below it is round-off.
ROUNDOFF_ULPS = 1.0


def roundoff_floor(value: float) -> float:
    """Smallest gap from `value` that is not round-off: ``ROUNDOFF_ULPS * eps * |value|`` (the
    smallest normal float if `value` is 0)."""
    return ROUNDOFF_ULPS * float(np.finfo(np.float64).eps) * abs(value) or float(
        np.finfo(np.float64).tiny
    )


def latent_colors(q: int) -> list[Any]:
    cmap = colormaps["viridis"]
    return [cmap(c / max(q - 1, 1)) for c in range(q)]
