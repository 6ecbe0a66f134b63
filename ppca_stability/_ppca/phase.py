"""Phase diagrams: how the pPCA landscape changes with the noise variance sigma^2 (theory.md §4).

Everything on the diagram depends on the covariance only through its eigenvalues, so one
eigenvalue decomposition serves the whole grid. With ``m(s)`` the number of eigenvalues above
``s`` (beyond the tie tolerance), the global maximum keeps ``k*(s) = min(q, m(s))`` latents;
latent ``c`` collapses once ``s >= lam_c`` (posterior collapse). The landscape changes only where
``s`` crosses an eigenvalue — the breakpoints. The default grid (`phase_grid`) is framed on the
collapse region, ``lam_q ... lam_1`` and the learned ``sigma2``, and contains every eigenvalue in
it exactly.

Stability at a breakpoint. At ``s = lam_j`` (or within the tie tolerance of it: that eigenvalue
then does not count as above ``s``, as in `StabilityMap.n_above`) the dead-column direction
along ``u_j`` is flat (Hessian eigenvalue ``(lam_j - s) / s^2 = 0``, theory.md §3): a pitchfork
where a dead column can switch on. The Morse indices are unchanged (a flat direction is not an
ascent direction), so the census is still the Gaussian-binomial polynomial, but the stability of
two points changes: the
top set is ``DEGENERATE`` when it has a dead column (``m < q``) and ``W = 0`` is ``DEGENERATE``
when ``lam_j`` is the smallest eigenvalue (the minimum turning into a saddle). Every other point
keeps both ascent and descent directions and is a ``SADDLE``. These counts agree with the
core's point-by-point classification (`StabilityMap.stability_counts()`), which the tests
check; grid values that are degenerate in any other way (tied eigenvalues above ``s``, or several
eigenvalues within tolerance of ``s``) are classified by that enumeration itself, which the core
refuses beyond ``MAX_ENUMERATED_CENSUS`` points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._base import persist
from .._base.classification import Stability
from .._base.frames import data_frame
from .._base.html import render, repr_facts, split_repr
from .._base.tolerance import DEFAULT_RTOL, fixed_degeneracy, n_above
from .._base.validation import (
    check_latent_dim,
    check_positive_float,
    check_rtol,
    check_sigma2_grid,
)
from .._spectra.container import (
    Spectrum,
    full_eigenvalues,
    require_above,
    require_joint,
    spectrum_floor,
)
from .._spectra.spectrum import check_cov_or_spectrum, eigh_descending
from .._spectra.tridiagonal import checked_eigenvalues
from . import enumeration as en
from .census import census_dict, check_census_size
from .counts import enumerated_counts, fixed_stability_counts
from .mle import kl_at_optimum

__all__ = ["PhaseDiagram", "phase_diagram", "phase_grid"]

# Log-spaced values in the default grid, before the eigenvalues themselves are added.
DEFAULT_GRID_POINTS = 200
# The default grid spans [min(lam_q, sigma2_ML) / GRID_MARGIN, GRID_MARGIN * lam_1]: every latent's
# switch-off (lam_q ... lam_1) and the learned sigma2, each with a margin of log10(4) = 0.6 decades
# (the framing of the deep-VAE sweeps, docs/deep_vae.md).
GRID_MARGIN = 4.0
# Log-spaced counts of eigenvalues above sigma2 that the table (repr and CLI) shows, up to
# latent_dim and beyond it (the answer changes at every eigenvalue; these are quantiles of the
# spectrum in log rank).
ROWS_UP_TO_Q = 8
ROWS_BEYOND_Q = 4
# The intervals above the top eigenvalues, where the first latents collapse, are all shown: every
# change of the answer for latent_dim up to this.
TOP_INTERVALS = 12
# A grid of at most this many values is shown whole.
ALL_ROWS_UP_TO = 16
# Significant digits of a sigma2 in the table: at least these, more when a neighbouring eigenvalue
# would print the same.
SIGMA2_DIGITS = 5
# Least widths of the table's columns (sigma2, n_above, n_active, max log-lik, n_points).
TABLE_WIDTHS = (12, 8, 9, 13, 11)


@dataclass(frozen=True, eq=False, slots=True)
class PhaseDiagram:
    """The global maximum and the count of stationary points on a grid of ``sigma2`` values.

    Build it with `phase_diagram()`. Entry ``g`` of every per-grid field refers to
    ``sigma2[g]``.

    Attributes
    ----------
    sigma2 : ndarray, shape (G,)
        The grid, strictly increasing.
    n_above : ndarray of int, shape (G,)
        ``m(sigma2)``: eigenvalues above ``sigma2`` beyond the tie tolerance, as
        `StabilityMap.n_above` counts them.
    n_active : ndarray of int, shape (G,)
        Live latents at the global maximum, ``min(latent_dim, n_above)``.
    kl_per_latent : ndarray, shape (G, latent_dim)
        KL divergence of each latent at the linear-VAE optimum, ``1/2 log max(1, lam_c / sigma2)``
        (theory.md §4); exactly 0 for a collapsed latent.
    max_log_likelihood : ndarray, shape (G,)
        Mean per-sample log-likelihood at the global maximum; C^1 in ``sigma2``, with jumps of
        its second derivative at the first ``latent_dim`` eigenvalues.
    n_points : tuple of int
        Exact number of stationary orbits (Python ints: they exceed int64 for large models).
    breakpoints : ndarray, shape (B,)
        The distinct positive eigenvalues, ascending: where ``n_above`` and the landscape change
        (eigenvalues at round-off level are exact zeros, see `ppca_stability._spectra.spectrum`).
        Latent ``c`` collapses at ``eigenvalues[c]``.
    sigma2_learned : float or None
        Tipping & Bishop's ``sigma2_ML`` for this ``latent_dim`` (the joint maximum), or None
        when it does not exist: ``latent_dim = n_features``, or ``rank(cov) <= latent_dim``
        (the likelihood is then unbounded as ``sigma2 -> 0``).
    eigenvalues : ndarray, shape (d,) or (r,)
        Of the covariance, descending (the top ``r`` when built from a partial spectrum).
    latent_dim : int
    rtol : float
        The tie tolerance the counts were made with (see `stability_map()`).
    """

    sigma2: np.ndarray
    n_above: np.ndarray
    n_active: np.ndarray
    kl_per_latent: np.ndarray
    max_log_likelihood: np.ndarray
    n_points: tuple[int, ...]
    breakpoints: np.ndarray
    sigma2_learned: float | None
    eigenvalues: np.ndarray
    latent_dim: int
    rtol: float = DEFAULT_RTOL
    _cache: dict = field(default_factory=dict, repr=False)
    # All d eigenvalues (a partial spectrum's missing ones stood in for by their mean, see
    # `_spectrum.full_eigenvalues`) and the tie floor, when they differ from `eigenvalues`'.
    _values: np.ndarray | None = field(default=None, repr=False)
    _floor: float | None = field(default=None, repr=False)

    @property
    def n_features(self) -> int:
        return int(self._lam.size)

    @property
    def _lam(self) -> np.ndarray:
        return self.eigenvalues if self._values is None else self._values

    @property
    def _tie_floor(self) -> float:
        return (
            spectrum_floor(Spectrum(self.eigenvalues, None)) if self._floor is None else self._floor
        )

    @property
    def n_collapsed(self) -> np.ndarray:
        """Collapsed latents at the global maximum: the last ``latent_dim - n_active``."""
        return self.latent_dim - self.n_active

    @property
    def census(self) -> Sequence[Mapping[int, int]]:
        """Per grid value, ``{morse_index: count}`` over all stationary orbits (exact ints).

        Computed on first access (Gaussian-binomial arithmetic, once per distinct ``n_above``:
        about ``n_above^3 / 6`` big-integer operations each) and cached; the mappings are
        read-only. Refused with a `ValueError` naming the size beyond
        ``_census.MAX_CENSUS_SIZE`` coefficients in all: pass a coarser ``sigma2`` grid or a
        smaller ``latent_dim``. `stability_counts` needs no census.
        """
        if "census" not in self._cache:
            self._cache["census"] = _grid_census(self)
        return self._cache["census"]

    @property
    def stability_counts(self) -> Sequence[Mapping[Stability, int]]:
        """Per grid value, the number of stationary orbits of each `Stability`.

        Zero counts are omitted, as in `StabilityMap.stability_counts()`. At a breakpoint
        some points are ``DEGENERATE`` (see the module notes). Computed on first access, in
        closed form except at grid values with tied eigenvalues above them.
        """
        if "stability_counts" not in self._cache:
            self._cache["stability_counts"] = _grid_stability_counts(self)
        return self._cache["stability_counts"]

    @property
    def degenerate(self) -> np.ndarray:
        """Grid values at which the landscape is degenerate (a breakpoint, or tied eigenvalues)."""
        return ~self._kinds()[0]

    def _kinds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(regular, breakpoint)`` masks of the grid: the values with a closed-form count."""
        if "kinds" not in self._cache:
            lam, rtol = self._lam, self.rtol
            n_near, tied_above = fixed_degeneracy(lam, self.sigma2, rtol, self._tie_floor)
            self._cache["kinds"] = ((n_near == 0) & ~tied_above, (n_near == 1) & ~tied_above)
        return self._cache["kinds"]

    def _enumerated(self, g: int, what: str) -> tuple[dict, dict]:
        """Census and counts at a grid value without a closed form, counted point by point from
        the eigenvalues alone (no eigenvectors are needed)."""
        key = ("enumerated", g)
        if key not in self._cache:
            self._cache[key] = enumerated_counts(
                self._lam,
                self.latent_dim,
                float(self.sigma2[g]),
                self.rtol,
                self.n_points[g],
                what,
                floor=self._tie_floor,
            )
        return self._cache[key]

    def plot(self, ax: Any = None) -> Any:
        """Collapse map, landscape and optimum log-likelihood against ``sigma2``.

        See `_plotting.phase.plot_phase_diagram`; returns a matplotlib Figure.
        """
        from .._plotting.phase import plot_phase_diagram

        return plot_phase_diagram(self, ax=ax)

    def __repr__(self) -> str:
        return "\n".join(self._header() + table_lines(self, table_rows(self)))

    def _header(self) -> list[str]:
        s = self.sigma2
        if self.sigma2_learned is not None:
            learned = f"{self.sigma2_learned:.6g}"
        elif self._values is not None:
            learned = "none (not settled by this partial spectrum)"
        else:
            learned = "none (latent_dim >= rank)"
        return [
            f"PhaseDiagram(n_features={self.n_features}, latent_dim={self.latent_dim}, "
            f"{s.size} sigma2 values in [{s[0]:.4g}, {s[-1]:.4g}])",
            f"  breakpoints     {self.breakpoints.size} eigenvalues in "
            f"[{self.breakpoints[0]:.4g}, {self.breakpoints[-1]:.4g}]"
            if self.breakpoints.size
            else "  breakpoints     none (cov = 0)",
            f"  sigma2_learned  {learned}",
        ]

    # ------------------------------------------------------------------ keeping and showing
    # JSON text and a file that `ppca_stability.load` reads back (docs/saving.md).
    to_json = persist.to_json
    save = persist.save

    def to_frame(self) -> Any:
        """One row per grid value: ``sigma2``, ``n_above``, ``n_active``, ``n_collapsed``,
        ``max_log_likelihood``, ``n_points`` (Python ints), ``degenerate``, and the KL of each
        latent at the optimum (``kl_0`` ...). Needs pandas (the ``pandas`` extra)."""
        columns: dict[str, Any] = {
            "sigma2": self.sigma2,
            "n_above": self.n_above,
            "n_active": self.n_active,
            "n_collapsed": self.n_collapsed,
            "max_log_likelihood": self.max_log_likelihood,
            "n_points": np.array(self.n_points, dtype=object),
            "degenerate": self.degenerate,
        }
        columns.update({f"kl_{c}": self.kl_per_latent[:, c] for c in range(self.latent_dim)})
        return data_frame(columns, "PhaseDiagram.to_frame()")

    def _repr_html_(self) -> str:
        title, facts, _ = split_repr(repr(self), "sigma2")
        rows = [list(c) for c in table_cells(self, table_rows(self))]
        return render(title, repr_facts(facts), [((*TABLE_NAMES, "note"), rows)], [])


