"""The dense Hessian and Hessian-vector products of the log-likelihood against finite differences,
and the closed-form Hessian spectrum of every stationary point against the dense Hessian."""

import numpy as np
import pytest
from _support import FD_RTOL, NUMERIC_RTOL, cov_from_eigenvalues, fd_gradient, rel_err

from ppca_stability import (
    Stability,
    classify_point,
    hessian_vector_product,
    log_likelihood_gradient,
    log_likelihood_hessian,
    stability_map,
)


def _grad_flat(W, S, s, joint):
    gW, gs = log_likelihood_gradient(W, S, s)
    return np.append(gW.ravel(), gs) if joint else gW.ravel()


@pytest.mark.parametrize("joint", [False, True])
@pytest.mark.parametrize("d,q", [(3, 1), (4, 2), (5, 5)])
def test_dense_hessian_matches_finite_differences_and_hvp(d, q, joint, rng):
    S = cov_from_eigenvalues(rng.exponential(size=d) + 0.1, rng)
    W, s = rng.normal(size=(d, q)), 0.7
    H = log_likelihood_hessian(W, S, s, sigma2_learned=joint)
    n = d * q + joint
    assert H.shape == (n, n) and np.allclose(H, H.T)

    def g(x):
        return _grad_flat(x[: d * q].reshape(d, q), S, x[-1] if joint else s, joint)

    x0 = np.append(W.ravel(), s) if joint else W.ravel()
    assert rel_err(H, fd_gradient(g, x0)) < FD_RTOL
    v = rng.normal(size=n)
    hv = hessian_vector_product(W, S, s, v, sigma2_learned=joint)
    assert rel_err(hv, H @ v) < NUMERIC_RTOL


@pytest.mark.parametrize("sigma2", [0.05, 0.9, 2.5, "learned"])
def test_closed_form_spectrum_equals_numeric_at_every_point(sigma2, rng):
    """theory.md §3 table (and §5 arrowhead block): closed form vs dense eigvalsh and vs the
    finite-difference Hessian, at every enumerated point."""
    lam = np.array([4.0, 2.6, 1.7, 1.1, 0.6, 0.3])
    S = cov_from_eigenvalues(lam, rng)
    q = 3
    smap = stability_map(S, sigma2, latent_dim=q)
    joint = smap.is_learned
    assert smap.n_points > 3
    for p in smap.points:
        H = log_likelihood_hessian(p.loadings, S, p.sigma2, sigma2_learned=joint)
        numeric = np.linalg.eigvalsh(H)
        closed = p.hessian_eigenvalues
        assert closed.shape == (S.shape[0] * q + joint,)
        scale = np.max(np.abs(closed))
        assert np.max(np.abs(numeric - closed)) <= NUMERIC_RTOL * scale
        x0 = np.append(p.loadings.ravel(), p.sigma2) if joint else p.loadings.ravel()
        Hfd = fd_gradient(
            lambda x: _grad_flat(x[: 6 * q].reshape(6, q), S, x[-1] if joint else p.sigma2, joint),
            x0,
        )
        assert np.max(np.abs(np.linalg.eigvalsh((Hfd + Hfd.T) / 2) - closed)) <= FD_RTOL * scale


def test_joint_second_derivative_and_schur_complement(rng):
    """theory.md §5: d2l/ds2 = -1/2 [sum_I lam_i^-2 + (d - k) s^-2]; Schur complement of the
    arrowhead block is -(d - k) / (2 s^2)."""
    lam = np.array([5.0, 3.0, 1.0, 0.5, 0.2])
    S = cov_from_eigenvalues(lam, rng)
    smap = stability_map(S, "learned", latent_dim=2)
    for p in smap.points:
        H = log_likelihood_hessian(p.loadings, S, p.sigma2, sigma2_learned=True)
        k = p.n_active
        expected = -0.5 * (np.sum(lam[list(p.active)] ** -2.0) + (5 - k) / p.sigma2**2)
        assert H[-1, -1] == pytest.approx(expected, rel=NUMERIC_RTOL)
        # restrict to the radial directions u_i e_c^T and s: the arrowhead block, all negative
        V = np.zeros((H.shape[0], k + 1))
        for c in range(k):
            E = np.zeros((5, 2))
            E[:, c] = p.loadings[:, c] / np.linalg.norm(p.loadings[:, c])
            V[:10, c] = E.ravel()
        V[10, k] = 1.0
        block = V.T @ H @ V
        assert np.all(np.linalg.eigvalsh(block) < 0)
        A, b, c = block[:k, :k], block[:k, k], block[k, k]
        schur = c - b @ np.linalg.solve(A, b) if k else c
        assert schur == pytest.approx(-(5 - k) / (2 * p.sigma2**2), rel=NUMERIC_RTOL)


