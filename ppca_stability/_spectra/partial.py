"""The top eigenpairs of a covariance without its full eigendecomposition: the partial spectrum.

Two routes, both returning descending eigenvalues and sign-fixed unit eigenvectors:

* a dense covariance above a cut: the block Krylov method below on ``V -> S V``, its cut then
  certified exactly by one Cholesky factor (`dense_certified_top`: the Ritz pairs ``U, lam``
  found, ``cut I - (S - U diag(lam) U^T)`` factors only if every eigenvalue left out lies below
  ``cut``, by Weyl's inequality, whatever the accuracy of ``U``; about 0.3x one full
  ``numpy.linalg.eigh`` at d = 2000 with 60 eigenvalues above the cut; with their number known
  exactly, ARPACK's Lanczos method takes the block method's place, `_spectra.lanczos`). Where it
  cannot answer (a multiplicity above the block size, a run over its budget, too many
  eigenvalues above the cut), and for the top ``n_components``: LAPACK's ``syevr``
  (``scipy.linalg.eigh(..., subset_by_value=...)`` or ``subset_by_index``) after one tridiagonal
  reduction, exact to
  round-off (about 0.45-0.6x one full ``eigh``: the reduction alone is 0.44x);
* a data matrix (NumPy, memory-mapped ``.npy`` or Dask), never forming the d x d covariance: a
  block Krylov method (block Lanczos with full reorthogonalisation and thick restarts, Golub &
  Underwood 1977; the randomised block Krylov of Musco & Musco 2015) on the centred operator
  ``v -> X_c^T (X_c v) / n``. Each step applies the operator to a block of vectors, one pass
  over the data made of matrix-matrix products (chunks of rows for NumPy, Dask's own
  distributed matrix products for a Dask array, so it runs on the active Dask scheduler), and
  Rayleigh-Ritz on the whole basis yields Ritz pairs whose residuals ``||C x - theta x||`` are
  known exactly from the stored products. A pair is returned only once its residual is below
  ``RESIDUAL_RTOL * lam_max``; ``ValueError`` when that does not happen within ``MAX_PASSES``.
  With too many eigenvalues above the cut (a cut inside the noise bulk) or too many passes, its
  caller hands over (`BudgetExceeded`) to an exact route: for ``n < d`` the eigenpairs of the
  n x n Gram matrix ``X_c X_c^T / n`` (`gram_eigh`; its non-zero eigenvalues are the
  covariance's), mapped to the covariance's eigenvectors ``X_c^T v / sqrt(n lam)``
  (`gram_vectors`), both over blocks of columns.

Certifying a cut. For ``above=a`` a run stops when the next Ritz pair has converged to
``CERTIFY_RTOL`` and its value plus its residual (a bound for the eigenvalue it approximates)
lies below ``a`` beyond the tie tolerance. That alone would trust the Krylov space to have found
the top of the spectrum first, which fails for an eigenvalue whose multiplicity exceeds the
block size (a block of ``b`` start vectors meets an eigenspace in at most ``b`` directions) or
whose eigenvector the start block nearly misses. A value found fewer times than the block size
has all its copies (with probability 1 over the start block); when some value, or a cluster
within ``CLUSTER_RTOL``, was found ``b`` times or more, every pair found is *locked* and a fresh
run from a new random block, on the deflated operator ``P C P`` (``P`` projecting out the locked
vectors), must find nothing above the cut (for ``n_components``: nothing above the k-th value
beyond the tie tolerance); whatever it does find is locked too and the check repeats. The
check's own bound then becomes the spectrum's ``rest_max``. (The check is conditional because
converging the top of a continuous bulk from a fresh start costs more passes than the whole
first run: 1.2-1.9x a full ``eigh`` at n = d = 3000 instead of 0.2x.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg

from .._base.threads import blas_thread_count, blas_threads, one_blas_thread
from .._base.tolerance import DEFAULT_RTOL, roundoff_threshold, tie_sign
from .container import sign_fix
from .covariance import is_dask_array
from .lanczos import fortran_transpose, lanczos_top, product_budget

__all__ = [
    "BudgetExceeded",
    "PartialResult",
    "dense_top",
    "dense_operator",
    "data_operator",
    "krylov_top",
]

# A Ritz pair is accepted when ||C x - theta x|| <= RESIDUAL_RTOL * lam_max: its eigenvalue is
# then within that of an exact one (and far closer, res^2 / gap, when separated), its vector
# within res / gap.
RESIDUAL_RTOL = 1e-10
# The Ritz pair just below a cut certifies it only once its residual is below CERTIFY_RTOL *
# lam_max: then it approximates an eigenvalue, and the largest one not returned (the Krylov
# space finds the top of the spectrum first).
CERTIFY_RTOL = 1e-4
# Smallest block of vectors the Krylov method applies the operator to at once; it also bounds
# the multiplicity of an eigenvalue that is certain to be found.
MIN_BLOCK = 16
# Eigenvalues within this relative distance count as one cluster when deciding whether a run
# may have missed copies of a multiple eigenvalue (`_may_hide_copies`).
CLUSTER_RTOL = 1e-6
# Extra vectors beyond those wanted (the oversampling of randomised range finders).
OVERSAMPLE = 10
# Operator applications (passes over the data) before the method gives up.
MAX_PASSES = 300
# The data operator folds the centring into its products when ||mean||^2 <= FUSED_MEAN * trace
# (rounding then at most ~10x that of centred data); otherwise it centres chunks of
# CENTRED_CHUNK bytes, which stay in cache between the chunk's two products.
FUSED_MEAN = 100.0
CENTRED_CHUNK = 2**20
# The Gram route centres blocks of columns in float64 copies of at most this many bytes.
GRAM_CHUNK = 64 * 2**20
# The dense route (`dense_certified_top`) gives up on the block Krylov method, for LAPACK, after
# max(MIN_DENSE_PASSES, d // DENSE_PASS_DIVISOR) passes: at d = 2000 a pass costs about 1/70 of
# a full eigh, so a failed attempt costs at most about 0.3x one.
MIN_DENSE_PASSES = 20
DENSE_PASS_DIVISOR = 100
# A run for the top pairs with a pass budget gives up as soon as, at the mean pace of its last
# PACE_WINDOW passes, it would need more than PACE_SLACK times the budget (`_out_of_reach`).
PACE_WINDOW = 3
PACE_SLACK = 1.5
# Columns of a new block whose norm after orthogonalisation is round-off of the block's largest
# norm (`roundoff_threshold(max ||w||, d)`, the package's one rule) lie in the span already found
# (the Krylov space is exhausted in that direction) and are dropped. A fixed fraction (1e-8 was
# used) drops genuine directions of a spectrum spanning more than 8 decades: at d = 512 with
# eigenvalues 1e12, 1e6, 1e3 and a bulk near 1, every direction but the top one was dropped
# after two passes and the run failed with "0 pairs converged".


class BudgetExceeded(Exception):
    """A Krylov run stopped by its budget (`reason`: "count" or "passes"), for a fallback to an
    exact route (LAPACK on a dense covariance, the Gram matrix of data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PartialResult:
    """Converged top eigenpairs, descending, and a bound for every eigenvalue not among them."""

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    rest_max: float | None
    n_passes: int


# ----------------------------------------------------------------------------- dense covariance
def dense_top(
    S: np.ndarray, *, above: float | None = None, n_components: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of the dense `S` above `above` (all of them) or its top `n_components`,
    descending, sign-fixed, by LAPACK's syevr on the requested subset only."""
    d = S.shape[0]
    if n_components is not None:
        lam, U = scipy.linalg.eigh(
            S, subset_by_index=[d - n_components, d - 1], driver="evr", check_finite=False
        )
    else:
        lam, U = scipy.linalg.eigh(
            S, subset_by_value=[above, np.inf], driver="evr", check_finite=False
        )
    return np.ascontiguousarray(lam[::-1]), sign_fix(np.ascontiguousarray(U[:, ::-1]))


def dense_certified_top(
    S: np.ndarray,
    *,
    above: float,
    cut: float,
    max_count: int,
    rng: np.random.Generator,
    count: int | None = None,
) -> PartialResult | str:
    """Every eigenpair of the dense `S` not below `above` (ties included), by block Krylov on
    ``V -> S V`` and certified by one Cholesky factor (module notes), with ``rest_max = cut``.

    With `count`, the number of eigenvalues above `cut` as Sylvester's law of inertia gave it
    (`_spectra.sylvester`), ARPACK's Lanczos method (`_spectra.lanczos`) converges the top
    `count` pairs alone, within a budget of products, and stops: the Cholesky factor certifies
    the cut, so the run need not also converge the next pair below it, which is the slow part
    where no gap separates the cut from the values under it (that module's table: 0.03-0.24x
    one full ``eigh`` at d = 2000 where the block method took 0.09-0.49x or gave up). A wrong
    count costs time, not the answer: the factor fails and LAPACK answers. With ``count = 0``
    no run is needed, only the factor.

    Returns the reason instead when this route does not answer, and LAPACK must: ``"count"``
    (more than `max_count` eigenvalues are not below `above`: Ritz values never exceed the
    eigenvalues they approximate, so this is certain), ``"passes"`` (the run did not converge
    within its budget: ``max(MIN_DENSE_PASSES, d // DENSE_PASS_DIVISOR)`` block passes, or
    `_spectra.lanczos.product_budget` products with a count) or ``"certificate"`` (the Cholesky
    factor failed: an eigenvalue the run missed, or one in ``[cut, above)``).
    """
    d = S.shape[0]
    passes = 0
    if count == 0:
        lam, U = np.zeros(0), np.zeros((d, 0))
    elif count is not None:
        found = lanczos_top(
            S, count, rng=rng, max_products=product_budget(d, count), rtol=RESIDUAL_RTOL
        )
        if found is None:
            return "passes"
        lam, U = found
        # A count too large (round-off at the cut) returns pairs below it: not held.
        keep = int(np.count_nonzero(lam >= cut))
        lam, U = lam[:keep], U[:, :keep]
    else:
        try:
            run = _with_threads(
                dense_operator(S),
                lambda op, bar: _krylov(
                    op,
                    above=above,
                    n_components=None,
                    rng=rng,
                    bar=bar,
                    name="above",
                    max_count=max_count,
                    max_passes=max(MIN_DENSE_PASSES, d // DENSE_PASS_DIVISOR),
                ),
            )
        except BudgetExceeded as exc:
            return exc.reason
        lam, U, passes = run.eigenvalues, run.eigenvectors, run.n_passes
    # A = cut I - (S - U diag(lam) U^T). Its Cholesky factor exists only if every eigenvalue of
    # S - U diag(lam) U^T is below cut; by Weyl's inequality (U diag(lam) U^T is positive
    # semi-definite of rank <= m), lam_{m+1}(S) <= lam_1(S - U diag(lam) U^T) < cut, whatever
    # the accuracy of U. The Ritz values then lie within their residuals of lam_1..lam_m.
    # The upper triangle of A (Fortran order), by SciPy's BLAS and LAPACK alone (see
    # `dense_operator`): A = -S, its diagonal raised by cut, plus a rank-m update.
    A = np.negative(S).T
    A.flat[:: d + 1] += cut
    if lam.size:
        A = scipy.linalg.blas.dsyrk(1.0, U * np.sqrt(lam), beta=1.0, c=A, overwrite_c=True)
    info = scipy.linalg.lapack.dpotrf(A, lower=False, clean=False, overwrite_a=True)[1]
    if info != 0:
        return "certificate"
    return PartialResult(lam, sign_fix(U), cut, passes)


# ----------------------------------------------------------------------------- operators
@dataclass(frozen=True)
class Operator:
    """``V -> C V`` for a (d, b) block ``V``, one pass over the data, with C's size and trace."""

    n_features: int
    trace: float
    matmat: Callable[[np.ndarray], np.ndarray]
    kind: str = "data"  # "data" (passes over a data matrix) or "covariance" (a dense matrix)

    @property
    def pass_name(self) -> str:
        """What one application is called in messages."""
        return "passes over the data" if self.kind == "data" else "products with the covariance"


def dense_operator(S: np.ndarray) -> Operator:
    """``V -> S V`` through SciPy's BLAS, the library of the Cholesky certificate that follows
    in `dense_certified_top`. NumPy and SciPy each bundle an OpenBLAS whose threads spin for a
    while after a call; a factor right after a NumPy product shared the two cores with them
    (0.14 s instead of 0.06 s at d = 2000)."""
    St = fortran_transpose(S)

    def matmat(V: np.ndarray) -> np.ndarray:
        return scipy.linalg.blas.dgemm(1.0, St, V, trans_a=1)

    return Operator(S.shape[0], float(np.trace(S)), matmat, "covariance")


def data_operator(X: Any, n: int, mean: np.ndarray, trace: float, rows: int) -> Operator:
    """``C V = X_c^T (X_c V) / n`` with ``X_c = X - mean``, over chunks of at most `rows` rows
    (Dask: its own blocks, the subtraction fused into them).

    For NumPy data the centring is folded into the products when the mean is moderate
    (``||mean||^2 <= FUSED_MEAN * trace``): ``Y = B V - mean^T V`` and ``B^T Y - mean (1^T Y)``
    on each chunk ``B`` as stored, no centred copy. That reads the data twice per pass instead of
    writing and reading a copy: 25 ms instead of 55 ms per pass of 16 vectors at n = d = 3000.
    Its rounding error grows with ``||mean|| / sqrt(trace)``; beyond the bound each chunk is
    centred exactly in a float64 copy small enough to stay in cache (`CENTRED_CHUNK` bytes), so
    that its second product reads it from there.
    """
    if is_dask_array(X):
        Xc = _dask_centred(X, mean)

        def matmat(V: np.ndarray) -> np.ndarray:
            return np.asarray((Xc.T @ (Xc @ V)).compute()) / n

    elif float(mean @ mean) <= FUSED_MEAN * trace:

        def matmat(V: np.ndarray) -> np.ndarray:
            out = np.zeros((X.shape[1], V.shape[1]))
            shift = mean @ V
            total = np.zeros(V.shape[1])
            for i in range(0, X.shape[0], rows):
                B = X[i : i + rows]
                Y = B @ V
                Y -= shift
                total += Y.sum(axis=0)
                out += B.T @ Y
            out -= np.outer(mean, total)
            out /= n
            return out

    else:
        rows = min(rows, max(1, CENTRED_CHUNK // (8 * int(X.shape[1]))))

        def matmat(V: np.ndarray) -> np.ndarray:
            out = np.zeros((X.shape[1], V.shape[1]))
            for i in range(0, X.shape[0], rows):
                B = np.subtract(X[i : i + rows], mean, dtype=np.float64)
                out += B.T @ (B @ V)
            out /= n
            return out

    return Operator(X.shape[1], trace, matmat)


def _dask_centred(X: Any, mean: np.ndarray) -> Any:
    """The lazily centred float64 Dask array ``X - mean`` (Dask fuses the subtraction into the
    blocks of whatever product follows)."""
    import dask.array as da

    return X.astype(np.float64) - da.from_array(mean, chunks=-1)


# ----------------------------------------------------------------------------- Gram (dual) route
def _column_blocks(
    X: Any, mean: np.ndarray, progress: bool, desc: str
) -> Iterator[tuple[slice, np.ndarray]]:
    """``(columns, X_c[:, columns])`` over blocks of columns whose centred float64 copy fits in
    ``GRAM_CHUNK`` bytes (a memory-mapped file is read once over all blocks), with a tqdm bar
    over the columns when `progress`."""
    from tqdm.auto import tqdm

    n, d = int(X.shape[0]), int(X.shape[1])
    cols = max(1, GRAM_CHUNK // (8 * n))
    with tqdm(total=d, disable=not progress, desc=desc, unit="column") as bar:
        for j in range(0, d, cols):
            sl = slice(j, min(d, j + cols))
            yield sl, np.subtract(X[:, sl], mean[sl], dtype=np.float64)
            bar.update(sl.stop - sl.start)


def gram_eigh(
    X: Any, n: int, mean: np.ndarray, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors of the n x n Gram matrix ``X_c X_c^T / n``.

    Its eigenvalues are the covariance's non-zero ones (the other ``d - n`` are 0), and
    ``X_c^T v / sqrt(n lam)`` is the covariance's eigenvector for the pair ``(lam, v)``
    (`gram_vectors`). It costs ``n^2 d`` flops and ``n^2`` memory, whatever the number of
    eigenvalues above a cut: the route for ``n < d`` when too many lie above it for the Krylov
    method.
    """
    if is_dask_array(X):
        Xc = _dask_centred(X, mean)
        G = np.asarray((Xc @ Xc.T).compute())
    else:
        G = np.zeros((n, n))
        for _, B in _column_blocks(X, mean, progress, "Gram matrix"):
            G += B @ B.T
    G /= n
    lam, V = scipy.linalg.eigh(G, driver="evd", check_finite=False, overwrite_a=True)
    return np.ascontiguousarray(lam[::-1]), np.ascontiguousarray(V[:, ::-1])


def gram_vectors(
    X: Any, n: int, mean: np.ndarray, lam: np.ndarray, V: np.ndarray, progress: bool = False
) -> np.ndarray:
    """The covariance's unit eigenvectors ``X_c^T V diag(n lam)^-1/2`` for the Gram matrix's
    pairs ``(lam, V)``, ``lam > 0``; one more pass over the data, sign-fixed."""
    coef = V / np.sqrt(n * lam)
    if is_dask_array(X):
        U = np.asarray((_dask_centred(X, mean).T @ coef).compute())
    else:
        U = np.empty((int(X.shape[1]), lam.size))
        for sl, B in _column_blocks(X, mean, progress, "eigenvectors"):
            U[sl] = B.T @ coef
    return sign_fix(U)


# ----------------------------------------------------------------------------- block Krylov
def _orthonormalise(W: np.ndarray, Q: np.ndarray | None) -> np.ndarray:
    """Columns of `W` orthonormal to each other and to `Q` (twice is enough: Kahan-Parlett),
    dropping those already in the span."""
    norms = np.linalg.norm(W, axis=0)
    for _ in range(2):
        if Q is not None and Q.shape[1]:
            W = W - Q @ (Q.T @ W)
    Qw, R, _ = scipy.linalg.qr(W, mode="economic", pivoting=True)
    scale = max(float(norms.max(initial=0.0)), np.finfo(float).tiny)
    keep = np.abs(np.diag(R)) > roundoff_threshold(scale, W.shape[0])
    Qw = Qw[:, keep]
    if Q is not None and Q.shape[1] and Qw.shape[1]:  # one more pass after the QR's rounding
        Qw = Qw - Q @ (Q.T @ Qw)
        Qw, _ = np.linalg.qr(Qw)
    return Qw


def krylov_top(
    op: Operator,
    *,
    above: float | None,
    n_components: int | None,
    rng: np.random.Generator,
    progress: bool = False,
    name: str = "above",
    max_count: int | None = None,
    max_passes: int | None = None,
) -> PartialResult:
    """Top eigenpairs of the operator: every one above `above`, or the top `n_components`,
    each found pair locked and the rest checked by a fresh run on the deflated operator (see the
    module notes for the method).

    `BudgetExceeded` when a run finds more than `max_count` Ritz values not below `above`
    (certain: Ritz values never exceed the eigenvalues they approximate) or takes more than
    `max_passes` passes; without them only ``MAX_PASSES`` bounds a run (a ValueError).
    """
    from tqdm.auto import tqdm

    with tqdm(total=None, disable=not progress, desc="partial spectrum", unit="pass") as bar:
        return _with_threads(
            op,
            lambda op, bar: _krylov_checked(
                op, above, n_components, rng, bar, name, max_count, max_passes
            ),
            bar,
        )


def _with_threads(op: Operator, run: Callable[[Operator, Any], Any], bar: Any = None) -> Any:
    """``run(op, bar)`` with one BLAS thread for the bookkeeping and the caller's for `op`."""
    # The bookkeeping (orthonormalisation, Rayleigh-Ritz) is many small products that two BLAS
    # threads share badly (they spin): one thread for it, the caller's threads for the operator's
    # passes over the data. At n = d = 3000 on this 2-core machine: 0.9 s, against 2.5 s with
    # default threads throughout and 1.2 s with one thread throughout.
    threads = blas_thread_count()
    inner = op.matmat

    def matmat(V: np.ndarray) -> np.ndarray:
        with blas_threads(threads):
            return inner(V)

    with one_blas_thread():
        wrapped = Operator(op.n_features, op.trace, matmat, op.kind)
        return run(wrapped, bar if bar is not None else _NoBar())


class _NoBar:
    def update(self, n: int) -> None:
        pass


def _krylov_checked(
    op: Operator,
    above: float | None,
    n_components: int | None,
    rng: np.random.Generator,
    bar: Any,
    name: str,
    max_count: int | None = None,
    max_passes: int | None = None,
) -> PartialResult:
    """`_krylov`, its found pairs locked and the rest checked on the deflated operator while a
    run may have missed copies of a multiple eigenvalue (module notes); `max_count` and
    `max_passes` apply to each run."""
    first = _krylov(
        op,
        above=above,
        n_components=n_components,
        rng=rng,
        bar=bar,
        name=name,
        max_count=max_count,
        max_passes=max_passes,
    )
    lam, U, rest, passes = first.eigenvalues, first.eigenvectors, first.rest_max, first.n_passes
    scale = first.scale
    found_lam, found_U = lam, U
    while found_U.shape[1] < op.n_features and _may_hide_copies(found_lam, first.block):
        if above is not None:
            cut = above
        elif lam.size and lam[-1] > 0:
            # Only an eigenvalue above the k-th beyond the tie tolerance changes the answer.
            floor = roundoff_threshold(scale, op.n_features)
            cut = float(lam[-1]) * (1.0 + 4.0 * DEFAULT_RTOL) + 4.0 * floor
        else:
            break
        check = _krylov(
            _deflated(op, found_U),
            above=cut,
            n_components=None,
            rng=rng,
            bar=bar,
            name=name,
            scale=scale,
            start_orthogonal_to=found_U,
            max_count=max_count,
            max_passes=max_passes,
        )
        passes += check.n_passes
        if check.eigenvalues.size == 0:
            rest = check.rest_max if above is not None else None
            break
        # Missed eigenpairs (a multiplicity above the block size, or a start block nearly
        # orthogonal to an eigenvector): lock them too and check again.
        found_lam = np.concatenate([found_lam, check.eigenvalues])
        found_U = np.hstack([found_U, check.eigenvectors])
        if max_count is not None and above is not None and found_lam.size > max_count:
            raise BudgetExceeded("count")  # each is above the cut: certain, as in `_krylov`
        order = np.argsort(-found_lam, kind="stable")
        found_lam, found_U = found_lam[order], found_U[:, order]
        keep = found_lam.size if n_components is None else n_components
        lam, U = found_lam[:keep], found_U[:, :keep]
    return PartialResult(lam, sign_fix(np.array(U)), rest, passes)


def _may_hide_copies(lam: np.ndarray, block: int) -> bool:
    """Whether a run with `block` start vectors may have missed copies of an eigenvalue: some
    value was found `block` times or more, within ``CLUSTER_RTOL`` (a block meets an eigenspace
    in at most `block` directions, so a value found fewer times has all its copies; a tight
    cluster behaves like a multiple eigenvalue for as long as the method cannot split it)."""
    if lam.size < block:
        return False
    close = np.abs(np.diff(lam)) <= CLUSTER_RTOL * np.abs(lam[:-1])
    # Longest run of consecutive close pairs + 1 = the largest cluster.
    runs = np.diff(np.flatnonzero(np.concatenate([[True], ~close, [True]])))
    return bool(runs.max(initial=0) >= block)


def _deflated(op: Operator, U: np.ndarray) -> Operator:
    """``V -> P C P V`` with ``P = I - U U^T``: the operator without the locked eigenpairs."""

    def matmat(V: np.ndarray) -> np.ndarray:
        PV = V - U @ (U.T @ V)
        CV = op.matmat(PV)
        return CV - U @ (U.T @ CV)

    return Operator(op.n_features, op.trace, matmat, op.kind)


@dataclass(frozen=True)
class _Run:
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    rest_max: float | None
    n_passes: int
    scale: float
    block: int


def block_size(d: int, n_components: int | None) -> int:
    """The Krylov method's block: `MIN_BLOCK` vectors, or the components asked for and
    `OVERSAMPLE` more."""
    return min(d, max(MIN_BLOCK, (n_components or 0) + OVERSAMPLE))


def _krylov(
    op: Operator,
    *,
    above: float | None,
    n_components: int | None,
    rng: np.random.Generator,
    bar: Any,
    name: str,
    scale: float | None = None,
    start_orthogonal_to: np.ndarray | None = None,
    max_count: int | None = None,
    max_passes: int | None = None,
) -> _Run:
    """One block Krylov run (thick restarts) from a random start block; `scale` (``lam_max``, the
    unit of the residual tolerances) defaults to the largest Ritz value."""
    d = op.n_features
    want = n_components if n_components is not None else 0
    b = block_size(d, n_components)
    Q = _orthonormalise(rng.standard_normal((d, b)), start_orthogonal_to)
    AQ = op.matmat(Q)
    basis, images = Q, AQ
    T = Q.T @ AQ  # basis^T C basis, grown by one block row and column per pass
    passes = 1
    remaining: list[float] = []  # decades of residual still to go, summed over the wanted pairs
    while True:
        bar.update(1)
        theta, Y = np.linalg.eigh((T + T.T) / 2.0)
        theta, Y = theta[::-1], Y[:, ::-1]
        unit = scale if scale is not None else (max(float(theta[0]), 0.0) or 1.0)
        floor = roundoff_threshold(unit, d)
        lock = basis if start_orthogonal_to is None else np.hstack([start_orthogonal_to, basis])
        room = d - lock.shape[1]
        W = _orthonormalise(AQ, lock) if room > 0 else AQ[:, :0]
        if W.shape[1] == 0 and room > 0:
            # The Krylov space is invariant (every eigenvalue above the cut, a value repeated
            # more often than the block, a rank-deficient operator): its Ritz pairs are exact,
            # and the rest of the space is reached from fresh random directions.
            W = _orthonormalise(rng.standard_normal((d, min(b, room))), lock)
        # Exhausted: the basis (with the locked vectors) spans the whole space, so its Ritz
        # pairs are every eigenpair of the operator there.
        exhausted = W.shape[1] == 0
        # Only the leading Ritz pairs are read (those wanted or not below `above`, the next one,
        # which certifies the cut, and those a restart keeps): forming just them, not the whole
        # basis's, saves most of the bookkeeping once the basis is several blocks wide.
        p = theta.size
        if not exhausted:
            top = (
                0
                if above is None
                else int(np.count_nonzero(tie_sign(theta, above, DEFAULT_RTOL, floor) >= 0))
            )
            if max_count is not None and top > max_count:
                raise BudgetExceeded("count")
            p = min(p, max(want, top) + b)
        X, AX = basis @ Y[:, :p], images @ Y[:, :p]
        theta = theta[:p]
        res = np.linalg.norm(AX - X * theta, axis=0)
        ok = res <= RESIDUAL_RTOL * unit
        c = int(np.argmin(ok)) if not ok.all() else ok.size  # leading converged pairs
        done, m, rest = _decide(theta, res, c, above, want, exhausted, floor, unit)
        if done:
            lam = np.where(theta[:m] > 0, theta[:m], 0.0)
            return _Run(lam, np.array(X[:, :m]), rest, passes, unit, b)
        if max_passes is not None and not exhausted:
            if passes >= max_passes:
                raise BudgetExceeded("passes")
            if want and _out_of_reach(remaining, res, want, unit, passes, max_passes):
                raise BudgetExceeded("passes")
        if exhausted or passes >= MAX_PASSES:
            what = (
                f"the top {want} eigenpairs"
                if n_components is not None
                else f"every eigenpair above {above:g}"
            )
            exact = (
                "method='eigh' (LAPACK on the whole covariance)"
                if op.kind == "covariance"
                else "spectrum(covariance(data)) when d x d fits in memory, or method='auto', "
                "which hands over to an exact route"
            )
            raise ValueError(
                f"the partial eigensolver (block Krylov, method='krylov') did not converge to "
                f"{what} after {passes} {op.pass_name} ({c} pairs converged to a residual of "
                f"{RESIDUAL_RTOL:g} lam_max). Ask for fewer: a larger `{name}`; or use {exact}."
            )
        # Thick restart when the basis would outgrow its budget: keep the Ritz vectors that
        # matter (and their images, so the residuals stay exact) and continue from there.
        needed = max(want, int(np.count_nonzero(theta >= (above or 0.0)))) + b
        if basis.shape[1] + W.shape[1] > max(6 * b, 3 * needed):
            keep = min(theta.size, needed)
            basis, images = X[:, :keep], AX[:, :keep]
            T = basis.T @ images
            W = _orthonormalise(AX[:, :keep] - X[:, :keep] * theta[:keep], basis)
            if W.shape[1] == 0:
                lock = (
                    basis
                    if start_orthogonal_to is None
                    else np.hstack([start_orthogonal_to, basis])
                )
                W = _orthonormalise(rng.standard_normal((d, b)), lock)
        Q, AQ = W, op.matmat(W)
        passes += 1
        side = basis.T @ AQ
        T = np.block([[T, side], [side.T, Q.T @ AQ]])
        basis, images = np.hstack([basis, Q]), np.hstack([images, AQ])


def _out_of_reach(
    remaining: list[float], res: np.ndarray, want: int, unit: float, passes: int, max_passes: int
) -> bool:
    """Whether a run for the top pairs, at its pace so far, would need far more than
    `max_passes`: appends to `remaining` the decades of residual its wanted pairs still lack
    and extrapolates the mean fall of the last ``PACE_WINDOW`` passes (a run that converges
    speeds up, so this errs towards going on). Giving up early where no gap separates the wanted
    pairs from the rest (a Wishart edge: at d = 2000 every pass converged under a tenth of a
    decade) leaves LAPACK the time the hopeless passes would have taken. The pace is read only
    once the basis holds every wanted pair."""
    if res.size < want:
        remaining.clear()
        return False
    remaining.append(float(np.log10(np.maximum(res[:want] / (RESIDUAL_RTOL * unit), 1.0)).sum()))
    if len(remaining) <= PACE_WINDOW:
        return False
    fall = (remaining[-1 - PACE_WINDOW] - remaining[-1]) / PACE_WINDOW
    return fall <= 0.0 or passes + remaining[-1] / fall > PACE_SLACK * max_passes


def _decide(
    theta: np.ndarray,
    res: np.ndarray,
    c: int,
    above: float | None,
    want: int,
    exhausted: bool,
    floor: float,
    unit: float,
) -> tuple[bool, int, float | None]:
    """``(done, pairs to return, rest_max)`` from the Ritz values and residuals."""
    if above is None:
        return c >= want, want, None
    # The pairs not below `above` (ties included, so that a map at sigma2 = above sees them) must
    # all have converged; the next Ritz value plus its residual bounds the eigenvalue it
    # approximates, and must lie below `above` beyond the tie tolerance.
    m = int(np.count_nonzero(tie_sign(theta, above, DEFAULT_RTOL, floor) >= 0))
    if exhausted and m >= theta.size and c >= m:
        return True, m, None  # every eigenvalue of the space is above the cut
    if m >= theta.size or c < m:
        return False, 0, None
    if not exhausted and res[m] > CERTIFY_RTOL * unit:
        return False, 0, None
    bound = float(theta[m] + res[m])
    if tie_sign(np.array(bound), above, DEFAULT_RTOL, floor) < 0 or (exhausted and c > m):
        return True, m, bound
    return False, 0, None
