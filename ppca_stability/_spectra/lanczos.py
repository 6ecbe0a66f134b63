"""The top eigenpairs of a dense covariance when their number is known: ARPACK's implicitly
restarted Lanczos method (`scipy.sparse.linalg.eigsh`) on ``x -> S x``, within a budget of
products.

Where the count of eigenvalues above a cut is known exactly (Sylvester's law of inertia,
`_spectra.sylvester`), a map needs exactly that many pairs, and ARPACK converges them alone. One
product is a matrix-vector product (memory-bound), but a single-vector Lanczos run reaches the
wanted pairs in far fewer of them than the block method of `_spectra.partial` needs block
products; at d = 2000 on one thread, as fractions of one full ``numpy.linalg.eigh`` (the count
known, before the Cholesky certificate; `benchmarks/bench_routes.py`'s spectra):

================================  ==============  =================================
spectrum, eigenvalues above       ARPACK          block Krylov (block 16)
================================  ==============  =================================
60 over a gap (bench_partial)     0.17            0.27
60, no gap at the cut             0.18            gave up after 0.32 (then syevr)
Wishart edge, 10 / 3              0.24 / 0.17     gave up after 0.03 (then syevr)
twelve decades, 10 / 50           0.14 / 0.22     gave up after 0.04 / 0.08
power law 1/i, 10 / 50            0.07 / 0.15     0.19 / 0.49
spikes over a bulk, 10            0.03            0.09-0.16
Wishart edge, 50                  0.57            gave up after 0.05
spread bulk, 50 (40 in the bulk)  0.94            gave up after 0.08
================================  ==============  =================================

The last two rows are why the run has a budget (`max_products`) and why, from 1024 features on,
it is asked for at most `LANCZOS_MAX_COUNT` pairs (`lanczos_max_count`): beyond either, LAPACK
answers from one tridiagonal reduction (0.35-0.4x there). A single start vector finds one copy
of an exactly repeated eigenvalue first; the caller's Cholesky certificate
(`_partial.dense_certified_top`) fails when a copy above the cut was missed, whatever the Ritz
pairs, so a miss costs time, not the answer.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

__all__ = [
    "LANCZOS_MAX_COUNT",
    "LANCZOS_SMALL_FEATURES",
    "LANCZOS_SMALL_MAX_COUNT",
    "MIN_NCV",
    "fortran_transpose",
    "lanczos_max_count",
    "lanczos_ncv",
    "lanczos_top",
    "product_budget",
]

# ARPACK's Krylov dimension: 2k + 1 (its own advice), at least MIN_NCV; at d = 2000 ncv = 20 or
# 40 for 3-10 pairs changed the products by at most 15 % either way.
MIN_NCV = 20

# A run for k pairs gives up for LAPACK after max(MIN_PRODUCTS, d // PRODUCT_DIVISOR, twice
# its Krylov dimension) matrix-vector products (`product_budget`): at d = 2000 on one thread a
# product costs about 1/800 of a full eigh, so a failed attempt costs about 0.3x one. The runs
# that converged there took 21-210 products (3-10 pairs) and 122-163 (50-60 pairs); those that
# did not would have needed 370 (a Wishart edge, 50 pairs) and 743 (50 pairs, 40 of them inside
# a uniform bulk).
MIN_PRODUCTS = 100
PRODUCT_DIVISOR = 8
# The most pairs a run is asked for where an exact count chose it (`stability_map`'s route,
# `spectrum(data=X, above=a)` from a covariance it formed), `lanczos_max_count`: beyond this,
# LAPACK on one tridiagonal reduction. From LANCZOS_SMALL_FEATURES on, LANCZOS_MAX_COUNT: for
# 3-10 pairs every spectrum of bench_routes converged within its budget at d = 2000 and 4000;
# for 16-50 pairs a Wishart edge and a cut inside a spread bulk needed 169-1087 products
# (`_ppca.route`'s notes), and a failed run cost more than a successful one saved. Below, the
# reduction costs relatively more (50-64 pairs at d = 784: 0.51-0.63x one eigh, against
# 0.35-0.39x at d = 2000) and a product less, so ARPACK is tried for up to
# LANCZOS_SMALL_MAX_COUNT: MNIST-test's 23 pairs above 0.5 took 9.8 ms, the reduction 22 ms.
LANCZOS_MAX_COUNT = 10
LANCZOS_SMALL_FEATURES = 1024
LANCZOS_SMALL_MAX_COUNT = 64


class _OverBudget(Exception):
    pass


def lanczos_max_count(d: int) -> int:
    """The most pairs ARPACK is asked for at `d` features where an exact count chose it."""
    return LANCZOS_SMALL_MAX_COUNT if d < LANCZOS_SMALL_FEATURES else LANCZOS_MAX_COUNT


def fortran_transpose(S: np.ndarray) -> np.ndarray:
    """``S^T`` in Fortran order (a view when `S` is C-ordered), the layout SciPy's BLAS reads
    without a copy: with ``trans=1`` its products are those of ``S``."""
    return S.T if S.flags.c_contiguous else np.asfortranarray(S).T


def lanczos_ncv(d: int, k: int) -> int:
    """ARPACK's Krylov dimension for the top `k` of `d`: ``2k + 1``, at least `MIN_NCV`."""
    return min(d, max(2 * k + 1, MIN_NCV))


def product_budget(d: int, k: int) -> int:
    """The products a run for the top `k` of `d` may take before LAPACK answers instead."""
    return max(MIN_PRODUCTS, d // PRODUCT_DIVISOR, 2 * lanczos_ncv(d, k))


def lanczos_top(
    S: np.ndarray, k: int, *, rng: np.random.Generator, max_products: int, rtol: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """The `k` largest eigenpairs of the symmetric `S`, eigenvalues descending and unit
    eigenvectors as columns, each residual ``||S u - lam u||`` within ``rtol * lam`` (ARPACK's
    criterion); None when `max_products` matrix-vector products do not suffice, or unless
    ``0 < k < d`` (ARPACK's range).

    Examples
    --------
    >>> import numpy as np
    >>> S = np.diag(np.arange(1.0, 101.0))
    >>> lam, U = lanczos_top(S, 2, rng=np.random.default_rng(0), max_products=500, rtol=1e-12)
    >>> lam
    array([100.,  99.])
    >>> lanczos_top(S, 2, rng=np.random.default_rng(0), max_products=3, rtol=1e-12) is None
    True
    """
    d = S.shape[0]
    if not 0 < k < d:
        return None
    # SciPy's BLAS, the library of ARPACK and of the Cholesky certificate that follows: NumPy's
    # OpenBLAS threads would spin beside them (`_partial.dense_operator`).
    St = fortran_transpose(S)
    n = 0

    def matvec(x: np.ndarray) -> np.ndarray:
        nonlocal n
        n += 1
        if n > max_products:
            raise _OverBudget
        return scipy.linalg.blas.dgemv(1.0, St, np.ravel(x), trans=1)

    op = scipy.sparse.linalg.LinearOperator((d, d), matvec=matvec, dtype=np.float64)
    try:
        lam, U = scipy.sparse.linalg.eigsh(
            op,
            k=k,
            which="LA",
            v0=rng.standard_normal(d),
            ncv=lanczos_ncv(d, k),
            tol=rtol,
            maxiter=max_products,
        )
    except (_OverBudget, scipy.sparse.linalg.ArpackNoConvergence):
        return None
    order = np.argsort(lam)[::-1]
    return np.ascontiguousarray(lam[order]), np.ascontiguousarray(U[:, order])
