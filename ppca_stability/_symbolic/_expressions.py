"""The pPCA mean log-likelihood, its gradient and its Hessian as sympy expressions.

Symbols (all real; ``sigma2`` positive): ``W_a_c`` for ``loadings[a, c]``, ``S_a_b`` (``a <= b``)
for the symmetric covariance, ``sigma2``. The likelihood is written with the matrix-determinant
lemma and Woodbury (theory.md §1), ``M = W^T W + s I_q``:

    l = -1/2 [ d log 2 pi + (d - q) log s + log det M + (tr S - tr(adj(M) W^T S W) / det M) / s ]

which equals ``-1/2 [d log 2 pi + log det C + tr(C^{-1} S)]`` and keeps every expression a
rational function of the entries (times logarithms), small enough to differentiate twice.
Derivatives are taken by sympy; nothing here is hand-derived.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from .._base.validation import (
    check_cov,
    check_loadings,
    check_positive_int,
    check_sigma2,
    check_sigma2_learned,
)

__all__ = [
    "LikelihoodSymbols",
    "likelihood_symbols",
    "log_likelihood_expr",
    "gradient_expr",
    "hessian_expr",
    "lambdify_expr",
]


@dataclass(frozen=True, eq=False, slots=True)
class LikelihoodSymbols:
    """The symbols of the expressions for one ``(n_features, latent_dim)``.

    Attributes
    ----------
    loadings : sympy.ImmutableMatrix, shape (d, q)
        ``W_a_c`` (real).
    cov : sympy.ImmutableMatrix, shape (d, d)
        Symmetric: ``S_a_b`` with ``a <= b`` in both triangles (real).
    sigma2 : sympy.Symbol
        ``sigma2`` (positive).
    """

    loadings: sympy.ImmutableMatrix
    cov: sympy.ImmutableMatrix
    sigma2: sympy.Symbol

    @property
    def n_features(self) -> int:
        return int(self.loadings.shape[0])

    @property
    def latent_dim(self) -> int:
        return int(self.loadings.shape[1])

    def coordinates(self, wrt: str) -> list[sympy.Symbol]:
        """Differentiation variables: ``loadings`` in C order, then ``sigma2`` if
        ``wrt="joint"``."""
        return list(self.loadings) + ([self.sigma2] if wrt == "joint" else [])

    def __repr__(self) -> str:
        d, q = self.loadings.shape
        return (
            f"LikelihoodSymbols(n_features={d}, latent_dim={q}: loadings W_0_0..W_{d - 1}_{q - 1}, "
            f"cov S_0_0..S_{d - 1}_{d - 1}, sigma2)"
        )


def check_sizes(n_features: Any, latent_dim: Any) -> tuple[int, int]:
    d = check_positive_int(n_features, "n_features")
    return d, check_positive_int(latent_dim, "latent_dim", upper=d, upper_name="n_features")


@functools.lru_cache(maxsize=32)
def cached_symbols(d: int, q: int) -> LikelihoodSymbols:
    W = sympy.ImmutableMatrix(d, q, lambda a, c: sympy.Symbol(f"W_{a}_{c}", real=True))
    S = sympy.ImmutableMatrix(
        d, d, lambda a, b: sympy.Symbol(f"S_{min(a, b)}_{max(a, b)}", real=True)
    )
    return LikelihoodSymbols(W, S, sympy.Symbol("sigma2", positive=True))


@functools.lru_cache(maxsize=32)
def _log_likelihood(d: int, q: int) -> sympy.Expr:
    sym = cached_symbols(d, q)
    W, S, s = sym.loadings, sym.cov, sym.sigma2
    M = W.T * W + s * sympy.eye(q)
    det_M = M.det(method="berkowitz")
    quad = (M.adjugate(method="berkowitz") * (W.T * S * W)).trace()
    return -sympy.Rational(1, 2) * (
        d * sympy.log(2 * sympy.pi)
        + (d - q) * sympy.log(s)
        + sympy.log(det_M)
        + (S.trace() - quad / det_M) / s
    )


@functools.lru_cache(maxsize=32)
def cached_gradient(d: int, q: int) -> tuple[sympy.ImmutableMatrix, sympy.Expr]:
    sym, ell = cached_symbols(d, q), _log_likelihood(d, q)
    grad_W = sympy.ImmutableMatrix(d, q, lambda a, c: sympy.diff(ell, sym.loadings[a, c]))
    return grad_W, sympy.diff(ell, sym.sigma2)


@functools.lru_cache(maxsize=32)
def cached_hessian(d: int, q: int, wrt: str) -> sympy.ImmutableMatrix:
    sym = cached_symbols(d, q)
    grad_W, grad_s = cached_gradient(d, q)
    first = list(grad_W) + ([grad_s] if wrt == "joint" else [])
    x = sym.coordinates(wrt)
    n = len(x)
    entries = {}
    for i in range(n):
        for j in range(i, n):
            entries[i, j] = entries[j, i] = sympy.diff(first[i], x[j])
    return sympy.ImmutableMatrix(n, n, lambda i, j: entries[i, j])


def likelihood_symbols(n_features: int, latent_dim: int) -> LikelihoodSymbols:
    """The symbols in which `log_likelihood_expr()` and its derivatives are written.

    Parameters
    ----------
    n_features : int
        ``d``.
    latent_dim : int
        ``q``, at most ``d``.

    Returns
    -------
    LikelihoodSymbols

    Examples
    --------
    >>> from ppca_stability.symbolic import likelihood_symbols
    >>> sym = likelihood_symbols(2, 1)
    >>> sym.loadings.T, sym.sigma2
    (Matrix([[W_0_0, W_1_0]]), sigma2)
    """
    return cached_symbols(*check_sizes(n_features, latent_dim))


def log_likelihood_expr(n_features: int, latent_dim: int) -> sympy.Expr:
    """The mean pPCA log-likelihood ``l(W, sigma2; S)`` as a sympy expression.

    Parameters
    ----------
    n_features : int
        ``d``.
    latent_dim : int
        ``q``, at most ``d``.

    Returns
    -------
    sympy.Expr
        In the symbols of `likelihood_symbols()`; the same function as
        `ppca_stability.log_likelihood()` (the mean per sample, ddof=0 covariance).

    Examples
    --------
    >>> import sympy
    >>> from ppca_stability.symbolic import likelihood_symbols, log_likelihood_expr
    >>> ell, sym = log_likelihood_expr(1, 1), likelihood_symbols(1, 1)
    >>> sympy.simplify(ell.subs({sym.loadings[0, 0]: 0, sym.cov[0, 0]: sym.sigma2}))
    -log(sigma2)/2 - log(pi)/2 - 1/2 - log(2)/2
    """
    return _log_likelihood(*check_sizes(n_features, latent_dim))


def gradient_expr(n_features: int, latent_dim: int) -> tuple[sympy.ImmutableMatrix, sympy.Expr]:
    """The gradient of `log_likelihood_expr()`, derived by sympy.

    Parameters
    ----------
    n_features : int
    latent_dim : int

    Returns
    -------
    grad_loadings : sympy.ImmutableMatrix, shape (d, q)
    grad_sigma2 : sympy.Expr
        As `ppca_stability.log_likelihood_gradient()` returns them.

    Examples
    --------
    >>> import sympy
    >>> from ppca_stability.symbolic import gradient_expr, likelihood_symbols
    >>> g_W, g_s = gradient_expr(1, 1)
    >>> sym = likelihood_symbols(1, 1)
    >>> sympy.factor(g_W[0, 0])                  # zero at W^2 = S - sigma2 (and W = 0)
    W_0_0*(S_0_0 - W_0_0**2 - sigma2)/(W_0_0**2 + sigma2)**2
    """
    return cached_gradient(*check_sizes(n_features, latent_dim))


def hessian_expr(
    n_features: int, latent_dim: int, *, sigma2_learned: bool = False, wrt: str | None = None
) -> sympy.ImmutableMatrix:
    """The Hessian of `log_likelihood_expr()`, derived by sympy.

    Parameters
    ----------
    n_features : int
    latent_dim : int
    sigma2_learned : bool, default False
        As in `ppca_stability.log_likelihood_hessian()`: coordinates ``loadings.ravel()``
        (C order), with ``sigma2`` appended last when True.
    wrt : {"loadings", "joint"}, optional
        Deprecated spelling of `sigma2_learned`.

    Returns
    -------
    sympy.ImmutableMatrix, shape (d q, d q) or (d q + 1, d q + 1)

    Examples
    --------
    >>> import sympy
    >>> from ppca_stability.symbolic import hessian_expr, likelihood_symbols
    >>> sym = likelihood_symbols(1, 1)
    >>> at = {sym.cov[0, 0]: 4, sym.sigma2: 1, sym.loadings[0, 0]: sympy.sqrt(3)}
    >>> h = hessian_expr(1, 1)[0, 0].subs(at)
    >>> sympy.nsimplify(h)                       # radial: -2 (4 - 1) / 4^2
    -3/8
    """
    d, q = check_sizes(n_features, latent_dim)
    joint = check_sigma2_learned(sigma2_learned, wrt, stacklevel=2)
    return cached_hessian(d, q, "joint" if joint else "loadings")


def _lambdify_iv(expr: Any, n_features: Any, latent_dim: Any) -> tuple[Any, LikelihoodSymbols]:
    sym = likelihood_symbols(n_features, latent_dim)
    parts = expr if isinstance(expr, tuple) else (expr,)
    if not parts or not all(isinstance(p, (sympy.Expr, sympy.MatrixBase)) for p in parts):
        raise TypeError(
            f"`expr` must be a sympy expression, a sympy matrix or a tuple of them (as "
            f"gradient_expr returns); got {type(expr).__name__}."
        )
    allowed = set(sym.loadings) | set(sym.cov) | {sym.sigma2}
    stray = set().union(*(p.free_symbols for p in parts)) - allowed
    if stray:
        raise ValueError(
            f"`expr` has symbols {sorted(map(str, stray))} that are not those of "
            f"likelihood_symbols({sym.n_features}, {sym.latent_dim}); check n_features and "
            "latent_dim."
        )
    return expr, sym


def lambdify_expr(expr: Any, n_features: int, latent_dim: int) -> Callable[[Any, Any, Any], Any]:
    """Turn an expression in the likelihood symbols into a numpy function ``f(loadings, cov,
    sigma2)``.

    Parameters
    ----------
    expr : sympy.Expr, sympy.Matrix, or tuple of them
        E.g. the output of `log_likelihood_expr()`, `gradient_expr()` or
        `hessian_expr()` for the same sizes.
    n_features, latent_dim : int
        The sizes the expression was built for.

    Returns
    -------
    callable
        ``f(loadings, cov, sigma2)`` with the argument conventions of
        `ppca_stability.log_likelihood()`, returning a float for an expression, an ndarray
        for a matrix and a tuple for a tuple. Only the upper triangle of ``cov`` is read.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import log_likelihood
    >>> from ppca_stability.symbolic import lambdify_expr, log_likelihood_expr
    >>> f = lambdify_expr(log_likelihood_expr(2, 1), 2, 1)
    >>> W, cov = np.array([[1.0], [0.5]]), np.array([[2.0, 0.3], [0.3, 1.0]])
    >>> bool(np.isclose(f(W, cov, 0.7), log_likelihood(W, cov, 0.7)))
    True
    """
    expr, sym = _lambdify_iv(expr, n_features, latent_dim)
    d, q = sym.n_features, sym.latent_dim
    upper = [(a, b) for a in range(d) for b in range(a, d)]
    args = list(sym.loadings) + [sym.cov[a, b] for a, b in upper] + [sym.sigma2]
    parts = expr if isinstance(expr, tuple) else (expr,)
    funcs = [sympy.lambdify(args, p, modules="numpy", cse=True) for p in parts]
    rows, cols = zip(*upper)

    def evaluate(part: Any, func: Callable[..., Any], values: list[float]) -> Any:
        out = func(*values)
        return (
            np.asarray(out, dtype=np.float64) if isinstance(part, sympy.MatrixBase) else float(out)
        )

    def f(loadings: Any, cov: Any, sigma2: Any) -> Any:
        S = check_cov(cov)
        if S.shape != (d, d):
            raise ValueError(
                f"`cov` must have shape ({d}, {d}) for this expression; got {S.shape}."
            )
        W = check_loadings(loadings, d, q)
        values = [*W.ravel(), *S[rows, cols], check_sigma2(sigma2)]
        results = tuple(evaluate(p, fn, values) for p, fn in zip(parts, funcs))
        return results if isinstance(expr, tuple) else results[0]

    return f
