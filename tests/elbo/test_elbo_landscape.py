"""The ELBO's stationary points in all parameters (_elbo_landscape).

Oracles: finite-difference Hessians (of an independent closed-form ELBO for small problems; of the
library gradient, itself checked against finite differences in test_elbo_derivatives, on digits);
the numeric classifier's two routes (dense, Schur-Lanczos); a Newton search for roots of the
gradient from random starts (and Levenberg-Marquardt on the decoder's gradient at the optimal
encoder), every root matched to the enumeration or to the equal-norm cluster characterisation of
docs/theory.md.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import scipy.optimize
from _support import digits_data
from hypothesis import assume, given, settings
from hypothesis import strategies as hs

from ppca_stability import (
    DegeneracyWarning,
    LinearVAEFullParams,
    LinearVAEParams,
    Stability,
    classify_vae_point,
    elbo_stability_map,
    fit_linear_vae,
    linear_vae_elbo_flat_gradient,
    optimal_encoder,
)
from ppca_stability._elbo.derivatives import ElboModel
from ppca_stability._spectra.container import from_eigenpairs
from ppca_stability.strategies import orthogonal_matrices, sigma2_values, spectra

FD_STEP = 1e-4  # second differences of the ELBO itself
FD_ZERO_RTOL = 1e-5  # an FD Hessian eigenvalue this small (relative to the largest) is zero
DECIDABLE = 1e-3  # skip examples whose smallest non-zero eigenvalue is below this (relative)
ROOT_GTOL = 1e-10  # a Newton root: gradient this small relative to its terms
NORM_RTOL = 1e-6  # equal column norms / eigen-relations of a cluster root


def naive_elbo(S: np.ndarray, V: np.ndarray, Sigma: np.ndarray, W: np.ndarray, s: float) -> float:
    """The ELBO from its definition, averaged over a Gaussian with covariance S (plain numpy)."""
    d, q = W.shape
    R = np.eye(d) - W @ V
    expected_sq = np.trace(R @ S @ R.T) + np.trace(W @ Sigma @ W.T)
    kl = 0.5 * (np.trace(Sigma) + np.trace(V @ S @ V.T) - q - np.linalg.slogdet(Sigma)[1])
    return -0.5 * d * np.log(2 * np.pi * s) - expected_sq / (2 * s) - kl


def _flat(p, s: float | None) -> np.ndarray:
    enc = (
        p.encoder_cholesky[np.tril_indices(p.loadings.shape[1])]
        if isinstance(p, LinearVAEFullParams)
        else p.encoder_log_variances
    )
    parts = [p.encoder_weights.ravel(), enc, p.loadings.ravel()]
    return np.concatenate(parts + ([[s]] if s is not None else []))


def _naive_at(
    x: np.ndarray, S: np.ndarray, d: int, q: int, full: bool, learned: bool, s: float
) -> float:
    V = x[: q * d].reshape(q, d)
    ne = q * (q + 1) // 2 if full else q
    e = x[q * d : q * d + ne]
    W = x[q * d + ne : q * d + ne + d * q].reshape(d, q)
    if full:
        L = np.zeros((q, q))
        L[np.tril_indices(q)] = e
        Sigma = L @ L.T
    else:
        Sigma = np.diag(np.exp(e))
    return naive_elbo(S, V, Sigma, W, float(x[-1]) if learned else s)


def fd_hessian(f, x: np.ndarray, h: float = FD_STEP) -> np.ndarray:
    n = x.size
    H = np.empty((n, n))
    f0 = f(x)
    E = np.eye(n) * h
    for i in range(n):
        H[i, i] = (f(x + E[i]) - 2 * f0 + f(x - E[i])) / h**2
        for j in range(i):
            H[i, j] = H[j, i] = (
                f(x + E[i] + E[j]) - f(x + E[i] - E[j]) - f(x - E[i] + E[j]) + f(x - E[i] - E[j])
            ) / (4 * h * h)
    return H


def newton_root(model_of, x0: np.ndarray):  # noqa: ANN001, ANN201
    """scipy's hybrid Newton method on ``model_of(x).gradient()`` with the exact dense Hessian as
    its Jacobian (floating-point overflow on the way is not an error: a start may diverge)."""
    with np.errstate(all="ignore"):
        return scipy.optimize.root(
            lambda x: model_of(x).gradient(),
            x0,
            jac=lambda x: model_of(x).dense_hessian(),
            method="hybr",
            options={"xtol": 1e-13},
        )


def classify_quietly(params, S: np.ndarray, s: float, **kwargs):  # noqa: ANN001, ANN003, ANN201
    """classify_vae_point without the DegeneracyWarning of a root's expected zero modes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        return classify_vae_point(params, S, s, **kwargs)


def _assert_enumerated(point: ElboModel, c, emap, lam: np.ndarray) -> tuple[int, ...]:  # noqa: ANN001
    """A root with orthogonal columns is the enumerated point of its active set: W W^T's nonzero
    spectrum lam_i - sigma2 there, the same sigma2, Morse index and stability; only the global
    maximum has index 0. Returns the active set."""
    nu, U = np.linalg.eigh(point.W @ point.W.T)
    live = nu > NORM_RTOL * point.s
    active = tuple(sorted(int(np.argmax(np.abs(U[:, j]))) for j in np.flatnonzero(live)))
    ref = emap.point(active)
    assert np.allclose(np.sort(nu[live]), np.sort(lam[list(active)] - ref.sigma2), rtol=1e-6)
    assert abs(point.s - ref.sigma2) <= 1e-8 * ref.sigma2
    assert (c.morse_index, c.stability) == (ref.morse_index, ref.stability)
    assert (c.morse_index == 0) == (active == emap.global_maximum.active)
    return active


