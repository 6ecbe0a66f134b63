"""Stability of the stationary points of the pPCA likelihood, in closed form: `stability_map`.

`stability_map()` enumerates every stationary point from the covariance's eigenpairs (theory.md
§2, §5; ``_enumeration``) and classifies each from the signs of its closed-form Hessian spectrum
(§3; ``_inertia``), at the cost of one eigendecomposition. This module owns the `Stability`
labels, the point and map result classes, and the counts of points by Morse index and by
stability (census and stability counts), which the phase diagrams reuse value by value.
"""

from __future__ import annotations

import enum
import functools
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

import numpy as np

from .._base.tolerance import (
    DEFAULT_RTOL,
    eigen_floor,
    is_degenerate,
    n_above,
    warn_unresolved,
)
from .._base.validation import (
    PSD_SLACK,
    check_cov,
    check_latent_dim,
    check_learned_latent_dim,
    check_rtol,
    check_sigma2,
)
from .._spectra.spectrum import (
    Spectrum,
    check_cov_or_spectrum,
    dense_above,
    dense_cut,
    dense_partial,
    eigh_descending,
    full_eigenvalues,
    require_above,
    require_complete,
    require_joint,
    require_trace,
    spectrum_floor,
)
from .._spectra.sylvester import count_above
from ..exceptions import DegeneracyWarning
from . import enumeration as en
from .census import census_dict
from .inertia import HessianSpectrum, closed_form_spectrum, inertia_counter, symmetry_dim

__all__ = ["Stability", "StationaryPoint", "StabilityMap", "stability_map", "LazyPoints"]

T = TypeVar("T")

# A census that has to enumerate points (ties, or sigma2 learned) refuses beyond this many.
MAX_ENUMERATED_CENSUS = 2_000_000
# `stability_map(cov, sigma2, latent_dim=q)` at a fixed sigma2, from PARTIAL_MIN_FEATURES
# features on, first counts exactly the eigenvalues above the partial route's cut (`dense_cut`,
# just below the tie band of sigma2) by Sylvester's law of inertia (`_sylvester.count_above`,
# about 0.07-0.15x one full eigh at d = 2000). The map needs every eigenpair above that cut, for
# any latent_dim; with at most d / PARTIAL_MAX_FRACTION of them they are computed alone: by the
# certified block Krylov route (`_spectrum.dense_above`, about 0.3x a full eigh for 60 of them)
# when there are at most PARTIAL_TOP, and by LAPACK's syevr on the interval above the cut when
# there are more or when the Krylov route cannot certify its cut (0.4x for 16 pairs, 0.43x for
# 128, 0.57x for 250, 0.77x for 500: one thread, d = 2000). With more, one full eigh. Before the
# count, the same count on the principal submatrix of every other row and column, a lower bound
# by Cauchy's interlacing theorem at an eighth of the cost, sends cuts with many eigenvalues above
# them (inside a bulk, below the mean eigenvalue) straight to the full eigh.
PARTIAL_MIN_FEATURES = 512
PARTIAL_MAX_FRACTION = 8
PARTIAL_TOP = 64


