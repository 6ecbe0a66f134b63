"""The interface every objective offers the numeric classifiers: `PointObjective`.

The pPCA log-likelihood (`_ppca.hessian.LikelihoodPoint`) and the linear VAE's ELBO
(`_elbo.derivatives.ElboModel`) are both seen through it: an objective evaluated at one point of
its flat parameter space, with its value, gradient, Hessian-vector products and dense Hessian
there, and the same objective at any other point. A third objective plugs in by implementing these
six members; `tests/base/test_objective.py` then checks its derivatives against finite differences
of its own value, exactly as it checks the two objectives that exist.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["PointObjective"]


@runtime_checkable
class PointObjective(Protocol):
    """An objective (maximised) at one point ``theta`` of its flat parameter space."""

    @property
    def size(self) -> int:
        """The number of coordinates of ``theta``."""
        ...

    @property
    def parameters(self) -> np.ndarray:
        """``theta``, flat (float64, shape ``(size,)``)."""
        ...

    def at(self, theta: np.ndarray) -> PointObjective:
        """The same objective (same data, same fixed quantities) at the point ``theta``."""
        ...

    def value(self) -> float:
        """The objective at ``theta``."""
        ...

    def gradient(self) -> np.ndarray:
        """The gradient at ``theta``, flat, shape ``(size,)``."""
        ...

    def hvp(self, v: np.ndarray) -> np.ndarray:
        """The Hessian at ``theta`` times the flat direction ``v``."""
        ...

    def dense_hessian(self) -> np.ndarray:
        """The Hessian at ``theta``, shape ``(size, size)``, symmetric."""
        ...
