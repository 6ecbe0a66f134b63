"""Stability of the stationary points of the pPCA likelihood, in closed form: `stability_map`.

`stability_map()` enumerates every stationary point from the covariance's eigenpairs (theory.md
§2, §5; ``_enumeration``) and classifies each from the signs of its closed-form Hessian spectrum
(§3; ``_inertia``), at the cost of one eigendecomposition. This module owns the `Stability`
labels, the point and map result classes, and the counts of points by Morse index and by
stability (census and stability counts), which the phase diagrams reuse value by value.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike

from .._base import persist
from .._base.classification import Stability
from .._base.formatting import format_count
from .._base.frames import data_frame
from .._base.html import render, repr_facts
from .._base.latents import LatentCounts
from .._base.tolerance import (
    DEFAULT_RTOL,
    is_degenerate,
    n_above,
    warn_unresolved,
)
from .._spectra.container import (
    Spectrum,
    full_eigenvalues,
    require_above,
    require_complete,
    require_joint,
    require_trace,
    spectrum_floor,
)
from .._spectra.spectrum import check_map_inputs, eigh_descending
from ..exceptions import DegeneracyWarning
from . import enumeration as en
from .census import census_dict
from .counts import enumerated_counts, fixed_stability_counts
from .inertia import HessianSpectrum, closed_form_spectrum, inertia_counter, symmetry_dim
from .route import covariance_spectrum

__all__ = [
    "StationaryPoint",
    "StabilityMap",
    "stability_map",
    "LazyPoints",
]

T = TypeVar("T")

# The exact count of the joint points (sigma2 learned) is a branch and bound whose cost follows
# the boundary of the admissible region; it refuses beyond this many branches, about 2 s on one
# core (digits, latent_dim 16: 1.0 million branches; MNIST-test, latent_dim 5: 0.33 million,
# latent_dim 6: 4.3 million in 4.3 s, refused; latent_dim 10 would take hours).
MAX_COUNT_BRANCHES = 2_000_000
# Most rows `StabilityMap.to_frame()` lists.
MAX_FRAME_ROWS = 1_000_000


@dataclass(frozen=True, eq=False, slots=True)
class StationaryPoint(LatentCounts):
    """One stationary orbit ``{W_I R : R in O(q)}`` of the pPCA log-likelihood.

    Attributes
    ----------
    active : tuple of int
        0-based indices of the kept eigenvalues (descending order), ascending.
    loadings : ndarray, shape (d, q)
        The representative ``W_I``: live columns ``sqrt(lam_i - sigma2) u_i`` first, then zeros.
        Formed on first access (``d x q`` entries; the classification does not read it).
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
    n_active : int
        Live (non-collapsed) latent columns ``k``.
    n_collapsed : int
        Dead (collapsed, zero) latent columns ``q - k``.
    """

    active: tuple[int, ...]
    sigma2: float
    log_likelihood: float
    morse_index: int
    symmetry_dim: int
    n_degenerate: int
    stability: Stability
    _latent_dim: int = field(repr=False)
    _loadings: Callable[[], np.ndarray] = field(repr=False)
    _spectrum: Callable[[], HessianSpectrum] = field(repr=False)

    @property
    def loadings(self) -> np.ndarray:
        """``W_I``, shape ``(d, q)``: formed on first access, then the same array."""
        return self._loadings()

    @property
    def latent_dim(self) -> int:
        return self._latent_dim

    @property
    def hessian_eigenvalues(self) -> np.ndarray:
        """All Hessian eigenvalues in closed form, ascending (``d q``, or ``d q + 1`` joint).

        Built on access (O(d q)): the classification above comes from counting signs alone.
        """
        return self._spectrum().eigenvalues()

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
        """Exact number of stationary orbits (a Python int, however large).

        In closed form for a fixed ``sigma2``. With ``sigma2`` learned it is a branch-and-bound
        search (digits, latent_dim 10: 0.1 s), refused with a ValueError beyond about 5 s of
        work (MNIST, latent_dim 10); `n_points_upper_bound` is then the answer at hand.
        """
        if "n_points" not in self._cache:
            if self.is_learned:
                try:
                    count: int | str = en.count_joint(
                        self._values, self.latent_dim, self.rtol, self.floor, MAX_COUNT_BRANCHES
                    )
                except ValueError:  # remembered: a second try would cost the budget again
                    count = (
                        "`n_points`: counting the stationary points with sigma2 learned exceeds "
                        f"its budget ({MAX_COUNT_BRANCHES} branches, seconds) here; there are at "
                        f"most {format_count(self.n_points_upper_bound)}. Reduce latent_dim, or "
                        "fix sigma2 (then they are counted in closed form)."
                    )
            else:
                count = en.count_fixed(self.n_above, self.latent_dim)
            self._cache["n_points"] = count
        if isinstance(self._cache["n_points"], str):
            raise ValueError(self._cache["n_points"])
        return self._cache["n_points"]

    @property
    def n_points_upper_bound(self) -> int:
        """An upper bound on `n_points` that costs no search: `n_points` itself for a fixed
        ``sigma2``; with ``sigma2`` learned ``sum_k C(m_k, k)``, ``m_k`` the number of
        eigenvalues above the smallest noise variance a set of ``k`` latents can have (the mean
        of all but the top ``k``)."""
        if not self.is_learned:
            return self.n_points
        return en.joint_count_bound(self._values, self.latent_dim)

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
            _latent_dim=q,
            # The d x q loadings on first access: at q = d = 2000, 7-8 ms of a map that needs
            # only the point's classification and log-likelihood.
            _loadings=functools.cache(
                functools.partial(en.stationary_loadings, self.spectrum.vectors, lam, active, s, q)
            ),
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
    def point_summaries(self) -> Iterator[tuple[int, float, Stability]]:
        """``(morse_index, log_likelihood, stability)`` of every point, in the order of ``points``,
        by counting: no loadings or Hessian spectra are built (what a scatter of the whole map
        needs).

        Examples
        --------
        >>> import numpy as np
        >>> from ppca_stability import stability_map
        >>> smap = stability_map(np.diag([3.0, 2.0, 1.0]), 0.5, latent_dim=1)
        >>> [(k, str(kind)) for k, _, kind in smap.point_summaries()]
        [(3, 'minimum'), (0, 'maximum'), (1, 'saddle'), (2, 'saddle')]
        """
        lam = self._values
        for active, s, inertia in en.walk(lam, self.latent_dim, self.sigma2, self.rtol, self.floor):
            yield (
                inertia[0],
                en.stationary_log_likelihood(lam, active, s),
                Stability.from_counts(*inertia),
            )

    def plot(self, ax: Any = None) -> Any:
        """Stationary points: log-likelihood against Morse index, coloured by stability."""
        from .._plotting.maps import plot_stability_map

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
        rows.append(f"  n_points        {n_points_text(self)}")
        try:
            g = self.global_maximum
            rows.append(
                f"  global maximum  {g.n_active} live, {g.n_collapsed} collapsed (zero column), "
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
            by = ", ".join(
                f"{k.name.lower()}: {format_count(v)}" for k, v in self.stability_counts().items()
            )
            rows.append(f"  by stability    {by}")
        return "\n".join(r for r in rows if r)

    # ------------------------------------------------------------------ keeping and showing
    # JSON text and a file that `ppca_stability.load` reads back (docs/saving.md): the spectrum
    # is saved, and the points are enumerated from it again on demand.
    to_json = persist.to_json
    save = persist.save

    def to_frame(self) -> Any:
        """One row per stationary point, in the order of ``points``: ``active`` (tuple),
        ``n_active``, ``sigma2``, ``log_likelihood``, ``morse_index``, ``stability`` (name), by
        counting (no loadings are built); refused beyond `MAX_FRAME_ROWS` points. Needs pandas
        (the ``pandas`` extra)."""
        if self.n_points > MAX_FRAME_ROWS:
            raise ValueError(
                f"`to_frame` would list {self.n_points} points, more than {MAX_FRAME_ROWS}; "
                "reduce latent_dim, or use .census() and .stability_counts()."
            )
        lam = self._values
        rows = [
            (active, len(active), s, en.stationary_log_likelihood(lam, active, s), inertia)
            for active, s, inertia in en.walk(
                lam, self.latent_dim, self.sigma2, self.rtol, self.floor
            )
        ]
        columns = {
            "active": [r[0] for r in rows],
            "n_active": np.array([r[1] for r in rows], dtype=np.int64),
            "sigma2": np.array([r[2] for r in rows], dtype=np.float64),
            "log_likelihood": np.array([r[3] for r in rows], dtype=np.float64),
            "morse_index": np.array([r[4][0] for r in rows], dtype=np.int64),
            "stability": [Stability.from_counts(*r[4]).name for r in rows],
        }
        return data_frame(columns, "StabilityMap.to_frame()")

    def _repr_html_(self) -> str:
        lines = repr(self).splitlines()
        return render(lines[0], repr_facts(lines[1:]))


def n_points_text(smap: StabilityMap) -> str:
    """The number of points as a repr writes it; a count too costly to make (sigma2 learned, see
    `StabilityMap.n_points`) is written as its upper bound."""
    try:
        return format_count(smap.n_points)
    except ValueError:
        return f"at most {format_count(smap.n_points_upper_bound)}, too many to count"


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
def _stability_map_iv(
    cov: ArrayLike | Spectrum, sigma2: Any, latent_dim: Any, rtol: Any
) -> tuple[np.ndarray | Spectrum, float | str, int, float]:
    return check_map_inputs(cov, sigma2, latent_dim, rtol)


def stability_map(
    cov: ArrayLike,
    sigma2: float | str,
    *,
    latent_dim: int | None = None,
    rtol: float = DEFAULT_RTOL,
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
    At a fixed ``sigma2`` and ``d >= 768`` the eigenvalues above ``sigma2`` (ties included)
    are first counted exactly, by Sylvester's law of inertia on an LDL^T factorisation of
    ``cov - sigma2 I`` (about a sixth of the work of a full ``eigh``). When there are at most
    ``d / 8`` of them (and below 1024 features at most 64) only their eigenpairs are
    computed, whatever ``latent_dim``: by ARPACK's Lanczos method, with the cut certified by
    one Cholesky factor (for at most 64 of them; about 0.3x a full ``eigh`` at d = 2000 and
    0.35-0.7x at d = 784 for up to 10 of them), or else by LAPACK's syevr on the eigenvalues
    above the cut. The map
    is then the same as from the complete decomposition (which a point's
    ``hessian_eigenvalues`` computes on demand). With more eigenvalues above ``sigma2``, from
    1024 features, one tridiagonal reduction is decomposed whole and only the eigenvectors above
    the cut are mapped back (0.7-1.0x a full ``eigh`` at d = 2000 for 400-1000 above, every
    eigenvalue checked); with ``sigma2`` below every eigenvalue of the interlacing submatrices
    (nearly all above), below 1024 features, and for ``sigma2="learned"``, the covariance is
    decomposed whole. The count chooses the route only: each route finds the eigenvalues above
    the cut itself. The routes for at most ``d / 8`` check the covariance's entries
    (`check_cov`) and that the eigenvalues they skip sum to a non-negative number, not each of
    them: ``spectrum(cov)`` checks every eigenvalue.

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
    S, s, q, rtol = _stability_map_iv(cov, sigma2, latent_dim, rtol)
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
