"""Figures framed on what matters: legends that name only what is drawn, a KL axis framed on the
converged training, degenerate points of a large stability map that stay legible. Checked on the
plotted data (artists, limits, labels), never pixels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _support import SPECTRUM
from matplotlib.lines import Line2D

from ppca_stability import fit_linear_vae, phase_diagram
from ppca_stability._plotting.training import kl_frame

Q = 3


def _drawn_inside(artist, ax) -> bool:
    """Whether a legend's line or marker artist has a point inside the axes' x range."""
    x = np.asarray(artist.get_xdata(), dtype=float)
    lo, hi = sorted(ax.get_xlim())
    return bool(np.any((x >= lo) & (x <= hi)))


def _legend_labels(fig) -> list[str]:
    return [t.get_text() for a in fig.axes if a.get_legend() for t in a.get_legend().get_texts()]


@pytest.mark.parametrize(
    "grid",
    [
        None,  # everything in range
        np.geomspace(2.0, 5.0, 30),  # sigma2_ML = 1.23 left of the grid, lam_1 = 6 right of it
        np.geomspace(7.0, 50.0, 30),  # beyond lam_1: every latent collapsed, no kink, no breakpoint
        np.geomspace(0.05, 0.35, 30),  # below every eigenvalue: nothing collapsed
    ],
    ids=["default", "inside", "beyond", "below"],
)
def test_phase_legends_name_only_what_is_drawn(grid):
    pd = phase_diagram(np.diag(SPECTRUM), latent_dim=Q, sigma2=grid)
    fig = pd.plot()
    named = set(_legend_labels(fig))
    for ax in fig.axes:
        handles, labels = ax.get_legend_handles_labels()
        for handle, label in zip(handles, labels):
            if isinstance(handle, Line2D):
                assert _drawn_inside(handle, ax), label
    learned_in = pd.sigma2[0] <= pd.sigma2_learned <= pd.sigma2[-1]
    assert any(t.startswith("learned") for t in named) == learned_in
    kinks = np.isin(SPECTRUM[:Q], pd.sigma2).any()
    assert any(t.startswith("kink") for t in named) == kinks
    in_grid = (SPECTRUM[:Q] >= pd.sigma2[0]) & (SPECTRUM[:Q] <= pd.sigma2[-1])
    assert any(t.startswith("breakpoint") for t in named) == in_grid.any()
    assert ("collapsed (KL = 0)" in named) == bool(np.any(pd.kl_per_latent == 0))
    # the colour bar of KL starts at 0 (KL is never negative)
    bar = next(a for a in fig.axes if "KL per latent" in a.get_ylabel())
    assert min(bar.get_ylim()) == 0.0


def _footprint_fraction(ax, line) -> float:
    """The share of the stretch of x axis spanned by a line's markers that they cover (in
    display units): near 1 when they merge into a bar."""
    ax.figure.draw_without_rendering()
    x = np.sort(ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]))[:, 0])
    points = line.get_markeredgewidth() if line.get_marker() == "|" else line.get_markersize()
    half = 0.5 * points * ax.figure.dpi / 72.0
    covered, right = 0.0, -np.inf
    for left, end in zip(x - half, x + half):
        covered += max(0.0, end - max(left, right))
        right = max(right, end)
    return covered / (x[-1] - x[0] + 2 * half)


def test_degenerate_points_at_dense_breakpoints_stay_apart(digits_cov):
    # Digits at latent_dim 64: a degenerate point at each of the 61 breakpoints; drawn as 6-point
    # crosses they merged into a bar over the maximum's line.
    pd = phase_diagram(digits_cov, latent_dim=64)
    ax = pd.plot().axes[1]
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("degenerate")]
    np.testing.assert_array_equal(line.get_xdata(), pd.sigma2[pd.degenerate])
    assert line.get_xdata().size == pd.breakpoints.size
    assert _footprint_fraction(ax, line) < 0.3  # crosses: 0.58


# ----------------------------------------------------------------------------- linear VAE
@pytest.fixture(scope="module")
def smooth_fit():
    # L-BFGS on the closed-form ELBO from a small start: the KL rises to the optimum, no spike.
    return fit_linear_vae(cov=np.diag(SPECTRUM), latent_dim=Q, rng=0)


def _spiked(fit, peak=60.0, steps=(1, 2, 3)):
    """`fit` with an early transient: the KL of latent 1 at `steps` set to `peak` nats (as the
    stochastic objective on MNIST does at its first steps)."""
    kl = fit.history.kl.copy()
    kl[list(steps), 0] = peak
    return dataclasses.replace(fit, history=dataclasses.replace(fit.history, kl=kl))


def test_kl_axis_shows_the_whole_run_without_a_spike(smooth_fit):
    assert kl_frame(smooth_fit) is None
    ax = smooth_fit.plot().axes[1]
    assert ax.get_ylim()[1] >= smooth_fit.history.kl.max()
    assert not [ln for ln in ax.get_lines() if ln.get_label().startswith("axis clipped")]


def test_kl_axis_is_framed_on_the_converged_part_with_the_spike_marked(smooth_fit):
    fit = _spiked(smooth_fit)
    ax = fit.plot().axes[1]
    n = fit.history.kl.shape[0]
    converged = max(fit.history.kl[n // 2 :].max(), fit.kl_optimum.max())
    lo, hi = ax.get_ylim()
    # the converged curves and the predicted optimum fill the axis; the spike does not set it
    assert converged <= hi <= 2 * converged and lo <= 0.0
    (mark,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("axis clipped")]
    assert mark.get_xdata().tolist() == [1, 2, 3]
    assert np.all(mark.get_ydata() <= hi)
    assert "up to 60)" in mark.get_label() and "3 steps in 1-3" in mark.get_label()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert mark.get_label() in legend
