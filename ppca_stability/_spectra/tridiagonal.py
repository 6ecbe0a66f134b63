"""Eigenvalues of a covariance and their round-off check from one tridiagonal reduction.

``numpy.linalg.eigvalsh`` reduces ``S = Q T Q^T`` to a tridiagonal ``T`` (LAPACK ``dsytrd``) and
takes the eigenvalues of ``T`` (``dsterf``), then forgets ``Q``. The check of eigenvalues near
round-off (`_base.validation.check_psd_eigenvalues`) needs their eigenvectors, which then cost a
second decomposition (LAPACK's syevr on the subset, or a full ``eigh`` for many of them). Here the
reduction is kept: the eigenvectors of ``T`` for just those eigenvalues (MRRR,
``scipy.linalg.eigh_tridiagonal``) are mapped back by ``Q``'s Householder reflectors (``dormqr``,
blocked), so the covariance is decomposed once whether or not the check needs vectors.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from .._base.validation import check_psd_eigenvalues

__all__ = ["checked_eigenvalues"]


def checked_eigenvalues(cov: np.ndarray, name: str = "cov") -> np.ndarray:
    """The eigenvalues of the symmetric `cov`, descending, with those within round-off of 0 set
    to 0 by `check_psd_eigenvalues` (which may ask for eigenvectors: computed from the same
    reduction)."""
    d = cov.shape[0]
    if d == 1:  # already diagonal (and LAPACK's wrappers refuse an empty off-diagonal)
        return check_psd_eigenvalues(
            np.array([float(cov[0, 0])]), name, cov=cov, vectors=lambda idx: np.ones((1, idx.size))
        )
    lwork = int(lapack.dsytrd_lwork(d, lower=1)[0])
    reflectors, diag, off, tau, info = lapack.dsytrd(cov, lower=1, lwork=lwork)
    if info != 0:
        raise RuntimeError(f"LAPACK dsytrd failed (info = {info}).")
    values, info = lapack.dsterf(diag, off)
    if info != 0:
        raise np.linalg.LinAlgError(f"eigenvalues of `{name}` did not converge (dsterf {info}).")
    lam = np.ascontiguousarray(values[::-1])

    def eigenvectors(idx: np.ndarray) -> np.ndarray:
        # Indices into the descending order; LAPACK counts ascending.
        lo, hi = d - 1 - int(idx.max()), d - 1 - int(idx.min())
        V = scipy.linalg.eigh_tridiagonal(
            diag, off, select="i", select_range=(lo, hi), check_finite=False
        )[1]
        U = np.empty((d, V.shape[1]))
        U[0] = V[0]
        # Q = diag(1, Q'), Q' the product of dsytrd's reflectors, stored below the diagonal of
        # rows 1.. as a QR factorisation stores its own.
        k = d - 1
        work = int(lapack.dormqr("L", "N", reflectors[1:, :k], tau, V[1:], -1)[1][0])
        U[1:], _, info = lapack.dormqr("L", "N", reflectors[1:, :k], tau, V[1:], work)
        if info != 0:
            raise RuntimeError(f"LAPACK dormqr failed (info = {info}).")
        return U[:, ::-1][:, idx - idx.min()]

    return check_psd_eigenvalues(lam, name, cov=cov, vectors=eigenvectors)
