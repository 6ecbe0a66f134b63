"""The linear VAE's closed forms (theory.md §6): ELBO and gradients against finite differences and
the stochastic estimator, the optimal encoder and the gap identity, and input validation."""

from __future__ import annotations

import numpy as np
import pytest
from _support import EXACT_RTOL, FD_RTOL, NUMERIC_RTOL, fd_gradient, random_vae_problem, rel_err

from ppca_stability import (
    LinearVAEFullParams,
    LinearVAEParams,
    linear_vae_elbo,
    linear_vae_elbo_gradient,
    log_likelihood,
    optimal_encoder,
)
from ppca_stability._elbo.objective import stochastic_elbo

# Two-sided z threshold for the Monte-Carlo test: |z| > 4 has probability 6e-5 under the null.
Z_CRIT = 4.0


@pytest.mark.parametrize("seed", range(3))
def test_gradient_matches_finite_differences(seed):
    S, p, s = random_vae_problem(seed)
    g, g_s = linear_vae_elbo_gradient(p, cov=S, sigma2=s)
    blocks = ["encoder_weights", "encoder_log_variances", "loadings"]
    for name in blocks:
        x0 = getattr(p, name)

        def f(x, name=name):
            fields = {b: getattr(p, b) for b in blocks} | {name: x.reshape(x0.shape)}
            return linear_vae_elbo(LinearVAEParams(**fields), cov=S, sigma2=s)

        assert rel_err(getattr(g, name).ravel(), fd_gradient(f, x0.ravel())) < FD_RTOL, name
    fd_s = fd_gradient(lambda x: linear_vae_elbo(p, cov=S, sigma2=float(x[0])), np.array([s]))
    assert rel_err(g_s, fd_s[0]) < FD_RTOL


def test_stochastic_estimator_gradient_matches_finite_differences():
    S, p, s = random_vae_problem(7)
    rng = np.random.default_rng(1)
    X, eps = rng.standard_normal((20, 5)), rng.standard_normal((20, 3))
    _, (gV, glogD, gW, gs) = stochastic_elbo(
        p.encoder_weights, p.encoder_log_variances, p.loadings, X, eps, s
    )
    sizes = [p.encoder_weights.size, p.encoder_log_variances.size, p.loadings.size]
    x0 = np.concatenate(
        [p.encoder_weights.ravel(), p.encoder_log_variances, p.loadings.ravel(), [s]]
    )

    def f(x):
        V, logD, W = np.split(x[:-1], np.cumsum(sizes)[:-1])
        return stochastic_elbo(V.reshape(3, 5), logD, W.reshape(5, 3), X, eps, x[-1])[0]

    expected = np.concatenate([gV.ravel(), glogD, gW.ravel(), [gs]])
    assert rel_err(expected, fd_gradient(f, x0)) < FD_RTOL


def test_closed_form_elbo_is_the_mean_of_the_stochastic_estimator():
    # Full-data batches, so the only randomness is eps: z-test at |z| <= 4 (false alarm 6e-5).
    rng = np.random.default_rng(2024)
    S0, p, s = random_vae_problem(3)
    X = rng.multivariate_normal(np.zeros(5), S0, size=200)
    Xc = X - X.mean(axis=0)
    samples = np.array(
        [
            stochastic_elbo(
                p.encoder_weights,
                p.encoder_log_variances,
                p.loadings,
                Xc,
                rng.standard_normal((200, 3)),
                s,
            )[0]
            for _ in range(4000)
        ]
    )
    exact = linear_vae_elbo(p, data=X, sigma2=s)
    z = (samples.mean() - exact) / (samples.std(ddof=1) / np.sqrt(samples.size))
    assert abs(z) < Z_CRIT


@pytest.mark.parametrize("seed", range(20))
def test_elbo_never_exceeds_log_likelihood(seed):
    S, p, s = random_vae_problem(seed, d=6, q=4)
    assert linear_vae_elbo(p, cov=S, sigma2=s) <= log_likelihood(p.loadings, S, s)


