"""Figures framed on what matters: legends that name only what is drawn, a KL axis framed on the
converged training, degenerate points of a large stability map that stay legible. Checked on the
plotted data (artists, limits, labels), never pixels."""

from __future__ import annotations

import numpy as np
import pytest
from _support import SPECTRUM
from matplotlib.lines import Line2D

from ppca_stability import phase_diagram

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
