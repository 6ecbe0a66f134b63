"""The maximum-likelihood pPCA solution (Tipping & Bishop 1999; theory.md §2, §5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._base import persist
from .._base.html import render, repr_call
from .._base.latents import LatentCounts
from .._base.tolerance import DEFAULT_RTOL, n_above, warn_unresolved
from .._base.validation import (
    check_learned_latent_dim,
    check_positive_int,
    check_rtol,
    check_sigma2,
)
from .._spectra.container import (
    Spectrum,
    full_eigenvalues,
    require_above,
    require_joint,
    spectrum_floor,
)
from .._spectra.spectrum import check_cov_or_spectrum, eigh_descending
from . import enumeration as en

__all__ = ["PPCAResult", "ppca_mle", "mle_from_spectrum", "kl_at_optimum"]


def kl_at_optimum(
    lam: np.ndarray, sigma2: float | np.ndarray, n_active: int | np.ndarray
) -> np.ndarray:
    """KL of each latent at the linear-VAE optimum (theory.md §4): ``1/2 log(lam_c / sigma2)`` for
    the ``n_active`` live latents, exactly 0 for the collapsed ones.

    ``lam`` holds the top ``latent_dim`` eigenvalues, descending. Vectorised: for an array of
    ``sigma2`` values (with matching ``n_active``) the result has shape ``(G, latent_dim)``.
    Which latents live is the caller's decision, made with the package's tie rule
    (``_tolerance.n_above``), so a latent whose eigenvalue is within tolerance of ``sigma2`` has
    KL 0 here too. The log of the ratio is a difference of logs, so no ``lam / sigma2`` overflows.
    """
    s = np.asarray(sigma2, dtype=np.float64)
    live = np.arange(lam.size) < np.asarray(n_active)[..., None]
    with np.errstate(divide="ignore"):  # collapsed latents may have lam = 0; they are masked
        log_lam = np.log(lam)
    kl = np.where(live, 0.5 * (log_lam - np.log(s)[..., None]), 0.0)
    return kl


@dataclass(frozen=True, eq=False, slots=True)
class PPCAResult(LatentCounts):
    """Maximum-likelihood pPCA fit.

    Attributes
    ----------
    loadings : ndarray, shape (d, q)
        ``U_k (Lam_k - sigma2)^{1/2}`` in the first ``k`` columns, zeros after (collapsed).
    sigma2 : float
    log_likelihood : float
        Mean per-sample log-likelihood at the optimum.
    eigenvalues : ndarray, shape (d,) or (r,)
        Of the covariance, descending (the top ``r`` when fitted from a partial spectrum).
    sigma2_learned : bool
    n_active : int
        Live (non-collapsed) latent columns ``k``.
    n_collapsed : int
        Dead (collapsed, zero) latent columns ``q - k``.
    """

    loadings: np.ndarray
    sigma2: float
    log_likelihood: float
    eigenvalues: np.ndarray
    sigma2_learned: bool

    @property
    def latent_dim(self) -> int:
        return int(self.loadings.shape[1])

    def _n_live(self) -> int:
        # The fit keeps no list of its live latents: they are the nonzero columns.
        return int(np.count_nonzero(np.any(self.loadings != 0, axis=0)))

    def __repr__(self) -> str:
        how = "learned" if self.sigma2_learned else "fixed"
        return (
            f"PPCAResult(n_features={self.loadings.shape[0]}, latent_dim={self.latent_dim}, "
            f"sigma2={self.sigma2:.6g} ({how}), n_active={self.n_active}, "
            f"log_likelihood={self.log_likelihood:.6g})"
        )

    # ------------------------------------------------------------------ keeping and showing
    # JSON text and a file that `ppca_stability.load` reads back (docs/saving.md).
    to_json = persist.to_json
    save = persist.save

    def _repr_html_(self) -> str:
        name, facts = repr_call(repr(self))
        return render(name, facts)


def _ppca_mle_iv(
    cov: ArrayLike, latent_dim: Any, sigma2: Any, rtol: Any
) -> tuple[np.ndarray | Spectrum, int, float | str, float]:
    S = check_cov_or_spectrum(cov)
    d = S.n_features if isinstance(S, Spectrum) else S.shape[0]
    s = check_sigma2(sigma2, allow_learned=True)
    if s == "learned":
        q = check_learned_latent_dim(check_positive_int(latent_dim, "latent_dim"), d)
    else:
        q = check_positive_int(
            latent_dim, "latent_dim", upper=d, upper_name="the number of features"
        )
    return S, q, s, check_rtol(rtol)


def mle_from_spectrum(
    spec: Spectrum, latent_dim: int, sigma2: float | str, rtol: float = DEFAULT_RTOL
) -> PPCAResult:
    """`ppca_mle` on a computed spectrum (with eigenvectors), for internal callers: no
    validation. A partial spectrum must settle the answer: hold every eigenvalue above a fixed
    ``sigma2`` (or at least `latent_dim` of them), more than `latent_dim` with a learned one, and
    its trace."""
    floor = spectrum_floor(spec)
    if isinstance(sigma2, str):  # "learned"
        require_joint(spec, latent_dim, rtol, floor, "ppca_mle")
    elif n_above(spec.eigenvalues, sigma2, rtol, floor) < latent_dim:
        require_above(spec, sigma2, rtol, floor, "ppca_mle")
    lam = full_eigenvalues(spec, "ppca_mle (the log-likelihood)")
    if isinstance(sigma2, str):
        active = en.joint_maximum(lam, latent_dim, rtol, floor)
        s = en.joint_sigma2(lam, active)
    else:
        active = tuple(range(min(latent_dim, n_above(lam, sigma2, rtol, floor))))
        s = float(sigma2)
    W = en.stationary_loadings(spec.vectors, lam, active, s, latent_dim)
    return PPCAResult(
        W,
        s,
        en.stationary_log_likelihood(lam, active, s),
        spec.eigenvalues,
        sigma2 == "learned",
    )


def ppca_mle(
    cov: ArrayLike, latent_dim: int, *, sigma2: float | str = "learned", rtol: float = DEFAULT_RTOL
) -> PPCAResult:
    """Maximum-likelihood pPCA: ``W = U_k (Lam_k - sigma2 I)^{1/2}``, collapsing ``lam_i <=
    sigma2``.

    Parameters
    ----------
    cov : array_like, shape (d, d), or Spectrum
        Data covariance (ddof=0), or its `spectrum()`, possibly partial (see `stability_map()`).
    latent_dim : int
        ``q``.
    sigma2 : float or "learned", default "learned"
        Fixed noise variance, or learned: the mean of the ``d - q`` discarded eigenvalues
        (Tipping & Bishop's ``sigma2_ML``).
    rtol : float, default 1e-9
        Relative tolerance under which an eigenvalue counts as equal to ``sigma2`` (and so as
        collapsed), as in `stability_map()`.

    Returns
    -------
    PPCAResult

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import ppca_mle
    >>> fit = ppca_mle(np.diag([5.0, 3.0, 2.0, 1.0]), 2)
    >>> fit.sigma2, fit.n_active
    (1.5, 2)
    >>> ppca_mle(np.diag([5.0, 3.0, 2.0, 1.0]), 2, sigma2=4.0).n_collapsed
    1
    """
    S, q, s, rtol = _ppca_mle_iv(cov, latent_dim, sigma2, rtol)
    spec = S if isinstance(S, Spectrum) else eigh_descending(S, vectors=True)
    if spec.is_complete:
        warn_unresolved(spec.eigenvalues, s)
    return mle_from_spectrum(spec, q, s, rtol)
