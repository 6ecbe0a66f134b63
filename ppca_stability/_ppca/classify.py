"""Numeric classification of any ``W`` from its gradient and Hessian: `classify_point`.

`classify_point()` classifies an arbitrary ``W`` (trained weights, or points no formula describes)
from the gradient and Hessian of `log_likelihood()` alone: densely for small ``d q``, and for large
ones from the Hessian's block structure (``_hessian_blocks``: the exact inertia from one
eigendecomposition of size ``d - q``, ``d - q`` of size ``q`` and a Schur complement of size
``q^2``, never a ``(d q)^2`` object). It never reads the closed form (``_inertia``), so it is also
an independent check of it.

Symmetry: ``l(W R) = l(W)`` for ``R`` in O(q), so at a stationary point the tangent space of the
orbit, ``{W A : A = -A^T}`` of dimension ``k (k - 1) / 2 + k (q - k)`` (``k = rank W``), lies in
the Hessian's kernel. These zero modes are not degeneracies and are excluded from classification.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._base.classification import (
    DEFAULT_GTOL,
    DEFAULT_HESSIAN_RTOL,
    DENSE_MAX,
    Classification,
    Stability,
    second_order,
)
from .._base.validation import (
    check_choice,
    check_cov,
    check_latent_dim,
    check_loadings,
    check_rtol,
    check_sigma2,
)
from .hessian import dense_hessian_scaled, unscale
from .hessian_blocks import structured_counts
from .likelihood import Model

__all__ = [
    "PointClassification",
    "classify_point",
    "classify_kernel",
    "SymmetryBasis",
]


@dataclass(frozen=True, eq=False, slots=True, repr=False)  # the table repr of the base
class PointClassification(Classification):
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
        symmetry orbit's tangent space (the symmetry modes appear as exact zeros), ascending (for
        ``sigma2_learned``, of the Hessian in the coordinates ``(W, sigma2)``). Structured method:
        empty, and the ``repr`` says so. It counts the eigenvalues on each side of the zero band
        exactly without computing them; the eigenvalues it does compute are not the Hessian's
        (those of its ``span(W)``-complement block, which are the Hessian's only when that block
        decouples, e.g. at a stationary point, and those of a Schur complement).
    morse_index : int
        Eigenvalues above the zero band (see `classify_point()`'s ``rtol``) outside the symmetry
        modes.
    morse_index_exact : bool
        Always True: both methods count every eigenvalue (kept for compatibility).
    symmetry_dim : int
    n_degenerate : int
        Eigenvalues inside the zero band beyond the symmetry modes.
    stability : Stability
    method : str
        ``"dense"`` or ``"structured"``.
    """


class SymmetryBasis:
    """The orbit tangent space ``{W A : A = -A^T}`` with an orthonormal basis known in closed form.

    With the SVD ``W = P diag(w) R^T``, the vectors ``(w_a p_a r_b^T - w_b p_b r_a^T) / sqrt(w_a^2 +
    w_b^2)`` for ``a < b`` and ``w_a > 0`` are orthonormal and span it. ``W`` is in scaled units
    (``sigma2 = 1``): a singular value counts as zero below ``rank_rtol`` (relative to
    ``sqrt(sigma2)``: such a column does not change ``C`` in float64, and its orbit directions are
    curved like any other) or below the SVD's resolution ``eps q w_1``. For ``q > d`` the SVD is
    padded to ``q`` singular values (zeros) with the full ``R``.
    """

    def __init__(self, W: np.ndarray, rank_rtol: float) -> None:
        d, q = W.shape
        P, w, Rt = np.linalg.svd(W, full_matrices=q > d)
        if q > d:
            P, w = np.hstack([P, np.zeros((d, q - d))]), np.append(w, np.zeros(q - d))
        top = float(w[0]) if w.size else 0.0
        w = np.where(w > max(rank_rtol, 16.0 * np.finfo(float).eps * q * top), w, 0.0)
        a, b = np.triu_indices(q, 1)
        keep = w[a] > 0
        self.P, self.R, self.w = P, Rt.T, w
        self.a, self.b = a[keep], b[keep]
        norm = np.hypot(w[self.a], w[self.b])  # not sqrt(w_a^2 + w_b^2): it underflows at 1e-162
        self.ca, self.cb = w[self.a] / norm, w[self.b] / norm
        self.dim = int(keep.sum())

    def project(self, E: np.ndarray) -> np.ndarray:
        """Orthogonal projection of a (d, q) direction onto the tangent space, O(d q^2)."""
        X = self.P.T @ E @ self.R
        coef = self.ca * X[self.a, self.b] - self.cb * X[self.b, self.a]
        Y = np.zeros_like(X)
        np.add.at(Y, (self.a, self.b), coef * self.ca)
        np.add.at(Y, (self.b, self.a), -coef * self.cb)
        return self.P @ Y @ self.R.T

    def basis(self, n: int) -> np.ndarray:
        """The orthonormal basis as columns of an (n, dim) array (n >= d q; extra rows zero)."""
        d, q = self.P.shape[0], self.R.shape[0]
        B = np.zeros((n, self.dim))
        for j, (a, b, ca, cb) in enumerate(zip(self.a, self.b, self.ca, self.cb)):
            B[: d * q, j] = (
                ca * np.outer(self.P[:, a], self.R[:, b])
                - cb * np.outer(self.P[:, b], self.R[:, a])
            ).ravel()
        return B


