"""phase_diagram against the core (stability_map, ppca_mle, log_likelihood) and theory.md §4."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from _mnist import mnist_test_cov
from _support import EXACT_RTOL, NUMERIC_RTOL, SPECTRUM, cov_from_eigenvalues, rel_err

from ppca_stability import (
    DegeneracyWarning,
    Stability,
    log_likelihood,
    phase_diagram,
    phase_grid,
    ppca_mle,
    stability_map,
)
from ppca_stability._ppca import phase as phase_module

# One-sided finite differences of l*(s) across a breakpoint: step relative to the eigenvalue.
FD_REL_STEP = 1e-4
# Tolerances on those differences: O(h) for slopes, O(h) relative for the second-derivative jump.
SLOPE_ATOL = 1e-5
JUMP_RTOL = 1e-2


@pytest.fixture
def cov(spectrum_cov):
    """The covariance with eigenvalues SPECTRUM."""
    return spectrum_cov


def _map(cov, s, q):
    """The core's map; at an eigenvalue it announces the degeneracy, which is expected there."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        return stability_map(cov, s, latent_dim=q)


# ----------------------------------------------------------------------------- the grid
def test_default_grid_frames_every_switch_off_and_the_learned_sigma2(cov):
    q = 3
    pd = phase_diagram(cov, latent_dim=q)
    s = pd.sigma2
    assert np.all(np.diff(s) > 0)
    learned = ppca_mle(cov, q).sigma2  # Tipping & Bishop's sigma2_ML, from the core
    margin = phase_module.GRID_MARGIN
    assert s[0] == pytest.approx(min(SPECTRUM[q - 1], learned) / margin, rel=EXACT_RTOL)
    assert s[-1] == pytest.approx(SPECTRUM[0] * margin, rel=EXACT_RTOL)
    lam = pd.eigenvalues  # SPECTRUM up to the round-off of the rotation
    assert np.all(np.isin(lam[(lam >= s[0]) & (lam <= s[-1])], s))  # exactly, not approximately
    assert s.size >= phase_module.DEFAULT_GRID_POINTS
    # every latent is live at the lower end and collapsed at the upper end
    assert (pd.n_active[0], pd.n_active[-1]) == (q, 0)
    np.testing.assert_array_equal(phase_grid(cov, latent_dim=q), s)


def test_zero_eigenvalues_are_not_breakpoints_nor_frame_the_grid(rng):
    # latent_dim >= rank: no sigma2_ML; the smallest positive eigenvalue of the top q frames it.
    cov = cov_from_eigenvalues([3.0, 1.0, 0.0, 0.0], rng)
    pd = phase_diagram(cov, latent_dim=2)
    assert pd.breakpoints.size == 2 and pd.sigma2_learned is None
    assert pd.sigma2[0] == pytest.approx(1.0 / phase_module.GRID_MARGIN, rel=EXACT_RTOL)
    assert phase_diagram(cov, latent_dim=3).sigma2[0] == pd.sigma2[0]


def test_phase_grid_on_a_given_range_keeps_the_eigenvalues_inside_it(cov):
    grid = phase_grid(cov, latent_dim=2, sigma2_min=1.0, sigma2_max=5.0)
    assert (grid[0], grid[-1]) == (1.0, 5.0)
    lam = phase_diagram(cov, sigma2=grid).eigenvalues
    inside = (lam > 1.0) & (lam < 5.0)
    assert np.all(np.isin(lam[inside], grid)) and not np.isin(lam[~inside], grid).any()
    # one end given: the other is the default's
    assert phase_grid(cov, latent_dim=2, sigma2_max=5.0)[0] == phase_grid(cov, latent_dim=2)[0]


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"sigma2_min": 3.0, "sigma2_max": 2.0}, r"`sigma2_min` \(3\) must be below `sigma2_max`"),
        ({"sigma2_min": 100.0}, r"its default 4 lam_1 = 24\)?; pass both ends"),
        ({"sigma2_min": -1.0}, "`sigma2_min` must be positive"),
        ({"sigma2_max": np.inf}, "`sigma2_max` must be positive and finite"),
    ],
)
def test_phase_grid_errors_name_the_parameter(cov, kw, match):
    with pytest.raises(ValueError, match=match):
        phase_grid(cov, **kw)