class Stability(enum.Enum):
    """Second-order classification of a stationary point of the log-likelihood (maximised).

    MAXIMUM: no ascent direction and no zero mode beyond the symmetry orbit.
    MINIMUM: no descent direction (only ``W = 0`` with ``sigma2`` below every eigenvalue).
    SADDLE: ascent and descent directions both exist (zero modes, if any, do not matter).
    DEGENERATE: zero eigenvalues beyond the symmetry modes and no sign that settles it
    (ties among eigenvalues, or ``sigma2`` within ``rtol`` of an eigenvalue).
    NOT_STATIONARY: the gradient does not vanish (only from `classify_point()`).
    """

    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    SADDLE = "saddle"
    DEGENERATE = "degenerate"
    NOT_STATIONARY = "not stationary"

    @classmethod
    def from_counts(cls, n_positive: int, n_negative: int, n_zero: int) -> Stability:
        """Classify from the Hessian's inertia outside the symmetry modes."""
        if n_positive and n_negative:
            return cls.SADDLE
        if n_zero:
            return cls.DEGENERATE
        return cls.MINIMUM if n_positive else cls.MAXIMUM

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, eq=False, slots=True)
class StationaryPoint:
    """One stationary orbit ``{W_I R : R in O(q)}`` of the pPCA log-likelihood.

    Attributes
    ----------
    active : tuple of int
        0-based indices of the kept eigenvalues (descending order), ascending.
    loadings : ndarray, shape (d, q)
        The representative ``W_I``: live columns ``sqrt(lam_i - sigma2) u_i`` first, then zeros.
    sigma2 : float
        The noise variance of the point (``s_I`` when sigma2 is learned).
    log_likelihood : float
        Mean per-sample log-likelihood at the point.
    morse_index : int
        Number of positive Hessian eigenvalues: independent ascent directions.
    symmetry_dim : int
        Zero modes from ``W -> W R``: ``k (k - 1) / 2 + k (q - k)``.
    n_degenerate : int
        Zero Hessian eigenvalues beyond the symmetry modes.
    stability : Stability
    """

    active: tuple[int, ...]
    loadings: np.ndarray
    sigma2: float
    log_likelihood: float
    morse_index: int
    symmetry_dim: int
    n_degenerate: int
    stability: Stability
    _spectrum: Callable[[], HessianSpectrum] = field(repr=False)

    @property
    def hessian_eigenvalues(self) -> np.ndarray:
        """All Hessian eigenvalues in closed form, ascending (``d q``, or ``d q + 1`` joint).

        Built on access (O(d q)): the classification above comes from counting signs alone.
        """
        return self._spectrum().eigenvalues()

    @property
    def latent_dim(self) -> int:
        return int(self.loadings.shape[1])

    @property
    def n_active(self) -> int:
        return len(self.active)

    @property
    def n_collapsed(self) -> int:
        """Dead (collapsed) latent columns: ``q - k``."""
        return self.latent_dim - self.n_active

    def __repr__(self) -> str:
        return (
            f"StationaryPoint(active={self.active}, sigma2={self.sigma2:.6g}, "
            f"log_likelihood={self.log_likelihood:.6g}, morse_index={self.morse_index}, "
            f"stability={self.stability.name})"
        )


class LazyPoints(Sequence[T]):
    """Stationary points built only when iterated or indexed: ``n`` gives their number, ``item``
    the ``i``-th (0 <= i < n) and ``items`` all of them in order."""

    __slots__ = ("_n", "_item", "_items", "_what")

    def __init__(
        self,
        n: Callable[[], int],
        item: Callable[[int], T],
        items: Callable[[], Iterator[T]],
        what: str = "stationary points",
    ) -> None:
        self._n, self._item, self._items, self._what = n, item, items, what

    def __iter__(self) -> Iterator[T]:
        return self._items()

    def __len__(self) -> int:
        n = self._n()
        if n > sys.maxsize:
            raise OverflowError(
                f"{n} {self._what} exceed sys.maxsize; use `.n_points` instead of len()."
            )
        return n

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index):
        n = self._n()
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(n))]
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(
                f"point indices must be integers or slices; got {type(index).__name__}."
            )
        i = int(index) + (n if index < 0 else 0)
        if not 0 <= i < n:
            raise IndexError(f"point index {index} out of range for {n} {self._what}.")
        return self._item(i)

    def __repr__(self) -> str:
        return f"<{self._n()} {self._what}, built lazily>"


