"""Large transient arrays without transparent huge pages.

NumPy asks the kernel for transparent huge pages on every array of 4 MiB or more
(``madvise(MADV_HUGEPAGE)``). Where the kernel then compacts memory synchronously to find 2 MiB
pages (``/sys/kernel/mm/transparent_hugepage/defrag`` set to ``madvise``, Linux's default), a
fresh array's first touch can stall. LAPACK's wrappers in SciPy allocate their outputs and
workspaces as NumPy arrays: the eigenvectors of a tridiagonal matrix and ``dstevd``'s workspace
(32 MB each at d = 2000), a ``dsytrd`` buffer. Measured here (two cores, d = 2000, inside
`benchmarks/bench_routes.py`): the whole decomposition from one kept reduction took 1.35-1.59x
one ``numpy.linalg.eigh`` with huge pages and 1.06-1.10x without (``numpy.linalg.eigh``'s own
workspace is plain ``malloc``, never advised); MRRR on 50 pairs took 0.03-0.34 s against a steady
0.03 s.

`no_huge_pages` switches NumPy's advice off for the duration of such a computation and restores
it after (NumPy's ``_set_madvise_hugepage``, the switch behind its ``NUMPY_MADVISE_HUGEPAGE``
environment variable; a NumPy without it leaves the advice as it is). It changes how memory is
obtained, never a value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["no_huge_pages"]


def _switch() -> object:
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    multiarray = getattr(core, "multiarray", None)
    return getattr(multiarray, "_set_madvise_hugepage", None)


@contextmanager
def no_huge_pages() -> Iterator[None]:
    """A context in which NumPy does not advise the kernel to back new arrays with huge pages.

    Examples
    --------
    >>> import numpy as np
    >>> with no_huge_pages():
    ...     work = np.zeros(4_000_000)
    >>> float(work.sum())
    0.0
    """
    switch = _switch()
    if not callable(switch):
        yield
        return
    previous = switch(False)
    try:
        yield
    finally:
        switch(previous)
