"""What sigma^2 is in your loss: beta-VAE weights and MSE losses as Gaussian-VAE noise variances.

For a fixed observation noise ``s = sigma^2`` the Gaussian-decoder ELBO is

    ELBO = -(d/2) log(2 pi s) - E||x - f(z)||^2 / (2 s) - KL(q(z|x) || p(z)),

so maximising it is the same as minimising ``E||x - f(z)||^2 + 2 s KL``. A beta-VAE loss
``Rec + beta KL`` is therefore a Gaussian VAE whose noise variance depends on how ``Rec`` is
written (theory.md §7):

=====================  ==============================  ==================
reconstruction         ``Rec``                         ``sigma^2``
=====================  ==============================  ==================
``"sse"``              ``sum_i (x_i - f_i)^2``         ``beta / 2``
``"half_sse"``         ``1/2 sum_i (x_i - f_i)^2``     ``beta``
``"mse"``              ``1/d sum_i (x_i - f_i)^2``     ``beta d / 2``
=====================  ==============================  ==================

A KL averaged over the ``q`` latents (``kl_reduction="mean"``, e.g. ``.mean()`` over a
``(batch, q)`` array of per-latent KL terms) weighs it ``beta / q``: sigma^2 is divided by ``q``.

For a linear VAE, latent ``c`` collapses exactly when ``lam_c <= sigma^2`` (Lucas et al. 2019;
Wang & Ziyin 2022 state it as ``lam_c <= beta eta^2``): the equivalent sigma^2 is the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._base.tolerance import DEFAULT_RTOL, eigen_floor, n_above
from .._base.validation import check_choice, check_cov, check_positive_int, check_sigma2
from .._ppca.mle import kl_at_optimum
from .._spectra.spectrum import eigh_descending

__all__ = [
    "KL_REDUCTIONS",
    "RECONSTRUCTIONS",
    "CollapsePrediction",
    "beta_from_sigma2",
    "predict_collapse",
    "sigma2_from_beta",
]

RECONSTRUCTIONS = ("sse", "half_sse", "mse")
"""How a loss writes its reconstruction term (the `reconstruction` argument of
`sigma2_from_beta`, `beta_from_sigma2` and `predict_collapse`): ``sse`` the sum of squared errors,
``half_sse`` half of it, ``mse`` the mean over the d coordinates."""
KL_REDUCTIONS = ("sum", "mean")
"""How a loss reduces its KL term over the latents (the `kl_reduction` argument): ``sum`` (the
ELBO's KL) or ``mean`` (averaged over the q latents, which weighs it beta / q)."""


def _factor(reconstruction: Any, n_features: Any, kl_reduction: Any, latent_dim: Any) -> float:
    """``sigma^2 / beta`` for a reconstruction convention and a KL reduction."""
    rec = check_choice(reconstruction, "reconstruction", RECONSTRUCTIONS)
    per_latent = check_choice(kl_reduction, "kl_reduction", KL_REDUCTIONS) == "mean"
    if per_latent and latent_dim is None:
        raise ValueError(
            '`latent_dim` is required when kl_reduction="mean" (the mean divides the KL by it).'
        )
    q = check_positive_int(latent_dim, "latent_dim") if per_latent else 1
    if rec == "mse":
        if n_features is None:
            raise ValueError(
                '`n_features` is required when reconstruction="mse" (the mean divides by it).'
            )
        return check_positive_int(n_features, "n_features") / 2.0 / q
    return (0.5 if rec == "sse" else 1.0) / q


def _converted(value: float, what: str, name: str, given: float) -> float:
    """`value` if float64 holds it as a positive finite number, else a ValueError naming it."""
    if not (np.isfinite(value) and value > 0.0):
        raise ValueError(
            f"`{name}` = {given:g} gives {what} = {value:g}, outside the positive float64 range; "
            f"pass a {name} between about 1e-300 and 1e300."
        )
    return value


def sigma2_from_beta(
    beta: float,
    *,
    reconstruction: str = "mse",
    n_features: int | None = None,
    kl_reduction: str = "sum",
    latent_dim: int | None = None,
) -> float:
    """The Gaussian-VAE noise variance equivalent to a beta-VAE loss ``Rec + beta KL``.

    Parameters
    ----------
    beta : float
        Weight of the KL term, positive.
    reconstruction : {"sse", "half_sse", "mse"}
        How the reconstruction term is written: summed squared error, half of it, or the mean
        over the ``n_features`` coordinates (``torch.nn.MSELoss()`` per sample).
    n_features : int, optional
        Data dimension ``d``; required for ``"mse"``.
    kl_reduction : {"sum", "mean"}, default "sum"
        How the KL term is reduced over the latents: summed (the ELBO's KL), or averaged over
        them (a ``.mean()`` over a ``(batch, latent_dim)`` array), which weighs it
        ``beta / latent_dim``.
    latent_dim : int, optional
        Number of latents ``q``; required for ``kl_reduction="mean"``.

    Returns
    -------
    float
        ``beta / 2``, ``beta`` or ``beta d / 2``; divided by ``q`` for ``kl_reduction="mean"``.

    Examples
    --------
    >>> from ppca_stability import sigma2_from_beta
    >>> sigma2_from_beta(1.0, reconstruction="sse")
    0.5
    >>> sigma2_from_beta(1.0, reconstruction="mse", n_features=784)  # MNIST with MSELoss
    392.0
    >>> sigma2_from_beta(  # and the KL averaged over 16 latents
    ...     1.0, reconstruction="mse", n_features=784, kl_reduction="mean", latent_dim=16
    ... )
    24.5
    """
    b = check_sigma2(beta, "beta")
    factor = _factor(reconstruction, n_features, kl_reduction, latent_dim)
    return _converted(b * factor, "sigma2", "beta", b)


def beta_from_sigma2(
    sigma2: float,
    *,
    reconstruction: str = "mse",
    n_features: int | None = None,
    kl_reduction: str = "sum",
    latent_dim: int | None = None,
) -> float:
    """The beta-VAE weight equivalent to a Gaussian VAE with noise variance ``sigma2``.

    The inverse of `sigma2_from_beta()`, with the same conventions.

    Examples
    --------
    >>> from ppca_stability import beta_from_sigma2
    >>> beta_from_sigma2(1.0, reconstruction="mse", n_features=64)
    0.03125
    >>> beta_from_sigma2(1.0, reconstruction="sse", kl_reduction="mean", latent_dim=8)
    16.0
    """
    s = check_sigma2(sigma2)
    factor = _factor(reconstruction, n_features, kl_reduction, latent_dim)
    return _converted(s / factor, "beta", "sigma2", s)


@dataclass(frozen=True, eq=False, slots=True)
class CollapsePrediction:
    """Which latents a linear VAE collapses at a given sigma^2 (or beta), and the KL each keeps.

    Attributes
    ----------
    sigma2 : float
        The noise variance (converted from ``beta`` when that was given).
    beta : float or None
        The beta it was converted from, if any.
    reconstruction : str or None
        The reconstruction convention of ``beta``, if any.
    eigenvalues : ndarray, shape (latent_dim,)
        The top ``latent_dim`` eigenvalues of the covariance, descending.
    n_active : int
        Latents that stay live: those with ``lam_c > sigma2`` beyond the tie tolerance of
        `stability_map()` (an eigenvalue within ``rtol`` of ``sigma2`` collapses).
    kl_per_latent : ndarray, shape (latent_dim,)
        ``1/2 log(lam_c / sigma2)`` for live latents, 0 for collapsed ones, at the optimum
        (theory.md §4), in nats.
    kl_reduction : str or None
        How the KL term of ``beta``'s loss is reduced over the latents, if ``beta`` was given.
    """

    sigma2: float
    beta: float | None
    reconstruction: str | None
    eigenvalues: np.ndarray
    n_active: int
    kl_reduction: str | None = None

    @property
    def collapsed(self) -> np.ndarray:
        """Boolean mask: latent ``c`` collapses (``lam_c <= sigma2``)."""
        return np.arange(self.latent_dim) >= self.n_active

    @property
    def latent_dim(self) -> int:
        return int(self.eigenvalues.size)

    @property
    def kl_per_latent(self) -> np.ndarray:
        return kl_at_optimum(self.eigenvalues, self.sigma2, self.n_active)

    @property
    def largest_sigma2_without_collapse(self) -> float:
        """Collapse starts once sigma2 reaches the smallest of the top ``latent_dim``
        eigenvalues."""
        return float(self.eigenvalues[-1])

    def __repr__(self) -> str:
        mean = ", KL mean over latents" if self.kl_reduction == "mean" else ""
        src = f" (beta={self.beta:g}, {self.reconstruction}{mean})" if self.beta is not None else ""
        rows = [
            f"CollapsePrediction(sigma2={self.sigma2:.6g}{src}, latent_dim={self.latent_dim}, "
            f"active={self.n_active}, collapsed={self.latent_dim - self.n_active})",
            f"  {'latent':>6} {'eigenvalue':>12} {'KL [nats]':>10}  state",
        ]
        shown = min(self.latent_dim, 12)
        for c in range(shown):
            state = "collapsed" if self.collapsed[c] else "active"
            rows.append(
                f"  {c:>6} {self.eigenvalues[c]:>12.5g} {self.kl_per_latent[c]:>10.4f}  {state}"
            )
        if shown < self.latent_dim:
            rows.append(f"  ... {self.latent_dim - shown} more")
        return "\n".join(rows)


def _predict_collapse_iv(cov, latent_dim, sigma2, beta, reconstruction, kl_reduction):  # noqa: ANN001
    S = check_cov(cov)
    q = check_positive_int(
        latent_dim, "latent_dim", upper=S.shape[0], upper_name="the number of features"
    )
    if (sigma2 is None) == (beta is None):
        raise ValueError("give exactly one of `sigma2` and `beta`.")
    if beta is not None:
        s = sigma2_from_beta(
            beta,
            reconstruction=reconstruction,
            n_features=S.shape[0],
            kl_reduction=kl_reduction,
            latent_dim=q,
        )
        return S, q, s, float(beta)
    check_choice(kl_reduction, "kl_reduction", KL_REDUCTIONS)
    return S, q, check_sigma2(sigma2), None


def predict_collapse(
    cov: Any,
    *,
    latent_dim: int,
    sigma2: float | None = None,
    beta: float | None = None,
    reconstruction: str = "mse",
    kl_reduction: str = "sum",
) -> CollapsePrediction:
    """Predict which latents a linear VAE collapses, from ``sigma2`` or from a beta-VAE weight.

    Parameters
    ----------
    cov : array_like, shape (d, d)
        Data covariance (ddof=0).
    latent_dim : int
    sigma2 : float, optional
        Gaussian-decoder noise variance. Give this or `beta`.
    beta : float, optional
        KL weight of a beta-VAE loss ``Rec + beta KL``, converted with `sigma2_from_beta()`
        using `reconstruction` and ``n_features = d``.
    reconstruction : {"sse", "half_sse", "mse"}, default "mse"
    kl_reduction : {"sum", "mean"}, default "sum"
        How `beta`'s loss reduces the KL over the ``latent_dim`` latents (see
        `sigma2_from_beta()`).

    Returns
    -------
    CollapsePrediction

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import predict_collapse
    >>> cov = np.diag([4.0, 2.0, 1.0, 0.5])
    >>> pred = predict_collapse(cov, latent_dim=3, beta=1.0)  # mse, d = 4: sigma2 = 2
    >>> pred.sigma2, pred.collapsed.tolist()
    (2.0, [False, True, True])
    >>> np.round(pred.kl_per_latent, 4).tolist()
    [0.3466, 0.0, 0.0]
    """
    S, q, s, b = _predict_collapse_iv(cov, latent_dim, sigma2, beta, reconstruction, kl_reduction)
    lam = eigh_descending(S, vectors=False).eigenvalues
    k = min(q, n_above(lam, s, DEFAULT_RTOL, eigen_floor(lam)))
    given = b is not None
    return CollapsePrediction(
        s,
        b,
        reconstruction if given else None,
        lam[:q],
        k,
        kl_reduction if given else None,
    )
