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
it is asked for at most `LANCZOS_MAX_COUNT` pairs (`lanczos_max_count`) unless the spectrum
looks graded at the cut (`GradedProbe`), then at most `LANCZOS_GRADED_MAX_COUNT`
(`lanczos_chosen`): beyond, LAPACK answers from one tridiagonal reduction (0.35-0.4x there). A
single start vector finds one copy of an exactly repeated eigenvalue first; the caller's
Cholesky certificate (`_partial.dense_certified_top`) fails when a copy above the cut was
missed, whatever the Ritz pairs, so a miss costs time, not the answer.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from .sylvester import count_above

__all__ = [
    "LANCZOS_GRADED_MAX_COUNT",
    "LANCZOS_MAX_COUNT",
    "LANCZOS_SMALL_FEATURES",
    "LANCZOS_SMALL_MAX_COUNT",
    "MIN_NCV",
    "GradedProbe",
    "fortran_transpose",
    "lanczos_chosen",
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
# From LANCZOS_SMALL_FEATURES on, ARPACK is also tried for up to LANCZOS_GRADED_MAX_COUNT pairs
# where the spectrum looks graded at the cut (`GradedProbe`). At d = 2000 on a family of 13
# spectra, with 24 and 50 eigenvalues above the cut (ARPACK certified by its Cholesky factor,
# against the reduction's pairs, as fractions of one eigh): twelve decades 0.26 / 0.29 against
# 0.35 / 0.37, a spiked identity 0.22 / 0.25 against 0.49 / 0.47 (its eigh deflates: 0.53 s
# against 0.59-0.69 s for the others), power laws 1/i and 1/i^2 0.15-0.26 against 0.36-0.44;
# where the probe said no, ARPACK failed within its budget (log-uniform over 2 and 4 decades,
# Wishart edges, a cut inside a spread bulk: 0.28-0.36x lost, then the reduction) or needed
# more products than the reduction costs (24 above a cluster of 60 close eigenvalues: 0.46x
# against 0.34x). At 64 pairs, graded spectra of 5-7 decades needed 245-288 products against a
# budget of 258: the graded route stops at 50.
LANCZOS_GRADED_MAX_COUNT = 50
# The probes: (step, lowest, highest ratio of the submatrix's count at cut / step to the count
# at the cut). Every other row and column decides; every fourth (1/8 of its cost: 1.6 ms
# against 8.4 ms at d = 2000) first rules out the plainly ungraded with a wider band.
GRADED_PROBES = ((4, 0.5, 2.0), (2, 0.8, 1.1))


class _OverBudget(Exception):
    pass


class GradedProbe:
    """Whether the eigenvalues of a symmetric `S` above `cut` look graded, for ARPACK.

    A principal submatrix on every `step`-th row and column keeps about ``lam / step`` of an
    eigenvalue ``lam`` that stands out from those below it (its unit eigenvector keeps about
    ``1 / step`` of its squared norm on those coordinates), plus a fraction of the rest's mean.
    Where the spectrum decays through the cut (each eigenvalue a fixed fraction above the next,
    or spikes over a low bulk), the submatrix then has about as many eigenvalues above
    ``cut / step`` as `S` has above `cut`; at the edge of a bulk (a Wishart spectrum, a uniform
    bulk) it mixes the bulk and has several times as many. The first is where the Lanczos
    method's relative gaps are wide and ARPACK converges in few products, the second where it
    needs many more (`LANCZOS_GRADED_MAX_COUNT`'s notes). With `count`, the number of
    eigenvalues above `cut`, `looks_graded` compares the counts of `GRADED_PROBES`, cheapest
    first (each runs once, in single precision).

    Only a route is chosen here: ARPACK's pairs are certified whatever the probe said.

    Examples
    --------
    >>> import numpy as np
    >>> Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((400, 400)))
    >>> decades = np.logspace(12.0, 0.0, 400)  # 20 above the cut, then the rest, all graded
    >>> GradedProbe((Q * decades) @ Q.T, (decades[19] + decades[20]) / 2).looks_graded(20)
    True
    >>> edge = np.r_[np.linspace(4.0, 3.1, 20), np.linspace(3.0, 0.0, 380)]  # a bulk's edge
    >>> GradedProbe((Q * edge) @ Q.T, 3.05).looks_graded(20)
    False
    """

    def __init__(self, S: np.ndarray, cut: float) -> None:
        self._S, self._cut = S, cut
        self._counts: dict[int, int] = {}

    def _count(self, step: int) -> int:
        if step not in self._counts:
            sub = self._S[::step, ::step]
            self._counts[step] = count_above(sub, self._cut / step, single=True)
        return self._counts[step]

    def may_be_few(self, most: int) -> bool:
        """Whether as few as `most` eigenvalues above the cut fit the probe on every other row
        and column: its count at ``cut / 2`` at most ``1.1 most`` (the upper end of that
        probe's band in `GRADED_PROBES`). Spikes over a bulk and graded spectra keep about as
        many above ``cut / 2`` as `S` has above the cut (the notes above); a bulk's edge has
        several times as many, so there a count of at most `most` is possible but ARPACK
        needs many products for it."""
        step, _, highest = GRADED_PROBES[-1]
        return self._count(step) <= highest * most

    def looks_graded(self, count: int, most: int | None = None) -> bool:
        """Whether `count` eigenvalues above the cut look graded; with `most`, whether some
        count from `count` (a lower bound) to `most` could."""
        high = count if most is None else most
        return all(
            lowest * count <= self._count(step) <= highest * high
            for step, lowest, highest in GRADED_PROBES
        )


def lanczos_max_count(d: int) -> int:
    """The most pairs ARPACK is asked for at `d` features where an exact count chose it,
    whatever the spectrum's shape (`lanczos_chosen`)."""
    return LANCZOS_SMALL_MAX_COUNT if d < LANCZOS_SMALL_FEATURES else LANCZOS_MAX_COUNT


def lanczos_chosen(S: np.ndarray, cut: float, count: int) -> bool:
    """Whether ARPACK is tried for the `count` eigenpairs of `S` above `cut` (an exact count):
    at most `lanczos_max_count`, or from `LANCZOS_SMALL_FEATURES` on at most
    `LANCZOS_GRADED_MAX_COUNT` where the spectrum looks graded at the cut (`GradedProbe`)."""
    d = S.shape[0]
    if count <= lanczos_max_count(d):
        return True
    if d < LANCZOS_SMALL_FEATURES or count > LANCZOS_GRADED_MAX_COUNT:
        return False
    return GradedProbe(S, cut).looks_graded(count)


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