@dataclass(frozen=True, eq=False, slots=True)
class StabilityMap:
    """Every stationary point of the pPCA log-likelihood for one ``(cov, sigma2, latent_dim)``.

    Build it with `ppca_stability.stability_map()`. Points are enumerated lazily: nothing is
    built until ``.points`` is iterated or indexed, and ``.n_points`` and ``.census()`` are exact
    integers computed without enumeration (for a fixed ``sigma2`` and untied eigenvalues).

    The spectrum may be partial (`Spectrum.is_complete` False): every count, point and
    log-likelihood is then the same as from the complete one; only a point's
    ``hessian_eigenvalues`` need all eigenvalues (computed on demand when the map was built
    from a covariance, a ValueError when it was built from a partial `Spectrum`).
    """

    spectrum: Spectrum
    sigma2: float | str
    latent_dim: int
    rtol: float
    # Results that cost an enumeration-sized search (the joint count, enumerated census and
    # stability counts); filled on first use.
    _cache: dict = field(default_factory=dict, init=False, repr=False)
    # The complete spectrum (eigenvalues only), when the map holds a partial one it can complete.
    _complete: Callable[[], Spectrum] | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ basic facts
    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of the covariance, descending (the top ones only, when the spectrum is
        partial)."""
        return self.spectrum.eigenvalues

    @property
    def _values(self) -> np.ndarray:
        """All ``d`` eigenvalues, those a partial spectrum lacks stood in for by their mean
        (`_spectrum.full_eigenvalues`): what every count and log-likelihood reads."""
        if "values" not in self._cache:
            spec = self.spectrum
            if spec.is_complete or spec.trace is not None:
                values = full_eigenvalues(spec, "the log-likelihood")
            else:  # counts need only that they are below sigma2; log-likelihoods raise
                values = np.concatenate(
                    [spec.eigenvalues, np.zeros(spec.n_features - spec.eigenvalues.size)]
                )
            self._cache["values"] = values
        return self._cache["values"]

    @property
    def n_features(self) -> int:
        return self.spectrum.n_features

    @property
    def is_learned(self) -> bool:
        """Whether ``sigma2`` is learned jointly (each point carries its own ``s_I``)."""
        return self.sigma2 == "learned"

    @property
    def floor(self) -> float:
        """Absolute tie tolerance: the eigensolver's error scale ``d * eps * lam_max``."""
        return spectrum_floor(self.spectrum)

    @property
    def n_above(self) -> int:
        """``m(sigma2)``: eigenvalues strictly above ``sigma2`` (fixed ``sigma2`` only)."""
        if isinstance(self.sigma2, str):
            raise ValueError(
                "`n_above` is defined for a fixed sigma2; each point has its own with "
                "sigma2='learned'."
            )
        return n_above(self._values, self.sigma2, self.rtol, self.floor)

    @property
    def has_degeneracy(self) -> bool:
        """Ties among eigenvalues that matter, or ``sigma2`` within ``rtol`` of an eigenvalue."""
        # With sigma2 learned any tie among positive eigenvalues counts; a partial spectrum's
        # stand-ins for the rest are not ties (they lie below every s_I).
        lam = self.eigenvalues if self.is_learned else self._values
        return is_degenerate(lam, self.sigma2, self.rtol, self.floor)

    # ------------------------------------------------------------------ enumeration
    @property
    def n_points(self) -> int:
        """Exact number of stationary orbits (a Python int, however large)."""
        if (
            "n_points" not in self._cache
        ):  # learned: a branch-and-bound search (0.8 s for digits, q = 10)
            self._cache["n_points"] = en.count_points(
                self._values, self.latent_dim, self.sigma2, self.rtol, self.floor
            )
        return self._cache["n_points"]

    @property
    def points(self) -> Sequence[StationaryPoint]:
        """Lazily built stationary points, ordered by ``k`` then lexicographically."""
        lam, q, rtol, floor = self._values, self.latent_dim, self.rtol, self.floor

        def item(i: int) -> StationaryPoint:
            if self.is_learned:
                return self._build(en.unrank_joint(i, lam, q, rtol, floor))
            return self._build(en.unrank_fixed(i, self.n_above, q))

        def items() -> Iterator[StationaryPoint]:
            return (self._build(a) for a in en.active_sets(lam, q, self.sigma2, rtol, floor))

        return LazyPoints(lambda: self.n_points, item, items)

    def _build(self, active: tuple[int, ...]) -> StationaryPoint:
        lam, q = self._values, self.latent_dim
        s = en.point_sigma2(lam, active, self.sigma2)
        # The inertia by counting (O(k log d), exactly the signs of the closed-form spectrum; a
        # test checks both point by point); the O(d q) spectrum only when it is asked for.
        if "counter" not in self._cache:
            self._cache["counter"] = inertia_counter(
                lam, q, self.rtol, self.floor, joint=self.is_learned
            )
        n_pos, n_neg, n_zero = self._cache["counter"](active, s)
        if n_zero and self.is_learned:
            # Each joint point has its own s_I, so a tie of s_I with a discarded eigenvalue is only
            # found here (a fixed-sigma2 map announces all its degeneracies when it is built).
            warnings.warn(
                f"the joint stationary point {tuple(active)} is degenerate: s_I = {s:.6g} ties "
                "with an eigenvalue.",
                DegeneracyWarning,
                stacklevel=3,
            )
        index = np.asarray(active, dtype=np.intp)
        if not self.spectrum.is_complete:
            require_trace(self.spectrum, "the log-likelihood of a stationary point")
        return StationaryPoint(
            active=tuple(index.tolist()),
            loadings=en.stationary_loadings(self.spectrum.vectors, lam, active, s, q),
            sigma2=s,
            log_likelihood=en.stationary_log_likelihood(lam, active, s),
            morse_index=n_pos,
            symmetry_dim=symmetry_dim(len(active), q),
            n_degenerate=n_zero,
            stability=Stability.from_counts(n_pos, n_neg, n_zero),
            _spectrum=functools.partial(self._hessian_spectrum, index, s),
        )

    def all_eigenvalues(self, what: str = "this question") -> np.ndarray:
        """Every eigenvalue of the covariance, descending: the spectrum's own when it is
        complete, else computed once from the covariance the map was built from (a ValueError
        naming `what` needs them when the map was built from a partial `Spectrum`)."""
        if self.spectrum.is_complete:
            return self.spectrum.eigenvalues
        if self._complete is None:
            require_complete(self.spectrum, what)
        if "complete" not in self._cache:
            self._cache["complete"] = self._complete().eigenvalues  # type: ignore[misc]
        return self._cache["complete"]

    def _hessian_spectrum(self, index: np.ndarray, s: float) -> HessianSpectrum:
        """The closed-form Hessian spectrum at a point; it needs every eigenvalue."""
        lam = self.all_eigenvalues("the full Hessian spectrum of a point")
        return closed_form_spectrum(
            lam,
            index,
            s,
            self.latent_dim,
            joint=self.is_learned,
            rtol=self.rtol,
            floor=self.floor,
        )

    def point(self, active: Any) -> StationaryPoint:
        """The stationary point with the given active set (any order of distinct indices).

        Raises
        ------
        ValueError
            If `active` does not define a stationary point of this map.
        """
        idx = check_active(active, self.n_features, self.latent_dim)
        lam = self._values
        if self.is_learned:
            if not en.is_joint_admissible(lam, idx, self.latent_dim, self.rtol, self.floor):
                raise ValueError(
                    f"`active` = {idx} is not a joint stationary point: every kept eigenvalue must "
                    "exceed s_I, the mean of the discarded ones, and s_I must be positive."
                )
        else:
            below = [i for i in idx if i >= self.n_above]
            if below:
                raise ValueError(
                    f"`active` = {idx} is not a stationary point at sigma2 = {self.sigma2:g}: "
                    f"eigenvalue(s) {', '.join(f'#{i} = {lam[i]:.6g}' for i in below)} do not "
                    "exceed sigma2 (beyond rtol)."
                )
        return self._build(idx)

    @property
    def global_maximum(self) -> StationaryPoint:
        """The global maximum (theory.md §2, §5): the top ``min(q, m)`` eigenvalues kept."""
        lam, q = self._values, self.latent_dim
        if not self.is_learned:
            return self._build(tuple(range(min(q, self.n_above))))
        return self._build(en.joint_maximum(lam, q, self.rtol, self.floor))

    # ------------------------------------------------------------------ counts
    def census(self) -> dict[int, int]:
        """``{morse_index: count}`` over all stationary orbits, exact.

        For a fixed ``sigma2`` without degeneracy this is the Gaussian-binomial polynomial of
        theory.md §3 and costs no enumeration, but about ``m^3 / 6`` big-integer operations
        (refused beyond ``_census.MAX_CENSUS_SIZE`` coefficients); otherwise the points are
        enumerated (refused beyond ``MAX_ENUMERATED_CENSUS`` points).
        """
        if "census" not in self._cache:
            if self._closed_form:
                self._cache["census"] = census_dict(self.n_above, self.latent_dim)
            else:
                self._cache["census"] = self._enumerated("census")[0]
        return dict(self._cache["census"])

    def stability_counts(self) -> dict[Stability, int]:
        """Number of stationary orbits of each `Stability` (zero counts omitted).

        In closed form (no census) for a fixed ``sigma2`` without degeneracy.
        """
        if self._closed_form:
            return fixed_stability_counts(
                self.n_above, self.latent_dim, self.n_features, self.n_points
            )
        return dict(self._enumerated("stability_counts")[1])

    @property
    def _closed_form(self) -> bool:
        return not self.is_learned and not self.has_degeneracy

    def _enumerated(self, what: str) -> tuple[dict[int, int], dict[Stability, int]]:
        if "enumerated" not in self._cache:
            self._cache["enumerated"] = enumerated_counts(
                self._values,
                self.latent_dim,
                self.sigma2,
                self.rtol,
                self.n_points,
                what,
                floor=self.floor,
            )
        return self._cache["enumerated"]

    # ------------------------------------------------------------------ display
    def plot(self, ax: Any = None) -> Any:
        """Stationary points: log-likelihood against Morse index, coloured by stability."""
        from .._plotting.figures import plot_stability_map

        return plot_stability_map(self, ax=ax)

    def __repr__(self) -> str:
        lam = self.eigenvalues
        shown = ", ".join(f"{v:.4g}" for v in lam[:5]) + (", ..." if lam.size > 5 else "")
        s = "learned" if self.is_learned else f"{self.sigma2:.6g}"
        rows = [
            f"StabilityMap(n_features={self.n_features}, latent_dim={self.latent_dim}, sigma2={s})",
            f"  eigenvalues     [{shown}]",
        ]
        if not self.is_learned:
            rows.append(f"  above sigma2    {self.n_above} of {self.n_features}")
        rows.append(f"  n_points        {self.n_points}")
        try:
            g = self.global_maximum
            rows.append(
                f"  global maximum  {g.n_active} live, {g.n_collapsed} collapsed, "
                f"sigma2={g.sigma2:.6g}, log-lik={g.log_likelihood:.6g}, {g.stability.name}"
            )
        except ValueError as exc:
            rows.append(f"  global maximum  none ({str(exc).split(':')[0]})")
        if self.is_learned or self.has_degeneracy:
            rows.append(
                "  degenerate      yes (ties or sigma2 at an eigenvalue)"
                if self.has_degeneracy
                else ""
            )
        else:
            by = ", ".join(f"{k.name.lower()}: {v}" for k, v in self.stability_counts().items())
            rows.append(f"  by stability    {by}")
        return "\n".join(r for r in rows if r)


