"""Which spectrum a map of a covariance needs, and the fastest exact way to it.

A map at a fixed ``sigma2`` reads only the eigenpairs above ``sigma2`` (and those tied with it):
`covariance_spectrum` counts them exactly (Sylvester's law of inertia on ``S - cut I``,
`_spectra.sylvester`, or the Sturm count of a tridiagonal reduction it then keeps) and computes
them alone when they are few, else takes one full ``eigh``. The counts only choose the route,
never the answer. `uses_partial_spectrum` is the size rule the
command line uses to stream a data file through `spectrum(data=..., above=sigma2)` instead of
forming its covariance.
"""

from __future__ import annotations

import numpy as np

from .._base.memory import no_huge_pages
from .._base.tolerance import roundoff_threshold
from .._base.validation import check_latent_dim, check_positive_int, check_sigma2
from .._spectra.container import Spectrum
from .._spectra.lanczos import (
    LANCZOS_GRADED_MAX_COUNT,
    LANCZOS_MAX_COUNT,
    LANCZOS_SMALL_FEATURES,
    LANCZOS_SMALL_MAX_COUNT,
    GradedProbe,
)
from .._spectra.spectrum import (
    dense_cut,
    eigh_descending,
    lanczos_above,
    nearly_all,
    reduced_above,
)
from .._spectra.sylvester import all_above, count_above

__all__ = ["covariance_spectrum", "partial_limit", "uses_partial_spectrum"]

