"""Exact stability maps: every stationary point with its exact Hessian spectrum, at a rational
sigma^2 or as a function of a symbolic one.

The Hessian eigenvalues at ``W_I`` are the closed form of theory.md §3, evaluated in exact
arithmetic (the closed form itself is proved symbolically by
`verify_hessian_closed_form()`). Signs are decided exactly, with no
tolerance: a tie ``lam_i = lam_j`` (``i`` kept, ``j`` not) or ``sigma2 = lam_j`` gives a true zero.

For a symbolic ``sigma2`` every eigenvalue is a rational function of it, so the classification can
change only where the set of points changes (``sigma2`` crossing an eigenvalue) or at a positive
real root of a numerator or denominator of some point's eigenvalue, below the eigenvalues that
point keeps (where it exists). Those candidates are found by sympy; a candidate is *critical* when
the classification at it differs from that on either side (sampled exactly at midpoints). Between
critical values the classification is constant and is decided at one rational sample.

Cost. Finding the critical values visits every active set of the positive eigenvalues
(``sum_{k <= q} C(p, k)``, ``2^p`` for ``q >= p``) with sympy, about a millisecond each (12
eigenvalues: 11 s), at a fixed ``sigma2`` too; beyond `MAX_EXACT_ACTIVE_SETS` the call is refused
up front with a message naming the count.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy
from numpy.typing import ArrayLike

from .._base.classification import Stability
from .._base.validation import check_latent_dim
from .._ppca.enumeration import count_fixed
from .._ppca.inertia import symmetry_dim
from ._inputs import exact_eigenvalues, exact_sigma2

__all__ = [
    "ExactStationaryPoint",
    "Sigma2Interval",
    "ExactStabilityMap",
    "exact_stability_map",
    "critical_sigma2",
]

# Active sets the symbolic enumeration may visit (2^11: about 5 s); beyond it the call is refused.
MAX_EXACT_ACTIVE_SETS = 2**11

_HALF = sympy.Rational(1, 2)
_LOG_2PI = sympy.log(2 * sympy.pi)


# ----------------------------------------------------------------------------- closed form
def hessian_groups(
    lam: tuple[Any, ...], active: tuple[int, ...], s: Any, q: int
) -> list[tuple[Any, int]]:
    """Hessian eigenvalues at ``W_I`` outside the symmetry modes, as ``(value, multiplicity)``.

    theory.md §3; generic in the arithmetic: Fractions for signs, sympy for expressions in ``s``.
    """
    k = len(active)
    kept = [lam[i] for i in active]
    dropped = [lam[j] for j in range(len(lam)) if j not in active]
    out = []
    if q > k:
        out += [((lj - s) / s**2, q - k) for lj in dropped]  # dead column x excluded j
    out += [((lj - li) / (s * li), 1) for li in kept for lj in dropped]  # live i x excluded j
    out += [(-2 * (li - s) / li**2, 1) for li in kept]  # live i, radial
    out += [
        (-(a + b - 2 * s) / (a * b), 1) for a, b in itertools.combinations(kept, 2)
    ]  # live pair
    return out


def _inertia(groups: list[tuple[Fraction, int]]) -> tuple[int, int, int]:
    pos = sum(m for v, m in groups if v > 0)
    neg = sum(m for v, m in groups if v < 0)
    return pos, neg, sum(m for _, m in groups) - pos - neg


def _active_sets(lam: tuple[Fraction, ...], s: Fraction, q: int) -> Iterator[tuple[int, ...]]:
    """Stationary points exist for ``I`` with ``lam_i > s`` strictly; k ascending, then
    lexicographic."""
    m = sum(1 for v in lam if v > s)
    for k in range(min(q, m) + 1):
        yield from itertools.combinations(range(m), k)


def _changes_at(
    lam: tuple[Fraction, ...], q: int, values: tuple[Fraction, Fraction, Fraction]
) -> bool:
    """Whether the classification (active sets, then each point's inertia) differs between the
    three sigma2 values (left of a candidate, at it, right of it). The cheap part goes first."""
    sets = [tuple(_active_sets(lam, x, q)) for x in values]
    if not sets[0] == sets[1] == sets[2]:
        return True
    inertias = [tuple(_inertia(hessian_groups(lam, a, x, q)) for a in sets[0]) for x in values]
    return not inertias[0] == inertias[1] == inertias[2]


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False, slots=True)
class ExactStationaryPoint:
    """One stationary orbit ``{W_I R}`` with its exact Hessian spectrum.

    The attribute names are those of `ppca_stability.StationaryPoint`.

    Attributes
    ----------
    active : tuple of int
        0-based indices of the kept eigenvalues (descending order), ascending.
    sigma2 : sympy.Expr
        The rational sigma2, or the Symbol for a point of a `Sigma2Interval`.
    latent_dim : int
    log_likelihood : sympy.Expr
        ``-1/2 [d log 2 pi + sum_I log lam_i + (d - k) log s + k + sum_{j not in I} lam_j / s]``.
    hessian_eigenvalues : tuple of sympy.Expr
        All ``d q`` eigenvalues, symmetry zeros included, repeated by multiplicity: ascending
        (for a symbolic sigma2, in the order of their values at the interval's sample).
    morse_index : int
        Positive eigenvalues outside the symmetry modes.
    symmetry_dim : int
        ``k (k - 1) / 2 + k (q - k)`` rotation zero modes, excluded from the classification.
    n_degenerate : int
        Zero eigenvalues beyond the symmetry modes.
    stability : Stability
    """

    active: tuple[int, ...]
    sigma2: sympy.Expr
    latent_dim: int
    log_likelihood: sympy.Expr
    hessian_eigenvalues: tuple[sympy.Expr, ...]
    morse_index: int
    symmetry_dim: int
    n_degenerate: int
    stability: Stability

    @property
    def n_active(self) -> int:
        return len(self.active)

    @property
    def n_collapsed(self) -> int:
        """Dead (collapsed) latent columns: ``q - k``."""
        return self.latent_dim - self.n_active

    @property
    def grouped_eigenvalues(self) -> tuple[tuple[sympy.Expr, int], ...]:
        """``hessian_eigenvalues`` as ``(value, multiplicity)`` runs, in the same order."""
        return tuple((v, len(list(run))) for v, run in itertools.groupby(self.hessian_eigenvalues))

    def __repr__(self) -> str:
        return (
            f"ExactStationaryPoint(active={self.active}, sigma2={self.sigma2}, "
            f"morse_index={self.morse_index}, stability={self.stability.name}, "
            f"hessian_eigenvalues=[{_format_groups(self.grouped_eigenvalues)}])"
        )


def _point(
    lam: tuple[Fraction, ...],
    lam_sym: tuple[sympy.Rational, ...],
    active: tuple[int, ...],
    sample: Fraction,
    s: sympy.Expr,
    q: int,
) -> ExactStationaryPoint:
    """The point ``W_I`` with eigenvalues in ``s`` (Rational or Symbol), classified at
    ``sample``."""
    signs = hessian_groups(lam, active, sample, q)
    values = hessian_groups(lam_sym, active, s, q)
    n_pos, n_neg, n_zero = _inertia(signs)
    k, sym_dim = len(active), symmetry_dim(len(active), q)
    keyed = [(v, x, m) for (x, m), (v, _) in zip(signs, values)]
    keyed.append((sympy.S.Zero, Fraction(0), sym_dim))
    keyed.sort(key=lambda t: (t[1], str(t[0])))  # equal expressions stay adjacent for grouping
    eigenvalues = tuple(v for v, _, m in keyed for _ in range(m))
    dropped = [lam_sym[j] for j in range(len(lam)) if j not in active]
    ell = -_HALF * (
        len(lam) * _LOG_2PI
        + sum(sympy.log(lam_sym[i]) for i in active)
        + (len(lam) - k) * sympy.log(s)
        + k
        + sum(dropped) / s
    )
    return ExactStationaryPoint(
        active=active,
        sigma2=s,
        latent_dim=q,
        log_likelihood=ell,
        hessian_eigenvalues=eigenvalues,
        morse_index=n_pos,
        symmetry_dim=sym_dim,
        n_degenerate=n_zero,
        stability=Stability.from_counts(n_pos, n_neg, n_zero),
    )


@dataclass(frozen=True, eq=False, slots=True)
class Sigma2Interval:
    """The stationary points on one open interval of sigma2, or at one critical value.

    Attributes
    ----------
    lower, upper : sympy.Expr
        Bounds (``upper`` may be ``sympy.oo``). ``lower == upper`` at a critical value.
    sample : sympy.Rational
        The sigma2 at which the (constant) classification was decided; the critical value itself
        for a critical piece.
    points : tuple of ExactStationaryPoint
        The points that exist throughout the piece, ordered by ``k`` then lexicographically; on an
        open interval their eigenvalues are expressions in the symbolic sigma2.
    """

    lower: sympy.Expr
    upper: sympy.Expr
    sample: sympy.Rational
    points: tuple[ExactStationaryPoint, ...]

    @property
    def is_critical(self) -> bool:
        """Whether this piece is a single critical value rather than an open interval."""
        return self.lower == self.upper

    @property
    def n_points(self) -> int:
        return len(self.points)

    def contains(self, sigma2: Any) -> bool:
        """Whether the rational ``sigma2`` lies in this piece."""
        s = _to_sympy(exact_sigma2(sigma2, allow_symbol=False))
        return s == self.lower if self.is_critical else bool(self.lower < s < self.upper)

    def census(self) -> dict[int, int]:
        """``{morse_index: count}`` over the points, sorted by Morse index."""
        counts: dict[int, int] = {}
        for p in self.points:
            counts[p.morse_index] = counts.get(p.morse_index, 0) + 1
        return dict(sorted(counts.items()))

    def stability_counts(self) -> dict[Stability, int]:
        """Number of points of each `Stability` (zero counts omitted)."""
        counts = {s: sum(p.stability is s for p in self.points) for s in Stability}
        return {s: c for s, c in counts.items() if c}

    @property
    def global_maximum(self) -> ExactStationaryPoint:
        """The point keeping the top ``min(q, m)`` eigenvalues (theory.md §2)."""
        m = max(len(p.active) for p in self.points)
        return next(p for p in self.points if p.active == tuple(range(m)))

    @property
    def label(self) -> str:
        """``"(a, b)"`` for an open interval, ``"a"`` at a critical value."""
        return str(self.lower) if self.is_critical else f"({self.lower}, {self.upper})"

    def __repr__(self) -> str:
        return f"Sigma2Interval({self.label}: {self.n_points} points, census {self.census()})"


@dataclass(frozen=True, eq=False, slots=True)
class ExactStabilityMap:
    """The exact stability map for one spectrum and ``latent_dim``, at a rational or symbolic
    sigma2.

    Build it with `exact_stability_map()`. With a rational ``sigma2``, ``.points`` lists every
    stationary point; with a symbolic one, ``.intervals`` splits ``(0, oo)`` at the critical values
    into open intervals and the critical values themselves, each with its points.

    Attributes
    ----------
    eigenvalues : tuple of sympy.Rational
        Descending.
    sigma2 : sympy.Expr
        A positive Rational or a Symbol.
    latent_dim : int
    critical_values : tuple of sympy.Rational
        As `critical_sigma2()` returns them.
    pieces : tuple of Sigma2Interval
        One critical-style piece ``[sigma2, sigma2]`` for a rational sigma2; the intervals and
        critical values, ascending, for a symbolic one.
    """

    eigenvalues: tuple[sympy.Rational, ...]
    sigma2: sympy.Expr
    latent_dim: int
    critical_values: tuple[sympy.Rational, ...]
    pieces: tuple[Sigma2Interval, ...]

    @property
    def n_features(self) -> int:
        return len(self.eigenvalues)

    @property
    def is_symbolic(self) -> bool:
        return isinstance(self.sigma2, sympy.Symbol)

    def _fixed(self, what: str) -> Sigma2Interval:
        if self.is_symbolic:
            raise ValueError(
                f"`{what}` needs a rational sigma2; this map is symbolic in {self.sigma2}: use "
                f"`.intervals[i].{what}` or `.at(value).{what}`."
            )
        return self.pieces[0]

    @property
    def points(self) -> tuple[ExactStationaryPoint, ...]:
        """Every stationary point at the rational sigma2, ordered by ``k`` then
        lexicographically."""
        return self._fixed("points").points

    @property
    def n_points(self) -> int:
        return self._fixed("n_points").n_points

    def census(self) -> dict[int, int]:
        """``{morse_index: count}`` (rational sigma2)."""
        return self._fixed("census").census()

    def stability_counts(self) -> dict[Stability, int]:
        """Number of points of each `Stability` (rational sigma2)."""
        return self._fixed("stability_counts").stability_counts()

    @property
    def global_maximum(self) -> ExactStationaryPoint:
        """The point keeping the top ``min(q, m)`` eigenvalues (rational sigma2)."""
        return self._fixed("global_maximum").global_maximum

    def point(self, active: Any) -> ExactStationaryPoint:
        """The point with the given active set (any order of distinct 0-based indices)."""
        points = self._fixed("point").points
        try:
            key = tuple(sorted(int(i) for i in active))
        except (TypeError, ValueError):
            raise TypeError(
                f"`active` must be a sequence of integer indices; got {active!r}."
            ) from None
        found = next((p for p in points if p.active == key), None)
        if found is None:
            raise ValueError(
                f"`active` = {key} is not a stationary point at sigma2 = {self.sigma2}: its "
                "indices must be distinct, at most latent_dim of them, with eigenvalues above "
                "sigma2."
            )
        return found

    @property
    def intervals(self) -> tuple[Sigma2Interval, ...]:
        """Open intervals and critical values of a symbolic sigma2, ascending."""
        if not self.is_symbolic:
            raise ValueError(
                "`intervals` needs a symbolic sigma2 (a sympy Symbol); this map is at "
                f"sigma2 = {self.sigma2}: use `.points`."
            )
        return self.pieces

    def at(self, sigma2: Any) -> ExactStabilityMap:
        """The exact map of the same spectrum at a rational ``sigma2``."""
        return exact_stability_map(self.eigenvalues, sigma2, latent_dim=self.latent_dim)

    def to_latex(self) -> str:
        """A LaTeX ``tabular`` of the map, one row per stationary point.

        Columns: the sigma2 piece, the kept eigenvalues, the Morse index, the stability and the
        Hessian eigenvalues (``value (\\times multiplicity)``, symmetry zeros included). Needs no
        LaTeX package beyond the core.
        """
        return _latex(self)

    def __repr__(self) -> str:
        head = [
            f"ExactStabilityMap(n_features={self.n_features}, latent_dim={self.latent_dim}, "
            f"sigma2={self.sigma2})",
            f"  eigenvalues      [{', '.join(map(str, self.eigenvalues))}]",
        ]
        if self.is_symbolic:
            head.append(f"  critical values  [{', '.join(map(str, self.critical_values))}]")
            rows = [
                (p.label, str(p.n_points), _format_counts(p), str(p.census())) for p in self.pieces
            ]
            return "\n".join(
                head + _table(("sigma2", "points", "by stability", "census {morse: count}"), rows)
            )
        piece = self.pieces[0]
        head.append(f"  n_points         {piece.n_points} ({_format_counts(piece)})")
        rows = [
            (
                str(p.active),
                str(p.morse_index),
                p.stability.value,
                _format_groups(p.grouped_eigenvalues),
            )
            for p in piece.points
        ]
        header = ("active", "morse", "stability", "hessian eigenvalues (xN: multiplicity)")
        return "\n".join(head + _table(header, rows))


# ----------------------------------------------------------------------------- display helpers
def _format_groups(groups: tuple[tuple[sympy.Expr, int], ...]) -> str:
    return ", ".join(f"{v}" + (f" x{m}" if m > 1 else "") for v, m in groups)


def _format_counts(piece: Sigma2Interval) -> str:
    return ", ".join(f"{s.value} {c}" for s, c in piece.stability_counts().items())


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    return [
        "  " + "  ".join([c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]).rstrip()
        for r in [header, *rows]
    ]


def _latex(smap: ExactStabilityMap) -> str:
    s = sympy.latex(smap.sigma2) if smap.is_symbolic else r"\sigma^2"
    lam = ", ".join(sympy.latex(v) for v in smap.eigenvalues)
    lines = [
        f"% pPCA stationary points, q = {smap.latent_dim}, eigenvalues ({lam}); "
        "symmetry zeros included in the Hessian spectrum",
        r"\begin{tabular}{lllll}",
        r"\hline",
        f"${s}$ & kept eigenvalues & Morse index & stability & Hessian eigenvalues \\\\",
        r"\hline",
    ]
    for piece in smap.pieces:
        if piece.is_critical:
            where = f"${s} = {sympy.latex(piece.lower)}$"
        else:
            upper = r"\infty" if piece.upper == sympy.oo else sympy.latex(piece.upper)
            where = f"${s} \\in ({sympy.latex(piece.lower)}, {upper})$"
        for n, p in enumerate(piece.points):
            kept = (
                "\\{" + ", ".join(f"\\lambda_{{{i + 1}}}" for i in p.active) + "\\}"
                if p.active
                else r"\varnothing"
            )
            spec = ", ".join(
                sympy.latex(v) + (f" \\;(\\times {m})" if m > 1 else "")
                for v, m in p.grouped_eigenvalues
            )
            lines.append(
                f"{where if n == 0 else ''} & ${kept}$ & {p.morse_index} & {p.stability.value} "
                f"& ${spec}$ \\\\"
            )
        lines.append(r"\hline")
    lines.append(r"\end{tabular}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- public functions
def _exact_stability_map_iv(
    eigenvalues: ArrayLike, sigma2: Any, latent_dim: Any
) -> tuple[tuple[Fraction, ...], Any, int]:
    lam, q = _critical_iv(eigenvalues, latent_dim)
    return lam, exact_sigma2(sigma2, allow_symbol=True), q


def _critical_iv(eigenvalues: ArrayLike, latent_dim: Any) -> tuple[tuple[Fraction, ...], int]:
    lam = exact_eigenvalues(eigenvalues)
    q = check_latent_dim(latent_dim, len(lam))
    p = sum(1 for v in lam if v > 0)
    n_sets = count_fixed(p, q)
    if n_sets > MAX_EXACT_ACTIVE_SETS:
        raise ValueError(
            f"the exact map of {p} positive eigenvalues with latent_dim = {q} visits {n_sets} "
            f"active sets symbolically, above the limit of {MAX_EXACT_ACTIVE_SETS} (it grows as "
            "2^p). Pass fewer eigenvalues or a smaller latent_dim, or use the numeric "
            "ppca_stability.stability_map(), which counts without enumerating."
        )
    return lam, q


def _to_sympy(x: Fraction) -> sympy.Rational:
    return sympy.Rational(x.numerator, x.denominator)


def _critical(lam: tuple[Fraction, ...], q: int) -> tuple[Fraction, ...]:
    s = sympy.Symbol("s", positive=True)
    lam_sym = tuple(map(_to_sympy, lam))
    positive = [i for i, v in enumerate(lam) if v > 0]
    candidates = {v for v in lam if v > 0}  # where the set of points changes
    roots: dict[sympy.Expr, list[Fraction]] = {}
    for k in range(min(q, len(positive)) + 1):
        for active in itertools.combinations(positive, k):
            # Where some eigenvalue of this point changes sign, while the point exists (s < lam_I).
            exists_below = min((lam[i] for i in active), default=None)
            for e, _ in hessian_groups(lam_sym, active, s, q):
                if e not in roots:  # numerators and denominators are linear in s: rational roots
                    roots[e] = [
                        Fraction(int(r.p), int(r.q))
                        for part in sympy.fraction(sympy.together(e))
                        if part.has(s)
                        for r in sympy.Poly(part, s).real_roots()
                        if r > 0
                    ]
                candidates.update(r for r in roots[e] if exists_below is None or r < exists_below)
    cand = sorted(candidates)
    samples = _interval_samples(cand)
    return tuple(
        c for i, c in enumerate(cand) if _changes_at(lam, q, (samples[i], c, samples[i + 1]))
    )


def _interval_samples(critical: Sequence[Fraction]) -> list[Fraction]:
    """One rational inside each of the ``len(critical) + 1`` open intervals of ``(0, oo)``."""
    bounds = [Fraction(0), *critical]
    return [(a + b) / 2 for a, b in zip(bounds, critical)] + [bounds[-1] + 1]


def critical_sigma2(
    eigenvalues: ArrayLike, *, latent_dim: int | None = None
) -> tuple[sympy.Rational, ...]:
    """The exact sigma2 values at which the classification of some stationary point changes.

    Parameters
    ----------
    eigenvalues : sequence of rationals
        Covariance eigenvalues, in any order: ints, ``Fraction``, ``Decimal``, sympy Rationals,
        strings such as ``"3/2"`` or ``"0.1"``, or floats that are exactly the decimal they print
        as (``0.5``; not ``0.1``).
    latent_dim : int, optional
        ``q``; defaults to the number of eigenvalues.

    Returns
    -------
    tuple of sympy.Rational
        Ascending. Derived, not assumed: every eigenvalue (where points appear or vanish) and
        every positive root of a closed-form Hessian eigenvalue of a point, where that point
        exists, is a candidate, kept when the classification at it and on either side differ.

    Examples
    --------
    >>> from ppca_stability.symbolic import critical_sigma2
    >>> critical_sigma2([5, 3, "2.5", 0], latent_dim=2)
    (5/2, 3, 5)
    """
    lam, q = _critical_iv(eigenvalues, latent_dim)
    return tuple(map(_to_sympy, _critical(lam, q)))


def _piece(
    lam: tuple[Fraction, ...],
    lam_sym: tuple[sympy.Rational, ...],
    q: int,
    lower: sympy.Expr,
    upper: sympy.Expr,
    sample: Fraction,
    s: sympy.Expr,
) -> Sigma2Interval:
    points = tuple(_point(lam, lam_sym, a, sample, s, q) for a in _active_sets(lam, sample, q))
    return Sigma2Interval(lower, upper, _to_sympy(sample), points)


def exact_stability_map(
    eigenvalues: ArrayLike, sigma2: Any, *, latent_dim: int | None = None
) -> ExactStabilityMap:
    """Every stationary point of the pPCA likelihood with its exact Hessian spectrum and stability.

    Parameters
    ----------
    eigenvalues : sequence of rationals
        Covariance eigenvalues (any order; sorted descending). Exact input only: see
        `critical_sigma2()`.
    sigma2 : rational or sympy.Symbol
        A positive rational gives the map at that value; a Symbol gives the map as a function
        of sigma2 over ``(0, oo)``, split at `critical_sigma2()`.
    latent_dim : int, optional
        ``q``; defaults to the number of eigenvalues.

    Returns
    -------
    ExactStabilityMap

    Notes
    -----
    Classification follows `ppca_stability.stability_map()` exactly, with no tolerance: the
    ``k (k - 1) / 2 + k (q - k)`` rotation zero modes are excluded; the Morse index is the
    number of positive eigenvalues; no zero and no positive is ``MAXIMUM``; no zero and no
    negative is ``MINIMUM``; both signs ``SADDLE``; otherwise ``DEGENERATE``.

    Examples
    --------
    >>> from ppca_stability.symbolic import exact_stability_map
    >>> smap = exact_stability_map([5, 3, 2, 1], "3/2", latent_dim=2)
    >>> smap.n_points, smap.census()
    (7, {0: 1, 1: 1, 2: 2, 3: 1, 4: 1, 6: 1})
    >>> top = smap.global_maximum
    >>> top.active, top.stability.name, top.hessian_eigenvalues
    ((0, 1), 'MAXIMUM', (-8/15, -4/9, -2/5, -1/3, -1/3, -7/25, -2/9, 0))

    sigma2 equal to an excluded eigenvalue gives an exact zero (a dead column can switch on):

    >>> p = exact_stability_map([5, 3, 2, 1], 3, latent_dim=2).point([0])
    >>> p.n_degenerate, p.stability.name
    (1, 'DEGENERATE')

    As a function of sigma2:

    >>> import sympy
    >>> smap = exact_stability_map([5, 3, 2, 1], sympy.Symbol("s"), latent_dim=2)
    >>> [p.label for p in smap.intervals][:3]
    ['(0, 1)', '1', '(1, 2)']
    >>> w0 = smap.intervals[-1].points[0]                 # W = 0 for s > 5: the only point
    >>> w0.stability.name, w0.grouped_eigenvalues
    ('MAXIMUM', (((1 - s)/s**2, 2), ((2 - s)/s**2, 2), ((3 - s)/s**2, 2), ((5 - s)/s**2, 2)))
    """
    lam, s, q = _exact_stability_map_iv(eigenvalues, sigma2, latent_dim)
    lam_sym = tuple(map(_to_sympy, lam))
    crit = _critical(lam, q)
    pieces: list[Sigma2Interval] = []
    if isinstance(s, Fraction):
        value = _to_sympy(s)
        pieces.append(_piece(lam, lam_sym, q, value, value, s, value))
    else:
        bounds = [Fraction(0), *crit]
        uppers = [*map(_to_sympy, crit), sympy.oo]
        for i, sample in enumerate(_interval_samples(crit)):
            pieces.append(_piece(lam, lam_sym, q, _to_sympy(bounds[i]), uppers[i], sample, s))
            if i < len(crit):
                c = _to_sympy(crit[i])
                pieces.append(_piece(lam, lam_sym, q, c, c, crit[i], c))
    return ExactStabilityMap(
        lam_sym,
        s if isinstance(s, sympy.Symbol) else _to_sympy(s),
        q,
        tuple(map(_to_sympy, crit)),
        tuple(pieces),
    )