@hs.composite
def problems(draw):  # noqa: ANN001, ANN201
    lam = draw(spectra(min_dim=2, max_dim=4, min_value=0.2, max_value=5.0, min_gap=0.05))
    d = lam.size
    learned = draw(hs.booleans()) and d >= 2
    q = draw(hs.integers(1, d - 1 if learned else min(d, 3)))
    s = "learned" if learned else draw(sigma2_values(lam, kinds=("between", "outside")))
    return lam, draw(orthogonal_matrices(d)), s, q, draw(hs.sampled_from(["diagonal", "full"]))


@settings(max_examples=15, deadline=None)
@given(problems())
def test_every_point_agrees_with_a_finite_difference_hessian(problem) -> None:  # noqa: ANN001
    """Morse index and zero modes of every enumerated point, against the FD Hessian of
    naive_elbo."""
    lam, basis, s, q, encoder = problem
    S = from_eigenpairs(lam, basis)
    d = lam.size
    emap = elbo_stability_map(S, s, latent_dim=q, encoder=encoder)
    for p in emap.points:
        learned = emap.is_learned
        x0 = _flat(p.params, p.sigma2 if learned else None)
        H = fd_hessian(lambda x: _naive_at(x, S, d, q, encoder == "full", learned, p.sigma2), x0)
        h = np.linalg.eigvalsh(H)
        scale = np.max(np.abs(h))
        exact = np.linalg.eigvalsh(linear_vae_elbo_hessian_of(p, S, learned))
        nonzero = np.sort(np.abs(exact))[p.symmetry_dim + p.n_degenerate :]
        assume(nonzero.size == 0 or nonzero[0] > DECIDABLE * scale)
        assert int(np.sum(h > FD_ZERO_RTOL * scale)) == p.morse_index, (p, h)
        assert int(np.sum(np.abs(h) <= FD_ZERO_RTOL * scale)) == p.symmetry_dim + p.n_degenerate, (
            p,
            h,
        )


def linear_vae_elbo_hessian_of(p, S: np.ndarray, learned: bool) -> np.ndarray:  # noqa: ANN001
    from ppca_stability import linear_vae_elbo_hessian

    return linear_vae_elbo_hessian(p.params, cov=S, sigma2=p.sigma2, sigma2_learned=learned)


@pytest.mark.parametrize("encoder", ["diagonal", "full"])
@pytest.mark.parametrize("sigma2", [30.0, "learned"])
def test_digits_points_agree_with_finite_differences(encoder: str, sigma2) -> None:  # noqa: ANN001
    """Digits (singular: constant pixels give encoder null modes), latent_dim 3: the global maximum,
    an index-1 saddle and the all-dead point, against an FD Hessian of the (FD-checked) gradient."""
    X = digits_data()
    S = np.cov(X.T, ddof=0)
    emap = elbo_stability_map(S, sigma2, latent_dim=3, encoder=encoder)
    assert emap.rank < emap.n_features
    learned = emap.is_learned
    for active in [(0, 1, 2), (0, 1, 3), ()]:
        p = emap.point(active)
        x0 = _flat(p.params, p.sigma2 if learned else None)

        def grad(x: np.ndarray) -> np.ndarray:
            d, q = 64, 3
            V = x[: q * d].reshape(q, d)
            ne = 6 if encoder == "full" else 3
            e = x[q * d : q * d + ne]
            W = x[q * d + ne : q * d + ne + d * q].reshape(d, q)
            if encoder == "full":
                L = np.zeros((q, q))
                L[np.tril_indices(q)] = e
                par = LinearVAEFullParams(V, L, W)
            else:
                par = LinearVAEParams(V, e, W)
            return linear_vae_elbo_flat_gradient(
                par, cov=S, sigma2=float(x[-1]) if learned else p.sigma2, sigma2_learned=learned
            )

        step = 1e-6 * np.maximum(1.0, np.abs(x0))
        H = np.array(
            [
                (grad(x0 + np.eye(x0.size)[i] * step[i]) - grad(x0 - np.eye(x0.size)[i] * step[i]))
                / (2 * step[i])
                for i in range(x0.size)
            ]
        )
        H = 0.5 * (H + H.T)
        # The raw units mix V, W and sigma2; the scale-free congruence keeps the inertia.
        J = np.concatenate(
            [
                np.full(192, np.sqrt(1 / p.sigma2)),
                np.ones(x0.size - 384 - learned),
                np.full(192, np.sqrt(p.sigma2)),
            ]
            + ([[p.sigma2]] if learned else [])
        )
        h = np.linalg.eigvalsh(J[:, None] * H * J[None, :])
        tol = 1e-8 * np.max(np.abs(h))  # FD round-off ~ eps |g| / step: 1e-10 of the scale
        assert int(np.sum(h > tol)) == p.morse_index, (active, np.sort(h)[-5:])
        assert int(np.sum(np.abs(h) <= tol)) == p.symmetry_dim + p.n_degenerate


