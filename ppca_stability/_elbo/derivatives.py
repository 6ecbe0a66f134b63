"""Gradient, dense Hessian and Hessian-vector product of the linear-VAE ELBO in all parameters.

The ELBO is that of `linear_vae_elbo()` (theory.md §6) with an encoder covariance ``Sigma``
that is either diagonal, ``Sigma = diag(exp(log D))`` (`LinearVAEParams`), or full,
``Sigma = L L^T`` with ``L`` lower triangular with a positive diagonal (`LinearVAEFullParams`):

    L = -(d/2) log(2 pi s) - Rec / (2 s) - 1/2 [tr Sigma + tr(V S V^T) - q - log det Sigma],
    Rec = tr S - 2 tr(W V S) + tr(W^T W A),   A = V S V^T + Sigma,   M = W^T W + s I.

Gradients (``g_Sigma`` is the gradient with respect to a symmetric ``Sigma``):

    g_W = (S V^T - W A) / s,   g_V = (W^T S - M V S) / s,   g_Sigma = (Sigma^-1 - M / s) / 2,
    g_logD = D * diag(g_Sigma),   g_L = tril(2 g_Sigma L),   g_s = -d / (2 s) + Rec / (2 s^2).

The Hessian-vector product differentiates these once more along a direction (product rule; the
formulas are in `ElboModel.hvp`). Coordinates of the flat vectors, in this order: ``V.ravel()``
(``q d``), then ``log D`` (``q``) or the lower triangle of ``L`` row by row
(``L[numpy.tril_indices(q)]``, ``q (q + 1) / 2``), then ``W.ravel()`` (``d q``), then ``sigma2``
when it is learned.

Every product with ``S`` is a (d, d) x (d, q) product: a gradient costs two, a Hessian-vector
product two more; no d x d inverse and no (d q)^2 array is formed unless the dense Hessian is
asked for.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._base.validation import as_real_array, check_sigma2
from .._ppca.likelihood import LOG_2PI
from .objective import LinearVAEFullParams, LinearVAEParams, check_vae_params, resolve_cov

__all__ = [
    "LinearVAEFullParams",
    "linear_vae_elbo_flat_gradient",
    "linear_vae_elbo_hessian",
    "linear_vae_elbo_hessian_vector_product",
]


# --------------------------------------------------------------------------- the model at a point


class ElboModel:
    """The ELBO's pieces at ``(V, encoder, W, s)``; ``enc`` is ``log D`` (q,) or ``L`` (q, q)."""

    def __init__(
        self,
        V: np.ndarray,
        enc: np.ndarray,
        W: np.ndarray,
        S: np.ndarray,
        s: float,
        *,
        full: bool,
        learned: bool,
    ) -> None:
        d, q = W.shape
        self.V, self.enc, self.W, self.S, self.s = V, enc, W, S, float(s)
        self.full, self.learned, self.d, self.q = full, learned, d, q
        self.n_enc = q * (q + 1) // 2 if full else q
        self.tril = np.tril_indices(q)
        if full:
            self.Sigma = enc @ enc.T
            self.Sigma_inv = np.linalg.inv(self.Sigma)
            self.logdet = 2.0 * float(np.sum(np.log(np.diag(enc))))
        else:
            self.D = np.exp(enc)
            self.Sigma = np.diag(self.D)
            self.logdet = float(np.sum(enc))
        self.VS = V @ S
        self.SW = S @ W
        self.VSVt = self.VS @ V.T
        self.A = self.VSVt + self.Sigma
        self.WtW = W.T @ W
        self.M = self.WtW + self.s * np.eye(q)
        self.trS = float(np.trace(S))
        self.rec = self.trS - 2.0 * float(np.sum(W.T * self.VS)) + float(np.sum(self.WtW * self.A))

    @property
    def size(self) -> int:
        return 2 * self.d * self.q + self.n_enc + self.learned

    # ----------------------------------------------------------------- value and gradient
    def value(self) -> float:
        kl = 0.5 * (float(np.trace(self.Sigma)) + float(np.trace(self.VSVt)) - self.q - self.logdet)
        return -0.5 * self.d * (LOG_2PI + math.log(self.s)) - self.rec / (2.0 * self.s) - kl

    def gradient_terms(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per block: ``(gradient, first term, second term)``, the gradient being their difference
        (the relative stationarity test compares the gradient with its terms)."""
        s = self.s
        tW = (self.VS.T / s, self.W @ self.A / s)
        tV = (self.SW.T / s, self.M @ self.VS / s)
        if self.full:
            L = self.enc
            te = (np.tril(self.Sigma_inv @ L)[self.tril], np.tril(self.M @ L / s)[self.tril])
        else:
            te = (np.full(self.q, 0.5), 0.5 * self.D * np.diag(self.M) / s)
        blocks = [tV, te, tW]
        if self.learned:
            blocks.append((np.array([self.rec / (2.0 * s * s)]), np.array([self.d / (2.0 * s)])))
        return [(a - b, a, b) for a, b in blocks]

    def gradient(self) -> np.ndarray:
        return np.concatenate([g.ravel() for g, _, _ in self.gradient_terms()])

    # ----------------------------------------------------------------- the point (PointObjective)
    @property
    def parameters(self) -> np.ndarray:
        """``(V, encoder, W[, sigma2])`` flat: ``log D`` or the lower triangle of ``L``."""
        enc = self.enc[self.tril] if self.full else self.enc
        return self.join(self.V, enc, self.W, self.s)

    def at(self, theta: np.ndarray) -> ElboModel:
        """The ELBO of the same covariance (and the same fixed ``sigma2`` unless learned) at the
        flat parameters ``theta``."""
        V, e, W, s = self.split(np.asarray(theta, dtype=np.float64))
        if self.full:
            enc = np.zeros((self.q, self.q))
            enc[self.tril] = e
        else:
            enc = e
        return ElboModel(
            V, enc, W, self.S, s if self.learned else self.s, full=self.full, learned=self.learned
        )

    # ----------------------------------------------------------------- second order
    def split(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        d, q, n_enc = self.d, self.q, self.n_enc
        dV = v[: q * d].reshape(q, d)
        de = v[q * d : q * d + n_enc]
        dW = v[q * d + n_enc : q * d + n_enc + d * q].reshape(d, q)
        ds = float(v[-1]) if self.learned else 0.0
        return dV, de, dW, ds

    def join(self, dV: np.ndarray, de: np.ndarray, dW: np.ndarray, ds: float) -> np.ndarray:
        parts = [dV.ravel(), de, dW.ravel()]
        if self.learned:
            parts.append(np.array([ds]))
        return np.concatenate(parts)

    def _d_sigma(self, de: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``dSigma`` for an encoder direction (and ``dL`` as a matrix when full)."""
        if self.full:
            dL = np.zeros((self.q, self.q))
            dL[self.tril] = de
            return dL @ self.enc.T + self.enc @ dL.T, dL
        return np.diag(self.D * de), None

    def hvp(self, v: np.ndarray) -> np.ndarray:
        """Hessian times ``v`` (flat, in the module's coordinates): the derivative of every
        gradient block along ``v``, by the product rule."""
        dV, de, dW, ds = self.split(v)
        s, S, W, M, A, q = self.s, self.S, self.W, self.M, self.A, self.q
        dVS = dV @ S
        SdW = S @ dW
        dSigma, dL = self._d_sigma(de)
        VSdVt = self.VS @ dV.T
        dA = VSdVt + VSdVt.T + dSigma
        WtdW = W.T @ dW
        dM = WtdW + WtdW.T + ds * np.eye(q)
        gW = (self.VS.T - W @ A) / s
        gV = (self.SW.T - M @ self.VS) / s
        hW = (dVS.T - dW @ A - W @ dA) / s - (ds / s) * gW
        hV = (SdW.T - dM @ self.VS - M @ dVS) / s - (ds / s) * gV
        if self.full:
            g_Sigma = 0.5 * (self.Sigma_inv - M / s)
            dg_Sigma = 0.5 * (-self.Sigma_inv @ dSigma @ self.Sigma_inv - dM / s + (ds / s**2) * M)
            he = np.tril(2.0 * (dg_Sigma @ self.enc + g_Sigma @ dL))[self.tril]
        else:
            Mdiag, dMdiag = np.diag(M), np.diag(dM)
            he = (
                -0.5 * (self.D * de * Mdiag + self.D * dMdiag) / s
                + 0.5 * self.D * Mdiag * ds / s**2
            )
        if not self.learned:
            return self.join(hV, he, hW, 0.0)
        d_rec = (
            -2.0 * (float(np.sum(dW.T * self.VS)) + float(np.sum(W.T * dVS)))
            + 2.0 * float(np.sum(WtdW * A))
            + float(np.sum(self.WtW * dA))
        )
        hs = self.d * ds / (2.0 * s**2) + d_rec / (2.0 * s**2) - self.rec * ds / s**3
        return self.join(hV, he, hW, hs)

    def encoder_block_product(self, de: np.ndarray) -> np.ndarray:
        """The encoder-covariance block of the Hessian times ``de`` (no product with ``S``)."""
        dSigma, dL = self._d_sigma(de)
        if self.full:
            g_Sigma = 0.5 * (self.Sigma_inv - self.M / self.s)
            dg_Sigma = -0.5 * self.Sigma_inv @ dSigma @ self.Sigma_inv
            return np.tril(2.0 * (dg_Sigma @ self.enc + g_Sigma @ dL))[self.tril]
        return -0.5 * self.D * de * np.diag(self.M) / self.s

    def schur_product(
        self, dW: np.ndarray, ds: float, solve_encoder: Any
    ) -> tuple[np.ndarray, float]:
        """The Schur complement of the encoder block, ``H_WW - H_WE H_EE^-1 H_EW``, times
        ``(dW, ds)`` (theory: the inertia of the Hessian is the encoder block's plus this one's).

        ``H_EW (dW, ds)`` has ``V`` part ``Y S / s`` with ``Y = dW^T - dM V - (ds / s)(W^T - M V)``
        and ``H_VV X = -M X S / s``, so the encoder solve is ``x_V = M^-1 Y`` (its part along
        ``null(S)`` never matters: ``V`` enters only through ``V S``); `solve_encoder` inverts the
        encoder-covariance block. Then the product is the ``(W, s)`` part of ``H (-x_E, dW, ds)``.
        """
        s, W, V, M, q = self.s, self.W, self.V, self.M, self.q
        WtdW = W.T @ dW
        dM = WtdW + WtdW.T + ds * np.eye(q)
        Y = dW.T - dM @ V - (ds / s) * (W.T - M @ V)
        xV = np.linalg.solve(M, Y)
        if self.full:
            dg_Sigma = 0.5 * (-dM / s + (ds / s**2) * M)
            be = np.tril(2.0 * dg_Sigma @ self.enc)[self.tril]
        else:
            be = -0.5 * self.D * np.diag(dM) / s + 0.5 * self.D * np.diag(M) * ds / s**2
        out = self.hvp(self.join(xV, -solve_encoder(be), dW, ds))
        _, _, hW, hs = self.split(out)
        return hW, hs

    def dense_hessian(self) -> np.ndarray:
        n = self.size
        H = np.empty((n, n))
        e = np.zeros(n)
        for i in range(n):
            e[i] = 1.0
            H[:, i] = self.hvp(e)
            e[i] = 0.0
        return 0.5 * (H + H.T)


# --------------------------------------------------------------------------- validation


def encoder_array(params: LinearVAEParams | LinearVAEFullParams) -> np.ndarray:
    """``log D`` or ``L``: what `ElboModel` takes as ``enc``."""
    if isinstance(params, LinearVAEFullParams):
        return params.encoder_cholesky
    return params.encoder_log_variances


def _linear_vae_elbo_hessian_iv(
    params: Any, cov: ArrayLike | None, data: ArrayLike | None, sigma2: Any, sigma2_learned: Any
) -> ElboModel:
    S = resolve_cov(cov, data)
    p = check_vae_params(params, S.shape[0])
    s = check_sigma2(sigma2)
    if not isinstance(sigma2_learned, (bool, np.bool_)):
        raise TypeError(f"`sigma2_learned` must be a bool; got {type(sigma2_learned).__name__}.")
    with np.errstate(over="raise", invalid="raise"):
        try:
            return ElboModel(
                p.encoder_weights,
                encoder_array(p),
                p.loadings,
                S,
                s,
                full=isinstance(p, LinearVAEFullParams),
                learned=bool(sigma2_learned),
            )
        except (FloatingPointError, np.linalg.LinAlgError) as exc:
            raise ValueError(
                f"the ELBO is not representable in float64 at these parameters ({exc})."
            ) from None


# --------------------------------------------------------------------------- public


def linear_vae_elbo_flat_gradient(
    params: Any,
    *,
    cov: ArrayLike | None = None,
    data: ArrayLike | None = None,
    sigma2: float,
    sigma2_learned: bool = False,
) -> np.ndarray:
    """Gradient of the ELBO in all parameters, as one flat vector (module docstring's coordinates).

    Parameters
    ----------
    params : LinearVAEParams or LinearVAEFullParams or tuple
        A diagonal encoder (``V``, ``log D``, ``W``) or a full one (``V``, ``L``, ``W``).
    cov : array_like, shape (d, d), optional
        Data covariance (ddof=0). Give exactly one of `cov` and `data`.
    data : array_like, shape (n, d), optional
        Data matrix; its ddof=0 covariance is used.
    sigma2 : float
        Decoder noise variance ``s``.
    sigma2_learned : bool, default False
        Append the ``sigma2`` component.

    Returns
    -------
    ndarray, shape (2 d q + q [+ 1],) or (2 d q + q (q + 1) / 2 [+ 1],)

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import linear_vae_elbo_flat_gradient, optimal_encoder
    >>> W = np.array([[np.sqrt(3.0)], [0.0]])
    >>> V, D = optimal_encoder(W, 1.0)
    >>> g = linear_vae_elbo_flat_gradient((V, np.log(D), W), cov=np.diag([4.0, 1.0]), sigma2=1.0,
    ...                                   sigma2_learned=True)
    >>> g.shape, float(np.max(np.abs(g)))
    ((6,), 0.0)
    """
    return _linear_vae_elbo_hessian_iv(params, cov, data, sigma2, sigma2_learned).gradient()


def linear_vae_elbo_hessian(
    params: Any,
    *,
    cov: ArrayLike | None = None,
    data: ArrayLike | None = None,
    sigma2: float,
    sigma2_learned: bool = False,
) -> np.ndarray:
    """Dense Hessian of the ELBO in all parameters (the coordinates of the module docstring).

    Parameters are as for `linear_vae_elbo_flat_gradient()`. It has about ``(2 d q)^2`` entries
    and costs that many Hessian-vector products: for large models use
    `linear_vae_elbo_hessian_vector_product()`.

    Returns
    -------
    ndarray, symmetric

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import linear_vae_elbo_hessian, optimal_encoder
    >>> W = np.array([[np.sqrt(3.0)], [0.0]])                  # the maximum at s = 1
    >>> V, D = optimal_encoder(W, 1.0)
    >>> H = linear_vae_elbo_hessian((V, np.log(D), W), cov=np.diag([4.0, 1.0]), sigma2=1.0)
    >>> H.shape, bool(np.all(np.linalg.eigvalsh(H) < 0))
    ((5, 5), True)
    """
    return _linear_vae_elbo_hessian_iv(params, cov, data, sigma2, sigma2_learned).dense_hessian()


def linear_vae_elbo_hessian_vector_product(
    params: Any,
    direction: Any,
    *,
    cov: ArrayLike | None = None,
    data: ArrayLike | None = None,
    sigma2: float,
    sigma2_learned: bool = False,
) -> np.ndarray:
    """The ELBO's Hessian in all parameters times a vector, without forming the Hessian.

    Costs four (d, d) x (d, q) products.

    Parameters
    ----------
    params : LinearVAEParams or LinearVAEFullParams or tuple
    direction : array_like
        Flat vector in the coordinates of `linear_vae_elbo_hessian()`.
    cov, data, sigma2, sigma2_learned
        As for `linear_vae_elbo_flat_gradient()`.

    Returns
    -------
    ndarray, same shape as `direction`

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import linear_vae_elbo_hessian, linear_vae_elbo_hessian_vector_product
    >>> rng = np.random.default_rng(0)
    >>> params = (rng.normal(size=(2, 3)), rng.normal(size=2), rng.normal(size=(3, 2)))
    >>> cov, v = np.diag([3.0, 2.0, 1.0]), rng.normal(size=14)
    >>> Hv = linear_vae_elbo_hessian_vector_product(params, v, cov=cov, sigma2=0.5)
    >>> bool(np.allclose(Hv, linear_vae_elbo_hessian(params, cov=cov, sigma2=0.5) @ v))
    True
    """
    point = _linear_vae_elbo_hessian_iv(params, cov, data, sigma2, sigma2_learned)
    v = as_real_array(direction, "direction")
    if v.shape != (point.size,):
        raise ValueError(
            f"`direction` must be a flat vector of length {point.size} (V, encoder covariance, W"
            f"{', sigma2' if point.learned else ''}); got shape {v.shape}."
        )
    return point.hvp(v)
