"""classify_point: the numeric (dense or structured) classification of any loadings, checked against
the closed-form stability map point by point, with ties, zeros and rotations; errors; repr."""

import warnings

import numpy as np
import pytest
from _support import FD_RTOL, FD_STEP, NUMERIC_RTOL, cov_from_eigenvalues, random_orthogonal
from hypothesis import assume, given, settings
from hypothesis import strategies as hs

from ppca_stability import (
    DegeneracyWarning,
    Stability,
    classify_point,
    log_likelihood_gradient,
    log_likelihood_hessian,
    stability_map,
)
from ppca_stability._base.classification import DEFAULT_HESSIAN_RTOL
from ppca_stability._ppca import classify as classify_module
from ppca_stability._ppca.hessian import dense_hessian_scaled
from ppca_stability._ppca.hessian_blocks import HessianBlocks, _n_positive
from ppca_stability._ppca.likelihood import Model


# ----------------------------------------------------------------------------- against the map
@pytest.mark.parametrize("sigma2", [0.4, 1.5, 2.5, "learned"])
def test_classify_point_agrees_with_map_on_every_point(sigma2, rng):
    lam = np.array([4.0, 3.1, 2.0, 1.2, 0.5])
    S = cov_from_eigenvalues(lam, rng)
    smap = stability_map(S, sigma2, latent_dim=3)
    for p in smap.points:
        c = classify_point(p.loadings, S, p.sigma2, sigma2_learned=smap.is_learned)
        assert c.is_stationary
        assert (c.stability, c.morse_index, c.symmetry_dim) == (
            p.stability,
            p.morse_index,
            p.symmetry_dim,
        )
        assert np.max(
            np.abs(c.hessian_eigenvalues - p.hessian_eigenvalues)
        ) <= NUMERIC_RTOL * np.max(np.abs(p.hessian_eigenvalues))


def test_classify_point_rotation_invariance_and_non_stationary(rng):
    S = cov_from_eigenvalues([4.0, 3.0, 2.0, 1.0, 0.5], rng)
    p = stability_map(S, 0.8, latent_dim=3).point((0, 2))
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    c = classify_point(p.loadings @ Q, S, 0.8)
    assert c.is_stationary and c.stability is p.stability and c.morse_index == p.morse_index
    moved = classify_point(p.loadings + 0.1 * rng.normal(size=p.loadings.shape), S, 0.8)
    assert not moved.is_stationary and moved.stability is Stability.NOT_STATIONARY


@given(
    lam=hs.lists(hs.sampled_from([0.0, 1.0, 2.0, 3.0, 5.0]), min_size=1, max_size=4),
    q=hs.integers(1, 4),
    s=hs.sampled_from([0.5, 1.0, 1.5, 2.0, 4.0, 6.0]),
    learned=hs.booleans(),
)
@settings(deadline=None, max_examples=60)
def test_ties_and_zeros_numeric_agrees_with_closed_form(lam, q, s, learned):
    """Spectra with exact ties, zeros and sigma2 on an eigenvalue: the closed-form map and the
    numeric classification agree point by point, nothing is NaN, warnings are ours and only
    when the map is degenerate."""
    lam = np.sort(np.array(lam))[::-1]
    d = lam.size
    q = min(q, d - 1 if learned else d)
    assume(q >= 1 and lam[0] > 0)
    S = cov_from_eigenvalues(lam, np.random.default_rng(d))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        smap = stability_map(S, "learned" if learned else s, latent_dim=q)
        assert bool(caught) == smap.has_degeneracy
        counted, degenerate = 0, smap.has_degeneracy
        for p in smap.points:
            degenerate |= p.n_degenerate > 0
            counted += 1
            assert np.all(np.isfinite(p.hessian_eigenvalues)) and np.isfinite(p.log_likelihood)
            c = classify_point(p.loadings, S, p.sigma2, sigma2_learned=learned)
            assert c.is_stationary
            assert (c.stability, c.morse_index, c.n_degenerate) == (
                p.stability,
                p.morse_index,
                p.n_degenerate,
            )
        assert counted == smap.n_points == sum(smap.census().values())
    assert all(issubclass(w.category, DegeneracyWarning) for w in caught)
    assert bool(caught) == degenerate


