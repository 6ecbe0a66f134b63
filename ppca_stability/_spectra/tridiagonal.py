"""Eigenvalues of a covariance and the eigenpairs of a subset from one tridiagonal reduction that
is kept.

``numpy.linalg.eigvalsh`` reduces ``S = Q T Q^T`` to a tridiagonal ``T`` (LAPACK ``dsytrd``) and
takes the eigenvalues of ``T`` (``dsterf``), then forgets ``Q``. Here the reduction is kept
(`Reduction`): the eigenvectors of ``T`` for just the eigenvalues asked for (bisection and inverse
iteration, or the MRRR algorithm ``dstemr``, through ``scipy.linalg.eigh_tridiagonal``) are mapped
back by ``Q``'s Householder reflectors (``dormqr``, blocked). Two callers:

* the check of eigenvalues near round-off (`_base.validation.check_psd_eigenvalues`) needs
  their eigenvectors, which then cost no second decomposition (`checked_eigenvalues`, the
  phase diagram's one decomposition);
* the partial routes (`_spectrum.reduced_above`): the exact count of eigenvalues above a cut
  on ``T`` (its Sturm count, ``d`` operations) decides after the reduction between the pairs
  above the cut alone and every pair (divide and conquer on ``T``, ``dstevd``), so neither
  pays for a decomposition it does not use. At d = 2000 on two threads, as fractions of one
  ``numpy.linalg.eigh``: the reduction 0.27-0.34, 50 pairs after it about 0.09 (0.05 for
  inverse iteration, 0.03 for the back-transformation), every pair 0.63-0.69.

LAPACK's ``syevr`` on the same subset costs as much (it runs the same reduction), but cannot say
how many pairs it will compute before it has.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from .._base.validation import check_psd_eigenvalues
from .sylvester import count_above_tridiagonal

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
        # One d x d buffer for the factorisation and the reflectors: dsytrd overwrites a Fortran
        # copy of S in it, then the reflectors (below the subdiagonal) are packed in place into
        # the contiguous (d - 1) x (d - 1) array dormqr reads. Passing dormqr the slice instead
        # made it copy 32 MB at d = 2000; a fresh allocation that size cost 0.17-0.23 s of page
        # faults here (3 ms when reused), more than the rest of a 50-pair subset.
        buffer = np.empty(d * d)
        A = buffer.reshape((d, d), order="F")
        # S^T is S, and for a C-ordered S a Fortran-ordered view: copied without a transposition
        # (2.3 ms against 7.6 ms at d = 2000). dsytrd then reads S's upper triangle, the same as
        # its lower in a symmetric S (`check_cov` makes every covariance exactly symmetric).
        np.copyto(A, S.T if S.flags.c_contiguous else S)
        reflected, self.diag, self.off, self.tau, info = lapack.dsytrd(
            A, lower=1, lwork=lwork, overwrite_a=1
        )
        if info != 0:
            raise RuntimeError(f"LAPACK dsytrd failed (info = {info}).")
        if not np.shares_memory(reflected, buffer):  # a wrapper that copied after all
            buffer = np.asfortranarray(reflected).reshape(-1, order="F")
        self.reflectors = _pack_below_first_row(buffer, d, d - 1)

    def eigenvalues(self, name: str = "cov") -> np.ndarray:
        """Every eigenvalue, ascending (``dsterf``)."""
        values, info = lapack.dsterf(self.diag, self.off)
        if info != 0:
            raise np.linalg.LinAlgError(
                f"eigenvalues of `{name}` did not converge (dsterf {info})."
            )
        return values

    def count_above(self, cut: float) -> int:
        """How many eigenvalues of ``T`` (those of ``S`` to within the reduction's round-off)
        lie above `cut`: `_spectra.sylvester.count_above_tridiagonal`."""
        return count_above_tridiagonal(self.diag, self.off, cut)

    def top_pairs(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The `k` largest eigenpairs, descending, eigenvectors as columns: bisection and inverse
        iteration on those alone (``dstebz``, ``dstein``). Not MRRR (``dstemr``): SciPy's wrapper
        allocates and writes room for every eigenvector whatever the subset (resident memory
        +32.6 MB for 50 pairs at d = 2000; 0.64 s for 50 pairs at d = 8000, against 0.13 s by
        inverse iteration), so it is only the fallback where inverse iteration fails."""
        d = self.diag.size
        if k == 0:
            return np.zeros(0), np.zeros((d, 0))
        try:
            values, U = self.pairs(d - k, d - 1)
        except np.linalg.LinAlgError:  # inverse iteration did not converge: MRRR
            values, U = self.pairs(d - k, d - 1, driver="stemr")
        return np.ascontiguousarray(values[::-1]), np.ascontiguousarray(U[:, ::-1])

    def all_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Every eigenpair, eigenvalues ascending (divide and conquer on ``T``, ``dstevd``, as
        ``numpy.linalg.eigh``'s ``dsyevd`` does after its own reduction)."""
        values, V = self.tridiagonal_pairs()
        return values, self.top_of(V, values.size)

    def tridiagonal_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Every eigenpair of ``T`` (divide and conquer, ``dstevd``): eigenvalues ascending, the
        eigenvectors of ``T`` as the columns of a Fortran-ordered array nothing else holds, for
        `top_of` to map back the ones wanted."""
        values, V, info = lapack.dstevd(self.diag, self.off, compute_v=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"eigenpairs did not converge (dstevd {info}).")
        return values, np.asfortranarray(V)

    def top_of(self, V: np.ndarray, k: int) -> np.ndarray:
        """The eigenvectors of ``S`` for the last `k` columns of `V` (from `tridiagonal_pairs`,
        ascending), mapped back in `V`'s own memory (the other columns are left as they were):
        the back-transformation costs in proportion to `k`, about 0.4x one ``numpy.linalg.eigh``
        for all of them at d = 2000."""
        d = V.shape[0]
        return self._back_in_place(V[:, d - k :]) if k else V[:, :0]

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
        return values, self.back(V)

    def _back_in_place(self, V: np.ndarray) -> np.ndarray:
        """`back` for a Fortran-ordered `V` nothing else holds, in its own memory: rows 1.. of
        each column are packed into a contiguous (d - 1) x m block for ``dormqr`` to overwrite,
        then spread back. For every eigenvector (d x d) `back` allocated three more d x d arrays
        (the rows copied, the result, the destination); at d = 2000 each fresh one could cost up
        to 0.2 s of page faults here, and took the whole decomposition from the reduction to
        1.6-1.8x one eigh inside a map."""
        d, m = V.shape
        flat = V.reshape(-1, order="F")  # a view: V is Fortran-ordered
        first = V[0].copy()
        C = _pack_below_first_row(flat, d, m)
        work = int(lapack.dormqr("L", "N", self.reflectors, self.tau, C, -1)[1][0])
        out, _, info = lapack.dormqr("L", "N", self.reflectors, self.tau, C, work, overwrite_c=1)
        if info != 0:
            raise RuntimeError(f"LAPACK dormqr failed (info = {info}).")
        if not np.shares_memory(out, V):  # a wrapper that copied after all
            C[...] = out
        for j in range(m - 1, -1, -1):  # backward: each column moves right, likewise
            flat[j * d + 1 : (j + 1) * d] = flat[j * (d - 1) : (j + 1) * (d - 1)]
        V[0] = first
        return V

    def back(self, V: np.ndarray) -> np.ndarray:
        """``Q V`` in new memory, for eigenvectors `V` of ``T`` as columns: ``Q = diag(1, Q')``,
        ``Q'`` the product of dsytrd's reflectors, stored below the diagonal of rows 1.. as a QR
        factorisation stores its own (LAPACK's ``dormtr`` does the same through ``dormqr``)."""
        U = np.empty_like(V)
        U[0] = V[0]
        reflectors = self.reflectors
        work = int(lapack.dormqr("L", "N", reflectors, self.tau, V[1:], -1)[1][0])
        U[1:], _, info = lapack.dormqr("L", "N", reflectors, self.tau, V[1:], work)
        if info != 0:
            raise RuntimeError(f"LAPACK dormqr failed (info = {info}).")
        return U


def _pack_below_first_row(flat: np.ndarray, d: int, m: int) -> np.ndarray:
    """Rows 1.. of the first `m` columns of the Fortran-ordered d-row matrix in `flat`, packed
    in place into a contiguous (d - 1) x m Fortran array at its start (returned as a view).
    Forward: each column moves left, never over one not yet moved."""
    for j in range(m):
        flat[j * (d - 1) : (j + 1) * (d - 1)] = flat[j * d + 1 : (j + 1) * d]
    return flat[: (d - 1) * m].reshape((d - 1, m), order="F")


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
