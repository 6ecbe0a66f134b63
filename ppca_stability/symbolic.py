"""The symbolic core: exact, citable answers for small and rational problems, and an oracle.

Import it explicitly (``import ppca_stability.symbolic``): it loads sympy, which
``import ppca_stability`` never does.

* `log_likelihood_expr()`, `gradient_expr()`, `hessian_expr()` — the mean
  log-likelihood and its derivatives as sympy expressions in the symbols of
  `likelihood_symbols()`; `lambdify_expr()` turns any of them into a numpy function
  with the conventions of `ppca_stability.log_likelihood()`.
* `exact_stability_map()` — every stationary point with its exact Hessian spectrum, Morse
  index and stability, at a rational sigma2 or piecewise as a function of a symbolic one
  (`ExactStabilityMap.to_latex()` renders it); `critical_sigma2()` — where the
  classification changes.
* `verify_hessian_closed_form()` — a symbolic proof, for small sizes, that the Hessian of the
  full likelihood at every stationary point has the closed-form spectrum of theory.md §3.

Exact inputs: ints, `Fraction`, `Decimal`, sympy Rationals and
decimal or fraction strings (``"0.1"``, ``"3/2"``). A float is accepted only when it is exactly the
decimal it prints as (``0.5`` yes, ``0.1`` no: pass ``"0.1"``); nothing passes silently through a
float.
"""

from ._symbolic._exact import (
    ExactStabilityMap,
    ExactStationaryPoint,
    Sigma2Interval,
    critical_sigma2,
    exact_stability_map,
)
from ._symbolic._expressions import (
    LikelihoodSymbols,
    gradient_expr,
    hessian_expr,
    lambdify_expr,
    likelihood_symbols,
    log_likelihood_expr,
)
from ._symbolic._proof import ClosedFormProof, ProofCase, verify_hessian_closed_form

__all__ = [
    "ClosedFormProof",
    "ExactStabilityMap",
    "ExactStationaryPoint",
    "LikelihoodSymbols",
    "ProofCase",
    "Sigma2Interval",
    "critical_sigma2",
    "exact_stability_map",
    "gradient_expr",
    "hessian_expr",
    "lambdify_expr",
    "likelihood_symbols",
    "log_likelihood_expr",
    "verify_hessian_closed_form",
]