def table_rows(pd: PhaseDiagram) -> list[int]:
    """Grid indices the table (`PhaseDiagram`'s repr and ``ppca-stability phase``) shows.

    The answer changes only where ``sigma2`` crosses an eigenvalue, so a row stands for an
    interval between consecutive eigenvalues: one ``sigma2`` inside each interval for a
    log-spaced set of counts above ``sigma2`` (every count when there are few), the intervals
    above the top eigenvalues and around the learned ``sigma2``, and both ends of the grid.
    A grid of at most `ALL_ROWS_UP_TO` values is shown whole.
    """
    if pd.sigma2.size <= ALL_ROWS_UP_TO:
        return list(range(pd.sigma2.size))
    n_above = pd.n_above
    top = int(n_above.max())
    q = min(pd.latent_dim, top)
    counts = {top, *range(min(top, TOP_INTERVALS) + 1)}
    counts.update(np.geomspace(1, max(q, 1), ROWS_UP_TO_Q).round().astype(int).tolist())
    counts.update(np.geomspace(max(q, 1), max(top, 1), ROWS_BEYOND_Q).round().astype(int).tolist())
    if top <= ROWS_UP_TO_Q + ROWS_BEYOND_Q:
        counts.update(range(top + 1))
    if pd.sigma2_learned is not None:
        k = int(np.sum(pd.eigenvalues > pd.sigma2_learned))
        counts.update((k - 1, k, k + 1))
    s, lam = pd.sigma2, pd.eigenvalues
    at_eigenvalue = np.isin(s, pd.breakpoints)
    rows = []
    for k in sorted(counts & set(n_above.tolist())):
        inside = np.flatnonzero((n_above == k) & ~at_eigenvalue)
        if inside.size == 0:
            inside = np.flatnonzero(n_above == k)
        # The value nearest the middle (in log sigma2) of the interval (lam_{k+1}, lam_k) seen by
        # the grid: a representative of the interval, away from both eigenvalues.
        low = max(s[0], lam[k]) if k < lam.size else s[0]
        high = min(s[-1], lam[k - 1]) if k > 0 else s[-1]
        middle = 0.5 * (np.log(low) + np.log(high)) if low > 0 else np.log(s[inside]).mean()
        rows.append(int(inside[np.argmin(np.abs(np.log(s[inside]) - middle))]))
    return sorted({0, s.size - 1, *rows})


