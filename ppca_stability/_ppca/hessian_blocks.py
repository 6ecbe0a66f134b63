"""Exact inertia of the scaled Hessian of any ``W`` from its block structure (theory.md §3).

With the thin SVD ``W = Q diag(w) R^T`` (``q <= d``) and ``P`` an orthonormal basis of span(Q)'s
complement, every direction is ``E = Q M R^T + P X R^T`` (``M`` q x q, ``X`` (d - q) x q): an
isometry, so the Hessian's eigenvalues are those of the form in ``(M, X)``. In scaled units
(``sigma2 = 1``), ``K = C^-1`` is ``1`` on span(P) and ``diag(1 / c)`` on span(Q), ``c = 1 + w^2``,
and the Hessian-vector product of `_hessian.hvp_scaled` splits into (``k = diag(1 / c)``,
``v = diag(w / c)``, ``Sig = Q^T S Q``, ``G = P^T S Q``, ``S_pp = P^T S P``):

* ``X X``: ``S_pp X k - X b`` with ``b = k + v Sig v``. In the eigenbasis ``S_pp = U diag(mu) U^T``
  (an orthogonal change of ``X``) row ``j`` decouples: the q x q block ``mu_j k - b``. So all
  ``(d - q) q`` eigenvalues of this block come from ``d - q`` eigendecompositions of size q.
* ``X M``: ``G N(M)`` with ``N(M) = k M k - v M^T v``, entrywise on the pairs ``(a, b), (b, a)``.
* ``M M``: ``k Sig k M k - k M b + (I - k Sig) v M^T v - v M^T k Sig v``.
* ``sigma2`` (learned): the mixed column ``K (Y - Z) - K S K Y`` split the same way, and
  ``-tr(K^3 S) + tr(K^2) / 2``.

Haynsworth's inertia additivity, ``In(H) = In(H_XX) + In(H / H_XX)``, then counts the eigenvalues
of ``H - t I`` above zero from the ``(d - q) q`` known eigenvalues of ``H_XX - t I`` and a Schur
complement of size ``q^2`` (+1), whose coupling term is a sum over ``j`` of rank-structured
products: ``sum_j (G_j N) (mu_j k - b - t)^-1 (G_j N')^T``, O(d q^4) flops with BLAS and O(q^4)
memory. No ``(d q)^2`` object is formed. The symmetry modes ``{W A : A = -A^T}`` are
``M = diag(w) A`` and are removed by an orthogonal change of basis within each pair
``(a, b), (b, a)`` of ``M``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import scipy.linalg.lapack

from .likelihood import Model

__all__ = ["HessianBlocks", "structured_counts"]


@dataclass(frozen=True, eq=False, slots=True)
class HessianBlocks:
    """The blocks of the scaled Hessian of one ``W`` (``q <= d``), restricted to the complement of
    the symmetry modes; see the module docstring. Built by `from_model`."""

    k: np.ndarray  # (q,) 1 / c
    v: np.ndarray  # (q,) w / c
    eta: np.ndarray  # (d - q, q) eigenvalues of the X X block, row j: eig(mu_j k - b)
    V: np.ndarray  # (d - q, q, q) their eigenvectors
    Gh: np.ndarray  # (d - q, q) U^T G: the coupling in the eigenbasis of S_pp
    H_MM: np.ndarray  # (n_m, n_m) the M M block (+ sigma2) in the reduced basis
    basis: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # reduced basis of M
    mixed_hat: np.ndarray | None  # (d - q, q) U^T P^T mixed R, sigma2 learned only
    joint: bool

    @classmethod
    def from_model(
        cls,
        model: Model,
        sym_weights: np.ndarray,
        joint: bool,
        gap: bool = False,
        s_unit: float = 1.0,
    ) -> HessianBlocks:
        """``sym_weights``: the singular values that span symmetry modes (0 for collapsed ones).
        ``gap``: the blocks of ``l - G`` instead of ``l`` (the diagonal-encoder ELBO's profile,
        `_gap_hessian`). ``s_unit``: the ``sigma2`` coordinate's unit (a congruence: it changes
        the scale the zero band is relative to, never the inertia)."""
        d, q = model.W.shape
        Q, R = model.Q, model.Rt.T
        k, v = 1.0 / model.c, model.w_over_c()
        SQ = model.SQ  # S Q in scaled units
        Sig = Q.T @ SQ
        Sig = (Sig + Sig.T) / 2.0
        P = np.linalg.qr(Q, mode="complete")[0][:, q:]
        S_pp = P.T @ model.S_mul(P)
        mu, U = np.linalg.eigh((S_pp + S_pp.T) / 2.0)
        b = np.diag(k) + v[:, None] * Sig * v[None, :]
        H_full = _mm_block(k, v, Sig, b).reshape(q * q, q * q)
        if gap:
            Gamma, H_gap = _gap_hessian(R, model.w, model.c, joint)
            b = b + Gamma  # the X X block of -G is -X Gamma: still one q x q block per row
            H_full -= H_gap[: q * q, : q * q]
        eta, V = np.linalg.eigh(mu[:, None, None] * np.diag(k)[None] - b[None])
        Gh = U.T @ (P.T @ SQ)
        basis = _reduced_basis(sym_weights)
        H_MM = _restrict(H_full, basis)
        del H_full
        mixed_hat = None
        if joint:
            Y, Z = model.span_products()
            mixed = model.apply(-1, Y - Z) - model.span_products(-2)[1]
            d_ss = -model.trace_power_S(-3) + 0.5 * model.trace_power(-2)
            mixed_hat = s_unit * (U.T @ (P.T @ mixed @ R))  # G does not couple sigma2 with X
            mixed_M = (Q.T @ mixed @ R).ravel()
            if gap:
                mixed_M = mixed_M - H_gap[: q * q, -1]
                d_ss -= H_gap[-1, -1]
            H_MM = _bordered(H_MM, _gather_rows(s_unit * mixed_M, basis), s_unit**2 * d_ss)
        return cls(k, v, eta, V, Gh, H_MM, basis, mixed_hat, joint)

    @property
    def size(self) -> int:
        return self.eta.size + self.H_MM.shape[0]

    def scale(self, iterations: int = 30) -> float:
        """``max(||H_XX||, ||H_MM||, ||H_XM||)``, between ``||H|| / 2`` and ``||H||`` (the first
        exactly, the others from below by power iteration from a fixed start)."""
        q = self.k.size
        m = self.H_MM.shape[0]
        x_norm = float(np.max(np.abs(self.eta), initial=0.0))
        m_norm = _power_norm(lambda x: self.H_MM @ (self.H_MM @ x), np.ones(m), iterations)
        alpha, beta = np.outer(self.k, self.k), np.outer(self.v, self.v)

        def normal(x: np.ndarray) -> np.ndarray:  # H_XM^T H_XM on M-space
            R_ = self.Gh.T @ self.coupling(x.reshape(q, q))
            return (alpha * R_ - beta * R_.T).ravel()

        c_norm = _power_norm(normal, np.ones(q * q), iterations) if self.eta.size else 0.0
        return max(x_norm, m_norm, c_norm)

    def count_above(self, t: float) -> int:
        """The number of eigenvalues of the restricted Hessian above ``t`` (Sylvester/Haynsworth:
        ``In(H - t) = In(H_XX - t) + In((H - t) / (H_XX - t))``, the last from an ``L D L^T``
        factorization). ``H_XX - t`` must be nonsingular: `safe_shift` keeps ``t`` away from its
        eigenvalues."""
        n_x = int(np.sum(self.eta > t))
        if self.H_MM.size == 0:
            return n_x
        return n_x + _n_positive(self._schur(t))

    def safe_shift(self, t: float) -> float:
        """A shift in ``[t, 2 t]`` as far as possible from the eigenvalues of the X X block, so
        that ``H_XX - t`` is well conditioned."""
        candidates = t * (1.0 + np.arange(17) / 16.0)
        if self.eta.size == 0:
            return float(t)
        gaps = np.min(np.abs(candidates[:, None] - self.eta.reshape(1, -1)), axis=1)
        return float(candidates[int(np.argmax(gaps))])

    def _schur(self, t: float) -> np.ndarray:
        """``(H - t) / (H_XX - t)`` in the reduced basis of ``M`` (+ sigma2)."""
        q = self.k.size
        inv = 1.0 / (self.eta - t)  # (d - q, q)
        Hinv = np.einsum("jbc,jc,jdc->jbd", self.V, inv, self.V, optimize=True)
        GG = np.einsum("ja,jc->jac", self.Gh, self.Gh).reshape(-1, q * q)
        # raw[a, a', b, b'] = sum_j G_ja G_ja' (H_j - t)^-1_bb': the correction is sum_j
        # (G_j N) (H_j - t)^-1 (G_j N')^T with N = alpha o M - beta o M^T (M-space map J).
        raw = (GG.T @ Hinv.reshape(-1, q * q)).reshape(q, q, q, q)
        del GG, Hinv
        # J maps the basis of M-space onto vectors with the same two entries (a, b), (b, a), so
        # the correction in the reduced basis is a gather: rows, then columns.
        i1, d1, i2, d2 = coupled = self._coupled_basis()
        x1, y1 = np.divmod(i1, q)
        x2, y2 = np.divmod(i2, q)
        T = raw[x1, :, y1, :]
        T *= d1[:, None, None]
        part = raw[x2, :, y2, :]
        del raw
        part *= d2[:, None, None]
        T += part
        del part
        corr = _gather_rows(T.reshape(i1.size, q * q).T, coupled)  # symmetric: rows = columns
        del T
        if self.joint:
            mixed = cast(np.ndarray, self.mixed_hat)  # set whenever sigma2 is learned
            z = np.einsum("jbc,jc,jdc,jd->jb", self.V, inv, self.V, mixed, optimize=True)
            side = _gather_rows((self.Gh.T @ z).ravel(), coupled)
            corr = _bordered(corr, side, float(np.sum(mixed * z)))
        # H_MM - t - corr, in place: at q = 64 each of these is up to 128 MiB.
        np.subtract(self.H_MM, corr, out=corr)
        corr[np.diag_indices_from(corr)] -= t
        return corr

    def _coupled_basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``J`` applied to the reduced basis of M-space: same indices, new coefficients."""
        i1, c1, i2, c2 = self.basis
        alpha, beta = np.outer(self.k, self.k).ravel(), np.outer(self.v, self.v).ravel()
        return i1, alpha[i1] * c1 - beta[i1] * c2, i2, alpha[i2] * c2 - beta[i2] * c1

    def coupling(self, M: np.ndarray) -> np.ndarray:
        """``U^T H_XM M`` for a (q, q) ``M``: ``G_hat N(M)``."""
        alpha, beta = np.outer(self.k, self.k), np.outer(self.v, self.v)
        return self.Gh @ (alpha * M - beta * M.T)


