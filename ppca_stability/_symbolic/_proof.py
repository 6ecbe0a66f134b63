"""A symbolic proof, for small sizes, of the closed-form Hessian spectrum (theory.md §3).

For ``S = diag(lam_1, ..., lam_d)`` with symbolic ``lam_j > 0`` and symbolic ``s > 0``, and every
index set ``I`` with ``|I| = k <= q``, write ``lam_i = s + a_i^2`` (``a_i > 0``) for ``i`` in ``I``
so that ``W_I`` (column ``c`` equal to ``a_{i_c} e_{i_c}``, the rest zero) has polynomial
entries. Then, with the sympy gradient and Hessian of the full likelihood
(`hessian_expr()`):

1. the gradient in ``W`` vanishes identically at ``W_I``;
2. the Hessian's characteristic polynomial equals ``prod (x - mu)`` over the closed-form
   eigenvalues ``mu`` (the function `exact_stability_map()` uses,
   rotation zeros included), as an identity in the field ``Q(a, lam, s)(x)``.

The Hessian is first split into the connected blocks of its nonzero pattern (a permutation
similarity), whose characteristic polynomials are multiplied. No ordering of the eigenvalues is
assumed, so ties are covered too. The extension to ``S = U Lam U^T`` and ``W_I R`` is the
orthogonal invariance ``l(U W R; U S U^T) = l(W; S)``, which is not part of this proof.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import sympy
from sympy.polys.domains import QQ
from sympy.polys.matrices import DomainMatrix

from .._ppca.inertia import symmetry_dim
from ._exact import hessian_groups
from ._expressions import cached_gradient, cached_hessian, cached_symbols, check_sizes

__all__ = ["ProofCase", "ClosedFormProof", "verify_hessian_closed_form"]


@dataclass(frozen=True, eq=False, slots=True)
class ProofCase:
    """The proof at one stationary point ``W_I``.

    Attributes
    ----------
    active : tuple of int
        ``I`` (0-based).
    gradient_vanishes : bool
    charpoly_matches : bool
    block_sizes : tuple of int
        Sizes of the Hessian's blocks (connected components of its nonzero pattern).
    seconds : float
    """

    active: tuple[int, ...]
    gradient_vanishes: bool
    charpoly_matches: bool
    block_sizes: tuple[int, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        return self.gradient_vanishes and self.charpoly_matches


@dataclass(frozen=True, eq=False, slots=True)
class ClosedFormProof:
    """What `verify_hessian_closed_form()` proved, case by case.

    Attributes
    ----------
    n_features, latent_dim : int
    cases : tuple of ProofCase
        One per index set ``I``, ``|I| <= latent_dim``, k ascending then lexicographic.
    seconds : float
        Total wall time, building the sympy Hessian included.
    """

    n_features: int
    latent_dim: int
    cases: tuple[ProofCase, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)

    @property
    def statement(self) -> str:
        """What was proved, in words."""
        d, q = self.n_features, self.latent_dim
        return (
            f"For d = {d}, q = {q}, S = diag(lam_1..lam_{d}) with symbolic lam_j > 0 and symbolic "
            f"s > 0, and each of the {len(self.cases)} index sets I with |I| <= {q} (lam_i = s + "
            "a_i^2 for i in I): the sympy gradient of the log-likelihood in W vanishes at W_I, and "
            "the characteristic polynomial of its sympy Hessian in W at W_I equals prod(x - mu) "
            "over the closed-form eigenvalues of theory.md §3 with multiplicities (rotation zeros "
            "included), identically in (a, lam, s, x)."
        )

    def __repr__(self) -> str:
        wa = max(len("active"), *(len(str(c.active)) for c in self.cases)) + 2
        wb = max(len("blocks"), *(len(str(c.block_sizes)) for c in self.cases)) + 2
        rows = [
            f"ClosedFormProof(n_features={self.n_features}, latent_dim={self.latent_dim}, "
            f"passed={self.passed}, {self.seconds:.2f} s)",
            f"  {'active':<{wa}}{'gradient = 0':<14}{'charpoly':<10}{'blocks':<{wb}}seconds",
        ]
        for c in self.cases:
            rows.append(
                "  "
                f"{str(c.active):<{wa}}{str(c.gradient_vanishes):<14}{str(c.charpoly_matches):<10}{str(c.block_sizes):<{wb}}{c.seconds:.2f}"
            )
        return "\n".join(rows)


def _blocks(nonzero: list[list[bool]]) -> list[list[int]]:
    """Connected components of a symmetric nonzero pattern, each sorted."""
    n, seen, blocks = len(nonzero), set(), []
    for start in range(n):
        if start in seen:
            continue
        stack, block = [start], []
        seen.add(start)
        while stack:
            i = stack.pop()
            block.append(i)
            for j in range(n):
                if nonzero[i][j] and j not in seen:
                    seen.add(j)
                    stack.append(j)
        blocks.append(sorted(block))
    return blocks


def _prove_case(d: int, q: int, active: tuple[int, ...]) -> ProofCase:
    t0 = time.perf_counter()
    sym = cached_symbols(d, q)
    s = sym.sigma2
    a = {i: sympy.Symbol(f"a_{i}", positive=True) for i in active}
    lam = tuple(
        s + a[i] ** 2 if i in a else sympy.Symbol(f"lambda_{i}", positive=True) for i in range(d)
    )
    point = {sym.cov[r, c]: (lam[r] if r == c else 0) for r in range(d) for c in range(r, d)}
    point.update({sym.loadings[r, c]: 0 for r in range(d) for c in range(q)})
    point.update({sym.loadings[i, c]: a[i] for c, i in enumerate(active)})
    K = QQ.frac_field(*a.values(), *(v for v in lam if v.is_Symbol), s)

    grad_W, _ = cached_gradient(d, q)
    gradient_vanishes = all(
        K.is_zero(K.from_sympy(sympy.cancel(g.xreplace(point)))) for g in grad_W
    )

    H = cached_hessian(d, q, "loadings")
    n = d * q
    entries = [
        [K.from_sympy(sympy.cancel(H[i, j].xreplace(point))) if j >= i else None for j in range(n)]
        for i in range(n)
    ]
    entries = [[entries[min(i, j)][max(i, j)] for j in range(n)] for i in range(n)]
    blocks = _blocks([[not K.is_zero(e) for e in row] for row in entries])
    x = sympy.Symbol("x")
    charpoly = sympy.Poly(1, x, domain=K)
    for b in blocks:
        coeffs = DomainMatrix(
            [[entries[i][j] for j in b] for i in b], (len(b), len(b)), K
        ).charpoly()
        charpoly *= sympy.Poly.from_list(coeffs, x, domain=K)
    closed = sympy.Poly(x, x, domain=K) ** symmetry_dim(len(active), q)
    for value, mult in hessian_groups(lam, active, s, q):
        closed *= sympy.Poly(x - value, x, domain=K) ** mult
    return ProofCase(
        active,
        gradient_vanishes,
        charpoly == closed,
        tuple(len(b) for b in blocks),
        time.perf_counter() - t0,
    )


def verify_hessian_closed_form(n_features: int, latent_dim: int) -> ClosedFormProof:
    """Prove symbolically that the Hessian at every stationary point has the closed-form spectrum.

    Parameters
    ----------
    n_features : int
        ``d``. The cost grows fast: on two cores (3, 2) takes about 4 s, (4, 2) 13 s and (3, 3)
        18 s (``benchmarks/bench_symbolic.py``).
    latent_dim : int
        ``q``, at most ``d``.

    Returns
    -------
    ClosedFormProof
        ``.passed``, ``.statement`` (what was proved) and one `ProofCase` per index set.

    Examples
    --------
    >>> from ppca_stability.symbolic import verify_hessian_closed_form
    >>> proof = verify_hessian_closed_form(2, 1)
    >>> proof.passed, [c.active for c in proof.cases]
    (True, [(), (0,), (1,)])
    """
    d, q = check_sizes(n_features, latent_dim)
    t0 = time.perf_counter()
    cases = tuple(
        _prove_case(d, q, active)
        for k in range(q + 1)
        for active in itertools.combinations(range(d), k)
    )
    return ClosedFormProof(d, q, cases, time.perf_counter() - t0)