@pytest.mark.integration
def test_default_grid_on_mnist_is_framed_on_the_collapse():
    # MNIST-test has one genuine eigenvalue near 2e-12 and lam_1 = 5.31: a grid from lam_min / 10
    # put 12 of its 14 decades below every switch-off. Framed on the collapse, it ends within a
    # factor 10 of min(lam_q, sigma2_ML) and of lam_1, with every switch-off inside.
    S = mnist_test_cov()
    pd = phase_diagram(S, latent_dim=10)
    lam, learned = pd.eigenvalues, pd.sigma2_learned
    assert learned == pytest.approx(ppca_mle(S, 10).sigma2, rel=NUMERIC_RTOL)
    low, high = min(lam[9], learned), lam[0]
    assert low / 10 < pd.sigma2[0] < low and high < pd.sigma2[-1] < 10 * high
    assert set(pd.n_active.tolist()) == set(range(11))


def test_one_eigendecomposition_without_vectors(cov, monkeypatch):
    calls = []
    real = phase_module.checked_eigenvalues

    def counting(S):
        calls.append(S.shape)
        return real(S)

    monkeypatch.setattr(phase_module, "checked_eigenvalues", counting)
    pd = phase_diagram(cov, latent_dim=4)
    pd.census, pd.stability_counts
    assert calls == [cov.shape]


# ----------------------------------------------------------------------------- against the core
@pytest.mark.parametrize("q", [1, 3, 6])
def test_matches_core_at_grid_values(cov, q):
    grid = np.sort(np.concatenate([[0.2, 0.9, 1.5, 2.5, 5.0, 7.0, 70.0], SPECTRUM]))
    pd = phase_diagram(cov, latent_dim=q, sigma2=grid)
    for g, s in enumerate(grid):
        smap = _map(cov, s, q)
        fit = ppca_mle(cov, q, sigma2=float(s))
        assert pd.n_above[g] == smap.n_above
        assert pd.n_points[g] == smap.n_points and type(pd.n_points[g]) is int
        assert dict(pd.census[g]) == smap.census()
        assert dict(pd.stability_counts[g]) == smap.stability_counts()
        assert pd.degenerate[g] == smap.has_degeneracy
        assert pd.n_active[g] == smap.global_maximum.n_active
        if not smap.has_degeneracy:
            # ppca_mle compares eigenvalues with sigma2 exactly: at an eigenvalue (up to round-off)
            # it may keep a column of round-off size that the map's tolerance drops.
            assert pd.n_active[g] == fit.n_active
        assert pd.max_log_likelihood[g] == pytest.approx(fit.log_likelihood, rel=EXACT_RTOL)
        assert pd.max_log_likelihood[g] == pytest.approx(
            log_likelihood(fit.loadings, cov, s), rel=NUMERIC_RTOL
        )


@pytest.mark.parametrize("seed", range(6))
def test_breakpoint_stability_matches_core_enumeration(seed):
    # At sigma2 equal to an eigenvalue the phase diagram counts in closed form; the core
    # enumerates and classifies every point. Spectra with and without zero eigenvalues.
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 7))
    lam = np.sort(rng.uniform(0.5, 10.0, d))[::-1]
    if seed % 2:
        lam[-1] = 0.0
    cov = cov_from_eigenvalues(lam, rng)
    for q in range(1, d + 1):
        pd = phase_diagram(cov, latent_dim=q)
        for g in np.flatnonzero(pd.degenerate):
            smap = _map(cov, pd.sigma2[g], q)
            assert dict(pd.stability_counts[g]) == smap.stability_counts()
            assert dict(pd.census[g]) == smap.census()


