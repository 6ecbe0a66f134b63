"""Stationary points of the pPCA likelihood, enumerated from the covariance's eigenpairs.

At fixed ``s`` (theory.md §2, Tipping & Bishop 1999) every stationary point is, up to a rotation
``R`` in O(q), ``W_I = U_I (Lam_I - s I)^{1/2} [I_k 0]`` for an index set ``I`` of eigenvalues
strictly above ``s`` with ``|I| = k <= q``: ``k`` live columns, ``q - k`` dead (zero) ones. With
``s`` learned jointly (§5) ``s`` is replaced by ``s_I``, the mean of the discarded eigenvalues,
and the set is admissible when every kept eigenvalue exceeds it.

Active sets are 0-based, ascending index tuples into the descending eigenvalues, ordered by size
``k`` and then lexicographically. Nothing here builds a result object: these are the array-level
primitives that `StabilityMap` and the phase diagrams share. ``sigma2`` is either a float or the
string ``"learned"`` throughout.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

from .._base.tolerance import n_above, resolution
from .inertia import inertia_counter
from .likelihood import LOG_2PI, finite

__all__ = [
    "active_sets",
    "count_points",
    "point_sigma2",
    "walk",
    "count_fixed",
    "count_fixed_upto",
    "unrank_fixed",
    "iter_fixed",
    "joint_sigma2",
    "is_joint_admissible",
    "joint_mle_active",
    "joint_maximum",
    "iter_joint",
    "count_joint",
    "joint_count_bound",
    "unrank_joint",
    "stationary_loadings",
    "stationary_log_likelihood",
    "top_log_likelihood",
]


def _k_range(m: int, q: int) -> range:
    return range(min(q, m) + 1)


def count_fixed(m: int, q: int) -> int:
    """Number of stationary orbits at fixed ``s``: ``sum_{k <= min(q, m)} C(m, k)``, exact."""
    if q >= m:
        return 2**m
    total = term = 1
    for k in range(q):  # C(m, k + 1) = C(m, k) (m - k) / (k + 1), exact in integers
        term = term * (m - k) // (k + 1)
        total += term
    return total


def unrank_fixed(index: int, m: int, q: int) -> tuple[int, ...]:
    """The ``index``-th active set (0-based) in the order k ascending, then lexicographic."""
    for k in _k_range(m, q):
        size = math.comb(m, k)
        if index < size:
            break
        index -= size
    combo, start = [], 0
    for remaining in range(k, 0, -1):  # combinatorial number system, lexicographic
        for i in range(start, m):
            block = math.comb(m - i - 1, remaining - 1)
            if index < block:
                combo.append(i)
                start = i + 1
                break
            index -= block
    return tuple(combo)


def iter_fixed(m: int, q: int) -> Iterator[tuple[int, ...]]:
    """Active sets at fixed ``s`` in order (k ascending, then lexicographic)."""
    for k in _k_range(m, q):
        yield from itertools.combinations(range(m), k)


# ----------------------------------------------------------------------------- joint (W, s)
def joint_sigma2(lam: np.ndarray, active: tuple[int, ...]) -> float:
    """``s_I``: the mean of the discarded eigenvalues (theory.md §5)."""
    mask = np.ones(lam.size, dtype=bool)
    mask[list(active)] = False
    return float(lam[mask].mean())


def _relaxed(
    lam_min: float, kept_sum: float, k: int, total: float, d: int, rtol: float, floor: float
) -> bool:
    # lam_min(I) > s_I beyond tolerance (lam - s > rtol lam + floor), written without division:
    # (lam_min (1 - rtol) - floor)(d - k) > tr S - sum_I lam. This relaxed test is monotone (a set
    # stays admissible when an index is swapped for a smaller one, i.e. a larger eigenvalue),
    # which is what makes pruning exact.
    # A Python bool: a NumPy bool added to a Python int makes it an int64, and the joint counts'
    # big-int binomials beyond 2**63 an OverflowError.
    return bool((lam_min * (1.0 - rtol) - floor) * (d - k) > total - kept_sum)


def is_joint_admissible(
    lam: np.ndarray, active: tuple[int, ...], latent_dim: int, rtol: float = 0.0, floor: float = 0.0
) -> bool:
    """Whether ``active`` defines a joint stationary point: ``k <= q``, ``k < d``, ``s_I > 0``
    and ``lam_i > s_I`` (beyond tolerance) for every kept ``i``."""
    d, k = lam.size, len(active)
    if k > latent_dim or k >= d:
        return False
    s_I = joint_sigma2(lam, active)
    return s_I > 0 and all(lam[i] * (1.0 - rtol) - floor > s_I for i in active)


def joint_mle_active(
    lam: np.ndarray, q: int, rtol: float = 0.0, floor: float = 0.0
) -> tuple[int, ...] | None:
    """Active set of the joint (W, sigma2) maximum for descending ``lam``, or None when there is
    none: ``q >= d`` or ``rank <= q`` (the likelihood is unbounded as sigma2 -> 0)."""
    if q >= lam.size or int(np.count_nonzero(lam > 0)) <= q:
        return None
    k = q
    # Top-k is admissible unless the tail from k-1 on is flat; then fewer columns live.
    while k > 0 and not is_joint_admissible(lam, tuple(range(k)), q, rtol, floor):
        k -= 1
    return tuple(range(k))


def joint_maximum(lam: np.ndarray, q: int, rtol: float, floor: float) -> tuple[int, ...]:
    """`joint_mle_active`, or a ValueError saying why the joint likelihood has no maximum."""
    active = joint_mle_active(lam, q, rtol, floor)
    if active is None:
        rank = int(np.count_nonzero(lam > 0))
        hidden = (
            f" (its other {lam.size - rank} eigenvalues are below {resolution(lam):.3g}, what "
            "float64 resolves next to the largest: 0, or hidden by round-off when the features' "
            "scales differ greatly)"
            if rank < lam.size
            else ""
        )
        raise ValueError(
            f"with sigma2='learned' the likelihood is unbounded: cov has rank {rank}{hidden} <= "
            f"latent_dim = {q}, so W can span its support while sigma2 -> 0. "
            + (f"Use latent_dim < {rank} or a fixed sigma2." if rank > 1 else "Fix sigma2.")
        )
    return active


def _joint_k_max(d: int, q: int) -> int:
    return min(q, d - 1)


def iter_joint(
    lam: np.ndarray, q: int, rtol: float = 0.0, floor: float = 0.0
) -> Iterator[tuple[int, ...]]:
    """Joint active sets in order (k ascending, then lexicographic), pruned by monotonicity."""
    d, total = lam.size, float(lam.sum())
    rank = int(np.count_nonzero(lam > 0))
    for k in range(_joint_k_max(d, q) + 1):
        if k == 0:
            if total > 0:
                yield ()
            continue

        # Depth-first in lexicographic order; a prefix is abandoned once even its best completion
        # (the next consecutive indices) fails the monotone test, and so do all later prefixes.
        def walk(prefix: tuple[int, ...], kept: float, k: int = k) -> Iterator[tuple[int, ...]]:
            r = k - len(prefix)
            start = prefix[-1] + 1 if prefix else 0
            for i in range(start, d - r + 1):
                best = kept + float(lam[i : i + r].sum())
                if not _relaxed(lam[i + r - 1], best, k, total, d, rtol, floor):
                    return
                if r == 1:
                    # s_I = 0 exactly when I keeps every positive eigenvalue: decided on indices,
                    # since tr S - sum_I lam can come out as +1 ulp instead of 0.
                    active = prefix + (i,)
                    if not (0 < rank <= k and active[rank - 1] == rank - 1):
                        yield active
                else:
                    yield from walk(prefix + (i,), kept + float(lam[i]))

        yield from walk((), 0.0)


class _JointCounter:
    """Counts of admissible joint active sets that extend a given prefix (see `count_joint`)."""

    def __init__(
        self, lam: np.ndarray, q: int, rtol: float, floor: float, budget: int | None = None
    ) -> None:
        # `budget`: branches examined before `completions` gives up (ValueError); None: no limit.
        self.budget = budget
        self.d, self.total = lam.size, float(lam.sum())
        self.k_max = _joint_k_max(self.d, q)
        self.prefix = np.concatenate([[0.0], np.cumsum(lam)]).tolist()
        self.values = lam.tolist()
        self.rank = int(np.count_nonzero(lam > 0))
        self.rtol, self.floor = rtol, floor

    def completions(self, k: int, start: int, r: int, kept: float, last: int | None) -> int:
        """Admissible sets of size ``k`` made of a fixed prefix (sum ``kept``, largest index
        ``last``) and ``r`` more indices from ``[start, d)``.

        Split by the largest index ``m``: its eigenvalue is the smallest kept one, and
        admissibility becomes a pure sum condition on the indices in ``[start, m)``. A branch is
        counted whole (a binomial) once even its smallest completion, the indices just below
        ``m``, passes, and dropped once its largest, the next indices from ``start``, fails.
        A zero eigenvalue is never above s_I >= 0, so ``m < rank``; the one set with k = rank and
        m = rank - 1 keeps every positive eigenvalue, s_I = 0, and is no point (decided on
        indices: tr S - sum_I lam may round to +-1 ulp instead of 0).
        """
        d, total, prefix, values, rank = self.d, self.total, self.prefix, self.values, self.rank
        if r == 0:
            if last is None:
                return int(total > 0)  # W = 0 with s = tr S / d
            if last >= rank or (k == rank and last == rank - 1):
                return 0
            return int(_relaxed(values[last], kept, k, total, d, self.rtol, self.floor))
        count = 0
        for m in range(start + r - 1, rank - (k == rank)):
            lam_m = values[m]

            def ok(others: float, lam_m: float = lam_m) -> bool:
                return _relaxed(lam_m, lam_m + others, k, total, d, self.rtol, self.floor)

            if not ok(kept + prefix[start + r - 1] - prefix[start]):
                break  # the best sets for this m fail, and a larger m only lowers lam_m
            todo = [(start, r - 1, kept)]  # choose r more indices from [start, m), with their sum
            if self.budget is not None:
                self.budget -= 1
            while todo:
                if self.budget is not None:
                    self.budget -= 1
                    if self.budget < 0:
                        raise ValueError("the joint count exceeds its budget of branches")
                lo, n, acc = todo.pop()
                n_left = m - lo
                if ok(acc + prefix[m] - prefix[m - n]):  # the smallest completion passes
                    count += math.comb(n_left, n)
                    continue
                if n == 0 or not ok(acc + prefix[lo + n] - prefix[lo]):
                    continue
                if n_left > n:
                    todo.append((lo + 1, n, acc))
                todo.append((lo + 1, n - 1, acc + values[lo]))
        return count


def count_joint(
    lam: np.ndarray, q: int, rtol: float = 0.0, floor: float = 0.0, budget: int | None = None
) -> int:
    """Exact number of joint stationary orbits, by branch and bound on the admissibility test.

    The cost follows the boundary of the admissible region, not its size (digits, q = 16: five
    million sets, a million branches, about 1 s); see ``_JointCounter.completions``. It can
    still be large (MNIST-test, q = 6: 5.4e8 sets, 4.3 million branches, 4 s; q = 10: hours):
    beyond `budget` branches a ValueError is raised (`joint_count_bound` is the cheap bound).
    """
    counter = _JointCounter(lam, q, rtol, floor, budget)
    return sum(counter.completions(k, 0, k, 0.0, None) for k in range(counter.k_max + 1))


def joint_count_bound(lam: np.ndarray, q: int) -> int:
    """An upper bound on `count_joint` in O(q d): ``sum_k C(m_k, k)``, where ``m_k`` counts the
    eigenvalues above the smallest ``s_I`` of any set of size ``k`` (that of the top ``k``,
    ``mean(lam[k:])``): every index of an admissible set of size ``k`` is among them."""
    d = lam.size
    rest = np.concatenate([np.cumsum(lam[::-1])[::-1], [0.0]])  # rest[k] = sum(lam[k:])
    bound = 0
    for k in range(_joint_k_max(d, q) + 1):
        m = int(np.count_nonzero(lam > rest[k] / (d - k)))
        bound += math.comb(m, k)
    return bound


def unrank_joint(
    index: int, lam: np.ndarray, q: int, rtol: float = 0.0, floor: float = 0.0
) -> tuple[int, ...]:
    """The ``index``-th joint active set in the order of `iter_joint`, without enumerating.

    Walks the sets in order, skipping every block of them at once by its count: ``k`` first,
    then the smallest index, and so on.
    """
    if index < 0:
        raise IndexError(f"joint active-set index must be >= 0; got {index}")
    counter = _JointCounter(lam, q, rtol, floor)
    for k in range(counter.k_max + 1):
        n_k = counter.completions(k, 0, k, 0.0, None)
        if index < n_k:
            break
        index -= n_k
    else:
        raise IndexError("joint active-set index out of range")
    active: list[int] = []
    kept = 0.0
    for position in range(k):
        start = active[-1] + 1 if active else 0
        for j in range(start, counter.d - (k - position - 1)):
            block = counter.completions(k, j + 1, k - position - 1, kept + counter.values[j], j)
            if index < block:
                active.append(j)
                kept += counter.values[j]
                break
            index -= block
        else:
            raise IndexError("joint active-set index out of range")
    return tuple(active)


# ----------------------------------------------------------------------------- the points
def stationary_loadings(
    U: np.ndarray, lam: np.ndarray, active: tuple[int, ...], s: float, latent_dim: int
) -> np.ndarray:
    """``W_I`` with live columns ``sqrt(lam_i - s) u_i`` first, then ``q - k`` zero columns."""
    k = len(active)
    # The top set (every global maximum) is a slice: no fancy-indexing gather of d x k entries.
    cols = slice(0, k) if active == tuple(range(k)) else list(active)
    # Without zero columns, no zeroed array first (at q = k = d = 2000: 7.0 ms against 8.1 ms).
    shape = (U.shape[0], latent_dim)
    W = np.empty(shape) if k == latent_dim else np.zeros(shape)
    np.multiply(U[:, cols], np.sqrt(lam[cols] - s), out=W[:, :k])
    return W


def stationary_log_likelihood(lam: np.ndarray, active: tuple[int, ...], s: float) -> float:
    """``l(W_I, s)``: ``C`` has eigenvalues ``lam_i`` on ``I`` and ``s`` elsewhere, so
    ``-1/2 [d log 2 pi + sum_I (log lam_i + 1) + (d - k) log s + sum_{j not in I} lam_j / s]``."""
    d, idx = lam.size, list(active)
    kept = lam[idx]
    rest = float(lam.sum() - kept.sum()) if idx else float(lam.sum())
    return finite(
        -0.5
        * (
            d * LOG_2PI
            + float(np.sum(np.log(kept)))
            + len(idx)
            + (d - len(idx)) * math.log(s)
            + rest / s
        ),
        "the log-likelihood of a stationary point",
    )


# ----------------------------------------------------------------------------- over a grid of s
# Vectorised variants for phase diagrams: one call serves every grid value.
def count_fixed_upto(m_max: int, q: int) -> list[int]:
    """``[count_fixed(m, q) for m in range(m_max + 1)]`` in O(m_max) big-int steps, by Pascal's
    rule ``sum_{k<=q} C(m+1, k) = 2 sum_{k<=q} C(m, k) - C(m, q)``."""
    counts = [1]
    for m in range(m_max):
        counts.append(2 * counts[-1] - math.comb(m, q))
    return counts


def top_log_likelihood(lam: np.ndarray, k: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``stationary_log_likelihood(lam, tuple(range(k_g)), s_g)`` for paired arrays ``k``, ``s``.

    Needs ``lam_i > 0`` for ``i < k_g``. Both sums are prefix sums; the discarded one is
    accumulated from the smallest eigenvalue up, so a small tail keeps its relative accuracy.
    """
    d = lam.size
    kept = np.concatenate([[0.0], np.cumsum(np.log(lam, out=np.zeros(d), where=lam > 0) + 1.0)])
    rest = np.concatenate([np.cumsum(lam[::-1])[::-1], [0.0]])
    return finite(
        -0.5 * (d * LOG_2PI + kept[k] + (d - k) * np.log(s) + rest[k] / s),
        "the maximum log-likelihood",
    )