@pytest.mark.parametrize("seed", range(5))
def test_gap_identity_at_optimal_encoder(seed):
    # l - L(V*, D*) = 1/2 log(prod_c M_cc / det M)   (theory.md §6)
    S, p, s = random_vae_problem(seed)
    W = p.loadings
    V, D = optimal_encoder(W, s)
    M = W.T @ W + s * np.eye(W.shape[1])
    gap = log_likelihood(W, S, s) - linear_vae_elbo((V, np.log(D), W), cov=S, sigma2=s)
    expected = 0.5 * (np.sum(np.log(np.diag(M))) - np.linalg.slogdet(M)[1])
    assert gap == pytest.approx(expected, rel=NUMERIC_RTOL)
    # ... and it vanishes for orthogonal columns (W^T W diagonal).
    W_orth = np.linalg.qr(W)[0] * np.array([2.0, 1.0, 0.5])
    V, D = optimal_encoder(W_orth, s)
    gap = log_likelihood(W_orth, S, s) - linear_vae_elbo((V, np.log(D), W_orth), cov=S, sigma2=s)
    assert abs(gap) <= EXACT_RTOL * abs(log_likelihood(W_orth, S, s)) * 10


@pytest.mark.parametrize("seed", range(5))
def test_optimal_encoder_maximises_the_elbo(seed):
    S, p, s = random_vae_problem(seed)
    W = p.loadings
    V, D = optimal_encoder(W, s)
    M = W.T @ W + s * np.eye(W.shape[1])
    assert np.allclose(D, s / (np.sum(W**2, axis=0) + s), rtol=EXACT_RTOL)
    assert not np.allclose(
        D, s * np.diag(np.linalg.inv(M))
    )  # the posterior variances are not optimal
    g, _ = linear_vae_elbo_gradient((V, np.log(D), W), cov=S, sigma2=s)
    assert np.max(np.abs(g.encoder_weights)) < NUMERIC_RTOL * np.max(np.abs(S))
    assert np.max(np.abs(g.encoder_log_variances)) < NUMERIC_RTOL
    best = linear_vae_elbo((V, np.log(D), W), cov=S, sigma2=s)
    rng = np.random.default_rng(seed)
    for scale in (1e-1, 1e-3):
        for _ in range(10):
            other = (
                V + scale * rng.standard_normal(V.shape),
                np.log(D) + scale * rng.standard_normal(D.shape),
                W,
            )
            assert linear_vae_elbo(other, cov=S, sigma2=s) < best


# ----------------------------------------------------------------------------- bad input


def test_elbo_rejects_mismatched_shapes():
    S, p, s = random_vae_problem(0)
    with pytest.raises(ValueError, match="encoder_weights.*transpose"):
        linear_vae_elbo((p.encoder_weights.T, p.encoder_log_variances, p.loadings), cov=S, sigma2=s)
    with pytest.raises(ValueError, match="encoder_log_variances"):
        linear_vae_elbo((p.encoder_weights, np.zeros(4), p.loadings), cov=S, sigma2=s)
    with pytest.raises(ValueError, match="loadings"):
        linear_vae_elbo(
            (p.encoder_weights, p.encoder_log_variances, p.loadings[:4]), cov=S, sigma2=s
        )
    with pytest.raises(TypeError, match="params"):
        linear_vae_elbo([1, 2], cov=S, sigma2=s)
    with pytest.raises(ValueError, match="sigma2"):
        linear_vae_elbo(p, cov=S, sigma2=0.0)
    with pytest.raises(ValueError, match="loadings"):
        optimal_encoder(np.ones(3), 1.0)


def test_params_repr_gives_the_sizes_and_each_blocks_norm(rng):
    V, W = rng.normal(size=(2, 3)), rng.normal(size=(3, 2))
    log_D, L = rng.normal(size=2), np.tril(rng.normal(size=(2, 2)))
    norms = [f"{np.linalg.norm(x):.4g}" for x in (V, log_D, L, W)]
    assert repr(LinearVAEParams(V, log_D, W)) == (
        f"LinearVAEParams(n_features=3, latent_dim=2, |V|={norms[0]}, |log D|={norms[1]}, "
        f"|W|={norms[3]})"
    )
    assert repr(LinearVAEFullParams(V, L, W)) == (
        f"LinearVAEFullParams(n_features=3, latent_dim=2, |V|={norms[0]}, |L|={norms[2]}, "
        f"|W|={norms[3]})"
    )
