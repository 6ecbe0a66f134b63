"""Which spectrum a map of a covariance needs, and the fastest exact way to it.

A map at a fixed ``sigma2`` reads only the eigenpairs above ``sigma2`` (and those tied with it):
`covariance_spectrum` counts them exactly first (Sylvester's law of inertia on ``S - cut I``,
`_spectra.sylvester`) and computes them alone when they are few, else takes one full ``eigh``.
The count only chooses the route, never the answer. `uses_partial_spectrum` is the size rule the
command line uses to stream a data file through `spectrum(data=..., above=sigma2)` instead of
forming its covariance.
"""

from __future__ import annotations

import numpy as np

from .._base.tolerance import roundoff_threshold
from .._base.validation import check_latent_dim, check_positive_int, check_sigma2
from .._spectra.container import Spectrum
from .._spectra.lanczos import LANCZOS_MAX_COUNT
from .._spectra.spectrum import dense_cut, dense_partial, eigh_descending, lanczos_above
from .._spectra.sylvester import count_above

__all__ = ["covariance_spectrum", "partial_count", "uses_partial_spectrum"]

# `stability_map(cov, sigma2, latent_dim=q)` at a fixed sigma2, from PARTIAL_MIN_FEATURES
# features on, first counts exactly the eigenvalues above the partial route's cut (`dense_cut`,
# just below the tie band of sigma2) by Sylvester's law of inertia (`_sylvester.count_above`, in
# single precision where the cut lies above its round-off: about 0.03x one full eigh at d = 2000
# on one thread, 0.07x in double). The map needs every eigenpair above that cut, for any
# latent_dim; with at most d / PARTIAL_MAX_FRACTION of them they are computed alone: by ARPACK
# (`_spectra.lanczos`) for exactly that many, certified by a Cholesky factor
# (`_spectrum.dense_above`), when there are at most PARTIAL_TOP, within a budget of products
# (the edge of a Wishart spectrum with 50 above exceeds it), and by LAPACK's syevr on the
# interval above the cut (`_partial.dense_top`) when there are more or when ARPACK does not
# answer (one thread, d = 2000, six spectra of bench_routes: 0.36-0.47x for 10-50 pairs,
# 0.41-0.51x for 128, 0.49-0.65x for 250). MRRR on a kept tridiagonal reduction
# (`_spectra.tridiagonal.Reduction`) was as fast or faster on one thread but slower inside the
# map on two (a Wishart edge with 50 above: 1.04x against 0.70x one eigh). With more, one full
# eigh. Before the count, the same count on the principal
# submatrices of every fourth and every other row and column, lower bounds by Cauchy's
# interlacing theorem at 1/64 and 1/8 of the cost, sends cuts with many eigenvalues above them
# (inside a bulk, below the mean eigenvalue) straight to the full eigh.
#
# From PARTIAL_MIN_FEATURES = 768 features (MNIST's 784) the route pays for itself when few
# eigenvalues lie above sigma2: at d = 784 on two threads (idle, best of 3, map + global
# maximum + n_points against one eigh) 3-10 above took 0.35-0.69x through ARPACK against
# 1.07-1.24x through the full eigh (MNIST-test, a Wishart edge, twelve decades), 50 above
# 0.64-0.99x against 0.96-1.17x; one thread gave 0.21-0.59x and 0.42-0.90x against 1.04-1.15x.
# Below SUBSET_MIN_FEATURES the LAPACK subset route does not: 98 pairs of 784 took 0.92-1.29x
# on two threads, so there the count must be at most PARTIAL_TOP (ARPACK's range) as well as
# d / 8. At d = 512 ARPACK over its budget then LAPACK took 1.25-1.58x for 50-64 pairs.
# (With the block Krylov method that ARPACK replaced, d = 784 took 0.7-2.2x: the rule was 1024.)
PARTIAL_MIN_FEATURES = 768
SUBSET_MIN_FEATURES = 1024
PARTIAL_MAX_FRACTION = 8
PARTIAL_TOP = LANCZOS_MAX_COUNT
# The lower bounds by interlacing, cheapest first: at a median cut (d = 1024-3072, seven spectra
# of bench_routes and bench_stability_map) every fourth row and column already counts more than
# d / 8 above it, in a quarter of the time of every other one (d = 3072, one thread: 12-22 ms
# against 47-101 ms, about 1 % of a full eigh).
SUBMATRIX_STEPS = (4, 2)


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


def partial_count(S: np.ndarray, s: float, rtol: float) -> int | None:
    """How many eigenpairs of the covariance `S` the partial route of a map at ``sigma2 = s``
    computes (every eigenvalue above `dense_cut`, ties with `s` included), counted exactly by
    Sylvester's law of inertia, when that route is the faster; None when one full eigh is (or
    the cut lies in the round-off band)."""
    d = S.shape[0]
    trace = float(np.trace(S))
    cut = dense_cut(s, rtol, d, trace)
    if cut <= roundoff_threshold(trace, d):
        return None
    limit = d // PARTIAL_MAX_FRACTION
    if d < SUBSET_MIN_FEATURES:
        limit = min(limit, PARTIAL_TOP)
    # Cauchy interlacing: a principal submatrix has at most as many eigenvalues above the cut.
    # Every fourth row and column first (1/64 of the full count's work), then every other (1/8).
    for step in SUBMATRIX_STEPS:
        if count_above(S[::step, ::step], cut, single=True) > limit:
            return None
    count = count_above(S, cut, single=True)
    return count if count <= limit else None


def covariance_spectrum(S: np.ndarray, s: float | str, rtol: float) -> Spectrum:
    """The spectrum a map of the covariance `S` at `s` needs (the notes above the constants):
    every eigenpair, or at a fixed `s` only those above its cut when they are few. The count
    only chooses the route: the Krylov route certifies its own cut and syevr finds every
    eigenvalue above it, so a count that round-off got wrong costs time, not the answer."""
    if isinstance(s, str) or S.shape[0] < PARTIAL_MIN_FEATURES:
        return eigh_descending(S, vectors=True)
    count = partial_count(S, s, rtol)
    if count is None:
        return eigh_descending(S, vectors=True)
    if count <= PARTIAL_TOP:
        # A fixed seed: the same covariance gives the same map, bit for bit. A run that stops
        # without an answer leaves LAPACK to answer (`lanczos_above`).
        found = lanczos_above(S, s, count, rng=np.random.default_rng(0), rtol=rtol)
        if found is not None:
            return found
    return dense_partial(S, above=s, n_components=None, vectors=True, rtol=rtol)