# ----------------------------------------------------------------------------- structured route
def _dense_restricted_eigenvalues(model, sym, joint):
    """Oracle: eigenvalues of the dense scaled Hessian restricted to an orthonormal basis of the
    symmetry modes' complement (a full QR of their closed-form basis)."""
    H = dense_hessian_scaled(model, joint)
    B = sym.basis(H.shape[0])
    comp = np.linalg.qr(B, mode="complete")[0][:, B.shape[1] :] if B.size else np.eye(len(H))
    return np.linalg.eigvalsh(comp.T @ H @ comp)


@pytest.mark.parametrize("seed", range(6))
def test_structured_counts_equal_dense_at_every_threshold(seed):
    """The derivation (theory.md §3, "Inertia of any W"): for random W, stationary or not, rank
    deficient or not, fixed or learned sigma2, the Haynsworth count of eigenvalues above t equals
    the dense Hessian's for t between every pair of consecutive eigenvalues (and beyond both
    ends): the whole spectrum's distribution, not only its signs."""
    rng = np.random.default_rng(seed)
    for _ in range(8):
        d = int(rng.integers(2, 8))
        q, joint = int(rng.integers(1, d + 1)), bool(rng.integers(2))
        lam = np.exp(rng.uniform(-3.0, 2.0, d))
        lam[rng.integers(d)] *= rng.integers(2)  # a zero eigenvalue half the time
        S = cov_from_eigenvalues(lam, rng)
        W = rng.standard_normal((d, q)) * rng.uniform(0.1, 3.0)
        W[:, -1] *= rng.integers(2)  # rank deficient half the time
        model = Model.build(W, S, float(np.exp(rng.uniform(-2.0, 1.0))))
        sym = classify_module.SymmetryBasis(model.W, np.sqrt(np.finfo(float).eps))
        h = _dense_restricted_eigenvalues(model, sym, joint)
        blocks = HessianBlocks.from_model(model, sym.w, joint)
        assert blocks.size == h.size
        gaps = np.diff(h)
        mids = (h[:-1] + gaps / 2)[gaps > 1e-6 * np.max(np.abs(h))]
        for t in np.concatenate([mids, [h[0] - 1.0, h[-1] + 1.0]]):
            assert blocks.count_above(t) == int(np.sum(h > t))


@given(
    lam=hs.lists(hs.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 5.0]), min_size=2, max_size=6),
    q=hs.integers(1, 3),
    s=hs.sampled_from([0.5, 1.0, 1.5, 2.0, 6.0]),
    learned=hs.booleans(),
)
@settings(deadline=None, max_examples=40)
def test_structured_agrees_with_map_on_ties_and_zeros(lam, q, s, learned):
    """The structured route against the closed form on spectra with ties, zeros and sigma2 on an
    eigenvalue (where the X X block is singular and the shifted solve is what makes it work)."""
    lam = np.sort(np.array(lam))[::-1]
    d = lam.size
    q = min(q, d - 1)
    assume(lam[0] > 0)
    S = cov_from_eigenvalues(lam, np.random.default_rng(d))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        smap = stability_map(S, "learned" if learned else s, latent_dim=q)
        for p in smap.points:
            c = classify_point(p.loadings, S, p.sigma2, sigma2_learned=learned, method="structured")
            assert (c.stability, c.morse_index, c.n_degenerate, c.symmetry_dim) == (
                p.stability,
                p.morse_index,
                p.n_degenerate,
                p.symmetry_dim,
            )


