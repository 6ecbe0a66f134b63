"""Exact inputs: eigenvalues and sigma^2 as rationals, never silently through a float.

Accepted: ``int`` (and numpy integers), `fractions.Fraction`, `decimal.Decimal`,
sympy ``Integer``/``Rational``, strings such as ``"3"``, ``"3/2"``, ``"0.1"`` or ``"1e-3"``, and
floats **only when the float is exactly the decimal it prints as** (``0.5``, ``2.25``, ``3.0``):
``0.1`` is rejected, because the float nearest 0.1 is
0.1000000000000000055511151231257827..., and there is no way to know which of the two was meant.
The message says to pass the string ``"0.1"`` or ``Fraction(1, 10)`` instead.
"""

from __future__ import annotations

import decimal
import numbers
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from .._validation import describe

__all__ = ["exact_rational", "exact_eigenvalues", "exact_sigma2"]


def exact_rational(value: Any, name: str) -> Fraction:
    """``value`` as an exact `Fraction`, or raise naming ``name``."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a rational number; got the bool {value!r}.")
    if isinstance(value, sympy.Basic):
        if isinstance(value, sympy.Rational):
            return Fraction(int(value.p), int(value.q))
        if isinstance(value, sympy.Float):
            raise TypeError(
                f"`{name}` must be exact; got the sympy Float {value}. Use sympy.Rational or a "
                "string."
            )
        if value.free_symbols:
            raise TypeError(f"`{name}` must be a number; got the expression {describe(value)}.")
        raise ValueError(f"`{name}` must be rational; got {describe(value)}, which is not.")
    if isinstance(value, numbers.Integral):
        return Fraction(int(value))
    if isinstance(value, Fraction):
        return value
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise ValueError(f"`{name}` must be finite; got {value}.")
        return Fraction(value)
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise ValueError(
                f"`{name}` must be an exact rational such as '3/2', '0.1' or '2'; cannot parse "
                f"{describe(value)}."
            ) from None
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if not np.isfinite(x):
            raise ValueError(f"`{name}` must be finite; got {x!r}.")
        exact = Fraction(x)
        if exact != Fraction(repr(x)):
            raise ValueError(
                f"`{name}` got the float {x!r}, which is not exactly {x!r} in binary (it is "
                f"{exact.numerator}/{exact.denominator}). Pass the string '{x!r}' or a "
                "fractions.Fraction; floats are accepted only when they are exactly the decimal "
                "they print as (e.g. 0.5, 2.25)."
            )
        return exact
    raise TypeError(
        f"`{name}` must be a rational number (int, Fraction, sympy Rational or a decimal "
        f"string); got {type(value).__name__} {describe(value)}."
    )


def exact_eigenvalues(eigenvalues: Any, name: str = "eigenvalues") -> tuple[Fraction, ...]:
    """Non-negative exact eigenvalues, sorted descending."""
    if isinstance(eigenvalues, (str, bytes)) or not isinstance(eigenvalues, Iterable):
        raise TypeError(
            f"`{name}` must be a sequence of rational numbers; got {type(eigenvalues).__name__} "
            f"{describe(eigenvalues)}."
        )
    if isinstance(eigenvalues, np.ndarray) and eigenvalues.ndim != 1:
        raise ValueError(
            f"`{name}` must be one-dimensional; got shape {eigenvalues.shape}. For a covariance "
            "matrix pass its eigenvalues."
        )
    lam = [exact_rational(v, f"{name}[{i}]") for i, v in enumerate(eigenvalues)]
    if not lam:
        raise ValueError(f"`{name}` must not be empty.")
    negative = [str(v) for v in lam if v < 0]
    if negative:
        raise ValueError(
            f"`{name}` must be non-negative (a covariance is positive semi-definite); got "
            f"{', '.join(negative)}."
        )
    return tuple(sorted(lam, reverse=True))


def exact_sigma2(
    sigma2: Any, name: str = "sigma2", *, allow_symbol: bool
) -> Fraction | sympy.Symbol:
    """A positive exact rational, or (where allowed) a single sympy Symbol that may be positive."""
    if allow_symbol and isinstance(sigma2, sympy.Symbol):
        if sigma2.is_positive is False:
            raise ValueError(
                f"`{name}` is the Symbol {sigma2}, whose assumptions exclude positive values; "
                "use a plain or positive Symbol."
            )
        return sigma2
    if isinstance(sigma2, sympy.Basic) and sigma2.free_symbols:
        what = (
            "a positive rational or a single sympy Symbol"
            if allow_symbol
            else "a positive rational"
        )
        raise TypeError(f"`{name}` must be {what}; got the expression {describe(sigma2)}.")
    s = exact_rational(sigma2, name)
    if s <= 0:
        raise ValueError(f"`{name}` must be positive; got {s}.")
    return s
