"""Equal-norm clusters: the stationary points of the diagonal-encoder ELBO (``sigma2`` fixed or
learned) whose columns are not orthogonal (docs/theory.md, "The linear VAE's own landscape",
point 4).

At a stationary point the columns fall into groups of equal norm, mutually orthogonal across
groups. A group of ``n`` columns with common ``M``-diagonal ``mu = t^2`` has
``M_g = Q diag(m) Q^T`` with the columns of ``W_g Q`` zero ("ghost", ``m = s``) or eigenvectors
``u_i`` of ``S`` with ``m_i = t sqrt(lam_i)``; ``mu`` is the mean of the ``m``'s, so with ``J`` the
group's live eigen-indices (``j = |J|``)

    n t^2 - t sum_{i in J} sqrt(lam_i) - (n - j) s = 0,

one positive root, and each live ``m_i = t sqrt(lam_i)`` must exceed ``s`` (``W_g``'s live columns
are ``sqrt(m_i - s) u_i``). A group with ``j = 0`` has ``mu = s``: zero columns. A configuration
is a set of live groups ``(J, n)`` with disjoint ``J``'s and ``sum n <= q`` (the other columns
zero); it is a *cluster* when some group has ``n >= 2``. Up to signed permutations of the latents
a configuration is one point, or, when a group has two live and ``n >= 3`` columns, one continuous
family: the Schur-Horn fibre of constant-diagonal matrices ``Q diag(m) Q^T``, of dimension

    family_dim = sum_g [ n(n-1)/2 - (n-j)(n-j-1)/2 - (n-1) ]   (groups with n >= 2)

(the ``O(n)`` orbit of ``diag(m)`` minus the ``n - 1`` diagonal constraints). A single live index
spread over ``n`` columns (``j = 1``) is isolated (``u_i v^T`` with ``v_c = +-1/sqrt(n)``).

With ``sigma2`` learned, its stationarity ``d s = E||x - W z||^2`` reads, at a configuration
(a group's share of the reconstruction error is ``n s - (n - j) s^2 / mu``; ``c`` the variance
outside the live eigen-indices)

    (d - sum n) s + sum_g (n_g - j_g) s^2 / mu_g(s) = c,

whose left side increases strictly in ``s`` (``s / t`` does), so there is one root, in
``[c / d, c / (d - sum n)]``: `learned_sigma2`. A live ``m_i / s`` decreases in ``s``, so a
group that fails at ``s_lo = (sum of all but the top q eigenvalues) / d`` (below every root)
fails at every root: the enumeration prunes there, then checks each configuration at its own
root. (``j = 1``, ``n = 2``: the split of ``u_i`` exists iff ``lam_i > tr S / d``.)

This module enumerates configurations, builds a representative (``Q`` by Givens rotations, the
constructive proof of Schur-Horn) and classifies it numerically with `classify_vae_point` (an
independent check: no closed form of the cluster Hessian is used).
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.optimize

from .._base.classification import Stability
from .._base.tolerance import tie_sign
from .._ppca.likelihood import log_likelihood
from ..exceptions import DegeneracyWarning
from .classify import classify_vae_point
from .objective import LinearVAEParams, linear_vae_elbo

__all__ = [
    "ElboClusterPoint",
    "cluster_configurations",
    "cluster_point",
    "family_dim",
    "learned_sigma2",
    "max_cluster_configurations",
]

# Enumeration guard: configurations examined (valid or not) before refusing.
MAX_CLUSTER_CONFIGS = 20_000
# Signed-permutation orbit sizes are computed from the columns up to this q (beyond: None).
MAX_ORBIT_Q = 64

Group = tuple[tuple[int, ...], int]  # (live eigen-indices J, number of columns n)


def group_root(sqrt_lam: np.ndarray, n: int, s: float) -> float:
    """Positive root ``t`` of ``n t^2 - t sum sqrt(lam_J) - (n - j) s = 0`` (``j = len``)."""
    b = float(np.sum(sqrt_lam))
    c = (n - sqrt_lam.size) * s
    return (b + math.sqrt(b * b + 4.0 * n * c)) / (2.0 * n)


def learned_sigma2(lam: np.ndarray, trace: float, d: int, groups: tuple[Group, ...]) -> float:
    """The configuration's ``sigma2`` when learned: the root of
    ``(d - sum n) s + sum_g (n_g - j_g) s^2 / mu_g(s) = c`` (module docstring), ``c`` the
    variance ``trace - sum lam_J`` outside the live indices (> 0: else ValueError)."""
    c = trace - float(sum(lam[i] for J, _ in groups for i in J))
    n_cols = sum(n for _, n in groups)
    if not c > 0 or n_cols >= d:
        raise ValueError(
            "a learned sigma2 needs variance outside the live eigen-indices and fewer columns "
            "than features; this configuration has none."
        )
    roots = [(np.sqrt(lam[list(J)]), n) for J, n in groups]

    def excess(s: float) -> float:
        ghosts = sum((n - r.size) * s * s / group_root(r, n, s) ** 2 for r, n in roots)
        return (d - n_cols) * s + ghosts - c

    lo, hi = c / d, c / (d - n_cols)  # excess(lo) < 0 <= excess(hi) (0 without ghosts)
    if all(n == r.size for r, n in roots) or excess(hi) <= 0:  # the root is hi (to round-off)
        return hi
    return float(scipy.optimize.brentq(excess, lo, hi, xtol=1e-15 * hi, rtol=1e-15))


def family_dim(groups: tuple[Group, ...]) -> int:
    """Dimension of the Schur-Horn fibre of a configuration (0: an isolated point)."""
    out = 0
    for J, n in groups:
        if n >= 2:
            j = len(J)
            out += n * (n - 1) // 2 - (n - j) * (n - j - 1) // 2 - (n - 1)
    return out


def _group_ok(lam: np.ndarray, J: tuple[int, ...], n: int, s: float, rtol: float) -> bool | None:
    """True when every live ``m_i`` exceeds ``s``; None when one is within ``rtol`` of ``s`` (a
    degenerate boundary case)."""
    r = np.sqrt(lam[list(J)])
    m = group_root(r, n, s) * r
    if np.any(np.abs(m - s) <= rtol * s):
        return None
    return bool(np.all(m > s))


def max_cluster_configurations(n_live: int, q: int) -> int:
    """The number of cluster configurations when every group's constraint holds (``s`` small):
    ``sum_k C(P, k) sum_b S(k, b) C(q - k + b, b) - sum_{k <= q} C(P, k)`` with ``P = n_live``
    positive eigenvalues and ``S(k, b)`` Stirling numbers of the second kind (``k`` live indices
    partitioned into ``b`` groups, ``q - k`` spare columns spread over the groups or left
    zero), minus the orthogonal configurations (all groups singletons). An upper bound always."""
    stirling = [[1]]
    for k in range(1, q + 1):
        row = [0] * (k + 1)
        for b in range(1, k + 1):
            row[b] = b * (stirling[k - 1][b] if b < k else 0) + stirling[k - 1][b - 1]
        stirling.append(row)
    total = 0
    for k in range(min(n_live, q) + 1):
        inner = sum(stirling[k][b] * math.comb(q - k + b, b) for b in range(k + 1))
        total += math.comb(n_live, k) * (inner - 1)
    return total


def cluster_configurations(
    lam: np.ndarray,
    s: float,
    q: int,
    rtol: float,
    floor: float = 0.0,
    limit: int = MAX_CLUSTER_CONFIGS,
    learned: tuple[float, int] | None = None,
) -> list[tuple[Group, ...]]:
    """Every cluster configuration (a group with ``n >= 2`` columns), up to signed permutations.

    Groups are listed by their smallest eigen-index; ``lam`` descending, distinct, ``s`` off
    them (``floor``: the absolute tie tolerance). With ``learned = (trace, d)`` the ``sigma2``
    is each configuration's own (`learned_sigma2`; ``s`` is ignored). Raises ValueError beyond
    ``limit`` candidate groups, or when a live ``m_i`` is within ``rtol`` of ``s``, an
    eigenvalue a cluster uses is tied, two groups share their norm, or a learned ``sigma2``
    falls on an eigenvalue outside the cluster while a zero or ghost column could turn towards
    it (degenerate cases: not enumerated)."""
    live = [i for i in range(lam.size) if lam[i] > 0]
    if learned is not None:  # below every configuration's root (module docstring)
        s = float(np.sum(lam[q:])) / learned[1]
        s += max(learned[0] - float(np.sum(lam)), 0.0) / learned[1]
    out: list[tuple[tuple[Group, ...], float]] = []
    examined = 0

    def boundary() -> ValueError:
        return ValueError(
            "a cluster's live M-eigenvalue is within rtol of sigma2 (a degenerate boundary): "
            "clusters are not enumerated here."
        )

    def keep(chosen: tuple[Group, ...]) -> None:
        if learned is None:
            out.append((chosen, s))
            return
        s_star = learned_sigma2(lam, learned[0], learned[1], chosen)
        ok = [_group_ok(lam, J, n, s_star, rtol) for J, n in chosen]
        if None in ok:
            raise boundary()
        if all(ok):
            out.append((chosen, s_star))

    def rec(free: list[int], last_min: int, left: int, chosen: tuple[Group, ...]) -> None:
        nonlocal examined
        if any(n >= 2 for _, n in chosen):
            keep(chosen)
        for a, i in enumerate(free):
            if i <= last_min:
                continue
            rest = free[a + 1 :]
            for extra in range(0, left):
                for more in itertools.combinations(rest, extra):
                    J = (i, *more)
                    for n in range(len(J), left + 1):
                        examined += 1
                        if examined > limit:
                            raise ValueError(
                                "the equal-norm cluster enumeration examines more than "
                                f"{limit} candidate groups here; reduce latent_dim or the "
                                "number of eigenvalues, or leave the clusters out "
                                "(include_clusters=False)."
                            )
                        ok = _group_ok(lam, J, n, s, rtol)
                        if ok is None and learned is None:
                            raise boundary()
                        if ok is not False:  # learned: None at s_lo is not yet a boundary
                            rec(
                                [x for x in free if x not in J],
                                i,
                                left - n,
                                (*chosen, (J, n)),
                            )

    rec(live, -1, q, ())
    used = sorted({i for cfg, _ in out for J, _ in cfg for i in J})
    for i in used:
        others = np.array([lam[j] for j in live if j != i])
        if others.size and np.any(tie_sign(others, float(lam[i]), rtol, floor) == 0):
            raise ValueError(
                "an eigenvalue a cluster uses is tied with another (within rtol): the clusters "
                "form continuous families of another kind and are not enumerated here."
            )
    for cfg, s_cfg in out:
        mus = sorted(group_root(np.sqrt(lam[list(J)]), n, s_cfg) ** 2 for J, n in cfg)
        if any(b - a <= rtol * b for a, b in zip(mus, mus[1:], strict=False)):
            raise ValueError(
                "two groups of a cluster configuration have equal norms (a coincidence of the "
                "spectrum): clusters are not enumerated here."
            )
        spare = sum(n for _, n in cfg) < q or any(n > len(J) for J, n in cfg)
        dead = np.delete(lam, [i for J, _ in cfg for i in J])
        if learned is not None and spare and np.any(tie_sign(dead, s_cfg, rtol, floor) == 0):
            # A zero or ghost column turning towards u_i has curvature ~ lam_i - sigma2.
            raise ValueError(
                "a cluster's learned sigma2 is within rtol of an eigenvalue (a degenerate "
                "point): clusters are not enumerated here."
            )
    return [cfg for cfg, _ in out]


def _constant_diagonal_rotation(m: np.ndarray) -> np.ndarray:
    """An orthogonal ``Q`` with ``Q diag(m) Q^T`` of constant diagonal ``mean(m)``: ``n - 1``
    Givens rotations, each setting one diagonal entry to the mean (Schur-Horn's constructive
    proof)."""
    n = m.size
    mu = float(np.mean(m))
    A = np.diag(m).astype(float)
    Q = np.eye(n)
    tol = 1e-14 * float(np.max(np.abs(m)))
    for _ in range(n - 1):
        dg = np.diag(A)
        hi = [c for c in range(n) if dg[c] > mu + tol]
        lo = [c for c in range(n) if dg[c] < mu - tol]
        if not hi or not lo:
            break
        a, b = hi[0], lo[0]
        # A'_aa(theta) = (A_aa + A_bb)/2 + (A_aa - A_bb)/2 cos 2theta + A_ab sin 2theta = mu
        half = 0.5 * (A[a, a] - A[b, b])
        R = math.hypot(half, A[a, b])
        phi = math.atan2(A[a, b], half)
        two_theta = phi + math.acos(max(-1.0, min(1.0, (mu - 0.5 * (A[a, a] + A[b, b])) / R)))
        c, sn = math.cos(two_theta / 2), math.sin(two_theta / 2)
        G = np.eye(n)
        G[a, a], G[a, b], G[b, a], G[b, b] = c, -sn, sn, c
        A = G.T @ A @ G
        Q = Q @ G
    # A = Q^T diag(m) Q: return the Q' = Q^T with Q' diag(m) Q'^T = A
    return Q.T


def _orbit_size(W: np.ndarray, s: float) -> int | None:
    """``2^q q! / |stabiliser|``: the stabiliser permutes zero columns freely (with signs) and
    equal-up-to-sign nonzero columns among themselves (sign fixed)."""
    d, q = W.shape
    if q > MAX_ORBIT_Q:
        return None
    tol = 1e-8 * math.sqrt(max(float(np.max(np.einsum("ij,ij->j", W, W))), s))
    norms = np.linalg.norm(W, axis=0)
    zero = norms <= tol
    stab = 2 ** int(zero.sum()) * math.factorial(int(zero.sum()))
    seen = [False] * q
    for c in range(q):
        if zero[c] or seen[c]:
            continue
        r = 0
        for c2 in range(q):
            if not zero[c2] and not seen[c2]:
                if min(np.linalg.norm(W[:, c] - W[:, c2]), np.linalg.norm(W[:, c] + W[:, c2])) <= (
                    tol
                ):
                    seen[c2] = True
                    r += 1
        stab *= math.factorial(r)
    return 2**q * math.factorial(q) // stab


@dataclass(frozen=True, eq=False, slots=True)
class ElboClusterPoint:
    """One equal-norm cluster of the diagonal-encoder ELBO, up to signed permutations of the
    latents: a point, or one representative of a continuous family.

    Attributes
    ----------
    groups : tuple of (tuple of int, int)
        The live groups ``(J, n)``: 0-based eigen-indices ``J`` sharing ``n`` columns of equal
        norm (``n - len(J)`` ghosts); the other columns are zero.
    active : tuple of int
        All live eigen-indices, ascending.
    params : LinearVAEParams
        A representative ``(V, log D, W)`` at which the ELBO's gradient vanishes.
    sigma2 : float
        The fixed ``sigma2``, or the configuration's own when learned.
    elbo, log_likelihood : float
        The ELBO is below the log-likelihood by the gap ``G > 0`` (the columns are not
        orthogonal).
    morse_index : int
        Positive eigenvalues of the ELBO's Hessian in all parameters (numeric, exact inertia).
    n_degenerate : int
        Zero eigenvalues beyond the symmetries (numeric); equals ``family_dim``.
    family_dim : int
        Dimension of the continuous family (the Schur-Horn fibre); 0 for an isolated point.
    orbit_size : int or None
        Signed permutations of the representative (None beyond ``q = 64``); for a family, of
        the representative only.
    stability : Stability
        From the numeric inertia: ``SADDLE`` (a cluster is never a local maximum).
    """

    groups: tuple[Group, ...]
    params: LinearVAEParams
    sigma2: float
    elbo: float
    log_likelihood: float
    morse_index: int
    n_degenerate: int
    family_dim: int
    orbit_size: int | None
    stability: Stability

    @property
    def active(self) -> tuple[int, ...]:
        return tuple(sorted(i for J, _ in self.groups for i in J))

    @property
    def is_family(self) -> bool:
        return self.family_dim > 0

    def __repr__(self) -> str:
        g = ", ".join(f"{list(J)}x{n}" for J, n in self.groups)
        return (
            f"ElboClusterPoint(groups=[{g}], sigma2={self.sigma2:.6g}, elbo={self.elbo:.6g}, "
            f"morse_index={self.morse_index}, family_dim={self.family_dim}, "
            f"stability={self.stability.name})"
        )


def cluster_loadings(
    lam: np.ndarray, U: np.ndarray, s: float, q: int, groups: tuple[Group, ...]
) -> np.ndarray:
    """The representative ``W`` of a configuration: each group's ``[sqrt(m_i - s) u_i, 0...] Q^T``
    side by side, zero columns last."""
    d = U.shape[0]
    W = np.zeros((d, q))
    col = 0
    for J, n in groups:
        r = np.sqrt(lam[list(J)])
        t = group_root(r, n, s)
        m = np.concatenate([t * r, np.full(n - len(J), s)])
        Q = _constant_diagonal_rotation(m)
        B = np.zeros((d, n))
        B[:, : len(J)] = U[:, list(J)] * np.sqrt(t * r - s)
        W[:, col : col + n] = B @ Q.T
        col += n
    return W


def cluster_point(
    S: np.ndarray,
    lam: np.ndarray,
    U: np.ndarray,
    s: float,
    q: int,
    groups: tuple[Group, ...],
    *,
    learned: bool = False,
) -> ElboClusterPoint:
    """Representative and numeric classification of one configuration at ``s`` (``learned``:
    ``s`` is the configuration's `learned_sigma2` and the Hessian includes ``sigma2``)."""

    W = cluster_loadings(lam, U, s, q, groups)
    M = W.T @ W + s * np.eye(q)
    V = np.linalg.solve(M, W.T)
    params = LinearVAEParams(V, np.log(s / np.diag(M)), W)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)  # the family's zero modes
        c = classify_vae_point(params, S, s, sigma2_learned=learned)
    fam = family_dim(groups)
    return ElboClusterPoint(
        groups=groups,
        params=params,
        sigma2=s,
        elbo=linear_vae_elbo(params, cov=S, sigma2=s),
        log_likelihood=log_likelihood(W, S, s),
        morse_index=c.morse_index,
        n_degenerate=c.n_degenerate,
        family_dim=fam,
        orbit_size=_orbit_size(W, s),
        stability=c.stability,
    )
