"""Input validation shared by every public entry point.

Public functions validate their arguments here, once; internals trust what they receive.
Messages name the parameter, say what was wrong and, where a mistake is likely, how to fix it.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np

from ..exceptions import PrecisionWarning
from .tolerance import EPS, LOW_PRECISION_ULPS, SYMMETRY_RTOL, roundoff_threshold

__all__ = [
    "as_real_array",
    "real_array",
    "check_array_container",
    "object_array_hint",
    "describe",
    "check_cov",
    "check_learned_latent_dim",
    "check_loadings",
    "check_sigma2",
    "check_sigma2_grid",
    "check_positive_float",
    "check_bool",
    "check_sigma2_learned",
    "check_seed",
    "check_latent_dim",
    "check_rtol",
    "check_rng",
    "check_positive_int",
    "check_choice",
]

# Features whose variances span more than this factor may hide eigenvalues that rescaling would
# resolve (`check_psd_eigenvalues` then says so).
RESCALE_SPREAD = 100.0
# ... and warns only for eigenvalues at least this many times their residual (resolved by the
# eigensolver, not noise).
RESOLVED_RATIO = 100.0


def describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_array_container(value: Any, name: str) -> None:
    """Refuse, with a message that says what to do, inputs NumPy would convert silently wrongly
    (a masked array loses its mask) or into an object array (None, scipy sparse matrices,
    pandas objects with nullable dtypes)."""
    if value is None:
        raise TypeError(f"`{name}` must be an array of real numbers; got None.")
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(
            f"`{name}` is a masked array; masks are not supported (NumPy would drop the mask and "
            "use the hidden values). Drop the incomplete rows, or impute them, and pass a plain "
            "ndarray."
        )
    if type(value).__module__.startswith("scipy.sparse"):
        raise TypeError(
            f"`{name}` is a scipy sparse {type(value).__name__}; pass a dense array "
            f"({name}.toarray()), or compute the covariance first."
        )


def object_array_hint(value: Any) -> str:
    """Why NumPy made an object array of `value`, for an error message."""
    if hasattr(value, "dtypes") or type(value).__module__.startswith("pandas"):
        return (
            "a pandas object with nullable or non-numeric columns (missing values?); convert "
            "with .to_numpy(dtype=float) after dropping or imputing missing values"
        )
    return "ragged nested lists or non-numeric entries?"


def real_array(value: Any, name: str, *, finite: bool = True) -> tuple[np.ndarray, float]:
    """`value` as a finite float64 ndarray, and the machine epsilon of its own dtype (0 for
    integers, which convert exactly). Without `finite` the caller checks finiteness itself
    (`require_finite`), on a pass over the entries it makes anyway."""
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"`{name}` must be an array of real numbers; got a string {describe(value)}."
        )
    check_array_container(value, name)
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and other objects numpy refuses
        raise TypeError(
            f"`{name}` must be an array of real numbers; got {type(value).__name__}."
        ) from exc
    if arr.dtype == object:
        raise TypeError(
            f"`{name}` must be an array of real numbers; got an object array "
            f"({object_array_hint(value)})."
        )
    if np.iscomplexobj(arr):
        raise TypeError(f"`{name}` must be real; got complex dtype {arr.dtype}.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must be an array of real numbers; got dtype {arr.dtype}.")
    eps = float(np.finfo(arr.dtype).eps) if arr.dtype.kind == "f" else 0.0
    arr = arr.astype(np.float64, copy=False)
    if finite:
        require_finite(arr, name)
    return arr, eps


def require_finite(arr: np.ndarray, name: str) -> None:
    """Raise unless every entry of `arr` is finite."""
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must contain only finite values; it contains NaN or inf.")


def as_real_array(value: Any, name: str) -> np.ndarray:
    return real_array(value, name)[0]


_TILE = 128


@dataclass(frozen=True)
class _EntryScan:
    """What one pass over the tiles of a square matrix found: ``max |A - A^T|`` and the entry of
    ``(A + A^T) / 2`` that most exceeds ``sqrt(A_ii A_jj) + tol`` (None if none does); whether
    every ``A - A^T`` came out finite (it does not where an entry is NaN or inf, nor where a
    difference of finite entries overflows)."""

    asymmetry: float
    excess: tuple[int, int] | None
    finite: bool


def _scan_entries(arr: np.ndarray, root: np.ndarray, tol: float) -> _EntryScan:
    """Symmetry and the 2 x 2 principal minors of the symmetric part, in one pass over pairs of
    cache-sized tiles of the upper triangle (`check_cov`).

    Comparing whole ``arr`` with ``arr.T`` walks one of them across rows: at d = 3072 that took
    75 ms (5 % of the eigendecomposition it guards); tile pairs that fit in cache take 14 ms. The
    minors are checked on the same tiles while they are in cache: at d = 2000 both checks take
    about 9-10 ms, against 15 ms as a tiled symmetry pass and a minors pass over whole rows.
    """
    d = arr.shape[0]
    t = min(_TILE, d)
    diff, bound, flip = np.empty((t, t)), np.empty((t, t)), np.empty((t, t))
    root2 = 2.0 * root
    worst = 0.0
    finite = True
    excess: tuple[float, int, int] | None = None
    for i in range(0, d, _TILE):
        for j in range(i, d, _TILE):
            upper = arr[i : i + _TILE, j : j + _TILE]
            tile = (slice(upper.shape[0]), slice(upper.shape[1]))
            a, b, lower = diff[tile], bound[tile], flip[tile]
            # The transposed tile copied once: elementwise operations on a strided transpose are
            # several times slower than on a contiguous block.
            np.copyto(lower, arr[j : j + _TILE, i : i + _TILE].T)
            np.subtract(upper, lower, out=a)
            high, low = float(a.max()), float(a.min())
            finite = finite and math.isfinite(high) and math.isfinite(low)
            worst = max(worst, high, -low)
            # |(U + L) / 2| - (r_i r_j + tol), as |U + L| - 2 r_i r_j against 2 tol
            np.add(upper, lower, out=a)
            np.abs(a, out=a)
            np.multiply(root2[i : i + _TILE, None], root[None, j : j + _TILE], out=b)
            a -= b
            top = float(a.max()) - 2.0 * tol
            if top > 0 and (excess is None or top > excess[0]):
                r, c = np.unravel_index(int(np.argmax(a)), a.shape)
                excess = (top, i + int(r), j + int(c))
    return _EntryScan(worst, None if excess is None else (excess[1], excess[2]), finite)


def check_cov(cov: Any, name: str = "cov") -> np.ndarray:
    """Return `cov` as a symmetric float64 (d, d) array, or raise.

    Positive semi-definiteness is checked where the eigenvalues are computed
    (`ppca_stability.spectrum()`), so that it costs no extra factorisation; here only
    its necessary conditions on the entries, O(d^2): a non-negative diagonal and
    ``|S_ij| <= sqrt(S_ii S_jj)`` (every 2 x 2 principal minor), each up to round-off
    (`roundoff_threshold` ``(max|S_ii|, d)``). They catch the common mistakes (a sign error, a
    correlation above 1, a difference of covariances) where no eigenvalues are computed, as in
    `log_likelihood` and its derivatives; the full test is `check_psd_eigenvalues`.
    """
    # Finiteness is read from the entry scan's differences (a separate pass cost 1.5 ms at
    # d = 2000), and confirmed on the entries only where one of them is not finite.
    arr, eps = real_array(cov, name, finite=False)
    # Asymmetry is measured against the input's own precision: a float32 covariance carries
    # round-off of 1e-8 relative, far above SYMMETRY_RTOL (it was refused as "not symmetric").
    symmetry_rtol = max(SYMMETRY_RTOL, LOW_PRECISION_ULPS * eps)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        require_finite(arr, name)
        hint = " Pass a data matrix to `covariance(data)` first." if arr.ndim == 2 else ""
        raise ValueError(f"`{name}` must be a square 2-D array; got shape {arr.shape}.{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"`{name}` must not be empty; got shape {arr.shape}.")
    require_finite(np.diagonal(arr), name)
    root, tol = _check_diagonal(arr, name)
    # NaN or inf entries, and overflowing sums of huge finite ones, give NaN or inf in the
    # scan's differences (`finite`), not warnings.
    with np.errstate(invalid="ignore", over="ignore"):
        scan = _scan_entries(arr, root, tol)
    if not scan.finite:
        require_finite(arr, name)
    if scan.asymmetry > 0.0:
        scale = np.abs(arr).max()
        if scan.asymmetry > symmetry_rtol * scale:
            raise ValueError(
                f"`{name}` must be symmetric; max |cov - cov.T| = {scan.asymmetry:.3g} exceeds "
                f"{symmetry_rtol:g} x max|cov|. Is it a data matrix rather than a covariance?"
            )
        arr = arr + arr.T
        arr *= 0.5
    if scan.excess is not None:
        r, c = scan.excess
        raise ValueError(
            f"`{name}` must be positive semi-definite; |entry [{r}, {c}]| = "
            f"{abs(arr[r, c]):.6g} exceeds sqrt([{r}, {r}] x [{c}, {c}]) = "
            f"{root[r] * root[c]:.6g} (a correlation above 1)."
        )
    return arr


def _check_diagonal(S: np.ndarray, name: str) -> tuple[np.ndarray, float]:
    """A non-negative diagonal up to round-off (`roundoff_threshold` ``(max|S_ii|, d)``); returns
    ``sqrt(max(S_ii, 0))`` and that tolerance, for the 2 x 2 minors (`_scan_entries`)."""
    d = S.shape[0]
    diag = np.diagonal(S)
    tol = roundoff_threshold(float(np.abs(diag).max(initial=0.0)), d)
    i = int(np.argmin(diag))
    if diag[i] < -tol:
        raise ValueError(
            f"`{name}` must be positive semi-definite; its diagonal entry [{i}, {i}] is "
            f"{diag[i]:.6g} < 0 (a variance cannot be negative)."
        )
    return np.sqrt(np.maximum(diag, 0.0)), tol


def check_psd_eigenvalues(
    eigenvalues: np.ndarray,
    name: str = "cov",
    *,
    cov: np.ndarray | None = None,
    vectors: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Set eigenvalues within round-off of 0 to exactly 0; raise for genuinely negative ones.

    Which eigenvalues are round-off: the package's one rule, `roundoff_threshold` (``|lam| <= d
    eps lam_max``, NumPy's ``matrix_rank`` tolerance). An eigenvalue below ``-threshold`` is
    genuinely negative: a ValueError. Eigenvalues above it are kept. Below it the global rule is
    too pessimistic when the covariance's scales differ: in ``diag([1e16, 4, 3, 2, 1])`` the
    eigenvalues 4..1 are computed exactly, and a covariance of features in different units
    resolves its small eigenvalues much better than ``eps * lam_max``. For those candidates the
    same rule is applied at the eigenvalue's own scale, with two errors added: the
    eigensolver's, bounded rigorously by the residual ``||S u_i - lam_i u_i||`` of the computed
    unit eigenvector (some eigenvalue of ``S`` lies that close; it is exactly 0 for a diagonal
    ``S``), and the covariance's own round-off: an entrywise relative error ``eta = d eps``
    (``|dS| <= eta |S|``) moves ``lam_i`` by at most ``eta |u_i|^T |S| |u_i|`` to first order.
    ``lam_i`` is kept when it exceeds ``roundoff_threshold(|u_i|^T |S| |u_i|, d) + ||S u_i -
    lam_i u_i||``. A genuinely round-off eigenvalue (rank-deficient data) has ``|u_i|^T |S|
    |u_i|`` of order ``lam_max`` and is zeroed; 4..1 next to 1e16 on the diagonal have it equal
    to themselves and are kept. When the eigensolver resolved an eigenvalue (above its residual
    and above ``eps lam_max``) but the covariance's round-off term drops it, and the variances of
    the features span more than ``RESCALE_SPREAD`` (so that rescaling would help), a
    `PrecisionWarning` says how many and suggests standardising the features.

    `cov` is the matrix the eigenvalues came from and `vectors(idx)` returns the unit
    eigenvectors of ``eigenvalues[idx]`` as columns; without them only the global rule is used.
    """
    d = eigenvalues.shape[0]
    top = max(abs(eigenvalues[0]), abs(eigenvalues[-1]))
    slack = roundoff_threshold(top, d)
    if eigenvalues[-1] < -slack:
        raise ValueError(
            f"`{name}` must be positive semi-definite; its smallest eigenvalue is "
            f"{eigenvalues[-1]:.6g} (largest {eigenvalues[0]:.6g}), below the round-off "
            f"threshold -{slack:.3g} (d eps lam_max)."
        )
    # Below the eigensolver's accuracy an eigenvalue is indistinguishable from 0: make it exactly 0
    # so that ranks, ties and "eigenvalue > sigma2" tests do not depend on round-off.
    keep = eigenvalues > slack
    candidates = np.flatnonzero(~keep & (eigenvalues > 0))
    if cov is not None:
        # The bound below is at least the threshold at min_j S_jj (|u|^T |S| |u| >= sum_j u_j^2
        # S_jj): what falls under that is round-off without computing its eigenvector.
        floor = roundoff_threshold(float(np.diagonal(cov).min()), d)
        candidates = candidates[eigenvalues[candidates] > floor]
    if cov is not None and vectors is not None and candidates.size:
        U = vectors(candidates)
        lam_c = eigenvalues[candidates]
        residual = np.linalg.norm(cov @ U - U * lam_c, axis=0)
        A = np.abs(U)
        local = np.einsum("ij,ij->j", A, np.abs(cov) @ A)
        bound = roundoff_threshold(1.0, d) * local + residual
        keep[candidates] = eigenvalues[candidates] > bound
        # An eigenvalue above a resolved one is not zero: keep the spectrum descending.
        keep = np.logical_or.accumulate(keep[::-1])[::-1]
        # Warn only for eigenvalues the eigensolver did resolve (above its residual) and that
        # the covariance's own round-off hides: rescaling helps there; below the residual the
        # computed value is noise, as for a constant feature or rank-deficient data.
        # And only when the feature scales span more than float64 resolves next to each other.
        diag = np.diagonal(cov)
        spread = float(diag.max()) > RESCALE_SPREAD * float(diag[diag > 0].min(initial=np.inf))
        solved = (lam_c > RESOLVED_RATIO * residual) & (lam_c > EPS * top)
        lost = lam_c[solved & ~keep[candidates]] if spread else lam_c[:0]
        n_lost = lost.size
        if n_lost:
            warnings.warn(
                f"{n_lost} eigenvalue(s) of `{name}` (the largest {lost.max():.3g}) are below "
                f"what float64 resolves next to its largest, {top:.3g}, and were set to 0. "
                "Features on very different scales cause this: standardise them (divide each by "
                "its standard deviation) or rescale to similar units.",
                PrecisionWarning,
                stacklevel=4,
            )
    return np.where(keep, eigenvalues, 0.0)


