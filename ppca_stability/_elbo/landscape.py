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
import scipy.sparse.linalg

from .._base.tolerance import DEFAULT_RTOL, roundoff_threshold, tie_sign
from .._base.validation import check_bool, check_choice, check_cov, check_rtol, check_sigma2
from .._ppca.classify import SymmetryBasis, classification_table
from .._ppca.hessian_blocks import structured_counts
from .._ppca.likelihood import Model
from .._ppca.stability import (
    LazyPoints,
    Stability,
    StabilityMap,
    StationaryPoint,
    announce,
    build_map,
    validate_map_inputs,
)
from .._spectra.spectrum import Spectrum, eigh_descending, require_complete
from ..exceptions import ConvergenceWarning, DegeneracyWarning
from .clusters import (
    ElboClusterPoint,
    cluster_configurations,
    cluster_point,
    learned_sigma2,
)
from .derivatives import ElboModel, encoder_array
from .objective import LinearVAEFullParams, LinearVAEParams, check_vae_params

__all__ = [
    "ElboStationaryPoint",
    "ElboStabilityMap",
    "VAEPointClassification",
    "elbo_stability_map",
    "classify_vae_point",
]

ENCODERS = ("diagonal", "full")
# classify_vae_point: relative zero test on numeric Hessian eigenvalues, and the stationarity test
# (the largest block-relative gradient, see VAEPointClassification).
DEFAULT_HESSIAN_RTOL = 1e-8
DEFAULT_GTOL = 1e-7
# method="auto" forms the dense Schur complement up to this many (W, sigma2) coordinates.
DENSE_MAX = 4096
# Lanczos: residual tolerance for the top eigenvalues, the scale estimate, and the cap on ARPACK's
# restarts beyond which the Morse index is reported as a lower bound (a dense cluster of tiny
# negative eigenvalues at the top, e.g. 4 decades over d = 784, does not converge in minutes).
LANCZOS_TOL = 1e-10
SCALE_TOL = 1e-3
LANCZOS_MAXITER = 100
# A map whose stability counts must be enumerated refuses beyond this many points.
MAX_ENUMERATED = 2_000_000


# =========================================================================== numeric classification


