"""Warning classes of ppca_stability.

All derive from `UserWarning`, so ``warnings.simplefilter("error", DegeneracyWarning)``
turns exactly our degeneracy announcements into errors without touching anything else.
"""

__all__ = ["ConvergenceWarning", "DegeneracyWarning", "PrecisionWarning"]


class DegeneracyWarning(UserWarning):
    """A stationary point's Hessian has zero eigenvalues beyond the symmetry modes.

    Raised (as a warning) when eigenvalues of the covariance are tied within ``rtol`` or when
    ``sigma2`` lies within ``rtol`` of an eigenvalue: second-order information then cannot settle
    whether the point is a maximum, and the affected points are reported as
    `DEGENERATE`.
    """


class ConvergenceWarning(UserWarning):
    """An iterative method stopped before meeting its tolerance."""


class PrecisionWarning(UserWarning):
    """Eigenvalues of the covariance were set to zero because float64 cannot resolve them.

    An eigenvalue is resolvable when it exceeds the first-order effect of the covariance's own
    round-off on it (`ppca_stability._base.validation.check_psd_eigenvalues`). Features on very
    different scales hide genuine small eigenvalues this way; standardise them first.
    """