def distinct_digits(value: float, others: np.ndarray, least: int = SIGMA2_DIGITS) -> str:
    """`value` to `least` significant digits, or to as many more as it takes to print
    differently from each of `others` (values equal to it are ignored)."""
    others = others[others != value]
    for n in range(least, 18):
        # Beyond `least` digits trailing zeros are kept: they are what tells the values apart.
        style = "" if n == least else "#"
        text = f"{value:{style}.{n}g}"
        if all(f"{v:{style}.{n}g}" != text for v in others):
            return text
    return repr(value)


def table_cells(pd: PhaseDiagram, rows: Sequence[int]) -> list[tuple[str, ...]]:
    """The table of grid values `rows`: ``sigma2`` (to as many digits as tell it from its nearest
    eigenvalues; ``= lam_c`` when it is one), the counts, the optimum and the number of points;
    the interval holding the learned ``sigma2`` is marked."""
    desc = pd.eigenvalues  # descending: lam_c is desc[c - 1]
    asc = pd.breakpoints
    learned = pd.sigma2_learned
    k_learned = None if learned is None else int(np.sum(desc > learned))
    # The learned sigma2's interval is marked on the rows inside it; on a breakpoint row only
    # when no shown row is inside it.
    inside = [g for g in rows if pd.n_above[g] == k_learned and pd.sigma2[g] not in asc]
    last_at_learned = (
        None if inside else next((g for g in reversed(rows) if pd.n_above[g] == k_learned), None)
    )
    cells: list[tuple[str, ...]] = []
    for g in rows:
        s = float(pd.sigma2[g])
        i = int(np.searchsorted(asc, s))
        near = asc[max(i - 1, 0) : i + 2]
        notes = []
        at_eigenvalue = i < asc.size and asc[i] == s
        if at_eigenvalue:
            notes.append(f"= lam_{int(np.flatnonzero(desc == s)[0]) + 1}")
        if (
            learned is not None
            and int(pd.n_above[g]) == k_learned
            and (not at_eigenvalue or g == last_at_learned)
        ):
            notes.append(f"<- sigma2_learned = {distinct_digits(learned, near)} in this interval")
        n = int(pd.n_points[g])
        cells.append(
            (
                distinct_digits(s, near),
                str(pd.n_above[g]),
                str(pd.n_active[g]),
                f"{pd.max_log_likelihood[g]:.6g}",
                str(n) if n < 10**10 else format(Decimal(n), ".3e"),
                "  ".join(notes),
            )
        )
    return cells


