"""Phase diagrams: how the pPCA landscape changes with the noise variance sigma^2 (theory.md §4).

Everything on the diagram depends on the covariance only through its eigenvalues, so one
eigenvalue decomposition serves the whole grid. With ``m(s)`` the number of eigenvalues above
``s`` (beyond the tie tolerance), the global maximum keeps ``k*(s) = min(q, m(s))`` latents;
latent ``c`` collapses once ``s >= lam_c`` (posterior collapse). The landscape changes only where
``s`` crosses an eigenvalue — the breakpoints — which the default grid contains exactly.

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
from .._base.html import render, repr_facts, repr_rows, split_repr
from .._base.tolerance import DEFAULT_RTOL, fixed_degeneracy, n_above
from .._base.validation import check_latent_dim, check_rtol, check_sigma2_grid
from .._spectra.spectrum import (
    Spectrum,
    check_cov_or_spectrum,
    full_eigenvalues,
    require_above,
    require_joint,
    spectrum_floor,
)
from .._spectra.tridiagonal import checked_eigenvalues
from . import enumeration as en
from .census import census_dict, check_census_size
from .counts import enumerated_counts, fixed_stability_counts
from .mle import kl_at_optimum

__all__ = ["PhaseDiagram", "phase_diagram"]

# Log-spaced values in the default grid, before the eigenvalues themselves are added.
DEFAULT_GRID_POINTS = 200
# The default grid spans [lam_min_positive / GRID_MARGIN, GRID_MARGIN * lam_max].
GRID_MARGIN = 10.0
# Rows of the grid that ``repr`` shows.
REPR_ROWS = 6


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
        s = self.sigma2
        if self.sigma2_learned is not None:
            learned = f"{self.sigma2_learned:.6g}"
        elif self._values is not None:
            learned = "none (not settled by this partial spectrum)"
        else:
            learned = "none (latent_dim >= rank)"
        rows = [
            f"PhaseDiagram(n_features={self.n_features}, latent_dim={self.latent_dim}, "
            f"{s.size} sigma2 values in [{s[0]:.4g}, {s[-1]:.4g}])",
            f"  breakpoints     {self.breakpoints.size} eigenvalues in "
            f"[{self.breakpoints[0]:.4g}, {self.breakpoints[-1]:.4g}]"
            if self.breakpoints.size
            else "  breakpoints     none (cov = 0)",
            f"  sigma2_learned  {learned}",
            f"  {'sigma2':>12} {'n_active':>9} {'max log-lik':>13} {'n_points':>11}",
        ]
        for g in np.unique(np.linspace(0, s.size - 1, min(REPR_ROWS, s.size)).round().astype(int)):
            n = self.n_points[g]
            rows.append(
                f"  {s[g]:>12.5g} {self.n_active[g]:>9} {self.max_log_likelihood[g]:>13.6g} "
                f"{n if n < 10**10 else format(Decimal(n), '.3e'):>11}"
            )
        return "\n".join(rows)

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
        title, facts, table = split_repr(repr(self), "sigma2")
        rows, notes = repr_rows(table)
        header = ("sigma2", "n_active", "max log-lik", "n_points")
        return render(title, repr_facts(facts), [(header, rows)], notes)


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


def _default_grid(
    lam: np.ndarray, breakpoints: np.ndarray, rtol: float, floor: float
) -> np.ndarray:
    if breakpoints.size == 0:
        raise ValueError(
            "`cov` has no positive eigenvalue, so there is no scale for a default grid; pass "
            "`sigma2`."
        )
    log_grid = np.geomspace(
        breakpoints[0] / GRID_MARGIN, breakpoints[-1] * GRID_MARGIN, DEFAULT_GRID_POINTS
    )
    # A log point within tie tolerance of an eigenvalue would be a degenerate value that is not
    # the breakpoint itself: drop it, the eigenvalue is in the grid anyway.
    n_near, _ = fixed_degeneracy(lam, log_grid, rtol, floor)
    return np.union1d(log_grid[n_near == 0], breakpoints)


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
        Strictly increasing positive grid. By default, 200 log-spaced values covering
        ``[lam_min_positive / 10, 10 lam_max]`` together with every positive eigenvalue exactly.
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
    if grid is None:
        if not spec.is_complete:
            raise ValueError(
                "`sigma2` must be given for a partial spectrum: the default grid reaches below "
                "the eigenvalues it holds. Pass a grid above its rest_max "
                f"({spec.rest_max if spec.rest_max is not None else known[-1]:.6g})."
            )
        grid = _default_grid(known, breakpoints, rtol, floor)
    else:
        require_above(spec, float(grid[0]), rtol, floor, "phase_diagram (the smallest sigma2)")
    lam = full_eigenvalues(spec, "phase_diagram (max_log_likelihood)")
    try:
        require_joint(spec, q, rtol, floor, "phase_diagram")
        active = en.joint_mle_active(lam, q, rtol, floor)
    except ValueError:  # a partial spectrum that does not settle the learned sigma2
        active = None
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
        sigma2_learned=None if active is None else en.joint_sigma2(lam, active),
        eigenvalues=known,
        latent_dim=q,
        rtol=rtol,
        _cache={},
        _values=None if spec.is_complete else lam,
        _floor=floor,
    )
