"""Second derivatives of the pPCA log-likelihood (theory.md §3 and §5).

Two routes, kept separate on purpose so that each checks the other:

* numeric: the dense Hessian and Hessian-vector products of `log_likelihood()` at any
  ``W`` (and ``s``), by differentiating the gradient ``G = K S K W - K W`` with ``K = C^{-1}``;
* closed form: the full spectrum at a stationary point ``W_I`` from the covariance's eigenvalues
  alone (Tipping & Bishop's stationary points; the table of theory.md §3), returned compressed
  as ``(value, multiplicity, sign)`` groups so that classification never sorts ``d q`` numbers.

Coordinates: the Hessian is taken with respect to ``loadings.ravel()`` (C order, index
``a * q + c`` for row ``a``, column ``c``); ``wrt="joint"`` appends ``sigma2`` as the last coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import _as_real_array, check_choice, check_cov, check_loadings, check_sigma2
from ._likelihood import _finite, _Model

__all__ = ["log_likelihood_hessian", "hessian_vector_product"]

_WRT = ("loadings", "joint")


# ----------------------------------------------------------------------------- numeric route
def _hvp_scaled(model: _Model, E: np.ndarray, e_s: float, joint: bool) -> tuple[np.ndarray, float]:
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


def _hvp(model: _Model, E: np.ndarray, e_s: float, joint: bool) -> tuple[np.ndarray, float]:
    """Hessian times ``(E, e_s)`` in the caller's units: ``H = D H_n D`` with
    ``D = diag(c^-1/2 on the loadings, c^-1 on sigma2)`` and ``H_n`` the scaled Hessian."""
    root = np.sqrt(model.scale)
    dW, ds = _hvp_scaled(model, E / root, e_s / model.scale, joint)
    with np.errstate(over="ignore"):
        return _finite(dW / root, "the Hessian"), _finite(ds / model.scale, "the Hessian")


def _dense_hessian_scaled(model: _Model, joint: bool) -> np.ndarray:
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


def _unscale(model: _Model, H: np.ndarray, joint: bool) -> np.ndarray:
    """``D H D``: a scaled Hessian (or any matrix in its coordinates) in the caller's units."""
    D = np.full(H.shape[0], 1.0 / np.sqrt(model.scale))
    if joint:
        D[-1] = 1.0 / model.scale
    with np.errstate(over="ignore"):
        return _finite(D[:, None] * H * D[None, :], "the Hessian")


def _dense_hessian(model: _Model, joint: bool) -> np.ndarray:
    return _unscale(model, _dense_hessian_scaled(model, joint), joint)


def _validate(loadings: Any, cov: Any, sigma2: Any, wrt: Any) -> tuple[np.ndarray, np.ndarray, float, bool]:
    S = check_cov(cov)
    W = check_loadings(loadings, S.shape[0])
    return W, S, check_sigma2(sigma2), check_choice(wrt, "wrt", _WRT) == "joint"


