"""The Hessian at the stationary points in closed form: spectrum, sign table, symmetry modes.

At the stationary point ``W_I`` (theory.md §2) the Hessian of ``l`` has the spectrum of the table
in theory.md §3 (and the arrowhead block of §5 when sigma2 is learned). This module owns that
table: `closed_form_spectrum` builds it (compressed into ``(value, multiplicity, sign)``
groups), `inertia_counter` counts its signs without building it, and `symmetry_dim` gives the
number of zero modes that are rotations ``W -> W R`` of the orbit. The numeric Hessian of any
``W`` is in ``_hessian``; the two are kept apart so that each checks the other.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._base.tolerance import tie_sign
from .likelihood import finite

__all__ = ["HessianSpectrum", "closed_form_spectrum", "inertia_counter", "symmetry_dim"]


def symmetry_dim(k: int, q: int) -> int:
    """Dimension of the orbit ``{W_I R : R in O(q)}`` of a point with ``k`` live columns: the
    rotations among live columns, ``k (k - 1) / 2``, and of live into dead ones, ``k (q - k)``."""
    return k * (k - 1) // 2 + k * (q - k)


@dataclass(frozen=True, slots=True)
class HessianSpectrum:
    """A Hessian spectrum as groups: ``values[g]`` repeated ``multiplicity[g]`` times, with the
    tie-aware ``signs[g]`` used for classification. The symmetry (rotation) zero modes are kept
    apart in ``symmetry_dim`` and are not among the groups."""

    values: np.ndarray
    multiplicity: np.ndarray
    signs: np.ndarray
    symmetry_dim: int

    def count(self, sign: int) -> int:
        return int(self.multiplicity[self.signs == sign].sum())

    def eigenvalues(self) -> np.ndarray:
        """All eigenvalues, ascending, including the symmetry zeros."""
        values = np.repeat(self.values, self.multiplicity)
        return np.sort(np.concatenate([values, np.zeros(self.symmetry_dim)]))


def closed_form_spectrum(
    lam: np.ndarray,
    active: np.ndarray,
    s: float,
    latent_dim: int,
    *,
    joint: bool,
    rtol: float,
    floor: float,
) -> HessianSpectrum:
    """Hessian spectrum of ``l`` at the stationary point ``W_I`` (theory.md §3, §5).

    ``lam`` descending eigenvalues of ``S``; ``active`` the index set ``I`` (ascending); ``s`` the
    noise variance (for ``joint``, ``s_I``, the mean of the discarded eigenvalues).
    """
    d, q, k = lam.size, latent_dim, active.size
    mask = np.ones(d, dtype=bool)
    mask[active] = False
    lam_I, lam_J = lam[active], lam[mask]
    # Each formula is written as a dimensionless ratio divided by one scale, so no intermediate
    # (like s**2) overflows when the result itself is representable.
    # dead column x excluded j: (lam_j - s) / s^2, multiplicity q - k each.
    dead_v = (lam_J / s - 1.0) / s
    dead_s = tie_sign(lam_J, s, rtol, floor)
    dead_m = np.full(lam_J.size, q - k)
    # live column i x excluded j: (lam_j - lam_i) / (s lam_i).
    cross_v = ((lam_J[None, :] / lam_I[:, None] - 1.0) / s).ravel()
    cross_s = tie_sign(
        np.broadcast_to(lam_J[None, :], (k, lam_J.size)), lam_I[:, None], rtol, floor
    ).ravel()
    # live pair {i, i'}: -(lam_i + lam_i' - 2 s) / (lam_i lam_i').
    iu = np.triu_indices(k, 1)
    li, lj = lam_I[iu[0]], lam_I[iu[1]]
    pair_v = -((li - s) / li + (lj - s) / li) / lj
    pair_s = -tie_sign(li + lj, 2 * s, rtol, floor)
    # radial: -2 (lam_i - s) / lam_i^2; in the joint problem coupled with s (arrowhead block).
    radial = -2.0 * ((lam_I - s) / lam_I) / lam_I
    if joint:
        # Built in units of s (coordinates W / sqrt(s), s / s), then D A D back to the caller's.
        # The block is negative definite at every admissible point: its radial diagonal is
        # negative (lam_i > s) and its Schur complement is -(d - k) / (2 s^2) (theory.md §5;
        # tests compare it with the dense Hessian), so its signs are -1 without a zero test.
        r = lam_I / s
        arrow = np.zeros((k + 1, k + 1))
        arrow[np.arange(k), np.arange(k)] = -2.0 * (r - 1.0) / r**2
        arrow[:k, k] = arrow[k, :k] = -np.sqrt(r - 1.0) / r**2
        arrow[k, k] = -0.5 * (np.sum(r**-2.0) + (d - k))
        rad_s = np.full(k + 1, -1, dtype=np.int8)
        units = np.concatenate([np.full(k, 1.0 / np.sqrt(s)), [1.0 / s]])
        with np.errstate(over="ignore"):  # a non-representable block is caught by finite() below
            rad_v = np.linalg.eigvalsh(
                finite(arrow * units[:, None] * units[None, :], "the Hessian spectrum")
            )
    else:
        rad_v = radial
        rad_s = -tie_sign(lam_I, s, rtol, floor)
    values = np.concatenate([dead_v, cross_v, pair_v, rad_v])
    signs = np.concatenate([dead_s, cross_s, pair_s, rad_s])
    mult = np.concatenate([dead_m, np.ones(values.size - dead_m.size, dtype=np.int64)])
    keep = mult > 0
    with np.errstate(over="ignore"):
        values = finite(values[keep], "the Hessian spectrum")
    return HessianSpectrum(values, mult[keep], signs[keep], symmetry_dim(k, q))


_VECTORISE_FROM = 16  # active-set size from which inertia_counter counts with NumPy


def inertia_counter(
    lam: np.ndarray, latent_dim: int, rtol: float, floor: float, *, joint: bool
) -> Callable[[tuple[int, ...], float], tuple[int, int, int]]:
    """A function ``(active, s) -> (n_positive, n_negative, n_zero)`` of the Hessian at ``W_I``,
    outside the symmetry modes, from counts alone (no spectrum is built).

    From the table of theory.md §3: positive and zero eigenvalues only come from the directions
    "dead column x excluded j" (sign of ``lam_j - s``, multiplicity ``q - k``) and "live column i x
    excluded j" (sign of ``lam_j - lam_i``); the live-pair, radial and (joint) arrowhead directions
    are negative at every admissible point. With ties decided as in
    `tie_sign()`, this is exactly the inertia of
    `closed_form_spectrum()` (a test checks it point by point), at
    O(k log d) per point instead of O(d q).
    """
    d, q = lam.size, latent_dim
    desc = lam.tolist()
    neg = (-lam).tolist()  # ascending, for bisect

    def above(x: float) -> int:  # #{j : lam_j - x > rtol lam_j + floor}: a prefix of the indices
        return bisect.bisect_left(neg, -(x + floor) / (1.0 - rtol))

    def not_below(x: float) -> int:  # #{j : x - lam_j <= rtol x + floor}: the prefix up to the ties
        return bisect.bisect_right(neg, -(x * (1.0 - rtol) - floor))

    def outside(active: tuple[int, ...], lo: int, hi: int) -> int:  # #{j not in I : lo <= j < hi}
        return (hi - lo) - (bisect.bisect_left(active, hi) - bisect.bisect_left(active, lo))

    neg_arr = -lam

    def count(active: tuple[int, ...], s: float) -> tuple[int, int, int]:
        k = len(active)
        a_s, t_s = above(s), not_below(s)
        pos = (q - k) * outside(active, 0, a_s)
        zero = (q - k) * outside(active, a_s, t_s)
        if k <= _VECTORISE_FROM:
            for i in active:
                a_i, t_i = above(desc[i]), not_below(desc[i])
                pos += outside(active, 0, a_i)
                zero += outside(active, a_i, t_i)
        else:  # the same counts with searchsorted: the same float operations, in bulk
            act = np.asarray(active, dtype=np.intp)
            x = lam[act]
            a_v = np.searchsorted(neg_arr, -(x + floor) / (1.0 - rtol), side="left")
            t_v = np.searchsorted(neg_arr, -(x * (1.0 - rtol) - floor), side="right")
            before_a, before_t = np.searchsorted(act, a_v), np.searchsorted(act, t_v)
            pos += int(np.sum(a_v - before_a))
            zero += int(np.sum((t_v - a_v) - (before_t - before_a)))
        size = d * q + joint - symmetry_dim(k, q)
        return pos, size - pos - zero, zero

    return count
