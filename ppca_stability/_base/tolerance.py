"""Ties and tolerances: when two eigenvalues, or an eigenvalue and sigma2, count as equal.

Every decision of the form "is lam_i above s?" or "are lam_i and lam_j tied?" in the package is
made here, with one rule: ``a`` and ``b`` are tied when ``|a - b| <= rtol * max(|a|, |b|) +
floor``. ``rtol`` is the caller's relative tolerance (default `DEFAULT_RTOL`); ``floor`` absorbs
the eigensolver's absolute error, about ``d * eps * lam_max`` (`eigen_floor`), so that eigenvalues
at round-off level are never told apart by noise. An eigenvalue tied with ``s`` is *not* above
it: it would give a live column of round-off size, a duplicate of the point without it.

The round-off rule, stated once for the package (`roundoff_threshold`): an eigenvalue ``lam`` of
a symmetric positive semi-definite d x d matrix is round-off, indistinguishable from 0, when
``|lam| <= d * eps * lam_max``. It is the default rank tolerance of NumPy's
``numpy.linalg.matrix_rank`` (``S.max() * max(M, N) * eps``, after Press et al., *Numerical
Recipes*, 2nd ed., sec. 2.6), which scikit-learn's rank decisions share; a backward-stable
eigensolver's error in each eigenvalue is of that order (``O(eps) ||S||``, Golub & Van Loan,
*Matrix Computations*, sec. 8.1). Every zeroing of round-off eigenvalues, the
positive-semi-definiteness test (an eigenvalue below ``-threshold`` is genuinely negative), the
partial routes' floors and the ELBO's null space use it.
"""

from __future__ import annotations

import warnings
from typing import overload

import numpy as np

from ..exceptions import PrecisionWarning

__all__ = [
    "DEFAULT_RTOL",
    "EPS",
    "SYMMETRY_RTOL",
    "roundoff_threshold",
    "is_roundoff",
    "eigen_floor",
    "tie_sign",
    "n_above",
    "fixed_degeneracy",
    "is_degenerate",
    "resolution",
    "warn_unresolved",
]

# Default relative tolerance under which two eigenvalues, or an eigenvalue and sigma2, are tied.
DEFAULT_RTOL = 1e-9
EPS = float(np.finfo(np.float64).eps)
# Relative asymmetry tolerated in a float64 covariance before it is refused, and under which a
# square matrix counts as symmetric (round-off from X.T @ X / n is far below this; a genuinely
# non-symmetric matrix is far above it). A lower-precision input is allowed
# `LOW_PRECISION_ULPS` times its own machine epsilon instead.
SYMMETRY_RTOL = 1e-10
"""Relative asymmetry ``max |S - S^T| / max |S|`` under which a square float64 matrix counts as
symmetric (a covariance is refused beyond it; the command line warns when DATA is square and
symmetric within it, since it is then probably a covariance passed without ``--cov``)."""
LOW_PRECISION_ULPS = 100.0
# A kept eigenvalue lies at least this factor above the tie floor (`eigen_floor`).
KEPT_MARGIN = 100.0


def roundoff_threshold(lam_max: float, d: int, eps: float = EPS) -> float:
    """The round-off threshold ``d * eps * |lam_max|`` of a d x d symmetric matrix whose largest
    eigenvalue (in magnitude) is `lam_max` (module notes: NumPy's ``matrix_rank`` default);
    `eps` is float64's unless a caller works in another precision.

    Examples
    --------
    >>> roundoff_threshold(5.0, 2) == 2 * 5.0 * 2.0**-52  # d * lam_max * eps
    True
    """
    return d * eps * abs(float(lam_max))


def is_roundoff(lam: np.ndarray | float, lam_max: float, d: int) -> np.ndarray:
    """Whether each eigenvalue in `lam` is round-off: ``|lam| <= roundoff_threshold(lam_max,
    d)``."""
    return np.abs(np.asarray(lam, dtype=np.float64)) <= roundoff_threshold(lam_max, d)


def eigen_floor(lam: np.ndarray, n_features: int | None = None) -> float:
    """Absolute tie tolerance: the eigensolver's error scale `roundoff_threshold` ``(lam_max, d)``,
    capped at ``lam_min_positive / KEPT_MARGIN`` (``d`` is `n_features` when `lam` is the top of a
    partial spectrum, and the cap then uses the smallest eigenvalue it holds).

    The cap matters only when `check_psd_eigenvalues` kept a positive eigenvalue below the
    round-off threshold because its own error bound is smaller (eigenvalues 4..1 next to 1e16
    on the diagonal are exact): a floor above a kept eigenvalue would tie it with 0 and with its
    neighbours, undoing the decision that it is resolved.
    """
    d = lam.size if n_features is None else n_features
    floor = roundoff_threshold(float(lam[0]), d)
    positive = lam[lam > 0]
    return min(floor, float(positive[-1]) / KEPT_MARGIN) if positive.size else floor