def _classify_point_iv(
    loadings: ArrayLike,
    cov: ArrayLike,
    sigma2: Any,
    method: Any,
    rtol: Any,
    gtol: Any,
    n_eigenvalues: Any,
) -> tuple[np.ndarray, np.ndarray, float, str, float, float]:
    S = check_cov(cov)
    W = check_loadings(loadings, S.shape[0])
    method = check_choice(method, "method", ("auto", "dense", "structured", "lanczos"))
    if method == "lanczos":
        warnings.warn(
            "method='lanczos' is deprecated: the structured route that replaced it is exact "
            "(method='structured'); 'lanczos' means 'structured' for one release.",
            FutureWarning,
            stacklevel=3,
        )
        method = "structured"
    if n_eigenvalues is not None:
        check_latent_dim(n_eigenvalues, 10**9, "n_eigenvalues")
    return W, S, check_sigma2(sigma2), method, check_rtol(rtol), check_rtol(gtol, "gtol")


def classify_point(
    loadings: ArrayLike,
    cov: ArrayLike,
    sigma2: float,
    *,
    sigma2_learned: bool = False,
    method: str = "auto",
    rtol: float = DEFAULT_HESSIAN_RTOL,
    gtol: float = DEFAULT_GTOL,
    n_eigenvalues: int | None = None,
) -> PointClassification:
    """Numerically classify an arbitrary ``W`` from its gradient and Hessian.

    Parameters
    ----------
    loadings : array_like, shape (d, q)
    cov : array_like, shape (d, d)
    sigma2 : float
    sigma2_learned : bool, default False
        Classify in the joint ``(W, sigma2)`` problem (Hessian of size ``d q + 1``).
    method : {"auto", "dense", "structured"}
        ``"dense"`` forms the Hessian (``(d q)^2`` entries) and all its eigenvalues;
        ``"structured"`` never does: it counts the eigenvalues above and below the zero band
        exactly from the Hessian's block structure (theory.md §3, "Inertia of any W"), in
        O(d^3 + d q^4) time and O(d^2 + q^4) memory; ``"auto"`` is dense up to 4096 coordinates
        (and always for ``q > d``, which the block split does not cover). ``"lanczos"`` is a
        deprecated alias of ``"structured"``.
    rtol : float, default 1e-8
        The zero band: an eigenvalue ``h`` counts as zero when ``|h| <= rtol * max(scale,
        1 / (sigma2 + ||W||_2^2))`` (scaled units), where ``scale`` is ``||H||`` for the dense
        method and, for the structured one, the largest norm of the Hessian's blocks (within a
        factor 2 of ``||H||``; by power iteration); the second term is the Hessian's natural
        scale, for when it is all zero. The structured method may widen the band by up to a
        factor 2 to keep its edges away from the eigenvalues of its largest block (so that the
        solve with that block is well conditioned).
    gtol : float, default 1e-7
        Stationary when the relative gradient norm (see `PointClassification`) is below.
    n_eigenvalues : int, optional
        Deprecated, no effect (it sized the former Lanczos route).

    Returns
    -------
    PointClassification

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import classify_point
    >>> W = np.array([[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]])      # top eigenvector, 4 = 5 - 1
    >>> c = classify_point(W, np.diag([5.0, 3.0, 2.0]), 1.0)
    >>> c.is_stationary, c.stability.name, c.morse_index, c.symmetry_dim
    (True, 'SADDLE', 2, 1)
    >>> classify_point(W, np.diag([5.0, 3.0, 2.0]), 1.0, method="structured").morse_index
    2
    """
    W, S, s, method, rtol, gtol = _classify_point_iv(
        loadings, cov, sigma2, method, rtol, gtol, n_eigenvalues
    )
    return classify_kernel(W, S, s, bool(sigma2_learned), method, rtol, gtol)