def check_active(active: Any, d: int, q: int) -> tuple[int, ...]:
    try:
        items = list(active)
    except TypeError:
        raise TypeError(
            f"`active` must be a sequence of eigenvalue indices; got {type(active).__name__}."
        ) from None
    if any(isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) for i in items):
        raise TypeError(f"`active` must contain integer indices; got {items!r}.")
    idx = sorted(int(i) for i in items)
    if len(set(idx)) != len(idx):
        raise ValueError(f"`active` must not repeat an index; got {items!r}.")
    if idx and (idx[0] < 0 or idx[-1] >= d):
        raise ValueError(
            f"`active` indices must lie in [0, {d - 1}] (0-based, eigenvalues descending); got "
            f"{items!r}."
        )
    if len(idx) > q:
        raise ValueError(f"`active` has {len(idx)} indices but latent_dim = {q}.")
    return tuple(idx)


# ----------------------------------------------------------------------------- counts of points
def fixed_stability_counts(
    m: int, q: int, d: int, n_points: int, *, breakpoint: bool = False
) -> dict[Stability, int]:
    """Stability counts at a fixed ``sigma2`` with ``m`` eigenvalues above it, without enumeration.

    Regular ``sigma2`` (no eigenvalue within tolerance of it, no ties above it): the top set is
    the only maximum and ``W = 0`` is a minimum iff ``sigma2`` lies below every eigenvalue
    (theory.md §3; checked against the census). At a breakpoint (``sigma2`` at the eigenvalue just
    below the ``m`` above it) the dead-column direction along that eigenvector is flat: the top
    set is ``DEGENERATE`` when it has a dead column (``m < q``), and ``W = 0`` is ``DEGENERATE``
    when that eigenvalue is the smallest (the minimum turning into a saddle); every other point
    keeps ascent and descent directions. The tests compare both cases with enumeration.
    """
    if breakpoint:
        n_max, n_min, n_deg = int(m >= q), 0, int(m < q) + int(1 <= m == d - 1)
    else:
        n_max, n_min, n_deg = 1, int(m == d), 0
    counts = {
        Stability.MAXIMUM: n_max,
        Stability.MINIMUM: n_min,
        Stability.SADDLE: n_points - n_max - n_min - n_deg,
        Stability.DEGENERATE: n_deg,
    }
    return {k: v for k, v in counts.items() if v}