def test_hvp_direction_shape_errors():
    W, S = np.ones((3, 2)), np.eye(3)
    with pytest.raises(ValueError, match="`direction`.*length 6"):
        hessian_vector_product(W, S, 1.0, np.ones((3, 2)))
    with pytest.raises(ValueError, match="`direction`.*length 7"):
        hessian_vector_product(W, S, 1.0, np.ones(6), sigma2_learned=True)
    with pytest.raises(TypeError, match="`sigma2_learned`"):
        log_likelihood_hessian(W, S, 1.0, sigma2_learned="joint")
    with pytest.warns(FutureWarning, match="deprecated"), pytest.raises(ValueError, match="`wrt`"):
        log_likelihood_hessian(W, S, 1.0, wrt="sigma2")


def test_wrt_is_a_deprecated_spelling_of_sigma2_learned(rng):
    W, S = rng.normal(size=(3, 2)), np.diag([3.0, 2.0, 1.0])
    v = rng.normal(size=7)
    for old, new in (("joint", True), ("loadings", False)):
        with pytest.warns(FutureWarning, match=f"sigma2_learned={new}"):
            H = log_likelihood_hessian(W, S, 0.5, wrt=old)
        assert np.array_equal(H, log_likelihood_hessian(W, S, 0.5, sigma2_learned=new))
    with pytest.warns(FutureWarning, match="sigma2_learned=True"):
        hv = hessian_vector_product(W, S, 0.5, v, wrt="joint")
    assert np.array_equal(hv, hessian_vector_product(W, S, 0.5, v, sigma2_learned=True))


def test_hvp_accurate_on_a_spectrum_over_twelve_decades(rng):
    # At the global maximum, the radial direction of each live column is an exact eigenvector with
    # eigenvalue -2 (lam_i - s) / lam_i^2 (theory.md §3). With lam from 1 to 1e-12 and s = 1e-6,
    # C^-1 W formed as C^-1 @ W left round-off outside span(W) that S amplified by ||S|| / s: the
    # residual was 5.5e-6 relative; built from span(W) it is ~1e-9.
    d, q, s = 200, 3, 1e-6
    lam = np.logspace(0.0, -12.0, d)
    S = cov_from_eigenvalues(lam, rng)
    W = stability_map(S, s, latent_dim=q).global_maximum.loadings
    for i in range(q):
        E = np.zeros((d, q))
        E[:, i] = W[:, i] / np.linalg.norm(W[:, i])
        HE = hessian_vector_product(W, S, s, E.ravel()).reshape(d, q)
        h = -2.0 * (lam[i] - s) / lam[i] ** 2
        assert np.linalg.norm(HE - h * E) < 1e-8 * abs(h)


@pytest.mark.slow
@pytest.mark.parametrize("sigma2", [1.0, 30.0, "learned"])
def test_digits_closed_form_vs_dense_hessian(sigma2, digits_cov):
    """The digits covariance (d = 64, three zero eigenvalues): closed form vs numeric Hessian at
    the global maximum and at saddles that swap one kept eigenvalue for a discarded one."""
    S = digits_cov
    smap = stability_map(S, sigma2, latent_dim=4)
    best = smap.global_maximum
    swaps = [best, smap.point((0, 1, 2, 5)), smap.point((1, 2, 3, 4))]
    for p in swaps:
        H = log_likelihood_hessian(p.loadings, S, p.sigma2, sigma2_learned=smap.is_learned)
        closed = p.hessian_eigenvalues
        assert np.max(np.abs(np.linalg.eigvalsh(H) - closed)) <= NUMERIC_RTOL * np.max(
            np.abs(closed)
        )
        c = classify_point(p.loadings, S, p.sigma2, sigma2_learned=smap.is_learned)
        assert (c.stability, c.morse_index) == (p.stability, p.morse_index)
    assert best.stability is Stability.MAXIMUM
