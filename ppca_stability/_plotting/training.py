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
MAX_LEGEND_LATENTS = 12
AVERAGING_STYLE: dict[str, Any] = dict(color="0.25", linestyle=":", linewidth=1.3)
# The KL axis is framed on the converged part of the run: the last TAIL_FRACTION of the steps and
# the predicted optimum, with KL_HEADROOM above them. An early transient that rises more than
# CLIP_FACTOR times above that frame is clipped (and marked) instead of setting the axis: the
# stochastic objective on MNIST starts with KL spikes to ~60 nats while it converges to 0-1.2.
TAIL_FRACTION = 0.5
KL_HEADROOM = 0.15
CLIP_FACTOR = 2.0
CLIPPED_STYLE: dict[str, Any] = dict(
    marker="^", color="#c0392b", markersize=6, linestyle="none", zorder=5
)
# The triangles sit just inside the top edge (a fraction of the axis height below it).
CLIPPED_MARK_AT = 0.965


def plot_linear_vae_fit(fit: LinearVAEFit, ax: Any = None) -> Figure:
    """Training curves of a `LinearVAEFit`: ELBO shortfall from the analytic optimum, KL per latent.

    The shortfall is drawn on a log axis clipped from below at round-off, ``eps * |optimum|``
    (a dotted line; a gap at or below it, or negative, is drawn on it). The KL panel names the
    latents' colours (a legend up to 12 latents, a colour bar beyond) and is framed on the
    converged part of the run (the last half of the steps and the predicted optimum): an early
    transient more than twice as high, such as the stochastic objective's first steps on MNIST
    (KL up to 60 nats against 0-1.2 converged), is clipped, its steps marked by triangles along
    the top edge and its peak given in the legend. When the iterates are averaged (the
    stochastic objective), a vertical line marks the step averaging starts.

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
    _frame_kl(ax_kl, fit)
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


def kl_frame(fit: LinearVAEFit) -> tuple[float, float] | None:
    """``(top, peak)`` of the KL axis when an early transient is clipped, else None: ``top``
    frames the converged part (the last `TAIL_FRACTION` of the steps and the predicted optimum,
    with `KL_HEADROOM`), ``peak`` is the highest KL of the run, beyond ``CLIP_FACTOR * top``."""
    kl = fit.history.kl
    tail = kl[int((1.0 - TAIL_FRACTION) * (kl.shape[0] - 1)) :]
    converged = max(float(tail.max(initial=0.0)), float(np.max(fit.kl_optimum, initial=0.0)))
    top = (1.0 + KL_HEADROOM) * converged
    peak = float(kl.max(initial=0.0))
    return (top, peak) if top > 0.0 and peak > CLIP_FACTOR * top else None


def _frame_kl(ax: Any, fit: LinearVAEFit) -> None:
    """Frame the KL axis on the converged part; the steps of a clipped transient (KL beyond
    ``CLIP_FACTOR`` times the frame) are marked by triangles along the top edge and named in the
    legend with the peak."""
    frame = kl_frame(fit)
    if frame is None:
        return
    top, peak = frame
    ax.set_ylim(-0.03 * top, top)
    far = np.flatnonzero(fit.history.kl.max(axis=1) > CLIP_FACTOR * top)
    steps = f"step {far[0]:,}" if far.size == 1 else f"{far.size:,} steps in {far[0]:,}-{far[-1]:,}"
    ax.plot(
        far,
        np.full(far.size, CLIPPED_MARK_AT * top),
        **CLIPPED_STYLE,
        label=f"axis clipped at {top:.3g} nats;\nKL beyond {CLIP_FACTOR * top:.3g} (up to "
        f"{peak:.3g})\nat {steps}",
    )
