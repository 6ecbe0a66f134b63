"""Second derivatives of the pPCA log-likelihood (theory.md §3 and §5).

Two routes, kept separate on purpose so that each checks the other:

* numeric: the dense Hessian and Hessian-vector products of `log_likelihood()` at any
  ``W`` (and ``s``), by differentiating the gradient ``G = K S K W - K W`` with ``K = C^{-1}``;
* closed form: the full spectrum at a stationary point ``W_I`` from the covariance's eigenvalues
  alone (Tipping & Bishop's stationary points; the table of theory.md §3), returned compressed
  as ``(value, multiplicity, sign)`` groups so that classification never sorts ``d q`` numbers.

Coordinates: the Hessian is taken with respect to ``loadings.ravel()`` (C order, index
``a * q + c`` for row ``a``, column ``c``); ``sigma2_learned=True`` appends ``sigma2`` as the last
coordinate (the joint ``(W, sigma2)`` problem, as in `classify_point()`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._base.validation import (
    as_real_array,
    check_cov,
    check_loadings,
    check_sigma2,
    check_sigma2_learned,
)
from .likelihood import Model, finite

__all__ = ["log_likelihood_hessian", "hessian_vector_product"]


# ----------------------------------------------------------------------------- numeric route
def hvp_scaled(model: Model, E: np.ndarray, e_s: float, joint: bool) -> tuple[np.ndarray, float]:
    """Hessian-vector product in the model's scaled units (``W / sqrt(c)``, ``s / c``).

    With ``Y = K W``, ``Z = K S K W``, ``P0 = W^T Y``, ``P1 = W^T Z`` (all symmetric q x q):
    ``dG = K E (P0 - P1 - I) + K S K E (I - P0) + (Y - Z)(E^T Y) - Y (E^T Z)``, plus, along ``s``,
    ``e_s K (Y - Z - S K Y)``; ``d^2 l / ds^2 = -tr(K^3 S) + tr(K^2) / 2``.
    """
    W = model.W
    Y, Z = model.span_products()  # one O(d^2 q) product with S per call: the one with K E below
    IP0, P1 = model.one_minus_P0(), W.T @ Z
    KE = model.apply(-1, E)
    BE = model.apply(-1, model.S_mul(KE))
    dW = BE @ IP0 - KE @ (IP0 + P1) + (Y - Z) @ (E.T @ Y) - Y @ (E.T @ Z)
    if not joint:
        return dW, 0.0
    mixed = model.apply(-1, Y - Z) - model.span_products(-2)[1]
    d_ss = -model.trace_power_S(-3) + 0.5 * model.trace_power(-2)
    return dW + e_s * mixed, float(np.sum(mixed * E)) + e_s * d_ss


def _hvp(model: Model, E: np.ndarray, e_s: float, joint: bool) -> tuple[np.ndarray, float]:
    """Hessian times ``(E, e_s)`` in the caller's units: ``H = D H_n D`` with
    ``D = diag(c^-1/2 on the loadings, c^-1 on sigma2)`` and ``H_n`` the scaled Hessian."""
    root = np.sqrt(model.scale)
    dW, ds = hvp_scaled(model, E / root, e_s / model.scale, joint)
    with np.errstate(over="ignore"):
        return finite(dW / root, "the Hessian"), finite(ds / model.scale, "the Hessian")


def dense_hessian_scaled(model: Model, joint: bool) -> np.ndarray:
    """The dense Hessian in the model's scaled units (dimensionless: scale-free)."""
    W = model.W
    d, q = W.shape
    K = model.apply(-1, np.eye(d))
    B = K @ model.S_mul(K)
    Y, Z = model.span_products()
    IP0, P1 = model.one_minus_P0(), W.T @ Z
    # Row (a, c), column (e, b): K[a,e] X[c,b] are Kronecker terms; X[a,b] V[e,c] are the
    # transposition terms from (Y - Z)(E^T Y) - Y (E^T Z).
    H = np.kron(B, IP0) - np.kron(K, IP0 + P1)
    H += (np.einsum("ab,ec->aceb", Y - Z, Y) - np.einsum("ab,ec->aceb", Y, Z)).reshape(d * q, d * q)
    H = (H + H.T) / 2.0
    if not joint:
        return H
    mixed = (K @ (Y - Z) - model.span_products(-2)[1]).ravel()
    d_ss = -model.trace_power_S(-3) + 0.5 * model.trace_power(-2)
    return np.block([[H, mixed[:, None]], [mixed[None, :], np.array([[d_ss]])]])


def unscale(model: Model, H: np.ndarray, joint: bool) -> np.ndarray:
    """``D H D``: a scaled Hessian (or any matrix in its coordinates) in the caller's units."""
    D = np.full(H.shape[0], 1.0 / np.sqrt(model.scale))
    if joint:
        D[-1] = 1.0 / model.scale
    with np.errstate(over="ignore"):
        return finite(D[:, None] * H * D[None, :], "the Hessian")


def _dense_hessian(model: Model, joint: bool) -> np.ndarray:
    return unscale(model, dense_hessian_scaled(model, joint), joint)


