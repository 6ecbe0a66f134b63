"""The data covariance: the first step of the pipeline, for data in memory, on disk or on a cluster.

Every other function takes the d x d covariance; this module reduces n x d data to it without ever
holding more than one chunk of rows:

* a NumPy array or a memory-mapped ``.npy`` (``np.load(path, mmap_mode="r")``) is read in chunks of
  rows sized to a memory budget, so a file larger than memory streams through once;
* a Dask array is reduced chunk by chunk as a tree on whatever Dask scheduler is active (a
  ``dask.distributed`` client included); Dask is imported only when such an array is passed.

Numerics: the covariance is ddof=0 (the maximum-likelihood estimate ``X_c.T @ X_c / n``). Each
chunk is centred on its own mean and chunks are merged with the pairwise update of Chan, Golub &
LeVeque (1979), ``M = M_a + M_b + (n_a n_b / n) delta delta^T`` with ``delta = mean_b - mean_a``.
All chunks are first shifted by one common row of the data (the first), so the chunk means and
their differences are of the size of the spread, not of the offset: a large common offset costs no
precision, unlike ``E[x x^T] - mu mu^T`` (which loses all of it at an offset of 1e8 std).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._base.validation import check_array_container, check_positive_int, object_array_hint

__all__ = [
    "SampleMoments",
    "covariance",
    "sample_moments",
    "check_data",
    "column_moments",
    "rows_for_budget",
    "is_dask_array",
]

# Working memory per chunk when neither `chunk_rows` nor `memory_budget` is given: the chunk's
# centred float64 copy. Large enough that BLAS runs at full speed, small next to any machine.
DEFAULT_MEMORY_BUDGET = 64 * 2**20


@dataclass(frozen=True, eq=False, slots=True)
class SampleMoments:
    """Sample size, mean and ddof=0 covariance of a data matrix whose rows are samples.

    Attributes
    ----------
    n_samples : int
    mean : ndarray, shape (d,)
    covariance : ndarray, shape (d, d)
        ``(X - mean).T @ (X - mean) / n_samples``, exactly symmetric.
    """

    n_samples: int
    mean: np.ndarray
    covariance: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def __repr__(self) -> str:
        var = np.diag(self.covariance)
        return (
            f"SampleMoments(n_samples={self.n_samples}, n_features={self.n_features}, "
            f"total variance={float(var.sum()):.6g}, max "
            f"|mean|={float(np.abs(self.mean).max()):.6g})"
        )


# ----------------------------------------------------------------------------- the reduction
# A partial result is (n, mean, M): the mean of the shifted rows X - shift and the scatter matrix
# (X - shift - mean).T @ (X - shift - mean).
def _chunk_moments(
    X: np.ndarray, shift: np.ndarray, diagonal: bool = False
) -> tuple[int, np.ndarray, np.ndarray]:
    """Moments of one chunk of rows, shifted by the common `shift`, centred on its own mean;
    with `diagonal`, only the scatter matrix's diagonal (the sums of squares per feature)."""
    n = X.shape[0]
    if n == 0:
        return 0, np.zeros(shift.size), np.zeros(shift.size if diagonal else (shift.size,) * 2)
    # NaN, inf and overflow propagate to the result, which _finish checks once.
    with np.errstate(over="ignore", invalid="ignore"):
        Xc = np.subtract(X, shift, dtype=np.float64)  # the one working copy of the chunk
        mean = Xc.mean(axis=0)
        Xc -= mean
        if diagonal:
            return n, mean, np.einsum("ij,ij->j", Xc, Xc)
        return n, mean, Xc.T @ Xc  # numpy turns A.T @ A into one symmetric rank-k update (syrk)


def _merge(
    a: tuple[int, np.ndarray, np.ndarray], b: tuple[int, np.ndarray, np.ndarray]
) -> tuple[int, np.ndarray, np.ndarray]:
    """Chan, Golub & LeVeque's pairwise update of two partial results."""
    n_a, mean_a, M_a = a
    n_b, mean_b, M_b = b
    if n_a == 0 or n_b == 0:
        return a if n_b == 0 else b
    n = n_a + n_b
    with np.errstate(over="ignore", invalid="ignore"):
        delta = mean_b - mean_a
        M = M_a + M_b
        M += (n_a * n_b / n) * (np.outer(delta, delta) if M.ndim == 2 else delta * delta)
        return n, mean_a + delta * (n_b / n), M