# `stability_map(cov, sigma2, latent_dim=q)` at a fixed sigma2, from PARTIAL_MIN_FEATURES
# features on, needs every eigenpair above the partial route's cut (`dense_cut`, just below the
# tie band of sigma2), for any latent_dim. With at most d / PARTIAL_MAX_FRACTION of them it
# computes them alone; with more, those alone from every pair of one tridiagonal reduction's T;
# with nearly every eigenvalue above the cut, one full eigh. Counts of the eigenvalues above
# the cut choose (`_sylvester.count_above`, Sylvester's law of inertia on an LDL^T
# factorisation, in single precision where the cut lies above its round-off), cheapest first:
#
# * on the principal submatrix of every fourth row and column, a lower bound by Cauchy's
#   interlacing theorem at 1/64 of the full count's cost, counted in double precision (2.8
#   against 1.8 ms at d = 2000: in single, round-off moved 222 of the 500 eigenvalues of a
#   spiked identity's bulk tied with sigma2 below the cut, and sent it to the reduction, which
#   then finished every pair from T, 1.05-1.1x one eigh). More than d / PARTIAL_MAX_FRACTION
#   (inside a bulk) sends the cut to the reduction, whose count on T then maps back the pairs
#   above the cut alone (`_spectrum.reduced_above`: at d = 2000, 400 above took 0.63-0.81x one
#   eigh and 1000 above 0.74-1.03x, against one full decomposition before), or finishes every
#   pair when all but a sixteenth lie above. Where that submatrix lies wholly above the cut
#   (sigma2 below the spectrum, on a repeated bulk, or at the median of a graded spectrum,
#   whose compression pulls its eigenvalues toward the mean), the submatrix of every other row
#   and column is tested too (`_sylvester.all_above`, a Cholesky factor of it minus the cut,
#   single precision's round-off going to the yes, so a bulk tied with the cut passes: 6 ms
#   at d = 2000 on one thread, 7 ms for a cut inside that round-off that every eigenvalue
#   clears, 12-15 ms in double: about 1-2 % of one eigh, paid only there; its full count took
#   8-9 and 13-15 ms), and one eigh is taken only when it too lies wholly above: at d = 2000
#   the median of twelve and six decades leaves 861 and 786 of its 1000 above (to the
#   reduction), a cut below the spectrum all of them. (A rule on a fraction of
#   the quarter submatrix's rows instead sent a Wishart spectrum's cut below every eigenvalue
#   to the whole decomposition from T, 1.14-1.16x one eigh against 1.04-1.06x, and kept graded
#   medians on one eigh.) Below SUBSET_MIN_FEATURES many above still take one eigh: at d = 784
#   (MNIST-test's covariance, 100-342 above) the two were within the machine's noise of each
#   other (0.6-1.9x, in runs where the same code alone varied twofold with the memory state);
# * the full count (0.05x one eigh at d = 2000 on two threads, 0.07x on one) only where ARPACK
#   is likely to take the pairs and to converge in few products, as `GradedProbe` judges from
#   two counts on principal submatrices at fractions of the cut (every fourth row at a quarter,
#   every other row at a half): at most PARTIAL_TOP above the cut where the second probe
#   allows that few (`GradedProbe.may_be_few`: spikes over a bulk, graded spectra; not the
#   edge of a bulk, where it counts several times as many), or at most GRADED_TOP where the
#   spectrum may look graded there. The pairs then go to ARPACK (`_spectra.lanczos`) for
#   exactly that many, certified by a Cholesky factor (`_spectrum.dense_above`) within a budget
#   of products, the reduction when it stops without an answer; more than d / 8, the
#   reduction;
# * otherwise one tridiagonal reduction (`_spectrum.reduced_above`), whose own exact count on T
#   picks the pairs above the cut alone, or from every pair of T, so a low bound never costs a
#   second decomposition.
#
# Skipping the full count where ARPACK is unlikely saves it where it bought nothing. With 50
# above the cut (bench_routes' spectra, best of 5, one run each way), at d = 2000: a Wishart
# edge 0.40-0.44x one eigh (was 0.48-0.51x), spikes over a spread bulk 0.39x (0.46-0.52x), six
# decades 0.46x (0.52-0.56x: graded, but ARPACK needed 233 products, and the probe at a half
# of the cut now rules it out before the count, not after); at d = 4000, 0.44 / 0.53 / 0.52x
# (0.55 / 0.55 / 0.60x). It costs the edge of a Wishart spectrum with 3-10 above, where ARPACK
# converged in 150-260 products: 0.33-0.41x at d = 2000 and 0.46-0.47x at d = 4000 through the
# reduction, against 0.25-0.31x and 0.26-0.28x (at d = 3000, the count forced against skipped:
# 10 above 0.34x against 0.43x, 50 above 0.48x against 0.44x). The count pays on average from
# a few thousand features, but the worst case with at most 50 above is lower without it at
# every size measured. Spikes over a bulk, power laws and many decades keep ARPACK for 3-10
# above (0.12-0.34x).
#
# Why ARPACK only up to PARTIAL_TOP = 10 pairs whatever the spectrum (from SUBSET_MIN_FEATURES
# on): the products it needed for the top k pairs at a cut between lam_k and lam_k+1 (rtol
# 1e-10, d = 1024 / 2000 / 4000) were 21-41 for k = 3-10 on a power law 1/i and spikes over a
# spread bulk, 152-263 on a Wishart edge; for k = 16-50, 52-163 on the power law and twelve
# decades but 169-475 on the Wishart edge and 340-1087 where the cut lies inside the spread
# bulk. At d = 2000 a failed run (its budget is d / 8 products) cost 0.14-0.23x one eigh before
# the reduction's 0.29-0.39x, and took the Wishart edge with 50 above to 0.67-0.76x (goal
# 0.5x); a successful one saved up to 0.25x (twelve decades, 50 above: 0.33x through ARPACK,
# 0.52-0.59x through the reduction). Those that converge in few products are the graded ones,
# which the probe tells apart (`_spectra.lanczos.LANCZOS_GRADED_MAX_COUNT`'s notes): with it,
# twelve decades and 50 above took 0.39-0.41x, a power law 1/i 0.33-0.34x (bench_routes, three
# runs).
#
# From PARTIAL_MIN_FEATURES = 768 features (MNIST's 784) the route pays for itself when few
# eigenvalues lie above sigma2: at d = 784 on two threads (idle, best of 3, map + global
# maximum + n_points against one eigh) 3-10 above took 0.35-0.69x through ARPACK against
# 1.07-1.24x through the full eigh (MNIST-test, a Wishart edge, twelve decades). Below
# SUBSET_MIN_FEATURES a subset costs relatively more (LAPACK's syevr: 98 pairs of 784 took
# 0.92-1.29x on two threads; the reduction, 50-64 pairs: 0.51-0.63x), so there the count must
# also be at most SMALL_SUBSET_MAX, and ARPACK is tried for all of them (MNIST-test's 23 pairs
# above 0.5: 9.8 ms against 22 ms for the reduction, 38 ms for one eigh).
PARTIAL_MIN_FEATURES = 768
SUBSET_MIN_FEATURES = LANCZOS_SMALL_FEATURES
SMALL_SUBSET_MAX = LANCZOS_SMALL_MAX_COUNT
PARTIAL_MAX_FRACTION = 8
PARTIAL_TOP = LANCZOS_MAX_COUNT
GRADED_TOP = LANCZOS_GRADED_MAX_COUNT
# The lower bound by interlacing: at a median cut (d = 1024-3072, seven spectra of bench_routes
# and bench_stability_map) every fourth row and column already counts more than d / 8 above it,
# in a quarter of the time of every other one (d = 3072, one thread: 12-22 ms against 47-101 ms,
# about 1 % of a full eigh).
SUBMATRIX_STEP = 4
HALF_STEP = 2


