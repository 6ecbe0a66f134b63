"""Figures for phase diagrams, stability maps and linear-VAE training (matplotlib, imported only
with this module).

Figures are built from `matplotlib.figure.Figure` directly, never through pyplot, so no GUI
backend is ever needed: save them with ``fig.savefig(path)``. Each function draws into the axes it
is given (or into a new figure) and returns the figure.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from .._base.optional import require

require(
    "matplotlib", "plot", "Drawing figures"
)  # one line naming the extra, before matplotlib's own error

from matplotlib import colormaps  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from .._base.tolerance import eigen_floor, n_above  # noqa: E402
from .._base.validation import check_choice  # noqa: E402
from .._elbo.landscape import ElboStabilityMap  # noqa: E402
from .._ppca.mle import kl_at_optimum  # noqa: E402
from .._ppca.phase import PhaseDiagram  # noqa: E402
from .._ppca.stability import (  # noqa: E402
    MAX_PLOTTED_POINTS,
    Stability,
    StabilityMap,
    point_summaries,
)
from .._vae.linear_vae import LinearVAEFit  # noqa: E402
from ..exceptions import DegeneracyWarning  # noqa: E402

__all__ = ["plot_phase_diagram", "plot_stability_map", "plot_linear_vae_fit", "PANELS"]

PANELS = ("collapse", "landscape", "likelihood")
MAP_FIGSIZE = (7.6, 4.2)
SUMMARY_FIGSIZE = (8.4, 6.0)
# Points drawn at random (uniformly over the map's ranks) in a summary, with a fixed seed so that
# the same map always gives the same figure.
SUMMARY_SAMPLE = 2_000
SUMMARY_SEED = 0
# With sigma2 learned, building the i-th point is a count of the joint points (0.1 s at a million
# points), so fewer are drawn.
SUMMARY_SAMPLE_LEARNED = 200
# From this many points on, the stability map is drawn with small rasterised markers.
DENSE_SCATTER_FROM = 5_000

# The likelihood panel's y range covers sigma2 >= FOCUS_FACTOR * (smallest kink).
FOCUS_FACTOR = 0.1

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
LEARNED_STYLE: dict[str, Any] = dict(color="#c0392b", linestyle="--", linewidth=1.3)
COLLAPSED_COLOR = "#e6e6e6"
# Training curves of a linear VAE: two panels side by side, legends to their right.
VAE_FIT_FIGSIZE = (12.0, 4.0)
# Up to this many latents the KL panel names each colour in a legend; beyond, a colour bar.
MAX_LEGEND_LATENTS = 12
# The ELBO gap is clipped from below at this many ulps of |optimum|: below it is round-off.
ROUNDOFF_ULPS = 1.0
AVERAGING_STYLE: dict[str, Any] = dict(color="0.25", linestyle=":", linewidth=1.3)
# The phase diagram's legends sit in a column of their own, right of the panels (width ratio).
LEGEND_COLUMN = 0.34
PHASE_WIDTH = 10.5
LEGEND_STYLE: dict[str, Any] = dict(fontsize="small", framealpha=0.9)
# Legends drawn into given axes go right of the panel; past its right-hand tick labels and axis
# label (colour bar, twin axis) when it has them (in font sizes).
PAD_PAST_LABELS = 5.5


def _axes_for(ax: Any, n: int, figsize: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        axes = fig.subplots(n, 1, sharex=n > 1, squeeze=False)[:, 0]
        return fig, list(axes)
    given = [ax] if isinstance(ax, Axes) else list(np.ravel(np.asarray(ax, dtype=object)))
    if len(given) != n or not all(isinstance(a, Axes) for a in given):
        raise ValueError(f"`ax` must be None or {n} matplotlib Axes (one per panel); got {ax!r}.")
    return cast(Figure, given[0].figure), given


def _log_count(n: int) -> float:
    # Exact counts exceed the float range for large models; their log10 never does.
    return math.log10(n) if n > 0 else -np.inf


def _power_of_ten(value: float, _pos: Any) -> str:
    return f"$10^{{{value:g}}}$"


def _mark_learned(ax: Axes, pd: PhaseDiagram, label: bool) -> None:
    if pd.sigma2_learned is not None:
        ax.axvline(
            pd.sigma2_learned,
            **LEARNED_STYLE,
            label=f"learned $\\sigma^2_{{ML}}$ = {pd.sigma2_learned:.3g}" if label else None,
        )


def _legend_beside(ax: Axes, where: Axes | None, outer: Axes | None = None, **kw: Any) -> None:
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
    mesh = ax.pcolormesh(x_edges, y_edges, kl, cmap=cmap, shading="flat", rasterized=True)
    cbar = ax.figure.colorbar(mesh, ax=ax, pad=0.01)
    cbar.set_label("KL per latent at the optimum (nats)")
    live = pd.eigenvalues[:q]
    shown = live > 0
    ax.plot(
        live[shown],
        np.arange(1, q + 1)[shown],
        linestyle="none",
        marker="|",
        markersize=7 if q <= 40 else 4,
        color="black",
        label="breakpoint: latent $c$ collapses\nat $\\sigma^2 = \\lambda_c$",
    )
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
    _legend_beside(ax, where, outer=cbar.ax)


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
        [_log_count(n) for n in pd.n_points],
        where="post",
        color="black",
        linewidth=2.0,
        alpha=0.35,
        label="all stationary points",
    )
    by = pd.stability_counts
    for kind in (Stability.SADDLE, Stability.MAXIMUM, Stability.MINIMUM, Stability.DEGENERATE):
        y = np.array([_log_count(c.get(kind, 0)) for c in by])
        present = np.isfinite(y)
        if not present.any():
            continue
        style = STABILITY_STYLE[kind]
        if kind is Stability.SADDLE or kind is Stability.MAXIMUM:
            ax.step(
                s, y, where="post", color=style["color"], linewidth=1.4, label=STABILITY_LABEL[kind]
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
    ax.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
    ax.set_ylim(bottom=-0.5)
    ax.set_ylabel("number of stationary points")
    ax.set_title(landscape_title(by), loc="left")
    _legend_beside(ax, where)


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
    _legend_beside(ax, where, outer=twin, handles=lines[0] + more[0], labels=lines[1] + more[1])
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
        fig, given = _axes_for(ax, n, (PHASE_WIDTH, 3.3 * n + 0.4))
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
    the data, right of each panel, whatever the number of latents.

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
    if not isinstance(pd, PhaseDiagram):
        raise TypeError(
            f"`pd` must be a PhaseDiagram (from phase_diagram); got {type(pd).__name__}."
        )
    if isinstance(panels, str) or not isinstance(panels, Sequence) or not panels:
        raise ValueError(
            f"`panels` must be a non-empty sequence of names from {PANELS}; got {panels!r}."
        )
    names = [check_choice(p, "panels", PANELS) for p in panels]
    fig, axes, legends = _phase_axes(ax, len(names))
    for name, a, where in zip(names, axes, legends):
        _PANEL_DRAW[name](a, pd, where)
    return fig


def plot_stability_map(smap: StabilityMap, ax: Any = None) -> Figure:
    """Stationary points of a `StabilityMap`: log-likelihood against Morse
    index, coloured by stability.

    Up to 500 000 points every point is drawn (from 5 000 on, as small rasterised markers).
    A larger map is drawn as a summary, and its title says so: the exact number of points of each
    Morse index (`StabilityMap.census`, as bars above), the global maximum, ``W = 0`` when it is
    not a saddle, and 2 000 points drawn uniformly at random (200 when ``sigma2`` is learned;
    always the same ones). A fixed-``sigma2`` summary takes about a second (digits, latent_dim
    = 10: 36.5 million points); with ``sigma2`` learned the census walks every point (digits,
    latent_dim = 12: 0.93 million points, about 70 s), and beyond 2 million points the summary
    has no census and its title says why.

    Parameters
    ----------
    smap : StabilityMap
    ax : matplotlib Axes, optional
        By default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import stability_map
    >>> fig = stability_map(np.diag([5.0, 3.0, 2.0, 1.0]), 1.5, latent_dim=2).plot()
    >>> fig.axes[0].get_xlabel()
    'Morse index (ascent directions)'
    """
    if not isinstance(smap, StabilityMap):
        raise TypeError(
            f"`smap` must be a StabilityMap (from stability_map); got {type(smap).__name__}."
        )
    s = "learned" if smap.is_learned else f"{smap.sigma2:.4g}"
    where = f"$\\sigma^2$ = {s}, latent_dim = {smap.latent_dim}"
    ylabel = "mean log-likelihood per sample"
    if smap.n_points > MAX_PLOTTED_POINTS:
        return _summary(ax, smap, ylabel, where, lambda p: p.log_likelihood)
    groups: dict[Stability, list[tuple[int, float]]] = {}
    for morse, loglik, kind in point_summaries(smap):
        groups.setdefault(kind, []).append((morse, loglik))
    return _scatter_by_stability(ax, groups, ylabel, f"{smap.n_points} stationary points, {where}")


def plot_elbo_stability_map(emap: ElboStabilityMap, ax: Any = None) -> Figure:
    """Stationary points of an `ElboStabilityMap`: ELBO against Morse index, coloured by
    stability (the enumerated points; see `ElboStabilityMap.complete`), and, for a map built
    with ``include_clusters=True``, its equal-norm cluster points as hollow diamonds (one per
    family). Beyond 500 000 points, a summary as `plot_stability_map` draws.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import elbo_stability_map
    >>> fig = elbo_stability_map(np.diag([5.0, 3.0, 2.0, 1.0]), 1.5, latent_dim=2).plot()
    >>> fig.axes[0].get_ylabel()
    'ELBO (nats per sample)'
    """
    if not isinstance(emap, ElboStabilityMap):
        raise TypeError(
            f"`emap` must be an ElboStabilityMap (from elbo_stability_map); got "
            f"{type(emap).__name__}."
        )
    s = "learned" if emap.is_learned else f"{emap.sigma2:.4g}"
    where = f"ELBO, {emap.encoder} encoder\n$\\sigma^2$ = {s}, latent_dim = {emap.latent_dim}"
    ylabel = "ELBO (nats per sample)"
    if emap.n_points > MAX_PLOTTED_POINTS:
        return _summary(ax, emap, ylabel, where, lambda p: p.elbo)
    groups: dict[Stability, list[tuple[int, float]]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)  # the map announced them when built
        for point in emap.points:
            groups.setdefault(point.stability, []).append((point.morse_index, point.elbo))
        clusters = list(emap.cluster_points) if emap.include_clusters else []
    if not clusters:
        return _scatter_by_stability(
            ax, groups, ylabel, f"{emap.n_points} stationary points ({where})"
        )
    n_families = sum(1 for c in clusters if c.family_dim)
    kinds = ", ".join(sorted({c.stability.value for c in clusters}))
    label = f"equal-norm cluster, {kinds} ({len(clusters)}; {n_families} families)"
    title = f"{emap.n_points} orthogonal + {len(clusters)} cluster points ({where})"
    xy = [(c.morse_index, c.elbo) for c in clusters]
    return _scatter_by_stability(ax, groups, ylabel, title, extra=(label, xy))


def summary_sample(n_points: int, size: int = SUMMARY_SAMPLE) -> list[int]:
    """The ranks a summary draws: `size` uniform over ``range(n_points)`` (Python integers,
    however large), distinct, ascending, the same for every call."""
    draw = random.Random(SUMMARY_SEED)
    return sorted({draw.randrange(n_points) for _ in range(min(size, n_points))})


def _summary(
    ax: Any, smap: StabilityMap | ElboStabilityMap, ylabel: str, where: str, value: Any
) -> Figure:
    """A map too large to draw point by point: the census by Morse index (bars, in an axes
    above), the global maximum, ``W = 0`` unless a saddle, and a uniform random sample."""
    if ax is None:
        fig = Figure(figsize=SUMMARY_FIGSIZE, layout="constrained")
        grid = fig.add_gridspec(2, 1, height_ratios=(1.0, 3.0))
        ax = fig.add_subplot(grid[1])
        bars = fig.add_subplot(grid[0], sharex=ax)
    else:
        # Given one axes: the census goes into an inset above it (leave room there).
        fig, (ax,) = _axes_for(ax, 1, SUMMARY_FIGSIZE)
        bars = ax.inset_axes((0.0, 1.04, 1.0, 0.32), sharex=ax)
    ranks = summary_sample(
        smap.n_points, SUMMARY_SAMPLE_LEARNED if smap.is_learned else SUMMARY_SAMPLE
    )
    groups: dict[Stability, list[tuple[int, float]]] = {}
    special: list[Any] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)  # the map announced them when built
        points = smap.points
        for i in ranks:
            p = points[i]
            groups.setdefault(p.stability, []).append((p.morse_index, value(p)))
        for build in (lambda: smap.global_maximum, lambda: smap.point(())):
            try:
                p = build()
            except ValueError:  # no such point (no maximum: sigma2 learned and q >= rank)
                continue
            if p.stability is not Stability.SADDLE and p.active not in {x.active for x in special}:
                special.append(p)
    try:
        totals: dict[Stability, int] | None = smap.stability_counts()
    except ValueError:  # would need an enumeration of every point
        totals = None
    for kind in Stability:
        mine = [(p.morse_index, value(p)) for p in special if p.stability is kind]
        drawn = groups.get(kind, [])
        if not mine and not drawn:
            continue
        of = f" of {totals.get(kind, 0):,}" if totals is not None else ""
        if drawn:
            x, y = np.array(drawn).T
            ax.scatter(
                x,
                y,
                **dict(STABILITY_STYLE[kind], s=5, linewidths=0, rasterized=True),
                label=f"{kind.value}: {len(drawn):,} sampled{of}",
            )
        if mine:
            x, y = np.array(mine).T
            ax.scatter(
                x,
                y,
                **dict(STABILITY_STYLE[kind], edgecolors="white", linewidths=0.5),
                label=f"{kind.value} ("
                + "; ".join(_point_name(p) for p in special if p.stability is kind)
                + ")",
            )
    ax.set_xlabel("Morse index (ascent directions)")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), **LEGEND_STYLE)
    heading = f"Summary of {smap.n_points:,} stationary points ({where}): too many to draw each;\n"
    try:
        census = smap.census()
    except ValueError as exc:  # refused: too large a census, or an enumeration
        bars.set_axis_off()
        bars.set_title(
            heading + f"{len(ranks):,} drawn at random; no census ({str(exc).split(';')[0]})",
            loc="left",
            fontsize="medium",
        )
        return fig
    index = np.array(sorted(census))
    bars.bar(
        index,
        [_log_count(census[i]) + 1.0 for i in index],
        bottom=-1.0,
        width=1.0,
        color="0.55",
        linewidth=0,
    )
    bars.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4, min_n_ticks=1))
    bars.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
    bars.set_ylim(bottom=-1.0)
    bars.tick_params(labelbottom=False)
    bars.set_ylabel("points\n(census)")
    bars.grid(True, axis="y", alpha=0.3)
    margin = max(1.0, 0.02 * (index[-1] - index[0]))
    ax.set_xlim(index[0] - margin, index[-1] + margin)
    bars.set_title(
        heading + f"bars: every Morse index present ({index.size}), exact counts; "
        f"below: {len(ranks):,} drawn at random",
        loc="left",
        fontsize="medium",
    )
    return fig


def _scatter_by_stability(
    ax: Any,
    groups: dict[Stability, list[tuple[int, float]]],
    ylabel: str,
    title: str,
    extra: tuple[str, list[tuple[int, float]]] | None = None,
) -> Figure:
    """Points ``(morse_index, value)`` grouped by stability, one scatter per group; `extra`, a
    label and points, is drawn as hollow diamonds (the ELBO's equal-norm clusters)."""
    fig, (ax,) = _axes_for(ax, 1, MAP_FIGSIZE)
    if extra is not None and extra[1]:
        x, y = np.array(extra[1]).T
        ax.scatter(
            x,
            y,
            marker="D",
            s=22,
            facecolors="none",
            edgecolors="0.35",
            linewidths=0.8,
            label=extra[0],
            zorder=1,
        )
    many = sum(len(xy) for xy in groups.values()) > DENSE_SCATTER_FROM
    for kind in Stability:
        if kind in groups:
            x, y = np.array(groups[kind]).T
            # The optimum stays a full-size star however many saddles there are.
            crowd = many and kind in (Stability.SADDLE, Stability.DEGENERATE)
            style = (
                dict(STABILITY_STYLE[kind], s=4, linewidths=0, rasterized=True)
                if crowd
                else dict(STABILITY_STYLE[kind], edgecolors="white", linewidths=0.5)
            )
            ax.scatter(x, y, **style, label=f"{kind.value} ({len(x)})")
    ax.set_xlabel("Morse index (ascent directions)")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, loc="left")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), **LEGEND_STYLE)
    return fig


