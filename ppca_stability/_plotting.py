"""Figures for phase diagrams, stability maps and linear-VAE training (matplotlib, imported only
with this module).

Figures are built from `matplotlib.figure.Figure` directly, never through pyplot, so no GUI
backend is ever needed: save them with ``fig.savefig(path)``. Each function draws into the axes it
is given (or into a new figure) and returns the figure.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from ._optional import require

require(
    "matplotlib", "plot", "Drawing figures"
)  # one line naming the extra, before matplotlib's own error

from matplotlib import colormaps  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from ._elbo_landscape import ElboStabilityMap  # noqa: E402
from ._linear_vae import LinearVAEFit  # noqa: E402
from ._mle import kl_at_optimum  # noqa: E402
from ._phase import PhaseDiagram  # noqa: E402
from ._stability import Stability, StabilityMap, point_summaries  # noqa: E402
from ._tolerance import eigen_floor, n_above  # noqa: E402
from ._validation import check_choice  # noqa: E402
from .exceptions import DegeneracyWarning  # noqa: E402

__all__ = ["plot_phase_diagram", "plot_stability_map", "plot_linear_vae_fit", "PANELS"]

PANELS = ("collapse", "landscape", "likelihood")
# A stability map is drawn point by point; beyond this many points the figure is refused.
MAX_PLOTTED_POINTS = 500_000
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
# Training curves of a linear VAE: two panels side by side.
VAE_FIT_FIGSIZE = (10.0, 3.8)


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


def _collapse_panel(ax: Axes, pd: PhaseDiagram) -> None:
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
        markersize=7,
        color="black",
        label="breakpoint: latent $c$ collapses at $\\sigma^2 = \\lambda_c$",
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
    ax.legend(loc="lower left", fontsize="small", framealpha=0.9)


def _landscape_panel(ax: Axes, pd: PhaseDiagram) -> None:
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
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=7))
    ax.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
    ax.set_ylim(bottom=-0.5)
    ax.set_ylabel("number of stationary points")
    ax.set_title(
        "Landscape: stationary points by stability (one maximum, the rest saddles)", loc="left"
    )
    ax.legend(loc="upper right", fontsize="small", framealpha=0.9)


def _likelihood_panel(ax: Axes, pd: PhaseDiagram) -> None:
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
        label="kink ($\\ell^{*\\prime\\prime}$ jumps) at $\\lambda_c$, $c \\leq q$",
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
        label="live latents $k^* = \\min(q, m)$",
    )
    twin.set_ylabel("live latents at the optimum")
    twin.set_ylim(-0.5, q + 0.5)
    twin.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(
        lines[0] + more[0], lines[1] + more[1], loc="lower left", fontsize="small", framealpha=0.9
    )
    ax.set_title(
        "Optimum: continuous in $\\sigma^2$, $C^1$, kinks where a latent collapses", loc="left"
    )


_PANEL_DRAW = {
    "collapse": _collapse_panel,
    "landscape": _landscape_panel,
    "likelihood": _likelihood_panel,
}


def plot_phase_diagram(
    pd: PhaseDiagram, ax: Any = None, *, panels: Sequence[str] = PANELS
) -> Figure:
    """Draw a `PhaseDiagram` against ``sigma2`` (log axis).

    Panels: ``"collapse"``, latent index against ``sigma2`` coloured by the KL of each latent at
    the optimum (collapsed latents grey, breakpoints and the learned ``sigma2`` marked);
    ``"landscape"``, the number of stationary points by stability; ``"likelihood"``, the
    optimum's log-likelihood with its kinks and the number of live latents.

    Parameters
    ----------
    pd : PhaseDiagram
    ax : matplotlib Axes or sequence of Axes, optional
        One per panel. By default a new figure with the panels stacked, sharing the x axis.
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
    fig, axes = _axes_for(ax, len(names), (8.0, 3.3 * len(names) + 0.4))
    for name, a in zip(names, axes):
        _PANEL_DRAW[name](a, pd)
    return fig