@dataclass(frozen=True, eq=False, slots=True)
class VAEPointClassification:
    """Numeric classification of linear-VAE parameters by the ELBO's gradient and Hessian.

    Attributes
    ----------
    gradient_norm : float
        Euclidean norm of the ELBO's gradient in all parameters (the caller's units).
    relative_gradient_norm : float
        The largest, over the blocks (``V``, encoder covariance, ``W``, ``sigma2``), of
        ``|a - b| / (|a| + |b|)`` where the block's gradient is ``a - b`` (module
        `ppca_stability._elbo.derivatives`): dimensionless and scale-free.
    is_stationary : bool
    hessian_eigenvalues : ndarray
        In the scale-free coordinates ``(V sqrt(s), encoder, W / sqrt(s), sigma2 sqrt(d / 2) /
        s)``, which have the same inertia (the last so that the ``sigma2`` curvature, about
        ``d / (2 s^2)``, is of order one like the others): eigenvalues of the Schur complement of
        the encoder block in ``(W, sigma2)``-space (its inertia plus the encoder block's is the
        Hessian's), outside the symmetry modes, ascending. Dense: all of them; Lanczos: the
        largest; structured: none (it counts the eigenvalues on each side of the zero band
        without computing them).
    morse_index : int
        Positive eigenvalues (ascent directions); a lower bound when ``morse_index_exact`` is False.
    morse_index_exact : bool
    symmetry_dim : int
        Zero modes that are symmetries: ``q (d - rank S)`` encoder directions along ``null(S)``,
        plus the O(q) orbit for the full encoder.
    n_degenerate : int
        Zero eigenvalues beyond the symmetry modes.
    stability : Stability
    method : str
        ``"dense"``, ``"structured"`` (counts only: ``hessian_eigenvalues`` is empty) or
        ``"lanczos"``.
    encoder : str
        ``"diagonal"`` or ``"full"``.
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
    encoder: str

    def __repr__(self) -> str:
        return classification_table(
            self,
            f"VAEPointClassification(stability={self.stability.name}, encoder={self.encoder}, "
            f"method={self.method})",
        )


def _scaled_point(
    p: LinearVAEParams | LinearVAEFullParams, S: np.ndarray, s: float, learned: bool
) -> ElboModel:
    """The point in units of ``s`` (``S / s``, ``W / sqrt(s)``, ``V sqrt(s)``, ``s = 1``): the ELBO
    changes by a constant, and its Hessian by the congruence ``J H J``, which keeps the inertia."""
    r = math.sqrt(s)
    return ElboModel(
        p.encoder_weights * r,
        encoder_array(p),
        p.loadings / r,
        S / s,
        1.0,
        full=isinstance(p, LinearVAEFullParams),
        learned=learned,
    )


def _unit_scales(point: ElboModel, s: float) -> np.ndarray:
    """``J`` of `_scaled_point`: scaled gradient = ``J *`` gradient."""
    r = math.sqrt(s)
    parts = [
        np.full(point.q * point.d, 1.0 / r),
        np.ones(point.n_enc),
        np.full(point.d * point.q, r),
    ]
    if point.learned:
        parts.append(np.array([s]))
    return np.concatenate(parts)


def _rank(S: np.ndarray) -> int:
    """Rank of ``S`` with the package's round-off rule (`_base.tolerance.roundoff_threshold`)."""
    lam = np.linalg.eigvalsh(S)
    slack = roundoff_threshold(max(abs(lam[-1]), abs(lam[0])), S.shape[0])
    return int(np.count_nonzero(lam > slack))


def _relative_gradient(point: ElboModel) -> float:
    worst = 0.0
    for g, a, b in point.gradient_terms():
        den = float(np.linalg.norm(a) + np.linalg.norm(b))
        if den > 0.0:
            worst = max(worst, float(np.linalg.norm(g)) / den)
    return worst


def _encoder_solver(point: ElboModel, rtol: float) -> tuple[Any, int, int, int]:
    """``H_ee^-1`` for the encoder-covariance block and that block's inertia."""
    if not point.full:
        diag = -0.5 * point.D * np.diag(point.M) / point.s  # always negative
        return (lambda b: b / diag), 0, point.q, 0
    n = point.n_enc
    Hee = np.array([point.encoder_block_product(e) for e in np.eye(n)]).T
    Hee = 0.5 * (Hee + Hee.T)
    w = np.linalg.eigvalsh(Hee)
    tol = rtol * float(np.max(np.abs(w)))
    n_pos, n_neg = int(np.sum(w > tol)), int(np.sum(w < -tol))
    pinv = np.linalg.pinv(Hee, rcond=rtol, hermitian=True)
    return (lambda b: pinv @ b), n_pos, n_neg, n - n_pos - n_neg


