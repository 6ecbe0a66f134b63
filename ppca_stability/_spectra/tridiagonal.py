"""Eigenvalues of a covariance and the eigenpairs of a subset from one tridiagonal reduction that
is kept.

``numpy.linalg.eigvalsh`` reduces ``S = Q T Q^T`` to a tridiagonal ``T`` (LAPACK ``dsytrd``) and
takes the eigenvalues of ``T`` (``dsterf``), then forgets ``Q``. The check of eigenvalues near
round-off (`_base.validation.check_psd_eigenvalues`) needs their eigenvectors, which then cost a
second decomposition. Here the reduction is kept (`Reduction`): the eigenvectors of ``T`` for just
the eigenvalues asked for (bisection and inverse iteration, or the MRRR algorithm ``dstemr``,
through ``scipy.linalg.eigh_tridiagonal``) are mapped back by ``Q``'s Householder reflectors
(``dormqr``, blocked), so the covariance is decomposed once whether or not the check needs
vectors (`checked_eigenvalues`, the phase diagram's one decomposition).

MRRR on the subset was tried as the partial routes' LAPACK step in place of ``syevr``: on one
thread at d = 2000 it was as fast or up to 0.16x faster (500 pairs of a power law: 0.57x one
``eigh`` against 0.73x), but inside `stability_map` on two threads slower where ARPACK had
given up first (a Wishart edge with 50 above: 1.04x against 0.70x), so the routes keep ``syevr``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from .._base.validation import check_psd_eigenvalues

__all__ = ["Reduction", "checked_eigenvalues"]


class Reduction:
    """``S = Q T Q^T`` for a symmetric `S` with at least 2 rows (LAPACK ``dsytrd``, lower), kept
    so that eigenpairs of ``S`` come from those of ``T``.

    Examples
    --------
    >>> import numpy as np
    >>> S = np.diag([4.0, 1.0, 3.0, 2.0])
    >>> values, U = Reduction(S).pairs(2, 3)
    >>> values
    array([3., 4.])
    >>> np.allclose(S @ U, U * values)
    True
    """

    def __init__(self, S: np.ndarray) -> None:
        d = S.shape[0]
        lwork = int(lapack.dsytrd_lwork(d, lower=1)[0])
        self.reflectors, self.diag, self.off, self.tau, info = lapack.dsytrd(
            S, lower=1, lwork=lwork
        )
        if info != 0:
            raise RuntimeError(f"LAPACK dsytrd failed (info = {info}).")

    def eigenvalues(self, name: str = "cov") -> np.ndarray:
        """Every eigenvalue, ascending (``dsterf``)."""
        values, info = lapack.dsterf(self.diag, self.off)
        if info != 0:
            raise np.linalg.LinAlgError(
                f"eigenvalues of `{name}` did not converge (dsterf {info})."
            )
        return values

    def pairs(self, lo: int, hi: int, *, driver: str = "auto") -> tuple[np.ndarray, np.ndarray]:
        """The eigenpairs with ascending indices ``lo..hi`` (inclusive, LAPACK's order):
        eigenvalues ascending, eigenvectors as columns. `driver`: ``eigh_tridiagonal``'s,
        ``"auto"`` (bisection and inverse iteration) or ``"stemr"`` (MRRR)."""
        values, V = scipy.linalg.eigh_tridiagonal(
            self.diag,
            self.off,
            select="i",
            select_range=(lo, hi),
            check_finite=False,
            lapack_driver=driver,
        )
        return values, self._back(V)

    def _back(self, V: np.ndarray) -> np.ndarray:
        """``Q V``: ``Q = diag(1, Q')``, ``Q'`` the product of dsytrd's reflectors, stored below
        the diagonal of rows 1.. as a QR factorisation stores its own (LAPACK's ``dormtr`` does
        the same through ``dormqr``)."""
        d = V.shape[0]
        U = np.empty_like(V)
        U[0] = V[0]
        k = d - 1
        reflectors = self.reflectors[1:, :k]
        work = int(lapack.dormqr("L", "N", reflectors, self.tau, V[1:], -1)[1][0])
        U[1:], _, info = lapack.dormqr("L", "N", reflectors, self.tau, V[1:], work)
        if info != 0:
            raise RuntimeError(f"LAPACK dormqr failed (info = {info}).")
        return U


def checked_eigenvalues(cov: np.ndarray, name: str = "cov") -> np.ndarray:
    """The eigenvalues of the symmetric `cov`, descending, with those within round-off of 0 set
    to 0 by `check_psd_eigenvalues` (which may ask for eigenvectors: computed from the same
    reduction)."""
    d = cov.shape[0]
    if d == 1:  # already diagonal (and LAPACK's wrappers refuse an empty off-diagonal)
        return check_psd_eigenvalues(
            np.array([float(cov[0, 0])]), name, cov=cov, vectors=lambda idx: np.ones((1, idx.size))
        )
    reduction = Reduction(cov)
    lam = np.ascontiguousarray(reduction.eigenvalues(name)[::-1])

    def eigenvectors(idx: np.ndarray) -> np.ndarray:
        # Indices into the descending order; LAPACK counts ascending. Bisection and inverse
        # iteration, as before MRRR served the other callers: these are the eigenvalues near 0.
        lo, hi = d - 1 - int(idx.max()), d - 1 - int(idx.min())
        U = reduction.pairs(lo, hi)[1]
        return U[:, ::-1][:, idx - idx.min()]

    return check_psd_eigenvalues(lam, name, cov=cov, vectors=eigenvectors)
