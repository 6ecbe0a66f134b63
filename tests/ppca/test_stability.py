"""stability_map: the closed-form classification of every stationary point (Morse index, symmetry
orbit, degeneracies), the census and stability counts, the lazy point sequence, reprs.

The numeric classification of arbitrary loadings (classify_point) is tested in test_classify.py.
"""

import math
import sys
import warnings
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from ppca_stability import DegeneracyWarning, Stability, classify_point, ppca_mle, stability_map
from ppca_stability._ppca import enumeration as enumeration
from ppca_stability.strategies import covariances, sigma2_values, spectra

LAM = np.array([5.0, 3.0, 2.0, 1.0])


def _morse_formula(active, m, q):
    """theory.md §3: n+ = (q - k)(m - k) + sum_c (i_c - c), 1-based i_c sorted, distinct
    eigenvalues."""
    k = len(active)
    return (q - k) * (m - k) + sum(i - c for c, i in enumerate(active))


# ----------------------------------------------------------------------------- closed form
@given(data=hs.data(), q=hs.integers(1, 6))
@settings(deadline=None, max_examples=60)
def test_morse_index_formula_and_single_maximum(data, q):
    # Distinct eigenvalues (relative gaps from 1e-6), sigma2 off them: between two or outside.
    lam = data.draw(spectra(max_dim=6, min_value=0.05, max_value=50.0, min_gap=1e-6), label="lam")
    cov = data.draw(covariances(lam), label="cov")
    s = data.draw(sigma2_values(lam, kinds=("between", "outside")), label="sigma2")
    q = min(q, lam.size)
    smap = stability_map(cov, s, latent_dim=q)
    m = smap.n_above
    maxima = []
    for p in smap.points:
        assert p.morse_index == _morse_formula(p.active, m, q)
        assert p.symmetry_dim == p.n_active * (p.n_active - 1) // 2 + p.n_active * (q - p.n_active)
        assert p.n_degenerate == 0
        if p.stability is Stability.MAXIMUM:
            maxima.append(p.active)
    assert maxima == [tuple(range(min(q, m)))] == [smap.global_maximum.active]
    # W = 0 is a minimum iff sigma2 < lam_min
    assert (smap.points[0].stability is Stability.MINIMUM) == (s < lam[-1])


def test_zero_loadings_is_maximum_iff_sigma2_above_top_eigenvalue():
    above = stability_map(np.diag(LAM), 6.0, latent_dim=2)
    assert above.n_points == 1 and above.global_maximum.active == ()
    assert above.global_maximum.stability is Stability.MAXIMUM
    with pytest.warns(DegeneracyWarning):
        at = stability_map(np.diag(LAM), 5.0, latent_dim=2)
    assert at.global_maximum.active == () and at.global_maximum.stability is Stability.DEGENERATE


# ----------------------------------------------------------------------------- degeneracies
def test_ties_and_sigma2_at_eigenvalue_are_degenerate_and_warn():
    with pytest.warns(DegeneracyWarning, match="degenerate"):
        smap = stability_map(np.diag([3.0, 3.0, 1.0]), 0.5, latent_dim=1)
    by = {p.active: p for p in smap.points}
    assert by[(0,)].stability is Stability.DEGENERATE and by[(0,)].n_degenerate == 1
    assert smap.global_maximum.active == (0,)
    # W = 0: q m = 3 ascent directions; (0,), (1,): none (a zero mode instead); (2,): two
    assert smap.census() == {0: 2, 2: 1, 3: 1}
    with pytest.warns(DegeneracyWarning):
        at = stability_map(np.diag([3.0, 2.0, 1.0]), 2.0, latent_dim=2)
    assert at.n_above == 1 and all(not np.any(np.isnan(p.hessian_eigenvalues)) for p in at.points)
    assert Stability.DEGENERATE in at.stability_counts()


def test_no_warning_when_nothing_is_degenerate():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stability_map(np.diag(LAM), 1.5)