def _tree(parts: list[Any], merge: Any) -> Any:
    """Merge partial results pairwise as a balanced tree, so that independent merges run in
    parallel on a cluster and rounding error grows with log(#chunks)."""
    while len(parts) > 1:
        parts = [
            merge(*parts[i : i + 2]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


def _finish(shift: np.ndarray, n: int, mean: np.ndarray, M: np.ndarray) -> SampleMoments:
    with np.errstate(over="ignore", invalid="ignore"):
        cov = M / n
        if cov.ndim == 2:
            cov = (cov + cov.T) / 2.0
        mean = shift + mean
    # Non-finite values are absorbing, so one check of the result covers every chunk.
    if not (np.all(np.isfinite(cov)) and np.all(np.isfinite(mean))):
        raise ValueError(
            "`data` must contain only finite values whose squares fit in float64 (|x| below "
            "about 1e154); its mean or covariance came out NaN or inf. Remove NaN/inf rows "
            "or rescale the data."
        )
    return SampleMoments(int(n), mean, cov)


def _numpy_moments(X: np.ndarray, rows: int, diagonal: bool = False) -> SampleMoments:
    shift = np.asarray(X[0], dtype=np.float64)
    # A running merge, chunk after chunk, holds O(d^2) memory whatever n is; thanks to the shift,
    # its error growth with the number of chunks is on the scale of the spread, not the offset.
    parts = (_chunk_moments(X[i : i + rows], shift, diagonal) for i in range(0, X.shape[0], rows))
    return _finish(shift, *functools.reduce(_merge, parts))


def _dask_moments(X: Any, chunk_rows: int | None, diagonal: bool = False) -> SampleMoments:
    import dask  # the optional extra, imported only for a Dask input

    # One block per chunk of rows with all columns, so that each block yields a (d, d) partial.
    X = X.rechunk({0: chunk_rows if chunk_rows is not None else X.chunks[0], 1: -1})
    shift = np.asarray(X[0].compute(), dtype=np.float64)
    parts = [
        dask.delayed(_chunk_moments)(block, shift, diagonal) for block in X.to_delayed().ravel()
    ]
    (root,) = dask.compute(_tree(parts, dask.delayed(_merge)))  # on the active scheduler
    return _finish(shift, *root)


# ----------------------------------------------------------------------------- validation
def is_dask_array(data: Any) -> bool:
    # Decided without importing dask: a plain NumPy user never pays for it.
    return type(data).__module__.startswith("dask") and hasattr(data, "to_delayed")


def _check_dtype(dtype: np.dtype, data: Any = None) -> None:
    if dtype.kind == "O":
        raise TypeError(
            "`data` must be an array of real numbers; got an object array "
            f"({object_array_hint(data)})."
        )
    if dtype.kind == "c":
        raise TypeError(f"`data` must be real; got complex dtype {dtype}.")
    if dtype.kind not in "biuf":
        raise TypeError(f"`data` must be an array of real numbers; got dtype {dtype}.")


def _check_shape(shape: tuple) -> None:
    if len(shape) != 2:
        raise ValueError(
            f"`data` must be a 2-D (n_samples, n_features) array; got shape {shape}. "
            "For a single sample or feature use data.reshape(-1, 1) or data[None, :]."
        )
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(
            f"`data` must have at least one sample and one feature; got shape {shape}."
        )


def _sample_moments_iv(
    data: Any, chunk_rows: Any, memory_budget: Any
) -> tuple[Any, int | None, int | None]:
    chunk_rows = None if chunk_rows is None else check_positive_int(chunk_rows, "chunk_rows")
    budget = None if memory_budget is None else check_positive_int(memory_budget, "memory_budget")
    if is_dask_array(data):
        _check_dtype(np.dtype(data.dtype))
        _check_shape(tuple(data.shape))  # unknown sizes are NaN: they pass, and are caught below
        if not np.isfinite(data.shape[1]):
            raise ValueError(
                "`data` must have a known number of columns; call data.compute_chunk_sizes()."
            )
        if not all(np.isfinite(c) for c in data.chunks[0]):
            # e.g. after boolean indexing: the row blocks cannot be rechunked or merged blind.
            raise ValueError(
                "`data` is a Dask array with unknown row chunk sizes (NaN in data.chunks[0]); "
                "call data = data.compute_chunk_sizes() first."
            )
        return data, chunk_rows, budget
    if isinstance(data, (str, bytes)):
        raise TypeError(f"`data` must be an array of real numbers; got a string {data[:40]!r}.")
    check_array_container(data, "data")
    try:
        X = np.asarray(data)  # a memmap stays a view of the file: nothing is read here
    except Exception as exc:  # ragged lists and other objects numpy refuses
        raise TypeError(
            f"`data` must be an array of real numbers; got {type(data).__name__}."
        ) from exc
    _check_dtype(X.dtype, data)
    _check_shape(X.shape)
    return X, chunk_rows, budget


def check_data(data: Any) -> Any:
    """`data` as a validated 2-D real array (a memmap stays a view, a Dask array stays lazy)."""
    return _sample_moments_iv(data, None, None)[0]


def rows_for_budget(X: Any, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> int:
    """Rows of a NumPy chunk whose float64 copy fits in `memory_budget` bytes."""
    return max(1, memory_budget // (8 * int(X.shape[1])))


def column_moments(X: Any) -> tuple[int, np.ndarray, float]:
    """``(n_samples, mean, total variance)`` of validated data in one pass, without a d x d
    matrix: the same chunked, shifted, pairwise-merged reduction as `sample_moments`, on the
    diagonal of the scatter matrix only."""
    if is_dask_array(X):
        m = _dask_moments(X, None, diagonal=True)
    else:
        m = _numpy_moments(X, rows_for_budget(X), diagonal=True)
    return m.n_samples, m.mean, float(m.covariance.sum())


# ----------------------------------------------------------------------------- public
def sample_moments(
    data: ArrayLike, *, chunk_rows: int | None = None, memory_budget: int = DEFAULT_MEMORY_BUDGET
) -> SampleMoments:
    """Sample size, mean and ddof=0 covariance of data whose rows are samples, in one pass.

    Parameters
    ----------
    data : array_like, numpy.memmap or dask.array.Array, shape (n_samples, n_features)
        In memory, memory-mapped (``np.load(path, mmap_mode="r")``: read chunk by chunk, never
        whole) or a Dask array (reduced on the active Dask scheduler; needs the ``dask`` extra).
    chunk_rows : int, optional
        Rows per chunk. NumPy input: by default as many as fit in `memory_budget`. Dask input: the
        array is rechunked to this many rows per block; by default its own row chunks are kept.
    memory_budget : int, default 64 MiB
        NumPy input: bytes of working memory for a chunk (its centred float64 copy), beyond a
        few (d, d) partial sums.

    Returns
    -------
    SampleMoments
        The same type, in memory, whatever the input.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import sample_moments
    >>> m = sample_moments(np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 2.0]]), chunk_rows=2)
    >>> m.n_samples, m.mean
    (3, array([2., 2.]))
    >>> m.covariance
    array([[2.66666667, 0.66666667],
           [0.66666667, 0.66666667]])
    """
    X, chunk_rows, budget = _sample_moments_iv(data, chunk_rows, memory_budget)
    if is_dask_array(X):
        return _dask_moments(X, chunk_rows)
    rows = chunk_rows if chunk_rows is not None else max(1, budget // (8 * X.shape[1]))
    return _numpy_moments(X, rows)


def covariance(
    data: ArrayLike, *, chunk_rows: int | None = None, memory_budget: int = DEFAULT_MEMORY_BUDGET
) -> np.ndarray:
    """The ddof=0 (maximum-likelihood) covariance of a data matrix whose rows are samples.

    ``sample_moments(data, ...).covariance``: accepts a NumPy array, a memory-mapped ``.npy``
    (streamed in chunks under `memory_budget`) or a Dask array (a chunked reduction on the active
    Dask scheduler). Use `sample_moments()` for the mean as well.

    Parameters
    ----------
    data : array_like, numpy.memmap or dask.array.Array, shape (n_samples, n_features)
    chunk_rows : int, optional
    memory_budget : int, default 64 MiB
        See `sample_moments()`.

    Returns
    -------
    ndarray, shape (n_features, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import covariance
    >>> covariance(np.array([[0.0, 1.0], [2.0, 3.0]]))
    array([[1., 1.],
           [1., 1.]])
    """
    return sample_moments(data, chunk_rows=chunk_rows, memory_budget=memory_budget).covariance