def enumerated_counts(
    lam: np.ndarray,
    q: int,
    sigma2: float | str,
    rtol: float,
    n_points: int,
    what: str = "census",
    *,
    floor: float | None = None,
) -> tuple[dict[int, int], dict[Stability, int]]:
    """``(census, stability counts)`` of the landscape at ``sigma2`` by one counting walk over
    every point's inertia, for the cases without a closed form (ties, ``sigma2`` at an
    eigenvalue, or learned); refused beyond ``MAX_ENUMERATED_CENSUS`` points (`what` names the
    caller in the error). `floor` defaults to `eigen_floor` of `lam`; pass a partial
    spectrum's own."""
    floor = eigen_floor(lam) if floor is None else floor
    if n_points > MAX_ENUMERATED_CENSUS:
        reason = (
            "sigma2 is learned"
            if sigma2 == "learned"
            else "the spectrum is degenerate (ties or sigma2 at an eigenvalue)"
        )
        raise ValueError(
            f"`{what}` must enumerate the {n_points} stationary points because {reason}; that "
            f"exceeds {MAX_ENUMERATED_CENSUS}. Reduce latent_dim or move sigma2 off the "
            "eigenvalues."
        )
    by_index: dict[int, int] = {}
    by_kind: dict[Stability, int] = {}
    for _, _, inertia in en.walk(lam, q, sigma2, rtol, floor):
        by_index[inertia[0]] = by_index.get(inertia[0], 0) + 1
        kind = Stability.from_counts(*inertia)
        by_kind[kind] = by_kind.get(kind, 0) + 1
    return dict(sorted(by_index.items())), {s: by_kind[s] for s in Stability if s in by_kind}


