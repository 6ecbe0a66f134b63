"""classify_point: the numeric (dense or Lanczos) classification of any loadings, checked against
the closed-form stability map point by point, with ties, zeros and rotations; errors; repr."""

import warnings

import numpy as np
import pytest
from _support import NUMERIC_RTOL, cov_from_eigenvalues
from hypothesis import assume, given, settings
from hypothesis import strategies as hs

from ppca_stability import DegeneracyWarning, Stability, classify_point, stability_map
from ppca_stability import _classify as classify_module


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


# ----------------------------------------------------------------------------- Lanczos (Hessian-free)
@pytest.mark.parametrize(
    "active,expected", [((0, 1, 2, 3), Stability.MAXIMUM), ((0, 2, 3), Stability.SADDLE)]
)
def test_lanczos_decides_maximum_vs_saddle_without_dense_hessian(
    active, expected, monkeypatch, rng
):
    lam = np.linspace(6.0, 0.5, 12)
    S = cov_from_eigenvalues(lam, rng)
    p = stability_map(S, 0.3, latent_dim=4).point(active)
    Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))

    def no_dense(*a, **k):
        raise AssertionError("dense Hessian formed")

    monkeypatch.setattr(classify_module, "dense_hessian_scaled", no_dense)
    c = classify_point(p.loadings @ Q, S, 0.3, method="lanczos")
    assert c.method == "lanczos" and c.stability is expected
    assert c.morse_index == min(p.morse_index, 6) and c.morse_index_exact == (p.morse_index < 6)
    top = np.sort(p.hessian_eigenvalues[p.hessian_eigenvalues != 0])[-6:]
    assert np.allclose(np.sort(c.hessian_eigenvalues)[-6:], top, rtol=1e-6, atol=1e-8)


@pytest.mark.slow
def test_lanczos_on_digits_global_maximum_and_a_saddle(digits_cov, rng):
    smap = stability_map(digits_cov, 0.5, latent_dim=20)
    R, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    for active, expected in [
        (tuple(range(20)), Stability.MAXIMUM),
        (tuple(range(19)) + (25,), Stability.SADDLE),
    ]:
        p = smap.point(active)
        c = classify_point(p.loadings @ R, digits_cov, 0.5, method="lanczos")
        assert c.stability is expected and c.morse_index == min(p.morse_index, 6)


# ----------------------------------------------------------------------------- extreme loadings, errors, repr
@pytest.mark.parametrize("method", ["dense", "lanczos"])
def test_classify_point_with_loadings_near_underflow(method):
    # The symmetry basis normalised by sqrt(w_a^2 + w_b^2), which underflowed to 0 for singular
    # values below ~1e-162 (found by the robustness fuzzing): NaN in the basis, LinAlgError.
    cov = np.diag([3.0, 2.0, 1.0])
    tiny = classify_point(np.full((3, 3), 8.39e-263), cov, 0.5, method=method)
    zero = classify_point(np.zeros((3, 3)), cov, 0.5, method=method)
    assert tiny.stability is zero.stability is Stability.MINIMUM
    # A rank-1 W has 2 orbit directions, set apart; at W = 0 they are ascent directions too.
    assert (tiny.symmetry_dim, zero.symmetry_dim) == (2, 0)
    if method == "dense":  # Lanczos computes 6 eigenvalues: its Morse index is a lower bound
        assert tiny.morse_index + tiny.symmetry_dim == zero.morse_index == 9


def test_classify_point_method_must_be_a_known_one():
    with pytest.raises(
        ValueError, match="`method` must be one of 'auto', 'dense', 'lanczos'; got 'svd'"
    ):
        classify_point(np.ones((2, 1)), np.eye(2), 1.0, method="svd")


def test_repr_names_the_stability():
    cov = np.diag([5.0, 3.0, 2.0, 1.0])
    smap = stability_map(cov, 1.5, latent_dim=2)
    assert "MAXIMUM" in repr(classify_point(smap.global_maximum.loadings, cov, 1.5))