def check_positive_float(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Return `value` as a positive (or, with `allow_zero`, non-negative) finite float."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a positive float; got the bool {value!r}.")
    if not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a positive float; got {type(value).__name__} {describe(value)}."
        )
    out = float(value)
    if not np.isfinite(out) or out < 0.0 or (out == 0.0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"`{name}` must be {kind} and finite; got {out!r}.")
    return out


@overload
def check_sigma2(sigma2: Any, name: str = ..., *, allow_learned: Literal[False] = ...) -> float: ...
@overload
def check_sigma2(sigma2: Any, name: str = ..., *, allow_learned: bool) -> float | str: ...
def check_sigma2(sigma2: Any, name: str = "sigma2", *, allow_learned: bool = False) -> float | str:
    """Return `sigma2` as a positive finite float, or the string ``"learned"`` where allowed."""
    if isinstance(sigma2, str):
        if allow_learned and sigma2 == "learned":
            return "learned"
        allowed = 'a positive float or "learned"' if allow_learned else "a positive float"
        raise ValueError(f"`{name}` must be {allowed}; got the string {sigma2!r}.")
    return check_positive_float(sigma2, name)


def check_sigma2_grid(grid: Any, name: str) -> np.ndarray:
    """Return `grid` as a non-empty, strictly increasing 1-D float64 array of positive values."""
    arr = np.atleast_1d(as_real_array(grid, name))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 1-D grid of values; got shape {np.shape(grid)}."
        )
    if arr.min() <= 0.0:
        raise ValueError(
            f"`{name}` must contain only positive values; its smallest is {float(arr.min())!r}."
        )
    if arr.size > 1 and np.any(np.diff(arr) <= 0):
        raise ValueError(
            f"`{name}` must be strictly increasing; sort it and drop repeats with "
            f"numpy.unique({name})."
        )
    return arr