def test_tied_eigenvalues_use_the_core_enumeration(rng):
    cov = cov_from_eigenvalues([3.0, 1.0, 1.0, 0.5], rng)
    grid = np.array([0.3, 0.7, 2.0])
    pd = phase_diagram(cov, latent_dim=2, sigma2=grid)
    for g, s in enumerate(grid):
        smap = _map(cov, s, 2)
        assert pd.degenerate[g] == smap.has_degeneracy
        assert dict(pd.census[g]) == smap.census()
        assert dict(pd.stability_counts[g]) == smap.stability_counts()
    assert Stability.DEGENERATE in pd.stability_counts[1]  # the tie above sigma2 = 0.7


def test_sigma2_learned_is_the_joint_mle(cov, rng):
    assert phase_diagram(cov, latent_dim=2).sigma2_learned == pytest.approx(
        ppca_mle(cov, 2).sigma2, rel=EXACT_RTOL
    )
    assert phase_diagram(cov).sigma2_learned is None  # latent_dim = d: sigma2 not identified
    low_rank = cov_from_eigenvalues([3.0, 2.0, 0.0, 0.0], rng)
    assert phase_diagram(low_rank, latent_dim=2).sigma2_learned is None  # rank <= latent_dim
    assert phase_diagram(low_rank, latent_dim=1).sigma2_learned == pytest.approx(
        ppca_mle(low_rank, 1).sigma2
    )


# ----------------------------------------------------------------------------- theory.md §4
def test_kl_per_latent_closed_form_and_linear_vae_encoder(cov):
    q = 4
    pd = phase_diagram(cov, latent_dim=q)
    expected = 0.5 * np.log(np.maximum(1.0, SPECTRUM[None, :q] / pd.sigma2[:, None]))
    assert rel_err(pd.kl_per_latent, expected) < EXACT_RTOL
    assert np.all(pd.kl_per_latent[pd.sigma2 >= SPECTRUM[0]] == 0.0)
    # Independent oracle (theory.md §6): the optimal encoder V = M^-1 W^T, D = s / diag(M) of the
    # pPCA maximum, and KL_c = 1/2 [D_c + (V S V^T)_cc - 1 - log D_c], averaged over the data.
    for s in (0.3, 2.0, 5.0):
        W = ppca_mle(cov, q, sigma2=s).loadings
        M = W.T @ W + s * np.eye(q)
        V = np.linalg.solve(M, W.T)
        D = s / np.diag(M)
        kl = 0.5 * (D + np.diag(V @ cov @ V.T) - 1.0 - np.log(D))
        row = phase_diagram(cov, latent_dim=q, sigma2=[s]).kl_per_latent[0]
        np.testing.assert_allclose(
            np.sort(row)[::-1], np.sort(kl)[::-1], rtol=NUMERIC_RTOL, atol=1e-12
        )


def test_n_active_staircase(cov):
    pd = phase_diagram(cov, latent_dim=3)
    np.testing.assert_array_equal(
        pd.n_active, np.minimum(3, (pd.eigenvalues[None, :] > pd.sigma2[:, None]).sum(1))
    )
    np.testing.assert_array_equal(pd.n_collapsed, 3 - pd.n_active)


@pytest.mark.parametrize("c", [0, 1, 2])
def test_max_log_likelihood_is_c1_with_a_second_derivative_jump(cov, c):
    lam = SPECTRUM[c]
    h = FD_REL_STEP * lam
    grid = lam + h * np.arange(-2, 3)
    ell = phase_diagram(cov, latent_dim=3, sigma2=grid).max_log_likelihood
    left, right = (ell[2] - ell[1]) / h, (ell[3] - ell[2]) / h
    assert abs(right - left) < SLOPE_ATOL  # C^1: one-sided slopes agree to O(h)
    second_left = (ell[2] - 2 * ell[1] + ell[0]) / h**2
    second_right = (ell[4] - 2 * ell[3] + ell[2]) / h**2
    # l*'' jumps by -1 / (2 lam_c^2) where latent c collapses (differentiate §4's formula).
    assert second_right - second_left == pytest.approx(-0.5 / lam**2, rel=JUMP_RTOL)