TABLE_NAMES = ("sigma2", "n_above", "n_active", "max log-lik", "n_points")


def table_lines(pd: PhaseDiagram, rows: Sequence[int]) -> list[str]:
    """`table_cells` as aligned text lines under their column names, the notes on the right."""
    cells = table_cells(pd, rows)
    names = TABLE_NAMES
    widths = [max([least] + [len(c[j]) for c in cells]) for j, least in enumerate(TABLE_WIDTHS)]

    def line(values: Sequence[str], note: str = "") -> str:
        text = " ".join(f"{v:>{w}}" for v, w in zip(values, widths))
        return f"  {text}  {note}".rstrip()

    return [line(names)] + [line(c[:5], c[5]) for c in cells]


def _grid_stability_counts(pd: PhaseDiagram) -> tuple[Mapping[Stability, int], ...]:
    """Counts by stability at every grid value: closed forms, computed once per distinct case."""
    regular, breakpoint = pd._kinds()
    counts: list[Mapping[Stability, int]] = []
    memo: dict[tuple[bool, int], Mapping[Stability, int]] = {}
    for g in range(pd.sigma2.size):
        if regular[g] or breakpoint[g]:
            key = (bool(breakpoint[g]), int(pd.n_above[g]))
            if key not in memo:
                memo[key] = MappingProxyType(
                    fixed_stability_counts(
                        key[1], pd.latent_dim, pd.n_features, pd.n_points[g], breakpoint=key[0]
                    )
                )
            counts.append(memo[key])
        else:
            counts.append(MappingProxyType(pd._enumerated(g, "stability_counts")[1]))
    return tuple(counts)