def point_summaries(smap: StabilityMap) -> Iterator[tuple[int, float, Stability]]:
    """``(morse_index, log_likelihood, stability)`` of every point of `smap` in order (what a
    scatter of the whole map needs), by counting: no loadings or spectra are built."""
    lam = smap._values
    for active, s, inertia in en.walk(lam, smap.latent_dim, smap.sigma2, smap.rtol, smap.floor):
        yield (
            inertia[0],
            en.stationary_log_likelihood(lam, active, s),
            Stability.from_counts(*inertia),
        )


# ----------------------------------------------------------------------------- the public function
def validate_map_inputs(
    cov: Any, sigma2: Any, latent_dim: Any, rtol: Any, *, allow_spectrum: bool = False
) -> tuple[Any, float | str, Any, float]:
    """``(cov or Spectrum, sigma2, latent_dim, rtol)`` validated; a `Spectrum` is accepted for
    `cov` with `allow_spectrum`."""
    S = check_cov_or_spectrum(cov) if allow_spectrum else check_cov(cov)
    s = check_sigma2(sigma2, allow_learned=True)
    d = S.n_features if isinstance(S, Spectrum) else S.shape[0]
    if s == "learned":
        q = check_learned_latent_dim(latent_dim, d)
    else:
        q = check_latent_dim(latent_dim, d)
    return S, s, q, check_rtol(rtol)


