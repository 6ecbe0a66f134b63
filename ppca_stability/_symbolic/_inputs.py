"""Exact inputs: eigenvalues and sigma^2 as rationals, never silently through a float.

Accepted: ``int`` (and numpy integers), `fractions.Fraction`, `decimal.Decimal`,
sympy ``Integer``/``Rational``, strings such as ``"3"``, ``"3/2"``, ``"0.1"`` or ``"1e-3"``, and
floats **only when the float is exactly the decimal it prints as** (``0.5``, ``2.25``, ``3.0``):
``0.1`` is rejected, because the float nearest 0.1 is
0.1000000000000000055511151231257827..., and there is no way to know which of the two was meant.
The message says to pass the string ``"0.1"`` or ``Fraction(1, 10)`` instead.

A covariance *matrix* may stand for its eigenvalues (`exact_eigenvalues`): a small symmetric
matrix of exact entries whose characteristic polynomial splits over the rationals (diagonal or
block matrices, rotations by rational orthogonal matrices). Its eigenvalues are found exactly
(characteristic polynomial, factored over Q); an irrational eigenvalue is an error naming the
irreducible factor.

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

from .._base.validation import describe

__all__ = [
    "MAX_EXACT_DIGITS",
    "MAX_EXACT_MATRIX",
    "exact_rational",
    "exact_eigenvalues",
    "exact_sigma2",
]

# Decimal digits allowed in a numerator or denominator (far beyond any measured quantity).
MAX_EXACT_DIGITS = 1000
# Largest covariance matrix whose eigenvalues are found exactly (the exact map itself is limited
# to far fewer positive eigenvalues; the characteristic polynomial of this size takes ~1 s).
MAX_EXACT_MATRIX = 64
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


def _is_matrix(value: Any) -> bool:
    if isinstance(value, (np.ndarray, sympy.MatrixBase)):
        return len(value.shape) == 2
    if isinstance(value, (list, tuple)) and value:
        return all(isinstance(row, (list, tuple, np.ndarray)) for row in value)
    return False


def _matrix_eigenvalues(matrix: Any, name: str) -> list[Fraction]:
    """The eigenvalues of an exact symmetric matrix, with multiplicity, if all are rational."""
    rows = matrix.tolist() if isinstance(matrix, (np.ndarray, sympy.MatrixBase)) else matrix
    d = len(rows)
    lengths = sorted({len(row) for row in rows})
    if lengths != [d]:
        raise ValueError(
            f"`{name}` as a matrix must be square; got {d} rows of "
            f"{' or '.join(map(str, lengths))} entries."
        )
    if d > MAX_EXACT_MATRIX:
        raise ValueError(
            f"`{name}` is a {d} x {d} matrix; exact eigenvalues are found for at most "
            f"{MAX_EXACT_MATRIX} x {MAX_EXACT_MATRIX}. Pass its eigenvalues instead."
        )
    entries = [
        [exact_rational(v, f"{name}[{i}, {j}]") for j, v in enumerate(row)]
        for i, row in enumerate(rows)
    ]
    for i in range(d):
        for j in range(i):
            if entries[i][j] != entries[j][i]:
                raise ValueError(
                    f"`{name}` as a matrix must be symmetric (a covariance); entry [{i}, {j}] = "
                    f"{entries[i][j]} but [{j}, {i}] = {entries[j][i]}."
                )
    x = sympy.Symbol("x")
    M = sympy.Matrix(
        d, d, lambda i, j: sympy.Rational(entries[i][j].numerator, entries[i][j].denominator)
    )
    _, factors = sympy.factor_list(M.charpoly(x).as_expr(), x)
    lam: list[Fraction] = []
    for factor, multiplicity in factors:
        poly = sympy.Poly(factor, x)
        if poly.degree() != 1:
            raise ValueError(
                f"`{name}` has eigenvalues that are not rational (the roots of {factor} = 0); "
                "the exact map needs rational eigenvalues. Pass a matrix whose eigenvalues are "
                "rational, or rational approximations of its eigenvalues."
            )
        a, b = poly.all_coeffs()
        root = sympy.Rational(-b, a)
        lam.extend([Fraction(int(root.p), int(root.q))] * multiplicity)
    return lam


def exact_eigenvalues(eigenvalues: Any, name: str = "eigenvalues") -> tuple[Fraction, ...]:
    """Non-negative exact eigenvalues, sorted descending: given, or those of a small symmetric
    matrix of exact entries (its characteristic polynomial must split over the rationals)."""
    if isinstance(eigenvalues, (str, bytes)) or not isinstance(
        eigenvalues, (Iterable, sympy.MatrixBase)
    ):
        raise TypeError(
            f"`{name}` must be a sequence of rational numbers or a symmetric matrix of them; got "
            f"{type(eigenvalues).__name__} {describe(eigenvalues)}."
        )
    if isinstance(eigenvalues, np.ndarray) and eigenvalues.ndim not in (1, 2):
        raise ValueError(
            f"`{name}` must be a sequence of eigenvalues or a covariance matrix; got shape "
            f"{eigenvalues.shape}."
        )
    if _is_matrix(eigenvalues):
        lam = _matrix_eigenvalues(eigenvalues, name)
    else:
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
