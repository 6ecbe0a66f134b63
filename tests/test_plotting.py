"""Figures: the plotted data (artists, limits, labels), never pixels."""

from __future__ import annotations

import numpy as np
import pytest
from _support import SPECTRUM, cov_from_eigenvalues
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.figure import Figure

from ppca_stability import Stability, phase_diagram, stability_map
from ppca_stability._plotting import (
    DENSE_SCATTER_FROM,
    MAX_PLOTTED_POINTS,
    plot_elbo_stability_map,
    plot_phase_diagram,
    plot_stability_map,
)

Q = 3


@pytest.fixture(scope="module")
def pd(spectrum_cov):
    return phase_diagram(spectrum_cov, latent_dim=Q)


@pytest.fixture(scope="module")
def fig(pd):
    return pd.plot()


def _line(ax, label):
    matches = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(matches) == 1, [ln.get_label() for ln in ax.get_lines()]
    return matches[0]


def _label_starting(ax, prefix):
    matches = [ln for ln in ax.get_lines() if ln.get_label().startswith(prefix)]
    assert len(matches) == 1, [ln.get_label() for ln in ax.get_lines()]
    return matches[0]


def test_phase_figure_has_three_labelled_log_panels(fig):
    assert isinstance(fig, Figure)
    collapse, landscape, likelihood = fig.axes[:3]
    for ax in (collapse, landscape, likelihood):
        assert ax.get_xscale() == "log" and ax.get_ylabel() and ax.get_title(loc="left")
        assert ax.get_legend() is not None
    assert likelihood.get_xlabel() == "observation-noise variance $\\sigma^2$"


def test_collapse_map_shows_kl_with_collapsed_cells_masked(pd, fig):
    ax = fig.axes[0]
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    data = mesh.get_array()
    assert data.shape == (Q, pd.sigma2.size)
    np.testing.assert_array_equal(np.ma.getmaskarray(data), pd.kl_per_latent.T == 0)
    np.testing.assert_allclose(data.compressed(), pd.kl_per_latent.T[pd.kl_per_latent.T > 0])
    ticks = _label_starting(ax, "breakpoint")
    np.testing.assert_array_equal(ticks.get_xdata(), pd.eigenvalues[:Q])
    np.testing.assert_array_equal(ticks.get_ydata(), np.arange(1, Q + 1))
    learned = _label_starting(ax, "learned")
    assert learned.get_xdata()[0] == pytest.approx(pd.sigma2_learned)
    lo, hi = ax.get_xlim()
    assert lo < pd.sigma2[0] and hi > pd.sigma2[-1]
    assert ax.get_ylim() == (Q + 0.5, 0.5)  # latent 1 on top
    assert any("KL" in a.get_ylabel() for a in fig.axes[3:])  # the colour bar


def test_landscape_counts_by_stability(pd, fig):
    ax = fig.axes[1]
    total = _line(ax, "all stationary points")
    np.testing.assert_allclose(total.get_ydata(), np.log10(np.array(pd.n_points, dtype=float)))
    saddles = _line(ax, "saddles")
    expected = [
        np.log10(c[Stability.SADDLE]) if Stability.SADDLE in c else -np.inf
        for c in pd.stability_counts
    ]
    np.testing.assert_allclose(saddles.get_ydata(), expected)
    degenerate = _label_starting(ax, "degenerate")
    np.testing.assert_array_equal(
        degenerate.get_xdata(), pd.sigma2[[Stability.DEGENERATE in c for c in pd.stability_counts]]
    )
    assert ax.yaxis.get_major_formatter()(2.0, 0) == "$10^{2}$"


def test_likelihood_panel_marks_kinks_and_live_latents(pd, fig):
    ax = fig.axes[2]
    curve = _label_starting(ax, "max log-likelihood")
    np.testing.assert_array_equal(curve.get_ydata(), pd.max_log_likelihood)
    kinks = _label_starting(ax, "kink")
    np.testing.assert_array_equal(np.sort(kinks.get_xdata()), np.sort(pd.eigenvalues[:Q]))
    lo, hi = ax.get_ylim()
    assert lo <= np.min(kinks.get_ydata()) and hi >= pd.max_log_likelihood.max()
    twin = next(a for a in fig.axes if a is not ax and a.bbox.bounds == ax.bbox.bounds)
    np.testing.assert_array_equal(twin.get_lines()[0].get_ydata(), pd.n_active)


