"""Hypothesis strategies for spectra, covariances, noise variances and stationary points.

Import this module explicitly (``from ppca_stability import strategies``): it imports
`hypothesis`, which ``import ppca_stability`` never does. The strategies serve
`ppca_stability._verify.verify()` and any test suite that wants to state a property of the pPCA
landscape "for every covariance": they draw small, well-conditioned problems by default and
expose the hard cases (ties, zero eigenvalues, wide dynamic range, ``sigma2`` at or next to an
eigenvalue) through arguments, and they shrink towards simple ones (few dimensions, no ties, the
identity basis, the first stationary point ``W = 0``).

Examples
--------
In your own test suite:

>>> import numpy as np
>>> from hypothesis import given, settings
>>> from hypothesis import strategies as hs
>>> from ppca_stability import stability_map
>>> from ppca_stability.strategies import covariances, sigma2_values, spectra
>>> @settings(max_examples=20, derandomize=True, database=None)
... @given(data=hs.data())
... def test_top_set_is_the_maximum(data):
...     lam = data.draw(spectra(max_dim=4))
...     cov = data.draw(covariances(lam))
...     s = data.draw(sigma2_values(lam, kinds=("between", "outside")))
...     smap = stability_map(cov, s)
...     assert smap.global_maximum.morse_index == 0
>>> test_top_set_is_the_maximum()
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp
from hypothesis.strategies import SearchStrategy
from numpy.typing import ArrayLike

from ._base.validation import (
    as_real_array,
    check_bool,
    check_choice,
    check_cov,
    check_positive_float,
    check_positive_int,
)
from ._ppca.stability import StabilityMap, StationaryPoint, stability_map
from ._spectra.container import from_eigenpairs
from .exceptions import DegeneracyWarning

__all__ = [
    "SIGMA2_KINDS",
    "StationaryCase",
    "covariances",
    "orthogonal_matrices",
    "sigma2_values",
    "spectra",
    "stationary_points",
]

# What `sigma2_values` can draw: exactly at an eigenvalue, within `near_rtol` of one, strictly
# between two (geometrically), or outside the positive spectrum.
SIGMA2_KINDS = ("at", "near", "between", "outside")
# "between" stays this fraction (in log scale) away from both ends of the interval.
BETWEEN_MARGIN = 0.01
# "outside" lies between 10**OUTSIDE_DECADES[0] and 10**OUTSIDE_DECADES[1] beyond the spectrum.
OUTSIDE_DECADES = (0.01, 3.0)
# Largest index among the stationary points that `stationary_points` draws from (learned sigma2
# enumerates up to it).
MAX_POINT_INDEX = 4096


# ----------------------------------------------------------------------------- spectra
def _spread(x: np.ndarray, lo: float, hi: float, gap: float) -> np.ndarray:
    """Push descending log-values apart to consecutive gaps ``>= gap`` inside ``[lo, hi]``.

    A downward pass enforces the gaps; an upward pass lifts the tail to ``lo + (n-1-i) gap``,
    which keeps them. Needs ``(n - 1) gap <= hi - lo``.
    """
    y = x.copy()
    for i in range(1, y.size):
        y[i] = min(y[i], y[i - 1] - gap)
    return np.maximum(y, lo + gap * np.arange(y.size - 1, -1, -1))


@hs.composite
def _spectrum(
    draw: Any, min_dim: int, max_dim: int, lo: float, hi: float, gap: float, ties: bool, zeros: bool
) -> np.ndarray:
    d = draw(hs.integers(min_dim, max_dim))
    n_zero = draw(hs.integers(0, d - 1)) if zeros else 0
    n_pos = d - n_zero
    tied = (
        draw(hs.lists(hs.booleans(), min_size=n_pos - 1, max_size=n_pos - 1))
        if ties
        else [False] * (n_pos - 1)
    )
    starts = np.flatnonzero(~np.array([False] + tied))
    counts = np.diff(np.append(starts, n_pos))
    logs = draw(
        hs.lists(
            hs.floats(math.log10(lo), math.log10(hi)), min_size=counts.size, max_size=counts.size
        )
    )
    x = _spread(
        np.sort(np.array(logs))[::-1], math.log10(lo), math.log10(hi), math.log10(1.0 + gap)
    )
    distinct = np.clip(10.0**x, lo, hi)
    return np.concatenate([np.repeat(distinct, counts), np.zeros(n_zero)])


def spectra(
    *,
    min_dim: int = 1,
    max_dim: int = 6,
    min_value: float = 1e-2,
    max_value: float = 1e2,
    min_gap: float = 1e-3,
    ties: bool = False,
    zeros: bool = False,
) -> SearchStrategy[np.ndarray]:
    """Descending eigenvalue arrays of covariance matrices.

    Parameters
    ----------
    min_dim, max_dim : int, default 1 and 6
        Range of the dimension ``d``.
    min_value, max_value : float, default 1e-2 and 1e2
        Range of the positive eigenvalues: ``max_value / min_value`` is the dynamic range
        (``1e-10, 1e10`` spans 20 orders of magnitude). Values are drawn log-uniformly.
    min_gap : float, default 1e-3
        Distinct eigenvalues differ by at least this relative gap (``lam_i >= (1 + min_gap)
        lam_{i+1}``); 0 allows arbitrarily close ones.
    ties : bool, default False
        Allow exactly repeated eigenvalues.
    zeros : bool, default False
        Allow zero eigenvalues (rank-deficient covariances; at least one eigenvalue stays positive).

    Returns
    -------
    SearchStrategy of ndarray, shape (d,)
        float64, descending, non-negative.

    Examples
    --------
    >>> from hypothesis import find
    >>> from ppca_stability.strategies import spectra
    >>> find(spectra(min_dim=3, zeros=True), lambda lam: lam[-1] == 0).size
    3
    """
    min_dim = check_positive_int(min_dim, "min_dim")
    max_dim = check_positive_int(max_dim, "max_dim")
    if max_dim < min_dim:
        raise ValueError(f"`max_dim` must be at least `min_dim` = {min_dim}; got {max_dim}.")
    lo = check_positive_float(min_value, "min_value")
    hi = check_positive_float(max_value, "max_value")
    if hi <= lo:
        raise ValueError(f"`max_value` must exceed `min_value` = {lo!r}; got {hi!r}.")
    gap = check_positive_float(min_gap, "min_gap", allow_zero=True)
    if (max_dim - 1) * math.log10(1.0 + gap) > math.log10(hi / lo):
        raise ValueError(
            f"`min_gap` = {gap!r} is too large: {max_dim} eigenvalues with that relative gap do "
            f"not fit between min_value = {lo!r} and max_value = {hi!r}. Widen the range or lower "
            "`max_dim`."
        )
    return _spectrum(
        min_dim, max_dim, lo, hi, gap, check_bool(ties, "ties"), check_bool(zeros, "zeros")
    )


# ----------------------------------------------------------------------------- bases, covariances
def _orthogonal_factor(A: np.ndarray) -> np.ndarray:
    # Q of A = QR with R's diagonal made non-negative: unique for invertible A, and the identity
    # for A = 0, which is where hypothesis shrinks to.
    Q, R = np.linalg.qr(A)
    signs = np.sign(np.diag(R))
    return Q * np.where(signs == 0, 1.0, signs)


def orthogonal_matrices(dim: int) -> SearchStrategy[np.ndarray]:
    """Orthogonal ``(dim, dim)`` matrices: the Q factor of a drawn matrix, with a sign fix.

    Drawn from hypothesis data (entries in [-1, 1]), so they shrink to the identity. They are
    not Haar-distributed; properties that hold for every basis do not care.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import find
    >>> from ppca_stability.strategies import orthogonal_matrices
    >>> Q = find(orthogonal_matrices(3), lambda Q: True)
    >>> bool(np.allclose(Q, np.eye(3)))
    True
    """
    dim = check_positive_int(dim, "dim")
    entries = hs.floats(-1.0, 1.0, allow_subnormal=False)
    return hnp.arrays(np.float64, (dim, dim), elements=entries).map(_orthogonal_factor)


def _check_spectrum(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "eigenvalues"):  # a Spectrum
        value = value.eigenvalues
    lam = as_real_array(value, name)
    if lam.ndim != 1 or lam.size == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 1-D array of eigenvalues; got shape {lam.shape}."
        )
    if np.any(lam < 0):
        raise ValueError(f"`{name}` must be non-negative; got minimum {lam.min()!r}.")
    if not np.any(lam > 0):
        raise ValueError(f"`{name}` must contain a positive eigenvalue; got all zeros.")
    return np.sort(lam)[::-1]


def _as_strategy(value: Any, name: str, default: SearchStrategy, check: Any) -> SearchStrategy:
    if value is None:
        return default
    if isinstance(value, SearchStrategy):
        return value
    return hs.just(check(value, name))


@hs.composite
def _covariance(draw: Any, eigenvalues: SearchStrategy) -> np.ndarray:
    lam = draw(eigenvalues)
    return from_eigenpairs(lam, draw(orthogonal_matrices(lam.size)))


def covariances(eigenvalues: Any = None) -> SearchStrategy[np.ndarray]:
    """Symmetric PSD matrices ``Q diag(lam) Q^T`` in a drawn orthogonal basis ``Q``.

    Parameters
    ----------
    eigenvalues : SearchStrategy, array_like or None
        The spectrum: a strategy of eigenvalue arrays (default ``spectra()``) or one fixed array.

    Returns
    -------
    SearchStrategy of ndarray, shape (d, d)
        Exactly symmetric; its eigenvalues are `eigenvalues` up to round-off.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import find
    >>> from ppca_stability.strategies import covariances
    >>> cov = find(covariances([3.0, 1.0]), lambda c: abs(c[0, 1]) > 0.1)
    >>> bool(np.allclose(np.linalg.eigvalsh(cov), [1.0, 3.0]))
    True
    """
    return _covariance(_as_strategy(eigenvalues, "eigenvalues", spectra(), _check_spectrum))


# ----------------------------------------------------------------------------- sigma2
def _check_kinds(kinds: Any) -> tuple[str, ...]:
    if isinstance(kinds, str) or not isinstance(kinds, Sequence) or not kinds:
        raise TypeError(
            f"`kinds` must be a non-empty sequence drawn from {SIGMA2_KINDS}; got {kinds!r}."
        )
    bad = [k for k in kinds if k not in SIGMA2_KINDS]
    if bad:
        raise ValueError(f"`kinds` must be drawn from {SIGMA2_KINDS}; got {bad!r}.")
    return tuple(kinds)


def _check_near_rtol(near_rtol: Any) -> tuple[float, float]:
    try:
        lo, hi = near_rtol
    except (TypeError, ValueError):
        raise TypeError(f"`near_rtol` must be a pair (low, high); got {near_rtol!r}.") from None
    lo, hi = check_positive_float(lo, "near_rtol"), check_positive_float(hi, "near_rtol")
    if not lo <= hi < 1.0:
        raise ValueError(f"`near_rtol` must satisfy 0 < low <= high < 1; got {near_rtol!r}.")
    return lo, hi


def _positive_finite(s: float) -> bool:
    return 0.0 < s < math.inf


def sigma2_values(
    spectrum: Any,
    *,
    kinds: Sequence[str] = SIGMA2_KINDS,
    near_rtol: tuple[float, float] = (1e-14, 1e-6),
) -> SearchStrategy[float]:
    """Noise variances placed relative to a spectrum, where stability changes.

    Parameters
    ----------
    spectrum : array_like or Spectrum
        Eigenvalues of the covariance (any order); zeros are ignored.
    kinds : sequence of {"at", "near", "between", "outside"}
        ``"at"``: exactly an eigenvalue (a bifurcation: degenerate points).
        ``"near"``: ``lam (1 +- r)`` with ``r`` log-uniform in `near_rtol`.
        ``"between"``: strictly between two consecutive distinct eigenvalues (log scale, away from
        both ends by 1 % of the interval).
        ``"outside"``: above the largest or below the smallest positive eigenvalue, by a factor
        ``10**u`` with ``u`` in [0.01, 3].
    near_rtol : (float, float), default (1e-14, 1e-6)
        Range of the relative offset of ``"near"`` values.

    Returns
    -------
    SearchStrategy of float
        Positive and finite. Empty (every draw rejected) if none of `kinds` applies, e.g.
        ``("between",)`` for a spectrum with one distinct positive value.

    Examples
    --------
    >>> from hypothesis import find
    >>> from ppca_stability.strategies import sigma2_values
    >>> 1.0 < find(sigma2_values([4.0, 1.0], kinds=("between",)), lambda s: True) < 4.0
    True
    >>> find(sigma2_values([4.0, 1.0], kinds=("at",)), lambda s: s > 2)
    4.0
    """
    lam = _check_spectrum(spectrum, "spectrum")
    kinds = _check_kinds(kinds)
    r_lo, r_hi = _check_near_rtol(near_rtol)
    pos = np.unique(lam[lam > 0])[::-1].tolist()
    options: list[SearchStrategy[float]] = []
    if "at" in kinds:
        options.append(hs.sampled_from(pos))
    if "near" in kinds:
        offsets = hs.floats(math.log10(r_lo), math.log10(r_hi)).map(lambda e: 10.0**e)
        options.append(
            hs.builds(
                lambda v, r, sign: v * (1.0 + sign * r),
                hs.sampled_from(pos),
                offsets,
                hs.sampled_from((-1.0, 1.0)),
            )
        )
    if "between" in kinds and len(pos) > 1:
        pairs = list(zip(pos[:-1], pos[1:]))
        frac = hs.floats(BETWEEN_MARGIN, 1.0 - BETWEEN_MARGIN)
        options.append(
            hs.builds(lambda ab, t: ab[0] ** (1.0 - t) * ab[1] ** t, hs.sampled_from(pairs), frac)
        )
    if "outside" in kinds:
        decades = hs.floats(*OUTSIDE_DECADES)
        options.append(
            hs.builds(
                lambda u, above: pos[0] * 10.0**u if above else pos[-1] * 10.0**-u,
                decades,
                hs.booleans(),
            )
        )
    if not options:
        return hs.nothing()
    return hs.one_of(options).filter(_positive_finite)


# ----------------------------------------------------------------------------- stationary points
def _quiet_map(cov: np.ndarray, sigma2: float | str, latent_dim: int) -> StabilityMap:
    """`stability_map` without its DegeneracyWarning: degenerate draws are asked for explicitly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        return stability_map(cov, sigma2, latent_dim=latent_dim)