def classify_kernel(
    W: np.ndarray, S: np.ndarray, s: float, joint: bool, method: str, rtol: float, gtol: float
) -> PointClassification:
    """`classify_point` on validated inputs (for internal callers)."""
    d, q = W.shape
    model = Model.build(W, S, s)
    gW, gs = model.gradient()
    gnorm = float(np.hypot(_norm(gW), gs if joint else 0.0))
    # Everything below is in the model's scaled units (W / sqrt(s), S / s, s = 1), so tolerances
    # are scale-free and classification is invariant under S -> cS, sigma2 -> c sigma2.
    gW_n, gs_n = model.scaled_gradient()
    w1 = float(model.w[0]) if model.w.size else 0.0
    # |g_W| sqrt(1 + |W|_2^2) as a product of hypot: no overflow for |W| up to float64's range.
    rel = float(np.hypot(_norm(gW_n) * np.hypot(1.0, w1), gs_n if joint else 0.0))
    with np.errstate(over="ignore"):
        natural = 1.0 / (1.0 + w1 * w1)  # the Hessian's natural scale, for when it is all zero
    sym = SymmetryBasis(model.W, rank_rtol=np.sqrt(np.finfo(float).eps))
    n = W.size + joint
    if method == "auto":
        method = "dense" if n <= DENSE_MAX else "structured"
    if q > d:  # the structured route needs the thin SVD's Q to have q columns
        method = "dense"
    if method == "dense":
        eig, n_pos, n_neg, n_zero = _dense_inertia(model, sym, joint, rtol, natural)
    else:
        eig, n_pos, n_neg, n_zero = _structured_inertia(model, sym, joint, rtol, natural)
    is_stationary = bool(rel <= gtol)  # False for NaN too
    if not is_stationary:
        stability = Stability.NOT_STATIONARY
    else:
        stability = second_order(
            n_pos, n_neg, n_zero, "the Hessian has zero modes beyond the symmetry orbit", 3
        )
    return PointClassification(
        gnorm, rel, is_stationary, eig, n_pos, True, sym.dim, n_zero, stability, method
    )


def _norm(X: np.ndarray) -> float:
    """Frobenius norm without underflow (``np.linalg.norm`` squares: 0 below ~1e-154)."""
    top = float(np.max(np.abs(X), initial=0.0))
    return top * float(np.linalg.norm(X / top)) if top > 0.0 else 0.0


def _dense_inertia(
    model: Model, sym: SymmetryBasis, joint: bool, rtol: float, natural: float
) -> tuple[np.ndarray, int, int, int]:
    """All eigenvalues of the dense scaled Hessian on the complement of the symmetry modes."""
    H = dense_hessian_scaled(model, joint)
    B = sym.basis(H.shape[0])
    # (I - B B^T) H (I - B B^T) as a rank-2m update of H, O(n^2 m) instead of two n^3 products:
    # with G = H B and M = B^T G, it is H - B F^T - F B^T where F = G - B M / 2.
    G = H @ B
    F = G - 0.5 * (B @ (B.T @ G))
    compressed = H - B @ F.T - F @ B.T
    # Push the symmetry directions to -shift, below everything else (the Frobenius norm bounds
    # the spectral norm), then drop them: one eigendecomposition in all.
    shift = 2.0 * float(np.linalg.norm(H)) + 1.0
    h = np.linalg.eigvalsh(compressed - shift * (B @ B.T))[sym.dim :]
    tol = rtol * max(float(np.max(np.abs(h), initial=0.0)), natural)
    n_pos, n_neg = int(np.sum(h > tol)), int(np.sum(h < -tol))
    if joint:  # a congruence, not a similarity: the caller's eigenvalues need their own solve
        eig = np.linalg.eigvalsh(unscale(model, compressed, joint))
    else:
        eig = np.sort(np.concatenate([h, np.zeros(sym.dim)])) / model.scale
    return eig, n_pos, n_neg, h.size - n_pos - n_neg


def _structured_inertia(
    model: Model, sym: SymmetryBasis, joint: bool, rtol: float, natural: float
) -> tuple[np.ndarray, int, int, int]:
    """Counts of the restricted scaled Hessian's eigenvalues above ``t`` and below ``-t`` for the
    zero band ``t``, by Sylvester/Haynsworth inertia on its blocks (``_hessian_blocks``)."""
    n_pos, n_neg, n_zero = structured_counts(model, sym.w, joint, rtol, natural, gap=False)
    return np.zeros(0), n_pos, n_neg, n_zero
