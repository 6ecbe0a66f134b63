"""The maximum-likelihood pPCA solution (Tipping & Bishop 1999; theory.md §2, §5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import check_cov, check_positive_int, check_sigma2
from . import _enumeration as st
from ._spectrum import Spectrum, _eigh_descending

__all__ = ["PPCAResult", "ppca_mle", "mle_from_spectrum"]


@dataclass(frozen=True, eq=False, slots=True)
class PPCAResult:
    """Maximum-likelihood pPCA fit.

    Attributes
    ----------
    loadings : ndarray, shape (d, q)
        ``U_k (Lam_k - sigma2)^{1/2}`` in the first ``k`` columns, zeros after (collapsed).
    sigma2 : float
    log_likelihood : float
        Mean per-sample log-likelihood at the optimum.
    eigenvalues : ndarray, shape (d,)
        Of the covariance, descending.
    sigma2_learned : bool
    """

    loadings: np.ndarray
    sigma2: float
    log_likelihood: float
    eigenvalues: np.ndarray
    sigma2_learned: bool

    @property
    def latent_dim(self) -> int:
        return int(self.loadings.shape[1])

    @property
    def n_active(self) -> int:
        """Live (non-collapsed) latent columns."""
        return int(np.count_nonzero(np.any(self.loadings != 0, axis=0)))

    @property
    def n_collapsed(self) -> int:
        return self.latent_dim - self.n_active

    def __repr__(self) -> str:
        how = "learned" if self.sigma2_learned else "fixed"
        return (f"PPCAResult(n_features={self.loadings.shape[0]}, latent_dim={self.latent_dim}, "
                f"sigma2={self.sigma2:.6g} ({how}), n_active={self.n_active}, "
                f"log_likelihood={self.log_likelihood:.6g})")


def _ppca_mle_iv(cov: Any, latent_dim: Any, sigma2: Any) -> tuple[np.ndarray, int, float | str]:
    S = check_cov(cov)
    q = check_positive_int(latent_dim, "latent_dim", upper=S.shape[0], upper_name="the number of features")
    s = check_sigma2(sigma2, allow_learned=True)
    if s == "learned" and q >= S.shape[0]:
        raise ValueError(
            f"`latent_dim` must be below n_features = {S.shape[0]} when sigma2='learned' (got {q}): "
            "the model would fit cov exactly and sigma2 is not identified."
        )
    return S, q, s


def ppca_mle(cov: Any, latent_dim: int, *, sigma2: float | str = "learned") -> PPCAResult:
    """Maximum-likelihood pPCA: ``W = U_k (Lam_k - sigma2 I)^{1/2}``, collapsing ``lam_i <= sigma2``.

    Parameters
    ----------
    cov : array_like, shape (d, d)
        Data covariance (ddof=0).
    latent_dim : int
        ``q``.
    sigma2 : float or "learned", default "learned"
        Fixed noise variance, or learned: the mean of the ``d - q`` discarded eigenvalues
        (Tipping & Bishop's ``sigma2_ML``).

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
    S, q, s = _ppca_mle_iv(cov, latent_dim, sigma2)
    return mle_from_spectrum(_eigh_descending(S, vectors=True), q, s)


def mle_from_spectrum(spec: Spectrum, q: int, s: float | str) -> PPCAResult:
    """`ppca_mle()`'s kernel: the fit from a spectrum with eigenvectors (inputs validated)."""
    lam = spec.eigenvalues
    if s == "learned":
        active = st.joint_mle_active(lam, q, st.DEFAULT_RTOL, st.eigen_floor(lam))
        if active is None:
            rank = int(np.count_nonzero(lam > 0))
            raise ValueError(
                f"the likelihood is unbounded with sigma2='learned': cov has rank {rank} <= latent_dim = {q}, "
                f"so sigma2 -> 0. Use latent_dim < {rank} or a fixed sigma2."
            )
        s_val = st.joint_sigma2(lam, active)
    else:
        active = tuple(range(min(q, st.n_above(lam, s, st.DEFAULT_RTOL, st.eigen_floor(lam)))))
        s_val = float(s)
    W = st.stationary_loadings(spec.eigenvectors, lam, active, s_val, q)
    return PPCAResult(W, s_val, st.stationary_log_likelihood(lam, active, s_val), lam, s == "learned")