def _digits_cov() -> np.ndarray:
    return np.cov(digits_data().T, ddof=0)


@pytest.mark.parametrize("method", ["dense", "structured", "lanczos"])
def test_classify_agrees_with_the_map_on_permuted_and_sign_flipped_representatives(
    method: str,
) -> None:
    S = _digits_cov()
    emap = elbo_stability_map(S, 20.0, latent_dim=4)
    rng = np.random.default_rng(0)
    for active in [(0, 1, 2, 3), (0, 1, 2, 4), (1, 3), ()]:
        p = emap.point(active)
        perm, signs = rng.permutation(4), rng.choice([-1.0, 1.0], 4)
        par = LinearVAEParams(
            p.params.encoder_weights[perm] * signs[:, None],
            p.params.encoder_log_variances[perm],
            p.params.loadings[:, perm] * signs,
        )
        c = classify_vae_point(par, S, 20.0, method=method, n_eigenvalues=12)
        assert c.is_stationary
        assert (c.stability, c.morse_index, c.symmetry_dim, c.n_degenerate) == (
            p.stability,
            p.morse_index,
            p.symmetry_dim,
            p.n_degenerate,
        ) or not c.morse_index_exact
        assert c.morse_index_exact or c.morse_index <= p.morse_index


def test_rotated_columns_are_not_stationary_for_the_diagonal_encoder_but_are_for_the_full() -> None:
    S = _digits_cov()
    s = 20.0
    p = elbo_stability_map(S, s, latent_dim=3).global_maximum
    R = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))[0]
    W = p.params.loadings @ R
    V, D = optimal_encoder(W, s)  # the best diagonal encoder for the rotated decoder
    assert classify_vae_point((V, np.log(D), W), S, s).stability is Stability.NOT_STATIONARY
    pf = elbo_stability_map(S, s, latent_dim=3, encoder="full").global_maximum
    Lr = np.linalg.cholesky(R.T @ pf.params.encoder_covariance @ R)
    c = classify_vae_point(
        LinearVAEFullParams(R.T @ pf.params.encoder_weights, Lr, W), S, s, encoder="full"
    )
    assert (c.stability, c.symmetry_dim) == (Stability.MAXIMUM, pf.symmetry_dim)


def test_fit_linear_vae_on_digits_is_classified_maximum() -> None:
    X = digits_data()
    fit = fit_linear_vae(X, latent_dim=8, sigma2=1.0, rng=0)
    c = classify_vae_point(fit.params, np.cov(X.T, ddof=0), 1.0)
    assert c.stability is Stability.MAXIMUM, c


# ----------------------------------------------------------------------------- structured route
def _optimal_params(W: np.ndarray, s: float, encoder: str):  # noqa: ANN202
    """The encoder that maximises the ELBO for W (closed form: V = M^-1 W^T, Sigma = s M^-1 or
    its diagonal's optimum s / diag M)."""
    if encoder == "diagonal":
        V, D = optimal_encoder(W, s)
        return LinearVAEParams(V, np.log(D), W)
    M = W.T @ W + s * np.eye(W.shape[1])
    return LinearVAEFullParams(np.linalg.solve(M, W.T), np.linalg.cholesky(s * np.linalg.inv(M)), W)


def _naive_profile(x: np.ndarray, S: np.ndarray, d: int, q: int, gap: bool, learned: bool):  # noqa: ANN202
    """F(W, s) = l(W, s) - G(M): the log-likelihood from its definition, minus the gap between
    the diagonal and the exact posterior (0 for the full encoder)."""
    W = x[: d * q].reshape(d, q)
    s = float(x[-1]) if learned else 1.0
    C = W @ W.T + s * np.eye(d)
    ll = -0.5 * (d * np.log(2 * np.pi) + np.linalg.slogdet(C)[1] + np.trace(np.linalg.solve(C, S)))
    M = W.T @ W + s * np.eye(q)
    G = 0.5 * (np.sum(np.log(np.diag(M))) - np.linalg.slogdet(M)[1])
    return ll - G if gap else ll


@pytest.mark.parametrize("encoder", ["diagonal", "full"])
@pytest.mark.parametrize("learned", [False, True])
def test_the_encoder_schur_complement_is_the_profile_hessian(encoder: str, learned: bool) -> None:
    """Where the encoder is optimal for W (here W is random: neither stationary nor with
    orthogonal columns), the Schur complement of the encoder block equals the FD Hessian of the
    profile l - G (G = 0 for the full encoder), the identity the structured route rests on."""
    from ppca_stability._elbo.classify import _encoder_solver, _scaled_point

    rng = np.random.default_rng(4)
    d, q, s = 4, 2, 0.6
    A = rng.standard_normal((d, d))
    S = A @ A.T
    p = _optimal_params(rng.standard_normal((d, q)), s, encoder)
    point = _scaled_point(p, S, s, learned)  # units of s: S / s, W / sqrt(s), s = 1
    solve = _encoder_solver(point, 1e-12)[0]
    n = d * q + learned
    T = np.empty((n, n))
    for i, e in enumerate(np.eye(n)):
        hW, hs = point.schur_product(
            e[: d * q].reshape(d, q), float(e[-1]) if learned else 0.0, solve
        )
        T[:, i] = np.append(hW.ravel(), hs) if learned else hW.ravel()
    x0 = np.append(point.W.ravel(), 1.0) if learned else point.W.ravel()
    H = fd_hessian(lambda x: _naive_profile(x, S / s, d, q, encoder == "diagonal", learned), x0)
    assert np.max(np.abs(T - T.T)) <= 1e-10 * np.max(np.abs(T))
    assert np.max(np.abs(T - H)) <= FD_ZERO_RTOL * np.max(np.abs(H)), np.max(np.abs(T - H))