def _grid_census(pd: PhaseDiagram) -> tuple[Mapping[int, int], ...]:
    """Census at every grid value: one Gaussian-binomial polynomial per distinct ``n_above``
    (the flat direction at a breakpoint changes no Morse index), size-checked up front."""
    regular, breakpoint = pd._kinds()
    closed = regular | breakpoint
    check_census_size(pd.n_above[closed].tolist(), pd.latent_dim, "census")
    census: list[Mapping[int, int]] = []
    memo: dict[int, Mapping[int, int]] = {}
    for g in range(pd.sigma2.size):
        if closed[g]:
            m = int(pd.n_above[g])
            if m not in memo:
                memo[m] = MappingProxyType(census_dict(m, pd.latent_dim))
            census.append(memo[m])
        else:
            census.append(MappingProxyType(pd._enumerated(g, "census")[0]))
    return tuple(census)


def _phase_diagram_iv(
    cov: ArrayLike, latent_dim: Any, sigma2: Any, rtol: Any
) -> tuple[np.ndarray | Spectrum, int, np.ndarray | None, float]:
    S = check_cov_or_spectrum(cov)
    q = check_latent_dim(latent_dim, S.n_features if isinstance(S, Spectrum) else S.shape[0])
    rtol = check_rtol(rtol)
    if sigma2 is None:
        return S, q, None, rtol
    return S, q, check_sigma2_grid(sigma2, "sigma2"), rtol


