"""phase_diagram against the core (stability_map, ppca_mle, log_likelihood) and theory.md §4."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from _support import EXACT_RTOL, NUMERIC_RTOL, SPECTRUM, cov_from_eigenvalues, rel_err

from ppca_stability import (
    DegeneracyWarning,
    Stability,
    log_likelihood,
    phase_diagram,
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
def test_default_grid_covers_range_and_contains_every_eigenvalue(cov):
    pd = phase_diagram(cov, latent_dim=3)
    s = pd.sigma2
    assert np.all(np.diff(s) > 0)
    assert s[0] == pytest.approx(SPECTRUM.min() / 10, rel=EXACT_RTOL)
    assert s[-1] == pytest.approx(SPECTRUM.max() * 10, rel=EXACT_RTOL)
    assert np.all(np.isin(pd.eigenvalues, s))  # exactly, not approximately
    np.testing.assert_array_equal(pd.breakpoints, np.sort(pd.eigenvalues))
    assert s.size >= phase_module.DEFAULT_GRID_POINTS


def test_zero_eigenvalues_are_not_breakpoints(rng):
    cov = cov_from_eigenvalues([3.0, 1.0, 0.0, 0.0], rng)
    pd = phase_diagram(cov, latent_dim=2)
    assert pd.breakpoints.size == 2
    assert pd.sigma2[0] == pytest.approx(pd.breakpoints[0] / 10, rel=EXACT_RTOL)


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


def test_repr_is_a_table(cov):
    text = repr(phase_diagram(cov, latent_dim=2))
    assert text.startswith("PhaseDiagram(n_features=6, latent_dim=2")
    assert "sigma2_learned" in text and "n_points" in text and len(text.splitlines()) <= 12


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