def structured_counts(
    model: Model,
    sym_weights: np.ndarray,
    joint: bool,
    rtol: float,
    natural: float,
    gap: bool,
    s_unit: float = 1.0,
) -> tuple[int, int, int]:
    """``(n_pos, n_neg, n_zero)`` of the restricted scaled Hessian of ``l`` (``gap``: of
    ``l - G``) for the zero band ``rtol * max(scale, natural)``, ``scale`` the largest block norm
    (`HessianBlocks.scale`) with ``sigma2`` in units of ``s_unit``."""
    blocks = HessianBlocks.from_model(model, sym_weights, joint, gap, s_unit)
    # A floor keeps the shifted block invertible when the Hessian underflows to exactly 0 (|W| of
    # 1e200, where even the natural scale 1 / |W|^2 is 0): below it everything counts as zero.
    tol = max(rtol * max(blocks.scale(), natural), np.sqrt(np.finfo(float).tiny))
    n_pos = blocks.count_above(blocks.safe_shift(tol))
    n_neg = blocks.size - blocks.count_above(blocks.safe_shift(-tol))
    return n_pos, n_neg, blocks.size - n_pos - n_neg


def _gap_hessian(
    R: np.ndarray, w: np.ndarray, c: np.ndarray, joint: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The Hessian of the posterior gap ``G = 1/2 (sum_c log M_cc - log det M)``, ``M = W^T W +
    s I``, in the scaled coordinates ``(M, X, s)`` of the module docstring, at ``s = 1``.

    ``G`` depends on ``E = Q M R^T + P X R^T`` and ``s`` only through ``M``: ``dM = R (N + e_s I)
    R^T`` with ``N = diag(w) M + M^T diag(w)``, and ``d^2 M = 2 E^T E = 2 R (M^T M + X^T X)
    R^T``. With ``m = diag(M)`` (the latents' basis) and ``Gamma = R^T (diag(1/m) - M^-1) R``,

        d^2 G = -1/2 sum_c dM_cc^2 / m_c^2 + 1/2 sum_ab N'_ab^2 / (c_a c_b)
                + tr(Gamma (M^T M + X^T X)),    N' = N + e_s I.

    So the X X block gains ``X -> X Gamma`` (``Gamma = 0`` when ``W^T W`` is diagonal, e.g. at
    every stationary point with orthogonal columns), X couples with nothing new, and the rest is
    a ``(q^2 + 1)``-square matrix on ``(M, s)``. Returns ``(Gamma, H)``, ``H`` indexed
    ``a * q + b`` for ``M[a, b]`` then ``s`` (when ``joint``), in O(q^5) flops.
    """
    q = w.size
    m = (R * R) @ c  # diag(R diag(c) R^T)
    Gamma = (R.T / m) @ R - np.diag(1.0 / c)
    n = q * q + joint
    # dM_cc = sum_ab 2 w_a R_ca R_cb M_ab (+ e_s): the first term, -1/2 J^T diag(1/m^2) J.
    J = np.zeros((q, n))
    J[:, : q * q] = (2.0 * (R * w[None, :])[:, :, None] * R[:, None, :]).reshape(q, q * q)
    if joint:
        J[:, -1] = 1.0
    H = -0.5 * (J.T / (m * m)) @ J
    # The second term pairs (a, b) with (b, a): f = 1 / (c_a c_b).
    f = 1.0 / np.outer(c, c)
    a, b = np.divmod(np.arange(q * q), q)
    H[np.arange(q * q), np.arange(q * q)] += (f * (w * w)[:, None]).ravel()
    H[a * q + b, b * q + a] += (f * np.outer(w, w)).ravel()
    if joint:
        diag = np.arange(q) * (q + 1)
        H[diag, -1] += np.diag(f) * w
        H[-1, diag] += np.diag(f) * w
        H[-1, -1] += 0.5 * float(np.sum(np.diag(f)))
    # The third: M -> M Gamma, i.e. kron(I, Gamma) on M.ravel().
    for x in range(q):
        H[x * q : (x + 1) * q, x * q : (x + 1) * q] += Gamma
    return Gamma, H


def _power_norm(
    normal: Callable[[np.ndarray], np.ndarray], x: np.ndarray, iterations: int
) -> float:
    """``sqrt(||A^T A x||)`` after power iteration on ``A^T A`` (``normal``): a lower bound on
    ``||A||`` that converges to it."""
    est = 0.0
    for _ in range(iterations):
        n = float(np.linalg.norm(x))
        if n == 0.0:
            return est
        y = normal(x / n)
        est, x = float(np.sqrt(np.linalg.norm(y))), y
    return est


def _n_positive(A: np.ndarray) -> int:
    """Positive eigenvalues of the symmetric matrix whose lower triangle is the C-ordered ``A``
    (overwritten), by Sylvester's law: those of ``D`` in the Bunch-Kaufman ``A = U^T D U`` of
    LAPACK ``sytrf`` on ``A.T`` (Fortran order, so no copy; its upper triangle is ``A``'s lower):
    1 x 1 blocks, and 2 x 2 blocks where ``ipiv[k] = ipiv[k + 1] < 0``."""
    # The workspace query matters: the wrapper's default is the unblocked algorithm, 8x slower.
    lwork, _ = scipy.linalg.lapack.dsytrf_lwork(A.shape[0], lower=0)
    LD, ipiv, info = scipy.linalg.lapack.dsytrf(A.T, lower=0, overwrite_a=1, lwork=int(lwork))
    if info < 0:  # pragma: no cover - an argument error, not a property of A
        raise RuntimeError(f"LAPACK dsytrf failed (info = {info})")
    diag = np.diag(LD).copy()
    two = np.flatnonzero(ipiv < 0)[::2]  # each 2 x 2 block's first row
    in_two = np.zeros(diag.size, dtype=bool)
    in_two[two], in_two[two + 1] = True, True
    pos = int(np.sum(diag[~in_two] > 0.0))
    a, b, c = diag[two], LD[two, two + 1], diag[two + 1]
    det, tr = a * c - b * b, a + c
    # A 2 x 2 block has one eigenvalue of each sign when det < 0, else both of the trace's sign.
    pos += int(np.sum(det < 0.0)) + 2 * int(np.sum((det >= 0.0) & (tr > 0.0)))
    return pos


def _mm_block(k: np.ndarray, v: np.ndarray, Sig: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The M M block as a (q, q, q, q) array, ``[a, b, x, y]`` = d out[a, b] / d M[x, y].

    Each term has a Kronecker delta between an output and an input index, so it fills a
    three-index diagonal of the array: O(q^3) work into one O(q^4) allocation."""
    q = k.size
    H = np.zeros((q, q, q, q))
    s0, s1, s2, s3 = H.strides

    def diagonal(strides: tuple[int, int, int]) -> np.ndarray:
        return np.lib.stride_tricks.as_strided(H, shape=(q, q, q), strides=strides)

    kS = k[:, None] * Sig
    # k Sig k M k: [a, b, x, b] += (k Sig k)[a, x] k[b]
    diagonal((s0, s1 + s3, s2))[...] += (kS * k[None, :])[:, None, :] * k[None, :, None]
    # -k M b: [a, b, a, y] -= k[a] b[y, b]
    diagonal((s0 + s2, s1, s3))[...] -= k[:, None, None] * b.T[None, :, :]
    # (I - k Sig) v M^T v: [a, b, b, y] += ((I - k Sig) v)[a, y] v[b]
    diagonal((s0, s1 + s2, s3))[...] += ((np.eye(q) - kS) * v[None, :])[:, None, :] * v[
        None, :, None
    ]
    # -v M^T (k Sig v): [a, b, x, a] -= v[a] (k Sig v)[x, b]
    diagonal((s0 + s3, s1, s2))[...] -= v[:, None, None] * (kS * v[None, :]).T[None, :, :]
    return H


def _reduced_basis(
    sym_weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An orthonormal basis of the complement of the symmetry modes in M-space, as columns
    with two entries each: ``(i1, c1, i2, c2)``, ``i2`` the transpose of ``i1``.

    The symmetry mode of a pair ``a < b`` with ``w_a > 0`` is ``(w_a e_ab - w_b e_ba) / h``
    (``h = hypot(w_a, w_b)``); its complement in that pair is ``(w_b e_ab + w_a e_ba) / h``.
    """
    w = sym_weights
    q = w.size
    a, b = np.triu_indices(q, 1)
    keep = w[a] > 0
    h = np.hypot(w[a], w[b])
    diag = np.arange(q) * (q + 1)
    i1 = [diag, a[keep] * q + b[keep], a[~keep] * q + b[~keep], b[~keep] * q + a[~keep]]
    i2 = [diag, b[keep] * q + a[keep], b[~keep] * q + a[~keep], a[~keep] * q + b[~keep]]
    cb, ca = w[b][keep] / h[keep], w[a][keep] / h[keep]
    ones, zeros = np.ones(int((~keep).sum())), np.zeros(int((~keep).sum()))
    c1 = [np.ones(q), cb, ones, ones]
    c2 = [np.zeros(q), ca, zeros, zeros]
    out = [np.concatenate(x) for x in (i1, c1, i2, c2)]
    out[0], out[2] = out[0].astype(np.intp), out[2].astype(np.intp)
    return out[0], out[1], out[2], out[3]


def _gather_rows(
    A: np.ndarray, basis: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
) -> np.ndarray:
    """``B^T A`` for the two-entries-per-column basis ``B`` (rows of ``A``, or entries of a
    vector), with one temporary the size of the result."""
    i1, c1, i2, c2 = basis
    shape = (-1,) + (1,) * (A.ndim - 1)
    out = A[i1]
    out *= c1.reshape(shape)
    part = A[i2]
    part *= c2.reshape(shape)
    out += part
    return out


def _restrict(
    H: np.ndarray, basis: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
) -> np.ndarray:
    """``B^T H B`` for a symmetric ``H`` (its transpose, equal up to round-off): rows, then the
    rows of the transposed view."""
    return _gather_rows(_gather_rows(H, basis).T, basis)


def _bordered(A: np.ndarray, side: np.ndarray, corner: float) -> np.ndarray:
    """``[[A, side], [side^T, corner]]``: the sigma2 row and column (learned sigma2)."""
    n = A.shape[0]
    out = np.empty((n + 1, n + 1))
    out[:n, :n], out[:n, n], out[n, :n], out[n, n] = A, side, side, corner
    return out
