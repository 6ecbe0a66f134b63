"""The mutual information ``I(x; z)`` between data and code under the encoder's joint ``q(x, z)``.

With ``q(x, z) = p_data(x) q(z | x)`` and the aggregate posterior ``q(z) = E_x q(z | x)``,

    I(x; z) = E_x E_{q(z|x)}[log q(z | x)] - E_{q(z)}[log q(z)]
            = E_x KL(q(z | x) || p(z)) - KL(q(z) || p(z))

(Hoffman & Johnson 2016, "ELBO surgery"). He, Spokoyny, Neubig & Berg-Kirkpatrick (2019, "Lagging
inference networks and posterior collapse in variational autoencoders", and their ``calc_mi``)
estimate it from a batch of ``n`` encoder outputs ``(mu_j, log sigma_j^2)``:

* the first term in closed form, ``-1/2 sum_k (log 2 pi + 1 + log sigma_jk^2)`` averaged over ``j``;
* ``q(z)`` by the ``n``-component mixture ``(1/n) sum_j N(z; mu_j, diag sigma_j^2)``, evaluated at
  one draw ``z_i ~ q(z | x_i)`` per sample, ``log q(z_i)`` by a log-sum-exp over the components.

The estimate never exceeds ``log n`` by more than Monte-Carlo error (the mixture contains
``q(z_i | x_i) / n``), so a well-separated deterministic encoder reads ``~ log n``, and an encoder
equal to the prior reads ``~ 0``.

Numerics: the ``n x n`` log-densities are formed a block of rows at a time (memory
``O(BLOCK_ELEMENTS)``, not ``O(n^2)``) by matrix products,
``sum_k w_jk (z_ik - mu_jk)^2 = (z^2) w^T - 2 z (mu w)^T + sum_k mu_jk^2 w_jk`` with
``w = 1 / sigma^2``. That expansion cancels when a mean is far from the origin in units of its
posterior width (``mu^2 / sigma^2`` beyond ~1e8). Its rounding error is bounded entrywise, and
every entry that both matters to the log-sum-exp and may be off by more than `EXACT_TOL` is
recomputed from the differences directly. Where that is most entries of a sample of rows (means
piled up far from the origin, each within its posterior width of the others), every block is
evaluated from the differences alone, as the plain evaluation would be.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["mutual_information"]

LOG_2PI = math.log(2.0 * math.pi)
U = float(np.finfo(np.float64).eps)
# Entries per block of the (rows x n) log-density matrix: 2**20 float64 = 8 MiB per array; about
# six such arrays are alive at once.
BLOCK_ELEMENTS = 2**20
# A component whose log-density is more than this below the row's largest cannot change the
# log-sum-exp in float64 even summed n = 1e6 times (n e^-60 ~ 1e-20).
NEGLIGIBLE = 60.0
# Largest tolerated error bound (nats, on the squared Mahalanobis distance) of the expanded form
# before an entry is recomputed from differences.
EXACT_TOL = 1e-9
# Above this fraction of a block's entries to recompute, the whole block is recomputed densely;
# above it in SAMPLE_ROWS rows spread over the batch, every block is evaluated from differences.
DENSE_REDO = 0.25
SAMPLE_ROWS = 32
# Log-variances below this are raised to it: sigma = e^-700 (~1e-304) is a point mass at float64
# resolution, and 1 / sigma must stay finite.
LOGVAR_FLOOR = -1400.0


def _quad_exact(
    mu: np.ndarray,
    sig: np.ndarray,
    eps: np.ndarray,
    rinv: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
) -> np.ndarray:
    """``sum_k ((z_ik - mu_jk) / sigma_jk)^2`` for index pairs ``(i, j)``, from the differences
    ``z_i - mu_j = (mu_i - mu_j) + sigma_i eps_i``: no cancellation, and no rounding of ``z_i`` to
    the grid of its own magnitude (which would blur a posterior much narrower than its mean)."""
    out = np.empty(i.size)
    step = max(1, BLOCK_ELEMENTS // mu.shape[1])
    for s in range(0, i.size, step):
        ii, jj = i[s : s + step], j[s : s + step]
        t = ((mu[ii] - mu[jj]) + sig[ii] * eps[ii]) * rinv[jj]
        out[s : s + step] = np.einsum("mk,mk->m", t, t)
    return out


def _quad_exact_rows(
    mu: np.ndarray, sig: np.ndarray, eps: np.ndarray, rinv: np.ndarray, offset: int, rows: int
) -> np.ndarray:
    """`_quad_exact` for every pair of rows ``offset .. offset + rows - 1`` and all components."""
    n, q = mu.shape
    out = np.empty((rows, n))
    step = max(1, BLOCK_ELEMENTS // (n * q))
    for s in range(0, rows, step):
        r = slice(offset + s, offset + min(s + step, rows))
        t = (mu[r, None] - mu[None]) + (sig[r] * eps[r])[:, None]
        t *= rinv[None]
        out[s : s + step] = np.einsum("ijk,ijk->ij", t, t)
    return out


def _redo_mask(
    quad: np.ndarray, p: np.ndarray, b: np.ndarray, const: np.ndarray, gamma: float
) -> np.ndarray:
    """The entries of the expanded `quad` whose error bound exceeds EXACT_TOL and which may
    matter to their row's log-sum-exp."""
    err = gamma * (p + b) + 2.0 * U * np.sqrt(quad * p)
    # Overflow (a posterior far narrower than the spread of the means): no bound.
    err[~np.isfinite(err) | ~np.isfinite(quad)] = np.inf
    logd = const - 0.5 * quad
    # The largest log-density of each row is at least its lowest possible value, so only entries
    # that may come within NEGLIGIBLE of it matter.
    low = np.where(np.isfinite(err), logd - 0.5 * err, -np.inf)
    floor = np.max(low, axis=1, keepdims=True)
    return (err > EXACT_TOL) & ~(logd + 0.5 * err < floor - NEGLIGIBLE)


