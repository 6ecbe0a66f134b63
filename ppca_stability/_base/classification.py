"""What a second-order classification says, for every objective: the `Stability` labels, the
numeric classifiers' shared defaults, and the fields and table every numeric classification has.

The pPCA likelihood (`classify_point`) and the linear VAE's ELBO (`classify_vae_point`) classify a
point the same way: the gradient says whether it is stationary, the Hessian's inertia outside the
objective's symmetry modes says what kind of stationary point it is. `Classification` holds what
both report; each objective's result adds only what is its own.
"""

from __future__ import annotations

import enum
import warnings
from dataclasses import dataclass

import numpy as np

from ..exceptions import DegeneracyWarning

__all__ = ["Stability", "Classification", "DEFAULT_HESSIAN_RTOL", "DEFAULT_GTOL", "DENSE_MAX"]

# Numeric classifiers: relative zero test on Hessian eigenvalues, and the stationarity test on the
# relative gradient norm.
DEFAULT_HESSIAN_RTOL = 1e-8
DEFAULT_GTOL = 1e-7
# method="auto" forms a dense Hessian (or Schur complement) up to this many coordinates.
DENSE_MAX = 4096


class Stability(enum.Enum):
    """Second-order classification of a stationary point of the log-likelihood (maximised).

    MAXIMUM: no ascent direction and no zero mode beyond the symmetry orbit.
    MINIMUM: no descent direction (only ``W = 0`` with ``sigma2`` below every eigenvalue).
    SADDLE: ascent and descent directions both exist (zero modes, if any, do not matter).
    DEGENERATE: zero eigenvalues beyond the symmetry modes and no sign that settles it
    (ties among eigenvalues, or ``sigma2`` within ``rtol`` of an eigenvalue).
    NOT_STATIONARY: the gradient does not vanish (only from `classify_point()`).
    """

    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    SADDLE = "saddle"
    DEGENERATE = "degenerate"
    NOT_STATIONARY = "not stationary"

    @classmethod
    def from_counts(cls, n_positive: int, n_negative: int, n_zero: int) -> Stability:
        """Classify from the Hessian's inertia outside the symmetry modes."""
        if n_positive and n_negative:
            return cls.SADDLE
        if n_zero:
            return cls.DEGENERATE
        return cls.MINIMUM if n_positive else cls.MAXIMUM

    def __str__(self) -> str:
        return self.value


def second_order(
    n_positive: int, n_negative: int, n_zero: int, zero_modes: str, stacklevel: int
) -> Stability:
    """`Stability.from_counts`, announcing with a `DegeneracyWarning` (which says what `zero_modes`
    are) a point that second order does not settle."""
    stability = Stability.from_counts(n_positive, n_negative, n_zero)
    if stability is Stability.DEGENERATE:
        warnings.warn(
            f"{zero_modes}; second order does not settle this point.",
            DegeneracyWarning,
            stacklevel=stacklevel + 1,
        )
    return stability


@dataclass(frozen=True, eq=False, slots=True)
class Classification:
    """The fields every numeric second-order classification has (see `PointClassification` and
    `VAEPointClassification` for what each objective's values mean).

    Attributes
    ----------
    gradient_norm : float
    relative_gradient_norm : float
        Scale-free; the point is stationary when it is at most the classifier's ``gtol``.
    is_stationary : bool
    hessian_eigenvalues : ndarray
        Ascending; empty when the method counts eigenvalues without computing them.
    morse_index : int
        Ascent directions outside the symmetry modes (a lower bound when not
        ``morse_index_exact``).
    morse_index_exact : bool
    symmetry_dim : int
        Zero modes that are symmetries of the objective.
    n_degenerate : int
        Zero eigenvalues beyond the symmetry modes.
    stability : Stability
    method : str
    """

    gradient_norm: float
    relative_gradient_norm: float
    is_stationary: bool
    hessian_eigenvalues: np.ndarray
    morse_index: int
    morse_index_exact: bool
    symmetry_dim: int
    n_degenerate: int
    stability: Stability
    method: str

    def _header(self) -> str:
        return f"{type(self).__name__}(stability={self.stability.name}, method={self.method})"

    def __repr__(self) -> str:
        h = self.hessian_eigenvalues
        rows = [
            self._header(),
            f"  gradient norm     {self.gradient_norm:.3e} (relative "
            f"{self.relative_gradient_norm:.3e}, "
            f"{'stationary' if self.is_stationary else 'NOT stationary'})",
            f"  morse index       {self.morse_index}"
            f"{'' if self.morse_index_exact else ' (lower bound)'}",
            f"  symmetry modes    {self.symmetry_dim}; extra zero modes {self.n_degenerate}",
        ]
        if h.size:
            rows.append(f"  hessian spectrum  [{h[0]:.4g} .. {h[-1]:.4g}] ({h.size} values)")
        elif self.method == "structured":
            rows.append(
                "  hessian spectrum  not computed (structured: exact counts, no eigenvalues)"
            )
        return "\n".join(rows)