def log_likelihood_hessian(loadings: Any, cov: Any, sigma2: float, *, wrt: str = "loadings") -> np.ndarray:
    """Dense Hessian of `log_likelihood()`.

    Parameters
    ----------
    loadings : array_like, shape (d, q)
    cov : array_like, shape (d, d)
    sigma2 : float
    wrt : {"loadings", "joint"}
        ``"loadings"``: with respect to ``loadings.ravel()`` (C order), shape ``(d q, d q)``;
        ``"joint"``: ``sigma2`` appended as the last coordinate, shape ``(d q + 1, d q + 1)``.

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
    W, S, s, joint = _validate(loadings, cov, sigma2, wrt)
    return _dense_hessian(_Model.build(W, S, s), joint)


def hessian_vector_product(loadings: Any, cov: Any, sigma2: float, direction: Any, *,
                           wrt: str = "loadings") -> np.ndarray:
    """Hessian of `log_likelihood()` times a vector, without forming the Hessian.

    Costs two products with ``cov`` (O(d^2 q)) and O(d q^2) more.

    Parameters
    ----------
    loadings : array_like, shape (d, q)
    cov : array_like, shape (d, d)
    sigma2 : float
    direction : array_like, shape (d q,) or (d q + 1,)
        A flat vector in the coordinates of `log_likelihood_hessian()` (``E.ravel()`` for a
        loadings direction ``E``; with ``wrt="joint"`` the ``sigma2`` component last).
    wrt : {"loadings", "joint"}

    Returns
    -------
    ndarray, same shape as `direction`

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import hessian_vector_product, log_likelihood_hessian
    >>> rng = np.random.default_rng(0)
    >>> W, cov, v = rng.normal(size=(3, 2)), np.diag([3.0, 2.0, 1.0]), rng.normal(size=6)
    >>> bool(np.allclose(hessian_vector_product(W, cov, 0.5, v), log_likelihood_hessian(W, cov, 0.5) @ v))
    True
    """
    W, S, s, joint = _validate(loadings, cov, sigma2, wrt)
    v = _as_real_array(direction, "direction")
    n = W.size + joint
    if v.shape != (n,):
        raise ValueError(
            f"`direction` must be a flat vector of length {n} (loadings.size{' + 1' if joint else ''}); "
            f"got shape {v.shape}. For a (d, q) direction E pass E.ravel()."
        )
    dW, ds = _hvp(_Model.build(W, S, s), v[: W.size].reshape(W.shape), float(v[-1]) if joint else 0.0, joint)
    return np.append(dW.ravel(), ds) if joint else dW.ravel()


# ----------------------------------------------------------------------------- closed form
def tie_sign(a: np.ndarray, b: np.ndarray | float, rtol: float, floor: float) -> np.ndarray:
    """Sign of ``a - b`` with ties: 0 where ``|a - b| <= rtol * max(|a|, |b|) + floor``.

    ``floor`` absorbs the eigensolver's absolute error (about ``d * eps * lam_max``), so that
    eigenvalues at round-off level are never told apart by noise.
    """
    a = np.asarray(a, dtype=np.float64)
    diff = a - b
    tol = rtol * np.maximum(np.abs(a), np.abs(b)) + floor
    return np.where(np.abs(diff) <= tol, 0, np.sign(diff)).astype(np.int8)


@dataclass(frozen=True, slots=True)
class HessianSpectrum:
    """A Hessian spectrum as groups: ``values[g]`` repeated ``multiplicity[g]`` times, with the
    tie-aware ``signs[g]`` used for classification. The symmetry (rotation) zero modes are kept
    apart in ``symmetry_dim`` and are not among the groups."""

    values: np.ndarray
    multiplicity: np.ndarray
    signs: np.ndarray
    symmetry_dim: int

    def count(self, sign: int) -> int:
        return int(self.multiplicity[self.signs == sign].sum())

    def eigenvalues(self) -> np.ndarray:
        """All eigenvalues, ascending, including the symmetry zeros."""
        values = np.repeat(self.values, self.multiplicity)
        return np.sort(np.concatenate([values, np.zeros(self.symmetry_dim)]))


def closed_form_spectrum(lam: np.ndarray, active: np.ndarray, s: float, latent_dim: int, *,
                         joint: bool, rtol: float, floor: float) -> HessianSpectrum:
    """Hessian spectrum of ``l`` at the stationary point ``W_I`` (theory.md §3, §5).

    ``lam`` descending eigenvalues of ``S``; ``active`` the index set ``I`` (ascending); ``s`` the
    noise variance (for ``joint``, ``s_I``, the mean of the discarded eigenvalues).
    """
    d, q, k = lam.size, latent_dim, active.size
    mask = np.ones(d, dtype=bool)
    mask[active] = False
    lam_I, lam_J = lam[active], lam[mask]
    # Each formula is written as a dimensionless ratio divided by one scale, so no intermediate
    # (like s**2) overflows when the result itself is representable.
    # dead column x excluded j: (lam_j - s) / s^2, multiplicity q - k each.
    dead_v = (lam_J / s - 1.0) / s
    dead_s = tie_sign(lam_J, s, rtol, floor)
    dead_m = np.full(lam_J.size, q - k)
    # live column i x excluded j: (lam_j - lam_i) / (s lam_i).
    cross_v = ((lam_J[None, :] / lam_I[:, None] - 1.0) / s).ravel()
    cross_s = tie_sign(np.broadcast_to(lam_J[None, :], (k, lam_J.size)), lam_I[:, None], rtol, floor).ravel()
    # live pair {i, i'}: -(lam_i + lam_i' - 2 s) / (lam_i lam_i').
    iu = np.triu_indices(k, 1)
    li, lj = lam_I[iu[0]], lam_I[iu[1]]
    pair_v = -((li - s) / li + (lj - s) / li) / lj
    pair_s = -tie_sign(li + lj, 2 * s, rtol, floor)
    # radial: -2 (lam_i - s) / lam_i^2; in the joint problem coupled with s (arrowhead block).
    radial = -2.0 * ((lam_I - s) / lam_I) / lam_I
    if joint:
        # Built in units of s (coordinates W / sqrt(s), s / s), then D A D back to the caller's.
        # The block is negative definite at every admissible point: its radial diagonal is
        # negative (lam_i > s) and its Schur complement is -(d - k) / (2 s^2) (theory.md §5;
        # tests compare it with the dense Hessian), so its signs are -1 without a zero test.
        r = lam_I / s
        arrow = np.zeros((k + 1, k + 1))
        arrow[np.arange(k), np.arange(k)] = -2.0 * (r - 1.0) / r**2
        arrow[:k, k] = arrow[k, :k] = -np.sqrt(r - 1.0) / r**2
        arrow[k, k] = -0.5 * (np.sum(r**-2.0) + (d - k))
        rad_s = np.full(k + 1, -1, dtype=np.int8)
        units = np.concatenate([np.full(k, 1.0 / np.sqrt(s)), [1.0 / s]])
        with np.errstate(over="ignore"):  # a non-representable block is caught by _finite below
            rad_v = np.linalg.eigvalsh(_finite(arrow * units[:, None] * units[None, :], "the Hessian spectrum"))
    else:
        rad_v = radial
        rad_s = -tie_sign(lam_I, s, rtol, floor)
    values = np.concatenate([dead_v, cross_v, pair_v, rad_v])
    signs = np.concatenate([dead_s, cross_s, pair_s, rad_s])
    mult = np.concatenate([dead_m, np.ones(values.size - dead_m.size, dtype=np.int64)])
    keep = mult > 0
    with np.errstate(over="ignore"):
        values = _finite(values[keep], "the Hessian spectrum")
    return HessianSpectrum(values, mult[keep], signs[keep], k * (k - 1) // 2 + k * (q - k))