def plot_stability_map(smap: StabilityMap, ax: Any = None) -> Figure:
    """Stationary points of a `StabilityMap`: log-likelihood against Morse
    index, coloured by stability.

    Parameters
    ----------
    smap : StabilityMap
    ax : matplotlib Axes, optional
        By default a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the map has more than 500 000 points (every point is drawn; from 5 000 on, as small
        rasterised markers).

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
    _check_plottable(smap.n_points)
    groups: dict[Stability, list[tuple[int, float]]] = {}
    for morse, loglik, kind in point_summaries(smap):
        groups.setdefault(kind, []).append((morse, loglik))
    s = "learned" if smap.is_learned else f"{smap.sigma2:.4g}"
    title = f"{smap.n_points} stationary points, $\\sigma^2$ = {s}, latent_dim = {smap.latent_dim}"
    return _scatter_by_stability(ax, groups, "mean log-likelihood per sample", title)


def plot_elbo_stability_map(emap: ElboStabilityMap, ax: Any = None) -> Figure:
    """Stationary points of an `ElboStabilityMap`: ELBO against Morse index, coloured by
    stability (the enumerated points; see `ElboStabilityMap.complete`).

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
    _check_plottable(emap.n_points)
    groups: dict[Stability, list[tuple[int, float]]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)  # the map announced them when built
        for point in emap.points:
            groups.setdefault(point.stability, []).append((point.morse_index, point.elbo))
    s = "learned" if emap.is_learned else f"{emap.sigma2:.4g}"
    title = (
        f"{emap.n_points} ELBO stationary points ({emap.encoder} encoder)\n"
        f"$\\sigma^2$ = {s}, latent_dim = {emap.latent_dim}"
    )
    return _scatter_by_stability(ax, groups, "ELBO (nats per sample)", title)


def _check_plottable(n_points: int) -> None:
    """Every point of a map is drawn: refuse beyond `MAX_PLOTTED_POINTS` before walking them."""
    if n_points > MAX_PLOTTED_POINTS:
        raise ValueError(
            f"the map has {n_points} stationary points and every one is drawn; at most "
            f"{MAX_PLOTTED_POINTS} are. Use a smaller latent_dim or a larger sigma2."
        )


def _scatter_by_stability(
    ax: Any, groups: dict[Stability, list[tuple[int, float]]], ylabel: str, title: str
) -> Figure:
    """Points ``(morse_index, value)`` grouped by stability, one scatter per group."""
    fig, (ax,) = _axes_for(ax, 1, (6.4, 4.2))
    many = sum(len(xy) for xy in groups.values()) > DENSE_SCATTER_FROM
    for kind in Stability:
        if kind in groups:
            x, y = np.array(groups[kind]).T
            crowd = many and kind in (
                Stability.SADDLE,
                Stability.DEGENERATE,
            )  # the optimum stays a star
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
    ax.legend(loc="upper right", fontsize="small", framealpha=0.9)
    return fig


def plot_linear_vae_fit(fit: LinearVAEFit, ax: Any = None) -> Figure:
    """Training curves of a `LinearVAEFit`: ELBO shortfall from the analytic optimum, KL per latent.

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
    steps = np.arange(fit.history.elbo.size)
    shortfall = np.maximum(fit.elbo_optimum - fit.history.elbo, np.finfo(float).tiny)
    ax_elbo.semilogy(steps, shortfall)
    ax_elbo.set(
        xlabel="step",
        ylabel="optimum - ELBO (nats)",
        title=f"{fit.objective} ELBO, {fit.optimizer}",
    )
    ax_kl.plot(steps, fit.history.kl, lw=1)
    for level in fit.kl_optimum:
        ax_kl.axhline(level, color="0.5", ls="--", lw=0.7)
    ax_kl.set(xlabel="step", ylabel="KL per latent (nats)", title="KL per latent (dashed: optimum)")
    return fig


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
    from matplotlib.lines import Line2D

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

    cmap = colormaps["viridis"]
    colors = [cmap(c / max(q - 1, 1)) for c in range(q)]
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
