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
from ppca_stability._vae.agreement import ANALYTIC_RTOL, STOCHASTIC_RTOL

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
    assert len(a.switched_off) == a.n_collapsed_predicted == n_collapsed
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


# ----------------------------------------------------------------------------- plain arrays


def test_arrays_give_the_same_verdict_as_the_fit(cov):
    fit = fit_linear_vae(cov=cov, latent_dim=3, sigma2="learned", rng=1)
    a = compare_with_ppca(fit, cov)
    b = compare_with_ppca(
        fit.loadings,
        cov,
        sigma2=fit.sigma2,
        sigma2_learned=True,
        encoder_weights=fit.encoder_weights,
        encoder_variances=fit.encoder_variances,
        rtol=ANALYTIC_RTOL,
    )
    c = compare_with_ppca(fit.params, cov, sigma2=fit.sigma2, sigma2_learned=True)
    for other in (b, c):
        assert other.passed
        assert other.wwt_error == a.wwt_error and other.sigma2_error == a.sigma2_error
        assert other.elbo_gap == pytest.approx(a.elbo_gap, abs=1e-15)
        assert other.switched_off == a.switched_off and other.matched_columns == a.matched_columns
    # A VAE trained elsewhere is judged with the stochastic tolerance unless told otherwise.
    assert c.rtol == STOCHASTIC_RTOL


def test_decoder_alone_is_judged_with_its_optimal_encoder(cov):
    # The analytic optimum itself (ppca_mle, sigma2 between lam_3 and lam_2): agreement to
    # round-off, with the two predicted collapsed latents found from the optimal encoder's KL.
    ref = ppca_mle(cov, 4, sigma2=5.0)
    a = compare_with_ppca(ref.loadings, cov, sigma2=5.0, rtol=ANALYTIC_RTOL)
    assert a.passed and len(a.switched_off) == a.n_collapsed_predicted == 2
    assert a.classification.stability is Stability.MAXIMUM


def test_a_poor_encoder_fails_the_kl_and_elbo_checks(cov):
    ref = ppca_mle(cov, 2, sigma2=0.5)
    V = np.linalg.pinv(ref.loadings)  # the posterior-mean map is not V*; D is far from D*
    a = compare_with_ppca(
        ref.loadings, cov, sigma2=0.5, encoder_weights=V, encoder_variances=[1.0, 1.0]
    )
    assert a.wwt_error < ANALYTIC_RTOL and not a.passed
    assert not a.checks["ELBO gap (relative)"][1]


# ------------------------------------------------------------------------ bounded classification


def test_classification_can_be_skipped_and_is_bounded_by_default(cov, monkeypatch):
    import ppca_stability._vae.agreement as agreement_module

    fit = fit_linear_vae(cov=cov, latent_dim=3, sigma2=0.5, rng=1)
    skipped = compare_with_ppca(fit, cov, classify=False)
    assert skipped.classification is None and skipped.passed
    assert "skipped" in repr(skipped) and "classify=False" in repr(skipped)
    monkeypatch.setattr(agreement_module, "CLASSIFY_BUDGET", 0.0)
    over_budget = compare_with_ppca(fit, cov)
    assert over_budget.classification is None and "budget" in over_budget.classification_note
    forced = compare_with_ppca(fit, cov, classify=True)
    assert forced.classification.stability is Stability.MAXIMUM
    assert forced.classification.method == "structured"
    # The verdict does not depend on the classification.
    assert over_budget.checks == forced.checks == skipped.checks


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(classify="yes"), ValueError, "classify"),
        (dict(sigma2=0.5), ValueError, "sigma2"),
        (dict(encoder_weights=np.zeros((2, 7))), ValueError, "encoder_weights"),
    ],
)
def test_bad_options_with_a_fit(cov, kwargs, exc, match):
    fit = fit_linear_vae(cov=cov, latent_dim=2, sigma2=0.5, rng=1)
    with pytest.raises(exc, match=match):
        compare_with_ppca(fit, cov, **kwargs)


def test_bad_arrays(cov):
    W = ppca_mle(cov, 2, sigma2=0.5).loadings
    V = np.zeros((2, 7))
    with pytest.raises(ValueError, match="`sigma2` is required"):
        compare_with_ppca(W, cov)
    with pytest.raises(ValueError, match="`fit`.*transpose"):
        compare_with_ppca(W.T, cov, sigma2=0.5)
    with pytest.raises(ValueError, match="both"):
        compare_with_ppca(W, cov, sigma2=0.5, encoder_weights=V)
    with pytest.raises(ValueError, match="`encoder_weights`.*transpose"):
        compare_with_ppca(W, cov, sigma2=0.5, encoder_weights=V.T, encoder_variances=[1, 1])
    with pytest.raises(ValueError, match="`encoder_variances`.*log-variances"):
        compare_with_ppca(W, cov, sigma2=0.5, encoder_weights=V, encoder_variances=[-1.0, 0.0])
    with pytest.raises(TypeError, match="sigma2_learned"):
        compare_with_ppca(W, cov, sigma2=0.5, sigma2_learned="yes")
    with pytest.raises(TypeError, match="`fit`"):
        compare_with_ppca("W", cov, sigma2=0.5)


def test_a_fit_carries_its_covariance(cov):
    rng = np.random.default_rng(2)
    X = rng.multivariate_normal(np.zeros(LAM.size), cov, size=300)
    fit = fit_linear_vae(X, latent_dim=2, sigma2=0.5, rng=1)
    assert np.allclose(fit.cov, np.cov(X.T, ddof=0), rtol=1e-12, atol=0)
    assert compare_with_ppca(fit).checks == compare_with_ppca(fit, fit.cov).checks
    with pytest.raises(ValueError, match="`cov` is required"):
        compare_with_ppca(fit.loadings, sigma2=0.5)


def test_agreement_runs_blas_on_one_thread(cov, monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    import ppca_stability._vae.agreement as agreement_module

    fit = fit_linear_vae(cov=cov, latent_dim=2, sigma2=0.5, rng=1)
    threads = []
    real = agreement_module.classify_kernel

    def spy(*args):
        threads.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return real(*args)

    monkeypatch.setattr(agreement_module, "classify_kernel", spy)
    # The caller allows two threads (a pytest-xdist worker runs with one: tests/conftest.py).
    with threadpool_limits(limits=2, user_api="blas"):
        compare_with_ppca(fit, classify=True)
    assert threads and set(threads) == {1}
