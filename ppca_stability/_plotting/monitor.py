"""The figure of a `CollapseMonitor`: collapse measured epoch by epoch over the linear prediction
(matplotlib, imported only with this module; built on `Figure`, never pyplot)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._base.optional import require

require("matplotlib", "plot", "Drawing figures")  # one line naming the extra

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .figures import _axes_for, _latent_colors  # noqa: E402

if TYPE_CHECKING:
    from ..deep._monitor import CollapseMonitor

__all__ = ["plot_collapse_monitor"]

MEASURED = "#d95f02"
LINEAR = "black"


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
    fig, (ax_kl, ax_units, ax_mi) = _axes_for(ax, 3, (8.0, 9.0))
    h, pred = monitor.history, monitor.prediction
    epoch, q = h.epoch, h.kl_per_latent.shape[1]
    marker = "o" if epoch.size <= 30 else None
    last = epoch[-1] if epoch.size > 1 else epoch[0] + 1

    # KL per latent, coloured by the rank of its final KL so that colours match the reference
    # lines of the linear optimum's KL by rank.
    order = np.argsort(-h.kl_per_latent[-1], kind="stable")
    colors = _latent_colors(q)
    for r, i in enumerate(order):
        ax_kl.plot(epoch, h.kl_per_latent[:, i], color=colors[r], lw=1.2, marker=marker, ms=3)
    if pred is not None:
        for r, kl in enumerate(pred.kl_per_latent):
            ax_kl.axhline(kl, color=colors[r], ls="--", lw=0.9, alpha=0.8)
        ax_kl.plot([], [], color="0.3", ls="--", lw=0.9, label="linear optimum, by rank")
        ax_kl.plot([], [], color="0.3", lw=1.2, label="measured (colour: rank at the end)")
        ax_kl.legend(loc="best", fontsize="small")
    ax_kl.set_ylabel("KL per latent [nats]")
    ax_kl.set_ylim(bottom=0.0)
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
    eps, delta = monitor.diagnostics[0].epsilon, monitor.diagnostics[0].delta
    ax_units.plot(
        epoch,
        h.n_collapsed,
        color="#1b9e77",
        marker=marker,
        ms=4,
        label=f"($\\epsilon$={eps:g}, $\\delta$={delta:g})-collapsed",
    )
    if pred is not None:
        ax_units.axhline(
            float(monitor.predicted_active_units or 0),
            color=MEASURED,
            ls="--",
            lw=1.0,
            label="linear: active",
        )
        ax_units.axhline(
            int(np.count_nonzero(pred.collapsed)),
            color="#1b9e77",
            ls="--",
            lw=1.0,
            label="linear: collapsed",
        )
    ax_units.set_ylim(-0.5, q + 0.5)
    ax_units.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_units.set_ylabel(f"latents (of {q})")
    ax_units.legend(loc="best", fontsize="small", ncols=2)

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
    m = monitor.diagnostics[-1].mi_samples
    ceiling = math.log(m)
    if ceiling < 1.5 * max(float(np.max(h.total_kl)), float(np.max(h.mutual_information)), 1e-9):
        ax_mi.axhline(
            ceiling, color="0.5", ls=":", lw=1.0, label=f"log n = {ceiling:.3g} (estimator ceiling)"
        )
    ax_mi.set_ylim(bottom=0.0)
    ax_mi.set_ylabel("nats")
    ax_mi.set_xlabel("epoch")
    ax_mi.legend(loc="best", fontsize="small")
    ax_mi.set_xlim(epoch[0] - 0.02 * (last - epoch[0]), last + 0.02 * (last - epoch[0]))
    ax_mi.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig
