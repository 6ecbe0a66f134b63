"""Result objects: frozen, with derived values as properties and a short table as ``repr``."""

from __future__ import annotations

import enum
import functools
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from . import _enumeration as st
from ._census import census_dict
from .exceptions import DegeneracyWarning
from ._hessian import HessianSpectrum, closed_form_spectrum, tie_sign
from ._spectrum import Spectrum

__all__ = ["Stability", "StationaryPoint", "StabilityMap", "PointClassification"]

# A census that has to enumerate points (ties, or sigma2 learned) refuses beyond this many.
MAX_ENUMERATED_CENSUS = 2_000_000


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
    def from_counts(cls, n_positive: int, n_negative: int, n_zero: int) -> "Stability":
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


class _Points(Sequence):
    """The stationary points of a map, built only when iterated or indexed."""

    __slots__ = ("_map",)

    def __init__(self, smap: "StabilityMap") -> None:
        self._map = smap

    def __iter__(self) -> Iterator[StationaryPoint]:
        return (self._map._build(a) for a in self._map._active_sets())

    def __len__(self) -> int:
        n = self._map.n_points
        if n > sys.maxsize:
            raise OverflowError(f"{n} stationary points exceed sys.maxsize; use `.n_points` instead of len().")
        return n

    @overload
    def __getitem__(self, index: int) -> StationaryPoint: ...
    @overload
    def __getitem__(self, index: slice) -> list[StationaryPoint]: ...

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        n = self._map.n_points
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(n))]
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"point indices must be integers or slices; got {type(index).__name__}.")
        i = int(index) + (n if index < 0 else 0)
        if not 0 <= i < n:
            raise IndexError(f"point index {index} out of range for {n} stationary points.")
        smap = self._map
        if smap.is_learned:
            return smap._build(st.unrank_joint(i, smap.eigenvalues, smap.latent_dim, smap.rtol, smap.floor))
        return smap._build(st.unrank_fixed(i, smap.n_above, smap.latent_dim))

    def __repr__(self) -> str:
        return f"<{self._map.n_points} stationary points, built lazily>"


@dataclass(frozen=True, eq=False, slots=True)
class StabilityMap:
    """Every stationary point of the pPCA log-likelihood for one ``(cov, sigma2, latent_dim)``.

    Build it with `ppca_stability.stability_map()`. Points are enumerated lazily: nothing is
    built until ``.points`` is iterated or indexed, and ``.n_points`` and ``.census()`` are exact
    integers computed without enumeration (for a fixed ``sigma2`` and untied eigenvalues).
    """

    spectrum: Spectrum
    sigma2: float | str
    latent_dim: int
    rtol: float
    # Results that cost an enumeration-sized search (the joint count, enumerated census and
    # stability counts); filled on first use.
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    # ------------------------------------------------------------------ basic facts
    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of the covariance, descending."""
        return self.spectrum.eigenvalues

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
        return st.eigen_floor(self.eigenvalues)

    @property
    def n_above(self) -> int:
        """``m(sigma2)``: eigenvalues strictly above ``sigma2`` (fixed ``sigma2`` only)."""
        if self.is_learned:
            raise ValueError("`n_above` is defined for a fixed sigma2; each point has its own with sigma2='learned'.")
        return st.n_above(self.eigenvalues, self.sigma2, self.rtol, self.floor)

    @property
    def has_degeneracy(self) -> bool:
        """Ties among eigenvalues that matter, or ``sigma2`` within ``rtol`` of an eigenvalue."""
        lam = self.eigenvalues
        if self.is_learned:
            ties = tie_sign(lam[:-1], lam[1:], self.rtol, self.floor) == 0
            return bool(np.any(ties & (lam[:-1] > 0)))
        n_near, tied_above = fixed_degeneracy(lam, np.array([self.sigma2]), self.rtol, self.floor)
        return bool(n_near[0] or tied_above[0])

    # ------------------------------------------------------------------ enumeration
    def _active_sets(self) -> Iterator[tuple[int, ...]]:
        if self.is_learned:
            return st.iter_joint(self.eigenvalues, self.latent_dim, self.rtol, self.floor)
        return st.iter_fixed(self.n_above, self.latent_dim)

    @property
    def n_points(self) -> int:
        """Exact number of stationary orbits (a Python int, however large)."""
        if self.is_learned:
            if "n_points" not in self._cache:  # a branch-and-bound search: 0.8 s for digits, q = 10
                self._cache["n_points"] = st.count_joint(self.eigenvalues, self.latent_dim, self.rtol, self.floor)
            return self._cache["n_points"]
        return st.count_fixed(self.n_above, self.latent_dim)

    @property
    def points(self) -> Sequence[StationaryPoint]:
        """Lazily built stationary points, ordered by ``k`` then lexicographically."""
        return _Points(self)

    def _build(self, active: tuple[int, ...]) -> StationaryPoint:
        lam, q = self.eigenvalues, self.latent_dim
        s = self._sigma2_of(active)
        # The inertia by counting (O(k log d), exactly the signs of the closed-form spectrum; a
        # test checks both point by point); the O(d q) spectrum only when it is asked for.
        n_pos, n_neg, n_zero = self._counter()(active, s)
        if n_zero and self.is_learned:
            # Each joint point has its own s_I, so a tie of s_I with a discarded eigenvalue is only
            # found here (a fixed-sigma2 map announces all its degeneracies when it is built).
            warnings.warn(f"the joint stationary point {tuple(active)} is degenerate: s_I = {s:.6g} ties "
                          "with an eigenvalue.", DegeneracyWarning, stacklevel=3)
        index = np.asarray(active, dtype=np.intp)
        return StationaryPoint(
            active=tuple(index.tolist()),
            loadings=st.stationary_loadings(self.spectrum.eigenvectors, lam, active, s, q),
            sigma2=s,
            log_likelihood=st.stationary_log_likelihood(lam, active, s),
            morse_index=n_pos,
            symmetry_dim=len(active) * (len(active) - 1) // 2 + len(active) * (q - len(active)),
            n_degenerate=n_zero,
            stability=Stability.from_counts(n_pos, n_neg, n_zero),
            _spectrum=functools.partial(closed_form_spectrum, lam, index, s, q, joint=self.is_learned,
                                        rtol=self.rtol, floor=self.floor),
        )

    def point(self, active: Any) -> StationaryPoint:
        """The stationary point with the given active set (any order of distinct indices).

        Raises
        ------
        ValueError
            If `active` does not define a stationary point of this map.
        """
        idx = _check_active(active, self.n_features, self.latent_dim)
        lam = self.eigenvalues
        if self.is_learned:
            if not st.is_joint_admissible(lam, idx, self.latent_dim, self.rtol, self.floor):
                raise ValueError(
                    f"`active` = {idx} is not a joint stationary point: every kept eigenvalue must exceed "
                    "s_I, the mean of the discarded ones, and s_I must be positive."
                )
        else:
            below = [i for i in idx if i >= self.n_above]
            if below:
                raise ValueError(
                    f"`active` = {idx} is not a stationary point at sigma2 = {self.sigma2:g}: eigenvalue(s) "
                    f"{', '.join(f'#{i} = {lam[i]:.6g}' for i in below)} do not exceed sigma2 (beyond rtol)."
                )
        return self._build(idx)

    @property
    def global_maximum(self) -> StationaryPoint:
        """The global maximum (theory.md §2, §5): the top ``min(q, m)`` eigenvalues kept."""
        lam, q = self.eigenvalues, self.latent_dim
        if not self.is_learned:
            return self._build(tuple(range(min(q, self.n_above))))
        active = st.joint_mle_active(lam, q, self.rtol, self.floor)
        if active is None:
            rank = int(np.count_nonzero(lam > 0))
            raise ValueError(
                f"with sigma2='learned' the likelihood is unbounded: the covariance has rank {rank} <= "
                f"latent_dim = {q}, so W can span its support while sigma2 -> 0. Use latent_dim < {rank}."
            )
        return self._build(active)

    # ------------------------------------------------------------------ counts
    def census(self) -> dict[int, int]:
        """``{morse_index: count}`` over all stationary orbits, exact.

        For a fixed ``sigma2`` without degeneracy this is the Gaussian-binomial polynomial of
        theory.md §3 and costs no enumeration; otherwise the points are enumerated (refused
        beyond ``MAX_ENUMERATED_CENSUS`` points).
        """
        if not self.is_learned and not self.has_degeneracy:
            return census_dict(self.n_above, self.latent_dim)
        return dict(self._enumerated_counts("census")[0])

    def stability_counts(self) -> dict[Stability, int]:
        """Number of stationary orbits of each `Stability` (zero counts omitted)."""
        if not self.is_learned and not self.has_degeneracy:
            m, d = self.n_above, self.n_features
            n_min = int(m == d)  # W = 0 is a minimum iff sigma2 is below every eigenvalue
            # Without degeneracy the top set is the only maximum (theory.md §3; checked by the census).
            counts = {Stability.MAXIMUM: 1, Stability.MINIMUM: n_min, Stability.SADDLE: self.n_points - 1 - n_min}
            return {k: v for k, v in counts.items() if v}
        return dict(self._enumerated_counts("stability_counts")[1])

    def _enumerated_counts(self, what: str) -> tuple[dict[int, int], dict[Stability, int]]:
        """Census and stability counts from one pass over every point's inertia, cached."""
        if "counts" not in self._cache:
            by_index: dict[int, int] = {}
            by_kind: dict[Stability, int] = {}
            for inertia in self._inertias(what):
                by_index[inertia[0]] = by_index.get(inertia[0], 0) + 1
                kind = Stability.from_counts(*inertia)
                by_kind[kind] = by_kind.get(kind, 0) + 1
            self._cache["counts"] = (dict(sorted(by_index.items())),
                                     {s: by_kind[s] for s in Stability if s in by_kind})
        return self._cache["counts"]

    def _sigma2_of(self, active: tuple[int, ...]) -> float:
        """The noise variance of the point with this active set (its own ``s_I`` when learned)."""
        return st.joint_sigma2(self.eigenvalues, active) if self.is_learned else float(self.sigma2)

    def _counter(self) -> Any:
        return st.inertia_counter(self.eigenvalues, self.latent_dim, self.rtol, self.floor, joint=self.is_learned)

    def _walk(self) -> Iterator[tuple[tuple[int, ...], float, tuple[int, int, int]]]:
        """``(active, sigma2, (n_positive, n_negative, n_zero))`` of every point in order, by
        counting: no loadings or spectra are built."""
        count = self._counter()
        for active in self._active_sets():
            s = self._sigma2_of(active)
            yield active, s, count(active, s)

    def _summaries(self) -> Iterator[tuple[int, float, Stability]]:
        """``(morse_index, log_likelihood, stability)`` of every point in order (what a scatter of
        the whole map needs)."""
        lam = self.eigenvalues
        for active, s, inertia in self._walk():
            yield inertia[0], st.stationary_log_likelihood(lam, active, s), Stability.from_counts(*inertia)

    def _inertias(self, what: str) -> Iterator[tuple[int, int, int]]:
        """``(n_positive, n_negative, n_zero)`` of every point, refused beyond
        ``MAX_ENUMERATED_CENSUS`` points (`what` names the caller in the error)."""
        n = self.n_points
        if n > MAX_ENUMERATED_CENSUS:
            reason = "sigma2 is learned" if self.is_learned else "the spectrum is degenerate (ties or sigma2 at an eigenvalue)"
            raise ValueError(
                f"`{what}` must enumerate the {n} stationary points because {reason}; that exceeds "
                f"{MAX_ENUMERATED_CENSUS}. Reduce latent_dim or move sigma2 off the eigenvalues."
            )
        return (inertia for _, _, inertia in self._walk())

    # ------------------------------------------------------------------ display
    def plot(self, ax: Any = None) -> Any:
        """Stationary points: log-likelihood against Morse index, coloured by stability."""
        from ._plotting import plot_stability_map

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
                f"  global maximum  {g.n_active} live, {g.n_collapsed} collapsed, sigma2={g.sigma2:.6g}, "
                f"log-lik={g.log_likelihood:.6g}, {g.stability.name}"
            )
        except ValueError as exc:
            rows.append(f"  global maximum  none ({str(exc).split(':')[0]})")
        if self.is_learned or self.has_degeneracy:
            rows.append("  degenerate      yes (ties or sigma2 at an eigenvalue)" if self.has_degeneracy else "")
        else:
            by = ", ".join(f"{k.name.lower()}: {v}" for k, v in self.stability_counts().items())
            rows.append(f"  by stability    {by}")
        return "\n".join(r for r in rows if r)


# ----------------------------------------------------------------------------- over a grid of sigma2
def fixed_degeneracy(lam: np.ndarray, sigma2: np.ndarray, rtol: float, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """`StabilityMap.has_degeneracy` for fixed ``sigma2``, vectorised over an array of values.

    Returns ``(n_near, tied_above)``: how many eigenvalues lie within tolerance of each value, and
    whether eigenvalues tied within tolerance lie above it. A map is degenerate iff
    ``n_near > 0 or tied_above``.
    """
    n_near = np.count_nonzero(tie_sign(lam[None, :], sigma2[:, None], rtol, floor) == 0, axis=1)
    ties = tie_sign(lam[:-1], lam[1:], rtol, floor) == 0
    highest_tie = float(lam[:-1][ties].max()) if ties.any() else -np.inf
    return n_near, sigma2 < highest_tie


def _check_active(active: Any, d: int, q: int) -> tuple[int, ...]:
    try:
        items = list(active)
    except TypeError:
        raise TypeError(f"`active` must be a sequence of eigenvalue indices; got {type(active).__name__}.") from None
    if any(isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) for i in items):
        raise TypeError(f"`active` must contain integer indices; got {items!r}.")
    idx = sorted(int(i) for i in items)
    if len(set(idx)) != len(idx):
        raise ValueError(f"`active` must not repeat an index; got {items!r}.")
    if idx and (idx[0] < 0 or idx[-1] >= d):
        raise ValueError(f"`active` indices must lie in [0, {d - 1}] (0-based, eigenvalues descending); got {items!r}.")
    if len(idx) > q:
        raise ValueError(f"`active` has {len(idx)} indices but latent_dim = {q}.")
    return tuple(idx)


