"""`Spectrum`: the eigenpairs a map reads, whole or partial, and the checks that say when a
question needs eigenvalues it lacks. How a spectrum is computed (LAPACK, block Krylov, the data
routes) is `_spectra.spectrum`'s business."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._base import persist
from .._base.tolerance import eigen_floor, roundoff_threshold, tie_sign

__all__ = ["Spectrum"]


@dataclass(frozen=True, eq=False, slots=True)
class Spectrum:
    """Eigen-decomposition ``cov = U diag(eigenvalues) U.T`` with descending eigenvalues, whole or
    only its top.

    Attributes
    ----------
    eigenvalues : ndarray, shape (r,)
        The top ``r`` eigenvalues, descending, non-negative (``r = n_features`` when complete).
    eigenvectors : ndarray, shape (d, r) or None
        Columns are the matching unit eigenvectors (sign-fixed), or None when only the values
        were computed.
    n_features : int
        ``d``; 0 (the default) means ``r``: the spectrum is complete.
    trace : float or None
        The total variance ``tr(cov)``; the sum of the eigenvalues when complete. A partial
        spectrum needs it for log-likelihoods and a learned ``sigma2``.
    rest_max : float or None
        A bound on every eigenvalue not in `eigenvalues` (None: the last of them).
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray | None
    n_features: int = 0
    trace: float | None = None
    rest_max: float | None = None

    def __post_init__(self) -> None:
        # Lists (or other array-likes) become float64 arrays; what cannot is refused by name.
        lam = _as_float_array(self.eigenvalues, "eigenvalues")
        if lam.ndim != 1:
            raise ValueError(f"`eigenvalues` must be 1-D; got shape {lam.shape}.")
        # A subnormal eigenvalue (below the smallest normal float, 2.2e-308) is 0: means of such
        # values underflow to 0, so keeping them would let a learned sigma2 (the mean of the
        # discarded eigenvalues) be 0 at a point the enumeration counts.
        tiny = np.finfo(np.float64).tiny
        if np.any((lam != 0.0) & (np.abs(lam) < tiny)):
            lam = np.where(np.abs(lam) < tiny, 0.0, lam)
        object.__setattr__(self, "eigenvalues", lam)
        if self.eigenvectors is not None:
            object.__setattr__(
                self, "eigenvectors", _as_float_array(self.eigenvectors, "eigenvectors")
            )
        r = int(lam.shape[0])
        if isinstance(self.n_features, (bool, np.bool_)) or not isinstance(
            self.n_features, (int, np.integer)
        ):
            raise TypeError(f"`n_features` must be an int; got {self.n_features!r}.")
        if self.n_features == 0:
            object.__setattr__(self, "n_features", r)
        if self.n_features < r:
            raise ValueError(
                f"`n_features` ({self.n_features}) must be at least the number of eigenvalues "
                f"({r})."
            )
        object.__setattr__(self, "n_features", int(self.n_features))
        if self.trace is None and self.n_features == r:
            object.__setattr__(self, "trace", float(lam.sum()))
        elif self.trace is not None:
            object.__setattr__(self, "trace", _check_trace(self.trace, lam, self.n_features))
        if self.rest_max is not None:
            rest = _real_scalar(self.rest_max, "rest_max")
            if not np.isfinite(rest):
                raise ValueError(
                    f"`rest_max` must be a finite bound on the eigenvalues the spectrum lacks; "
                    f"got {rest!r}."
                )
            object.__setattr__(self, "rest_max", rest)

    @property
    def is_complete(self) -> bool:
        """Whether every eigenvalue of the covariance is here."""
        return int(self.eigenvalues.shape[0]) == self.n_features

    @property
    def vectors(self) -> np.ndarray:
        """The eigenvectors, or a ValueError when only the eigenvalues were computed."""
        if self.eigenvectors is None:
            raise ValueError(
                "this spectrum has no eigenvectors; compute it with spectrum(..., vectors=True)."
            )
        return self.eigenvectors

    def __repr__(self) -> str:
        lam = self.eigenvalues
        shown = ", ".join(f"{v:.4g}" for v in lam[:6]) + (", ..." if lam.size > 6 else "")
        part = "" if self.is_complete else f", top {lam.size} (partial)"
        return f"Spectrum(n_features={self.n_features}, eigenvalues=[{shown}]{part})"

    # ------------------------------------------------------------------ keeping and showing
    # JSON text and a file that `ppca_stability.load` reads back (docs/saving.md): a partial
    # spectrum of large data is worth keeping.
    to_json = persist.to_json
    save = persist.save