def _family(d, q, rng):
    """The spectrum family of the issue at size d: (name, eigenvalues, sigma2) triples."""
    i = np.arange(1, d + 1)
    logu = lambda decades: np.logspace(0.0, -decades, d)  # noqa: E731
    tied = np.repeat(np.linspace(4.0, 0.5, d // 4 + 1), 4)[:d]
    deficient = np.where(i <= 3 * d // 4, logu(3.0), 0.0)
    family = []
    for decades in (2, 4, 8):
        lam = logu(decades)
        for quantile in (0.1, 0.5, 0.9):
            family.append(
                (f"log-uniform {decades} dec, q{quantile}", lam, np.quantile(lam, 1 - quantile))
            )
    family += [
        ("power law i^-2", i**-2.0, float(i[q // 2] ** -2.0) * 1.01),
        ("clustered", np.repeat([5.0, 1.0, 0.1], -(-d // 3))[:d] * (1 + 1e-4 * rng.random(d)), 0.5),
        (
            "tied, sigma2 between ties",
            tied,
            float(np.mean(tied[[4 * (q // 4) + 3, 4 * (q // 4) + 4]])),
        ),
        ("rank deficient", deficient, float(deficient[q + 1])),
        ("sigma2 above lambda_1", logu(3.0), 2.0),
        ("sigma2 below lambda_d", logu(3.0), 1e-4),
        ("learned, log-uniform 4 dec", logu(4.0), "learned"),
    ]
    return family


def _points(smap):
    """Global maximum, an index-1 saddle, a high-index saddle (the lowest live set)."""
    top = smap.global_maximum
    pts = [top]
    k = len(top.active)
    m = smap.n_features if smap.is_learned else smap.n_above
    if 0 < k < m:
        pts.append(smap.point(top.active[:-1] + (k,)))
        for start in range(m - k, 0, -1):  # the lowest consecutive live set that is a point
            try:
                pts.append(smap.point(tuple(range(start, start + k))))
                break
            except ValueError:  # learned sigma2: kept eigenvalues must exceed the mean of the rest
                continue
    return pts


@pytest.mark.parametrize("d,q", [(24, 4), pytest.param(160, 16, marks=pytest.mark.slow)])
def test_structured_classifies_the_spectrum_family(d, q, rng):
    """Every spectrum of the family, maximum and saddles of low and high index, rotated (so that
    nothing is aligned with the eigenbasis) and, for the maximum, also moved by up to 1e-9 (trained
    weights: stationary within gtol) and by 1e-2 (not stationary): the structured route agrees
    with the closed form, and with the dense route, wherever the relative zero test can resolve
    the closed-form spectrum."""
    for name, lam, s in _family(d, q, rng):
        S = cov_from_eigenvalues(lam, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegeneracyWarning)
            smap = stability_map(S, s, latent_dim=q)
            for p in _points(smap):
                R = random_orthogonal(rng, q)
                c = classify_point(
                    p.loadings @ R, S, p.sigma2, sigma2_learned=smap.is_learned, method="structured"
                )
                dense = classify_point(
                    p.loadings @ R, S, p.sigma2, sigma2_learned=smap.is_learned, method="dense"
                )
                got = (c.stability, c.morse_index, c.n_degenerate)
                h = np.abs(p.hessian_eigenvalues)
                if np.any((h > 0) & (h <= 4 * DEFAULT_HESSIAN_RTOL * h.max())):
                    # A Hessian spanning more than 1 / rtol (8 decades, sigma2 at the bottom):
                    # the zero band (within a factor 4 between the routes) swallows some.
                    assert c.morse_index <= p.morse_index <= c.morse_index + c.n_degenerate
                    continue
                assert got == (p.stability, p.morse_index, p.n_degenerate), name
                assert got == (dense.stability, dense.morse_index, dense.n_degenerate), name
            p = smap.global_maximum
            scale = max(np.linalg.norm(p.loadings, 2), np.sqrt(p.sigma2))
            noise = scale * rng.standard_normal(p.loadings.shape)
            # Trained weights: the largest move by a power of 10 that is still stationary (none at 8
            # decades with sigma2 at the bottom: round-off alone is ~1e-8 there).
            step = next(
                e
                for e in (*(10.0 ** -np.arange(9, 16)), 0.0)
                if classify_point(
                    p.loadings + e * noise, S, p.sigma2, sigma2_learned=smap.is_learned
                ).is_stationary
            )
            c = classify_point(
                p.loadings + step * noise,
                S,
                p.sigma2,
                sigma2_learned=smap.is_learned,
                method="structured",
            )
            assert c.is_stationary and (c.stability, c.morse_index) == (
                p.stability,
                p.morse_index,
            ), name
            far = p.loadings + 1e-2 * scale * rng.standard_normal(p.loadings.shape)
            c = classify_point(
                far, S, p.sigma2, sigma2_learned=smap.is_learned, method="structured"
            )
            assert c.stability is Stability.NOT_STATIONARY, name


def test_structured_never_forms_the_dense_hessian(monkeypatch, rng):
    S = cov_from_eigenvalues(np.linspace(6.0, 0.5, 12), rng)
    p = stability_map(S, 0.3, latent_dim=4).point((0, 2, 3))

    def no_dense(*a, **k):
        raise AssertionError("dense Hessian formed")

    monkeypatch.setattr(classify_module, "dense_hessian_scaled", no_dense)
    c = classify_point(p.loadings @ random_orthogonal(rng, 4), S, 0.3, method="structured")
    assert (c.method, c.stability, c.morse_index, c.morse_index_exact) == (
        "structured",
        Stability.SADDLE,
        p.morse_index,
        True,
    )
    assert c.hessian_eigenvalues.size == 0


def test_sylvester_count_from_bunch_kaufman_equals_eigvalsh(rng):
    """The Schur complement's inertia from LAPACK sytrf (1 x 1 and 2 x 2 pivots: a zero leading
    block forces the latter) equals the count of positive eigenvalues; only the lower triangle is
    read."""
    for n in (1, 2, 5, 40):
        for _ in range(10):
            A = rng.standard_normal((n, n))
            A = A + A.T
            A[: n // 2, : n // 2] = 0.0
            expected = int(np.sum(np.linalg.eigvalsh(A) > 0.0))
            assert _n_positive(np.tril(A).copy()) == expected


def test_lanczos_is_a_deprecated_alias_of_structured():
    cov = np.diag([5.0, 3.0, 2.0])
    W = np.array([[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    with pytest.warns(FutureWarning, match="method='structured'"):
        c = classify_point(W, cov, 1.0, method="lanczos")
    assert (c.method, c.morse_index) == ("structured", 2)


@pytest.mark.slow
def test_structured_on_digits_global_maximum_and_a_saddle(digits_cov, rng):
    smap = stability_map(digits_cov, 0.5, latent_dim=20)
    R = random_orthogonal(rng, 20)
    for active, expected in [
        (tuple(range(20)), Stability.MAXIMUM),
        (tuple(range(19)) + (25,), Stability.SADDLE),
    ]:
        p = smap.point(active)
        c = classify_point(p.loadings @ R, digits_cov, 0.5, method="structured")
        assert c.stability is expected and c.morse_index == p.morse_index


# ------------------------------------------------------------------------ extremes, errors, repr
@pytest.mark.parametrize("method", ["dense", "structured"])
def test_classify_point_with_loadings_near_underflow(method):
    # The symmetry basis normalised by sqrt(w_a^2 + w_b^2), which underflowed to 0 for singular
    # values below ~1e-162 (found by the robustness fuzzing): NaN in the basis, LinAlgError.
    cov = np.diag([3.0, 2.0, 1.0])
    tiny = classify_point(np.full((3, 3), 8.39e-263), cov, 0.5, method=method)
    zero = classify_point(np.zeros((3, 3)), cov, 0.5, method=method)
    assert tiny.stability is zero.stability is Stability.MINIMUM
    # Collapsed relative to sqrt(sigma2): no orbit directions set apart, all 9 ascend (W = 0).
    assert (tiny.symmetry_dim, zero.symmetry_dim) == (0, 0)
    assert tiny.morse_index == zero.morse_index == 9


# ----------------------------------------------------------------------------- issue probes
@pytest.mark.parametrize("method", ["dense", "structured"])
def test_more_latents_than_features(method):
    """q > d raised IndexError. At W = 0 the Hessian is (lam_j - s) / s^2 (x) I_q (theory.md §3,
    dead columns): 2 eigenvalues above 1.5 and 2 below, each q = 6 times."""
    c = classify_point(np.zeros((4, 6)), np.diag([3.0, 2.0, 1.0, 0.5]), 1.5, method=method)
    assert (c.stability, c.morse_index, c.n_degenerate, c.symmetry_dim) == (
        Stability.SADDLE,
        12,
        0,
        0,
    )


def test_more_latents_than_features_hessian_matches_finite_differences(rng):
    """The Hessian for q > d (its I - P0 term missed the directions W does not reach)."""
    W, S = rng.standard_normal((3, 5)), cov_from_eigenvalues([3.0, 2.0, 1.0], rng)
    H = log_likelihood_hessian(W, S, 0.7)
    step = FD_STEP * np.eye(W.size)
    fd = np.array(
        [
            (
                log_likelihood_gradient(W + e.reshape(W.shape), S, 0.7)[0]
                - log_likelihood_gradient(W - e.reshape(W.shape), S, 0.7)[0]
            ).ravel()
            / (2 * FD_STEP)
            for e in step
        ]
    )
    assert np.max(np.abs(fd - H)) <= FD_RTOL * np.max(np.abs(H))


@pytest.mark.parametrize("method", ["dense", "structured"])
def test_tiny_loadings_are_rank_zero_relative_to_sigma(method):
    """W = 1e-10 e_1 at sigma2 = 0.5 was rank 1 (relative to its own largest singular value), so
    one ascent direction was set apart as a symmetry mode: Morse index 5 of 6 instead of 6."""
    W = np.zeros((3, 2))
    W[0, 0] = 1e-10
    c = classify_point(W, np.diag([3.0, 2.0, 1.0]), 0.5, method=method)
    assert (c.stability, c.morse_index, c.symmetry_dim) == (Stability.MINIMUM, 6, 0)


@pytest.mark.parametrize("method", ["dense", "structured"])
def test_huge_loadings_are_not_stationary(method):
    """W = 2e200 I: |W|^2 overflowed, the relative gradient was NaN, and the point DEGENERATE.
    The gradient is -W / |W|^2 to first order: relative norm sqrt(2) (two unit columns)."""
    c = classify_point(2e200 * np.eye(3, 2), np.diag([3.0, 2.0, 1.0]), 0.5, method=method)
    assert c.stability is Stability.NOT_STATIONARY and not c.is_stationary
    assert c.relative_gradient_norm == pytest.approx(np.sqrt(2.0), rel=1e-12)


def test_classify_point_method_must_be_a_known_one():
    with pytest.raises(
        ValueError,
        match="`method` must be one of 'auto', 'dense', 'structured', 'lanczos'; got 'svd'",
    ):
        classify_point(np.ones((2, 1)), np.eye(2), 1.0, method="svd")


def test_repr_names_the_stability():
    cov = np.diag([5.0, 3.0, 2.0, 1.0])
    smap = stability_map(cov, 1.5, latent_dim=2)
    assert "MAXIMUM" in repr(classify_point(smap.global_maximum.loadings, cov, 1.5))


def test_structured_repr_says_the_spectrum_is_not_computed():
    """The structured route returns counts only: an empty eigenvalue array, and a repr that says
    why instead of silently omitting the spectrum row."""
    cov = np.diag([5.0, 3.0, 2.0, 1.0])
    W = stability_map(cov, 1.5, latent_dim=2).global_maximum.loadings
    structured = classify_point(W, cov, 1.5, method="structured")
    dense = classify_point(W, cov, 1.5, method="dense")
    assert structured.hessian_eigenvalues.size == 0
    assert "not computed" in repr(structured)
    assert "not computed" not in repr(dense) and "hessian spectrum" in repr(dense)
