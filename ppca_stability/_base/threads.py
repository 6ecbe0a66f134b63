"""How many threads the BLAS behind NumPy and SciPy uses for one job (threadpoolctl).

Small or sequential linear algebra (a thin SVD, a symmetric indefinite factorisation, the
bookkeeping of a Krylov run, a training step) is faster on one BLAS thread than on two, whose
threads spin and wait for each other on so small a job; each caller says where it measured that.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["blas_controller", "blas_thread_count", "blas_threads", "one_blas_thread"]


@functools.cache
def blas_controller() -> Any:
    """One `threadpoolctl.ThreadpoolController` for the BLAS libraries, per process: building one
    scans the loaded libraries (3-9 ms here, a fifth of a full eigh at d = 784 on two threads).
    NumPy's and SciPy's BLAS are both loaded once any module of this package is imported."""
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    return ThreadpoolController().select(user_api="blas")


def blas_threads(limit: int | None) -> Any:
    """A context in which BLAS uses at most `limit` threads (None: no limit)."""
    return blas_controller().limit(limits=limit)


def one_blas_thread() -> Any:
    """A context in which BLAS uses one thread."""
    return blas_threads(1)


def blas_thread_count() -> int:
    """The largest number of threads any loaded BLAS uses now."""
    return max((int(info["num_threads"]) for info in blas_controller().info()), default=1)