def _as_float_array(value: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be an array of real numbers; got {value!r:.60}.") from exc
    return arr


def _real_scalar(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"`{name}` must be a real number; got {value!r:.60}.")
    return float(value)


def _check_trace(trace: Any, lam: np.ndarray, d: int) -> float:
    """`trace` as a float that can be the total variance of a PSD matrix holding `lam`: finite,
    non-negative and, up to round-off, at least the sum of `lam` (the eigenvalues it lacks are
    non-negative)."""
    t = _real_scalar(trace, "trace")
    if not np.isfinite(t) or t < 0.0:
        raise ValueError(f"`trace` must be a finite, non-negative total variance; got {t!r}.")
    held = float(lam.sum()) if lam.size else 0.0
    if t < held - roundoff_threshold(max(t, held), d):
        raise ValueError(
            f"`trace` ({t:.6g}) must be at least the sum of the eigenvalues the spectrum holds "
            f"({held:.6g}): the total variance includes them."
        )
    return t


def partial_spectrum(
    lam: np.ndarray, U: np.ndarray | None, d: int, trace: float, rest_max: float | None
) -> Spectrum:
    """The `Spectrum` of the top eigenpairs a partial route found: above a cut (`rest_max` set)
    its round-off eigenvalues (`roundoff_threshold`) are not kept as zeros but left out, with
    `rest_max` raised to the threshold, so that a partial spectrum never holds a value below its
    own cut; the top ``n_components`` (`rest_max` None) keep theirs, set to 0. Complete when all
    ``d`` were found."""
    if lam.size == d or rest_max is None:
        return Spectrum(zero_roundoff(lam, d), U, d, trace)
    keep = int(np.count_nonzero(zero_roundoff(lam, d) > 0)) if lam.size else 0
    if keep < lam.size:
        threshold = roundoff_threshold(float(lam[0]), d)
        rest_max = threshold if rest_max is None else max(float(rest_max), threshold)
        lam = lam[:keep]
        U = None if U is None else U[:, :keep]
    return Spectrum(lam, U, d, trace, rest_max)


def unknown_max(spec: Spectrum) -> float:
    """A bound on the eigenvalues `spec` lacks: -inf when complete."""
    if spec.is_complete:
        return -np.inf
    if spec.rest_max is not None:
        return float(spec.rest_max)
    return float(spec.eigenvalues[-1]) if spec.eigenvalues.size else np.inf


def spectrum_floor(spec: Spectrum) -> float:
    """The tie tolerance's absolute floor (`_tolerance.eigen_floor`) for `spec`, partial or not."""
    if spec.eigenvalues.size == 0:
        return 0.0
    return eigen_floor(spec.eigenvalues, spec.n_features)


def _partial_hint(spec: Spectrum) -> str:
    return (
        f"this spectrum is partial (the top {spec.eigenvalues.size} of {spec.n_features} "
        "eigenvalues)"
    )


def require_trace(spec: Spectrum, what: str) -> float:
    """The total variance, or a ValueError saying that `what` needs it."""
    if spec.trace is None:
        raise ValueError(
            f"{what} needs the total variance, and {_partial_hint(spec)} has no `trace`; "
            "compute it with spectrum(cov, ...) or spectrum(data=..., ...), which record it, or "
            "pass Spectrum(..., trace=...)."
        )
    return float(spec.trace)


def require_complete(spec: Spectrum, what: str) -> None:
    """A ValueError when `what` needs every eigenvalue and `spec` is partial."""
    if not spec.is_complete:
        raise ValueError(
            f"{what} needs every eigenvalue of the covariance, but {_partial_hint(spec)}. "
            "Compute the complete spectrum: spectrum(cov) (or spectrum(covariance(data)))."
        )


def require_above(spec: Spectrum, s: float, rtol: float, floor: float, what: str) -> None:
    """A ValueError when the eigenvalues `spec` lacks might not lie below ``s`` beyond the tie
    tolerance: then how many exceed ``s`` is unknown."""
    bound = unknown_max(spec)
    if bound > -np.inf and tie_sign(np.array(bound), s, rtol, floor) >= 0:
        raise ValueError(
            f"{what} needs every eigenvalue above sigma2 = {s:.6g}, but {_partial_hint(spec)} and "
            f"those it lacks may be as large as {bound:.6g}, which is not below sigma2 beyond "
            "rtol. Compute the spectrum with spectrum(..., above=a) for an `a` below sigma2, or "
            "a larger n_components."
        )


def full_eigenvalues(spec: Spectrum, what: str) -> np.ndarray:
    """All ``d`` eigenvalues, the missing ones stood in for by their mean (module notes)."""
    lam = spec.eigenvalues
    if spec.is_complete:
        return lam
    rest = spec.n_features - lam.size
    fill = max(require_trace(spec, what) - float(lam.sum()), 0.0) / rest
    fill = min(fill, max(unknown_max(spec), 0.0))
    return np.concatenate([lam, np.full(rest, fill)])


def from_eigenpairs(lam: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """The covariance ``Q diag(lam) Q^T``, exactly symmetric."""
    S = (Q * lam) @ Q.T
    return (S + S.T) / 2.0


def check_spectrum(spec: Spectrum, name: str = "cov") -> Spectrum:
    """A `Spectrum` passed where a covariance is accepted: descending, finite, non-negative
    eigenvalues and eigenvectors of matching shape, or a ValueError naming `name`."""
    lam = spec.eigenvalues
    if (
        not isinstance(lam, np.ndarray)
        or lam.ndim != 1
        or not np.all(np.isfinite(lam))
        or np.any(lam < 0)
        or np.any(np.diff(lam) > 0)
    ):
        raise ValueError(
            f"`{name}` is a Spectrum whose eigenvalues are not a 1-D array of finite, "
            "non-negative values in descending order; build it with spectrum()."
        )
    U = spec.eigenvectors
    if U is not None and U.shape != (spec.n_features, lam.size):
        raise ValueError(
            f"`{name}` is a Spectrum whose eigenvectors have shape {U.shape}; expected "
            f"(n_features, n_eigenvalues) = ({spec.n_features}, {lam.size})."
        )
    if spec.eigenvalues.size == 0 and spec.trace is None:
        raise ValueError(f"`{name}` is a Spectrum with no eigenvalues and no trace.")
    return spec


def joint_min_sigma2(spec: Spectrum, latent_dim: int) -> float:
    """The smallest ``s_I`` of any active set of at most `latent_dim` indices: ``min_k (tr -
    sum of the top k) / (d - k)``; needs ``latent_dim`` < the eigenvalues held."""
    lam, d = spec.eigenvalues, spec.n_features
    k = np.arange(latent_dim + 1)
    kept = np.concatenate([[0.0], np.cumsum(lam[:latent_dim])])
    return float(np.min((require_trace(spec, "sigma2='learned'") - kept) / (d - k)))


def require_joint(spec: Spectrum, latent_dim: int, rtol: float, floor: float, what: str) -> None:
    """A ValueError unless the eigenvalues a partial `spec` lacks lie below every ``s_I`` beyond
    the tie tolerance, so that no joint stationary point keeps one of them."""
    if spec.is_complete:
        return
    r = spec.eigenvalues.size
    if latent_dim >= r:
        raise ValueError(
            f"{what} with sigma2='learned' needs more than latent_dim = {latent_dim} eigenvalues, "
            f"but {_partial_hint(spec)}. Compute spectrum(..., n_components=k) with k > "
            "latent_dim, or the complete spectrum."
        )
    s_min = joint_min_sigma2(spec, latent_dim)
    require_above(spec, s_min, rtol, floor, f"{what} with sigma2='learned' (smallest s_I)")


def covariance_from_spectrum(spec: Spectrum, name: str = "cov") -> np.ndarray:
    """The covariance ``U diag(lam) U^T`` of a complete spectrum with eigenvectors."""
    check_spectrum(spec, name)
    require_complete(spec, f"`{name}` as a covariance")
    return from_eigenpairs(spec.eigenvalues, spec.vectors)


def zero_roundoff(lam: np.ndarray, n_features: int) -> np.ndarray:
    """A partial spectrum's round-off eigenvalues set to 0 (the global bound of the module
    notes)."""
    if lam.size == 0:
        return lam
    return np.where(lam > roundoff_threshold(float(lam[0]), n_features), lam, 0.0)


def sign_fix(U: np.ndarray) -> np.ndarray:
    """Each column's entry of largest magnitude made positive, in place: the first such entry
    in the column's order, as ``argmax(|U|, axis=0)`` picks it (scikit-learn's ``svd_flip``
    convention), the one sign every route gives a `Spectrum`'s eigenvectors; a zero column is
    left as it is.

    The largest magnitude is the column's maximum or minus its minimum, so two reductions
    decide every column without forming ``|U|`` (at d = 2000: 3 ms against 14 ms for the
    ``argmax`` over blocks of ``|U|``, which was 2 % of the eigendecomposition it follows);
    only a column whose maximum and minus minimum tie exactly (an eigenvector such as
    ``(1, -1) / sqrt(2)``) is searched for which of them comes first."""
    if not U.shape[1]:
        return U
    hi, lo = U.max(axis=0), U.min(axis=0)
    signs = np.where(hi >= -lo, 1.0, -1.0)
    for j in np.flatnonzero((hi == -lo) & (hi != 0)):
        column = U[:, j]
        signs[j] = 1.0 if column[np.argmax(np.abs(column))] > 0 else -1.0
    U *= signs
    return U