def test_no_kink_at_eigenvalues_beyond_latent_dim(cov):
    lam = SPECTRUM[4]  # latent_dim 2: k* = 2 on both sides of lam_5
    h = FD_REL_STEP * lam
    ell = phase_diagram(cov, latent_dim=2, sigma2=lam + h * np.arange(-2, 3)).max_log_likelihood
    second = np.diff(ell, 2) / h**2
    assert second[0] == pytest.approx(second[2], rel=JUMP_RTOL)


# ----------------------------------------------------------------------------- exact counts
def test_census_is_exact_and_sums_to_n_points_on_digits(digits_cov):
    pd = phase_diagram(digits_cov, latent_dim=64)
    assert pd.n_points[0] == 2 ** pd.n_above[0] > np.iinfo(np.int64).max // 2**3
    for census, counts, n in zip(pd.census, pd.stability_counts, pd.n_points):
        assert sum(census.values()) == n
        assert sum(counts.values()) == n
        assert all(type(v) is int for v in census.values())


def test_census_is_lazy(cov, monkeypatch):
    def refuse(*args):
        raise AssertionError("census computed eagerly")

    monkeypatch.setattr(phase_module, "census_dict", refuse)
    pd = phase_diagram(cov, latent_dim=3)
    pd.n_points, pd.kl_per_latent, repr(pd)
    with pytest.raises(AssertionError, match="eagerly"):
        pd.census


def test_stability_counts_need_no_census(monkeypatch):
    # Regression: at d = 200 the counts computed the census per distinct m (38 s, 4.2 GB); d = 300
    # ran out of memory. The counts are closed forms; the census, asked for, is refused by size.
    def refuse(*args):
        raise AssertionError("census computed for the stability counts")

    monkeypatch.setattr(phase_module, "census_dict", refuse)
    lam = np.geomspace(100.0, 1.0, 300)
    pd = phase_diagram(np.diag(lam))
    counts = pd.stability_counts
    assert [sum(c.values()) for c in counts] == list(pd.n_points)
    assert pd.degenerate.sum() == lam.size
    with pytest.raises(ValueError, match="polynomial coefficients.*Reduce latent_dim"):
        pd.census


def test_results_are_read_only(cov):
    pd = phase_diagram(cov, latent_dim=2)
    with pytest.raises(TypeError):
        pd.census[0][0] = 5
    with pytest.raises(AttributeError):
        pd.sigma2 = None


def test_no_degeneracy_warning_at_breakpoints(cov):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pd = phase_diagram(cov, latent_dim=3)
        pd.census, pd.stability_counts
    assert pd.degenerate.sum() == SPECTRUM.size


def _repr_rows(text: str) -> list[tuple[str, int, int, str]]:
    """(sigma2 as printed, n_above, n_active, notes) of the rows of a repr's table."""
    rows = []
    for line in text.split("n_points\n", 1)[1].splitlines():
        cells = line.split(None, 5)
        rows.append((cells[0], int(cells[1]), int(cells[2]), cells[5] if len(cells) > 5 else ""))
    return rows


def test_repr_is_a_table(cov):
    text = repr(phase_diagram(cov, latent_dim=2))
    assert text.startswith("PhaseDiagram(n_features=6, latent_dim=2")
    assert "sigma2_learned" in text and "n_points" in text