def test_the_gap_hessian_in_block_coordinates_matches_finite_differences() -> None:
    """_gap_hessian's (M, X, sigma2) blocks against an FD Hessian of G(W^T W + s I), mapped to the
    same coordinates E = Q M R^T + P X R^T: the X X block is kron(I, Gamma), X couples with
    nothing (not with sigma2 either)."""
    from ppca_stability._ppca.hessian_blocks import _gap_hessian
    from ppca_stability._ppca.likelihood import Model

    rng = np.random.default_rng(3)
    d, q = 5, 3
    A = rng.standard_normal((d, d))
    model = Model.build(rng.standard_normal((d, q)), A @ A.T, 0.7)
    Q, R = model.Q, model.Rt.T
    P = np.linalg.qr(Q, mode="complete")[0][:, q:]
    # Columns: E for each M[a, b], then each X[j, b], then sigma2.
    cols = [(Q @ np.eye(q * q)[i].reshape(q, q) @ R.T).ravel() for i in range(q * q)]
    cols += [
        (P @ np.eye((d - q) * q)[i].reshape(d - q, q) @ R.T).ravel() for i in range((d - q) * q)
    ]
    T = np.zeros((d * q + 1, d * q + 1))
    T[: d * q, : d * q] = np.array(cols).T
    T[-1, -1] = 1.0

    def G(x: np.ndarray) -> float:
        W = x[:-1].reshape(d, q)
        M = W.T @ W + x[-1] * np.eye(q)
        return 0.5 * (np.sum(np.log(np.diag(M))) - np.linalg.slogdet(M)[1])

    H = T.T @ fd_hessian(G, np.append(model.W.ravel(), 1.0)) @ T
    Gamma, HG = _gap_hessian(R, model.w, model.c, True)
    nm = q * q
    tol = FD_ZERO_RTOL * np.max(np.abs(H))
    assert np.max(np.abs(Gamma)) > 100 * tol  # columns far from orthogonal: Gamma matters
    assert np.max(np.abs(H[:nm, :nm] - HG[:nm, :nm])) <= tol
    assert np.max(np.abs(H[:nm, -1] - HG[:nm, -1])) <= tol and abs(H[-1, -1] - HG[-1, -1]) <= tol
    assert np.max(np.abs(H[nm:-1, nm:-1] - np.kron(np.eye(d - q), Gamma))) <= tol
    assert np.max(np.abs(H[nm:-1, :nm])) <= tol and np.max(np.abs(H[nm:-1, -1])) <= tol


def _structured_cases():  # noqa: ANN202
    """Small covariances: distinct, tied, singular; sigma2 between eigenvalues, at one, learned."""
    rng = np.random.default_rng(7)
    for lam, s in [
        ([5.0, 3.0, 2.0, 1.0], 1.5),
        ([4.0, 4.0, 1.0, 0.5], 0.7),
        ([3.0, 2.0, 1.0, 0.0, 0.0], 0.4),
        ([6.0, 2.0, 2.0, 1.0, 0.3], 2.0),
        ([5.0, 3.0, 2.0, 1.0, 0.5], "learned"),
        ([2.0, 2.0, 1.0, 0.0], "learned"),
    ]:
        basis = np.linalg.qr(rng.standard_normal((len(lam), len(lam))))[0]
        yield from_eigenpairs(np.array(lam), basis), s, rng


@pytest.mark.parametrize("encoder", ["diagonal", "full"])
def test_structured_counts_equal_dense_counts(encoder: str) -> None:
    """The structured route against the dense Schur complement, point by point: every enumerated
    point (maxima, saddles, degenerate ones) and random decoders with their optimal encoder (not
    stationary, columns not orthogonal), sigma2 fixed and learned."""
    n = 0
    for S, s, rng in _structured_cases():
        d = S.shape[0]
        rank = int(np.sum(np.linalg.eigvalsh(S) > 1e-12))
        for q in (1, 2, 3) if s != "learned" else range(1, min(3, rank - 1) + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DegeneracyWarning)
                emap = elbo_stability_map(S, s, latent_dim=q, encoder=encoder)
                cases = [(p.params, p.sigma2) for p in emap.points]
                s0 = emap.global_maximum.sigma2
                cases += [
                    (_optimal_params(rng.standard_normal((d, q)), s0, encoder), s0)
                    for _ in range(3)
                ]
                for params, sigma2 in cases:
                    got = [
                        classify_vae_point(
                            params,
                            S,
                            sigma2,
                            encoder=encoder,
                            sigma2_learned=emap.is_learned,
                            method=m,
                        )
                        for m in ("dense", "structured")
                    ]
                    a, b = (
                        (c.stability, c.morse_index, c.n_degenerate, c.symmetry_dim) for c in got
                    )
                    assert a == b, (S, sigma2, q, params)
                    n += 1
    assert n > 100


