"""The eigen-decomposition of the covariance: the second step of the pipeline.

Conventions, stated once for the whole package:

* covariances are the ddof=0 (maximum-likelihood) estimate ``X_c.T @ X_c / n``
  (`ppca_stability._spectra.covariance`);
* eigenvalues are sorted in descending order, ``lam[0] >= lam[1] >= ... >= lam[d-1] >= 0``;
  eigenvalues within round-off of 0 are set to exactly 0: those below d eps lam_max (the one
  rule, `_base.tolerance.roundoff_threshold`) whose own first-order round-off bound they do not
  exceed (`_base.validation.check_psd_eigenvalues`),
  with a `PrecisionWarning` when feature scales, not rank, made them unresolvable;
* each eigenvector's sign is fixed so that its entry of largest magnitude is positive (the
  convention of scikit-learn's ``svd_flip``), so results are reproducible across LAPACK builds.

A spectrum may be *partial*: the top ``r`` of the ``d`` eigenpairs (`_spectra.partial`),
with the total variance ``trace`` and a bound ``rest_max`` on every eigenvalue it lacks. What
depends only on the eigenvalues above ``sigma2`` (a map's points, counts, global maximum and its
log-likelihood, which needs ``trace``) is exact from it; what needs the others (a point's full
Hessian spectrum, ``sigma2`` not above ``rest_max``) raises a ValueError that says how to get
them. Internally the missing eigenvalues are stood in for by their mean ``(trace - sum of the
known) / (d - r)`` (`full_eigenvalues`): every sum over them and every comparison with a value
above ``rest_max`` is then the same as with the true ones. In a partial spectrum an eigenvalue
is round-off, and set to 0, below the global rule ``d eps lam_max`` alone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike

from .._base.memory import no_huge_pages
from .._base.tolerance import DEFAULT_RTOL, roundoff_threshold
from .._base.validation import (
    check_bool,
    check_choice,
    check_cov,
    check_latent_dim,
    check_learned_latent_dim,
    check_positive_float,
    check_positive_int,
    check_psd_eigenvalues,
    check_rng,
    check_rtol,
    check_sigma2,
)
from . import partial as _partial
from .container import Spectrum, check_spectrum, partial_spectrum, sign_fix, zero_roundoff
from .covariance import (
    check_data,
    column_moments,
    covariance,  # re-exported: the step before the spectrum
    rows_for_budget,
)
from .lanczos import lanczos_chosen
from .sylvester import count_above, fortran_view
from .tridiagonal import Reduction

__all__ = ["spectrum", "covariance"]


def eigh_descending(cov: np.ndarray, *, vectors: bool) -> Spectrum:
    """The complete `Spectrum` of the exactly symmetric `cov` (as `check_cov` and `covariance`
    give it), descending."""
    # numpy's eigh/eigvalsh call LAPACK's divide-and-conquer driver (syevd), the fastest here.
    # Given a C-ordered matrix they first copy it into Fortran order, a transposition; given its
    # transpose (the same symmetric matrix, `fortran_view`) a straight copy, and the same result
    # to the bit: at d = 2000 a median of 0.967x over 24 paired calls (spiked, repeated bulk).
    if vectors:
        return complete_spectrum(cov, *np.linalg.eigh(fortran_view(cov)))
    lam = np.ascontiguousarray(np.linalg.eigvalsh(fortran_view(cov))[::-1])
    U = None

    def eigenvectors(idx: np.ndarray) -> np.ndarray:
        # Only eigenvalues near round-off need their vectors (to bound their error); without U,
        # LAPACK's syevr computes just those (indices ascending in its order).
        if U is not None:
            return U[:, idx]
        d = lam.size
        if idx.size > d // 10:  # many: one full decomposition is cheaper than syevr's subset
            return np.linalg.eigh(fortran_view(cov))[1][:, ::-1][:, idx]
        lo, hi = d - 1 - int(idx.max()), d - 1 - int(idx.min())
        V = scipy.linalg.eigh(cov, subset_by_index=[lo, hi], driver="evr")[1][:, ::-1]
        return V[:, idx - idx.min()]

    return Spectrum(check_psd_eigenvalues(lam, cov=cov, vectors=eigenvectors), U)


def complete_spectrum(cov: np.ndarray, lam: np.ndarray, U: np.ndarray) -> Spectrum:
    """The complete `Spectrum` of `cov` from every eigenpair, eigenvalues ascending as LAPACK
    gives them and `U` an array nothing else holds: sign-fixed in place, then descending as a
    view (no copy of the d x d matrix; on the reversed view the sign fix's passes took 14.6 ms
    at d = 2000, on the contiguous array 6), round-off eigenvalues checked and zeroed."""
    sign_fix(U)
    lam, U = np.ascontiguousarray(lam[::-1]), U[:, ::-1]
    return Spectrum(check_psd_eigenvalues(lam, cov=cov, vectors=lambda idx: U[:, idx]), U)


# Above the cut, more than max_count pairs: all but the last 1 / WHOLE_DENOMINATOR of them mapped
# back alone, else every pair (the complete spectrum, for little more).
WHOLE_DENOMINATOR = 16


def nearly_all(count: int, d: int) -> bool:
    """Whether `count` of `d` eigenvalues above a cut are more than all but 1 / WHOLE_DENOMINATOR:
    then every pair is worth computing."""
    return count * WHOLE_DENOMINATOR > (WHOLE_DENOMINATOR - 1) * d


def reduced_above(
    S: np.ndarray, above: float, *, max_count: int, rtol: float, whole: bool = True
) -> Spectrum:
    """The eigenpairs of `S` not below `above` (every eigenvalue above its `dense_cut`) from one
    tridiagonal reduction (`_spectra.tridiagonal.Reduction`). The exact count on ``T`` decides
    after the reduction, which both ways need, so neither pays for a count or a decomposition it
    does not use: at most `max_count` pairs alone (inverse iteration); more, every pair of ``T``
    (divide and conquer) and only those above the cut mapped back (`_mapped_back_above`); with
    all but 1 / WHOLE_DENOMINATOR above, every pair, returned whole or, without `whole`, cut
    where the subset would have been.

    At d = 2000 on two threads (the spectra of `benchmarks/bench_routes.py`, best of 3-7, as
    fractions of one ``numpy.linalg.eigh``): the reduction 0.27-0.34; 50 pairs after it about
    0.09 (inverse iteration 0.055, the back-transformation of those vectors alone 0.033); every
    pair of ``T`` 0.3-0.4, mapping all of them back 0.35-0.4 (so 0.96-1.00 with the reduction),
    mapping back 400 of them 0.07, 1000 of them 0.18."""
    d, trace = S.shape[0], float(np.trace(S))
    cut = dense_cut(above, rtol, d, trace)
    if d < 2 or cut <= roundoff_threshold(trace, d):
        return eigh_descending(S, vectors=True)
    reduction = Reduction(S)
    count = reduction.count_above(cut)
    if count > max_count:
        values, V = reduction.tridiagonal_pairs()
        if nearly_all(count, d):
            full = complete_spectrum(S, values, reduction.top_of(V, d))
            return full if whole else _cut_at(full, trace, cut)
        return _mapped_back_above(S, reduction, values, V, cut, trace)
    lam, U = reduction.top_pairs(count)
    keep = int(np.count_nonzero(lam > cut))  # the count is T's, these are T's: round-off apart
    lam, U = lam[:keep], U[:, :keep]
    _check_rest_sum(lam, trace, d)
    return partial_spectrum(lam, sign_fix(U), d, trace, cut)


def _mapped_back_above(
    S: np.ndarray, reduction: Reduction, values: np.ndarray, V: np.ndarray, cut: float, trace: float
) -> Spectrum:
    """The pairs above `cut` from every eigenpair of ``T`` (`values` ascending, `V` its
    eigenvectors), only those mapped back to ``S``: every eigenvalue is checked as the complete
    route checks them (`check_psd_eigenvalues`, the eigenvectors it asks for mapped back from
    copies), so a covariance that is not positive semi-definite is refused here too."""
    d = values.size

    def vectors(idx: np.ndarray) -> np.ndarray:  # descending indices; V's columns ascend
        return reduction.back(V[:, d - 1 - idx])

    lam = check_psd_eigenvalues(np.ascontiguousarray(values[::-1]), cov=S, vectors=vectors)
    keep = int(np.count_nonzero(lam > cut))
    # Copied (the d x d array of T's eigenvectors is not kept alive), descending, sign-fixed.
    U = sign_fix(np.ascontiguousarray(reduction.top_of(V, keep)[:, ::-1]))
    return partial_spectrum(lam[:keep], U, d, trace, cut)


def _cut_at(full: Spectrum, trace: float, rest_max: float) -> Spectrum:
    """The partial spectrum a subset route would have given from the complete `full`: the pairs
    not below `rest_max` (their vectors copied, so the d x d matrix is not kept alive)."""
    r = int(np.count_nonzero(full.eigenvalues >= rest_max))
    U = full.eigenvectors
    U = None if U is None else np.ascontiguousarray(U[:, :r])
    return partial_spectrum(full.eigenvalues[:r], U, full.n_features, trace, rest_max)


METHODS = ("auto", "eigh", "krylov")


def _spectrum_iv(
    cov: ArrayLike | None,
    data: ArrayLike | None,
    above: Any,
    n_components: Any,
    method: Any,
    vectors: Any,
) -> tuple[np.ndarray | None, Any, float | None, int | None, str, bool]:
    if cov is not None and data is not None:
        raise ValueError("pass exactly one of `cov` and `data`; got both.")
    if above is not None and n_components is not None:
        raise ValueError("pass at most one of `above` and `n_components`; got both.")
    method = check_choice(method, "method", METHODS)
    S = X = None
    if data is None:  # `cov` is then required: None gets check_cov's message
        S = check_cov(cov)
        d = S.shape[0]
    else:
        X = check_data(data)
        d = int(X.shape[1])
    a = None if above is None else check_positive_float(above, "above")
    k = (
        None
        if n_components is None
        else check_positive_int(n_components, "n_components", upper=d, upper_name="n_features")
    )
    if method == "krylov" and a is None and k is None:
        raise ValueError(
            "`method`='krylov' computes the top of a spectrum: pass `above` or `n_components`."
        )
    return S, X, a, k, method, check_bool(bool(vectors), "vectors")


def dense_partial(
    S: np.ndarray,
    *,
    above: float | None,
    n_components: int | None,
    vectors: bool,
    rtol: float = DEFAULT_RTOL,
    rng: np.random.Generator | None = None,
) -> Spectrum:
    """Eigenpairs of `S` not below `above` (ties with it included, and certified by a bound
    below it beyond `rtol`) or its top `n_components`: for `above` with an `rng`, by the block
    Krylov method certified by a Cholesky factor (`dense_above`) when it answers, else by LAPACK
    on that subset alone."""
    d, trace = S.shape[0], float(np.trace(S))
    if n_components == d or (above is not None and not above > roundoff_threshold(trace, d)):
        # Everything, or a cut inside the round-off band: the complete route, with its zeroing.
        return eigh_descending(S, vectors=vectors)
    rest_max = None
    if above is not None:
        rest_max = dense_cut(above, rtol, d, trace)
        if rest_max <= 0.0:
            return eigh_descending(S, vectors=vectors)
        if rng is not None:
            found = dense_above(S, above, max_count=max(1, d // DENSE_MAX_FRACTION), rng=rng)
            if isinstance(found, Spectrum):
                U = found.eigenvectors if vectors else None
                return Spectrum(found.eigenvalues, U, d, trace, found.rest_max)
            if found == "count":
                # More than d / 8 eigenpairs above the cut: LAPACK's syevr on that subset costs
                # about as much as the whole syevd from d / 4 pairs on, and up to 4x it when a
                # repeated value lies above the cut (a spiked identity, d = 800: 3.6 s against
                # 0.85 s): the complete decomposition, cut where syevr would have cut.
                return _cut_at(eigh_descending(S, vectors=vectors), trace, rest_max)
    lam, U = _partial.dense_top(S, above=rest_max, n_components=n_components)
    _check_rest_sum(lam, trace, d)
    return partial_spectrum(lam, U if vectors else None, d, trace, rest_max)


# The certified Krylov route of `spectrum(cov, above=a)` stops, for LAPACK, once more than
# d / DENSE_MAX_FRACTION eigenvalues are above `a` (beyond that its passes cost more than syevr).
DENSE_MAX_FRACTION = 8


def dense_cut(above: float, rtol: float, d: int, trace: float) -> float:
    """The bound a dense partial spectrum certifies for the eigenvalues it lacks: `above`
    lowered beyond its tie band (``floor <= d eps tr S``)."""
    return above * (1.0 - 4.0 * rtol) - 4.0 * roundoff_threshold(trace, d)


def dense_above(
    S: np.ndarray,
    above: float,
    *,
    max_count: int,
    rng: np.random.Generator,
    rtol: float = DEFAULT_RTOL,
    count: int | None = None,
) -> Spectrum | str:
    """The eigenpairs of `S` not below `above` by `_partial.dense_certified_top` (block Krylov,
    every eigenvalue left out certified below `dense_cut` by one Cholesky factor), or the reason
    that route did not answer ("count", "passes", "certificate", or "cut" for a cut in the
    round-off band). `count`: the number of eigenvalues above `dense_cut` by Sylvester's law of
    inertia, when known (the run then converges only those)."""
    d, trace = S.shape[0], float(np.trace(S))
    cut = dense_cut(above, rtol, d, trace)
    if cut <= roundoff_threshold(trace, d):
        return "cut"
    found = _partial.dense_certified_top(
        S, above=above, cut=cut, max_count=max_count, rng=rng, count=count
    )
    if isinstance(found, str):
        return found
    _check_rest_sum(found.eigenvalues, trace, d)
    return partial_spectrum(found.eigenvalues, found.eigenvectors, d, trace, cut)


def counted_top(
    S: np.ndarray, above: float, *, rng: np.random.Generator, rtol: float = DEFAULT_RTOL
) -> Spectrum | None:
    """The eigenpairs of `S` not below `above` when at most d / `DENSE_MAX_FRACTION` lie above
    its `dense_cut`, `stability_map`'s way: counted exactly first (Sylvester's law of inertia,
    `count_above`); by ARPACK where `lanczos_chosen` says (a few, or a few dozen where the
    spectrum looks graded), certified by a Cholesky factor (`dense_above`), else (or when that
    run stops without an answer) from one tridiagonal reduction (`reduced_above`). None when
    there are more or the cut lies in the round-off band (`dense_partial` then answers)."""
    d, trace = S.shape[0], float(np.trace(S))
    cut = dense_cut(above, rtol, d, trace)
    if cut <= roundoff_threshold(trace, d):
        return None
    with no_huge_pages():  # large transient arrays (`_base.memory`)
        count = count_above(S, cut, single=True)
        if count > d // DENSE_MAX_FRACTION:
            return None
        if lanczos_chosen(S, cut, count):
            found = lanczos_above(S, above, count, rng=rng, rtol=rtol)
            if found is not None:
                return found
        return reduced_above(S, above, max_count=d // DENSE_MAX_FRACTION, rtol=rtol, whole=False)


def lanczos_above(
    S: np.ndarray, above: float, count: int, *, rng: np.random.Generator, rtol: float
) -> Spectrum | None:
    """`dense_above` for exactly `count` pairs (ARPACK, certified by a Cholesky factor), or None
    when the run stops without an answer: a reason, or a ValueError where its Krylov space gives
    out. LAPACK then answers, and raises again an error in the input (a negative sum of skipped
    eigenvalues)."""
    try:
        found = dense_above(S, above, max_count=count, rng=rng, rtol=rtol, count=count)
    except ValueError:
        return None
    return found if isinstance(found, Spectrum) else None


def _check_rest_sum(lam: np.ndarray, trace: float, d: int, name: str = "cov") -> None:
    """The subset eigensolver never sees the eigenvalues it skips; their sum, ``trace`` minus
    those found, must not be negative beyond round-off (a necessary condition for positive
    semi-definiteness, besides the entrywise ones of `check_cov`). A full check would be a
    Cholesky factor of ``cov + tau I``: 0.06 s at d = 2000, which took this route from 0.44-0.48
    to 0.50-0.61 times one full ``eigh``; ``spectrum(cov)`` checks every eigenvalue."""
    if lam.size == d or not lam.size:
        return
    rest = trace - float(lam.sum())
    if rest < -roundoff_threshold(max(trace, float(lam[0])), d):
        raise ValueError(
            f"`{name}` must be positive semi-definite; the eigenvalues below its top {lam.size} "
            f"sum to {rest:.6g} < 0."
        )


def spectrum(
    cov: ArrayLike | None = None,
    *,
    data: ArrayLike | None = None,
    above: float | None = None,
    n_components: int | None = None,
    method: str = "auto",
    vectors: bool = True,
    rng: Any = None,
    progress: bool = False,
) -> Spectrum:
    """Eigen-decompose a covariance, whole or only its top, from the matrix or from data.

    Parameters
    ----------
    cov : array_like, shape (d, d), optional
        Symmetric positive semi-definite covariance.
    data : array_like, numpy.memmap or dask.array.Array, shape (n_samples, d), optional
        Rows are samples; instead of `cov`. With `above` or `n_components` its d x d covariance
        (ddof=0, centred) is never formed: the top eigenpairs come from the centred data
        operator, in passes over the rows (a memory-mapped ``.npy`` is read chunk by chunk, a
        Dask array is reduced on the active Dask scheduler). Without them the covariance is
        formed (`covariance()`) and decomposed whole.
    above : float, optional
        Compute only the eigenpairs whose eigenvalue is not below `above` beyond the default
        tie tolerance (ties with it are included): enough for `stability_map()` at any
        ``sigma2 >= above`` (see Notes).
    n_components : int, optional
        Compute only the top `n_components` eigenpairs.
    method : {"auto", "eigh", "krylov"}, default "auto"
        ``"eigh"``: LAPACK on the dense covariance (formed from `data` if needed): the complete
        ``syevd``, or ``syevr`` on just the eigenpairs asked for. ``"krylov"``: a block Krylov
        method with a residual check on every pair returned (`_spectra.partial`), which
        needs `above` or `n_components`. ``"auto"``: for `cov` with `above`, the block Krylov
        method with its cut certified exactly by one Cholesky factor when it finds at most
        ``d / 8`` eigenpairs within its budget of passes; the complete ``syevd``, cut, when more
        lie above the cut; else ``"eigh"``. ``"eigh"`` for `cov`
        otherwise. For `data` with `above` or `n_components`: the covariance, then the route
        for `cov`, when ``n >= d`` and forming it costs less than a few Krylov passes
        (``n d^2 / 2 + d^3 < 32 n d b`` for a block of ``b >= 16`` vectors: ``d`` below about
        1000 for ``n >> d``); else ``"krylov"`` while it finds at most
        ``min(256, max(64, min(n, d) / 16))`` eigenvalues above `above` within passes that
        cost at most twice the exact route, else that exact route: the eigenpairs of the
        ``n x n`` Gram matrix ``X_c X_c^T / n`` mapped to the covariance's when ``n < d`` (their
        residuals checked in one more pass), of the covariance when ``n >= d``. When
        ``min(n, d) > 16384`` there is no exact route: more than 256 eigenvalues above `above`
        is a ValueError.
    vectors : bool, default True
        Also return the eigenvectors.
    rng : numpy.random.Generator, int or None
        The Krylov method's random start block (its results do not depend on it beyond its
        residual tolerance).
    progress : bool, default False
        Show a tqdm progress bar over the passes of the Krylov method, and over the columns of
        the data when an exact route from data takes over (see `method`).

    Returns
    -------
    Spectrum
        Complete, or partial (``is_complete`` False) with `trace` and `rest_max` set.

    Raises
    ------
    ValueError
        If the Krylov method does not converge within its budget of passes and no exact route
        fits (see `method`).

    Notes
    -----
    A partial spectrum answers every fixed-``sigma2`` question of `stability_map()`,
    `ppca_mle()` and `phase_diagram()` exactly for ``sigma2`` above its `rest_max` (``above``
    lowered by a little over 4 ``rtol``), and a learned ``sigma2`` when the eigenvalues it lacks
    lie below every candidate ``s_I``. A point's full Hessian spectrum needs all eigenvalues.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import spectrum
    >>> spectrum(np.diag([1.0, 3.0, 2.0])).eigenvalues
    array([3., 2., 1.])
    >>> top = spectrum(np.diag([1.0, 3.0, 2.0, 0.5]), above=1.5)
    >>> top.eigenvalues, top.n_features, top.trace, top.is_complete
    (array([3., 2.]), 4, 6.5, False)
    >>> X = np.random.default_rng(0).standard_normal((500, 40)) * np.linspace(3.0, 0.1, 40)
    >>> from_data = spectrum(data=X, n_components=3, rng=0)
    >>> np.allclose(from_data.eigenvalues, spectrum(np.cov(X.T, ddof=0)).eigenvalues[:3])
    True
    """
    S, X, a, k, method, vectors = _spectrum_iv(cov, data, above, n_components, method, vectors)
    if X is not None and (
        method == "eigh"
        or (a is None and k is None)
        or (method == "auto" and covariance_first(int(X.shape[0]), int(X.shape[1]), k))
    ):
        S = covariance(X)
    if S is not None:
        if a is None and k is None:
            return eigh_descending(S, vectors=vectors)
        if method == "krylov":
            op = _partial.dense_operator(S)
        else:
            # From data formed into its covariance (n >= d, d below about 1000): not the block
            # Krylov attempt, which cost more than a full eigh there (MNIST-test: 0.25 s against
            # 0.23 s), but the map's route: an exact count, then ARPACK for that many pairs
            # (`counted_top`), else LAPACK's syevr on the interval. MNIST-test, 23 pairs above
            # 0.5 (two threads, best of 7): 119 ms with the covariance (99 ms of it), against
            # 130 ms through syevr and 139 ms for the covariance and a full eigh.
            krylov = method == "auto" and X is None
            if method == "auto" and X is not None and a is not None and k is None:
                counted = counted_top(S, a, rng=check_rng(rng))
                if counted is not None:
                    return counted if vectors else replace(counted, eigenvectors=None)
            rng = check_rng(rng) if krylov else None
            return dense_partial(S, above=a, n_components=k, vectors=vectors, rng=rng)
    else:
        n, mean, trace = column_moments(X)
        op = _partial.data_operator(X, n, mean, trace, rows_for_budget(X))
    # From data with method "auto": a budget, then an exact route (see `MAX_DATA_COUNT`).
    budget = X is not None and method == "auto"
    max_count, max_passes = _data_budget(n, op.n_features, a, k) if budget else (None, None)
    try:
        found = _partial.krylov_top(
            op,
            above=a,
            n_components=k,
            rng=check_rng(rng),
            progress=check_bool(bool(progress), "progress"),
            name="above" if a is not None else "n_components",
            max_count=max_count,
            max_passes=max_passes,
        )
    except _partial.BudgetExceeded:
        d = op.n_features
        if min(n, d) > DUAL_MAX:
            raise ValueError(
                f"more than {max_count} eigenvalues of the data's covariance lie above "
                f"`above`={a:g}, and with {n} samples of {d} features neither its {d} x {d} "
                f"covariance nor its {n} x {n} Gram matrix is formed (limit {DUAL_MAX}). Raise "
                "`above` (sigma2) above the noise bulk, ask for `n_components`, or pass "
                "method='krylov' to run the partial eigensolver regardless."
            ) from None
        return data_exact(
            X, n, mean, op.trace, above=a, n_components=k, vectors=vectors, progress=bool(progress)
        )
    return _from_krylov(found, op, vectors)


def _from_krylov(found: _partial.PartialResult, op: _partial.Operator, vectors: bool) -> Spectrum:
    U = found.eigenvectors if vectors else None
    return partial_spectrum(found.eigenvalues, U, op.n_features, op.trace, found.rest_max)


# `spectrum(data=X, ...)` with method "auto": the block Krylov method hands over to an exact
# route once it finds more than MAX_DATA_COUNT eigenvalues above `above` (its basis, of a few
# times that many d-vectors, and its bookkeeping grow with them: a cut inside the noise bulk of
# n = 2000 samples at d = 50 000 ran for over 10 minutes at 5 GB), fewer for few samples, or,
# for `above` and `n_components` alike, once its passes have cost EXACT_COST_FACTOR times the
# exact route's flops (see `_data_budget`; the top 64 components of n = 2000, d = 20 000, from
# inside the bulk, took 38 s of Krylov passes where the exact route takes 2 s).
# The exact route is the n x n Gram matrix when n < d (n^2 d + 2 n d r flops for r pairs), else
# the d x d covariance (n d^2 + about 2 d^3); it needs min(n, d) <= DUAL_MAX. Beyond that the
# Krylov method runs alone, and too many eigenvalues above `above` is a ValueError naming what
# to change.
MAX_DATA_COUNT = 256
DUAL_MAX = 16384
EXACT_COST_FACTOR = 2.0
RESIDUAL_PROBES = 32


# `spectrum(data=X, above=...)` with method "auto" forms the covariance at once (one BLAS-3
# product over the data, then the dense route) when that costs less than KRYLOV_MIN_PASSES passes
# of the Krylov method, a number it rarely beats (MNIST-test, 23 eigenvalues above 0.5: 14
# passes). The product runs about COVARIANCE_SPEEDUP times faster per flop than a pass's thin
# products (measured on MNIST-test, n = 10 000, d = 784: the covariance took 5.9 passes' time for
# 12 passes' flops).
KRYLOV_MIN_PASSES = 8
COVARIANCE_SPEEDUP = 2.0


def covariance_first(n: int, d: int, n_components: int | None) -> bool:
    """Whether the data route should form the d x d covariance before any Krylov pass: ``n >= d``
    and ``n d^2 / COVARIANCE_SPEEDUP + d^3`` (the product and the dense route after it) below
    ``KRYLOV_MIN_PASSES`` passes (`_data_budget`'s cost of a pass)."""
    if n < d or d > DUAL_MAX:
        return False
    block = _partial.block_size(d, n_components)
    per_pass = 4.0 * n * d * block + 96.0 * d * block**2
    return float(n) * d * d / COVARIANCE_SPEEDUP + float(d) ** 3 < KRYLOV_MIN_PASSES * per_pass


def _data_budget(
    n: int, d: int, above: float | None, n_components: int | None
) -> tuple[int | None, int | None]:
    """The Krylov method's limits (eigenvalues above the cut, passes) from data before an exact
    route takes over; when none fits (``min(n, d) > DUAL_MAX``), only the count, for a clear
    error (see `MAX_DATA_COUNT`)."""
    if min(n, d) > DUAL_MAX:
        return (MAX_DATA_COUNT if above is not None else None), None
    count = min(MAX_DATA_COUNT, max(64, min(n, d) // 16))
    r = n_components if n_components is not None else count
    block = _partial.block_size(d, n_components)
    exact = float(n) * n * d + 2.0 * n * d * r if n < d else float(n) * d * d + 2.0 * d**3
    floor = max(1, _partial.MIN_DENSE_PASSES * _partial.MIN_BLOCK // block)
    # A pass: the operator on b vectors (4 n d b flops) and the bookkeeping on one thread
    # against a basis of a few blocks (measured as about 96 d b^2 flops' worth of time).
    per_pass = 4.0 * n * d * block + 96.0 * d * block**2
    passes = max(floor, int(EXACT_COST_FACTOR * exact / per_pass))
    return (count if above is not None else None), min(_partial.MAX_PASSES, passes)


def data_exact(
    X: Any,
    n: int,
    mean: np.ndarray,
    trace: float,
    *,
    above: float | None,
    n_components: int | None,
    vectors: bool,
    rtol: float = DEFAULT_RTOL,
    progress: bool = False,
) -> Spectrum:
    """The eigenpairs `dense_partial` would give from the covariance of `X`, exactly: from the
    covariance itself when ``n >= d``, else from the n x n Gram matrix (the covariance's other
    ``d - n`` eigenvalues are 0), its eigenvectors mapped back and their residuals checked in one
    pass over the data."""
    d = int(X.shape[1])
    if n >= d:
        # The dense route with its own count (`dense_partial`): syevr on a subset, or syevd.
        rng = np.random.default_rng(0) if above is not None else None
        S = covariance(X)
        return dense_partial(S, above=above, n_components=n_components, vectors=vectors, rng=rng)
    lam, V = _partial.gram_eigh(X, n, mean, progress)
    lam = zero_roundoff(lam, d)
    rest_max = None
    if above is not None:
        rest_max = dense_cut(above, rtol, d, trace)
        r = int(np.count_nonzero(lam > rest_max))
    else:
        r = int(n_components or 0)
    if (rest_max is not None and rest_max <= 0.0) or r > n or (r > 0 and not lam[r - 1] > 0.0):
        # Zero eigenvalues asked for (a cut in the round-off band, or more components than the
        # data's rank): their eigenvectors are the covariance's null space, so decompose it.
        return dense_partial(covariance(X), above=above, n_components=n_components, vectors=vectors)
    lam, V = lam[:r], V[:, :r]
    _check_rest_sum(lam, trace, d, name="data")
    if not vectors or r == 0:
        return Spectrum(lam, np.zeros((d, 0)) if vectors else None, d, trace, rest_max)
    U = _partial.gram_vectors(X, n, mean, lam, V, progress)
    # The residual block R = S U - U diag(lam), in one pass over the data: exactly for up to
    # RESIDUAL_PROBES pairs, else its Frobenius norm (which bounds every pair's residual) through
    # RESIDUAL_PROBES Gaussian combinations, E ||R w||^2 = ||R||_F^2: the estimate falls below
    # half of ||R||_F with probability under 1e-5 (chi-square with >= 32 degrees of freedom).
    op = _partial.data_operator(X, n, mean, trace, rows_for_budget(X))
    if r <= RESIDUAL_PROBES:
        residual = float(np.linalg.norm(op.matmat(U) - U * lam, axis=0).max())
    else:
        W = np.random.default_rng(0).standard_normal((r, RESIDUAL_PROBES))
        R = op.matmat(U @ W) - U @ (lam[:, None] * W)
        residual = 2.0 * float(np.linalg.norm(R)) / np.sqrt(RESIDUAL_PROBES)
    if residual > _partial.RESIDUAL_RTOL * float(lam[0]):
        raise ValueError(
            f"the eigenvectors recovered from the data's {n} x {n} Gram matrix have a residual "
            f"of {residual / lam[0]:.3g} lam_max, above {_partial.RESIDUAL_RTOL:g}: eigenvalues "
            "this close to round-off cannot be recovered from it; raise `above`."
        )
    return Spectrum(lam, U, d, trace, rest_max)


def check_cov_or_spectrum(cov: Any, name: str = "cov") -> np.ndarray | Spectrum:
    """`check_cov`, or `check_spectrum` for a `Spectrum`."""
    return check_spectrum(cov, name) if isinstance(cov, Spectrum) else check_cov(cov, name)


def check_map_inputs(
    cov: ArrayLike | Spectrum, sigma2: Any, latent_dim: Any, rtol: Any
) -> tuple[np.ndarray | Spectrum, float | str, int, float]:
    """``(cov or Spectrum, sigma2, latent_dim, rtol)`` validated, as every map takes them."""
    S = check_cov_or_spectrum(cov)
    s = check_sigma2(sigma2, allow_learned=True)
    d = S.n_features if isinstance(S, Spectrum) else S.shape[0]
    if s == "learned":
        q = check_learned_latent_dim(latent_dim, d)
    else:
        q = check_latent_dim(latent_dim, d)
    return S, s, q, check_rtol(rtol)