def stability_map(
    cov: Any, sigma2: float | str, *, latent_dim: int | None = None, rtol: float = DEFAULT_RTOL
) -> StabilityMap:
    """Every stationary point of the pPCA log-likelihood, classified in closed form.

    Parameters
    ----------
    cov : array_like, shape (d, d), or Spectrum
        Data covariance (ddof=0), symmetric positive semi-definite, or its `spectrum()`, possibly
        partial (e.g. ``spectrum(data=X, above=sigma2)``, which never forms the covariance): a
        partial spectrum must hold every eigenvalue above ``sigma2`` beyond ``rtol``
        (with ``"learned"``: above every ``s_I``) and its ``trace``.
    sigma2 : float or "learned"
        Fixed observation-noise variance, or ``"learned"`` for the joint ``(W, sigma2)``
        problem in which each point carries its own ``s_I`` (the mean of the discarded
        eigenvalues).
    latent_dim : int, optional
        ``q``. Defaults to ``d`` (``d - 1`` when ``sigma2="learned"``).
    rtol : float, default 1e-9
        Relative tolerance under which two eigenvalues, or an eigenvalue and ``sigma2``, count
        as equal; such points are reported as ``DEGENERATE`` and a
        `DegeneracyWarning` is issued.

    Returns
    -------
    StabilityMap

    Notes
    -----
    At a fixed ``sigma2`` and ``d >= 512`` the eigenvalues above ``sigma2`` (ties included)
    are first counted exactly, by Sylvester's law of inertia on an LDL^T factorisation of
    ``cov - sigma2 I`` (about a sixth of the work of a full ``eigh``). When there are at most
    ``d / 8`` of them only their eigenpairs are computed, whatever ``latent_dim``: by a block
    Krylov method whose cut is certified by one Cholesky factor (for at most 64 of them; about
    0.3x a full ``eigh`` at d = 2000), or else by LAPACK's syevr on the eigenvalues above the
    cut. The map is then the same as from the complete decomposition (which a point's
    ``hessian_eigenvalues`` computes on demand); with more eigenvalues above ``sigma2``, and for
    ``sigma2="learned"``, the covariance is decomposed whole. The count chooses the route only:
    each route finds the eigenvalues above the cut itself. The partial route checks the
    covariance's entries (`check_cov`) and that the eigenvalues it skips sum to a non-negative
    number, not each of them: ``spectrum(cov)`` checks every eigenvalue.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import stability_map
    >>> smap = stability_map(np.diag([5.0, 3.0, 2.0, 1.0]), 1.5, latent_dim=2)
    >>> smap.n_points, smap.census()
    (7, {0: 1, 1: 1, 2: 2, 3: 1, 4: 1, 6: 1})
    >>> smap.global_maximum.active
    (0, 1)
    >>> [(p.active, p.morse_index, p.stability.name) for p in smap.points][:3]
    [((), 6, 'SADDLE'), ((0,), 2, 'SADDLE'), ((1,), 3, 'SADDLE')]
    """
    S, s, q, rtol = validate_map_inputs(cov, sigma2, latent_dim, rtol, allow_spectrum=True)
    smap = build_map(S, s, q, rtol)
    announce(smap, stacklevel=3)
    return smap


