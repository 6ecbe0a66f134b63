"""The pPCA marginal log-likelihood and its gradient (theory.md §1).

Model: ``p(z) = N(0, I_q)``, ``p(x | z) = N(W z + mu, s I_d)``, hence ``x ~ N(mu, C)`` with
``C = W W^T + s I``. With ``S`` the ddof=0 covariance, the mean log-likelihood per sample is

    l(W, s) = -1/2 [ d log(2 pi) + log det C + tr(C^{-1} S) ]            (Tipping & Bishop 1999)

Everything is evaluated in the eigenbasis of ``C`` obtained from the thin SVD ``W = Q diag(w) R^T``:
``C`` acts as ``c_i = w_i^2 + s`` on ``span(Q)`` and as ``s`` on its complement, so any function
of ``C`` applied to a block of vectors costs O(d q^2) and no d x d inverse or determinant is formed.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._base.threads import one_blas_thread
from .._base.validation import check_cov, check_loadings, check_sigma2

__all__ = ["log_likelihood", "log_likelihood_gradient"]

LOG_2PI = math.log(2.0 * math.pi)
# The thin SVD of a (d, q) W with d q^2 up to this is faster on one BLAS thread than on two,
# whose threads spin on so small a job. Measured on 2 cores (one thread vs two): d = 2000, q = 50
# 2.5 vs 5.2 ms; q = 200 22.6 vs 33.8 ms; d = 500, q = 400 31 vs 31 ms; beyond it mixed
# (d = 10 000, q = 100: 65 vs 42 ms).
SMALL_SVD = 8 * 10**7


@dataclass(frozen=True, slots=True)
class Model:
    """``C = W W^T + s I`` in its eigenbasis, with the products with ``S`` that every quantity
    needs.

    Everything is stored in units of ``scale`` (the caller's ``s``): ``W / sqrt(scale)``,
    ``S / scale`` and ``s = 1``. The likelihood is invariant under this rescaling up to
    ``-(d/2) log(scale)``, and with ``s = 1`` no power of ``s`` can overflow, so sigma2 from 1e-300
    to 1e300 is handled; only results that float64 cannot represent raise (see ``finite``).
    """

    W: np.ndarray  # (d, q), in units of sqrt(scale)
    S: np.ndarray  # (d, d), in the caller's units: use S_mul for products in scaled units
    s: float  # always 1.0: the noise variance in units of scale
    Q: np.ndarray  # (d, q) orthonormal left singular vectors of W
    w: np.ndarray  # (q,) singular values of W
    Rt: np.ndarray  # (q, q) right singular vectors of W, transposed
    c: np.ndarray  # (q,) eigenvalues of C on span(Q): w_i^2 + s
    SQ: np.ndarray  # (d, q) = S Q in scaled units
    trS: float  # in scaled units
    scale: float

    @classmethod
    def build(cls, W: np.ndarray, S: np.ndarray, s: float) -> Model:
        Wn = W / math.sqrt(s)
        with one_blas_thread() if W.shape[0] * W.shape[1] ** 2 <= SMALL_SVD else nullcontext():
            Q, w, Rt = np.linalg.svd(Wn, full_matrices=False)
        with np.errstate(over="ignore"):  # c = inf beyond w ~ 1e154: 1 / c underflows anyway
            c = w**2 + 1.0
        return cls(Wn, S, 1.0, Q, w, Rt, c, (S @ Q) / s, float(np.trace(S)) / s, float(s))

    def one_minus_P0(self) -> np.ndarray:
        """``I - W^T C^-1 W = s M^-1 = R diag(s / c) R^T``, in closed form: computing it as a
        difference cancels catastrophically when ``||W||^2 >> s``. For ``q > d`` the thin ``R``
        spans only ``d`` of the ``q`` directions; ``P0`` vanishes on the rest, which add
        ``I - R R^T``."""
        out = (self.Rt.T * (self.s / self.c)) @ self.Rt
        if self.Rt.shape[0] < self.Rt.shape[1]:
            out += np.eye(self.Rt.shape[1]) - self.Rt.T @ self.Rt
        return out

    def w_over_c(self) -> np.ndarray:
        """``w / c``, as ``1 / (w + 1 / w)`` above 1: representable when ``c`` overflows."""
        big = self.w > 1.0
        return np.where(big, 1.0 / (self.w + 1.0 / np.where(big, self.w, 1.0)), self.w / self.c)

    def S_mul(self, X: np.ndarray) -> np.ndarray:
        """``S @ X`` in scaled units (``S / scale``), without forming ``S / scale``."""
        return (self.S @ X) / self.scale

    @property
    def d(self) -> int:
        return self.W.shape[0]

    def apply(self, power: int, X: np.ndarray) -> np.ndarray:
        """``C^power @ X`` for a (d, n) block ``X`` (scaled units)."""
        QtX = self.Q.T @ X
        return self.s**power * (X - self.Q @ QtX) + self.Q @ (self.c[:, None] ** power * QtX)

    def trace_power(self, power: int) -> float:
        """``tr(C^power)`` (scaled units)."""
        return (self.d - self.c.size) * self.s**power + float(np.sum(self.c**power))

    def trace_power_S(self, power: int) -> float:
        """``tr(C^power S)`` (scaled units)."""
        QtSQ_diag = np.einsum("ij,ij->j", self.Q, self.SQ)
        return self.s**power * (self.trS - QtSQ_diag.sum()) + float(
            np.sum(self.c**power * QtSQ_diag)
        )

    def log_likelihood(self) -> float:
        """``l`` in the caller's units."""
        logdet = (self.d - self.c.size) * math.log(self.s) + float(np.sum(np.log(self.c)))
        scaled = -0.5 * (self.d * LOG_2PI + logdet + self.trace_power_S(-1))
        return finite(scaled - 0.5 * self.d * math.log(self.scale), "the log-likelihood")

    def span_products(self, power: int = -1) -> tuple[np.ndarray, np.ndarray]:
        """``(C^power W, C^-1 S C^power W)``, both built from span(Q) without a product with ``S``.

        ``C^power W = Q diag(w c^power) R^T`` lies in span(Q) exactly, so ``S`` times it reuses
        ``S Q``. Forming it as ``C^power @ W`` instead leaves round-off of size ``eps ||W||``
        outside
        span(Q), which ``S`` then amplifies by ``||S|| / s``: on a spectrum spanning 12 decades that
        put errors of 1e-5 relative into Hessian-vector products at the global maximum.
        """
        coef = (self.w_over_c() * self.c ** (power + 1))[:, None] * self.Rt
        return self.Q @ coef, self.apply(-1, self.SQ @ coef)

    def scaled_gradient(self) -> tuple[np.ndarray, float]:
        # grad_W = C^-1 S C^-1 W - C^-1 W ;  dl/ds = 1/2 tr(C^-1 S C^-1 - C^-1)   (theory.md §1)
        Y, Z = self.span_products()
        return Z - Y, float(0.5 * (self.trace_power_S(-2) - self.trace_power(-1)))

    def gradient(self) -> tuple[np.ndarray, float]:
        """The gradient in the caller's units: ``dl/dW`` scales as ``scale^-1/2``, ``dl/ds`` as
        ``1/scale``."""
        gW, gs = self.scaled_gradient()
        with np.errstate(over="ignore"):
            out_W, out_s = gW / math.sqrt(self.scale), gs / self.scale
        return finite(out_W, "the gradient"), finite(out_s, "the gradient")


def finite(value: Any, what: str) -> Any:
    """Return `value` if every entry is finite; otherwise explain that float64 cannot hold it."""
    if not np.all(np.isfinite(value)):
        raise ValueError(
            f"{what} is not representable in float64 for this `sigma2` and `cov`: their ratio is "
            "too extreme. Rescale cov and sigma2 together (stability is invariant under S -> cS, "
            "sigma2 -> c sigma2, W -> sqrt(c) W)."
        )
    return float(value) if np.ndim(value) == 0 else value


def _validate(loadings: Any, cov: Any, sigma2: Any) -> tuple[np.ndarray, np.ndarray, float]:
    S = check_cov(cov)
    W = check_loadings(loadings, S.shape[0])
    return W, S, check_sigma2(sigma2)


def log_likelihood(loadings: ArrayLike, cov: ArrayLike, sigma2: float) -> float:
    """Mean per-sample pPCA log-likelihood ``l(W, sigma2)`` for a ddof=0 covariance.

    Parameters
    ----------
    loadings : array_like, shape (d, q)
        Decoder matrix ``W``.
    cov : array_like, shape (d, d)
        Data covariance (ddof=0). Checked: symmetric, a non-negative diagonal and
        ``|cov_ij| <= sqrt(cov_ii cov_jj)`` (O(d^2) necessary conditions for positive
        semi-definiteness; the full test would cost an eigendecomposition). The same checks
        apply to the gradient and the Hessians.
    sigma2 : float
        Observation-noise variance, positive.

    Returns
    -------
    float
        ``-1/2 [d log 2 pi + log det C + tr(C^-1 S)]`` with ``C = W W^T + sigma2 I``; this is the
        quantity scikit-learn's ``PCA.score`` reports (theory.md §8).

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import log_likelihood
    >>> cov = np.diag([4.0, 1.0])
    >>> round(log_likelihood(np.array([[np.sqrt(3.0)], [0.0]]), cov, 1.0), 6)
    -3.531024
    """
    W, S, s = _validate(loadings, cov, sigma2)
    return Model.build(W, S, s).log_likelihood()


def log_likelihood_gradient(
    loadings: ArrayLike, cov: ArrayLike, sigma2: float
) -> tuple[np.ndarray, float]:
    """Gradient of `log_likelihood()` with respect to the loadings and to ``sigma2``.

    Returns
    -------
    grad_loadings : ndarray, shape (d, q)
        ``C^-1 S C^-1 W - C^-1 W``.
    grad_sigma2 : float
        ``1/2 tr(C^-1 S C^-1 - C^-1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import log_likelihood_gradient
    >>> W = np.array([[np.sqrt(3.0)], [0.0]])
    >>> g_W, g_s = log_likelihood_gradient(W, np.diag([4.0, 1.0]), 1.0)
    >>> bool(np.allclose(g_W, 0.0)), round(g_s, 12)
    (True, 0.0)
    """
    W, S, s = _validate(loadings, cov, sigma2)
    return Model.build(W, S, s).gradient()
