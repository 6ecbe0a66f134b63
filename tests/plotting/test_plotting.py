"""Figures: the plotted data (artists, limits, labels), never pixels."""

from __future__ import annotations

import numpy as np
import pytest
from _support import SPECTRUM, cov_from_eigenvalues
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.figure import Figure

from ppca_stability import (
    Stability,
    elbo_stability_map,
    fit_linear_vae,
    phase_diagram,
    stability_map,
)
from ppca_stability._plotting.maps import (
    DENSE_SCATTER_FROM,
    MAX_PLOTTED_POINTS,
    SUMMARY_SAMPLE,
    plot_stability_map,
    summary_sample,
)
from ppca_stability._plotting.phase import landscape_title, plot_phase_diagram
from ppca_stability._plotting.training import MAX_LEGEND_LATENTS

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


def _legends(fig):
    return [a.get_legend() for a in fig.axes if a.get_legend() is not None]


def _assert_legends_clear_of_data(fig, n_legends):
    """Every legend lies inside the figure and overlaps no axes that draws data (panels, twins,
    colour bars, insets)."""
    fig.draw_without_rendering()
    legends = _legends(fig)
    assert len(legends) == n_legends
    data_axes = [a for a in fig.axes if a.axison]
    data_axes += [c for a in fig.axes for c in a.child_axes]
    for legend in legends:
        box = legend.get_window_extent()
        assert fig.bbox.x0 - 1 <= box.x0 and box.x1 <= fig.bbox.x1 + 1
        assert fig.bbox.y0 - 1 <= box.y0 and box.y1 <= fig.bbox.y1 + 1
        for a in data_axes:
            assert not box.overlaps(a.get_window_extent()), (
                [t.get_text() for t in legend.get_texts()],
                a.get_title(loc="left") or a.get_ylabel(),
            )


def test_phase_figure_has_three_labelled_log_panels(fig):
    assert isinstance(fig, Figure)
    collapse, landscape, likelihood = fig.axes[:3]
    for ax in (collapse, landscape, likelihood):
        assert ax.get_xscale() == "log" and ax.get_ylabel() and ax.get_title(loc="left")
    assert likelihood.get_xlabel() == "observation-noise variance $\\sigma^2$"
    texts = [[t.get_text() for t in legend.get_texts()] for legend in _legends(fig)]
    assert [row[0].split(":")[0] for row in texts] == [
        "breakpoint",
        "all stationary points",
        "max log-likelihood $\\ell^*$",
    ]


@pytest.mark.parametrize("latent_dim", [1, 5, 10, 32])
def test_phase_legends_sit_outside_the_data_for_any_number_of_latents(latent_dim):
    # The bottom latent's row (and every other row) stays visible: no legend covers a panel.
    cov = np.diag(np.geomspace(50.0, 0.5, 40))
    fig = phase_diagram(cov, latent_dim=latent_dim).plot()
    _assert_legends_clear_of_data(fig, 3)
    collapse = fig.axes[0]
    assert collapse.get_ylim() == (latent_dim + 0.5, 0.5)


def test_phase_legends_outside_given_axes(pd):
    fig = Figure(figsize=(14.0, 10.0), layout="constrained")
    plot_phase_diagram(pd, fig.subplots(3, 1))
    _assert_legends_clear_of_data(fig, 3)


def _kinds_named(title):
    words = {
        Stability.MAXIMUM: "maximum",
        Stability.SADDLE: "saddles",
        Stability.MINIMUM: "minimum",
        Stability.DEGENERATE: "degenerate",
    }
    return {kind for kind, word in words.items() if word in title}


@pytest.mark.parametrize(
    "sigma2",
    [
        None,  # the default grid: breakpoints included, so degenerate points
        np.geomspace(0.05, 0.3, 5),  # below every eigenvalue: W = 0 is a minimum
        np.geomspace(0.5, 5.0, 7),  # regular values above the smallest eigenvalue
    ],
    ids=["breakpoints", "minimum", "regular"],
)
def test_landscape_title_names_exactly_the_kinds_drawn(sigma2):
    pd = phase_diagram(np.diag(SPECTRUM), latent_dim=Q, sigma2=sigma2)
    ax = plot_phase_diagram(pd, panels=["landscape"]).axes[0]
    drawn = {
        kind
        for kind in Stability
        for ln in ax.get_lines()
        if ln.get_label().startswith(kind.value if kind is not Stability.SADDLE else "saddles")
    }
    counted = {kind for c in pd.stability_counts for kind, n in c.items() if n}
    assert drawn == counted
    title = ax.get_title(loc="left")
    assert title == landscape_title(pd.stability_counts)
    assert _kinds_named(title) == counted
    only_max_and_saddles = counted <= {Stability.MAXIMUM, Stability.SADDLE}
    assert ("the rest saddles" in title) == only_max_and_saddles


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
    _assert_legends_clear_of_data(ax.figure, 1)