def test_structured_never_forms_the_dense_complement(monkeypatch) -> None:  # noqa: ANN001
    """method="auto" at d q > 4096 takes the structured route: no Hessian-vector product with the
    ELBO's dense Hessian or its complement, and the map's label at its maximum and a saddle."""
    rng = np.random.default_rng(2)
    d, q = 700, 6
    lam = np.logspace(0.0, -3.0, d)
    S = from_eigenpairs(lam, np.linalg.qr(rng.standard_normal((d, d)))[0])
    s = float(np.sqrt(lam[8] * lam[9]))
    emap = elbo_stability_map(S, s, latent_dim=q)

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the structured route called a Hessian-vector product")

    monkeypatch.setattr(ElboModel, "hvp", refuse)
    for active in [tuple(range(q)), (0, 1, 2, 3, 4, 6)]:
        ref = emap.point(active)
        c = classify_vae_point(ref.params, S, s)
        assert c.method == "structured"
        assert (c.stability, c.morse_index) == (ref.stability, ref.morse_index)
        assert "not computed" in repr(c)


# ----------------------------------------------------------------------------- all roots
def _is_cluster_root(W: np.ndarray, lam: np.ndarray, s: float) -> bool:
    """docs/theory.md: columns fall into groups of equal norm, orthogonal across groups; within
    a group with diagonal mu, M's eigenvalues m are s (ghost) or sqrt(mu lam_i) (live, eigenvector
    direction of S = diag(lam))."""
    M = W.T @ W + s * np.eye(W.shape[1])
    mdiag = np.diag(M)
    q = W.shape[1]
    groups: list[list[int]] = []
    for c in np.argsort(mdiag):
        if groups and abs(mdiag[c] - mdiag[groups[-1][0]]) <= NORM_RTOL * mdiag[c]:
            groups[-1].append(int(c))
        else:
            groups.append([int(c)])
    for g1, g2 in itertools.combinations(groups, 2):
        if np.max(np.abs(M[np.ix_(g1, g2)])) > NORM_RTOL * np.max(mdiag):
            return False
    for g in groups:
        mu = mdiag[g[0]]
        m, Q = np.linalg.eigh(M[np.ix_(g, g)])
        Wt = W[:, g] @ Q
        for j in range(len(g)):
            if abs(m[j] - s) <= NORM_RTOL * mu:
                continue
            u = Wt[:, j] / np.linalg.norm(Wt[:, j])
            i = int(np.argmax(np.abs(u)))
            if (
                abs(abs(u[i]) - 1) > NORM_RTOL
                or abs(m[j] ** 2 - mu * lam[i]) > NORM_RTOL * mu * lam[i]
            ):
                return False
    return q >= 1


@pytest.mark.parametrize(
    "lam,s,q",
    [
        ([4.0, 1.0], 0.5, 2),
        ([5.0, 3.0, 1.5], 0.7, 2),
        ([6.0, 3.0, 2.0, 1.0], 0.4, 2),
        ([3.0, 2.5, 0.4], 0.3, 3),
    ],
)
def test_newton_roots_are_enumerated_points_or_equal_norm_clusters(lam, s: float, q: int) -> None:
    """Newton (scipy's hybrid method with the exact Hessian as Jacobian) on the full gradient from
    random starts: every root is an enumerated point (orthogonal columns, same Morse index) or an
    equal-norm cluster, and no root but the global maximum has Morse index 0."""
    lam = np.array(lam)
    S, d = np.diag(lam), lam.size
    emap = elbo_stability_map(S, s, latent_dim=q)
    rng = np.random.default_rng(0)
    n_found = {"enumerated": 0, "cluster": 0}
    for _ in range(60):
        W0 = rng.standard_normal((d, q)) * np.sqrt(lam.max())
        V0, D0 = optimal_encoder(W0, s)
        x0 = np.concatenate([V0.ravel(), np.log(D0), W0.ravel()])

        def split(x: np.ndarray) -> ElboModel:
            return ElboModel(
                x[: q * d].reshape(q, d),
                x[q * d : q * d + q],
                x[q * d + q :].reshape(d, q),
                S,
                s,
                full=False,
                learned=False,
            )

        sol = newton_root(split, x0)
        point = split(sol.x)
        c = classify_vae_point((point.V, point.enc, point.W), S, s)
        if c.relative_gradient_norm > ROOT_GTOL:
            continue
        W = point.W
        M = W.T @ W
        off = M - np.diag(np.diag(M))
        if np.max(np.abs(off)) <= NORM_RTOL * max(np.max(np.diag(M)), s):
            live = tuple(
                sorted(
                    int(np.argmax(np.abs(W[:, c_])))
                    for c_ in range(q)
                    if np.linalg.norm(W[:, c_]) ** 2 > NORM_RTOL * s
                )
            )
            ref = emap.point(live)
            assert (c.morse_index, c.stability) == (ref.morse_index, ref.stability)
            n_found["enumerated"] += 1
        else:
            assert _is_cluster_root(W, lam, s), W
            assert c.morse_index >= 1
            n_found["cluster"] += 1
        if c.morse_index == 0:  # no spurious local maxima
            assert abs(point.value() - emap.global_maximum.elbo) <= 1e-9 * abs(point.value())
    assert sum(n_found.values()) > 0, n_found


