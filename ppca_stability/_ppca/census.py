"""The Morse-index census of the stationary points at fixed ``s`` (theory.md §3).

For distinct eigenvalues, with ``m = m(s)`` eigenvalues above ``s``, counting stationary orbits by
Morse index gives the generating polynomial

    P_s(t) = sum_{k=0}^{min(q, m)} t^{(q - k)(m - k)} [m choose k]_t

where ``[m choose k]_t`` is the Gaussian binomial: the statistic ``sum_c (i_c - c)`` over
``k``-subsets of ``{1..m}`` is the inversion count that the Gaussian binomial enumerates.
Coefficients are exact integers: int64 while ``2^m`` fits, Python ints beyond.

Cost. Building ``P_s`` touches ``census_size(m, q)`` coefficients (the Gaussian binomials one
after the other, plus ``P_s`` itself, ``q m + 1`` entries): about ``m^3 / 6`` for ``q = m``, with
Python ints of up to ``m`` bits once ``m > 62``. Nothing is cached here and only one binomial is
alive at a time; a census beyond `MAX_CENSUS_SIZE` coefficients is refused with a `ValueError`
naming its size (at ``m = q = 200`` it took 38 s and 4.2 GB for a phase diagram when every
binomial of every ``m`` was kept in an ``lru_cache``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

__all__ = [
    "MAX_CENSUS_SIZE",
    "census_size",
    "check_census_size",
    "gaussian_binomials",
    "census_polynomial",
    "census_dict",
]

# Coefficients (of all the Gaussian binomials and the polynomial) a census may touch: m = q = 500
# (2.1e7) takes about 10 s and 0.3 GB; beyond it the census is refused.
MAX_CENSUS_SIZE = 25_000_000


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


def census_size(m: int, q: int) -> int:
    """Coefficients a census at ``(m, q)`` touches: every ``[m choose k]_t`` (``k (m - k) + 1``
    each, ``k <= min(q, m)``) and ``P_s`` itself (``q m + 1``)."""
    kmax = min(q, m)
    # sum_{k=0}^{K} (k (m - k) + 1) in closed form
    binomials = m * kmax * (kmax + 1) // 2 - kmax * (kmax + 1) * (2 * kmax + 1) // 6 + kmax + 1
    return binomials + q * m + 1


def check_census_size(ms: Iterable[int], q: int, what: str = "census") -> None:
    """Raise a `ValueError` naming the size when the censuses at every ``m`` in `ms` (distinct
    values, as a phase diagram needs them) together are too large."""
    ms = sorted(set(ms))
    size = sum(census_size(m, q) for m in ms)
    if size > MAX_CENSUS_SIZE:
        where = (
            f"{ms[0]} eigenvalues" if len(ms) == 1 else f"{len(ms)} distinct counts of eigenvalues"
        )
        raise ValueError(
            f"`{what}` at {where} above sigma2 and latent_dim = {q} needs {size:.3g} exact "
            f"polynomial coefficients (about m^3 / 6 each), above the limit of "
            f"{MAX_CENSUS_SIZE:.3g}. Reduce latent_dim or raise sigma2; the counts by stability "
            "need no census."
        )


def gaussian_binomials(m: int, kmax: int) -> Iterator[np.ndarray]:
    """Coefficient arrays of ``[m choose k]_t`` for ``k = 0..kmax`` (lowest degree first), one at
    a time (only the current one is kept).

    Uses ``[m, k] = [m, k-1] (1 - t^{m-k+1}) / (1 - t^k)``: O(deg) per step, exact.
    """
    b: np.ndarray = np.ones(1, dtype=_dtype(m))
    yield b
    for k in range(1, kmax + 1):
        b = _divide_one_minus_t_pow(_times_one_minus_t_pow(b, m - k + 1), k)
        yield b


def census_polynomial(m: int, q: int) -> np.ndarray:
    """Coefficients of ``P_s(t)``: entry ``n`` = number of orbits with Morse index ``n``.

    Raises a `ValueError` beyond `MAX_CENSUS_SIZE` coefficients (`check_census_size`).
    """
    check_census_size((m,), q)
    # The k-th term has degree (q - k)(m - k) + k (m - k) = q (m - k): largest at k = 0.
    poly: np.ndarray = np.zeros(q * m + 1, dtype=_dtype(m))
    for k, b in enumerate(gaussian_binomials(m, min(q, m))):
        shift = (q - k) * (m - k)
        poly[shift : shift + b.size] += b
    return poly


def census_dict(m: int, q: int) -> dict[int, int]:
    """``{morse_index: count}`` with Python ints, zero counts omitted, keys ascending."""
    poly = census_polynomial(m, q)
    return {int(n): int(c) for n, c in enumerate(poly) if c}
