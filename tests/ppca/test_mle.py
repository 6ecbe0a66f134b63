"""ppca_mle: the maximum-likelihood solution (sigma2 fixed or learned) against its closed form, the
stability map's global maximum, local perturbations and scikit-learn's PCA."""

import warnings

import numpy as np
import pytest
from _support import NUMERIC_RTOL, cov_from_eigenvalues

from ppca_stability import DegeneracyWarning, log_likelihood, ppca_mle, spectrum, stability_map


def test_learned_sigma2_is_mean_of_discarded_eigenvalues_and_beats_neighbours(rng):
    lam = np.array([6.0, 4.0, 2.5, 1.0, 0.4, 0.1])
    S = cov_from_eigenvalues(lam, rng)
    fit = ppca_mle(S, 2)
    assert fit.sigma2 == pytest.approx(lam[2:].mean(), rel=NUMERIC_RTOL)
    assert fit.log_likelihood == pytest.approx(
        log_likelihood(fit.loadings, S, fit.sigma2), rel=NUMERIC_RTOL
    )
    # a local check of optimality: random perturbations never improve the likelihood
    for _ in range(20):
        dW = 1e-3 * rng.normal(size=fit.loadings.shape)
        ds = 1e-3 * rng.normal()
        assert log_likelihood(fit.loadings + dW, S, fit.sigma2 + ds) < fit.log_likelihood
    assert "learned" in repr(fit) and fit.n_active == 2 and fit.sigma2_learned


def test_fixed_sigma2_collapses_columns_below_it():
    lam = np.array([6.0, 4.0, 2.5, 1.0])
    fit = ppca_mle(np.diag(lam), 3, sigma2=3.0)
    assert fit.n_active == 2 and fit.n_collapsed == 1
    assert np.allclose(fit.loadings.T @ fit.loadings, np.diag([3.0, 1.0, 0.0]))
    assert fit.log_likelihood == pytest.approx(
        stability_map(np.diag(lam), 3.0, latent_dim=3).global_maximum.log_likelihood
    )


def test_flat_tail_keeps_fewer_columns():
    """If lam_q equals the mean of the tail, that column cannot live (theory.md §5)."""
    fit = ppca_mle(np.diag([5.0, 1.0, 1.0, 1.0]), 2)
    assert fit.sigma2 == pytest.approx(1.0) and fit.n_active == 1


def test_digits_subspace_matches_sklearn(digits):
    from sklearn.decomposition import PCA

    X = digits
    S = np.cov(X.T, bias=True)
    fit = ppca_mle(S, 10)
    pca = PCA(10, svd_solver="full").fit(X)
    # compare subspaces, never raw loadings (rotation and sign freedom; theory.md §8)
    P_ours = fit.loadings @ np.linalg.pinv(fit.loadings)
    P_sk = pca.components_.T @ pca.components_
    assert np.max(np.abs(P_ours - P_sk)) < 1e-8
    n = X.shape[0]
    assert np.allclose(
        spectrum(S).eigenvalues[:10] * n / (n - 1), pca.explained_variance_, rtol=1e-10
    )


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(cov=np.eye(3), latent_dim=3), ValueError, "`latent_dim` must be below"),
        (dict(cov=np.eye(3), latent_dim=None), TypeError, "`latent_dim`"),
    ],
)
def test_errors_name_the_parameter(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ppca_mle(**kwargs)


def test_fixed_sigma2_at_an_eigenvalue_agrees_with_stability_map(spectrum_cov):
    """An eigenvalue tied with sigma2 (round-off apart, after a rotation) is not kept: a live
    column of round-off size would be a duplicate of the point without it."""
    cov = spectrum_cov  # SPECTRUM, rotated: 3.0 = lam_3 only up to round-off
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        expected = stability_map(cov, 3.0, latent_dim=3).global_maximum
    fit = ppca_mle(cov, 3, sigma2=3.0)
    assert fit.n_active == expected.n_active == 2
    assert np.allclose(fit.loadings, expected.loadings)


# ----------------------------------------------------------------------------- overflow
def test_kl_at_optimum_is_a_difference_of_logs():
    # Regression: lam / sigma2 = 1e310 overflows, its log does not: 1/2 ln(1e310) = 356.9 nats.
    from ppca_stability._ppca.mle import kl_at_optimum

    kl = kl_at_optimum(np.array([1e300]), np.array([1e-10]), np.array([1]))
    assert kl[0, 0] == pytest.approx(0.5 * 310 * np.log(10.0), rel=1e-12)


def test_unrepresentable_log_likelihood_raises_instead_of_minus_inf():
    # Regression: ppca_mle(diag([1e200, 1e200]), 1, sigma2=1e-200).log_likelihood was -inf; the
    # true value, about -1e400 / 2 (the discarded lam / sigma2 term), is beyond float64, and
    # log_likelihood raises for it: so do ppca_mle and the closed-form maps.
    S = np.diag([1e200, 1e200])
    with pytest.raises(ValueError, match="not representable in float64.*Rescale"):
        ppca_mle(S, 1, sigma2=1e-200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        smap = stability_map(S, 1e-200, latent_dim=1)
    with pytest.raises(ValueError, match="not representable in float64"):
        smap.global_maximum
