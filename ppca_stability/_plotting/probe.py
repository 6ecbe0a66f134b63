"""The landscape probe's figure: curvatures with their Monte-Carlo error, the latents their
directions revive, and the deep KL per latent beside the linear prediction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._ppca.mle import kl_at_optimum
from .scaffold import LEGEND_STYLE, Axes, Figure, MaxNLocator, axes_for

if TYPE_CHECKING:
    from ..deep._probe import LandscapeProbe

__all__ = ["plot_landscape_probe"]

PROBE_FIGSIZE = (13.0, 4.2)
ASCENT, FLAT, DESCENT = "#d62728", "0.55", "#1f77b4"
# The curvature axis turns symlog when the largest |curvature| exceeds the zero band (at least
# SYMLOG_FLOOR times the largest) by more than this ratio; it is linear inside the band.
SYMLOG_RATIO = 100.0
SYMLOG_FLOOR = 1e-6


def plot_landscape_probe(probe: LandscapeProbe, ax: Any = None) -> Figure:
    """Three panels of a `landscape_probe` result: (a) the top curvatures (own noise, and the
    mean ± 3 standard errors under fresh noise); (b) the latent attribution of each direction;
    (c) the KL per latent, ranked, beside the linear VAE's optimum at the same ``sigma2``.

    Parameters
    ----------
    probe : LandscapeProbe
    ax : sequence of three matplotlib Axes, optional
        By default a new figure with three panels side by side.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        fig = Figure(figsize=PROBE_FIGSIZE, layout="constrained")
        ax_c, ax_a, ax_k = fig.subplots(1, 3, width_ratios=[1.1, 1.0, 1.0])
    else:
        fig, (ax_c, ax_a, ax_k) = axes_for(ax, 3, PROBE_FIGSIZE)
    _curvature_panel(probe, ax_c)
    _attribution_panel(probe, ax_a, fig)
    _latent_panel(probe, ax_k)
    fig.suptitle(probe.stability, fontsize="medium")
    return fig


def _curvature_panel(probe: LandscapeProbe, ax: Axes) -> None:
    rank = np.arange(1, probe.n_eigen + 1)
    colors = np.where(probe.ascent, ASCENT, np.where(probe.flat, FLAT, DESCENT))
    ax.axhline(0.0, color="black", lw=0.8)
    t = probe.thresholds
    ax.fill_between(rank, -t, t, step="mid", color="0.9", zorder=0, label="zero within error")
    ax.errorbar(
        rank + 0.15,
        probe.curvature_mean,
        yerr=3 * probe.curvature_se,
        fmt="none",
        ecolor="0.3",
        capsize=3,
        label=f"fresh noise: mean ± 3 se ({probe.n_batches} batches)",
    )
    ax.scatter(
        rank, probe.curvatures, c=list(colors), s=30, zorder=3, label="curvature (own noise)"
    )
    for i in np.flatnonzero(probe.ascent):
        c = probe.revived_latent[i]
        if c >= 0:
            ax.annotate(
                f"z{c}",
                (rank[i], probe.curvatures[i]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize="small",
                color=ASCENT,
            )
    size = np.abs(probe.curvatures)
    top = float(size.max())
    # linear inside the zero band (what is within error of 0), logarithmic outside it
    low = max(float(t.max()), SYMLOG_FLOOR * top)
    if top > SYMLOG_RATIO * low:
        ax.set_yscale("symlog", linthresh=low)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("rank")
    ax.set_ylabel("Hessian eigenvalue of the ELBO")
    ax.set_title(f"(a) top {probe.n_eigen} curvatures (> 0: ascent)", loc="left")
    # Below the panels (here and in (c)): inside, "best" placement avoids the markers but not the
    # labels of the ascent directions, and covered one; in (c) it covers bars.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), **LEGEND_STYLE)


def _attribution_panel(probe: LandscapeProbe, ax: Axes, fig: Figure) -> None:
    a = probe.latent_attribution
    im = ax.imshow(a, cmap="RdBu_r", vmin=-1.0, vmax=1.0, aspect="auto", interpolation="nearest")
    ax.set_yticks(np.arange(probe.n_eigen), [str(i + 1) for i in range(probe.n_eigen)])
    ax.set_ylabel("direction (rank)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("latent")
    for i in np.flatnonzero(probe.ascent):
        ax.get_yticklabels()[i].set_color(ASCENT)
    fig.colorbar(im, ax=ax, label="share of d²KL along the direction")
    ax.set_title("(b) which latent each direction revives", loc="left")


def _latent_panel(probe: LandscapeProbe, ax: Axes) -> None:
    q = probe.latent_dim
    ranks = np.arange(1, q + 1)
    kl = np.sort(probe.diagnostics.kl_per_latent)[::-1]
    lam = probe.eigenvalues[:q]
    if lam.size < q:
        lam = np.concatenate([lam, np.zeros(q - lam.size)])
    predicted = kl_at_optimum(lam, probe.sigma2, probe.linear.n_active)
    ax.bar(ranks, kl, color="#d95f02", alpha=0.8, label="deep: KL per latent (ranked)")
    ax.plot(ranks, predicted, "k.-", label="linear VAE optimum: ½ log max(1, λ_r/σ²)")
    esc = probe.linear_escape_curvatures
    dead = kl < probe.diagnostics.epsilon
    saddle = dead & np.isfinite(esc)
    if saddle.any():
        ax.scatter(
            ranks[saddle],
            np.zeros(int(saddle.sum())),
            marker="^",
            color=ASCENT,
            zorder=3,
            label="collapsed here, λ_r > σ²: a linear saddle",
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("rank r (deep latents by KL; eigenvalues λ_r)")
    ax.set_ylabel("KL [nats]")
    ax.set_title(f"(c) deep vs linear, σ² = {probe.sigma2:.3g}", loc="left")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), **LEGEND_STYLE)