def announce(smap: StabilityMap, *, stacklevel: int) -> None:
    """The warnings a new map owes its caller: a fixed sigma2 below float64's resolution of the
    spectrum (`warn_unresolved`), and degenerate points (`DegeneracyWarning`)."""
    if smap.spectrum.is_complete:
        warn_unresolved(smap.spectrum.eigenvalues, smap.sigma2, stacklevel=stacklevel + 1)
    if smap.has_degeneracy:
        where = "ties among the eigenvalues" + (
            "" if smap.is_learned else " or sigma2 within rtol of an eigenvalue"
        )
        warnings.warn(
            f"degenerate stationary points: {where}; affected points are reported as DEGENERATE.",
            DegeneracyWarning,
            stacklevel=stacklevel,
        )


def build_map(S: np.ndarray | Spectrum, s: float | str, q: int, rtol: float) -> StabilityMap:
    """The map of a covariance (partially decomposed where that is faster: see
    `stability_map`'s Notes) or of a spectrum, after checking that a partial one suffices."""
    if not isinstance(S, Spectrum):
        spec = covariance_spectrum(S, s, rtol)
        complete = (
            None if spec.is_complete else functools.partial(eigh_descending, S, vectors=False)
        )
        return StabilityMap(spec, s, q, rtol, _complete=complete)
    floor = spectrum_floor(S)
    if isinstance(s, str):
        require_joint(S, q, rtol, floor, "stability_map")
    else:
        require_above(S, s, rtol, floor, "stability_map")
    return StabilityMap(S, s, q, rtol)


def partial_count(S: np.ndarray, s: float, rtol: float) -> int | None:
    """How many eigenpairs of the covariance `S` the partial route of a map at ``sigma2 = s``
    computes (every eigenvalue above `dense_cut`, ties with `s` included), counted exactly by
    Sylvester's law of inertia, when that route is the faster; None when one full eigh is (or
    the cut lies in the round-off band)."""
    d = S.shape[0]
    trace = float(np.trace(S))
    cut = dense_cut(s, rtol, d, trace)
    if cut <= PSD_SLACK * d * np.finfo(np.float64).eps * trace:
        return None
    limit = d // PARTIAL_MAX_FRACTION
    # Cauchy interlacing: a principal submatrix has at most as many eigenvalues above the cut.
    if count_above(S[::2, ::2], cut) > limit:
        return None
    count = count_above(S, cut)
    return count if count <= limit else None


def covariance_spectrum(S: np.ndarray, s: float | str, rtol: float) -> Spectrum:
    """The spectrum a map of the covariance `S` at `s` needs (module notes above `Stability`):
    every eigenpair, or at a fixed `s` only those above its cut when they are few. The count
    only chooses the route: the Krylov route certifies its own cut and syevr finds every
    eigenvalue above it, so a count that round-off got wrong costs time, not the answer."""
    if isinstance(s, str) or S.shape[0] < PARTIAL_MIN_FEATURES:
        return eigh_descending(S, vectors=True)
    count = partial_count(S, s, rtol)
    if count is None:
        return eigh_descending(S, vectors=True)
    if count <= PARTIAL_TOP:
        # A fixed seed: the same covariance gives the same map, bit for bit. A run that stops
        # without an answer (a reason, or a ValueError where its Krylov space gives out) leaves
        # syevr to answer; an error in the input (a negative sum of skipped eigenvalues) is
        # raised again there.
        try:
            found = dense_above(S, s, max_count=count, rng=np.random.default_rng(0), rtol=rtol)
        except ValueError:
            found = "error"
        if isinstance(found, Spectrum):
            return found
    return dense_partial(S, above=s, n_components=None, vectors=True, rtol=rtol)
