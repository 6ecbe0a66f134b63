"""A deep VAE's collapse sweep against the linear prediction: active units and KL by rank vs
sigma2."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._base.tolerance import eigen_floor, n_above
from .._ppca.mle import kl_at_optimum
from .scaffold import (
    Figure,
    Line2D,
    axes_for,
    latent_colors,
)

__all__ = ["plot_deep_collapse_sweep"]


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
    fig, (ax_au, ax_kl) = axes_for(ax, 2, (10.5, 7.0))
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
        label=f"deep VAE: mean, [min, max] over {au.shape[1]} seeds"
        if au.shape[1] > 1
        else "deep VAE (1 seed)",
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

    colors = latent_colors(q)
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
        "markers deep VAE " + ("(mean ± std over seeds)" if au.shape[1] > 1 else "(1 seed)"),
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
