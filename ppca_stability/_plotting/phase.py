"""The phase diagram: which latents collapse, how many stationary points of each kind, and the
optimum's log-likelihood, over a grid of sigma2."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._base.classification import Stability
from .._base.validation import check_choice
from .scaffold import (
    COLLAPSED_COLOR,
    STABILITY_LABEL,
    STABILITY_STYLE,
    Axes,
    Figure,
    FuncFormatter,
    MaxNLocator,
    axes_for,
    colormaps,
    legend_beside,
    log_count,
    power_of_ten,
)

if TYPE_CHECKING:
    from .._ppca.phase import PhaseDiagram

__all__ = ["plot_phase_diagram", "PANELS", "landscape_title"]


PANELS = ("collapse", "landscape", "likelihood")
# The likelihood panel's y range covers sigma2 >= FOCUS_FACTOR * (smallest kink).
FOCUS_FACTOR = 0.1
# Height (points) of the ticks that mark degenerate points at breakpoints in the landscape panel.
DEGENERATE_TICK = 11.0
LEARNED_STYLE: dict[str, Any] = dict(color="#c0392b", linestyle="--", linewidth=1.3)
# The phase diagram's legends sit in a column of their own, right of the panels (width ratio).
LEGEND_COLUMN = 0.34
PHASE_WIDTH = 10.5


def _in_view(pd: PhaseDiagram, values: np.ndarray) -> np.ndarray:
    """Which of `values` lie within the grid's range, where the panels draw them (a value outside
    it is neither drawn nor named in a legend)."""
    return (values >= pd.sigma2[0]) & (values <= pd.sigma2[-1])


def _mark_learned(ax: Axes, pd: PhaseDiagram, label: bool) -> None:
    learned = pd.sigma2_learned
    if learned is not None and _in_view(pd, np.array([learned]))[0]:
        ax.axvline(
            learned,
            **LEARNED_STYLE,
            label=f"learned $\\sigma^2_{{ML}}$ = {learned:.3g}" if label else None,
        )


def _collapse_panel(ax: Axes, pd: PhaseDiagram, where: Axes | None) -> None:
    s, q = pd.sigma2, pd.latent_dim
    # Cell edges halfway (geometrically) between grid values.
    mid = np.sqrt(s[1:] * s[:-1])
    x_edges = np.concatenate(
        [
            [s[0] ** 2 / mid[0] if mid.size else s[0] / 1.5],
            mid,
            [s[-1] ** 2 / mid[-1] if mid.size else s[0] * 1.5],
        ]
    )
    y_edges = np.arange(q + 1) + 0.5
    kl = np.ma.masked_equal(pd.kl_per_latent.T, 0.0)
    cmap = colormaps["viridis"].with_extremes(bad=COLLAPSED_COLOR)
    # KL is never negative: the scale starts at 0 (and stays [0, 1] when every latent collapsed).
    top = float(kl.max()) if kl.count() else 1.0
    mesh = ax.pcolormesh(
        x_edges, y_edges, kl, cmap=cmap, vmin=0.0, vmax=top, shading="flat", rasterized=True
    )
    cbar = ax.figure.colorbar(mesh, ax=ax, pad=0.01)
    cbar.set_label("KL per latent at the optimum (nats)")
    live = pd.eigenvalues[:q]
    shown = (live > 0) & _in_view(pd, live)
    if shown.any():
        ax.plot(
            live[shown],
            np.arange(1, q + 1)[shown],
            linestyle="none",
            marker="|",
            markersize=7 if q <= 40 else 4,
            color="black",
            label="breakpoint: latent $c$ collapses\nat $\\sigma^2 = \\lambda_c$",
        )
    if np.ma.count_masked(kl):
        ax.fill_between([], [], color=COLLAPSED_COLOR, label="collapsed (KL = 0)")
    _mark_learned(ax, pd, label=True)
    ax.set_xscale("log")
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.set_ylim(q + 0.5, 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
    ax.set_ylabel("latent index $c$")
    ax.set_title(
        "Posterior collapse: latents switch off as $\\sigma^2$ passes their eigenvalue", loc="left"
    )
    legend_beside(ax, where, outer=cbar.ax)


def landscape_title(counts: Sequence[Mapping[Stability, int]]) -> str:
    """The landscape panel's title, saying which kinds of points it draws (and only those)."""
    present = {kind for c in counts for kind, n in c.items() if n}
    parts = []
    if Stability.MAXIMUM in present:
        unique = all(c.get(Stability.MAXIMUM, 0) == 1 for c in counts)
        parts.append("one maximum" if unique else "at most one maximum")
    if present <= {Stability.MAXIMUM, Stability.SADDLE}:
        if Stability.SADDLE in present:
            parts.append("the rest saddles")
    else:
        if Stability.SADDLE in present:
            parts.append("saddles")
        if Stability.MINIMUM in present:
            parts.append("a minimum $W = 0$ while $\\sigma^2 < \\lambda_d$")
        if Stability.DEGENERATE in present:
            parts.append("degenerate points where $\\sigma^2$ meets an eigenvalue")
    return "Landscape: stationary points by stability\n(" + ", ".join(parts) + ")"