def _framed_grid(
    lam: np.ndarray,
    q: int,
    sigma2_learned: float | None,
    rtol: float,
    floor: float,
    sigma2_min: float | None = None,
    sigma2_max: float | None = None,
) -> np.ndarray:
    """Log-spaced over the collapse region (or ``[sigma2_min, sigma2_max]``), with every positive
    eigenvalue inside it exactly."""
    breakpoints = np.unique(lam[lam > 0])
    if breakpoints.size == 0 and (sigma2_min is None or sigma2_max is None):
        raise ValueError(
            "`cov` has no positive eigenvalue, so there is no scale for a default grid; pass "
            "`sigma2`."
        )
    given = (sigma2_min is not None, sigma2_max is not None)
    if sigma2_min is None:
        live = lam[:q][lam[:q] > 0]
        lowest = float(live[-1]) if sigma2_learned is None else min(live[-1], sigma2_learned)
        sigma2_min = lowest / GRID_MARGIN
    if sigma2_max is None:
        sigma2_max = float(lam[0]) * GRID_MARGIN
    if not sigma2_min < sigma2_max:
        low = (
            f"{sigma2_min:.6g}"
            if given[0]
            else f"its default min(lam_q, sigma2_ML) / 4 = {sigma2_min:.6g}"
        )
        high = f"{sigma2_max:.6g}" if given[1] else f"its default 4 lam_1 = {sigma2_max:.6g}"
        raise ValueError(
            f"`sigma2_min` ({low}) must be below `sigma2_max` ({high})"
            + ("." if all(given) else "; pass both ends.")
        )
    log_grid = np.geomspace(sigma2_min, sigma2_max, DEFAULT_GRID_POINTS)
    # A log point within tie tolerance of an eigenvalue would be a degenerate value that is not
    # the breakpoint itself: drop it, the eigenvalue is in the grid anyway.
    n_near, _ = fixed_degeneracy(lam, log_grid, rtol, floor)
    inside = breakpoints[(breakpoints >= sigma2_min) & (breakpoints <= sigma2_max)]
    return np.union1d(log_grid[n_near == 0], inside)


def _learned(spec: Spectrum, lam: np.ndarray, q: int, rtol: float, floor: float) -> float | None:
    """Tipping & Bishop's ``sigma2_ML``, or None (none exists, or the partial spectrum does not
    settle it)."""
    try:
        require_joint(spec, q, rtol, floor, "phase_diagram")
        active = en.joint_mle_active(lam, q, rtol, floor)
    except ValueError:  # a partial spectrum that does not settle the learned sigma2
        return None
    return None if active is None else en.joint_sigma2(lam, active)


def _phase_grid_iv(
    cov: Any, latent_dim: Any, sigma2_min: Any, sigma2_max: Any, rtol: Any
) -> tuple[Spectrum, int, float | None, float | None, float]:
    S = check_cov_or_spectrum(cov)
    spec = S if isinstance(S, Spectrum) else eigh_descending(S, vectors=False)
    q = check_latent_dim(latent_dim, spec.n_features)
    lo = None if sigma2_min is None else check_positive_float(sigma2_min, "sigma2_min")
    hi = None if sigma2_max is None else check_positive_float(sigma2_max, "sigma2_max")
    if not spec.is_complete and lo is None:
        raise ValueError(
            "`sigma2_min` must be given for a partial spectrum: the default grid reaches below "
            "the eigenvalues it holds. Pass one above its rest_max "
            f"({spec.rest_max if spec.rest_max is not None else spec.eigenvalues[-1]:.6g})."
        )
    return spec, q, lo, hi, check_rtol(rtol)