@dataclass(frozen=True, eq=False, slots=True)
class StationaryCase:
    """A drawn stationary point together with the problem it belongs to.

    Attributes
    ----------
    cov : ndarray, shape (d, d)
    stability_map : StabilityMap
        ``stability_map(cov, sigma2, latent_dim=latent_dim)``.
    point : StationaryPoint
        One of its points (``point.sigma2`` is ``s_I`` when sigma2 is learned).
    """

    cov: np.ndarray
    stability_map: StabilityMap
    point: StationaryPoint

    @property
    def sigma2(self) -> float:
        """The point's noise variance (``s_I`` when learned)."""
        return self.point.sigma2

    @property
    def latent_dim(self) -> int:
        return self.stability_map.latent_dim

    @property
    def eigenvalues(self) -> np.ndarray:
        return self.stability_map.eigenvalues

    def __repr__(self) -> str:
        smap, p = self.stability_map, self.point
        how = "learned" if smap.is_learned else "fixed"
        return "\n".join(
            [
                "StationaryCase",
                f"  eigenvalues  {self.eigenvalues.tolist()!r}",
                f"  sigma2       {p.sigma2!r} ({how})",
                f"  latent_dim   {smap.latent_dim}",
                f"  active       {p.active}",
                f"  morse_index  {p.morse_index} ({p.stability.name})",
            ]
        )