class _Schur:
    """The Schur complement of the encoder block as an operator on ``(W, s)``-space, with the
    full encoder's orbit tangent ``{W Omega}`` (the ``W`` part of the symmetry modes; the
    complement's kernel holds exactly the ``W`` parts of the Hessian's) pushed to ``shift``.

    The zero test is applied to this operator alone: the encoder block's inertia is known from
    its structure (``q rank(S)`` negative ``V`` directions, whatever their size: at digits they
    span nine decades, far beyond any relative tolerance), so no scale of it enters the test.
    """

    def __init__(self, point: ElboModel, rtol: float) -> None:
        self.point = point
        self.solve, self.e_pos, self.e_neg, self.e_zero = _encoder_solver(point, rtol)
        self.sym = (
            # A column below sqrt(eps sigma2) does not change C in float64 (as in classify_point).
            SymmetryBasis(point.W, rank_rtol=np.sqrt(np.finfo(float).eps * point.s))
            if point.full
            else None
        )
        self.sym_dim = self.sym.dim if self.sym is not None else 0
        self.n = point.d * point.q + point.learned
        # sigma2 in units of s sqrt(2 / d): its curvature, about d / (2 s^2), is then O(1) like
        # each W direction's, so it does not widen the zero band by a factor d (at d = 784 it
        # swallowed the diagonal encoder's weakest rotation curvatures at the maximum).
        self.s_unit = math.sqrt(2.0 / point.d)

    def product(self, v: np.ndarray, shift: float) -> np.ndarray:
        d, q, learned, sym = self.point.d, self.point.q, self.point.learned, self.sym
        E = v[: d * q].reshape(d, q)
        ET = sym.project(E) if sym is not None else 0.0
        ds = self.s_unit * float(v[-1]) if learned else 0.0
        hW, hs = self.point.schur_product(E - ET, ds, self.solve)
        if sym is not None:
            hW = hW - sym.project(hW) + shift * ET
        return np.append(hW.ravel(), self.s_unit * hs) if learned else hW.ravel()

    def operator(self, shift: float) -> scipy.sparse.linalg.LinearOperator:
        return scipy.sparse.linalg.LinearOperator(
            (self.n, self.n), dtype=np.float64, matvec=lambda v: self.product(np.ravel(v), shift)
        )

    def inertia(
        self, rank: int, values: np.ndarray, scale: float, rtol: float, natural: float
    ) -> tuple[int, int, int]:
        """``(n_pos, n_neg, n_zero)`` of the whole Hessian from (some of) the complement's top
        eigenvalues; the symmetry modes are not counted."""
        tol = rtol * max(scale, natural)
        n_pos = int(np.sum(values > tol)) + self.e_pos
        n_zero = int(np.sum(np.abs(values) <= tol)) + self.e_zero
        total = self.point.size - self.point.q * (self.point.d - rank)
        return n_pos, total - self.sym_dim - n_pos - n_zero, n_zero


def _dense_inertia(
    schur: _Schur, rank: int, rtol: float, natural: float
) -> tuple[np.ndarray, int, int, int, bool]:
    """All eigenvalues of the complement, formed column by column (``n`` products)."""
    T = np.array([schur.product(e, 0.0) for e in np.eye(schur.n)]).T
    T = 0.5 * (T + T.T)
    shift = 2.0 * float(np.linalg.norm(T)) + 1.0
    if schur.sym is not None:  # push the orbit tangent below everything, then drop it
        B = schur.sym.basis(schur.n)
        h = np.linalg.eigvalsh(T - shift * (B @ B.T))[schur.sym_dim :]
    else:
        h = np.linalg.eigvalsh(T)
    scale = float(np.max(np.abs(h), initial=0.0))
    return (h, *schur.inertia(rank, h, scale, rtol, natural), True)


def _lanczos_inertia(
    schur: _Schur, rank: int, rtol: float, natural: float, n_eig: int
) -> tuple[np.ndarray, int, int, int, bool]:
    """The complement's largest eigenvalues by ARPACK (``LA``, after an ``LM`` estimate of the
    scale that places the symmetry shift). The count is exact when a computed eigenvalue is
    clearly negative: every one not computed lies below it."""
    n = schur.n
    v0 = np.random.default_rng(0).standard_normal(
        n
    )  # a fixed start: the result must not depend on chance
    lm = float(
        scipy.sparse.linalg.eigsh(
            schur.operator(0.0), k=1, which="LM", v0=v0, tol=SCALE_TOL, return_eigenvectors=False
        )[0]
    )
    shift = 2.0 * abs(lm) + 1.0
    k = min(n_eig, n - 1)
    converged = True
    try:
        top = scipy.sparse.linalg.eigsh(
            schur.operator(-shift),
            k=k,
            which="LA",
            v0=v0,
            tol=LANCZOS_TOL,
            maxiter=LANCZOS_MAXITER,
            return_eigenvectors=False,
        )
    except scipy.sparse.linalg.ArpackNoConvergence as exc:
        top, converged = exc.eigenvalues, False
    top = np.sort(top)
    tol = rtol * max(abs(lm), natural)
    counted = int(np.sum(top >= -tol))
    exact = converged and (counted < top.size or n - schur.sym_dim == top.size)
    return (top, *schur.inertia(rank, top, abs(lm), rtol, natural), exact)