def test_singular_digits_covariance(digits_cov):
    S = digits_cov
    smap = stability_map(S, 1.0, latent_dim=10)
    lam = smap.eigenvalues
    assert lam.shape == (64,) and np.all(lam >= 0) and np.sum(lam < 1e-9 * lam[0]) == 3
    g = smap.global_maximum
    assert g.stability is Stability.MAXIMUM and g.active == tuple(range(10))
    assert np.all(np.isfinite(g.hessian_eigenvalues))
    assert smap.census()[0] == 1 and sum(smap.census().values()) == smap.n_points
    learned = stability_map(S, "learned", latent_dim=10).global_maximum
    fit = ppca_mle(S, 10)
    assert learned.sigma2 == pytest.approx(fit.sigma2) and learned.stability is Stability.MAXIMUM


def test_learned_unbounded_when_rank_at_most_latent_dim():
    smap = stability_map(np.diag([3.0, 1.0, 0.0, 0.0]), "learned", latent_dim=2)
    with pytest.raises(ValueError, match="unbounded"):
        smap.global_maximum
    with pytest.raises(ValueError, match="unbounded"):
        ppca_mle(np.diag([3.0, 1.0, 0.0, 0.0]), 2)
    assert "none" in repr(smap)


@pytest.mark.parametrize("d", [1, 2])
def test_tiny_dimensions_and_latent_dim_equal_d(d):
    S = np.diag(np.arange(d, 0, -1.0))
    smap = stability_map(S, 0.5)
    assert smap.latent_dim == d and smap.global_maximum.active == tuple(range(d))
    assert smap.n_points == 2**d
    assert classify_point(smap.global_maximum.loadings, S, 0.5).stability is Stability.MAXIMUM


# ----------------------------------------------------------------------------- API
def test_points_are_lazy_and_counts_exact_when_huge():
    lam = np.linspace(10.0, 1.0, 200)
    smap = stability_map(np.diag(lam), 0.5, latent_dim=150)
    n = smap.n_points
    assert n == sum(math.comb(200, k) for k in range(151)) and n > sys.maxsize
    with pytest.raises(OverflowError, match="n_points"):
        len(smap.points)
    assert smap.points[0].active == () and smap.points[-1].active == tuple(range(50, 200))
    assert smap.points[1].active == (0,)
    assert sum(smap.census().values()) == n


def test_sequence_protocol_and_point_lookup():
    smap = stability_map(np.diag(LAM), 1.5, latent_dim=2)
    pts = list(smap.points)
    assert len(smap.points) == len(pts) == 7
    assert [p.active for p in smap.points[2:5]] == [p.active for p in pts[2:5]]
    assert smap.points[-1].active == pts[-1].active == (1, 2)
    assert smap.point([2, 0]).active == (0, 2)
    with pytest.raises(ValueError, match="do not exceed sigma2"):
        smap.point((3,))
    with pytest.raises(ValueError, match="latent_dim"):
        smap.point((0, 1, 2))
    with pytest.raises(ValueError, match="repeat"):
        smap.point((0, 0))
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        smap.point((7,))
    with pytest.raises(TypeError, match="integer"):
        smap.point(("a",))
    with pytest.raises(IndexError):
        smap.points[7]
    learned = stability_map(np.diag(LAM), "learned", latent_dim=2)
    with pytest.warns(DegeneracyWarning):  # s_(0,) = 2 = lam_2
        assert [p.active for p in learned.points] == [(), (0,), (1,), (0, 1)]  # s_(1,) = 8/3 < 3
    assert learned.points[-1].active == (0, 1)
    with pytest.raises(ValueError, match="s_I"):
        learned.point((2,))