def _point_name(p: Any) -> str:
    if not p.active:
        return "$W = 0$"
    return "global" if p.stability is Stability.MAXIMUM else f"latents {list(p.active)}"


def plot_linear_vae_fit(fit: LinearVAEFit, ax: Any = None) -> Figure:
    """Training curves of a `LinearVAEFit`: ELBO shortfall from the analytic optimum, KL per latent.

    The shortfall is drawn on a log axis clipped from below at round-off, ``eps * |optimum|``
    (a dotted line; a gap at or below it, or negative, is drawn on it). The KL panel names the
    latents' colours (a legend up to 12 latents, a colour bar beyond). When the iterates are
    averaged (the stochastic objective), a vertical line marks the step averaging starts.

    Parameters
    ----------
    fit : LinearVAEFit
    ax : sequence of two matplotlib Axes, optional
        Where to draw; by default a new figure with the two panels side by side.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import fit_linear_vae
    >>> fig = fit_linear_vae(cov=np.diag([4.0, 2.0, 1.0]), latent_dim=1, rng=0).plot()
    >>> [a.get_ylabel() for a in fig.axes]
    ['optimum - ELBO (nats)', 'KL per latent (nats)']
    """
    if not isinstance(fit, LinearVAEFit):
        raise TypeError(
            f"`fit` must be a LinearVAEFit (from fit_linear_vae); got {type(fit).__name__}."
        )
    if ax is None:
        fig = Figure(figsize=VAE_FIT_FIGSIZE, layout="constrained")
        ax_elbo, ax_kl = fig.subplots(1, 2)
    else:
        fig, (ax_elbo, ax_kl) = _axes_for(ax, 2, VAE_FIT_FIGSIZE)
    history = fit.history
    steps = np.arange(history.elbo.size)
    floor = roundoff_floor(fit.elbo_optimum)
    shortfall = np.maximum(fit.elbo_optimum - history.elbo, floor)
    ax_elbo.semilogy(steps, shortfall, color="#2c7fb8", label="optimum - ELBO")
    clipped = fit.elbo_optimum - history.elbo <= floor
    if clipped.any():
        ax_elbo.axhline(
            floor,
            color="0.4",
            linestyle="--",
            linewidth=0.8,
            label=f"round-off $\\epsilon\\,|$optimum$|$ = {floor:.1e}:\n"
            f"{np.count_nonzero(clipped):,} smaller gaps drawn here",
        )
    ax_elbo.set_ylim(float(shortfall.min()) / 4.0, float(shortfall.max()) * 4.0)
    ax_elbo.set(
        xlabel="step",
        ylabel="optimum - ELBO (nats)",
        title=f"{fit.objective} ELBO, {fit.optimizer}",
    )
    q = fit.latent_dim
    colors = _latent_colors(q)
    for c in range(q):
        ax_kl.plot(steps, history.kl[:, c], lw=1, color=colors[c], label=f"latent {c + 1}")
    for level in fit.kl_optimum:
        ax_kl.axhline(level, color="0.5", ls="--", lw=0.7)
    ax_kl.set(xlabel="step", ylabel="KL per latent (nats)", title="KL per latent (dashed: optimum)")
    optimum = Line2D([], [], color="0.5", ls="--", lw=0.7, label="optimum (predicted)")
    if history.averaged_from is not None:
        for a in (ax_elbo, ax_kl):
            a.axvline(
                history.averaged_from,
                **AVERAGING_STYLE,
                label=f"iterate averaging\nfrom step {history.averaged_from:,}",
            )
    handles, _ = ax_kl.get_legend_handles_labels()
    if q > MAX_LEGEND_LATENTS:
        # One colour per latent index: a discrete colour bar instead of q legend rows.
        norm = BoundaryNorm(np.arange(q + 1) + 0.5, q)
        bar = fig.colorbar(
            ScalarMappable(norm=norm, cmap=ListedColormap(colors)),
            ax=ax_kl,
            location="bottom",
            aspect=40,
        )
        bar.set_label("latent index (line colour)")
        bar.ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
        handles = handles[q:]
    ax_kl.legend(
        handles=handles + [optimum], loc="upper left", bbox_to_anchor=(1.0, 1.0), **LEGEND_STYLE
    )
    ax_elbo.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), **LEGEND_STYLE)
    return fig