def _structured_inertia(
    schur: _Schur,
    p: LinearVAEParams | LinearVAEFullParams,
    S: np.ndarray,
    s: float,
    rank: int,
    rtol: float,
    natural: float,
) -> tuple[np.ndarray, int, int, int, bool]:
    """Exact counts from the block structure: the complement is the Hessian of the profile
    ``F = l - G`` (``G = 0`` for the full encoder) whenever the encoder's gradient vanishes
    (docs/theory.md), and `ppca_stability._ppca.hessian_blocks` counts that one's inertia as for
    `classify_point()`; the encoder block's inertia is added (Haynsworth)."""
    model = Model.build(p.loadings, S, s)
    sym_weights = schur.sym.w if schur.sym is not None else np.zeros(model.w.size)
    n_pos, n_neg, n_zero = structured_counts(
        model,
        sym_weights,
        schur.point.learned,
        rtol,
        natural,
        gap=not schur.point.full,
        s_unit=schur.s_unit,
    )
    n_neg += schur.point.q * rank + schur.e_neg
    return np.zeros(0), n_pos + schur.e_pos, n_neg, n_zero + schur.e_zero, True


def _classify_vae_point_iv(params, cov, sigma2, encoder, sigma2_learned, method, rtol, gtol):  # noqa: ANN001
    S = check_cov(cov)
    encoder = check_choice(encoder, "encoder", ENCODERS)
    p = check_vae_params(params, S.shape[0])
    if (encoder == "full") != isinstance(p, LinearVAEFullParams):
        want = (
            "LinearVAEFullParams (V, Cholesky factor L, W)"
            if encoder == "full"
            else "LinearVAEParams (V, log D, W)"
        )
        raise ValueError(f"`encoder`={encoder!r} needs `params` as {want}; got {type(p).__name__}.")
    if not isinstance(sigma2_learned, (bool, np.bool_)):
        raise TypeError(f"`sigma2_learned` must be a bool; got {type(sigma2_learned).__name__}.")
    return (
        p,
        S,
        check_sigma2(sigma2),
        encoder,
        bool(sigma2_learned),
        check_choice(method, "method", ("auto", "dense", "structured", "lanczos")),
        check_rtol(rtol),
        check_rtol(gtol, "gtol"),
    )