@pytest.mark.parametrize(
    "lam,q,encoder,learned",
    [
        ([5.0, 3.0, 1.5], 2, "full", False),
        ([5.0, 3.0, 1.5], 1, "full", True),
    ],
)
def test_newton_roots_with_the_full_encoder_or_learned_sigma2_are_enumerated(
    lam, q: int, encoder: str, learned: bool
) -> None:
    """Newton on the gradient in all parameters (the full encoder's Cholesky factor, sigma2 when
    learned) from random starts: a root of the full encoder is an enumerated point up to O(q)
    (W W^T = sum over its active set of (lam_i - s) e_i e_i^T) with its Morse index; a root with
    sigma2 learned has the enumerated point's sigma2; only the global maximum has index 0.
    (Newton from random starts rarely reaches the gradient tolerance for the full encoder with
    q = 3, or with q = 2 and sigma2 learned: its Jacobian is singular along the rotation orbit;
    measured 0/40 and 4/40 roots. Those cases are covered by the Levenberg-Marquardt test below.)"""
    lam = np.array(lam)
    S, d = np.diag(lam), lam.size
    emap = elbo_stability_map(S, "learned" if learned else 0.7, latent_dim=q, encoder=encoder)
    full = encoder == "full"
    n_enc = q * (q + 1) // 2 if full else q
    tril = np.tril_indices(q)
    rng = np.random.default_rng(1)

    def split(x: np.ndarray) -> ElboModel:
        e = x[q * d : q * d + n_enc]
        if full:
            L = np.zeros((q, q))
            L[tril] = e
            e = L
        s = float(x[-1]) if learned else 0.7
        W = x[q * d + n_enc : q * d + n_enc + d * q].reshape(d, q)
        return ElboModel(x[: q * d].reshape(q, d), e, W, S, s, full=full, learned=learned)

    found = 0
    for _ in range(40):
        s0 = float(rng.uniform(0.5, 1.5)) if learned else 0.7
        W0 = rng.standard_normal((d, q)) * np.sqrt(lam.max())
        V0, D0 = optimal_encoder(W0, s0)
        enc0 = np.diag(np.sqrt(D0))[tril] if full else np.log(D0)
        x0 = np.concatenate([V0.ravel(), enc0, W0.ravel()] + ([[s0]] if learned else []))
        sol = newton_root(split, x0)
        if not np.all(np.isfinite(sol.x)) or (learned and sol.x[-1] <= 0):
            continue
        point = split(sol.x)
        if full and np.any(np.diag(point.enc) <= 0):  # the Cholesky factor's sign convention
            continue
        par = (LinearVAEFullParams if full else LinearVAEParams)(point.V, point.enc, point.W)
        c = classify_quietly(par, S, point.s, encoder=encoder, sigma2_learned=learned)
        if c.relative_gradient_norm > ROOT_GTOL:
            continue
        if not full and not np.allclose(
            point.W.T @ point.W, np.diag(np.diag(point.W.T @ point.W)), atol=NORM_RTOL
        ):
            continue  # a diagonal-encoder cluster: characterised in the fixed-sigma2 tests
        _assert_enumerated(point, c, emap, lam)
        found += 1
    assert found >= 5, found