def _scatters(ax):
    return {c.get_label(): c for c in ax.collections if isinstance(c, PathCollection)}


def _census_bars(fig):
    every = list(fig.axes) + [c for a in fig.axes for c in a.child_axes]
    bars = next(a for a in every if a.patches)
    return {round(p.get_x() + p.get_width() / 2): p.get_y() + p.get_height() for p in bars.patches}


def test_a_map_too_large_to_draw_is_summarised():
    # sigma2 below every eigenvalue: W = 0 is the minimum, the top set the maximum, the rest
    # saddles (theory.md section 3).
    smap = stability_map(np.diag(np.arange(40.0, 0.0, -1.0)), 0.5, latent_dim=5)
    assert smap.n_points > MAX_PLOTTED_POINTS
    fig = smap.plot()
    ax = fig.axes[0]
    heading = " ".join(a.get_title(loc="left") for a in fig.axes)
    assert "Summary" in heading and f"{smap.n_points:,}" in heading
    # Every Morse index of the census is a bar, of height log10(count).
    census = smap.census()
    heights = _census_bars(fig)
    assert sorted(heights) == sorted(census)
    for index, count in census.items():
        assert heights[index] == pytest.approx(np.log10(count))
    # The sample: the points at the drawn ranks, by stability.
    ranks = summary_sample(smap.n_points)
    assert len(ranks) > 0.99 * SUMMARY_SAMPLE
    scatters = _scatters(ax)
    saddles = scatters[f"saddle: {len(ranks):,} sampled of {smap.n_points - 2:,}"]
    expected = [(smap.points[i].morse_index, smap.points[i].log_likelihood) for i in ranks]
    np.testing.assert_allclose(saddles.get_offsets(), expected)
    top = smap.global_maximum
    np.testing.assert_allclose(
        scatters["maximum (global)"].get_offsets(), [(top.morse_index, top.log_likelihood)]
    )
    zero = smap.point(())
    np.testing.assert_allclose(
        scatters["minimum ($W = 0$)"].get_offsets(), [(zero.morse_index, zero.log_likelihood)]
    )
    lo, hi = ax.get_xlim()
    assert lo < min(census) and hi > max(census)
    _assert_legends_clear_of_data(fig, 1)


def test_a_large_elbo_map_is_summarised():
    from ppca_stability import elbo_stability_map

    emap = elbo_stability_map(np.diag(np.arange(40.0, 0.0, -1.0)), 0.5, latent_dim=5)
    fig = emap.plot()
    assert "Summary" in fig.axes[1].get_title(loc="left")
    assert sorted(_census_bars(fig)) == sorted(emap.census())
    labels = list(_scatters(fig.axes[0]))
    # The pPCA minimum W = 0 is an ELBO saddle (the encoder adds descent directions): only the
    # maximum is drawn besides the sample.
    assert labels[0] == "maximum (global)" and len(labels) == 2 and "saddle" in labels[1]


def test_summary_into_given_axes_puts_the_census_above():
    smap = stability_map(np.diag(np.arange(40.0, 0.0, -1.0)), 0.5, latent_dim=5)
    ax = Figure(figsize=(9.0, 7.0), layout="constrained").subplots()
    fig = plot_stability_map(smap, ax)
    (inset,) = ax.child_axes
    assert inset.get_window_extent().y0 > ax.get_window_extent().y1
    assert sorted(_census_bars(fig)) == sorted(smap.census())


@pytest.mark.integration  # renders the figure into three file formats
def test_figures_save_without_a_gui_backend(fig, tmp_path):
    for suffix in ("png", "svg", "pdf"):
        path = tmp_path / f"phase.{suffix}"
        fig.savefig(path)
        assert path.stat().st_size > 1000


@pytest.mark.integration
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


# ----------------------------------------------------------------------------- linear VAE
@pytest.fixture(scope="module")
def analytic_fit():
    # L-BFGS on the closed-form ELBO drives the gap to round-off (0 or a few ulps, either sign).
    return fit_linear_vae(cov=np.diag(SPECTRUM), latent_dim=Q, rng=0)