def _landscape_panel(ax: Axes, pd: PhaseDiagram, where: Axes | None) -> None:
    s = pd.sigma2
    ax.step(
        s,
        [log_count(n) for n in pd.n_points],
        where="post",
        color="black",
        linewidth=2.0,
        alpha=0.35,
        label="all stationary points",
    )
    by = pd.stability_counts
    for kind in (Stability.SADDLE, Stability.MAXIMUM, Stability.MINIMUM, Stability.DEGENERATE):
        y = np.array([log_count(c.get(kind, 0)) for c in by])
        present = np.isfinite(y)
        if not present.any():
            continue
        style = STABILITY_STYLE[kind]
        if kind is Stability.SADDLE or kind is Stability.MAXIMUM:
            ax.step(
                s, y, where="post", color=style["color"], linewidth=1.4, label=STABILITY_LABEL[kind]
            )
        elif kind is Stability.DEGENERATE:
            # Degenerate points exist only at single sigma2 values (the breakpoints): a tick as
            # wide as a line, not a 6-point cross, so that dense breakpoints (digits at
            # latent_dim 64: 61 of them over three decades) stay apart instead of merging into a
            # bar that hides the maximum's line beneath them.
            ax.plot(
                s[present],
                y[present],
                linestyle="none",
                marker="|",
                markersize=DEGENERATE_TICK,
                markeredgewidth=1.2,
                color=style["color"],
                label=STABILITY_LABEL[kind],
            )
        else:
            ax.plot(
                s[present],
                y[present],
                linestyle="none",
                marker=style["marker"],
                color=style["color"],
                markersize=6,
                label=STABILITY_LABEL[kind],
            )
    _mark_learned(ax, pd, label=False)
    ax.set_xscale("log")
    # min_n_ticks=1: with few points only 10^0 may be an integer power; never label 10^0.2.
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=7, min_n_ticks=1))
    ax.yaxis.set_major_formatter(FuncFormatter(power_of_ten))
    ax.set_ylim(bottom=-0.5)
    ax.set_ylabel("number of stationary points")
    ax.set_title(landscape_title(by), loc="left")
    legend_beside(ax, where)