def test_reprs_are_short_tables():
    smap = stability_map(np.diag(LAM), 1.5, latent_dim=2)
    text = repr(smap)
    assert (
        "StabilityMap" in text and "n_points        7" in text and "maximum: 1, saddle: 6" in text
    )
    assert len(text.splitlines()) <= 8
    assert "StationaryPoint(active=(0, 1)" in repr(smap.global_maximum)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (
            dict(cov=np.eye(2), sigma2="learned", latent_dim=2),
            ValueError,
            "`latent_dim` must be below",
        ),
        (dict(cov=np.eye(1), sigma2="learned"), ValueError, "`sigma2`='learned' needs at least 2"),
    ],
)
def test_learned_sigma2_needs_latent_dim_below_n_features(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        stability_map(**kwargs)


def test_learned_point_with_s_tied_to_a_discarded_eigenvalue_warns():
    smap = stability_map(np.diag([5.0, 3.0, 2.0, 1.0]), "learned", latent_dim=2)
    with pytest.warns(DegeneracyWarning, match=r"\(0,\) is degenerate"):
        p = smap.point((0,))  # s_I = mean(3, 2, 1) = 2 = lam_2, with a dead column
    assert p.stability is Stability.SADDLE and p.n_degenerate == 1


@pytest.mark.parametrize("sigma2", [0.5, "learned"])
def test_n_points_is_a_python_int(sigma2):
    # A NumPy bool added to the running count made the joint count an int64, which raises
    # OverflowError on the big-int binomials that large maps add.
    smap = stability_map(np.diag(np.arange(12.0, 0.0, -1.0)), sigma2, latent_dim=4)
    assert type(smap.n_points) is int and smap.n_points > 1
    assert type(enumeration.count_joint(smap.eigenvalues, 4)) is int


def test_learned_points_by_index_equal_the_enumeration():
    # Indexing a learned map unranks (no walk over the enumeration): same points, same order.
    smap = stability_map(np.diag(np.geomspace(10.0, 1.0, 24)), "learned", latent_dim=5)
    walked = [p.active for p in smap.points]
    assert len(walked) == smap.n_points > 100
    assert [smap.points[i].active for i in range(len(walked))] == walked
    assert [p.active for p in smap.points[-5:]] == walked[-5:]


def test_stability_counts_and_repr_need_no_census():
    # Regression: `map` with the default latent_dim grew O(d^3) in memory (d = 400: 1 GB), the
    # census's Gaussian binomials. Counts by stability are closed forms; an oversized census is
    # refused with its size instead of exhausting memory.
    lam = np.geomspace(100.0, 1.0, 1000)
    with mock.patch.object(
        sys.modules["ppca_stability._ppca.stability"], "census_dict", side_effect=AssertionError
    ):
        smap = stability_map(np.diag(lam), 0.5)
        counts = smap.stability_counts()
        repr(smap)
    assert counts == {Stability.MAXIMUM: 1, Stability.MINIMUM: 1, Stability.SADDLE: 2**1000 - 2}
    with pytest.raises(ValueError, match="polynomial coefficients"):
        smap.census()


def test_a_points_loadings_are_formed_on_first_access_only(monkeypatch):
    """A point's classification, log-likelihood and latent counts do not form its d x q
    loadings; the first access does, once, and returns the closed-form W_I (live columns
    sqrt(lam_i - sigma2) u_i, then zeros)."""
    calls = []
    original = enumeration.stationary_loadings

    def recorded(*args):
        calls.append(args[2])  # the active set
        return original(*args)

    monkeypatch.setattr(enumeration, "stationary_loadings", recorded)
    smap = stability_map(np.diag([4.0, 3.0, 1.0]), 0.5, latent_dim=3)
    points = list(smap.points)
    g = smap.global_maximum
    summary = [(p.stability, p.log_likelihood, p.n_active, p.latent_dim) for p in points]
    assert calls == [] and len(summary) == smap.n_points
    W = g.loadings
    assert W is g.loadings and calls == [(0, 1, 2)]
    np.testing.assert_allclose(W @ W.T, np.diag([3.5, 2.5, 0.5]), atol=1e-14)
    saddle = next(p for p in points if p.active == (1,))
    np.testing.assert_allclose(saddle.loadings, [[0.0, 0, 0], [2.5**0.5, 0, 0], [0, 0, 0]])
    assert saddle.loadings.shape == (3, saddle.latent_dim) and len(calls) == 2
