"""beta and sigma^2 conversions (theory.md §7), checked against the ELBO itself."""

import numpy as np
import pytest
import scipy.optimize
from _support import cov_from_eigenvalues

from ppca_stability import beta_from_sigma2, ppca_mle, predict_collapse, sigma2_from_beta

# L-BFGS on a smooth 4-dimensional problem: agreement of W W^T with the analytic optimum.
OPT_RTOL = 1e-5


def _beta_vae_loss(x, S, q, beta, reconstruction, kl_reduction="sum"):
    """Oracle: the data-averaged beta-VAE loss of a linear VAE, written from its definition:
    Rec (in the given convention) of E_q ||x - W z||^2 plus beta KL(N(Vx, D) || N(0, I)), the KL
    summed over the latents or averaged over them."""
    d = S.shape[0]
    V = x[: q * d].reshape(q, d)
    logD = x[q * d : q * d + q]
    W = x[q * d + q :].reshape(d, q)
    D = np.exp(logD)
    sse = np.trace(S) - 2 * np.trace(W @ V @ S) + np.trace(W @ (V @ S @ V.T + np.diag(D)) @ W.T)
    # KL per latent c: 1/2 (D_c + (V S V^T)_cc - 1 - log D_c), averaged over the data.
    kl_c = 0.5 * (D + np.diag(V @ S @ V.T) - 1.0 - logD)
    kl = np.sum(kl_c) if kl_reduction == "sum" else np.mean(kl_c)
    rec = {"sse": sse, "half_sse": 0.5 * sse, "mse": sse / d}[reconstruction]
    return rec + beta * kl


@pytest.mark.parametrize(
    "reconstruction,beta,kl_reduction",
    [
        ("sse", 1.6, "sum"),
        ("half_sse", 0.8, "sum"),
        ("mse", 0.4, "sum"),
        ("sse", 4.8, "mean"),  # the mean over q = 3 latents weighs the KL beta / 3
        ("mse", 1.2, "mean"),
    ],
)
def test_minimising_beta_loss_gives_the_ppca_optimum_at_converted_sigma2(
    reconstruction, beta, kl_reduction, rng
):
    lam = np.array([4.0, 2.0, 0.5, 0.1])
    S = cov_from_eigenvalues(lam, rng)
    d, q = 4, 3
    s = sigma2_from_beta(
        beta, reconstruction=reconstruction, n_features=d, kl_reduction=kl_reduction, latent_dim=q
    )
    assert s == pytest.approx(0.8)  # all chosen so that latent 3 collapses, 1 and 2 live
    x0 = 0.1 * rng.normal(size=q * d + q + d * q)
    res = scipy.optimize.minimize(
        _beta_vae_loss,
        x0,
        args=(S, q, beta, reconstruction, kl_reduction),
        method="L-BFGS-B",
        options=dict(maxiter=20000, maxfun=200000, ftol=1e-15, gtol=1e-12),
    )
    W = res.x[q * d + q :].reshape(d, q)
    target = ppca_mle(S, q, sigma2=s).loadings
    assert np.allclose(W @ W.T, target @ target.T, rtol=0, atol=OPT_RTOL * lam[0])
    pred = predict_collapse(
        S, latent_dim=q, beta=beta, reconstruction=reconstruction, kl_reduction=kl_reduction
    )
    assert pred.collapsed.tolist() == [False, False, True] and pred.sigma2 == s
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


def test_kl_mean_over_latents_divides_sigma2_by_latent_dim_and_inverts():
    for rec in ("sse", "half_sse", "mse"):
        summed = sigma2_from_beta(2.0, reconstruction=rec, n_features=784)
        mean = sigma2_from_beta(
            2.0, reconstruction=rec, n_features=784, kl_reduction="mean", latent_dim=16
        )
        assert mean == pytest.approx(summed / 16, rel=1e-15)
        back = beta_from_sigma2(
            mean, reconstruction=rec, n_features=784, kl_reduction="mean", latent_dim=16
        )
        assert back == pytest.approx(2.0, rel=1e-15)
    pred = predict_collapse(np.diag([4.0, 1.0]), latent_dim=2, beta=4.0, kl_reduction="mean")
    assert "KL mean over latents" in repr(pred) and pred.kl_reduction == "mean"


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
        (
            lambda: sigma2_from_beta(1.0, reconstruction="sse", kl_reduction="mean"),
            ValueError,
            "`latent_dim` is required",
        ),
        (
            lambda: sigma2_from_beta(1.0, reconstruction="sse", kl_reduction="max"),
            ValueError,
            "`kl_reduction`",
        ),
        (
            lambda: predict_collapse(np.eye(2), latent_dim=1, sigma2=1.0, kl_reduction="max"),
            ValueError,
            "`kl_reduction`",
        ),
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