def phase_grid(
    cov: Any,
    *,
    latent_dim: int | None = None,
    sigma2_min: float | None = None,
    sigma2_max: float | None = None,
    rtol: float = DEFAULT_RTOL,
) -> np.ndarray:
    """The ``sigma2`` grid `phase_diagram` uses by default, on its default range or on yours.

    200 log-spaced values over ``[sigma2_min, sigma2_max]`` together with every positive
    eigenvalue inside that range, exactly (the breakpoints where a latent switches off; log
    values within ``rtol`` of an eigenvalue are dropped).

    Parameters
    ----------
    cov : array_like, shape (d, d), or Spectrum
        Data covariance (ddof=0), or its `spectrum()`; a partial spectrum needs `sigma2_min`.
    latent_dim : int, optional
        ``q``. Defaults to ``d``.
    sigma2_min, sigma2_max : float, optional
        The range. By default ``min(lam_q, sigma2_ML) / 4`` and ``4 lam_1``: every latent's
        switch-off (at ``lam_q, ..., lam_1``) and the learned ``sigma2_ML`` (when it exists), with
        a margin of a factor 4 on each side. ``lam_q`` is the smallest positive eigenvalue among
        the top ``q``.
    rtol : float, default 1e-9
        Tie tolerance, as in `phase_diagram()`.

    Returns
    -------
    ndarray
        Strictly increasing; pass it to ``phase_diagram(cov, sigma2=...)``.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import phase_grid
    >>> cov = np.diag([4.0, 2.0, 1.0, 1e-6])
    >>> grid = phase_grid(cov, latent_dim=2)   # sigma2_ML = (1 + 1e-6) / 2, lam_2 = 2
    >>> float(grid[0]), float(grid[-1]), bool(np.isin([1.0, 2.0, 4.0], grid).all())
    (0.125000125, 16.0, True)
    >>> float(phase_grid(cov, latent_dim=2, sigma2_min=1.5)[0])
    1.5
    """
    spec, q, lo, hi, rtol = _phase_grid_iv(cov, latent_dim, sigma2_min, sigma2_max, rtol)
    floor = spectrum_floor(spec)
    known = spec.eigenvalues
    lam = full_eigenvalues(spec, "phase_grid") if spec.trace is not None else known
    return _framed_grid(known, q, _learned(spec, lam, q, rtol, floor), rtol, floor, lo, hi)


