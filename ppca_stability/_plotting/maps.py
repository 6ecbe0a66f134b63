"""Stability maps: every stationary point of one (covariance, sigma2, latent_dim) by Morse index and
log-likelihood (pPCA and the linear VAE's ELBO), drawn point by point or, beyond
`MAX_PLOTTED_POINTS`, as a summary."""

from __future__ import annotations

import random
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from .._base.classification import Stability
from ..exceptions import DegeneracyWarning
from .scaffold import (
    LEGEND_STYLE,
    STABILITY_STYLE,
    Figure,
    FuncFormatter,
    MaxNLocator,
    axes_for,
    log_count,
    power_of_ten,
)

if TYPE_CHECKING:
    from .._elbo.landscape import ElboStabilityMap
    from .._ppca.stability import StabilityMap

from .limits import MAX_PLOTTED_POINTS

__all__ = ["plot_stability_map", "plot_elbo_stability_map", "MAX_PLOTTED_POINTS"]


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
    s = "learned" if smap.is_learned else f"{smap.sigma2:.4g}"
    where = f"$\\sigma^2$ = {s}, latent_dim = {smap.latent_dim}"
    ylabel = "mean log-likelihood per sample"
    if smap.n_points > MAX_PLOTTED_POINTS:
        return _summary(ax, smap, ylabel, where, lambda p: p.log_likelihood)
    groups: dict[Stability, list[tuple[int, float]]] = {}
    for morse, loglik, kind in smap.point_summaries():
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
        fig, (ax,) = axes_for(ax, 1, SUMMARY_FIGSIZE)
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
        [log_count(census[i]) + 1.0 for i in index],
        bottom=-1.0,
        width=1.0,
        color="0.55",
        linewidth=0,
    )
    bars.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4, min_n_ticks=1))
    bars.yaxis.set_major_formatter(FuncFormatter(power_of_ten))
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
    fig, (ax,) = axes_for(ax, 1, MAP_FIGSIZE)
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
