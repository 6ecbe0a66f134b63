"""beta and sigma^2 conversions (theory.md §7), checked against the ELBO itself."""

import numpy as np
import pytest
import scipy.optimize
from _support import cov_from_eigenvalues

from ppca_stability import beta_from_sigma2, ppca_mle, predict_collapse, sigma2_from_beta

# L-BFGS on a smooth 4-dimensional problem: agreement of W W^T with the analytic optimum.
OPT_RTOL = 1e-5


def _beta_vae_loss(x, S, q, beta, reconstruction):
    """Oracle: the data-averaged beta-VAE loss of a linear VAE, written from its definition:
    Rec (in the given convention) of E_q ||x - W z||^2 plus beta KL(N(Vx, D) || N(0, I))."""
    d = S.shape[0]
    V = x[: q * d].reshape(q, d)
    logD = x[q * d : q * d + q]
    W = x[q * d + q :].reshape(d, q)
    D = np.exp(logD)
    sse = np.trace(S) - 2 * np.trace(W @ V @ S) + np.trace(W @ (V @ S @ V.T + np.diag(D)) @ W.T)
    kl = 0.5 * (np.sum(D) + np.trace(V @ S @ V.T) - q - np.sum(logD))
    rec = {"sse": sse, "half_sse": 0.5 * sse, "mse": sse / d}[reconstruction]
    return rec + beta * kl


@pytest.mark.parametrize("reconstruction,beta", [("sse", 1.6), ("half_sse", 0.8), ("mse", 0.4)])
def test_minimising_beta_loss_gives_the_ppca_optimum_at_converted_sigma2(reconstruction, beta, rng):
    lam = np.array([4.0, 2.0, 0.5, 0.1])
    S = cov_from_eigenvalues(lam, rng)
    d, q = 4, 3
    s = sigma2_from_beta(beta, reconstruction=reconstruction, n_features=d)
    assert s == pytest.approx(0.8)  # all three chosen so that latent 3 collapses, 1 and 2 live
    x0 = 0.1 * rng.normal(size=q * d + q + d * q)
    res = scipy.optimize.minimize(
        _beta_vae_loss,
        x0,
        args=(S, q, beta, reconstruction),
        method="L-BFGS-B",
        options=dict(maxiter=20000, maxfun=200000, ftol=1e-15, gtol=1e-12),
    )
    W = res.x[q * d + q :].reshape(d, q)
    target = ppca_mle(S, q, sigma2=s).loadings
    assert np.allclose(W @ W.T, target @ target.T, rtol=0, atol=OPT_RTOL * lam[0])
    pred = predict_collapse(S, latent_dim=q, beta=beta, reconstruction=reconstruction)
    assert pred.collapsed.tolist() == [False, False, True]
    assert np.allclose(
        np.sort(np.linalg.norm(W, axis=0))[::-1] ** 2, np.maximum(lam[:q] - s, 0), atol=1e-4
    )


def test_conversions_are_inverse_and_match_the_table():
    for rec, factor in (("sse", 0.5), ("half_sse", 1.0), ("mse", 392.0)):
        assert sigma2_from_beta(2.0, reconstruction=rec, n_features=784) == 2.0 * factor
        assert beta_from_sigma2(
            sigma2_from_beta(0.3, reconstruction=rec, n_features=784),
            reconstruction=rec,
            n_features=784,
        ) == pytest.approx(0.3)


def test_kl_per_latent_and_repr():
    pred = predict_collapse(np.diag([4.0, 1.0, 0.25]), latent_dim=3, sigma2=1.0)
    assert pred.collapsed.tolist() == [False, True, True]  # lam = sigma2 collapses (theory.md §2)
    assert pred.kl_per_latent == pytest.approx([0.5 * np.log(4.0), 0.0, 0.0])
    assert "collapsed=2" in repr(pred) and pred.largest_sigma2_without_collapse == 0.25


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: sigma2_from_beta(1.0, reconstruction="mse"), ValueError, "`n_features`"),
        (lambda: sigma2_from_beta(1.0, reconstruction="l1"), ValueError, "`reconstruction`"),
        (lambda: sigma2_from_beta(-1.0, reconstruction="sse"), ValueError, "`beta`"),
        (
            lambda: sigma2_from_beta(1.0, reconstruction="mse", n_features=0),
            ValueError,
            "`n_features`",
        ),
        (lambda: beta_from_sigma2(0.0, reconstruction="sse"), ValueError, "`sigma2`"),
        (lambda: predict_collapse(np.eye(2), latent_dim=1), ValueError, "exactly one"),
        (
            lambda: predict_collapse(np.eye(2), latent_dim=1, beta=1.0, sigma2=1.0),
            ValueError,
            "exactly one",
        ),
        (lambda: predict_collapse(np.eye(2), latent_dim=3, beta=1.0), ValueError, "`latent_dim`"),
    ],
)
def test_errors_name_the_parameter(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize(
    "convert,value,kwargs",
    [
        (sigma2_from_beta, 1e308, {"n_features": 10}),  # beta d / 2 = inf
        (beta_from_sigma2, 1e308, {"reconstruction": "half_sse", "n_features": None}),
        (beta_from_sigma2, 1e-320, {"n_features": 10**6}),  # sigma2 2 / d underflows to 0
    ],
)
def test_conversions_outside_float64_raise(convert, value, kwargs):
    # Regression: `beta` printed sigma2 = inf (or 0) with exit 0.
    kwargs = {"reconstruction": "mse", **kwargs}
    if kwargs["reconstruction"] == "half_sse":
        kwargs["reconstruction"] = "sse"  # sigma2 / 0.5 = 2e308 = inf
    with pytest.raises(ValueError, match="outside the positive float64 range"):
        convert(value, **kwargs)