@pytest.mark.parametrize("source", ["digits", pytest.param("mnist", marks=pytest.mark.integration)])
def test_repr_shows_every_change_of_the_answer(source, digits_cov):
    # Regression (MNIST, latent_dim 10): the repr jumped from sigma2 = 0.032 (all 10 live) to
    # 53.1 (none), skipping the collapse. A row for every number of live latents, 0 to q, each
    # the API's answer at its sigma2, and the interval of the learned sigma2 marked once.
    S = digits_cov if source == "digits" else mnist_test_cov()
    pd = phase_diagram(S, latent_dim=10)
    rows = _repr_rows(repr(pd))
    assert {n_active for _, _, n_active, _ in rows} == set(range(11))
    for printed, n_above, n_active, _ in rows:
        g = int(np.argmin(np.abs(np.log(pd.sigma2 / float(printed)))))
        assert (pd.n_above[g], pd.n_active[g]) == (n_above, n_active)
    marked = [r for r in rows if "<- sigma2_learned" in r[3]]
    assert len(marked) == 1
    assert marked[0][1] == int(np.sum(pd.eigenvalues > pd.sigma2_learned))


@pytest.mark.parametrize("source", ["near", pytest.param("mnist", marks=pytest.mark.integration)])
def test_repr_tells_each_sigma2_from_the_nearest_eigenvalue(source):
    # Regression: a table sigma2 of 2.6589 could not be told from lam_5 = 2.6589 (MNIST). A
    # printed sigma2 is either marked as the eigenvalue it is, or lies, read back, on the same
    # side of every eigenvalue as the grid value it stands for.
    if source == "near":
        lam = np.array([5.0, 2.6589269, 1.0])
        grid = [0.5, 2.6589 * (1 - 1e-6), 2.6589269, 2.65895, 4.0]
        pd = phase_diagram(np.diag(lam), latent_dim=2, sigma2=grid)
    else:
        pd = phase_diagram(mnist_test_cov(), latent_dim=10)
    lam = pd.eigenvalues
    rows = _repr_rows(repr(pd))
    for printed, n_above, _, notes in rows:
        if notes.startswith("= lam_"):
            c = int(notes.split()[1][4:])
            assert float(printed) == pytest.approx(lam[c - 1], rel=1e-4)
            assert n_above == int(np.sum(lam > lam[c - 1]))
        else:
            assert int(np.sum(lam > float(printed))) == n_above, printed
    if source == "near":  # the whole short grid is shown
        assert len(rows) == len(grid)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "sigma2, exc, match",
    [
        ([1.0, 0.5], ValueError, "strictly increasing"),
        ([1.0, 1.0], ValueError, "strictly increasing"),
        ([-1.0, 1.0], ValueError, "positive"),
        ([], ValueError, "non-empty"),
        ([[1.0, 2.0]], ValueError, "1-D"),
        ([1.0, np.nan], ValueError, "finite"),
        ("1.0", TypeError, "sigma2"),
    ],
)
def test_bad_sigma2(cov, sigma2, exc, match):
    with pytest.raises(exc, match=match):
        phase_diagram(cov, sigma2=sigma2)


def test_bad_latent_dim_and_cov(cov):
    with pytest.raises(ValueError, match="latent_dim"):
        phase_diagram(cov, latent_dim=7)
    with pytest.raises(TypeError, match="latent_dim"):
        phase_diagram(cov, latent_dim=1.5)
    with pytest.raises(ValueError, match="cov"):
        phase_diagram(np.ones((2, 3)))
    with pytest.raises(ValueError, match="pass `sigma2`"):
        phase_diagram(np.zeros((3, 3)))
    assert phase_diagram(np.zeros((3, 3)), sigma2=[1.0]).n_points == (1,)


def test_scalar_sigma2_is_a_grid_of_one(cov):
    pd = phase_diagram(cov, latent_dim=2, sigma2=2.0)
    assert pd.sigma2.shape == (1,) and pd.kl_per_latent.shape == (1, 2)
    assert math.isfinite(pd.max_log_likelihood[0])