def tie_sign(a: np.ndarray, b: np.ndarray | float, rtol: float, floor: float) -> np.ndarray:
    """Sign of ``a - b`` with ties: 0 where ``|a - b| <= rtol * max(|a|, |b|) + floor``."""
    a = np.asarray(a, dtype=np.float64)
    diff = a - b
    tol = rtol * np.maximum(np.abs(a), np.abs(b)) + floor
    return np.where(np.abs(diff) <= tol, 0, np.sign(diff)).astype(np.int8)


@overload
def n_above(lam: np.ndarray, s: float, rtol: float = ..., floor: float = ...) -> int: ...
@overload
def n_above(
    lam: np.ndarray, s: np.ndarray, rtol: float = ..., floor: float = ...
) -> np.ndarray: ...
def n_above(
    lam: np.ndarray, s: float | np.ndarray, rtol: float = 0.0, floor: float = 0.0
) -> np.ndarray | int:
    """``m(s) = #{i : lam_i > s}`` for descending ``lam`` (vectorised over ``s``).

    With a tolerance, an eigenvalue counts as above ``s`` only if ``lam - s > rtol lam + floor``.
    """
    m = lam.size - np.searchsorted(lam[::-1], (np.asarray(s) + floor) / (1.0 - rtol), side="right")
    return int(m) if np.ndim(m) == 0 else m


def fixed_degeneracy(
    lam: np.ndarray, sigma2: np.ndarray, rtol: float, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Whether the fixed-``sigma2`` landscape is degenerate, vectorised over an array of values.

    Returns ``(n_near, tied_above)``: how many eigenvalues lie within tolerance of each value, and
    whether eigenvalues tied within tolerance lie above it. The landscape at ``sigma2`` is
    degenerate iff ``n_near > 0 or tied_above``.
    """
    n_near = np.count_nonzero(tie_sign(lam[None, :], sigma2[:, None], rtol, floor) == 0, axis=1)
    ties = tie_sign(lam[:-1], lam[1:], rtol, floor) == 0
    highest_tie = float(lam[:-1][ties].max()) if ties.any() else -np.inf
    return n_near, sigma2 < highest_tie


def is_degenerate(lam: np.ndarray, sigma2: float | str, rtol: float, floor: float) -> bool:
    """Whether the landscape at ``sigma2`` has degenerate points: ties among the positive
    eigenvalues (learned ``sigma2``: any such tie; fixed: one above ``sigma2``), or ``sigma2``
    within tolerance of an eigenvalue."""
    if sigma2 == "learned":
        ties = tie_sign(lam[:-1], lam[1:], rtol, floor) == 0
        return bool(np.any(ties & (lam[:-1] > 0)))
    n_near, tied_above = fixed_degeneracy(lam, np.array([float(sigma2)]), rtol, floor)
    return bool(n_near[0] or tied_above[0])


def resolution(lam: np.ndarray, n_features: int | None = None) -> float:
    """`roundoff_threshold` of the spectrum `lam` (descending): below it `check_psd_eigenvalues`
    may set an eigenvalue to 0 (a round-off eigenvalue of a rank-deficient covariance, or a
    genuine one that float64 cannot resolve next to ``lam_max``: the two look the same in the
    matrix)."""
    d = lam.size if n_features is None else n_features
    return roundoff_threshold(float(lam[0]), d) if lam.size else 0.0


def warn_unresolved(
    lam: np.ndarray, sigma2: float | str, *, name: str = "cov", stacklevel: int = 3
) -> None:
    """A `PrecisionWarning` when a fixed `sigma2` lies below `resolution` and the (complete)
    spectrum `lam` has zero eigenvalues: whether they are really below `sigma2` is then unknown,
    and an answer that counts them as below it may miss points (a rotated
    ``diag(1e16, 4, 3, 2, 1)`` at ``sigma2 = 0.5`` shows 2 points of 32: 4..1 lie below its
    threshold, 8.9)."""
    if isinstance(sigma2, str) or not lam.size or not lam[0] > 0:
        return
    res = resolution(lam)
    n_zero = int(np.count_nonzero(lam == 0))
    if n_zero and sigma2 < res:
        warnings.warn(
            f"sigma2 = {sigma2:.3g} is below {res:.3g}, the smallest eigenvalue float64 resolves "
            f"next to the largest ({float(lam[0]):.3g}) of `{name}` (d eps lam_max). Its "
            f"{n_zero} zero eigenvalue(s) may be genuine eigenvalues under {res:.3g} that "
            "round-off hid; then they lie above sigma2 and the points built on them are missing. "
            "Rescale the features to comparable variances, or use a sigma2 above it.",
            PrecisionWarning,
            stacklevel=stacklevel,
        )
