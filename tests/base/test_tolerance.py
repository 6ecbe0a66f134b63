"""Ties and tolerances: the grid-wide degeneracy test against the map's, value by value."""

import warnings

import numpy as np
import pytest
from _support import SPECTRUM

from ppca_stability import (
    DegeneracyWarning,
    PrecisionWarning,
    covariance,
    ppca_mle,
    spectrum,
    stability_map,
)
from ppca_stability._base.tolerance import (
    fixed_degeneracy,
    is_roundoff,
    n_above,
    resolution,
    roundoff_threshold,
    tie_sign,
)


def test_tie_sign_and_n_above_share_one_tie_rule():
    # Within rtol * max(|a|, |b|) + floor: tied (0), and a tied eigenvalue is not above s.
    lam = np.array([4.0, 2.0 + 1e-12, 1.0])
    assert tie_sign(lam, 2.0, 1e-9, 0.0).tolist() == [1, 0, -1]
    assert n_above(lam, 2.0, 1e-9, 0.0) == 1
    assert n_above(lam, 2.0, 0.0, 0.0) == 2
    assert n_above(lam, np.array([0.5, 2.0, 5.0]), 1e-9, 0.0).tolist() == [3, 1, 0]


def test_grid_degeneracy_test_agrees_with_the_map_at_each_value():
    # Phase diagrams decide degeneracy for a whole sigma2 grid at once (fixed_degeneracy); a map
    # built at each grid value must agree. Eigenvalues, values 1e-12 above them, and others.
    grid = np.concatenate([SPECTRUM, SPECTRUM * (1 + 1e-12), [0.05, 2.0, 9.0]])
    for lam in (SPECTRUM, np.array([3.0, 1.0, 1.0, 0.5])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegeneracyWarning)
            maps = [stability_map(np.diag(lam), float(s), latent_dim=2) for s in grid]
        n_near, tied_above = fixed_degeneracy(lam, grid, maps[0].rtol, maps[0].floor)
        for g, smap in enumerate(maps):
            assert bool(n_near[g] > 0 or tied_above[g]) == smap.has_degeneracy


def _rotated(lam: np.ndarray, seed: int = 0) -> np.ndarray:
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((lam.size, lam.size)))
    S = (Q * lam) @ Q.T
    return (S + S.T) / 2.0


def test_sigma2_below_the_eigenvalue_resolution_is_announced():
    # Rotated, the eigenvalues 4..1 next to 1e16 are below float64's resolution of the matrix
    # (d eps 1e16 = 11.1) and become 0: at sigma2 = 0.5 the map then shows 2 of the 32 points.
    # That cannot be fixed from the matrix, but it must not pass silently.
    C = _rotated(np.array([1e16, 4.0, 3.0, 2.0, 1.0]))
    res = f"{roundoff_threshold(1e16, 5):.3g}"
    with pytest.warns(PrecisionWarning, match=r"4 zero eigenvalue\(s\) may be genuine"):
        with pytest.warns(DegeneracyWarning):
            smap = stability_map(C, 0.5)
    assert smap.n_points == 2
    with pytest.warns(PrecisionWarning, match=f"below {res}"):
        ppca_mle(C, 3, sigma2=0.5)
    with pytest.raises(ValueError, match=rf"rank 1 \(its other 4 eigenvalues are below {res}"):
        ppca_mle(C, 3)
    # Unrotated, each is resolved by its own error bound: all 32 points, no warning.
    assert stability_map(np.diag([1e16, 4.0, 3.0, 2.0, 1.0]), 0.5).n_points == 32


def test_sigma2_above_the_resolution_of_a_rank_deficient_covariance_is_silent():
    C = _rotated(np.array([5.0, 3.0, 2.0, 0.0, 0.0]))
    assert stability_map(C, 1e-6).n_points == 8  # 2**3 active sets, no warning
    assert resolution(np.array([5.0, 0.0])) == pytest.approx(2 * np.finfo(float).eps * 5)


def test_the_round_off_rule_is_numpys_matrix_rank_tolerance(rng):
    # numpy.linalg.matrix_rank's default: singular values above S.max() * max(M, N) * eps count.
    for n, d in [(3, 8), (5, 20), (40, 30), (200, 6)]:
        X = rng.standard_normal((n, min(n, d))) @ rng.standard_normal((min(n, d), d))
        C = covariance(X)
        lam = spectrum(C).eigenvalues
        assert np.count_nonzero(lam) == np.linalg.matrix_rank(C)
        assert np.count_nonzero(~is_roundoff(lam, lam[0], d)) == np.linalg.matrix_rank(C)


def test_a_resolved_small_eigenvalue_next_to_a_large_one_keeps_its_points():
    # Rotated diag(1e13, 4, 3, 2, 1): the threshold is d eps 1e13 = 0.011 and each computed
    # eigenvalue is within it of the exact one (the eigensolver's backward error), so at
    # sigma2 = 0.5, well above both the threshold and that error, every eigenvalue lies above
    # sigma2 and the map has all 2^5 points, with no warning. (The 100x coarser rule zeroed the
    # eigenvalue 1 and showed 16 points.)
    exact = np.array([1e13, 4.0, 3.0, 2.0, 1.0])
    C = _rotated(exact, seed=1)
    threshold = roundoff_threshold(1e13, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lam = spectrum(C).eigenvalues
        assert np.all(np.abs(lam[1:] - exact[1:]) <= threshold)
        assert stability_map(C, 0.5, latent_dim=5).n_points == 2**5
    # Below the resolution a sigma2 is still announced when zero eigenvalues exist.
    rank_deficient = _rotated(np.array([1e13, 4.0, 3.0, 2.0, 0.0]), seed=1)
    with pytest.warns(PrecisionWarning, match=f"below {threshold:.3g}"):
        with pytest.warns(DegeneracyWarning):  # 1e-3 is tied with 0 within the floor
            stability_map(rank_deficient, 1e-3, latent_dim=4)