def classify_vae_point(
    params: Any,
    cov: Any,
    sigma2: float,
    *,
    encoder: str = "diagonal",
    sigma2_learned: bool = False,
    method: str = "auto",
    rtol: float = DEFAULT_HESSIAN_RTOL,
    gtol: float = DEFAULT_GTOL,
    n_eigenvalues: int = 6,
) -> VAEPointClassification:
    """Classify linear-VAE parameters by the ELBO's own gradient and Hessian in all parameters.

    Nothing here uses the closed-form stationary points: it is an independent check of
    `elbo_stability_map()`, and it answers "is my trained linear VAE at the maximum, or stuck
    at a saddle?" for any weights (from `fit_linear_vae()` or another framework).

    Parameters
    ----------
    params : LinearVAEParams or LinearVAEFullParams or tuple
        ``(V, log D, W)`` for ``encoder="diagonal"``, ``(V, L, W)`` with ``Sigma = L L^T`` for
        ``"full"``.
    cov : array_like, shape (d, d)
        Data covariance (ddof=0).
    sigma2 : float
        Decoder noise variance.
    encoder : {"diagonal", "full"}, default "diagonal"
    sigma2_learned : bool, default False
        Classify in the joint problem, ``sigma2`` a parameter too.
    method : {"auto", "dense", "structured", "lanczos"}
        The encoder block is negative definite on ``range(S)`` (its inertia is known from its
        structure), so the Hessian's inertia is the encoder block's plus that of its Schur
        complement in ``(W, sigma2)``-space, each of whose products costs two Hessian-vector
        products (O(d^2 q)). ``"dense"`` forms the complement (``(d q)^2`` entries) and finds all
        its eigenvalues. ``"structured"`` counts the complement's inertia exactly from its block
        structure in O(d^3 + d q^4) time and O(d^2 + q^4) memory (d = 784, q = 32: about a
        second): where the encoder's gradient vanishes the complement is the Hessian of the
        profile ``l - G`` (``G`` the diagonal posterior's gap, 0 for the full encoder), so the
        counts are those of the Hessian at the encoder optimal for ``W`` -- the given point
        whenever it is stationary (at a point that is not, the label is NOT_STATIONARY anyway).
        ``"lanczos"`` finds the complement's largest eigenvalues with ARPACK (slow to settle a
        maximum). ``"auto"``: dense up to ``d q = 4096`` (and for ``q > d``), else structured.
    rtol : float, default 1e-8
        An eigenvalue of the complement is zero when ``|h| <= rtol * max(scale, 1 / (1 +
        ||W||_2^2 / sigma2))``, ``scale`` its largest magnitude.
    gtol : float, default 1e-7
        Stationary when the relative gradient norm (see `VAEPointClassification`) is at most this.
    n_eigenvalues : int, default 6
        Lanczos only: how many of the largest Schur-complement eigenvalues to compute. The Morse
        index is exact when fewer than this many are positive or zero.

    Returns
    -------
    VAEPointClassification
        ``Stability.NOT_STATIONARY`` when the gradient does not vanish.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import classify_vae_point, optimal_encoder
    >>> cov = np.diag([5.0, 3.0, 2.0])
    >>> W = np.array([[2.0, 0.0], [0.0, np.sqrt(2.0)], [0.0, 0.0]])   # top two, s = 1
    >>> V, D = optimal_encoder(W, 1.0)
    >>> c = classify_vae_point((V, np.log(D), W), cov, 1.0)
    >>> c.stability.name, c.morse_index, c.symmetry_dim
    ('MAXIMUM', 0, 0)
    >>> R = np.array([[0.6, -0.8], [0.8, 0.6]])                      # rotate the columns
    >>> V, D = optimal_encoder(W @ R, 1.0)
    >>> classify_vae_point((V, np.log(D), W @ R), cov, 1.0).stability.name
    'NOT_STATIONARY'
    >>> V, D = optimal_encoder(W, 1.0)
    >>> classify_vae_point((V, np.log(D), W), cov, 1.0, method="structured").morse_index
    0
    """
    p, S, s, encoder, learned, method, rtol, gtol = _classify_vae_point_iv(
        params, cov, sigma2, encoder, sigma2_learned, method, rtol, gtol
    )
    with np.errstate(over="raise", invalid="raise"):
        try:
            point = _scaled_point(p, S, s, learned)
            g = point.gradient()
        except (FloatingPointError, np.linalg.LinAlgError) as exc:
            raise ValueError(
                f"the ELBO is not representable in float64 at these parameters ({exc})."
            ) from None
    gnorm = float(np.linalg.norm(g / _unit_scales(point, s)))
    rel = _relative_gradient(point)
    w2 = float(np.linalg.norm(point.W, 2) ** 2)
    natural = 1.0 / (1.0 + w2)
    schur = _Schur(point, rtol)
    if method == "auto":
        method = "dense" if schur.n <= DENSE_MAX or point.q > point.d else "structured"
    if method == "structured" and point.q > point.d:  # the block split needs q <= d
        method = "dense"
    rank = _rank(point.S)
    if method == "dense":
        eig, n_pos, n_neg, n_zero, exact = _dense_inertia(schur, rank, rtol, natural)
    elif method == "structured":
        eig, n_pos, n_neg, n_zero, exact = _structured_inertia(schur, p, S, s, rank, rtol, natural)
    else:
        eig, n_pos, n_neg, n_zero, exact = _lanczos_inertia(
            schur, rank, rtol, natural, int(n_eigenvalues)
        )
    sym_dim = schur.sym_dim + point.q * (point.d - rank)
    if rel > gtol:
        stability = Stability.NOT_STATIONARY
    elif not exact and n_pos == 0:
        # A lower bound of 0 settles nothing: never reported as a maximum.
        stability = Stability.DEGENERATE
        warnings.warn(
            "Lanczos did not settle the top of the Hessian's spectrum: the Morse index 0 is only a "
            "lower bound, so the point is not reported as a maximum. Try method='dense' if d q is "
            "moderate.",
            ConvergenceWarning,
            stacklevel=2,
        )
    else:
        stability = Stability.from_counts(n_pos, n_neg, n_zero)
        if stability is Stability.DEGENERATE:
            warnings.warn(
                "the ELBO's Hessian has zero modes beyond the symmetries; second order does not "
                "settle this point.",
                DegeneracyWarning,
                stacklevel=2,
            )
    return VAEPointClassification(
        gnorm, rel, rel <= gtol, eig, n_pos, exact, sym_dim, n_zero, stability, method, encoder
    )


