"""The linear VAE's ELBO in closed form: value, gradients and optimal encoder (theory.md §6).

Model (Lucas et al. 2019): encoder ``q(z | x) = N(V (x - mu), D)`` with ``D`` diagonal and shared
across ``x``; decoder ``p(x | z) = N(W z + mu, s I_d)``; prior ``N(0, I_q)``. ``mu`` is fixed at the
data mean (its maximum-likelihood value), so with the ddof=0 covariance ``S`` the data-averaged
ELBO is, in closed form,

    L = -(d/2) log(2 pi s) - Rec / (2 s) - KL,
    Rec = tr S - 2 tr(W V S) + tr(W (V S V^T + D) W^T),
    KL  = 1/2 [tr D + tr(V S V^T) - q - log det D].

The encoder variances are parametrised by their logarithms. With ``M = W^T W + s I`` the optimal
encoder is ``V* = M^-1 W^T``, ``D* = s / diag(M)`` (not ``s diag(M^-1)``: ``D`` is diagonal and the
``D``-gradient ``1/2 [1/D_cc - M_cc / s]`` vanishes at ``s / M_cc``), and
``l - L(V*, D*) = 1/2 log(prod_c M_cc / det M) >= 0``.

The public functions validate their input and call the kernels `elbo_terms()`, `stochastic_elbo()`
and `optimal_encoder_kernel()`, which trust theirs; the trainer (`ppca_stability._vae.linear_vae`)
calls the kernels directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._base.validation import as_real_array, check_cov, check_sigma2
from .._ppca.likelihood import LOG_2PI, finite
from .._spectra.container import Spectrum, covariance_from_spectrum
from .._spectra.covariance import covariance

__all__ = [
    "LinearVAEFullParams",
    "check_vae_params",
    "LinearVAEParams",
    "linear_vae_elbo",
    "linear_vae_elbo_gradient",
    "optimal_encoder",
    "elbo_terms",
    "stochastic_elbo",
    "optimal_encoder_kernel",
    "resolve_cov",
]


@dataclass(frozen=True, eq=False, slots=True)
class LinearVAEParams:
    """Parameters of a linear VAE (or a gradient with respect to them, block by block).

    Attributes
    ----------
    encoder_weights : ndarray, shape (q, d)
        ``V``: the encoder mean is ``V (x - mu)``.
    encoder_log_variances : ndarray, shape (q,)
        ``log D``: log-variances of the diagonal encoder covariance.
    loadings : ndarray, shape (d, q)
        ``W``: the decoder.
    """

    encoder_weights: np.ndarray
    encoder_log_variances: np.ndarray
    loadings: np.ndarray

    @property
    def encoder_variances(self) -> np.ndarray:
        """``D = exp(log D)``."""
        return np.exp(self.encoder_log_variances)

    def __repr__(self) -> str:
        return _params_repr(self, "log D", self.encoder_log_variances)


@dataclass(frozen=True, eq=False, slots=True)
class LinearVAEFullParams:
    """Parameters of a linear VAE whose encoder covariance is full: ``q(z|x) = N(V x, L L^T)``.

    Attributes
    ----------
    encoder_weights : ndarray, shape (q, d)
        ``V``.
    encoder_cholesky : ndarray, shape (q, q)
        ``L``: lower triangular with a positive diagonal.
    loadings : ndarray, shape (d, q)
        ``W``.
    """

    encoder_weights: np.ndarray
    encoder_cholesky: np.ndarray
    loadings: np.ndarray

    @property
    def encoder_covariance(self) -> np.ndarray:
        """``Sigma = L L^T``."""
        return self.encoder_cholesky @ self.encoder_cholesky.T

    def __repr__(self) -> str:
        return _params_repr(self, "L", self.encoder_cholesky)


def _params_repr(params: LinearVAEParams | LinearVAEFullParams, name: str, spread: Any) -> str:
    """Sizes and the norm of each block, the encoder's spread (``log D`` or ``L``) as `name`."""
    d, q = params.loadings.shape
    return (
        f"{type(params).__name__}(n_features={d}, latent_dim={q}, "
        f"|V|={np.linalg.norm(params.encoder_weights):.4g}, "
        f"|{name}|={np.linalg.norm(spread):.4g}, "
        f"|W|={np.linalg.norm(params.loadings):.4g})"
    )