class LikelihoodPoint:
    """The pPCA log-likelihood at ``theta = (W.ravel()[, sigma2])`` for a fixed covariance (and a
    fixed ``sigma2`` unless ``joint``): the `_base.objective.PointObjective` of the likelihood, in
    the caller's units."""

    def __init__(self, W: np.ndarray, S: np.ndarray, s: float, joint: bool) -> None:
        self.model, self.joint = Model.build(W, S, s), joint
        self._W, self._s = W, float(s)

    @property
    def size(self) -> int:
        return self._W.size + self.joint

    @property
    def parameters(self) -> np.ndarray:
        flat = self._W.ravel()
        return np.append(flat, self._s) if self.joint else flat.copy()

    def at(self, theta: np.ndarray) -> LikelihoodPoint:
        theta = np.asarray(theta, dtype=np.float64)
        W = theta[: self._W.size].reshape(self._W.shape)
        s = float(theta[-1]) if self.joint else self._s
        return LikelihoodPoint(W, self.model.S, s, self.joint)

    def value(self) -> float:
        return self.model.log_likelihood()

    def gradient(self) -> np.ndarray:
        gW, gs = self.model.gradient()
        return np.append(gW.ravel(), gs) if self.joint else gW.ravel()

    def hvp(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float64)
        E = v[: self._W.size].reshape(self._W.shape)
        dW, ds = _hvp(self.model, E, float(v[-1]) if self.joint else 0.0, self.joint)
        return np.append(dW.ravel(), ds) if self.joint else dW.ravel()

    def dense_hessian(self) -> np.ndarray:
        return _dense_hessian(self.model, self.joint)


def _validate(
    loadings: Any, cov: Any, sigma2: Any, sigma2_learned: Any, wrt: Any
) -> tuple[np.ndarray, np.ndarray, float, bool]:
    S = check_cov(cov)
    W = check_loadings(loadings, S.shape[0])
    joint = check_sigma2_learned(sigma2_learned, wrt, stacklevel=3)
    return W, S, check_sigma2(sigma2), joint


def log_likelihood_hessian(
    loadings: ArrayLike,
    cov: ArrayLike,
    sigma2: float,
    *,
    sigma2_learned: bool = False,
    wrt: str | None = None,
) -> np.ndarray:
    """Dense Hessian of `log_likelihood()`.

    Parameters
    ----------
    loadings : array_like, shape (d, q)
    cov : array_like, shape (d, d)
    sigma2 : float
    sigma2_learned : bool, default False
        False: with respect to ``loadings.ravel()`` (C order), shape ``(d q, d q)``; True:
        ``sigma2`` appended as the last coordinate, shape ``(d q + 1, d q + 1)``.
    wrt : {"loadings", "joint"}, optional
        Deprecated spelling of `sigma2_learned` (``"joint"`` is ``sigma2_learned=True``).

    Returns
    -------
    ndarray
        Symmetric Hessian. It has ``(d q)^2`` entries: for large models use
        `hessian_vector_product()` instead.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import log_likelihood_hessian
    >>> H = log_likelihood_hessian(np.array([[np.sqrt(3.0)], [0.0]]), np.diag([4.0, 1.0]), 1.0)
    >>> np.round(np.linalg.eigvalsh(H), 6)  # radial -2(4-1)/16, and (1-4)/(1*4)
    array([-0.75 , -0.375])
    """
    W, S, s, joint = _validate(loadings, cov, sigma2, sigma2_learned, wrt)
    return _dense_hessian(Model.build(W, S, s), joint)


def hessian_vector_product(
    loadings: ArrayLike,
    cov: ArrayLike,
    sigma2: float,
    direction: Any,
    *,
    sigma2_learned: bool = False,
    wrt: str | None = None,
) -> np.ndarray:
    """Hessian of `log_likelihood()` times a vector, without forming the Hessian.

    Costs two products with ``cov`` (O(d^2 q)) and O(d q^2) more.

    Parameters
    ----------
    loadings : array_like, shape (d, q)
    cov : array_like, shape (d, d)
    sigma2 : float
    direction : array_like, shape (d q,) or (d q + 1,)
        A flat vector in the coordinates of `log_likelihood_hessian()` (``E.ravel()`` for a
        loadings direction ``E``; with ``sigma2_learned=True`` the ``sigma2`` component last).
    sigma2_learned : bool, default False
    wrt : {"loadings", "joint"}, optional
        Deprecated spelling of `sigma2_learned`.

    Returns
    -------
    ndarray, same shape as `direction`

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import hessian_vector_product, log_likelihood_hessian
    >>> rng = np.random.default_rng(0)
    >>> W, cov, v = rng.normal(size=(3, 2)), np.diag([3.0, 2.0, 1.0]), rng.normal(size=6)
    >>> hv = hessian_vector_product(W, cov, 0.5, v)
    >>> bool(np.allclose(hv, log_likelihood_hessian(W, cov, 0.5) @ v))
    True
    """
    W, S, s, joint = _validate(loadings, cov, sigma2, sigma2_learned, wrt)
    v = as_real_array(direction, "direction")
    n = W.size + joint
    if v.shape != (n,):
        raise ValueError(
            f"`direction` must be a flat vector of length {n} "
            f"(loadings.size{' + 1' if joint else ''}); got shape {v.shape}. For a (d, q) "
            "direction E pass E.ravel()."
        )
    dW, ds = _hvp(
        Model.build(W, S, s), v[: W.size].reshape(W.shape), float(v[-1]) if joint else 0.0, joint
    )
    return np.append(dW.ravel(), ds) if joint else dW.ravel()