# =========================================================================== the closed-form map


@dataclass(frozen=True, eq=False, slots=True)
class ElboStationaryPoint:
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

    @property
    def n_active(self) -> int:
        return len(self.active)

    @property
    def n_collapsed(self) -> int:
        return self.latent_dim - self.n_active

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
            for p in self.cluster_points:
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
        from .._plotting.figures import plot_elbo_stability_map

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
            f"  n_points        {self.n_points}" + self._cluster_note(),
            f"  global maximum  {g.n_active} live, {g.n_collapsed} collapsed, elbo={g.elbo:.6g}, "
            f"{g.stability.name}"
            + (f", orbit of {g.orbit_size}" if g.orbit_size is not None else ""),
        ]
        if self.has_degeneracy:
            rows.append("  degenerate      yes (ties or sigma2 at an eigenvalue)")
        elif not self.is_learned:
            rows.append(
                "  by stability    "
                + ", ".join(f"{k.name.lower()}: {v}" for k, v in self.stability_counts().items())
            )
        return "\n".join(rows)


def elbo_stability_map(
    cov: Any,
    sigma2: float | str,
    *,
    latent_dim: int | None = None,
    encoder: str = "diagonal",
    rtol: float = DEFAULT_RTOL,
    include_clusters: bool = False,
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
    S, s, q, rtol = validate_map_inputs(cov, sigma2, latent_dim, rtol, allow_spectrum=True)
    encoder = check_choice(encoder, "encoder", ENCODERS)
    include_clusters = check_bool(include_clusters, "include_clusters")
    if include_clusters and not isinstance(S, Spectrum):
        smap = build_map(eigh_descending(S, vectors=True), s, q, rtol)
    else:  # the pPCA map's own route (partial where that is faster)
        smap = build_map(S, s, q, rtol)
    announce(smap, stacklevel=3)
    complete = None
    if not smap.spectrum.is_complete and not isinstance(S, Spectrum):
        complete = functools.partial(eigh_descending, S, vectors=True)
    emap = ElboStabilityMap(smap, encoder, include_clusters, complete)
    if include_clusters:
        emap.n_cluster_points  # noqa: B018 - refuse now (degenerate map, enumeration guard)
    return emap