def check_bool(value: Any, name: str) -> bool:
    """Return `value` as a bool (Python or NumPy), or raise."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a bool; got {type(value).__name__} {describe(value)}.")
    return bool(value)


# The deprecated `wrt` spelling of `sigma2_learned`: "joint" is True.
WRT_CHOICES = ("loadings", "joint")


def check_sigma2_learned(sigma2_learned: Any, wrt: Any = None, *, stacklevel: int = 2) -> bool:
    """Return `sigma2_learned` as a bool; a `wrt` other than None overrides it with a
    FutureWarning naming the new spelling. `stacklevel` is the caller's, as it would pass to
    `warnings.warn` (2: the line that called the caller)."""
    joint = check_bool(sigma2_learned, "sigma2_learned")
    if wrt is None:
        return joint
    warnings.warn(
        f"`wrt` is deprecated: use sigma2_learned={wrt == 'joint'} instead of wrt={wrt!r}.",
        FutureWarning,
        stacklevel=stacklevel + 1,
    )
    return check_choice(wrt, "wrt", WRT_CHOICES) == "joint"


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """Return `seed` as a non-negative int, or None."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"`{name}` must be a non-negative int or None; got {type(seed).__name__} "
            f"{describe(seed)}."
        )
    if int(seed) < 0:
        raise ValueError(f"`{name}` must be a non-negative int or None; got {int(seed)}.")
    return int(seed)