# ----------------------------------------------------------------------------- one sigma2, whole
def active_sets(
    lam: np.ndarray, q: int, sigma2: float | str, rtol: float, floor: float
) -> Iterator[tuple[int, ...]]:
    """Every active set at ``sigma2`` (a float, or ``"learned"``), in order."""
    if isinstance(sigma2, str):  # "learned"
        return iter_joint(lam, q, rtol, floor)
    return iter_fixed(n_above(lam, sigma2, rtol, floor), q)


def count_points(lam: np.ndarray, q: int, sigma2: float | str, rtol: float, floor: float) -> int:
    """Exact number of stationary orbits at ``sigma2`` (a Python int)."""
    if isinstance(sigma2, str):  # "learned"
        return count_joint(lam, q, rtol, floor)
    return count_fixed(n_above(lam, sigma2, rtol, floor), q)


def point_sigma2(lam: np.ndarray, active: tuple[int, ...], sigma2: float | str) -> float:
    """The noise variance of the point with this active set (its own ``s_I`` when learned)."""
    return joint_sigma2(lam, active) if isinstance(sigma2, str) else float(sigma2)


def walk(
    lam: np.ndarray, q: int, sigma2: float | str, rtol: float, floor: float
) -> Iterator[tuple[tuple[int, ...], float, tuple[int, int, int]]]:
    """``(active, s, (n_positive, n_negative, n_zero))`` of every point in order, by counting the
    Hessian's signs: no loadings or spectra are built."""
    count = inertia_counter(lam, q, rtol, floor, joint=sigma2 == "learned")
    for active in active_sets(lam, q, sigma2, rtol, floor):
        s = point_sigma2(lam, active, sigma2)
        yield active, s, count(active, s)
