"""How numbers are written in reprs and tables."""

from __future__ import annotations

from decimal import Decimal

__all__ = ["COUNT_DIGITS", "format_count"]

# Counts of up to this many digits are written in full; larger ones in scientific notation.
COUNT_DIGITS = 12


def format_count(n: int) -> str:
    """An exact integer count as text: in full up to `COUNT_DIGITS` digits, else four
    significant digits and its length, e.g. ``"7.116e88 (89 digits)"`` (the exact value is in the
    result object and in ``--json``). The command line writes counts the same way
    (``_cli._io.format_count``; it uses only the public API)."""
    text = str(n)
    if len(text.lstrip("-")) <= COUNT_DIGITS:
        return text
    mantissa, exponent = f"{Decimal(n):.4g}".lower().split("e")
    return f"{mantissa}e{int(exponent)} ({len(text.lstrip('-'))} digits)"