def _mostly(redo: np.ndarray) -> bool:
    """Whether more than DENSE_REDO of the entries are to be recomputed."""
    return bool(np.count_nonzero(redo) > DENSE_REDO * redo.size)


def _refine(
    quad: np.ndarray,
    p: np.ndarray,
    b: np.ndarray,
    const: np.ndarray,
    gamma: float,
    outputs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    offset: int,
) -> None:
    """Recompute, in place, the entries of `quad` whose error bound exceeds EXACT_TOL and which may
    matter to their row's log-sum-exp (`_redo_mask`)."""
    redo = _redo_mask(quad, p, b, const, gamma)
    if _mostly(redo):
        # Most of the block: recompute all of it by broadcasting, without index arrays.
        quad[...] = _quad_exact_rows(*outputs, offset, quad.shape[0])
        return
    i, j = np.nonzero(redo)
    quad[i, j] = _quad_exact(*outputs, i + offset, j)


def _expanded(
    zb: np.ndarray, w: np.ndarray, a: np.ndarray, b: np.ndarray, gamma: float
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The expanded squared distances of the rows `zb` to every component, the magnitudes ``p``
    of their terms, and whether one bound for the whole block settles every entry."""
    p = np.square(zb) @ w.T
    quad = zb @ a.T
    quad *= -2.0
    quad += p
    quad += b
    np.maximum(quad, 0.0, out=quad)
    p_max, quad_max = float(np.max(p)), float(np.max(quad))
    bound = gamma * (p_max + float(np.max(b))) + 2.0 * U * math.sqrt(quad_max * p_max)
    return quad, p, bool(bound <= EXACT_TOL)  # False also when it overflowed (nan or inf)


def log_mixture_density(mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """``log (1/n) sum_j N(z_i; mu_j, diag exp(logvar_j))`` at ``z_i = mu_i + exp(logvar_i / 2)
    eps_i``, for every row ``i``, a block of rows at a time (see the module notes)."""
    n, q = mu.shape
    sig, rinv = np.exp(0.5 * logvar), np.exp(-0.5 * logvar)
    z = mu + sig * eps
    const = -0.5 * (q * LOG_2PI + logvar.sum(axis=1)) - math.log(n)
    # Error bound of an expanded entry: a few ulps of the sum of the magnitudes of its terms
    # (z^2 w + |2 z mu w| + mu^2 w <= 2 (z^2 w + mu^2 w)), each a sum of q terms; plus the rounding
    # of z itself, |dz_k| <= u |z_k|, which moves the entry by at most 2 u sqrt(quad * z^2 w)
    # (Cauchy-Schwarz) to first order.
    gamma = 4.0 * (q + 2) * U
    rows = max(1, BLOCK_ELEMENTS // n)
    out = np.empty(n)
    outputs = (mu, sig, eps, rinv)
    with np.errstate(over="ignore", invalid="ignore"):
        w = np.square(rinv)
        a = mu * w
        b = np.einsum("jk,jk->j", mu, a)
        # Where most entries of a sample of rows would be recomputed (every mean within its
        # posterior width of the others and far from the origin), every block is evaluated from
        # the differences alone: the expansion and its bounds would be work thrown away.
        sample = np.unique(np.linspace(0, n - 1, min(n, SAMPLE_ROWS)).astype(np.intp))
        quad, p, settled = _expanded(z[sample], w, a, b, gamma)
        differences = not settled and _mostly(_redo_mask(quad, p, b, const, gamma))
        for s in range(0, n, rows):
            if differences:
                quad = _quad_exact_rows(*outputs, s, min(rows, n - s))
            else:
                quad, p, settled = _expanded(z[s : s + rows], w, a, b, gamma)
                if not settled:
                    _refine(quad, p, b, const, gamma, outputs, s)
            logd = quad
            logd *= -0.5
            logd += const
            top = np.max(logd, axis=1, keepdims=True)
            logd -= top
            np.exp(logd, out=logd)
            out[s : s + rows] = top[:, 0] + np.log(np.sum(logd, axis=1))
    return out


def mutual_information(mu: np.ndarray, logvar: np.ndarray, rng: np.random.Generator) -> float:
    """He et al. (2019)'s estimate of ``I(x; z)`` in nats from validated (n, q) encoder outputs,
    with the draw ``eps = rng.standard_normal((n, q))``."""
    logvar = np.maximum(logvar, LOGVAR_FLOOR)
    eps = rng.standard_normal(mu.shape)
    neg_entropy = -0.5 * float(np.mean(np.sum(LOG_2PI + 1.0 + logvar, axis=1)))
    return neg_entropy - float(np.mean(log_mixture_density(mu, logvar, eps)))
