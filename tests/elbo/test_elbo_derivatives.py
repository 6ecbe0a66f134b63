"""ELBO gradient, dense Hessian and Hessian-vector product in all parameters (_elbo_derivatives).

Oracle: `sample_elbo`, an ELBO written from its definition on samples (no trace identities),
differentiated by finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest

from ppca_stability import (
    LinearVAEFullParams,
    LinearVAEParams,
    linear_vae_elbo,
    linear_vae_elbo_flat_gradient,
    linear_vae_elbo_gradient,
    linear_vae_elbo_hessian,
    linear_vae_elbo_hessian_vector_product,
)
from ppca_stability._elbo.derivatives import ElboModel

# Tolerances, named by their source.
FD_GRAD_RTOL = (
    1e-7  # central differences (step 1e-6) of a smooth function, relative to the largest entry
)
FD_HESS_RTOL = 1e-6  # central differences of the analytic gradient
EXACT_RTOL = 1e-11  # two float64 routes through the same algebra
FD_STEP = 1e-6


def sample_elbo(X: np.ndarray, V: np.ndarray, Sigma: np.ndarray, W: np.ndarray, s: float) -> float:
    """Mean over the rows x of E_q[log N(x; W z, s I)] - KL(N(V x, Sigma) || N(0, I)), from the
    definition: E||x - W z||^2 = ||x - W V x||^2 + tr(W Sigma W^T) under z ~ N(V x, Sigma)."""
    n, d = X.shape
    q = W.shape[1]
    total = 0.0
    for x in X:
        mean = V @ x
        err = x - W @ mean
        expected_sq = err @ err + np.trace(W @ Sigma @ W.T)
        loglik = -0.5 * d * np.log(2 * np.pi * s) - expected_sq / (2 * s)
        kl = 0.5 * (np.trace(Sigma) + mean @ mean - q - np.linalg.slogdet(Sigma)[1])
        total += loglik - kl
    return total / n


def _unpack(x: np.ndarray, d: int, q: int, full: bool, learned: bool, s: float):
    V = x[: q * d].reshape(q, d)
    n_enc = q * (q + 1) // 2 if full else q
    e = x[q * d : q * d + n_enc]
    W = x[q * d + n_enc : q * d + n_enc + d * q].reshape(d, q)
    if full:
        L = np.zeros((q, q))
        L[np.tril_indices(q)] = e
        enc, Sigma = L, L @ L.T
    else:
        enc, Sigma = e, np.diag(np.exp(e))
    return V, enc, Sigma, W, (float(x[-1]) if learned else s)


def _random_case(rng: np.random.Generator, d: int, q: int, full: bool):
    X = rng.standard_normal((40, d)) * rng.uniform(0.5, 2.0, d)
    X -= X.mean(axis=0)
    S = X.T @ X / X.shape[0]
    V, W = rng.standard_normal((q, d)) / d, rng.standard_normal((d, q))
    if full:
        enc = np.tril(rng.standard_normal((q, q)), -1) * 0.3 + np.diag(rng.uniform(0.5, 1.5, q))
        params = LinearVAEFullParams(V, enc, W)
        e_flat = enc[np.tril_indices(q)]
    else:
        enc = rng.standard_normal(q) * 0.5
        params = LinearVAEParams(V, enc, W)
        e_flat = enc
    return X, S, params, e_flat


def _fd(f, x: np.ndarray) -> np.ndarray:
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = FD_STEP
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * FD_STEP))
    return np.array(cols).T


CASES = [(full, learned) for full in (False, True) for learned in (False, True)]


@pytest.mark.parametrize("full,learned", CASES)
def test_gradient_matches_finite_differences_of_the_sample_elbo(full: bool, learned: bool) -> None:
    rng = np.random.default_rng(0)
    d, q, s = 4, 3, 0.7
    X, S, params, e_flat = _random_case(rng, d, q, full)
    x0 = np.concatenate(
        [params.encoder_weights.ravel(), e_flat, params.loadings.ravel()]
        + ([[s]] if learned else [])
    )

    def f(x: np.ndarray) -> float:
        V, _, Sigma, W, ss = _unpack(x, d, q, full, learned, s)
        return sample_elbo(X, V, Sigma, W, ss)

    g = linear_vae_elbo_flat_gradient(params, cov=S, sigma2=s, sigma2_learned=learned)
    fd = _fd(f, x0)
    assert np.max(np.abs(g - fd)) <= FD_GRAD_RTOL * np.max(np.abs(fd))
    assert abs(
        ElboModel(
            params.encoder_weights,
            params.encoder_cholesky if full else params.encoder_log_variances,
            params.loadings,
            S,
            s,
            full=full,
            learned=learned,
        ).value()
        - f(x0)
    ) <= 1e-12 * abs(f(x0))


@pytest.mark.parametrize("full,learned", CASES)
def test_hessian_matches_finite_differences_of_the_gradient(full: bool, learned: bool) -> None:
    rng = np.random.default_rng(1)
    d, q, s = 4, 3, 0.6
    _, S, params, e_flat = _random_case(rng, d, q, full)
    x0 = np.concatenate(
        [params.encoder_weights.ravel(), e_flat, params.loadings.ravel()]
        + ([[s]] if learned else [])
    )

    def grad(x: np.ndarray) -> np.ndarray:
        V, enc, _, W, ss = _unpack(x, d, q, full, learned, s)
        p = LinearVAEFullParams(V, enc, W) if full else LinearVAEParams(V, enc, W)
        return linear_vae_elbo_flat_gradient(p, cov=S, sigma2=ss, sigma2_learned=learned)

    H = linear_vae_elbo_hessian(params, cov=S, sigma2=s, sigma2_learned=learned)
    fd = _fd(grad, x0)
    assert np.max(np.abs(H - fd)) <= FD_HESS_RTOL * np.max(np.abs(H))
    assert np.array_equal(H, H.T)
    v = rng.standard_normal(H.shape[0])
    Hv = linear_vae_elbo_hessian_vector_product(params, v, cov=S, sigma2=s, sigma2_learned=learned)
    assert np.max(np.abs(Hv - H @ v)) <= EXACT_RTOL * np.max(np.abs(H)) * np.linalg.norm(v) * 10


def test_flat_gradient_agrees_with_linear_vae_elbo_gradient() -> None:
    rng = np.random.default_rng(2)
    _, S, params, _ = _random_case(rng, 5, 2, False)
    g = linear_vae_elbo_flat_gradient(params, cov=S, sigma2=0.3, sigma2_learned=True)
    ref, ref_s = linear_vae_elbo_gradient(params, cov=S, sigma2=0.3)
    want = np.concatenate(
        [ref.encoder_weights.ravel(), ref.encoder_log_variances, ref.loadings.ravel(), [ref_s]]
    )
    assert np.max(np.abs(g - want)) <= EXACT_RTOL * np.max(np.abs(want))
    point = ElboModel(
        params.encoder_weights,
        params.encoder_log_variances,
        params.loadings,
        S,
        0.3,
        full=False,
        learned=False,
    )
    assert abs(point.value() - linear_vae_elbo(params, cov=S, sigma2=0.3)) <= EXACT_RTOL * abs(
        point.value()
    )


@pytest.mark.parametrize("full,learned", CASES)
def test_schur_product_is_the_schur_complement_of_the_encoder_block(
    full: bool, learned: bool
) -> None:
    """Source: the dense Hessian, H_WW - H_WE H_EE^-1 H_EW formed explicitly (S positive
    definite)."""
    rng = np.random.default_rng(3)
    d, q = 4, 2
    _, S, params, _ = _random_case(rng, d, q, full)
    enc = params.encoder_cholesky if full else params.encoder_log_variances
    point = ElboModel(
        params.encoder_weights, enc, params.loadings, S, 0.5, full=full, learned=learned
    )
    H = point.dense_hessian()
    ne = q * d + point.n_enc
    schur = H[ne:, ne:] - H[ne:, :ne] @ np.linalg.solve(H[:ne, :ne], H[:ne, ne:])
    Hee = H[q * d : ne, q * d : ne]
    z = rng.standard_normal(d * q + learned)
    hW, hs = point.schur_product(
        z[: d * q].reshape(d, q),
        float(z[-1]) if learned else 0.0,
        lambda b: np.linalg.solve(Hee, b),
    )
    got = np.append(hW.ravel(), hs) if learned else hW.ravel()
    assert np.max(np.abs(got - schur @ z)) <= 1e-9 * np.max(np.abs(schur)) * np.linalg.norm(z)


def test_errors_name_the_parameter() -> None:
    W = np.ones((3, 2))
    with pytest.raises(ValueError, match="encoder_cholesky.*lower triangular"):
        linear_vae_elbo_hessian(
            LinearVAEFullParams(np.zeros((2, 3)), np.ones((2, 2)), W), cov=np.eye(3), sigma2=1.0
        )
    with pytest.raises(ValueError, match="encoder_weights.*transpose"):
        linear_vae_elbo_flat_gradient((np.zeros((3, 2)), np.zeros(2), W), cov=np.eye(3), sigma2=1.0)
    with pytest.raises(ValueError, match="exactly one of `cov` and `data`"):
        linear_vae_elbo_flat_gradient((np.zeros((2, 3)), np.zeros(2), W), sigma2=1.0)
    with pytest.raises(ValueError, match="`direction` must be a flat vector of length 14"):
        linear_vae_elbo_hessian_vector_product(
            (np.zeros((2, 3)), np.zeros(2), W), np.zeros(3), cov=np.eye(3), sigma2=1.0
        )
    with pytest.raises(TypeError, match="sigma2_learned"):
        linear_vae_elbo_flat_gradient(
            (np.zeros((2, 3)), np.zeros(2), W), cov=np.eye(3), sigma2=1.0, sigma2_learned=1
        )