@hs.composite
def _stationary_case(
    draw: Any, covs: SearchStrategy, latent_dim: int | None, learned: bool, kinds: tuple[str, ...]
) -> StationaryCase:
    cov = draw(covs)
    d = cov.shape[0]
    q_max = d - 1 if learned else d
    assume(q_max >= 1 and (latent_dim is None or latent_dim <= q_max))
    q = draw(hs.integers(1, q_max)) if latent_dim is None else latent_dim
    if learned:
        sigma2: float | str = "learned"
    else:
        sigma2 = draw(sigma2_values(np.linalg.eigvalsh(cov).clip(0.0), kinds=kinds))
    smap = _quiet_map(cov, sigma2, q)
    index = draw(hs.integers(0, min(smap.n_points, MAX_POINT_INDEX) - 1))
    return StationaryCase(cov, smap, smap.points[index])


def stationary_points(
    cov: ArrayLike | None = None,
    *,
    latent_dim: int | None = None,
    sigma2: str | None = None,
    sigma2_kinds: Sequence[str] = ("between", "outside"),
) -> SearchStrategy[StationaryCase]:
    """Stationary points of the pPCA log-likelihood, each with its covariance and map.

    Parameters
    ----------
    cov : SearchStrategy, array_like or None
        The covariance: a strategy of matrices (default ``covariances()``) or one fixed matrix.
    latent_dim : int, optional
        ``q``; drawn from ``1..d`` (``1..d-1`` when learned) if omitted. Draws with ``d`` too small
        for it are rejected.
    sigma2 : None or "learned", default None
        None: the noise variance is fixed, drawn by `sigma2_values()`; ``"learned"``: the point
        is a joint ``(W, sigma2)`` stationary point with its own ``s_I``, as in
        `stability_map()`. (``"fixed"`` is a deprecated spelling of None.)
    sigma2_kinds : sequence of str, default ("between", "outside")
        Passed to `sigma2_values()` as `kinds`; add ``"at"`` and ``"near"`` for degenerate and
        nearly degenerate points.

    Returns
    -------
    SearchStrategy of StationaryCase
        Shrinks towards ``W = 0`` (the first point) in few dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import find
    >>> from ppca_stability import log_likelihood_gradient
    >>> from ppca_stability.strategies import stationary_points
    >>> case = find(stationary_points(sigma2="learned"), lambda c: len(c.point.active) == 2)
    >>> g_W, g_s = log_likelihood_gradient(case.point.loadings, case.cov, case.sigma2)
    >>> bool(np.allclose(g_W, 0.0, atol=1e-8)), abs(g_s) < 1e-8
    (True, True)
    """
    if sigma2 == "fixed":
        warnings.warn(
            'stationary_points(sigma2="fixed") is deprecated: use sigma2=None (the default).',
            FutureWarning,
            stacklevel=2,
        )
        sigma2 = None
    if sigma2 is not None:
        check_choice(sigma2, "sigma2", ("learned",))
    learned = sigma2 == "learned"
    covs = _as_strategy(cov, "cov", covariances(spectra(min_dim=2 if learned else 1)), check_cov)
    if latent_dim is not None:
        latent_dim = check_positive_int(latent_dim, "latent_dim")
    return _stationary_case(covs, latent_dim, learned, _check_kinds(sigma2_kinds))