@dataclass(frozen=True, eq=False, slots=True)
class PointClassification:
    """Numeric second-order classification of an arbitrary ``W`` (see `classify_point()`).

    Attributes
    ----------
    gradient_norm : float
        Frobenius norm of the gradient (with the ``sigma2`` component when learned).
    relative_gradient_norm : float
        Scale-free version used for ``is_stationary``:
        ``sqrt((|g_W| sqrt(sigma2 + |W|_2^2))^2 + (sigma2 g_s)^2)``.
    is_stationary : bool
    hessian_eigenvalues : ndarray
        Dense method: all eigenvalues of the Hessian compressed onto the complement of the
        symmetry orbit's tangent space (the symmetry modes appear as exact zeros), ascending.
        Lanczos method: only the extreme eigenvalues computed, ascending (for ``sigma2_learned``,
        of the Hessian in the coordinates ``(W, sigma2 / sqrt(sigma2))``, which have the same signs).
    morse_index : int
        Positive eigenvalues outside the symmetry modes (a lower bound when
        ``morse_index_exact`` is False).
    morse_index_exact : bool
    symmetry_dim : int
    n_degenerate : int
        Zero eigenvalues beyond the symmetry modes (dense method; Lanczos: 0 or 1 observed).
    stability : Stability
    method : str
        ``"dense"`` or ``"lanczos"``.
    """

    gradient_norm: float
    relative_gradient_norm: float
    is_stationary: bool
    hessian_eigenvalues: np.ndarray
    morse_index: int
    morse_index_exact: bool
    symmetry_dim: int
    n_degenerate: int
    stability: Stability
    method: str

    def __repr__(self) -> str:
        h = self.hessian_eigenvalues
        return "\n".join([
            f"PointClassification(stability={self.stability.name}, method={self.method})",
            f"  gradient norm     {self.gradient_norm:.3e} (relative {self.relative_gradient_norm:.3e}, "
            f"{'stationary' if self.is_stationary else 'NOT stationary'})",
            f"  morse index       {self.morse_index}{'' if self.morse_index_exact else ' (lower bound)'}",
            f"  symmetry modes    {self.symmetry_dim}; extra zero modes {self.n_degenerate}",
            f"  hessian spectrum  [{h[0]:.4g} .. {h[-1]:.4g}] ({h.size} values)" if h.size else "",
        ]).rstrip()