@pytest.mark.parametrize(
    "lam,q,encoder,learned",
    [
        ([5.0, 3.0, 1.5, 0.8], 3, "full", False),
        ([6.0, 4.0, 2.5, 1.2, 0.5], 3, "full", False),
        ([6.0, 3.5, 2.0, 0.9], 2, "full", True),
        ([7.0, 4.0, 2.5, 1.5, 0.6], 2, "full", True),
        ([6.0, 3.5, 2.0, 0.9], 2, "diagonal", True),
        ([7.0, 4.0, 2.5, 1.5, 0.6], 2, "diagonal", True),
    ],
)
def test_levenberg_marquardt_roots_at_the_optimal_encoder_are_enumerated(
    lam, q: int, encoder: str, learned: bool
) -> None:
    """The cases Newton in all parameters misses (full encoder with q = 3; q = 2 with sigma2
    learned, either encoder), found with the encoder eliminated: every root of the ELBO gradient has
    the encoder optimal for its decoder (the ELBO is strictly concave in the encoder, its maximiser
    V = M^-1 W^T, Sigma = s M^-1 for the full encoder, s / diag(M) for the diagonal one), so the
    roots are those of the decoder's gradient there, scaled to s g_W M (and 2 s^2 g_s), which does
    not decay as W grows. MINPACK's Levenberg-Marquardt (least_squares, method "lm"), whose damped
    steps cope with the Jacobian's rank deficiency along the O(q) orbit, solves it from 30 random
    starts (W of the existing test's scale, sigma2 in [0.5, 1.5] x mean(lam)). Each root is then
    checked in all parameters (relative gradient <= ROOT_GTOL) and matched as in the test above:
    W W^T's spectrum, sigma2, Morse index and stability of the enumerated point of its active set;
    only the global maximum has index 0; a diagonal-encoder root with non-orthogonal columns is an
    equal-norm cluster at one of the enumerated clusters' sigma2, and a saddle. Measured (seed 1),
    per spectrum: roots in 30/30 and 30/30 starts with 5 and 8 distinct active sets (full, q = 3,
    sigma2 = 0.7); 26/30 and 27/30 with 3 and 4 (full, q = 2, learned); 29/30 and 29/30, of them
    10 and 15 clusters, with 3 and 4 (diagonal, q = 2, learned). Required: 25 roots and 3 active
    sets."""
    lam = np.array(lam)
    S, d = np.diag(lam), lam.size
    emap = elbo_stability_map(S, "learned" if learned else 0.7, latent_dim=q, encoder=encoder)
    full = encoder == "full"
    rng = np.random.default_rng(1)
    clusters = []  # the enumerated equal-norm clusters' sigma2 (diagonal, learned)
    if not full:
        with_clusters = elbo_stability_map(S, "learned", latent_dim=q, include_clusters=True)
        clusters = [p.sigma2 for p in with_clusters.cluster_points]

    def model(x: np.ndarray) -> tuple[ElboModel, np.ndarray]:
        W = x[: d * q].reshape(d, q)
        s = float(x[-1]) if learned else 0.7
        M = W.T @ W + s * np.eye(q)
        V = np.linalg.solve(M, W.T)
        enc = np.linalg.cholesky(s * np.linalg.inv(M)) if full else np.log(s / np.diag(M))
        return ElboModel(V, enc, W, S, s, full=full, learned=learned), M

    def residual(x: np.ndarray) -> np.ndarray:
        m, M = model(x)
        blocks = m.gradient_terms()
        r = [(m.s * blocks[2][0] @ M).ravel()]
        if learned:
            r.append(2.0 * m.s**2 * blocks[3][0])
        return np.concatenate(r)

    n_roots, n_cluster, by_active = 0, 0, {}
    for _ in range(30):
        s0 = float(rng.uniform(0.5, 1.5)) * lam.mean() if learned else 0.7
        W0 = rng.standard_normal((d, q)) * np.sqrt(lam.max())
        x0 = np.concatenate([W0.ravel()] + ([[s0]] if learned else []))
        try:
            with np.errstate(all="ignore"):
                x = scipy.optimize.least_squares(
                    residual, x0, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15
                ).x
                point, _ = model(x)
        except (np.linalg.LinAlgError, ValueError):  # wandered to sigma2 <= 0
            continue
        if not np.all(np.isfinite(x)) or point.s <= 0:
            continue
        par = (LinearVAEFullParams if full else LinearVAEParams)(point.V, point.enc, point.W)
        c = classify_quietly(par, S, point.s, encoder=encoder, sigma2_learned=learned)
        if c.relative_gradient_norm > ROOT_GTOL:
            continue
        n_roots += 1
        WtW = point.W.T @ point.W
        if not full and not np.allclose(WtW, np.diag(np.diag(WtW)), atol=NORM_RTOL):
            assert _is_cluster_root(point.W, lam, point.s), point.W
            assert any(abs(point.s - t) <= 1e-8 * t for t in clusters), point.s
            assert c.morse_index >= 1
            n_cluster += 1
            continue
        active = _assert_enumerated(point, c, emap, lam)
        by_active[active] = by_active.get(active, 0) + 1
    assert n_roots >= 25 and len(by_active) >= 3, (n_roots, n_cluster, by_active)


def _cluster_orbits_q2(lam: np.ndarray, s: float) -> int:
    """Roots of the two kinds of two-column cluster (docs/theory.md, point 4), with their
    signed-permutation orbits: u_i split over two equal columns (4 roots, for each lam_i > s) and
    the 45-degree pair of u_i, u_j (8 roots, when both m = sqrt(lam) (sqrt(lam_i) +
    sqrt(lam_j)) / 2 exceed s)."""
    n = 4 * int(np.sum(lam > s))
    for i, j in itertools.combinations(range(lam.size), 2):
        mu_root = (np.sqrt(lam[i]) + np.sqrt(lam[j])) / 2
        if min(np.sqrt(lam[i]), np.sqrt(lam[j])) * mu_root > s:
            n += 8
    return n


@pytest.mark.slow
@pytest.mark.parametrize(
    "lam,s,q",
    [
        (["4", "1"], "1/2", 1),
        (["4", "1"], "1/2", 2),
        (["3", "2", "1"], "1/2", 1),
        (["3", "2", "1"], "1/2", 2),
        (["5", "1"], "2", 2),
    ],
)
def test_every_exact_root_of_the_gradient_is_enumerated_or_a_cluster(lam, s, q: int) -> None:
    """sympy's Groebner solve of grad ELBO = 0 (diagonal encoder, all parameters) on rational
    diagonal covariances: the roots with orthogonal columns are exactly the orbits of the
    enumerated points (each orbit complete, of the map's orbit_size), the others are equal-norm
    clusters, as many as the q = 2 cluster census predicts and as the enumerated clusters' orbits
    hold, and each is a saddle."""
    from fractions import Fraction

    from ppca_stability._symbolic._elbo_roots import real_stationary_loadings

    lam_f = np.array([float(Fraction(x)) for x in lam])
    s_f = float(Fraction(s))
    S = np.diag(lam_f)
    emap = elbo_stability_map(S, s_f, latent_dim=q)
    roots = [np.array(W.evalf(30), dtype=float) for W in real_stationary_loadings(lam, s, q)]
    by_active: dict[tuple[int, ...], int] = {}
    n_cluster = 0
    for W in roots:
        M = W.T @ W
        if np.max(np.abs(M - np.diag(np.diag(M)))) <= NORM_RTOL * max(np.max(np.diag(M)), s_f):
            live = [c for c in range(q) if M[c, c] > NORM_RTOL * s_f]
            active = tuple(sorted(int(np.argmax(np.abs(W[:, c]))) for c in live))
            ref = emap.point(active)  # ValueError if the map does not have it
            ref_norms = np.sort(np.einsum("ij,ij->j", ref.params.loadings, ref.params.loadings))
            assert np.allclose(np.sort(np.diag(M)), ref_norms, rtol=NORM_RTOL, atol=1e-12)
            by_active[active] = by_active.get(active, 0) + 1
        else:
            assert _is_cluster_root(W, lam_f, s_f), W
            V, D = optimal_encoder(W, s_f)
            c = classify_vae_point((V, np.log(D), W), S, s_f, method="dense")
            assert c.is_stationary and c.morse_index >= 1, c
            n_cluster += 1
    assert by_active == {p.active: p.orbit_size for p in emap.points}
    assert n_cluster == (_cluster_orbits_q2(lam_f, s_f) if q == 2 else 0)
    assert emap.complete == (n_cluster == 0)
    enumerated = elbo_stability_map(S, s_f, latent_dim=q, include_clusters=True).cluster_points
    assert n_cluster == sum(p.orbit_size or 0 for p in enumerated)


