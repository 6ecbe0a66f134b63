"""compare_with_ppca: a trained linear VAE against the analytic pPCA optimum (theory.md §6)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _support import cov_from_eigenvalues

from ppca_stability import (
    ConvergenceWarning,
    Stability,
    compare_with_ppca,
    fit_linear_vae,
    ppca_mle,
    spectrum,
)
from ppca_stability._agreement import ANALYTIC_RTOL, STOCHASTIC_RTOL

# Distinct eigenvalues with a clear gap, so every check is well conditioned.
LAM = np.array([9.0, 6.0, 4.0, 2.5, 1.5, 1.0, 0.6])


@pytest.fixture(scope="module")
def cov():
    return cov_from_eigenvalues(LAM, np.random.default_rng(11))


@pytest.mark.parametrize("sigma2, n_collapsed", [("learned", 0), (0.5, 0), (5.0, 1), (7.0, 2)])
def test_converged_fit_passes(cov, sigma2, n_collapsed):
    fit = fit_linear_vae(cov=cov, latent_dim=3, sigma2=sigma2, rng=1)
    a = compare_with_ppca(fit, cov)
    assert a.passed and a.rtol == ANALYTIC_RTOL
    assert len(a.collapsed) == a.n_collapsed_predicted == n_collapsed
    assert a.classification.stability is Stability.MAXIMUM
    assert (a.sigma2_error is None) == (sigma2 != "learned")
    # Matched columns are the live ones, each aligned with its principal direction up to sign.
    U = spectrum(cov).eigenvectors
    for i, c in enumerate(a.matched_columns):
        w = fit.loadings[:, c]
        assert abs(U[:, i] @ w) / np.linalg.norm(w) == pytest.approx(1.0, abs=ANALYTIC_RTOL)
    assert "PASSED" in repr(a) and "W W^T relative error" in repr(a)


def test_unconverged_fit_fails_with_readable_reasons(cov):
    with pytest.warns(Warning):
        fit = fit_linear_vae(cov=cov, latent_dim=3, sigma2=0.5, max_steps=3, rng=1)
    a = compare_with_ppca(fit, cov)
    assert not a.passed
    assert "FAILED" in repr(a) and "FAIL" in repr(a).splitlines()[2]
    assert a.classification.stability is Stability.NOT_STATIONARY


def test_rotated_decoder_has_zero_wwt_error_but_poor_alignment(cov):
    # W W^T is rotation invariant; the alignment check is not (the ELBO optimum has orthogonal
    # columns).
    fit = fit_linear_vae(cov=cov, latent_dim=2, sigma2=0.5, rng=1)
    c, s = np.cos(0.3), np.sin(0.3)
    rotated = fit.loadings @ np.array([[c, -s], [s, c]])
    fake = type(fit)(**{**{f: getattr(fit, f) for f in fit.__slots__}, "loadings": rotated})
    a = compare_with_ppca(fake, cov)
    assert a.wwt_error < ANALYTIC_RTOL and not a.passed
    assert not a.checks["1 - min |cos| (alignment)"][1]


def test_default_tolerance_follows_the_objective(cov):
    rng = np.random.default_rng(0)
    X = rng.multivariate_normal(np.zeros(LAM.size), cov, size=400)
    with warnings.catch_warnings():  # a short stochastic run may stop before converging
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_linear_vae(X, latent_dim=2, objective="stochastic", max_steps=50, rng=0)
    assert compare_with_ppca(fit, np.cov(X.T, ddof=0)).rtol == STOCHASTIC_RTOL
    assert compare_with_ppca(fit, np.cov(X.T, ddof=0), rtol=0.5).rtol == 0.5


def test_bad_input(cov):
    fit = fit_linear_vae(cov=cov, latent_dim=2, sigma2=0.5, rng=1)
    with pytest.raises(TypeError, match="fit"):
        compare_with_ppca(ppca_mle(cov, 2), cov)
    with pytest.raises(ValueError, match="cov"):
        compare_with_ppca(fit, np.eye(3))
    with pytest.raises(ValueError, match="rtol"):
        compare_with_ppca(fit, cov, rtol=-1.0)