def _rank_deficient_with_constant_features() -> np.ndarray:
    """30 samples of 80 features, 10 of them constant: about 50 eigenvalues at round-off level
    whose check needs their eigenvectors (more than d / 10 of them)."""
    X = np.random.default_rng(11).standard_normal((30, 80))
    X[:, 70:] = 3.0
    from ppca_stability import covariance

    return covariance(X)


@pytest.mark.parametrize("which", ["digits", "constant features", "scaled features"])
def test_phase_diagram_decomposes_the_covariance_once(which, digits_cov, monkeypatch):
    """The eigenvalues and the round-off check of those near 0, which needs their eigenvectors,
    come from one tridiagonal reduction: no eigh/eigvalsh (numpy or SciPy) runs, and the diagram
    is the one built from the spectrum of the former route (eigvalsh, then a second
    decomposition for the check: syevr on the subset, or a full eigh for many)."""
    import scipy.linalg

    from ppca_stability._spectra.spectrum import eigh_descending

    S = {
        "digits": digits_cov,
        "constant features": _rank_deficient_with_constant_features(),
        "scaled features": cov_from_eigenvalues(
            np.array([1e16, 4.0, 3.0, 2.0, 1.0]), np.random.default_rng(12)
        ),
    }[which]
    with warnings.catch_warnings(record=True) as before:
        warnings.simplefilter("always")
        reference = phase_diagram(eigh_descending(S, vectors=False), latent_dim=3)
    calls: list[str] = []

    def counted(name, f):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return f(*args, **kwargs)

        return wrapper

    for owner, name in [
        (np.linalg, "eigh"),
        (np.linalg, "eigvalsh"),
        (scipy.linalg, "eigh"),
        (scipy.linalg, "eigvalsh"),
        (scipy.linalg.lapack, "dsytrd"),
        (scipy.linalg, "eigh_tridiagonal"),
    ]:
        monkeypatch.setattr(owner, name, counted(name, getattr(owner, name)))
    with warnings.catch_warnings(record=True) as after:
        warnings.simplefilter("always")
        pd = phase_diagram(S, latent_dim=3)
    # The check needed eigenvectors (of the tridiagonal matrix, mapped back): the case at issue.
    assert calls == ["dsytrd", "eigh_tridiagonal"]
    assert [w.category for w in after] == [w.category for w in before]
    scale = float(reference.eigenvalues[0])
    np.testing.assert_allclose(pd.eigenvalues, reference.eigenvalues, rtol=0, atol=1e-12 * scale)
    np.testing.assert_array_equal(pd.eigenvalues == 0, reference.eigenvalues == 0)
    np.testing.assert_allclose(pd.sigma2, reference.sigma2, rtol=1e-12)
    np.testing.assert_array_equal(pd.n_above, reference.n_above)
    assert pd.n_points == reference.n_points
    np.testing.assert_allclose(pd.max_log_likelihood, reference.max_log_likelihood, rtol=1e-12)
    if reference.sigma2_learned is None:
        assert pd.sigma2_learned is None
    else:
        assert pd.sigma2_learned == pytest.approx(reference.sigma2_learned, rel=1e-12)
    assert [dict(c) for c in pd.stability_counts] == [dict(c) for c in reference.stability_counts]


@pytest.mark.parametrize(
    "S",
    [np.array([[1.0]]), np.array([[0.0]]), np.diag([2.0, 0.0]), np.diag([3.0, 1.0, 1.0])],
    ids=["1x1", "1x1 zero", "2x2 singular", "3x3 tied"],
)
def test_phase_diagram_eigenvalues_of_tiny_covariances(S):
    """The one-reduction route on the smallest inputs (LAPACK's wrappers refuse an empty
    off-diagonal at d = 1): the eigenvalues of the former route."""
    from ppca_stability._spectra.spectrum import eigh_descending
    from ppca_stability._spectra.tridiagonal import checked_eigenvalues

    np.testing.assert_array_equal(
        checked_eigenvalues(S), eigh_descending(S, vectors=False).eigenvalues
    )