def uses_partial_spectrum(n_features: int, latent_dim: int, sigma2: float | str) -> bool:
    """Whether `stability_map` at this size computes only the eigenpairs above `sigma2`.

    True at a fixed ``sigma2`` from 768 features on, with ``latent_dim <= n_features / 8`` (see
    `stability_map`'s Notes). The map is then the same as from the complete decomposition, and
    it can just as well be built from ``spectrum(data=X, above=sigma2)``, which streams the
    eigenpairs from the data without forming the ``d x d`` covariance (the command line does
    this for a ``.npy`` of data).

    Parameters
    ----------
    n_features : int
        ``d``.
    latent_dim : int
        ``q``.
    sigma2 : float or "learned"

    Returns
    -------
    bool

    Examples
    --------
    >>> from ppca_stability import uses_partial_spectrum
    >>> uses_partial_spectrum(2000, 10, 0.5), uses_partial_spectrum(2000, 10, "learned")
    (True, False)
    >>> uses_partial_spectrum(512, 10, 0.5), uses_partial_spectrum(2000, 300, 0.5)
    (False, False)
    """
    d = check_positive_int(n_features, "n_features")
    q = check_latent_dim(latent_dim, d)
    s = check_sigma2(sigma2, allow_learned=True)
    return _partial_route(d, q, s)


def _partial_route(d: int, q: int, s: float | str) -> bool:
    return not isinstance(s, str) and d >= PARTIAL_MIN_FEATURES and q * PARTIAL_MAX_FRACTION <= d


def partial_limit(d: int) -> int:
    """The most eigenpairs above the cut the partial route computes alone at `d` features."""
    limit = d // PARTIAL_MAX_FRACTION
    return min(limit, SMALL_SUBSET_MAX) if d < SUBSET_MIN_FEATURES else limit


def covariance_spectrum(S: np.ndarray, s: float | str, rtol: float) -> Spectrum:
    """The spectrum a map of the covariance `S` at `s` needs (the notes above the constants):
    every eigenpair, or at a fixed `s` only those above its cut (unless nearly all are). The counts
    only choose the route: the Krylov route certifies its own cut and the reduction counts and
    finds every eigenvalue above it on its own ``T``, so a count that round-off got wrong costs
    time, not the answer."""
    d = S.shape[0]
    if isinstance(s, str) or d < PARTIAL_MIN_FEATURES:
        return eigh_descending(S, vectors=True)
    trace = float(np.trace(S))
    cut = dense_cut(s, rtol, d, trace)
    if cut <= roundoff_threshold(trace, d):
        return eigh_descending(S, vectors=True)
    # The partial routes allocate large transient arrays (copies of S, LAPACK's workspaces):
    # without huge pages (`_base.memory`). One full eigh keeps NumPy's own policy.
    with no_huge_pages():
        found = _partial(S, s, cut, rtol)
    return eigh_descending(S, vectors=True) if found is None else found


def _partial(S: np.ndarray, s: float, cut: float, rtol: float) -> Spectrum | None:
    """`covariance_spectrum` at a cut above the round-off band: None where one full eigh is the
    route."""
    d = S.shape[0]
    limit = partial_limit(d)
    # Cauchy interlacing: a principal submatrix has at most as many eigenvalues above the cut.
    sub = S[::SUBMATRIX_STEP, ::SUBMATRIX_STEP]
    bound = count_above(sub, cut)
    many = bound > limit
    if many and d < SUBSET_MIN_FEATURES:
        return None
    if bound == sub.shape[0]:
        # Below every eigenvalue of that submatrix: one eigh when the larger one on every
        # other row and column agrees (nearly all of S above the cut); else, as the median
        # of a graded spectrum, the reduction.
        if all_above(S[::HALF_STEP, ::HALF_STEP], cut, single=True):
            return None
    if many:  # the reduction maps back only the pairs above the cut
        return reduced_above(S, s, max_count=limit, rtol=rtol)
    probe = GradedProbe(S, cut)
    if d < SUBSET_MIN_FEATURES:
        # ARPACK for every count the route takes (`_spectra.lanczos.lanczos_max_count`).
        top = graded = limit
        counted = True
    else:
        # The full count only where ARPACK is likely to take the pairs, and to converge in
        # few products (the notes above the constants).
        top, graded = PARTIAL_TOP, min(GRADED_TOP, limit)
        counted = (bound <= top and probe.may_be_few(top)) or (
            bound <= graded and probe.looks_graded(bound, graded)
        )
    if counted:
        count = count_above(S, cut, single=True)
        if count > limit and (d < SUBSET_MIN_FEATURES or nearly_all(count, d)):
            return None
        if count <= limit and (count <= top or (count <= graded and probe.looks_graded(count))):
            # A fixed seed: the same covariance gives the same map, bit for bit. A run that
            # stops without an answer leaves the reduction to answer (`lanczos_above`).
            found = lanczos_above(S, s, count, rng=np.random.default_rng(0), rtol=rtol)
            if found is not None:
                return found
    return reduced_above(S, s, max_count=limit, rtol=rtol)