def check_positive_int(
    value: Any,
    name: str,
    *,
    upper: int | None = None,
    upper_name: str = "",
    allow_zero: bool = False,
) -> int:
    """Return `value` as a Python int in ``[1, upper]`` (``[0, upper]`` with `allow_zero`), or
    raise."""
    kind = "non-negative" if allow_zero else "positive"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be a {kind} integer; got {type(value).__name__} {describe(value)}."
        )
    value = int(value)
    if value < (0 if allow_zero else 1):
        raise ValueError(f"`{name}` must be a {kind} integer; got {value}.")
    if upper is not None and value > upper:
        raise ValueError(f"`{name}` must be at most {upper_name or upper} ({upper}); got {value}.")
    return value


def check_latent_dim(latent_dim: Any, n_features: int, name: str = "latent_dim") -> int:
    """Return `latent_dim` as an int in ``[1, n_features]``; ``None`` means ``n_features``."""
    if latent_dim is None:
        return n_features
    return check_positive_int(
        latent_dim, name, upper=n_features, upper_name="the number of features"
    )


def check_learned_latent_dim(latent_dim: Any, n_features: int, name: str = "latent_dim") -> int:
    """`check_latent_dim` for a learned ``sigma2``, which also needs ``latent_dim < n_features``;
    ``None`` means ``n_features - 1``."""
    if n_features < 2:
        raise ValueError(
            "`sigma2`='learned' needs at least 2 features: with d = 1 sigma2 is not identified."
        )
    q = check_latent_dim(n_features - 1 if latent_dim is None else latent_dim, n_features, name)
    if q >= n_features:
        raise ValueError(
            f"`{name}` must be below n_features = {n_features} when sigma2='learned' (got {q}): "
            f"with {name} = n_features the model fits cov exactly and sigma2 is not identified."
        )
    return q