# --------------------------------------------------------------------------- kernels


def elbo_terms(
    V: np.ndarray, logD: np.ndarray, W: np.ndarray, S: np.ndarray, s: float, trS: float
) -> tuple[float, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """Closed-form ELBO, KL per latent and gradients (V, log D, W, s); theory.md §6."""
    d, q = W.shape
    D = np.exp(logD)
    VS = V @ S
    A = VS @ V.T  # V S V^T
    A[np.diag_indices(q)] += D
    WtW = W.T @ W
    rec = trS - 2.0 * np.sum(W.T * VS) + np.sum(WtW * A)
    kl = 0.5 * (np.diag(A) - 1.0 - logD)  # per latent: D_cc + (V S V^T)_cc - 1 - log D_cc
    elbo = -0.5 * d * (LOG_2PI + math.log(s)) - rec / (2.0 * s) - float(np.sum(kl))
    M_diag = np.diag(WtW) + s
    grad_W = (VS.T - W @ A) / s  # (1/s)[S V^T - W (V S V^T + D)]
    grad_V = (W.T @ S - (WtW @ VS + s * VS)) / s  # (1/s)(W^T - M V) S
    grad_logD = 0.5 * (1.0 - D * M_diag / s)  # D * dL/dD, dL/dD = 1/2 [1/D - M_cc/s]
    grad_s = -d / (2.0 * s) + rec / (2.0 * s * s)
    return float(elbo), kl, (grad_V, grad_logD, grad_W, float(grad_s))


def stochastic_elbo(
    V: np.ndarray, logD: np.ndarray, W: np.ndarray, X: np.ndarray, eps: np.ndarray, s: float
) -> tuple[float, tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """Reparameterised one-sample ELBO estimate on a centred batch ``X`` (rows) and its gradients.

    ``z = V x + D^{1/2} eps``; the reconstruction term is Monte Carlo, the Gaussian KL closed form,
    as in ordinary VAE training. Its expectation over ``eps`` is `elbo_terms()` at ``X^T X / B``.
    """
    B, d = X.shape
    sqrtD = np.exp(0.5 * logD)
    mean = X @ V.T  # (B, q)
    z = mean + eps * sqrtD
    r = X - z @ W.T
    rec = float(np.sum(r * r)) / B
    D = sqrtD * sqrtD
    kl = 0.5 * (
        float(np.sum(D)) + float(np.sum(mean * mean)) / B - V.shape[0] - float(np.sum(logD))
    )
    elbo = -0.5 * d * (LOG_2PI + math.log(s)) - rec / (2.0 * s) - kl
    g_z = (r @ W) / s  # dL/dz per sample
    grad_W = (r.T @ z) / (B * s)
    grad_V = ((g_z - mean).T @ X) / B
    grad_logD = 0.5 * sqrtD * np.mean(g_z * eps, axis=0) + 0.5 * (1.0 - D)
    grad_s = -d / (2.0 * s) + rec / (2.0 * s * s)
    return elbo, (grad_V, grad_logD, grad_W, grad_s)


def optimal_encoder_kernel(W: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """``(V*, D*)`` for a decoder ``W`` and noise variance ``s`` (see `optimal_encoder()`)."""
    # V* = M^-1 W^T with M = W^T W + s I, through the thin SVD W = P diag(w) R^T:
    # V* = R diag(w / (w^2 + s)) P^T, which stays accurate when ||W||^2 >> s makes M singular
    # in floating point; D* = s / diag(M) = s / (||w_c||^2 + s).
    P, w, Rt = np.linalg.svd(W, full_matrices=False)
    V = (Rt.T * (w / (w**2 + s))) @ P.T
    return V, s / (np.einsum("ij,ij->j", W, W) + s)


# --------------------------------------------------------------------------- validation


def resolve_cov(cov: Any, data: Any) -> np.ndarray:
    """The covariance from exactly one of `cov` and `data` (ddof=0, data centred at its mean)."""
    if (cov is None) == (data is None):
        raise ValueError(
            "pass exactly one of `cov` and `data`; "
            + ("got both." if cov is not None else "got neither.")
        )
    if isinstance(cov, Spectrum):  # a complete spectrum with eigenvectors stands for its matrix
        return covariance_from_spectrum(cov)
    return check_cov(cov) if cov is not None else covariance(data)


def check_vae_params(params: Any, n_features: int) -> LinearVAEParams | LinearVAEFullParams:
    """`params` as `LinearVAEParams` (diagonal encoder) or `LinearVAEFullParams`, float64, with
    shapes matching ``n_features``; a 3-tuple is read as diagonal when its middle entry is 1-D."""
    if isinstance(params, (tuple, list)) and len(params) == 3:
        middle = np.asarray(params[1])
        params = (LinearVAEFullParams if middle.ndim == 2 else LinearVAEParams)(*params)
    if not isinstance(params, (LinearVAEParams, LinearVAEFullParams)):
        raise TypeError(
            "`params` must be a LinearVAEParams, a LinearVAEFullParams or a tuple "
            "(encoder_weights, encoder_log_variances or encoder_cholesky, loadings); got "
            f"{type(params).__name__}."
        )
    V = as_real_array(params.encoder_weights, "params.encoder_weights")
    W = as_real_array(params.loadings, "params.loadings")
    if W.ndim != 2 or W.shape[0] != n_features or W.shape[1] < 1:
        raise ValueError(
            f"`params.loadings` must have shape (n_features={n_features}, latent_dim); got "
            f"{W.shape}."
        )
    q = W.shape[1]
    if V.shape != (q, n_features):
        hint = " Did you pass its transpose?" if V.shape == (n_features, q) else ""
        raise ValueError(
            "`params.encoder_weights` must have shape (latent_dim, n_features) = "
            f"{(q, n_features)}; got {V.shape}.{hint}"
        )
    if isinstance(params, LinearVAEFullParams):
        L = as_real_array(params.encoder_cholesky, "params.encoder_cholesky")
        if L.shape != (q, q):
            raise ValueError(
                f"`params.encoder_cholesky` must have shape (latent_dim, latent_dim) = {(q, q)}; "
                f"got {L.shape}."
            )
        if np.any(np.triu(L, 1) != 0.0) or not np.all(np.diag(L) > 0.0):
            raise ValueError(
                "`params.encoder_cholesky` must be lower triangular with a positive diagonal "
                "(numpy.linalg.cholesky of the encoder covariance)."
            )
        return LinearVAEFullParams(V, L, W)
    logD = as_real_array(params.encoder_log_variances, "params.encoder_log_variances")
    if logD.shape != (q,):
        raise ValueError(
            f"`params.encoder_log_variances` must have shape (latent_dim,) = ({q},); got "
            f"{logD.shape}."
        )
    return LinearVAEParams(V, logD, W)


def _linear_vae_elbo_iv(
    params: Any, cov: ArrayLike | None, data: ArrayLike | None, sigma2: Any
) -> tuple[LinearVAEParams, np.ndarray, float]:
    S = resolve_cov(cov, data)
    p = check_vae_params(params, S.shape[0])
    if isinstance(p, LinearVAEFullParams):
        raise TypeError(
            "`params` must be a LinearVAEParams (a diagonal encoder) or a tuple (encoder_weights, "
            "encoder_log_variances, loadings); for a full encoder covariance use "
            "linear_vae_elbo_flat_gradient and its Hessians."
        )
    return p, S, check_sigma2(sigma2)


def _optimal_encoder_iv(loadings: ArrayLike, sigma2: Any) -> tuple[np.ndarray, float]:
    W = as_real_array(loadings, "loadings")
    if W.ndim != 2 or min(W.shape) < 1:
        raise ValueError(
            "`loadings` must be a non-empty 2-D (n_features, latent_dim) array; got shape "
            f"{W.shape}."
        )
    return W, check_sigma2(sigma2)


# --------------------------------------------------------------------------- public functions


def _representable_elbo(p: LinearVAEParams, S: np.ndarray, s: float) -> tuple:
    """`elbo_terms()` for user-supplied parameters, refusing results float64 cannot hold."""
    with np.errstate(over="ignore", invalid="ignore"):
        elbo, kl, grads = elbo_terms(
            p.encoder_weights, p.encoder_log_variances, p.loadings, S, s, float(np.trace(S))
        )
        finite(np.array([elbo, *(np.sum(np.abs(g)) for g in grads)]), "the ELBO or its gradient")
    return elbo, kl, grads


def linear_vae_elbo(
    params: LinearVAEParams | tuple,
    *,
    cov: ArrayLike | None = None,
    data: ArrayLike | None = None,
    sigma2: float,
) -> float:
    """Closed-form data-averaged ELBO of a linear VAE (theory.md §6).

    Parameters
    ----------
    params : LinearVAEParams or tuple (encoder_weights, encoder_log_variances, loadings)
        ``V`` (q, d), ``log D`` (q,) and ``W`` (d, q).
    cov : array_like, shape (d, d), optional
        Data covariance (ddof=0). Give exactly one of `cov` and `data`.
    data : array_like, shape (n, d), optional
        Data matrix; its ddof=0 covariance is used (the model mean is the data mean).
    sigma2 : float
        Decoder noise variance ``s``, positive.

    Returns
    -------
    float
        Mean ELBO per sample; never above `log_likelihood()`.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import linear_vae_elbo, log_likelihood, optimal_encoder
    >>> cov = np.diag([4.0, 1.0])
    >>> W = np.array([[np.sqrt(3.0)], [0.0]])
    >>> V, D = optimal_encoder(W, 1.0)
    >>> elbo = linear_vae_elbo((V, np.log(D), W), cov=cov, sigma2=1.0)
    >>> round(elbo, 6), round(log_likelihood(W, cov, 1.0), 6)     # one column: no gap
    (-3.531024, -3.531024)
    """
    p, S, s = _linear_vae_elbo_iv(params, cov, data, sigma2)
    return _representable_elbo(p, S, s)[0]


def linear_vae_elbo_gradient(
    params: LinearVAEParams | tuple,
    *,
    cov: ArrayLike | None = None,
    data: ArrayLike | None = None,
    sigma2: float,
) -> tuple[LinearVAEParams, float]:
    """Gradient of `linear_vae_elbo()` in ``V``, ``log D``, ``W`` and ``sigma2``.

    Parameters are as for `linear_vae_elbo()`.

    Returns
    -------
    grad_params : LinearVAEParams
        ``(1/s)(W^T - M V) S``; ``1/2 [1 - D_cc M_cc / s]`` (with respect to ``log D``);
        ``(1/s)[S V^T - W (V S V^T + D)]``.
    grad_sigma2 : float
        ``-d / (2 s) + Rec / (2 s^2)``.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import linear_vae_elbo_gradient, optimal_encoder
    >>> W = np.array([[np.sqrt(3.0)], [0.0]])
    >>> V, D = optimal_encoder(W, 1.0)
    >>> g, g_s = linear_vae_elbo_gradient((V, np.log(D), W), cov=np.diag([4.0, 1.0]), sigma2=1.0)
    >>> bool(np.allclose(g.loadings, 0) and np.allclose(g.encoder_weights, 0)), round(g_s, 12)
    (True, 0.0)
    """
    p, S, s = _linear_vae_elbo_iv(params, cov, data, sigma2)
    _, _, (gV, glogD, gW, gs) = _representable_elbo(p, S, s)
    return LinearVAEParams(gV, glogD, gW), gs


def optimal_encoder(loadings: ArrayLike, sigma2: float) -> tuple[np.ndarray, np.ndarray]:
    """The encoder maximising the ELBO for a given decoder: ``V* = M^-1 W^T``, ``D* = s / diag(M)``.

    Parameters
    ----------
    loadings : array_like, shape (d, q)
        Decoder ``W``.
    sigma2 : float
        Decoder noise variance ``s``.

    Returns
    -------
    encoder_weights : ndarray, shape (q, d)
    encoder_variances : ndarray, shape (q,)
        ``s / (||w_c||^2 + s)``; this is *not* ``s diag(M^-1)``, the posterior variances.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import optimal_encoder
    >>> V, D = optimal_encoder(np.array([[1.0, 1.0], [0.0, 1.0]]), 1.0)
    >>> D                       # s / (||w_c||^2 + s)
    array([0.5       , 0.33333333])
    """
    return optimal_encoder_kernel(*_optimal_encoder_iv(loadings, sigma2))