def test_panels_into_given_axes(pd):
    fig = Figure()
    axes = fig.subplots(1, 2)
    assert plot_phase_diagram(pd, axes, panels=("likelihood", "collapse")) is fig
    assert axes[0].get_ylabel() == "mean log-likelihood per sample"
    single = Figure().subplots()
    assert plot_phase_diagram(pd, single, panels=["landscape"]) is single.figure


def test_bad_arguments(pd):
    with pytest.raises(ValueError, match="`ax`"):
        plot_phase_diagram(pd, Figure().subplots())
    with pytest.raises(ValueError, match="`panels`"):
        plot_phase_diagram(pd, panels=("collapse", "nope"))
    with pytest.raises(ValueError, match="`panels`"):
        plot_phase_diagram(pd, panels="collapse")
    with pytest.raises(TypeError, match="`pd`"):
        plot_phase_diagram(object())
    with pytest.raises(TypeError, match="`smap`"):
        plot_stability_map(pd)


def test_stability_map_scatter_by_stability(rng):
    cov = cov_from_eigenvalues(SPECTRUM, rng)
    smap = stability_map(cov, 1.5, latent_dim=2)
    fig = smap.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    points = list(smap.points)
    counts = smap.stability_counts()
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [c.get_label() for c in scatters] == [f"{k.value} ({n})" for k, n in counts.items()]
    for kind, coll in zip(counts, scatters):
        xy = coll.get_offsets()
        mine = [(p.morse_index, p.log_likelihood) for p in points if p.stability is kind]
        np.testing.assert_allclose(xy, mine)
    assert ax.get_xlabel() == "Morse index (ascent directions)"
    assert ax.get_ylabel() == "mean log-likelihood per sample"
    assert str(smap.n_points) in ax.get_title(loc="left")


@pytest.mark.parametrize("sigma2,d,latent_dim", [(0.5, 32, 3), ("learned", 60, 4)])
def test_dense_stability_map_draws_every_point(sigma2, d, latent_dim):
    # Beyond DENSE_SCATTER_FROM points saddles become small rasterised markers; the data are the
    # same as the built points', the maximum stays a full-size star.
    smap = stability_map(np.diag(np.geomspace(40.0, 1.0, d)), sigma2, latent_dim=latent_dim)
    assert smap.n_points > DENSE_SCATTER_FROM
    ax = smap.plot().axes[0]
    scatters = {
        c.get_label().split(" ")[0]: c for c in ax.collections if isinstance(c, PathCollection)
    }
    points = list(smap.points)
    for kind in smap.stability_counts():
        mine = [(p.morse_index, p.log_likelihood) for p in points if p.stability is kind]
        np.testing.assert_allclose(scatters[kind.value].get_offsets(), mine)
    assert scatters["saddle"].get_rasterized() and not scatters["maximum"].get_rasterized()
    assert scatters["maximum"].get_sizes()[0] > scatters["saddle"].get_sizes()[0]


def test_stability_map_refuses_too_many_points():
    smap = stability_map(np.diag(np.arange(40.0, 0.0, -1.0)), 0.5, latent_dim=5)
    assert smap.n_points > MAX_PLOTTED_POINTS
    with pytest.raises(ValueError, match="latent_dim"):
        smap.plot()


def test_figures_save_without_a_gui_backend(fig, tmp_path):
    for suffix in ("png", "svg", "pdf"):
        path = tmp_path / f"phase.{suffix}"
        fig.savefig(path)
        assert path.stat().st_size > 1000


def test_a_figure_without_matplotlib_is_one_error_naming_the_extra():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import numpy as np, ppca_stability as ps\n"
        "try:\n    ps.stability_map(np.diag([2.0, 1.0]), 0.5).plot()\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert (
        out.strip() == "Drawing figures needs matplotlib, which is not installed: pip install "
        '"ppca_stability[plot]"'
    )


def test_elbo_map_figure_draws_every_enumerated_point_by_stability():
    from ppca_stability import elbo_stability_map

    emap = elbo_stability_map(np.diag([5.0, 3.0, 2.0, 1.0]), 1.5, latent_dim=2)
    ax = emap.plot().axes[0]
    drawn = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
    assert drawn == emap.n_points == 7
    assert ax.get_ylabel() == "ELBO (nats per sample)"
    assert "diagonal encoder" in ax.get_title(loc="left")
    with pytest.raises(TypeError, match="`emap`"):
        plot_elbo_stability_map(object())