def check_loadings(
    loadings: Any, n_features: int, latent_dim: int | None = None, name: str = "loadings"
) -> np.ndarray:
    """Return `loadings` as a float64 (d, q) array matching a d-dimensional covariance."""
    arr = as_real_array(loadings, name)
    if arr.ndim != 2:
        raise ValueError(
            f"`{name}` must be a 2-D (n_features, latent_dim) array; got shape {arr.shape}."
        )
    if arr.shape[0] != n_features:
        raise ValueError(
            f"`{name}` must have n_features = {n_features} rows to match `cov`; got shape "
            f"{arr.shape}." + (" Did you pass its transpose?" if arr.shape[1] == n_features else "")
        )
    if arr.shape[1] == 0:
        raise ValueError(f"`{name}` must have at least one column; got shape {arr.shape}.")
    if latent_dim is not None and arr.shape[1] != latent_dim:
        raise ValueError(f"`{name}` must have {latent_dim} columns; got shape {arr.shape}.")
    return arr


def check_rtol(rtol: Any, name: str = "rtol") -> float:
    """Return `rtol` as a float in ``[0, 1)``."""
    if isinstance(rtol, (bool, np.bool_)) or not isinstance(rtol, numbers.Real):
        raise TypeError(
            f"`{name}` must be a float in [0, 1); got {type(rtol).__name__} {describe(rtol)}."
        )
    value = float(rtol)
    if not (0.0 <= value < 1.0):
        raise ValueError(f"`{name}` must be a float in [0, 1); got {value!r}.")
    return value


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Return `value` if it is one of `choices`, else raise naming the allowed values."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"`{name}` must be one of {', '.join(map(repr, choices))}; got {describe(value)}."
        )
    return value


def check_rng(rng: Any, name: str = "rng") -> np.random.Generator:
    """Return a `numpy.random.Generator` from a Generator, an int seed or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_))):
        return np.random.default_rng(check_seed(rng, name))
    raise TypeError(
        f"`{name}` must be a numpy.random.Generator, an int seed or None; got {type(rng).__name__}."
    )
