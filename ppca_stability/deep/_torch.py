"""PyTorch for the deep subpackage, imported in one place: without it, importing any of its
modules raises one line naming the ``deep`` extra."""

from __future__ import annotations

from .._base.optional import require

try:
    import torch
except ImportError:
    require("torch", "deep", "ppca_stability.deep")  # raises one line naming the extra
    raise

__all__ = ["torch"]