def test_vae_gap_axis_is_clipped_at_roundoff(analytic_fit):
    fit = analytic_fit
    gap = fit.elbo_optimum - fit.history.elbo
    eps_floor = np.finfo(float).eps * abs(fit.elbo_optimum)
    assert (gap <= eps_floor).any()  # the case that used to send the axis to 1e-300
    fig = fit.plot()
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert lo >= eps_floor / 10 and hi >= gap.max()
    curve = _line(ax, "optimum - ELBO")
    np.testing.assert_allclose(curve.get_ydata(), np.maximum(gap, eps_floor))
    floor = _label_starting(ax, "round-off")
    assert floor.get_ydata()[0] == pytest.approx(eps_floor)
    assert f"{np.count_nonzero(gap <= eps_floor):,} smaller gaps" in floor.get_label()
    assert not [ln for ln in ax.get_lines() if "averaging" in ln.get_label()]
    _assert_legends_clear_of_data(fig, 2)


@pytest.mark.parametrize("latent_dim", [3, MAX_LEGEND_LATENTS + 4])
def test_vae_kl_panel_names_the_latent_colours(latent_dim):
    spectrum = np.geomspace(30.0, 1.0, latent_dim + 4)
    fit = fit_linear_vae(cov=np.diag(spectrum), latent_dim=latent_dim, sigma2=0.5, rng=0)
    fig = fit.plot()
    ax = fig.axes[1]
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith("latent ")]
    assert [ln.get_label() for ln in lines] == [f"latent {c + 1}" for c in range(latent_dim)]
    for c, ln in enumerate(lines):
        np.testing.assert_array_equal(ln.get_ydata(), fit.history.kl[:, c])
    assert len({ln.get_color() for ln in lines}) == latent_dim
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    bars = [a for a in fig.axes if a.get_xlabel() == "latent index (line colour)"]
    if latent_dim <= MAX_LEGEND_LATENTS:
        assert legend[:latent_dim] == [ln.get_label() for ln in lines] and not bars
    else:
        assert not any(t.startswith("latent ") for t in legend) and len(bars) == 1
        lo, hi = bars[0].get_xlim()
        assert lo == 0.5 and hi == latent_dim + 0.5
    assert "optimum (predicted)" in legend
    _assert_legends_clear_of_data(fig, 2)


def test_vae_marks_where_iterate_averaging_starts():
    from ppca_stability._vae.linear_vae import TAIL_AVERAGE

    steps = 400
    X = np.random.default_rng(0).standard_normal((300, 4)) * np.sqrt([4.0, 2.0, 1.0, 0.5])
    fit = fit_linear_vae(X, latent_dim=2, objective="stochastic", max_steps=steps, rng=0)
    start = fit.history.averaged_from
    # The documented schedule: the second half of the steps is averaged (Polyak-Ruppert).
    assert start == int((1 - TAIL_AVERAGE) * steps) + 1
    fig = fit.plot()
    for ax in fig.axes[:2]:
        mark = _label_starting(ax, "iterate averaging")
        assert list(mark.get_xdata()) == [start, start]
        assert f"{start:,}" in mark.get_label()
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert mark.get_label() in legend


def test_summary_without_a_census_says_so(monkeypatch):
    # A census that would need an enumeration beyond its limit is refused; the summary then
    # draws the maximum and the sample, and its title gives the reason instead of bars.
    from ppca_stability import StabilityMap

    def refused(self):
        raise ValueError("`census` must enumerate the points; that exceeds the limit")

    monkeypatch.setattr(StabilityMap, "census", refused)
    smap = stability_map(np.diag(np.arange(40.0, 0.0, -1.0)), 0.5, latent_dim=5)
    fig = smap.plot()
    titles = " ".join(a.get_title(loc="left") for a in fig.axes)
    assert "Summary" in titles and "no census (`census` must enumerate the points)" in titles
    assert not any(a.patches for a in fig.axes)
    assert "maximum (global)" in _scatters(fig.axes[0])


def test_elbo_map_with_clusters_draws_every_cluster_point():
    emap = elbo_stability_map(
        np.diag([5.0, 3.0, 2.0, 1.0]), 0.5, latent_dim=3, include_clusters=True
    )
    fig = emap.plot()
    ax = fig.axes[0]
    clusters = [c for c in ax.collections if c.get_label().startswith("equal-norm cluster")]
    assert len(clusters) == 1
    drawn = clusters[0].get_offsets()
    assert len(drawn) == emap.n_cluster_points
    assert sorted(map(tuple, np.asarray(drawn).tolist())) == sorted(
        (float(c.morse_index), c.elbo) for c in emap.cluster_points
    )
    assert f"{emap.n_points} orthogonal + {emap.n_cluster_points} cluster points" in ax.get_title(
        loc="left"
    )
    # Without the flag, only the orthogonal points, as before.
    plain = elbo_stability_map(np.diag([5.0, 3.0, 2.0, 1.0]), 0.5, latent_dim=3).plot()
    assert not any(c.get_label().startswith("equal-norm") for c in plain.axes[0].collections)
