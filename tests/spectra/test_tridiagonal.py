"""Eigenpairs of a subset: from one kept tridiagonal reduction (MRRR or inverse iteration, then the
Householder back-transform; the count on its T by Sturm sequence deciding between a subset and the
whole), and LAPACK's subset route of the partial spectra (`dense_top`).

Reference: ``numpy.linalg.eigh`` of the same matrix. Eigenvalues agree to 1e-12 lam_max;
eigenvectors are compared through the orthogonal projector onto the returned columns (unique
even where eigenvalues repeat, as long as a repeated value is wholly inside the subset), with
residuals ``||S u - lam u||`` and orthonormality checked directly.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs

from ppca_stability._base.tolerance import DEFAULT_RTOL
from ppca_stability._spectra.partial import dense_top
from ppca_stability._spectra.spectrum import dense_cut, reduced_above
from ppca_stability._spectra.sylvester import count_above_tridiagonal
from ppca_stability._spectra.tridiagonal import Reduction, checked_eigenvalues


def _rotated(lam: np.ndarray, seed: int = 0) -> np.ndarray:
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((lam.size, lam.size)))
    S = (Q * lam) @ Q.T
    return (S + S.T) / 2.0


def _check_pairs(S: np.ndarray, lam: np.ndarray, U: np.ndarray, expected: np.ndarray) -> None:
    scale = float(np.abs(expected).max(initial=1.0))
    np.testing.assert_allclose(lam, expected, rtol=0, atol=1e-12 * scale)
    assert U.shape == (S.shape[0], expected.size)
    np.testing.assert_allclose(U.T @ U, np.eye(expected.size), rtol=0, atol=1e-10)
    assert np.abs(S @ U - U * lam).max(initial=0.0) <= 1e-12 * scale


def _projector_error(S: np.ndarray, U: np.ndarray, n_top: int) -> float:
    """Distance between the projector onto `U` and onto the top `n_top` eigenvectors of `S`."""
    V = np.linalg.eigh(S)[1][:, ::-1][:, :n_top]
    return float(np.abs(U @ U.T - V @ V.T).max())


@pytest.mark.parametrize(
    "lam",
    [
        1.0 / np.arange(1.0, 301.0),  # a power-law tail: one cluster for inverse iteration
        np.r_[np.geomspace(50.0, 5.0, 5), np.full(120, 2.0), np.linspace(1.0, 0.1, 175)],
        np.logspace(12.0, 0.0, 300),
    ],
    ids=["power law", "repeated value above the cut", "twelve decades"],
)
def test_subset_by_value_matches_a_full_eigh(lam):
    S = _rotated(lam)
    full = np.linalg.eigvalsh(S)[::-1]
    above = 0.5 * (full[124] + full[125])  # 125 above; the repeated 2.0 wholly inside
    top, U = dense_top(S, above=above)
    _check_pairs(S, top, U, full[:125])
    assert _projector_error(S, U, 125) < 1e-9


def test_subset_by_index_and_the_empty_subset():
    S = _rotated(1.0 / np.arange(1.0, 201.0), seed=1)
    full = np.linalg.eigvalsh(S)
    for driver in ("auto", "stemr"):
        values, U = Reduction(S).pairs(190, 199, driver=driver)  # LAPACK's ascending indices
        _check_pairs(S, values, U, full[190:])
    values, U = dense_top(S, above=2.0)
    assert values.shape == (0,) and U.shape == (200, 0)
    top, U = dense_top(S, n_components=7)
    _check_pairs(S, top, U, full[::-1][:7])


def test_one_feature_needs_no_reduction():
    S = np.array([[3.0]])
    assert dense_top(S, above=2.0)[0].tolist() == [3.0]
    assert dense_top(S, above=3.0)[0].size == 0  # strictly above, as LAPACK's (vl, vu]
    lam, U = dense_top(S, n_components=1)
    assert lam.tolist() == [3.0] and U.tolist() == [[1.0]]


def test_the_eigenvalue_check_reads_the_same_reduction():
    # A rank-deficient covariance: its round-off eigenvalues need eigenvectors to be bounded.
    X = np.random.default_rng(2).standard_normal((30, 60))
    S = X.T @ X / 30
    lam = checked_eigenvalues(S)
    ref = np.linalg.eigvalsh(S)[::-1]
    np.testing.assert_allclose(lam[:29], ref[:29], rtol=1e-10)
    assert np.all(lam[30:] == 0.0)


@given(
    values=hs.lists(
        hs.sampled_from([0.0, 0.25, 1.0, 1.0 + 1e-9, 3.0, 7.5, 1e3]), min_size=2, max_size=40
    ),
    seed=hs.integers(0, 2**16),
    position=hs.floats(0.0, 1.0),
)
def test_subset_equals_full_eigh_on_tied_spectra(values, seed, position):
    """Any spectrum of repeated and nearly repeated values, any cut between two distinct
    eigenvalues: the subset is exactly the eigenvalues above it, with their invariant subspace."""
    lam = np.sort(np.asarray(values))[::-1]
    S = _rotated(lam, seed)
    full = np.linalg.eigvalsh(S)[::-1]
    gaps = np.flatnonzero(np.diff(full) < -1e-6 * max(full[0], 1.0))
    if not gaps.size:
        return
    k = int(gaps[min(int(position * gaps.size), gaps.size - 1)]) + 1
    top, U = dense_top(S, above=0.5 * (full[k - 1] + full[k]))
    _check_pairs(S, top, U, full[:k])
    assert _projector_error(S, U, k) < 1e-8


@given(
    diag=hs.lists(hs.sampled_from([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0]), min_size=1, max_size=30),
    off_scale=hs.sampled_from([0.0, 1e-300, 1e-8, 0.5, 2.0]),
    seed=hs.integers(0, 2**16),
    cut=hs.sampled_from([-1.0, 0.0, 0.5, 1.0, 1.7]),
)
def test_sturm_count_is_the_number_of_eigenvalues_above_the_cut(diag, off_scale, seed, cut):
    """The positive pivots of T - cut I count the eigenvalues of T above the cut: tridiagonal
    matrices with zero, subnormal and ordinary off-diagonals, and cuts at their diagonal values
    (zero pivots), away from which no eigenvalue lies within round-off."""
    a = np.asarray(diag)
    b = off_scale * np.random.default_rng(seed).choice([-1.0, 0.0, 1.0], a.size - 1)
    lam = np.linalg.eigvalsh(np.diag(a) + np.diag(b, 1) + np.diag(b, -1))
    margin = 1e-12 * max(1.0, float(np.abs(lam).max()))
    if np.any(np.abs(lam - cut) <= margin):
        # An eigenvalue at the cut: it counts as not above it, up to round-off on either side.
        lo = int(np.count_nonzero(lam > cut + margin))
        assert (
            lo
            <= count_above_tridiagonal(a, b, cut)
            <= lo + np.count_nonzero(np.abs(lam - cut) <= margin)
        )
    else:
        assert count_above_tridiagonal(a, b, cut) == int(np.count_nonzero(lam > cut))


def test_sturm_count_on_a_diagonal_matrix_at_its_values():
    a = np.array([3.0, 2.0, 2.0, 1.0])
    assert count_above_tridiagonal(a, np.zeros(3), 2.0) == 1
    assert count_above_tridiagonal(a, np.zeros(3), 0.0) == 4
    assert count_above_tridiagonal(np.array([5.0]), np.zeros(0), 4.0) == 1


@pytest.mark.parametrize("n_above", [0, 1, 40, 299])
def test_top_pairs_by_the_count_above_a_cut_and_every_pair_from_one_reduction(n_above):
    S = _rotated(1.0 / np.arange(1.0, 301.0), seed=2)
    full = np.linalg.eigvalsh(S)[::-1]
    cut = 0.5 * (full[n_above - 1] + full[n_above]) if n_above else 2.0
    reduction = Reduction(S)
    assert reduction.count_above(cut) == n_above
    values, U = reduction.top_pairs(reduction.count_above(cut))
    _check_pairs(S, values, U, full[:n_above])
    values, U = reduction.all_pairs()
    _check_pairs(S, values, U, full[::-1])


@pytest.mark.parametrize("whole", [True, False])
def test_reduced_above_returns_a_subset_or_every_pair_by_its_count(whole):
    """At most `max_count` pairs above the cut: those alone, with `rest_max` the cut. More, up
    to all but a sixteenth: every pair of T, those above the cut alone mapped back (the same
    either way). More still: every pair, the whole spectrum or (`whole` False) cut where the
    subset would have been."""
    lam = np.r_[np.geomspace(50.0, 5.0, 6), np.full(20, 2.0), np.linspace(1.0, 0.1, 174)]
    S = _rotated(lam, seed=3)
    full = np.linalg.eigvalsh(S)[::-1]
    d, trace = lam.size, float(lam.sum())
    top = reduced_above(S, 3.0, max_count=10, rtol=DEFAULT_RTOL, whole=whole)
    assert not top.is_complete and top.rest_max == dense_cut(3.0, DEFAULT_RTOL, d, trace)
    _check_pairs(S, top.eigenvalues, top.eigenvectors, full[:6])
    many = reduced_above(S, 1.5, max_count=10, rtol=DEFAULT_RTOL, whole=whole)
    assert not many.is_complete and many.rest_max == dense_cut(1.5, DEFAULT_RTOL, d, trace)
    assert many.trace == pytest.approx(trace, rel=1e-12)
    _check_pairs(S, many.eigenvalues, many.eigenvectors, full[:26])
    # The repeated 2.0 is wholly inside: its invariant subspace, not one basis of it.
    assert _projector_error(S, many.eigenvectors, 26) < 1e-9
    # Sign-fixed: each column's entry of largest magnitude is positive.
    U = many.eigenvectors
    assert np.all(U[np.abs(U).argmax(axis=0), np.arange(26)] > 0)
    nearly_all = reduced_above(S, 0.1025, max_count=10, rtol=DEFAULT_RTOL, whole=whole)
    assert nearly_all.is_complete == whole
    r = nearly_all.eigenvalues.size
    assert r == (d if whole else 199)
    _check_pairs(S, nearly_all.eigenvalues, nearly_all.eigenvectors, full[:r])


def test_many_pairs_above_the_cut_are_checked_like_the_complete_spectrum():
    """Mapping back only the pairs above the cut still reads every eigenvalue of T: a
    covariance with a negative eigenvalue is refused as the complete route refuses it, and
    eigenvalues within round-off of 0 are judged from their own eigenvectors (mapped back
    from copies, leaving those above the cut intact)."""
    bad = _rotated(np.r_[np.linspace(5.0, 1.0, 150), np.linspace(0.9, 0.1, 49), -0.5], seed=5)
    with pytest.raises(ValueError, match="positive semi-definite; its smallest eigenvalue"):
        reduced_above(bad, 2.0, max_count=10, rtol=DEFAULT_RTOL)
    rank = np.random.default_rng(6).standard_normal((200, 150))
    S = rank @ rank.T / 150  # rank 150: 50 eigenvalues at round-off
    full = np.linalg.eigvalsh(S)[::-1]
    cut = float(np.median(full[:150]))
    many = reduced_above(S, cut, max_count=10, rtol=DEFAULT_RTOL)
    n = int(np.count_nonzero(full > cut))
    assert not many.is_complete and many.eigenvalues.size == n
    _check_pairs(S, many.eigenvalues, many.eigenvectors, full[:n])


def test_the_top_of_every_pair_of_t_maps_back_in_place():
    S = _rotated(1.0 / np.arange(1.0, 101.0), seed=7)
    full = np.linalg.eigvalsh(S)
    reduction = Reduction(S)
    values, V = reduction.tridiagonal_pairs()
    np.testing.assert_allclose(values, full, rtol=0, atol=1e-13)
    low = V[:, :60].copy()
    U = reduction.top_of(V, 40)
    assert np.shares_memory(U, V) and np.array_equal(V[:, :60], low)
    _check_pairs(S, values[60:], U, full[60:])
    assert reduction.top_of(V, 0).shape == (100, 0)


def test_reduced_above_a_cut_in_the_round_off_band_or_of_one_feature_is_complete():
    S = _rotated(np.r_[4.0, 2.0, np.zeros(8)], seed=4)
    assert reduced_above(S, 1e-20, max_count=1, rtol=DEFAULT_RTOL).is_complete
    one = reduced_above(np.array([[3.0]]), 1.0, max_count=1, rtol=DEFAULT_RTOL)
    assert one.is_complete and one.eigenvalues.tolist() == [3.0]
