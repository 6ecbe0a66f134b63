"""The deep sweep's tables (`DeepCollapseSweep` and `CollapseThresholds` reprs) on small synthetic
sweeps built from encoder outputs with chosen active units: no training, but torch is needed to
import ``ppca_stability.deep``."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from ppca_stability import collapse_diagnostics, phase_diagram

LAM = np.array([4.0, 1.0, 0.25])
GRID = np.array([0.5, 2.0, 8.0])  # steps of a factor 4
N_SAMPLES = 64


@pytest.fixture(scope="module")
def deep():
    return pytest.importorskip("ppca_stability.deep")


def _diagnostics(active: int, rng):
    """Encoder outputs whose first `active` of 2 latents vary over the samples (Var mu ~ 1), the
    rest at the prior."""
    mu = rng.standard_normal((N_SAMPLES, 2)) * (np.arange(2) < active)
    return collapse_diagnostics(mu, np.zeros((N_SAMPLES, 2)))


def _sweep(deep, active_units, grid=GRID):
    """A `DeepCollapseSweep` on `grid` whose measured active units are `active_units` (G, S)."""
    rng = np.random.default_rng(0)
    rows = tuple(tuple(_diagnostics(a, rng) for a in row) for row in np.asarray(active_units))
    return deep.DeepCollapseSweep(
        sigma2=np.asarray(grid, dtype=float),
        seeds=tuple(range(len(rows[0]))),
        diagnostics=rows,
        elbo=np.zeros((len(rows), len(rows[0]))),
        phase=phase_diagram(np.diag(LAM), latent_dim=2),
        activation="tanh",
        hidden=(16,),
        epochs=10,
    )


def _table(text: str) -> list[list[str]]:
    """Rows of a thresholds table: cells after the column header line (starting with 'k')."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["k"])
    return [re.findall(r"\[[^]]*\]|\S+", line) for line in lines[start + 1 :]]


def _significant(cell: str) -> int:
    digits = cell.lstrip("-0.").replace(".", "")
    return len(digits.rstrip("0")) or 1


def test_no_threshold_inside_the_grid_prints_a_dash(deep):
    # Seed 1 keeps its last unit up to the end of the grid: its threshold for k = 1, and so the
    # per-seed range, are NaN; the table says "–" as docs/deep_vae.md promises, never "nan".
    sweep = _sweep(deep, [[2, 2], [1, 1], [0, 1]])
    th = sweep.thresholds()
    assert np.isnan(th.deep_min[0]) and np.isnan(th.deep_max[0])
    text = repr(th)
    assert "nan" not in text.lower()
    k1, k2 = _table(text)
    # k = 1: the mean count ends at 0.5, still not below 1/2, so the mean has none either
    assert np.isnan(th.deep[0]) and k1[0] == "1" and k1[3] == k1[4] == "\u2013"
    assert k1[2] == f"{th.linear_on_grid[0]:.1g}"  # the linear staircase does cross
    assert all(math.isfinite(v) for v in (th.deep[1], th.deep_min[1], th.deep_max[1]))
    assert "\u2013" not in k2


def test_one_seed_prints_no_spread(deep):
    sweep = _sweep(deep, [[2], [1], [0]])
    text = repr(sweep)
    assert "3 sigma2 values x 1 seed," in text
    assert "std" not in text and "[min, max]" not in text and "1 seeds" not in text
    # each row is the seed's own values
    for g, line in enumerate(text.splitlines()[3:]):
        cells = line.replace("|", " ").split()
        assert int(cells[2]) == sweep.active_units[g, 0]
        assert float(cells[4]) == pytest.approx(sweep.kl_by_rank[g, 0].sum(), abs=5e-4)
    th = repr(sweep.thresholds())
    assert "deep seeds" not in th and "[" not in th
    assert repr(_sweep(deep, [[2, 2], [1, 1], [0, 0]])).count("2 seeds") == 1


@pytest.mark.parametrize("factor, digits", [(4.0, 1), (1.5, 2), (1.05, 3)])
def test_thresholds_print_the_digits_the_grid_supports(deep, factor, digits):
    # A threshold read off a grid stepping by `factor` is known to about that factor: a 3-point
    # grid (x4) printed ratios like 1.070; it now prints 1 digit, a x1.05 grid 3.
    grid = 0.5 * factor ** np.arange(int(np.ceil(np.log(16.0) / np.log(factor))) + 1)
    lam = LAM[:2]
    units = [[int(np.sum(1 - s / lam > 0.01)), int(np.sum(1 - s / lam > 0.01))] for s in grid]
    th = _sweep(deep, units, grid).thresholds()
    assert th.significant_digits == digits
    rows = _table(repr(th))
    assert [r[0] for r in rows] == ["1", "2"]
    for row in rows:
        for cell in (row[2], row[3], row[5]):  # linear@grid, deep (mean), ratio
            assert cell != "\u2013" and _significant(cell) <= digits, row
        assert float(row[5]) == pytest.approx(1.0, rel=factor - 1)  # deep = linear here
    assert f"{digits} significant digit" in repr(th)


def test_one_seed_figure_claims_no_spread(deep):
    fig = _sweep(deep, [[2], [1], [0]]).plot()
    texts = [t.get_text() for a in fig.axes if a.get_legend() for t in a.get_legend().get_texts()]
    texts += [a.get_title(loc="left") for a in fig.axes]
    assert "deep VAE (1 seed)" in texts
    assert not [t for t in texts if "1 seeds" in t or "std over seeds" in t]