def roundoff_floor(value: float) -> float:
    """Smallest gap from `value` that is not round-off: ``ROUNDOFF_ULPS * eps * |value|`` (the
    smallest normal float if `value` is 0)."""
    return ROUNDOFF_ULPS * float(np.finfo(np.float64).eps) * abs(value) or float(
        np.finfo(np.float64).tiny
    )


def _latent_colors(q: int) -> list[Any]:
    cmap = colormaps["viridis"]
    return [cmap(c / max(q - 1, 1)) for c in range(q)]


def plot_deep_collapse_sweep(sweep: Any, ax: Any = None) -> Figure:
    """Active units and KL per latent against ``sigma2`` of a `deep_collapse_sweep` result:
    the deep VAE (markers, spread over seeds) over the linear theory (lines).

    Parameters
    ----------
    sweep : DeepCollapseSweep
    ax : sequence of two matplotlib Axes, optional
        By default a new figure with two panels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, (ax_au, ax_kl) = _axes_for(ax, 2, (10.5, 7.0))
    pd, s, q = sweep.phase, sweep.sigma2, sweep.latent_dim
    fine = np.geomspace(s[0] / 1.5, s[-1] * 1.5, 400)
    lam = sweep.eigenvalues
    au = sweep.active_units
    # The linear optimum's live latents on the fine grid, with the package's tie rule.
    live = np.minimum(q, n_above(pd.eigenvalues, fine, pd.rtol, eigen_floor(pd.eigenvalues)))
    spread = np.vstack([au.mean(axis=1) - au.min(axis=1), au.max(axis=1) - au.mean(axis=1)])
    ax_au.step(
        fine,
        live,
        where="post",
        color="black",
        lw=1.5,
        label="linear VAE optimum: #{c : $\\lambda_c > \\sigma^2$}",
    )
    ax_au.errorbar(
        s,
        au.mean(axis=1),
        yerr=spread,
        fmt="o",
        color="#d95f02",
        ms=6,
        capsize=4,
        label=f"deep VAE: mean, [min, max] over {au.shape[1]} seeds",
    )
    ax_au.axvspan(
        pd.eigenvalues[0],
        fine[-1],
        color="0.9",
        zorder=0,
        label="$\\sigma^2 \\geq \\lambda_1$: everything collapses (linear)",
    )
    ax_au.set_ylabel(f"active units (Var$_x\\,\\mu > ${sweep.diagnostics[0][0].au_threshold:g})")
    ax_au.set_ylim(-0.5, q + 0.5)
    ax_au.set_title(
        f"Deep Gaussian VAE ({sweep.activation}, hidden {list(sweep.hidden)}) against the "
        "linear theory",
        loc="left",
    )
    ax_au.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")

    colors = _latent_colors(q)
    kl_lin = kl_at_optimum(lam, fine, live)
    kl_deep = sweep.kl_by_rank
    for c in range(q):
        ax_kl.plot(fine, kl_lin[:, c], color=colors[c], lw=1.0)
        ax_kl.errorbar(
            s,
            kl_deep[:, :, c].mean(axis=1),
            yerr=kl_deep[:, :, c].std(axis=1),
            fmt="o",
            ms=4,
            color=colors[c],
            capsize=2,
        )
    ax_kl.set_xscale("log")
    ax_kl.set_xlim(fine[0], fine[-1])
    ax_kl.set_xlabel("decoder noise variance $\\sigma^2$ (data units)")
    ax_kl.set_ylabel("KL per latent (nats)")
    ax_kl.set_title(
        "KL per latent by rank: lines $\\frac{1}{2}\\log\\max(1, \\lambda_c/\\sigma^2)$, "
        "markers deep VAE (mean ± std over seeds)",
        loc="left",
    )
    handles = [
        Line2D([], [], color="0.3", lw=1.0, label="linear VAE optimum"),
        Line2D([], [], color="0.3", marker="o", ls="none", label="deep VAE, r-th largest KL"),
    ]
    handles += [
        Line2D([], [], color=colors[c], lw=3, label=f"rank {c + 1}")
        for c in sorted({0, q // 2, q - 1})
    ]
    ax_kl.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    for a in (ax_au, ax_kl):
        for v in lam:
            a.axvline(v, color="0.75", lw=0.5, zorder=0)
    return fig