def test_an_equal_norm_cluster_is_a_stationary_saddle() -> None:
    """The simplest cluster (docs/theory.md): one eigenvector split over two equal columns,
    |w|^2 = m - s with 2 m^2 = lam (m + s); stationary for the diagonal encoder, Morse index
    one more than the orthogonal point with the same eigenvector."""
    lam, s = np.array([5.0, 3.0, 2.0, 1.0]), 0.5
    m = (lam[0] + np.sqrt(lam[0] ** 2 + 8 * lam[0] * s)) / 4
    w = np.sqrt((m - s) / 2) * np.eye(4)[:, 0]
    W = np.stack([w, w], 1)
    V, D = optimal_encoder(W, s)
    c = classify_vae_point((V, np.log(D), W), np.diag(lam), s)
    ref = elbo_stability_map(np.diag(lam), s, latent_dim=2).point((0,))
    assert c.stability is Stability.SADDLE and c.morse_index == ref.morse_index + 1


# ----------------------------------------------------------------------------- map facts
def test_the_map_matches_the_ppca_map_and_counts_symmetries() -> None:
    from ppca_stability import stability_map

    S = np.diag([5.0, 3.0, 2.0, 1.0, 0.0])
    for encoder in ("diagonal", "full"):
        emap = elbo_stability_map(S, 1.5, latent_dim=2, encoder=encoder)
        smap = stability_map(S, 1.5, latent_dim=2)
        assert emap.n_points == smap.n_points and emap.census() == smap.census()
        for p, r in zip(emap.points, smap.points):
            assert p.morse_index == r.morse_index and p.elbo == r.log_likelihood
            rot = r.symmetry_dim if encoder == "full" else 0
            assert p.symmetry_dim == rot + 2 * 1  # q (d - rank) null modes
        assert Stability.MINIMUM not in emap.stability_counts()
    assert elbo_stability_map(S, 1.5, latent_dim=2).global_maximum.orbit_size == 8
    assert not elbo_stability_map(S, 1.5, latent_dim=2).complete
    assert elbo_stability_map(S, 1.5, latent_dim=2, encoder="full").complete
    assert "ElboStabilityMap" in repr(elbo_stability_map(S, 1.5, latent_dim=2))


def test_a_live_tie_is_degenerate_for_the_diagonal_encoder_only() -> None:
    S = np.diag([3.0, 3.0, 1.0])
    with pytest.warns(DegeneracyWarning):
        diag = elbo_stability_map(S, 0.5, latent_dim=2)
    with pytest.warns(DegeneracyWarning):
        full = elbo_stability_map(S, 0.5, latent_dim=2, encoder="full")
    assert (
        diag.global_maximum.stability is Stability.DEGENERATE
        and diag.global_maximum.n_degenerate == 1
    )
    assert full.global_maximum.stability is Stability.MAXIMUM
    c = classify_quietly(diag.global_maximum.params, S, 0.5)
    assert (c.stability, c.n_degenerate) == (Stability.DEGENERATE, 1)


def test_sigma2_at_an_eigenvalue_is_degenerate() -> None:
    with pytest.warns(DegeneracyWarning):
        emap = elbo_stability_map(np.diag([4.0, 2.0, 1.0]), 2.0, latent_dim=2)
    assert emap.point((0,)).stability is Stability.DEGENERATE


def test_errors_name_the_parameter() -> None:
    S = np.eye(3)
    with pytest.raises(ValueError, match="`encoder` must be one of"):
        elbo_stability_map(S, 1.0, encoder="diag")
    p = (np.zeros((2, 3)), np.zeros(2), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="`encoder`='full' needs `params` as LinearVAEFullParams"):
        classify_vae_point(p, S, 1.0, encoder="full")
    with pytest.raises(ValueError, match="`method` must be one of"):
        classify_vae_point(p, S, 1.0, method="exact")
    with pytest.raises(ValueError, match="is not a stationary point"):
        elbo_stability_map(np.diag([4.0, 2.0, 1.0]), 1.5, latent_dim=2).point((2,))