def _likelihood_panel(ax: Axes, pd: PhaseDiagram, where: Axes | None) -> None:
    s, q = pd.sigma2, pd.latent_dim
    ax.plot(
        s,
        pd.max_log_likelihood,
        color="#2c7fb8",
        linewidth=1.8,
        label="max log-likelihood $\\ell^*$",
    )
    kinks = pd.eigenvalues[:q]
    kinks = kinks[np.isin(kinks, s)]
    if kinks.size:
        ax.plot(
            kinks,
            pd.max_log_likelihood[np.searchsorted(s, kinks)],
            linestyle="none",
            marker="o",
            markersize=4,
            color="black",
            label="kink ($\\ell^{*\\prime\\prime}$ jumps)\nat $\\lambda_c$, $c \\leq q$",
        )
    _mark_learned(ax, pd, label=False)
    # Far below the kept eigenvalues l* falls like -(discarded variance) / sigma2; frame the
    # range where the latents matter and let the curve leave the axes to the left.
    focus = s >= FOCUS_FACTOR * kinks.min() if kinks.size else np.ones(s.size, dtype=bool)
    lo, hi = pd.max_log_likelihood[focus].min(), pd.max_log_likelihood.max()
    pad = 0.05 * (hi - lo) or 1.0
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xscale("log")
    ax.set_xlabel("observation-noise variance $\\sigma^2$")
    ax.set_ylabel("mean log-likelihood per sample")
    twin = ax.twinx()
    twin.step(
        s,
        pd.n_active,
        where="post",
        color="#7f7f7f",
        linewidth=1.2,
        linestyle=":",
        label="live latents $k^* = \\min(q, m)$\n(right axis)",
    )
    twin.set_ylabel("live latents at the optimum")
    twin.set_ylim(-0.5, q + 0.5)
    twin.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    legend_beside(ax, where, outer=twin, handles=lines[0] + more[0], labels=lines[1] + more[1])
    ax.set_title(
        "Optimum: continuous in $\\sigma^2$, $C^1$, kinks where a latent collapses", loc="left"
    )


_PANEL_DRAW = {
    "collapse": _collapse_panel,
    "landscape": _landscape_panel,
    "likelihood": _likelihood_panel,
}


def _phase_axes(ax: Any, n: int) -> tuple[Figure, list[Axes], list[Axes | None]]:
    """Panels stacked in one column sharing x, each with its legend axes to its right; or the
    given axes (legends then right of each panel)."""
    if ax is not None:
        fig, given = axes_for(ax, n, (PHASE_WIDTH, 3.3 * n + 0.4))
        return fig, given, [None] * n
    fig = Figure(figsize=(PHASE_WIDTH, 3.3 * n + 0.4), layout="constrained")
    grid = fig.add_gridspec(n, 2, width_ratios=(1.0, LEGEND_COLUMN))
    axes: list[Axes] = []
    for i in range(n):
        axes.append(fig.add_subplot(grid[i, 0], sharex=axes[0] if axes else None))
    for a in axes[:-1]:
        a.tick_params(labelbottom=False)
    legends: list[Axes | None] = []
    for i in range(n):
        lax = fig.add_subplot(grid[i, 1])
        lax.set_axis_off()
        legends.append(lax)
    return fig, axes, legends


def plot_phase_diagram(
    pd: PhaseDiagram, ax: Any = None, *, panels: Sequence[str] = PANELS
) -> Figure:
    """Draw a `PhaseDiagram` against ``sigma2`` (log axis).

    Panels: ``"collapse"``, latent index against ``sigma2`` coloured by the KL of each latent at
    the optimum (collapsed latents grey, breakpoints and the learned ``sigma2`` marked);
    ``"landscape"``, the number of stationary points by stability; ``"likelihood"``, the
    optimum's log-likelihood with its kinks and the number of live latents. Legends sit outside
    the data, right of each panel, whatever the number of latents, and name only what is drawn:
    a learned ``sigma2`` or an eigenvalue outside the grid's range is neither.

    Parameters
    ----------
    pd : PhaseDiagram
    ax : matplotlib Axes or sequence of Axes, optional
        One per panel. By default a new figure with the panels stacked, sharing the x axis, and a
        column for their legends. Into given axes, each legend is drawn right of its panel: leave
        room there.
    panels : sequence of {"collapse", "landscape", "likelihood"}
        Which panels, in order. The landscape panel computes the census on first use.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import phase_diagram
    >>> fig = phase_diagram(np.diag([4.0, 2.0, 1.0]), latent_dim=2).plot()
    >>> [a.get_ylabel() for a in fig.axes][:3]
    ['latent index $c$', 'number of stationary points', 'mean log-likelihood per sample']
    """
    if isinstance(panels, str) or not isinstance(panels, Sequence) or not panels:
        raise ValueError(
            f"`panels` must be a non-empty sequence of names from {PANELS}; got {panels!r}."
        )
    names = [check_choice(p, "panels", PANELS) for p in panels]
    fig, axes, legends = _phase_axes(ax, len(names))
    for name, a, where in zip(names, axes, legends):
        _PANEL_DRAW[name](a, pd, where)
    return fig
