"""Every stationary point of the diagonal-encoder ELBO, exactly, for small (d, q): an oracle for
`elbo_stability_map()` (docs/theory.md, "The linear VAE's own landscape", point 4).

For ``S = diag(lam)`` with rational ``lam`` and a rational ``s``, the ELBO of `linear_vae_elbo()`
is written from its definition in the symbols ``V`` (q x d), ``D`` (q, positive) and ``W``
(d x q), and differentiated by sympy:

1. the encoder equations are solved exactly: ``dELBO/dV = 0`` is linear in ``V`` and
   ``dELBO/dD_c = 0`` gives ``D_c`` in closed form (`encoder_solution`);
2. the decoder gradient at that encoder satisfies, as an identity of rational functions of the
   symbolic entries of a general symmetric ``S``, ``W`` and ``s``,
   ``C grad_W M = S W - W M diag(M)^-1 M`` with ``C = W W^T + s I`` and ``M = W^T W + s I``, both
   invertible (`gradient_identity`), so ``grad = 0`` iff that polynomial system holds;
3. that system, with ``y_c M_cc = 1`` for the denominators, is solved by a Groebner basis
   (grevlex, then FGLM to lex; the ideal is checked to be zero-dimensional) and the real roots are
   kept (`real_stationary_loadings`).

Nothing here reads the enumeration: the roots are matched to it in the tests. Cost: (2, 2) about
10 s, (3, 2) a few minutes (Groebner bases grow fast; larger sizes are not attempted).
"""

from __future__ import annotations

from typing import Any

import sympy

from ._inputs import exact_eigenvalues, exact_sigma2

__all__ = ["encoder_solution", "gradient_identity", "real_stationary_loadings"]

# A root's imaginary parts below this (at 50 digits) are round-off of an exact real root.
_IMAG_TOL = sympy.Rational(1, 10**30)


def _elbo(S: sympy.Matrix, W: sympy.Matrix, V: sympy.Matrix, D: list, s: Any) -> Any:
    """The ELBO up to its constant: ``-E|x - W V x|^2 / (2 s) - tr(W diag(D) W^T) / (2 s) - KL``
    with ``KL = 1/2 (sum D + tr(V S V^T) - q - sum log D)`` (theory.md §6)."""
    d = W.shape[0]
    R = sympy.eye(d) - W * V
    Sig = sympy.diag(*D)
    kl = sympy.Rational(1, 2) * (Sig.trace() + (V * S * V.T).trace() - sum(sympy.log(x) for x in D))
    return -(R * S * R.T).trace() / (2 * s) - (W * Sig * W.T).trace() / (2 * s) - kl


def _symbols(d: int, q: int) -> tuple[sympy.Matrix, sympy.Matrix, list]:
    W = sympy.Matrix(d, q, lambda i, j: sympy.Symbol(f"w{i}{j}", real=True))
    V = sympy.Matrix(q, d, lambda i, j: sympy.Symbol(f"v{i}{j}", real=True))
    D = [sympy.Symbol(f"D{c}", positive=True) for c in range(q)]
    return W, V, D


def encoder_solution(S: sympy.Matrix, W: sympy.Matrix, s: Any) -> tuple[dict, dict, Any]:
    """The encoder equations solved exactly for ``V`` and ``D`` (unique solution), and the ELBO
    with them substituted."""
    d, q = W.shape
    _, V, D = _symbols(d, q)
    elbo = _elbo(S, W, V, D, s)
    sol_V = sympy.solve([sympy.diff(elbo, v) for v in V], list(V), dict=True)
    if len(sol_V) != 1:  # pragma: no cover - the V equations are linear with matrix M (x) S
        raise RuntimeError(f"expected one encoder solution for V; got {len(sol_V)}")
    sol_D = {}
    for Dc in D:
        roots = sympy.solve(sympy.diff(elbo, Dc), Dc)
        if len(roots) != 1:  # pragma: no cover - 1/(2 D) - M_cc / (2 s) = 0
            raise RuntimeError(f"expected one root for {Dc}; got {roots}")
        sol_D[Dc] = roots[0]
    return sol_V[0], sol_D, elbo


def gradient_identity(d: int, q: int) -> bool:
    """Whether ``C grad_W M = S W - W M diag(M)^-1 M`` holds identically at the optimal encoder,
    for a general symmetric ``S`` (symbols), general ``W`` and ``s``."""
    S = sympy.Matrix(d, d, lambda i, j: sympy.Symbol(f"S{min(i, j)}{max(i, j)}", real=True))
    s = sympy.Symbol("s", positive=True)
    W, _, _ = _symbols(d, q)
    sol_V, sol_D, elbo = encoder_solution(S, W, s)
    grad = sympy.Matrix(d, q, lambda i, j: sympy.diff(elbo, W[i, j])).subs(sol_V).subs(sol_D)
    M = W.T * W + s * sympy.eye(q)
    C = W * W.T + s * sympy.eye(d)
    Md = sympy.diag(*[M[c, c] for c in range(q)])
    residual = C * grad * M - (S * W - W * M * Md.inv() * M)
    return all(sympy.simplify(sympy.together(e)) == 0 for e in residual)


def real_stationary_loadings(eigenvalues: Any, sigma2: Any, latent_dim: int) -> list[sympy.Matrix]:
    """Every real ``W`` at which the diagonal-encoder ELBO for ``cov = diag(eigenvalues)`` is
    stationary in all parameters (the encoder being then the one of `encoder_solution`), as exact
    sympy matrices. Raises if the polynomial system is not zero-dimensional (ties, or ``sigma2``
    at an eigenvalue, give continuous families)."""
    lam = [sympy.Rational(x.numerator, x.denominator) for x in exact_eigenvalues(eigenvalues)]
    sf = exact_sigma2(sigma2, allow_symbol=False)
    s = sympy.Rational(sf.numerator, sf.denominator)
    d, q = len(lam), int(latent_dim)
    S = sympy.diag(*lam)
    W = sympy.Matrix(d, q, lambda i, j: sympy.Symbol(f"w{i}{j}"))
    y = [sympy.Symbol(f"y{c}") for c in range(q)]
    M = W.T * W + s * sympy.eye(q)
    system = list(S * W - W * M * sympy.diag(*y) * M) + [y[c] * M[c, c] - 1 for c in range(q)]
    gens = [*y, *list(W)]
    basis = sympy.groebner([sympy.expand(e) for e in system], *gens, order="grevlex")
    if not basis.is_zero_dimensional:
        raise ValueError(
            "the stationary points form a continuous family here (ties or sigma2 at an "
            "eigenvalue): no finite list of roots."
        )
    roots = sympy.solve_poly_system(list(basis.fglm("lex").exprs), *gens)
    out = []
    for root in roots or []:
        if all(abs(sympy.im(sympy.N(v, 50))) < _IMAG_TOL for v in root):
            out.append(sympy.Matrix(d, q, [sympy.re(v) for v in root[q:]]))
    return out
