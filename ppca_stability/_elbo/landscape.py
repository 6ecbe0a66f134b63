"""The linear VAE's own landscape: stationary points of the ELBO in all parameters, classified.

Two routes, as for the likelihood (`stability_map()` / `classify_point()`):

* `elbo_stability_map()` lists the stationary points in closed form, from the pPCA map. The
  encoder block of the Hessian is negative definite on ``range(S)`` at every point (``-M ⊗ S / s``
  for ``V``, ``-D_c M_cc / (2 s)`` for ``log D``, ``-1/2 Sigma^-1 ⊗ Sigma^-1`` in ``Sigma`` for the
  full encoder at a stationary point), so by Haynsworth's inertia additivity the ELBO's inertia is
  the encoder block's plus that of the profile ``F(W) = l(W) - G(W)``,
  ``G = 1/2 (sum_c log M_cc - log det M)`` (``G = 0`` for the full encoder). At a pPCA point whose
  live columns are orthogonal ``G`` has a minimum, so ``F`` has the pPCA Morse index; the
  diagonal encoder turns every rotation zero mode into a negative direction when the live
  eigenvalues are distinct (docs/theory.md, "The linear VAE's own landscape").
* `classify_vae_point()` classifies any parameters numerically from the ELBO's own gradient and
  Hessian (`ppca_stability._elbo.derivatives`): dense for small models, and for large ones
  structured: wherever the encoder's gradient vanishes the Schur complement of the encoder block
  is the Hessian of the profile ``F = l - G`` (eliminating the encoder is maximising over it; the
  envelope theorem), whose inertia `ppca_stability._ppca.hessian_blocks` counts exactly as for
  `classify_point()`, with ``G``'s Hessian added in closed form (`_hessian_blocks._gap_hessian`).

Symmetries. The ELBO depends on ``V`` only through ``V S``: the ``q (d - rank S)`` directions
``V -> V + A N^T`` with ``N`` spanning ``null(S)`` are exact invariances (their rows of the
Hessian vanish identically) and count among the symmetry modes. The full encoder is also
invariant under ``(V, Sigma, W) -> (R^T V, R^T Sigma R, W R)``, ``R`` in O(q): an orbit of
dimension ``k (k - 1) / 2 + k (q - k)`` (rotations among dead latents fix the point). The
diagonal encoder keeps only the signed permutations, a finite group.

Not every stationary point of the diagonal-encoder ELBO has orthogonal columns: columns of equal
norm may share eigen-directions ("equal-norm clusters", docs/theory.md). None of them is a local
maximum. `ppca_stability._elbo.clusters` enumerates them for a fixed ``sigma2``
(``ElboStabilityMap.cluster_points``); the census counts them with ``include_clusters=True``
(``ElboStabilityMap.complete`` is then True).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._base import persist
from .._base.formatting import format_count
from .._base.frames import data_frame
from .._base.html import render, repr_facts
from .._base.latents import LatentCounts
from .._base.tolerance import DEFAULT_RTOL, tie_sign
from .._base.validation import check_bool, check_choice
from .._ppca.stability import (
    LazyPoints,
    Stability,
    StabilityMap,
    StationaryPoint,
    announce,
    build_map,
    n_points_text,
)
from .._spectra.container import Spectrum, require_complete
from .._spectra.spectrum import check_map_inputs, eigh_descending
from ..exceptions import DegeneracyWarning
from .clusters import (
    ElboClusterPoint,
    cluster_configurations,
    cluster_point,
    learned_sigma2,
)
from .objective import LinearVAEFullParams, LinearVAEParams

__all__ = [
    "ElboStationaryPoint",
    "ElboStabilityMap",
    "elbo_stability_map",
]

ENCODERS = ("diagonal", "full")
# A map whose stability counts must be enumerated refuses beyond this many points.
MAX_ENUMERATED = 2_000_000
# Most rows `ElboStabilityMap.to_frame()` lists (each builds a point's parameters).
MAX_FRAME_ROWS = 100_000


# =========================================================================== the closed-form map


@dataclass(frozen=True, eq=False, slots=True)
class ElboStationaryPoint(LatentCounts):
    """One stationary point of the ELBO in all parameters, up to the objective's symmetry group.

    Attributes
    ----------
    active : tuple of int
        0-based indices of the live eigenvalues (descending order), ascending.
    params : LinearVAEParams or LinearVAEFullParams
        A representative: live columns ``sqrt(lam_i - s) u_i`` first, dead (zero) columns after;
        ``V = M^-1 W^T``; ``D = s / diag(M)`` (``log D``), or ``L = diag(sqrt(s / diag M))``.
    sigma2 : float
        The point's noise variance (``s_I`` when learned).
    elbo : float
        Equal to the log-likelihood: the columns are orthogonal, so the gap ``G`` is 0.
    log_likelihood : float
    morse_index : int
        Positive eigenvalues of the ELBO's Hessian in all parameters (encoder included).
    symmetry_dim : int
        Zero modes that are symmetries: ``q (d - rank S)`` along ``null(S)``, plus
        ``k (k - 1) / 2 + k (q - k)`` rotations for the full encoder. (``rank S`` needs every
        eigenvalue: a map built on a partial spectrum computes them when this is first read.)
    n_degenerate : int
        Zero eigenvalues beyond them.
    orbit_size : int or None
        Points in the signed-permutation orbit (diagonal encoder): ``2^k q! / (q - k)!``;
        None for the full encoder's continuous orbit.
    stability : Stability
    encoder : str
    n_active : int
        Live (non-collapsed) latent columns ``k``.
    n_collapsed : int
        Dead (collapsed, zero) latent columns ``q - k``.
    """

    active: tuple[int, ...]
    params: LinearVAEParams | LinearVAEFullParams
    sigma2: float
    elbo: float
    log_likelihood: float
    morse_index: int
    n_degenerate: int
    orbit_size: int | None
    stability: Stability
    encoder: str
    # The rotation zero modes; those along null(S) come from the map (its rank, on demand).
    _rotations: int = field(default=0, repr=False)
    _null_modes: Callable[[], int] | None = field(default=None, repr=False)

    @property
    def symmetry_dim(self) -> int:
        return self._rotations + (self._null_modes() if self._null_modes is not None else 0)

    @property
    def latent_dim(self) -> int:
        return int(self.params.loadings.shape[1])

    def __repr__(self) -> str:
        return (
            f"ElboStationaryPoint(active={self.active}, encoder={self.encoder}, "
            f"sigma2={self.sigma2:.6g}, elbo={self.elbo:.6g}, morse_index={self.morse_index}, "
            f"stability={self.stability.name})"
        )


@dataclass(frozen=True, eq=False, slots=True)
class ElboStabilityMap:
    """Stationary points of the linear-VAE ELBO in all parameters, classified in closed form.

    Build it with `elbo_stability_map()`. The points are the pPCA stationary points whose live
    columns are orthogonal (one orbit of the objective's symmetry group per pPCA orbit), with
    the pPCA Morse index; see the module docstring for why. The diagonal encoder's equal-norm
    clusters (stationary too, never maxima) are ``cluster_points``, classified numerically;
    with ``include_clusters`` the census and stability counts include them and ``complete`` is
    True.
    """

    ppca: StabilityMap
    encoder: str
    include_clusters: bool = False
    progress: bool = field(default=False, repr=False)
    # The complete spectrum with eigenvectors, for the equal-norm clusters of a map built on a
    # partial one (computed on first use).
    _complete: Callable[[], Spectrum] | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    # ------------------------------------------------------------------ basic facts
    @property
    def eigenvalues(self) -> np.ndarray:
        return self.ppca.eigenvalues

    @property
    def n_features(self) -> int:
        return self.ppca.n_features

    @property
    def latent_dim(self) -> int:
        return self.ppca.latent_dim

    @property
    def sigma2(self) -> float | str:
        return self.ppca.sigma2

    @property
    def rtol(self) -> float:
        return self.ppca.rtol

    @property
    def is_learned(self) -> bool:
        return self.ppca.is_learned

    @property
    def has_degeneracy(self) -> bool:
        """Ties among eigenvalues that matter, or ``sigma2`` within ``rtol`` of an eigenvalue."""
        return self.ppca.has_degeneracy

    @property
    def rank(self) -> int:
        """``rank S``: the positive eigenvalues. The encoder's ``q (d - rank S)`` directions along
        ``null(S)`` are zero modes. A partial spectrum does not know it: the map then computes
        every eigenvalue on first use (a ValueError for a partial `Spectrum`)."""
        if "rank" not in self._cache:
            lam = self.ppca.all_eigenvalues("the rank of the covariance (the encoder's zero modes)")
            self._cache["rank"] = int(np.count_nonzero(lam > 0))
        return self._cache["rank"]

    def _null_modes(self) -> int:
        return self.latent_dim * (self.n_features - self.rank)

    def _full_spectrum(self) -> Spectrum:
        """The complete spectrum with eigenvectors (the equal-norm clusters read eigenvalues
        below sigma2 too: a group's smaller eigenvalue can be live beside a larger one)."""
        spec = self.ppca.spectrum
        if spec.is_complete or self._complete is None:
            require_complete(spec, "the equal-norm clusters")
            return spec
        if "full" not in self._cache:
            self._cache["full"] = self._complete()
        return self._cache["full"]

    @property
    def n_parameters(self) -> int:
        """``2 d q`` plus ``q`` (diagonal) or ``q (q + 1) / 2`` (full), plus 1 when learned."""
        d, q = self.n_features, self.latent_dim
        return 2 * d * q + (q * (q + 1) // 2 if self.encoder == "full" else q) + self.is_learned

    @property
    def complete(self) -> bool:
        """Whether ``points`` are all the stationary points. False for the diagonal encoder with
        ``q >= 2`` and a live eigenvalue: equal-norm clusters of non-orthogonal columns are then
        stationary too (saddles, never maxima; docs/theory.md), and are not enumerated. With
        ``sigma2`` fixed this is exact (the split of ``u_i`` over two columns exists for every
        ``lam_i > sigma2``; checked against sympy's complete root lists); with ``sigma2`` learned
        it exists iff ``lam_i > tr S / d``, which is again the test at the maximum's ``sigma2``.
        True when the map was built with ``include_clusters=True``: ``cluster_points`` then
        lists the rest."""
        if self.encoder == "full" or self.latent_dim < 2 or self.include_clusters:
            return True
        return self.global_maximum.n_active == 0

    # ------------------------------------------------------------------ points
    @property
    def n_points(self) -> int:
        """Exact number of enumerated orbits (O(q) orbits for "full", signed-permutation orbits
        for "diagonal"): the pPCA map's count."""
        return self.ppca.n_points

    @property
    def n_points_upper_bound(self) -> int:
        """`StabilityMap.n_points_upper_bound` of the pPCA map: `n_points` when it is
        affordable to count, a bound costing no search otherwise."""
        return self.ppca.n_points_upper_bound

    @property
    def points(self) -> Sequence[ElboStationaryPoint]:
        """Lazily built points, in the pPCA map's order (``k`` ascending, then lexicographic)."""
        ppca = self.ppca.points
        return LazyPoints(
            lambda: self.n_points,
            lambda i: self._build(ppca[i]),
            lambda: (self._build(p) for p in ppca),
            "ELBO stationary points",
        )

    def point(self, active: Any) -> ElboStationaryPoint:
        """The point with the given live eigen-indices (any order); ValueError if there is none."""
        return self._build(self.ppca.point(active))

    @property
    def global_maximum(self) -> ElboStationaryPoint:
        """The global maximum: the pPCA maximum (theory.md §6), with orthogonal columns."""
        return self._build(self.ppca.global_maximum)

    def _live_ties(self, active: tuple[int, ...]) -> int:
        """Tied pairs among the live eigenvalues: a rotation between them keeps the columns
        orthogonal, so for the diagonal encoder it stays a zero mode (a continuous family)."""
        if self.encoder == "full" or len(active) < 2 or not self.has_degeneracy:
            return 0
        lam = self.eigenvalues[list(active)]
        a, b = np.triu_indices(lam.size, 1)
        return int(np.count_nonzero(tie_sign(lam[a], lam[b], self.rtol, self.ppca.floor) == 0))

    def _build(self, p: StationaryPoint) -> ElboStationaryPoint:
        q, k, s = self.latent_dim, p.n_active, p.sigma2
        W = p.loadings
        m = np.einsum("ij,ij->j", W, W) + s  # diag(M) = M: the columns are orthogonal
        V = (W / m).T
        if self.encoder == "full":
            params: LinearVAEParams | LinearVAEFullParams = LinearVAEFullParams(
                V, np.diag(np.sqrt(s / m)), W
            )
            symmetry = p.symmetry_dim
            orbit = None
        else:
            params = LinearVAEParams(V, np.log(s / m), W)
            symmetry = 0
            orbit = 2**k * math.perm(q, k)
        n_zero = p.n_degenerate + self._live_ties(p.active)
        # The encoder's variance block (log D, or L) is negative definite at every point (its
        # Hessian is -diag(D M) / 2 s, or -(M / s) (x) I - diag(1 / L_ii^2)), so negative
        # directions always exist and the label needs no count of them (nor rank S).
        n_neg = q
        return ElboStationaryPoint(
            active=p.active,
            params=params,
            sigma2=s,
            elbo=p.log_likelihood,
            log_likelihood=p.log_likelihood,
            morse_index=p.morse_index,
            n_degenerate=n_zero,
            orbit_size=orbit,
            stability=Stability.from_counts(p.morse_index, n_neg, n_zero),
            encoder=self.encoder,
            _rotations=symmetry,
            _null_modes=self._null_modes,
        )

    # ------------------------------------------------------------------ equal-norm clusters
    def _cluster_configurations(self) -> list:
        if "clusters" not in self._cache:
            if self.encoder == "full" or self.latent_dim < 2:
                self._cache["clusters"] = []
            else:
                if self.ppca.has_degeneracy:
                    raise ValueError(
                        "equal-norm clusters are enumerated for distinct eigenvalues and sigma2 "
                        "off the spectrum; this map is degenerate."
                    )
                spec = self._full_spectrum()
                learned = (float(spec.eigenvalues.sum()), spec.n_features)
                self._cache["clusters"] = cluster_configurations(
                    spec.eigenvalues,
                    0.0 if self.is_learned else float(self.sigma2),
                    self.latent_dim,
                    self.rtol,
                    self.ppca.floor,
                    learned=learned if self.is_learned else None,
                )
        return self._cache["clusters"]

    @property
    def n_cluster_points(self) -> int:
        """Number of equal-norm cluster configurations up to signed permutations (a continuous
        family counts once; with ``sigma2`` learned each has its own ``sigma2``); 0 for the full
        encoder or ``q = 1``. ValueError on a degenerate map or beyond the enumeration guard
        (`ppca_stability._elbo.clusters.MAX_CLUSTER_CONFIGS`)."""
        return len(self._cluster_configurations())

    @property
    def cluster_points(self) -> Sequence[ElboClusterPoint]:
        """The equal-norm clusters (diagonal encoder), lazily built and
        classified numerically by `classify_vae_point`: groups in order of their smallest
        eigen-index, configurations in lexicographic order of their groups."""
        configs = self._cluster_configurations()
        return LazyPoints(
            lambda: len(configs),
            lambda i: self._build_cluster(configs[i]),
            lambda: (self._build_cluster(c) for c in configs),
            "equal-norm cluster points",
        )

    def _build_cluster(self, groups: tuple) -> ElboClusterPoint:
        spec = self._full_spectrum()
        lam, U = spec.eigenvalues, spec.eigenvectors
        if U is None:
            raise ValueError(
                "equal-norm clusters need the covariance's eigenvectors: pass the covariance, or "
                "spectrum(cov) with vectors=True."
            )
        S = (U * lam) @ U.T
        if self.is_learned:
            s = learned_sigma2(lam, float(lam.sum()), spec.n_features, groups)
        else:
            s = float(self.sigma2)
        return cluster_point(S, lam, U, s, self.latent_dim, groups, learned=self.is_learned)

    def _cluster_tally(self) -> tuple[dict[int, int], dict[Stability, int]]:
        if "cluster_tally" not in self._cache:
            census: dict[int, int] = {}
            by: dict[Stability, int] = {}
            from tqdm.auto import tqdm

            points = tqdm(
                self.cluster_points,
                total=self.n_cluster_points,  # counted first, then classified one by one
                desc="equal-norm clusters (a dense Hessian each)",
                unit="pt",
                disable=not self.progress,
                leave=False,
            )
            for p in points:
                census[p.morse_index] = census.get(p.morse_index, 0) + 1
                by[p.stability] = by.get(p.stability, 0) + 1
            self._cache["cluster_tally"] = (census, by)
        return self._cache["cluster_tally"]

    # ------------------------------------------------------------------ counts
    def census(self) -> dict[int, int]:
        """``{morse_index: count}`` over the enumerated orbits: the pPCA census (same indices);
        with ``include_clusters``, plus one per equal-norm cluster configuration (a family
        counts once, with its numeric Morse index)."""
        base = self.ppca.census()
        if not self.include_clusters:
            return base
        out = dict(base)
        for k, v in self._cluster_tally()[0].items():
            out[k] = out.get(k, 0) + v
        return dict(sorted(out.items()))

    def stability_counts(self) -> dict[Stability, int]:
        """Number of enumerated orbits of each `Stability` (with ``include_clusters``, the
        cluster configurations too: saddles). The encoder block always adds negative directions,
        so the pPCA minimum ``W = 0`` is an ELBO saddle."""
        counts = self._orthogonal_stability_counts()
        if not self.include_clusters:
            return counts
        out = dict(counts)
        for k, v in self._cluster_tally()[1].items():
            out[k] = out.get(k, 0) + v
        return {s: out[s] for s in Stability if out.get(s)}

    def _orthogonal_stability_counts(self) -> dict[Stability, int]:
        if not self.has_degeneracy:
            counts = dict(self.ppca.stability_counts())
            n_min = counts.pop(Stability.MINIMUM, 0)
            if n_min:
                counts[Stability.SADDLE] = counts.get(Stability.SADDLE, 0) + n_min
            return {s: counts[s] for s in Stability if counts.get(s)}
        if "counts" not in self._cache:
            if self.n_points > MAX_ENUMERATED:
                raise ValueError(
                    f"`stability_counts` must enumerate the {self.n_points} points of a degenerate "
                    f"map; that exceeds {MAX_ENUMERATED}. Reduce latent_dim or move sigma2."
                )
            by: dict[Stability, int] = {}
            with warnings.catch_warnings():
                warnings.simplefilter(
                    "ignore", DegeneracyWarning
                )  # announced when the map was built
                for pt in self.points:
                    by[pt.stability] = by.get(pt.stability, 0) + 1
            self._cache["counts"] = {s: by[s] for s in Stability if s in by}
        return self._cache["counts"]

    # ------------------------------------------------------------------ display
    def plot(self, ax: Any = None) -> Any:
        """The enumerated points: ELBO against Morse index, coloured by stability."""
        from .._plotting.maps import plot_elbo_stability_map

        return plot_elbo_stability_map(self, ax=ax)

    def _cluster_note(self) -> str:
        if self.include_clusters:
            n = self.n_cluster_points
            if n == 0:
                return " (no equal-norm clusters)"
            n_fam = sum(1 for p in self.cluster_points if p.family_dim > 0)
            return f" orthogonal + {n} equal-norm clusters ({n_fam} families), counted below"
        return "" if self.complete else " + equal-norm cluster saddles (not counted)"

    def _rank_note(self) -> str:
        # A repr does not decompose the rest of a large covariance just to print its rank.
        if self.ppca.spectrum.is_complete or "rank" in self._cache:
            return f"rank {self.rank}"
        return f"the top {self.eigenvalues.size} of {self.n_features}"

    def __repr__(self) -> str:
        lam = self.eigenvalues
        shown = ", ".join(f"{v:.4g}" for v in lam[:5]) + (", ..." if lam.size > 5 else "")
        s = "learned" if self.is_learned else f"{self.sigma2:.6g}"
        g = self.global_maximum
        rows = [
            f"ElboStabilityMap(n_features={self.n_features}, latent_dim={self.latent_dim}, "
            f"sigma2={s}, encoder={self.encoder})",
            f"  eigenvalues     [{shown}] ({self._rank_note()})",
            f"  parameters      {self.n_parameters}",
            f"  n_points        {n_points_text(self.ppca)}" + self._cluster_note(),
            f"  global maximum  {g.n_active} live, {g.n_collapsed} collapsed (zero column), "
            f"elbo={g.elbo:.6g}, {g.stability.name}"
            + (f", orbit of {g.orbit_size}" if g.orbit_size is not None else ""),
        ]
        if self.has_degeneracy:
            rows.append("  degenerate      yes (ties or sigma2 at an eigenvalue)")
        elif not self.is_learned:
            rows.append(
                "  by stability    "
                + ", ".join(
                    f"{k.name.lower()}: {format_count(v)}"
                    for k, v in self.stability_counts().items()
                )
            )
        return "\n".join(rows)

    # ------------------------------------------------------------------ keeping and showing
    # JSON text and a file that `ppca_stability.load` reads back (docs/saving.md): the
    # pPCA map with its spectrum; the points are enumerated from it again on demand.
    to_json = persist.to_json
    save = persist.save

    def to_frame(self) -> Any:
        """One row per enumerated point, in the order of ``points``: ``active`` (tuple),
        ``n_active``, ``sigma2``, ``elbo``, ``morse_index``, ``stability`` (name), ``orbit_size``;
        refused beyond `MAX_FRAME_ROWS` points. Needs pandas (the ``pandas`` extra)."""
        if self.n_points > MAX_FRAME_ROWS:
            raise ValueError(
                f"`to_frame` would list {self.n_points} points, more than {MAX_FRAME_ROWS}; "
                "reduce latent_dim, or use .census() and .stability_counts()."
            )
        points = list(self.points)
        columns = {
            "active": [p.active for p in points],
            "n_active": np.array([p.n_active for p in points], dtype=np.int64),
            "sigma2": np.array([p.sigma2 for p in points], dtype=np.float64),
            "elbo": np.array([p.elbo for p in points], dtype=np.float64),
            "morse_index": np.array([p.morse_index for p in points], dtype=np.int64),
            "stability": [p.stability.name for p in points],
            "orbit_size": [p.orbit_size for p in points],
        }
        return data_frame(columns, "ElboStabilityMap.to_frame()")

    def _repr_html_(self) -> str:
        lines = repr(self).splitlines()
        return render(lines[0], repr_facts(lines[1:]))


def _elbo_stability_map_iv(
    cov: ArrayLike | Spectrum,
    sigma2: Any,
    latent_dim: Any,
    rtol: Any,
    encoder: Any,
    include_clusters: Any,
    progress: Any,
) -> tuple[np.ndarray | Spectrum, float | str, int, float, str, bool, bool]:
    S, s, q, rtol = check_map_inputs(cov, sigma2, latent_dim, rtol)
    encoder = check_choice(encoder, "encoder", ENCODERS)
    clusters = check_bool(include_clusters, "include_clusters")
    return S, s, q, rtol, encoder, clusters, check_bool(progress, "progress")


def elbo_stability_map(
    cov: ArrayLike,
    sigma2: float | str,
    *,
    latent_dim: int | None = None,
    encoder: str = "diagonal",
    rtol: float = DEFAULT_RTOL,
    include_clusters: bool = False,
    progress: bool = False,
) -> ElboStabilityMap:
    """Every stationary orbit of the linear-VAE ELBO with orthogonal columns, classified in closed
    form in all parameters (encoder ``V`` and ``D`` or ``L``, decoder ``W``, and ``sigma2`` when
    learned).

    Parameters
    ----------
    cov : array_like, shape (d, d), or Spectrum
        Data covariance (ddof=0), or its `spectrum()`, possibly partial, as in
        `stability_map()`; the map takes the same route (only the top of a large covariance
        when that is faster). A point's ``symmetry_dim`` needs ``rank S``, and the equal-norm
        clusters the whole spectrum: a map on a partial spectrum computes it from the
        covariance when first asked (a ValueError for a partial `Spectrum`).
    sigma2 : float or "learned"
    latent_dim : int, optional
        ``q``; defaults as in `stability_map()`.
    encoder : {"diagonal", "full"}, default "diagonal"
        ``q(z|x) = N(V x, diag D)`` (the usual VAE; symmetry group: signed permutations of the
        latents) or ``N(V x, L L^T)`` (symmetry group O(q)).
    rtol : float, default 1e-9
        Tie tolerance, as in `stability_map()`; degenerate points are reported as
        ``DEGENERATE`` and a `DegeneracyWarning` is issued.
    include_clusters : bool, default False
        Count the diagonal encoder's equal-norm clusters (``cluster_points``, classified
        numerically: a dense Hessian each, so meant for small ``d q``) in ``census()`` and
        ``stability_counts()``; ``complete`` is then True. With ``sigma2="learned"`` each
        cluster has its own ``sigma2`` (and its Hessian includes it). Needs distinct
        eigenvalues and ``sigma2`` off the spectrum; refuses beyond a guard on the number of
        configurations.
    progress : bool, default False
        Show a progress bar (tqdm) while the equal-norm clusters are classified (thousands of
        them take minutes: 4 574 at d = 6, q = 4 took 45-60 s).

    Returns
    -------
    ElboStabilityMap

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import elbo_stability_map
    >>> emap = elbo_stability_map(np.diag([5.0, 3.0, 2.0, 1.0]), 1.5, latent_dim=2)
    >>> emap.n_points, emap.census()
    (7, {0: 1, 1: 1, 2: 2, 3: 1, 4: 1, 6: 1})
    >>> g = emap.global_maximum
    >>> g.active, g.stability.name, g.symmetry_dim, g.orbit_size      # isolated: identifiable
    ((0, 1), 'MAXIMUM', 0, 8)
    >>> full = elbo_stability_map(np.diag([5.0, 3.0, 2.0, 1.0]), 1.5, latent_dim=2, encoder="full")
    >>> full.global_maximum.symmetry_dim
    1
    >>> emap.complete, emap.n_cluster_points        # equal-norm clusters: never maxima
    (False, 7)
    >>> c = elbo_stability_map(
    ...     np.diag([5.0, 3.0, 2.0, 1.0]), 1.5, latent_dim=2, include_clusters=True
    ... )
    >>> c.complete, sorted({p.stability.name for p in c.cluster_points})
    (True, ['SADDLE'])
    """
    S, s, q, rtol, encoder, include_clusters, progress = _elbo_stability_map_iv(
        cov, sigma2, latent_dim, rtol, encoder, include_clusters, progress
    )
    if include_clusters and not isinstance(S, Spectrum):
        smap = build_map(eigh_descending(S, vectors=True), s, q, rtol)
    else:  # the pPCA map's own route (partial where that is faster)
        smap = build_map(S, s, q, rtol)
    announce(smap, stacklevel=3)
    complete = None
    if not smap.spectrum.is_complete and not isinstance(S, Spectrum):
        complete = functools.partial(eigh_descending, S, vectors=True)
    emap = ElboStabilityMap(smap, encoder, include_clusters, progress, complete)
    if include_clusters:
        emap.n_cluster_points  # noqa: B018 - refuse now (degenerate map, enumeration guard)
    return emap
