"""Numeric classification of any ``W`` from its gradient and Hessian: `classify_point`.

`classify_point()` classifies an arbitrary ``W`` (trained weights, or points no formula describes)
from the gradient and Hessian of `log_likelihood()` alone: densely for small ``d q`` and
Hessian-free (Lanczos on Hessian-vector products) for large ones. It never reads the closed form
(``_inertia``), so it is also an independent check of it.

Symmetry: ``l(W R) = l(W)`` for ``R`` in O(q), so at a stationary point the tangent space of the
orbit, ``{W A : A = -A^T}`` of dimension ``k (k - 1) / 2 + k (q - k)`` (``k = rank W``), lies in
the Hessian's kernel. These zero modes are not degeneracies and are excluded from classification.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse.linalg

from ._hessian import dense_hessian_scaled, hvp_scaled, unscale
from ._likelihood import Model
from ._stability import Stability
from ._validation import (
    check_choice,
    check_cov,
    check_latent_dim,
    check_loadings,
    check_rtol,
    check_sigma2,
)
from .exceptions import DegeneracyWarning

__all__ = ["PointClassification", "classify_point"]

# classify_point: relative zero test on numeric Hessian eigenvalues and the stationarity test.
DEFAULT_HESSIAN_RTOL = 1e-8
DEFAULT_GTOL = 1e-7
# classify_point(method="auto") forms the dense Hessian up to this many coordinates.
DENSE_MAX = 4096


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
        return "\n".join(
            [
                f"PointClassification(stability={self.stability.name}, method={self.method})",
                f"  gradient norm     {self.gradient_norm:.3e} (relative {self.relative_gradient_norm:.3e}, "
                f"{'stationary' if self.is_stationary else 'NOT stationary'})",
                f"  morse index       {self.morse_index}{'' if self.morse_index_exact else ' (lower bound)'}",
                f"  symmetry modes    {self.symmetry_dim}; extra zero modes {self.n_degenerate}",
                f"  hessian spectrum  [{h[0]:.4g} .. {h[-1]:.4g}] ({h.size} values)"
                if h.size
                else "",
            ]
        ).rstrip()


class _Symmetry:
    """The orbit tangent space ``{W A : A = -A^T}`` with an orthonormal basis known in closed form.

    With the SVD ``W = P diag(w) R^T``, the vectors ``(w_a p_a r_b^T - w_b p_b r_a^T) / sqrt(w_a^2 +
    w_b^2)`` for ``a < b`` and ``w_a > 0`` are orthonormal and span it.
    """

    def __init__(self, W: np.ndarray, rank_rtol: float) -> None:
        P, w, Rt = np.linalg.svd(W, full_matrices=False)
        q = W.shape[1]
        w = np.where(w > rank_rtol * (w[0] if w.size else 0.0), w, 0.0)
        a, b = np.triu_indices(q, 1)
        keep = w[a] > 0
        self.P, self.R = P, Rt.T
        self.a, self.b = a[keep], b[keep]
        norm = np.hypot(
            w[self.a], w[self.b]
        )  # not sqrt(w_a^2 + w_b^2): that underflows to 0 at 1e-162
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


def _classify_point_iv(loadings, cov, sigma2, method, rtol, gtol, n_eigenvalues):  # noqa: ANN001
    S = check_cov(cov)
    W = check_loadings(loadings, S.shape[0])
    return (
        W,
        S,
        check_sigma2(sigma2),
        check_choice(method, "method", ("auto", "dense", "lanczos")),
        check_rtol(rtol),
        check_rtol(gtol, "gtol"),
        check_latent_dim(n_eigenvalues, 10**9, "n_eigenvalues"),
    )


def classify_point(
    loadings: Any,
    cov: Any,
    sigma2: float,
    *,
    sigma2_learned: bool = False,
    method: str = "auto",
    rtol: float = DEFAULT_HESSIAN_RTOL,
    gtol: float = DEFAULT_GTOL,
    n_eigenvalues: int = 6,
) -> PointClassification:
    """Numerically classify an arbitrary ``W`` from its gradient and Hessian.

    Parameters
    ----------
    loadings : array_like, shape (d, q)
    cov : array_like, shape (d, d)
    sigma2 : float
    sigma2_learned : bool, default False
        Classify in the joint ``(W, sigma2)`` problem (Hessian of size ``d q + 1``).
    method : {"auto", "dense", "lanczos"}
        ``"dense"`` forms the Hessian; ``"lanczos"`` never does (ARPACK on Hessian-vector
        products, O(d^2 q) each) and computes only extreme eigenvalues; ``"auto"`` is dense up
        to 4096 coordinates.
    rtol : float, default 1e-8
        A Hessian eigenvalue counts as zero when ``|h| <= rtol * max(||H||, 1 / (sigma2 +
        ||W||_2^2))``; the second term is the Hessian's natural scale, for when it is all zero.
    gtol : float, default 1e-7
        Stationary when the relative gradient norm (see `PointClassification`) is below.
    n_eigenvalues : int, default 6
        Lanczos only: how many of the largest eigenvalues to compute.

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
    """
    W, S, s, method, rtol, gtol, n_eig = _classify_point_iv(
        loadings, cov, sigma2, method, rtol, gtol, n_eigenvalues
    )
    joint = bool(sigma2_learned)
    model = Model.build(W, S, s)
    gW, gs = model.gradient()
    gnorm = float(np.sqrt(np.sum(gW**2) + (gs**2 if joint else 0.0)))
    # Everything below is in the model's scaled units (W / sqrt(s), S / s, s = 1), so tolerances
    # are scale-free and classification is invariant under S -> cS, sigma2 -> c sigma2.
    gW_n, gs_n = model.scaled_gradient()
    w2 = float(np.linalg.norm(model.W, 2) ** 2) if W.size else 0.0
    rel = float(np.hypot(np.linalg.norm(gW_n) * np.sqrt(1.0 + w2), gs_n if joint else 0.0))
    natural = 1.0 / (1.0 + w2)  # the Hessian's natural scale, for when it is all (near) zero
    sym = _Symmetry(model.W, rank_rtol=np.sqrt(np.finfo(float).eps))
    n = W.size + joint
    if method == "auto":
        method = "dense" if n <= DENSE_MAX else "lanczos"
    if method == "dense":
        H = dense_hessian_scaled(model, joint)
        B = sym.basis(n)
        # (I - B B^T) H (I - B B^T) as a rank-2m update of H, O(n^2 m) instead of two n^3 products:
        # with G = H B and M = B^T G, it is H - B F^T - F B^T where F = G - B M / 2.
        G = H @ B
        F = G - 0.5 * (B @ (B.T @ G))
        compressed = H - B @ F.T - F @ B.T
        # Push the symmetry directions to -shift, below everything else (the Frobenius norm bounds
        # the spectral norm), then drop them: one eigendecomposition in all.
        shift = 2.0 * float(np.linalg.norm(H)) + 1.0
        h = np.linalg.eigvalsh(compressed - shift * (B @ B.T))[sym.dim :]
        scale = float(np.max(np.abs(h), initial=0.0))
        tol = rtol * max(scale, natural)
        n_pos, n_neg = int(np.sum(h > tol)), int(np.sum(h < -tol))
        n_zero = h.size - n_pos - n_neg
        if joint:  # a congruence, not a similarity: the caller's eigenvalues need their own solve
            eig = np.linalg.eigvalsh(unscale(model, compressed, joint))
        else:
            eig = np.sort(np.concatenate([h, np.zeros(sym.dim)])) / s
        exact = True
    else:
        eig, n_pos, n_neg, n_zero, exact = _lanczos_inertia(model, sym, joint, rtol, n_eig, natural)
        eig = eig / s
    if rel > gtol:
        stability = Stability.NOT_STATIONARY
    else:
        stability = Stability.from_counts(n_pos, n_neg, n_zero)
        if stability is Stability.DEGENERATE:
            warnings.warn(
                "the Hessian has zero modes beyond the symmetry orbit; second order does not settle "
                "this point.",
                DegeneracyWarning,
                stacklevel=2,
            )
    return PointClassification(
        gnorm, rel, rel <= gtol, eig, n_pos, exact, sym.dim, n_zero, stability, method
    )


def _lanczos_inertia(
    model: Model, sym: _Symmetry, joint: bool, rtol: float, n_eig: int, natural_scale: float
) -> tuple[np.ndarray, int, int, int, bool]:
    """Extreme eigenvalues of the scaled Hessian on the complement of the symmetry modes,
    Hessian-free (ARPACK on Hessian-vector products)."""
    d, q = model.W.shape
    n = d * q + joint

    def restricted(v: np.ndarray, shift: float) -> np.ndarray:
        E = v[: d * q].reshape(d, q)
        ET = sym.project(E)
        dW, ds = hvp_scaled(model, E - ET, float(v[-1]) if joint else 0.0, joint)
        dW = dW - sym.project(dW) + shift * ET
        return np.append(dW.ravel(), ds) if joint else dW.ravel()

    def operator(shift: float) -> scipy.sparse.linalg.LinearOperator:
        return scipy.sparse.linalg.LinearOperator(
            (n, n), matvec=lambda v: restricted(np.ravel(v), shift), dtype=np.float64
        )

    rng = np.random.default_rng(0)  # a fixed start vector: the result must not depend on chance
    v0 = rng.standard_normal(n)
    # The largest-magnitude eigenvalue sits in a tight cluster for typical spectra (the -1/s(1 -
    # lam_j/lam_i) of all small lam_j), where ARPACK's residual test converges very slowly (16 000
    # products at d = 784, q = 64 for tol 1e-6). A Ritz value is within the residual of an
    # eigenvalue, so tol 1e-3 gives the scale to 1e-3: ample for the shift (2 scale + 1) and the
    # zero threshold (rtol scale), in ~70 products.
    lm = float(
        scipy.sparse.linalg.eigsh(
            operator(0.0), k=1, which="LM", v0=v0, tol=1e-3, return_eigenvectors=False
        )[0]
    )
    scale = abs(lm)
    shift = 2.0 * scale + 1.0
    k = min(n_eig, n - 1)
    top = scipy.sparse.linalg.eigsh(
        operator(-shift), k=k, which="LA", v0=v0, tol=1e-10, return_eigenvectors=False
    )
    if lm < 0.0:  # the bottom of the spectrum is that eigenvalue (to 1e-3); its sign is certain
        bottom = np.array([lm])
    else:
        bottom = scipy.sparse.linalg.eigsh(
            operator(shift), k=1, which="SA", v0=v0, tol=1e-10, return_eigenvectors=False
        )
    tol = rtol * max(scale, natural_scale)
    n_pos = int(np.sum(top > tol))
    n_zero = int(np.sum(np.abs(top) <= tol))
    n_neg = int(bottom[0] < -tol) or int(np.sum(top < -tol))
    exact = n_pos < k or n == k
    return np.sort(np.concatenate([bottom, top])), n_pos, n_neg, n_zero, exact