def phase_diagram(
    cov: ArrayLike, *, latent_dim: int | None = None, sigma2: Any = None, rtol: float = DEFAULT_RTOL
) -> PhaseDiagram:
    """The pPCA landscape as a function of the noise variance ``sigma2``.

    Parameters
    ----------
    cov : array_like, shape (d, d), or Spectrum
        Data covariance (ddof=0), symmetric positive semi-definite, or its `spectrum()`. A
        partial spectrum needs an explicit `sigma2` grid above its ``rest_max`` (beyond
        ``rtol``) and its ``trace``; ``sigma2_learned`` is then None unless the spectrum
        settles it (see `stability_map()`).
    latent_dim : int, optional
        ``q``. Defaults to ``d``.
    sigma2 : array_like, optional
        Strictly increasing positive grid. By default `phase_grid()`'s: 200 log-spaced values
        over the collapse region ``[min(lam_q, sigma2_ML) / 4, 4 lam_1]`` (every latent's
        switch-off and the learned ``sigma2``, with margins) together with every eigenvalue in
        that range exactly. Eigenvalues below it change the count of stationary points but not
        which latents collapse; for another range pass ``phase_grid(cov, sigma2_min=...,
        sigma2_max=...)``.
    rtol : float, default 1e-9
        Relative tolerance under which two eigenvalues, or an eigenvalue and a grid value, count
        as equal, as in `stability_map()`.

    Returns
    -------
    PhaseDiagram
        ``census`` and ``stability_counts`` are computed only when first accessed.

    Notes
    -----
    One tridiagonal reduction serves the whole grid (with eigenvectors only for eigenvalues
    whose round-off check needs them); every per-grid field
    is a vectorised closed form (theory.md §2-§4), and the exact counts are computed once per
    distinct ``n_above``. Grid values equal to an eigenvalue are legitimate breakpoints: no
    `DegeneracyWarning` is issued, and the points that are degenerate
    there are reported in ``stability_counts``.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import phase_diagram
    >>> pd = phase_diagram(np.diag([4.0, 2.0, 1.0]), latent_dim=2, sigma2=[0.5, 1.0, 1.5, 3.0, 5.0])
    >>> pd.n_active, pd.n_points
    (array([2, 2, 2, 1, 0]), (7, 4, 4, 2, 1))
    >>> pd.kl_per_latent[3].round(4)   # latent 2 has collapsed at sigma2 = 3 > lam_2 = 2
    array([0.1438, 0.    ])
    >>> pd.sigma2_learned              # mean of the discarded eigenvalue
    1.0
    >>> [dict(c) for c in pd.census[:2]]
    [{0: 1, 1: 1, 2: 2, 3: 1, 4: 1, 6: 1}, {0: 1, 1: 1, 2: 1, 4: 1}]
    >>> {k.name: v for k, v in pd.stability_counts[1].items()}   # sigma2 = lam_3: W = 0 flat
    {'MAXIMUM': 1, 'SADDLE': 2, 'DEGENERATE': 1}
    """
    S, q, grid, rtol = _phase_diagram_iv(cov, latent_dim, sigma2, rtol)
    # One tridiagonal reduction gives the eigenvalues and, when their round-off check needs
    # them, the eigenvectors of those near 0 (not a second decomposition).
    spec = S if isinstance(S, Spectrum) else Spectrum(checked_eigenvalues(S), None)
    floor = spectrum_floor(spec)
    known = spec.eigenvalues
    breakpoints = np.unique(known[known > 0])
    if grid is None and not spec.is_complete:
        raise ValueError(
            "`sigma2` must be given for a partial spectrum: the default grid reaches below "
            "the eigenvalues it holds. Pass a grid above its rest_max "
            f"({spec.rest_max if spec.rest_max is not None else known[-1]:.6g}), e.g. "
            "phase_grid(spectrum, latent_dim=..., sigma2_min=...)."
        )
    if grid is not None:
        require_above(spec, float(grid[0]), rtol, floor, "phase_diagram (the smallest sigma2)")
    lam = full_eigenvalues(spec, "phase_diagram (max_log_likelihood)")
    learned = _learned(spec, lam, q, rtol, floor)
    if grid is None:
        grid = _framed_grid(known, q, learned, rtol, floor)
    # m(s) as the core counts it: an eigenvalue within tolerance of s is not above it.
    m = np.asarray(n_above(lam, grid, rtol, floor))
    k = np.minimum(q, m)
    counts = en.count_fixed_upto(int(m.max()), q)
    return PhaseDiagram(
        sigma2=grid,
        n_above=m,
        n_active=k,
        kl_per_latent=kl_at_optimum(lam[:q], grid, k),
        max_log_likelihood=en.top_log_likelihood(lam, k, grid),
        n_points=tuple(counts[i] for i in m),
        breakpoints=breakpoints,
        sigma2_learned=learned,
        eigenvalues=known,
        latent_dim=q,
        rtol=rtol,
        _cache={},
        _values=None if spec.is_complete else lam,
        _floor=floor,
    )
