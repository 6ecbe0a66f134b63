"""How many eigenvalues of a symmetric matrix lie above a value, without an eigensolver.

Sylvester's law of inertia: ``S - c I = L D L^T`` with ``L`` invertible has as many positive
eigenvalues as the block-diagonal ``D``, so one symmetric indefinite factorisation (LAPACK
``dsytrf``, Bunch-Kaufman pivoting: 1 x 1 and 2 x 2 blocks) counts the eigenvalues of ``S`` above
``c`` in ``d^3 / 3`` flops, about a sixth of a tridiagonal reduction's work. The factorisation is
backward stable, so the count is exact for a matrix within round-off of ``S - c I``: only
eigenvalues within about ``d eps ||S||`` of ``c`` can be miscounted. Callers use it to choose a
route, never as an answer (`stability_map` verifies whatever route it takes).

With ``single=True`` (the route's choice) the count runs in single precision (``ssytrf``:
0.044 s against 0.093 s for ``dsytrf`` at d = 2000, one thread) where the cut lies above
single precision's round-off threshold ``d eps_32 ||S||_F`` (`_base.tolerance`'s rule; the
Frobenius norm bounds ``||S||_2``); below it, in double precision. Only eigenvalues within about
that distance of the cut can then be miscounted, and a miscount costs the caller time, not the
answer: the Cholesky certificate of the route it chose fails, and LAPACK answers.

Once a tridiagonal reduction ``S = Q T Q^T`` has been computed, the same count is the number of
positive pivots of ``T - c I`` (`count_above_tridiagonal`, Sturm's sequence: ``d`` operations).

``scipy.linalg.ldl`` runs the same ``dsytrf`` and then unpacks ``L`` and ``D`` and permutes
them: 0.148x one full ``numpy.linalg.eigh`` at d = 2000 against 0.069x for ``dsytrf`` alone
(one thread, best of 3, interleaved); ``benchmarks/bench_routes.py`` measures both.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np
import scipy.linalg

from .._base.threads import one_blas_thread
from .._base.tolerance import roundoff_threshold

__all__ = ["all_above", "count_above", "count_above_tridiagonal"]

EPS32 = float(np.finfo(np.float32).eps)
ONE_THREAD_BELOW = 1024


def count_above(S: np.ndarray, cut: float, *, single: bool = False) -> int:
    """The number of eigenvalues of the symmetric `S` strictly above `cut` (an exact zero pivot
    counts as an eigenvalue at `cut`, not above it), from the inertia of ``S - cut I``; with
    `single`, in single precision where the cut lies above its round-off (module notes)."""
    d = S.shape[0]
    if d == 0:
        return 0
    A, slack = _single(S) if single else (None, 0.0)
    if A is None or not cut > slack:
        A = _double(S)
    A.flat[:: d + 1] -= cut
    sytrf, sytrf_lwork = scipy.linalg.lapack.get_lapack_funcs(("sytrf", "sytrf_lwork"), (A,))
    lwork = int(sytrf_lwork(d, lower=1)[0])
    # One thread below ONE_THREAD_BELOW rows: Bunch-Kaufman's pivot search is a sequence of small
    # column operations that two threads share badly when the cores are busy (d = 512: 8 ms on
    # one thread, up to 96 ms on two), and gain nothing from when idle. Above, the blocked
    # updates dominate: single precision, idle, best of 7, one thread against two: 12.3 / 11.1
    # ms at d = 1024, 48 / 36 ms at 2000, 151 / 104 ms at 3000.
    with _threads_for(d):
        ldu, ipiv, info = sytrf(A, lower=1, lwork=lwork, overwrite_a=True)
    if info < 0:  # an argument LAPACK refused: a bug here, not a property of S
        raise RuntimeError(f"LAPACK {sytrf.typecode}sytrf rejected argument {-info}.")
    return _positive_inertia(np.diagonal(ldu), np.diagonal(ldu, -1), ipiv)


def all_above(S: np.ndarray, cut: float, *, single: bool = False) -> bool:
    """Whether every eigenvalue of the symmetric `S` lies above `cut`: ``count_above(S, cut) ==
    d``, asked as whether ``S - cut I`` has a Cholesky factor (``potrf``: no pivot search, and
    it stops at the first pivot that is not positive). For the same use as `count_above`:
    choosing a route, never an answer.

    With `single`, in single precision, whose round-off ``slack`` (module notes) goes to the
    yes: where the cut lies above three slacks, a factor of ``S - (cut - 2 slack) I`` answers,
    so a yes says that no eigenvalue lies below ``cut - 3 slack`` (every one above the cut, or
    within round-off of it, as a bulk tied with the cut) and a no that one lies below
    ``cut - slack``. (A factor at the cut itself said no for a covariance whose 1940 of 2000
    eigenvalues lay 1e-8 above it, and sent the route to a reduction that then finished every
    pair from ``T``: 1.05-1.1x one eigh.) Where the cut lies lower, a factor at the cut raised
    by two slacks answers yes (round-off cannot have moved an eigenvalue from below the cut to
    above the raised one), and only where it fails does double precision decide. At d = 1000
    (every other row and column of a d = 2000 covariance, one thread, with the copy and the
    shift): 6.0-6.3 ms in single precision, 12-15 ms in double (a Wishart spectrum cut below
    its smallest eigenvalue, 2e-7 against a slack of 5e-3: 7.1-7.4 ms through the raised cut),
    against 8-9 and 13-15 ms for the count."""
    d = S.shape[0]
    if d == 0:
        return True
    if single:
        A, slack = _single(S)
        if cut > 3.0 * slack:
            return _has_cholesky_factor(A, cut - 2.0 * slack)
        if _has_cholesky_factor(A, cut + 2.0 * slack):
            return True
    return _has_cholesky_factor(_double(S), cut)


def _has_cholesky_factor(A: np.ndarray, cut: float) -> bool:
    """Whether ``A - cut I`` has a Cholesky factor (`A`, Fortran-ordered, is overwritten)."""
    d = A.shape[0]
    A.flat[:: d + 1] -= cut
    potrf = scipy.linalg.lapack.get_lapack_funcs("potrf", (A,))
    with _threads_for(d):
        info = int(potrf(A, lower=1, clean=0, overwrite_a=1)[1])
    if info < 0:  # an argument LAPACK refused: a bug here, not a property of S
        raise RuntimeError(f"LAPACK {potrf.typecode}potrf rejected argument {-info}.")
    return info == 0


def _threads_for(d: int) -> AbstractContextManager[object]:
    """One BLAS thread below ONE_THREAD_BELOW rows (`count_above`'s notes), and for one more
    reason: SciPy's BLAS is not NumPy's, and its threads keep spinning for a while after a call
    on two of them, so a numpy.linalg.eigh right after ran against them (a map at d = 2000 that
    tested every other row and column by `all_above` on two threads before one eigh: 1.21-1.44x
    that eigh, 1.02-1.15x with the count on one)."""
    return one_blas_thread() if d < ONE_THREAD_BELOW else nullcontext()


def _single(S: np.ndarray) -> tuple[np.ndarray, float]:
    """A float32 Fortran-ordered copy of `S` for LAPACK to overwrite, and single precision's
    round-off threshold for it, ``d eps_32 ||S||_F`` (module notes)."""
    A = np.array(fortran_view(S), dtype=np.float32, order="F")
    return A, roundoff_threshold(float(np.linalg.norm(A)), A.shape[0], EPS32)


def _double(S: np.ndarray) -> np.ndarray:
    """A float64 Fortran-ordered copy of `S` for LAPACK to overwrite."""
    return np.array(fortran_view(S), dtype=np.float64, order="F")


def fortran_view(S: np.ndarray) -> np.ndarray:
    """`S` itself, or for a C-ordered `S` its transpose, a Fortran-ordered view of the same
    symmetric matrix: copied into LAPACK's Fortran order without a transposition (1.7 ms against
    6.8 ms at d = 2000; NumPy's `eigh` copies its input so too). LAPACK then reads S's upper
    triangle, the same as its lower in a symmetric S (`check_cov` and `covariance` make every
    covariance exactly symmetric), so the result is the same to the bit."""
    return S.T if S.flags.c_contiguous else S


def _positive_inertia(diag: np.ndarray, sub: np.ndarray, ipiv: np.ndarray) -> int:
    """Positive eigenvalues of the block-diagonal ``D`` of a lower ``dsytrf``: a 1 x 1 block where
    ``ipiv[k] > 0``, else a 2 x 2 block on rows ``k, k + 1`` (``ipiv[k] = ipiv[k + 1] < 0``)."""
    d = diag.size
    two = np.zeros(d, dtype=bool)  # first rows of 2 x 2 blocks
    k = 0
    negative = ipiv < 0
    while k < d:
        if negative[k] and k + 1 < d:
            two[k] = True
            k += 2
        else:
            k += 1
    second = np.zeros(d, dtype=bool)
    second[1:] = two[:-1]
    ones = ~two & ~second
    count = int(np.count_nonzero(diag[ones] > 0))
    a, b, c = diag[two], sub[two[:-1]], diag[1:][two[:-1]]
    # A 2 x 2 block [[a, b], [b, c]]: one positive eigenvalue when det < 0 (Bunch-Kaufman's
    # choice), two when det > 0 and the trace is positive, one when det = 0 and the trace is.
    det, tr = a * c - b * b, a + c
    count += int(np.count_nonzero(det < 0))
    count += 2 * int(np.count_nonzero((det > 0) & (tr > 0)))
    count += int(np.count_nonzero((det == 0) & (tr > 0)))
    return count


def count_above_tridiagonal(diag: np.ndarray, off: np.ndarray, cut: float) -> int:
    """The number of eigenvalues of the symmetric tridiagonal matrix with diagonal `diag` and
    off-diagonal `off` above `cut`: the positive pivots of ``T - cut I = L D L^T`` (its Sturm
    count; ``d`` operations). A pivot smaller in magnitude than LAPACK's ``pivmin`` (the smallest
    normal number times the largest squared off-diagonal entry, as ``dstebz`` takes it) is
    replaced by ``-pivmin``, so an eigenvalue at `cut` counts as not above it."""
    a = (np.asarray(diag, dtype=np.float64) - cut).tolist()
    b2 = np.square(np.asarray(off, dtype=np.float64))
    pivmin = float(np.finfo(np.float64).tiny) * max(1.0, float(b2.max()) if b2.size else 1.0)
    b2l = b2.tolist()
    positive = 0
    q = 1.0
    for i, ai in enumerate(a):
        q = ai - (b2l[i - 1] / q if i else 0.0)
        if abs(q) < pivmin:
            q = -pivmin
        if q > 0.0:
            positive += 1
    return positive
