"""The figure of a `CollapseMonitor`: collapse measured epoch by epoch over the linear prediction
(matplotlib, imported only with this module; built on `Figure`, never pyplot)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .scaffold import Figure, MaxNLocator, axes_for, latent_colors

if TYPE_CHECKING:
    from ..deep._monitor import CollapseMonitor

__all__ = ["plot_collapse_monitor"]

MEASURED = "#d95f02"
COLLAPSED = "#1b9e77"
LINEAR = "black"


def _finite_max(*values: Any) -> float:
    """Largest finite entry of the arrays (0 if none): axis limits ignore an infinite KL."""
    flat = np.concatenate([np.ravel(v) for v in values])
    flat = flat[np.isfinite(flat)]
    return float(flat.max()) if flat.size else 0.0


def plot_collapse_monitor(monitor: CollapseMonitor, ax: Any = None) -> Figure:
    """Three panels against the epoch: KL per latent (each latent its colour, ranked by its final
    KL; dashed: the linear optimum's KL by rank), active and collapsed units (dashed: the linear
    prediction), and ``I(x; z)`` with the total KL (dashed: the linear optimum's, where both are
    equal; dotted: the estimator's ``log n`` ceiling).

    Parameters
    ----------
    monitor : CollapseMonitor
        With at least one update.
    ax : sequence of three matplotlib Axes, optional
        By default a new figure with three panels sharing the epoch axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not monitor.diagnostics:
        raise ValueError("the monitor has no update yet: nothing to plot.")
    fig, (ax_kl, ax_units, ax_mi) = axes_for(ax, 3, (10.5, 9.0))
    h, pred = monitor.history, monitor.prediction
    epoch, q = h.epoch, h.kl_per_latent.shape[1]
    marker = "o" if epoch.size <= 30 else None
    last = epoch[-1] if epoch.size > 1 else epoch[0] + 1

    # KL per latent, coloured by the rank of its final KL so that colours match the reference
    # lines of the linear optimum's KL by rank. The axis is linear below epsilon (the collapse
    # level) and logarithmic above, so that weakly used latents stay apart from collapsed ones.
    eps, delta = monitor.diagnostics[0].epsilon, monitor.diagnostics[0].delta
    order = np.argsort(-h.kl_per_latent[-1], kind="stable")
    colors = latent_colors(q)
    for r, i in enumerate(order):
        ax_kl.plot(epoch, h.kl_per_latent[:, i], color=colors[r], lw=1.2, marker=marker, ms=2.5)
    ax_kl.plot([], [], color="0.3", lw=1.2, label="measured, per latent\n(colour: rank at the end)")
    if pred is not None:
        for r, kl in enumerate(pred.kl_per_latent):
            if kl > 0:
                ax_kl.axhline(kl, color=colors[r], ls="--", lw=1.1)
        ax_kl.plot([], [], color="0.3", ls="--", lw=1.1, label="linear optimum, by rank")
    if eps > 0:
        ax_kl.set_yscale("symlog", linthresh=eps, linscale=0.5)
        ax_kl.axhspan(0.0, eps, color="0.92", zorder=0, label=f"KL < $\\epsilon$ = {eps:g}")
    top = _finite_max(h.kl_per_latent, pred.kl_per_latent if pred is not None else 0.0)
    ax_kl.set_ylim(0.0, 1.6 * top if top > 0 else 1.0)  # headroom above the largest line
    ax_kl.set_ylabel("KL per latent [nats]")
    ax_kl.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    src = ""
    if pred is not None:
        src = f" — linear prediction at $\\sigma^2$ = {pred.sigma2:.4g}"
        if pred.beta is not None:
            src += f" ($\\beta$ = {pred.beta:g})"
    ax_kl.set_title(f"Posterior collapse during training{src}", loc="left")

    au = monitor.diagnostics[0].au_threshold
    ax_units.plot(
        epoch,
        h.active_units,
        color=MEASURED,
        marker=marker,
        ms=4,
        label=f"active (Var$_x\\,\\mu$ > {au:g})",
    )
    ax_units.plot(
        epoch,
        h.n_collapsed,
        color=COLLAPSED,
        marker=marker,
        ms=4,
        label=f"($\\epsilon$={eps:g}, $\\delta$={delta:g})-collapsed",
    )
    if pred is not None:
        n_active, n_dead = (
            monitor.predicted_active_units or 0,
            int(np.count_nonzero(pred.collapsed)),
        )
        if n_active == n_dead:  # one line for both, so that neither hides the other
            ax_units.axhline(
                n_active, color=LINEAR, ls="--", lw=1.0, label="linear: active = collapsed"
            )
        else:
            ax_units.axhline(n_active, color=MEASURED, ls="--", lw=1.0, label="linear: active")
            ax_units.axhline(n_dead, color=COLLAPSED, ls="--", lw=1.0, label="linear: collapsed")
    ax_units.set_ylim(-0.5, q + 0.5)
    ax_units.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_units.set_ylabel(f"latents (of {q})")
    ax_units.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")

    ax_mi.plot(epoch, h.mutual_information, color=MEASURED, marker=marker, ms=4, label="I(x; z)")
    ax_mi.plot(epoch, h.total_kl, color="#7570b3", marker=marker, ms=4, label="total KL (rate)")
    if pred is not None:
        ax_mi.axhline(
            float(np.sum(pred.kl_per_latent)),
            color=LINEAR,
            ls="--",
            lw=1.0,
            label="linear optimum: I(x; z) = total KL",
        )
    ceiling = math.log(monitor.diagnostics[-1].mi_samples)
    if ceiling < 1.5 * _finite_max(h.total_kl, h.mutual_information):
        ax_mi.axhline(
            ceiling, color="0.5", ls=":", lw=1.0, label=f"log n = {ceiling:.3g} (estimator ceiling)"
        )
    # A Monte-Carlo estimate of a small I(x; z) may dip below 0: keep it in view.
    ax_mi.set_ylim(bottom=min(0.0, 1.1 * float(np.nanmin(h.mutual_information))))
    ax_mi.set_ylabel("nats")
    ax_mi.set_xlabel("epoch")
    ax_mi.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax_mi.set_xlim(epoch[0] - 0.02 * (last - epoch[0]), last + 0.02 * (last - epoch[0]))
    ax_mi.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig
