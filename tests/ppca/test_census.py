"""The Morse-index census (theory.md §3): Gaussian binomials vs enumeration."""

import collections

import numpy as np
import pytest
from _support import cov_from_eigenvalues

from ppca_stability import stability_map
from ppca_stability._ppca.census import (
    census_dict,
    census_size,
    check_census_size,
    gaussian_binomials,
)


@pytest.mark.parametrize(
    "d,q,sigma2", [(5, 2, 0.5), (6, 6, 0.05), (7, 3, 2.2), (6, 4, 10.0), (1, 1, 0.5)]
)
def test_census_equals_enumerated_morse_indices(d, q, sigma2, rng):
    lam = np.sort(rng.uniform(0.1, 5.0, size=d))[::-1]
    smap = stability_map(cov_from_eigenvalues(lam, rng), sigma2, latent_dim=q)
    enumerated = collections.Counter(p.morse_index for p in smap.points)
    census = smap.census()
    assert census == dict(sorted(enumerated.items()))
    assert sum(census.values()) == smap.n_points
    # no spurious local maxima at fixed sigma2: exactly one orbit of Morse index 0
    assert census.get(0) == 1


def test_census_is_exact_beyond_int64():
    c = census_dict(64, 64)
    assert sum(c.values()) == 2**64
    assert all(type(v) is int for v in c.values())
    assert sum(census_dict(100, 50).values()) == sum(
        __import__("math").comb(100, k) for k in range(51)
    )


def test_gaussian_binomial_symmetry_and_value_at_one():
    import math

    for m in range(0, 12):
        for k, poly in enumerate(gaussian_binomials(m, m)):
            assert int(poly.sum()) == math.comb(m, k)  # [m k]_1 = C(m, k)
            assert list(poly) == list(poly[::-1])  # palindromic
            assert poly.size == k * (m - k) + 1


def test_census_size_is_the_coefficients_touched():
    # closed form against the sum it abbreviates
    for m in range(0, 30):
        for q in range(1, 35):
            touched = sum(k * (m - k) + 1 for k in range(min(q, m) + 1)) + q * m + 1
            assert census_size(m, q) == touched


def test_oversized_census_is_refused_up_front_naming_its_size():
    # m = q = 2000 would touch 1.3e9 big-integer coefficients (was a MemoryError at d = 300)
    with pytest.raises(ValueError, match=r"1\.34e\+09 exact polynomial coefficients"):
        census_dict(2000, 2000)
    with pytest.raises(ValueError, match="distinct counts of eigenvalues"):
        check_census_size(range(200, 600), 200)
    check_census_size([100], 100)  # small enough
