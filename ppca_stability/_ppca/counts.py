"""How many stationary points of each kind, counted without building them: in closed form at a
fixed ``sigma2`` (`fixed_stability_counts`), or by one counting walk over every point's inertia
where there is no closed form (`enumerated_counts`). Shared by the map (one ``sigma2``) and the
phase diagram (a grid)."""

from __future__ import annotations

import numpy as np

from .._base.classification import Stability
from .._base.tolerance import eigen_floor
from . import enumeration as en

__all__ = ["fixed_stability_counts", "enumerated_counts", "MAX_ENUMERATED_CENSUS"]

# A census that has to enumerate points (ties, or sigma2 learned) refuses beyond this many.
MAX_ENUMERATED_CENSUS = 2_000_000


def fixed_stability_counts(
    m: int, q: int, d: int, n_points: int, *, breakpoint: bool = False
) -> dict[Stability, int]:
    """Stability counts at a fixed ``sigma2`` with ``m`` eigenvalues above it, without enumeration.

    Regular ``sigma2`` (no eigenvalue within tolerance of it, no ties above it): the top set is
    the only maximum and ``W = 0`` is a minimum iff ``sigma2`` lies below every eigenvalue
    (theory.md §3; checked against the census). At a breakpoint (``sigma2`` at the eigenvalue just
    below the ``m`` above it) the dead-column direction along that eigenvector is flat: the top
    set is ``DEGENERATE`` when it has a dead column (``m < q``), and ``W = 0`` is ``DEGENERATE``
    when that eigenvalue is the smallest (the minimum turning into a saddle); every other point
    keeps ascent and descent directions. The tests compare both cases with enumeration.
    """
    if breakpoint:
        n_max, n_min, n_deg = int(m >= q), 0, int(m < q) + int(1 <= m == d - 1)
    else:
        n_max, n_min, n_deg = 1, int(m == d), 0
    counts = {
        Stability.MAXIMUM: n_max,
        Stability.MINIMUM: n_min,
        Stability.SADDLE: n_points - n_max - n_min - n_deg,
        Stability.DEGENERATE: n_deg,
    }
    return {k: v for k, v in counts.items() if v}


def enumerated_counts(
    lam: np.ndarray,
    q: int,
    sigma2: float | str,
    rtol: float,
    n_points: int,
    what: str = "census",
    *,
    floor: float | None = None,
) -> tuple[dict[int, int], dict[Stability, int]]:
    """``(census, stability counts)`` of the landscape at ``sigma2`` by one counting walk over
    every point's inertia, for the cases without a closed form (ties, ``sigma2`` at an
    eigenvalue, or learned); refused beyond ``MAX_ENUMERATED_CENSUS`` points (`what` names the
    caller in the error). `floor` defaults to `eigen_floor` of `lam`; pass a partial
    spectrum's own."""
    floor = eigen_floor(lam) if floor is None else floor
    if n_points > MAX_ENUMERATED_CENSUS:
        reason = (
            "sigma2 is learned"
            if sigma2 == "learned"
            else "the spectrum is degenerate (ties or sigma2 at an eigenvalue)"
        )
        raise ValueError(
            f"`{what}` must enumerate the {n_points} stationary points because {reason}; that "
            f"exceeds {MAX_ENUMERATED_CENSUS}. Reduce latent_dim or move sigma2 off the "
            "eigenvalues."
        )
    by_index: dict[int, int] = {}
    by_kind: dict[Stability, int] = {}
    for _, _, inertia in en.walk(lam, q, sigma2, rtol, floor):
        by_index[inertia[0]] = by_index.get(inertia[0], 0) + 1
        kind = Stability.from_counts(*inertia)
        by_kind[kind] = by_kind.get(kind, 0) + 1
    return dict(sorted(by_index.items())), {s: by_kind[s] for s in Stability if s in by_kind}


# ----------------------------------------------------------------------------- the public function
