"""Exact inputs: eigenvalues and sigma^2 as rationals, never silently through a float.

Accepted: ``int`` (and numpy integers), `fractions.Fraction`, `decimal.Decimal`,
sympy ``Integer``/``Rational``, strings such as ``"3"``, ``"3/2"``, ``"0.1"`` or ``"1e-3"``, and
floats **only when the float is exactly the decimal it prints as** (``0.5``, ``2.25``, ``3.0``):
``0.1`` is rejected, because the float nearest 0.1 is
0.1000000000000000055511151231257827..., and there is no way to know which of the two was meant.
The message says to pass the string ``"0.1"`` or ``Fraction(1, 10)`` instead.

Size. Numerators and denominators are limited to `MAX_EXACT_DIGITS` decimal digits, checked
before any big number is built: ``Fraction("1e50000000")`` alone takes 90 s, and sympy later
fails on printing integers of more than 4300 digits.
"""

from __future__ import annotations

import decimal
import numbers
import re
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from .._validation import describe

__all__ = ["MAX_EXACT_DIGITS", "exact_rational", "exact_eigenvalues", "exact_sigma2"]

# Decimal digits allowed in a numerator or denominator (far beyond any measured quantity).
MAX_EXACT_DIGITS = 1000
# Bits of an integer of MAX_EXACT_DIGITS decimal digits (log2(10) = 3.33 bits per digit).
_MAX_BITS = int(MAX_EXACT_DIGITS * 3.33) + 1
_EXPONENT = re.compile(r"[eE]\s*([+-]?\d+)")


def _too_large(name: str, value: Any) -> ValueError:
    try:
        shown = describe(value)
    except ValueError:  # Python refuses to print integers of more than 4300 digits
        shown = "a number too large to print"
    return ValueError(
        f"`{name}` = {shown} has more than {MAX_EXACT_DIGITS} digits in its numerator "
        "or denominator; rescale the eigenvalues (the stability map is invariant under scaling "
        "eigenvalues and sigma2 together)."
    )


def _check_text_size(text: str, name: str) -> None:
    """Refuse a decimal string whose exponent or length would build a huge integer."""
    exponent = _EXPONENT.search(text)
    digits = len(text) - (exponent.end() - exponent.start() if exponent else 0)
    if digits > 2 * MAX_EXACT_DIGITS or (
        exponent and (len(exponent.group(1)) > 6 or abs(int(exponent.group(1))) > MAX_EXACT_DIGITS)
    ):
        raise _too_large(name, text)


def _checked(value: Fraction, name: str, original: Any) -> Fraction:
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > _MAX_BITS:
        raise _too_large(name, original)
    return value


def exact_rational(value: Any, name: str) -> Fraction:
    """``value`` as an exact `Fraction` of at most `MAX_EXACT_DIGITS` digits, or raise naming
    ``name``."""
    if isinstance(value, str):
        _check_text_size(value, name)
    elif isinstance(value, decimal.Decimal) and value.is_finite():
        _check_text_size(str(value), name)
    return _checked(_as_fraction(value, name), name, value)


def _as_fraction(value: Any, name: str) -> Fraction:
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
