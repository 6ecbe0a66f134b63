"""The Morse-index census of the stationary points at fixed ``s`` (theory.md §3).

For distinct eigenvalues, with ``m = m(s)`` eigenvalues above ``s``, counting stationary orbits by
Morse index gives the generating polynomial

    P_s(t) = sum_{k=0}^{min(q, m)} t^{(q - k)(m - k)} [m choose k]_t

where ``[m choose k]_t`` is the Gaussian binomial: the statistic ``sum_c (i_c - c)`` over
``k``-subsets of ``{1..m}`` is the inversion count that the Gaussian binomial enumerates.
Coefficients are exact integers: int64 while ``2^m`` fits, Python ints beyond.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["gaussian_binomials", "census_polynomial", "census_dict"]


def _dtype(m: int) -> type:
    # Every coefficient of every [m choose k]_t is at most sum_k C(m, k) = 2^m.
    return np.int64 if m <= 62 else object


def _times_one_minus_t_pow(poly: np.ndarray, a: int) -> np.ndarray:
    out = np.concatenate([poly, np.zeros(a, dtype=poly.dtype)])
    out[a:] -= poly
    return out


def _divide_one_minus_t_pow(poly: np.ndarray, a: int) -> np.ndarray:
    # c = b / (1 - t^a)  <=>  c_n = b_n + c_{n-a}: cumulative sums along each residue class mod a.
    n = poly.size
    pad = (-n) % a
    blocks = np.concatenate([poly, np.zeros(pad, dtype=poly.dtype)]).reshape(-1, a)
    return np.cumsum(blocks, axis=0).ravel()[: n - a]


@lru_cache(maxsize=256)
def gaussian_binomials(m: int, kmax: int) -> tuple[np.ndarray, ...]:
    """Coefficient arrays of ``[m choose k]_t`` for ``k = 0..kmax`` (lowest degree first).

    Uses ``[m, k] = [m, k-1] (1 - t^{m-k+1}) / (1 - t^k)``: O(deg) per step, exact.
    """
    out: list[np.ndarray] = [np.ones(1, dtype=_dtype(m))]
    for k in range(1, kmax + 1):
        out.append(_divide_one_minus_t_pow(_times_one_minus_t_pow(out[-1], m - k + 1), k))
    return tuple(out)


@lru_cache(maxsize=256)
def census_polynomial(m: int, q: int) -> np.ndarray:
    """Coefficients of ``P_s(t)``: entry ``n`` = number of orbits with Morse index ``n``."""
    kmax = min(q, m)
    binoms = gaussian_binomials(m, kmax)
    degree = max((q - k) * (m - k) + k * (m - k) for k in range(kmax + 1))
    poly: np.ndarray = np.zeros(degree + 1, dtype=_dtype(m))
    for k, b in enumerate(binoms):
        shift = (q - k) * (m - k)
        poly[shift : shift + b.size] += b
    return poly


def census_dict(m: int, q: int) -> dict[int, int]:
    """``{morse_index: count}`` with Python ints, zero counts omitted, keys ascending."""
    poly = census_polynomial(m, q)
    return {int(n): int(c) for n, c in enumerate(poly) if c}
