"""Numeric classification of any linear-VAE parameters from the ELBO's own gradient and Hessian:
`classify_vae_point`.

Dense for small models; for large ones structured: wherever the encoder's gradient vanishes the
Schur complement of the encoder block is the Hessian of the profile ``F = l - G`` (eliminating the
encoder is maximising over it; the envelope theorem), whose inertia `_ppca.hessian_blocks` counts
exactly as for `classify_point()`, with ``G``'s Hessian added in closed form
(`_ppca.hessian_blocks._gap_hessian`). It reads only `_elbo.derivatives`, never the closed-form map
(`_elbo.landscape`), so it is also an independent check of it.

Symmetries. The ELBO depends on ``V`` only through ``V S``: the ``q (d - rank S)`` directions
``V -> V + A N^T`` with ``N`` spanning ``null(S)`` are exact invariances and count among the
symmetry modes. The full encoder is also invariant under ``(V, Sigma, W) -> (R^T V, R^T Sigma R,
W R)``, ``R`` in O(q): an orbit of dimension ``k (k - 1) / 2 + k (q - k)``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse.linalg
from numpy.typing import ArrayLike

from .._base.classification import (
    DEFAULT_GTOL,
    DEFAULT_HESSIAN_RTOL,
    DENSE_MAX,
    Classification,
    Stability,
    second_order,
)
from .._base.tolerance import roundoff_threshold
from .._base.validation import check_choice, check_cov, check_rtol, check_sigma2
from .._ppca.classify import SymmetryBasis
from .._ppca.hessian_blocks import structured_counts
from .._ppca.likelihood import Model
from ..exceptions import ConvergenceWarning
from .derivatives import ElboModel, encoder_array
from .objective import LinearVAEFullParams, LinearVAEParams, check_vae_params

__all__ = ["VAEPointClassification", "classify_vae_point", "ENCODERS"]

ENCODERS = ("diagonal", "full")
# Lanczos: residual tolerance for the top eigenvalues, the scale estimate, and the cap on ARPACK's
# restarts beyond which the Morse index is reported as a lower bound (a dense cluster of tiny
# negative eigenvalues at the top, e.g. 4 decades over d = 784, does not converge in minutes).
LANCZOS_TOL = 1e-10
SCALE_TOL = 1e-3
LANCZOS_MAXITER = 100


@dataclass(frozen=True, eq=False, slots=True, repr=False)  # the table repr of the base
class VAEPointClassification(Classification):
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

    encoder: str

    def _header(self) -> str:
        return (
            f"VAEPointClassification(stability={self.stability.name}, encoder={self.encoder}, "
            f"method={self.method})"
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


def _classify_vae_point_iv(
    params: Any,
    cov: ArrayLike,
    sigma2: Any,
    encoder: Any,
    sigma2_learned: Any,
    method: Any,
    rtol: Any,
    gtol: Any,
) -> tuple[Any, ...]:
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
    cov: ArrayLike,
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
        stability = second_order(
            n_pos, n_neg, n_zero, "the ELBO's Hessian has zero modes beyond the symmetries", 2
        )
    return VAEPointClassification(
        gnorm, rel, rel <= gtol, eig, n_pos, exact, sym_dim, n_zero, stability, method, encoder
    )
