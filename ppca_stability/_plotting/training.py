"""Training curves of a linear VAE: the ELBO's gap to the analytic optimum and each latent's KL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .scaffold import (
    LEGEND_STYLE,
    BoundaryNorm,
    Figure,
    Line2D,
    ListedColormap,
    MaxNLocator,
    ScalarMappable,
    axes_for,
    latent_colors,
    roundoff_floor,
)

if TYPE_CHECKING:
    from .._vae.linear_vae import LinearVAEFit

__all__ = ["plot_linear_vae_fit"]


# Training curves of a linear VAE: two panels side by side, legends to their right.
VAE_FIT_FIGSIZE = (12.0, 4.0)
# Up to this many latents the KL panel names each colour in a legend; beyond, a colour bar.
# Up to this many latents the KL panel names each colour in a legend; beyond, a colour bar.
MAX_LEGEND_LATENTS = 12
# The ELBO gap is clipped from below at this many ulps of |optimum|: below it is round-off.
AVERAGING_STYLE: dict[str, Any] = dict(color="0.25", linestyle=":", linewidth=1.3)
# The phase diagram's legends sit in a column of their own, right of the panels (width ratio).


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
    if ax is None:
        fig = Figure(figsize=VAE_FIT_FIGSIZE, layout="constrained")
        ax_elbo, ax_kl = fig.subplots(1, 2)
    else:
        fig, (ax_elbo, ax_kl) = axes_for(ax, 2, VAE_FIT_FIGSIZE)
    history = fit.history
    steps = history.steps
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
    colors = latent_colors(q)
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
