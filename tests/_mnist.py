"""MNIST-test (10 000 x 784) for the tests that need real data at the size VAE users train on.

Read from ``../shared/data/mnist`` next to the repository (where CI clones it), or next to the
folder holding it (a git worktree one level down); a test that needs it skips, with the path, when
it is absent.
"""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

import numpy as np
import pytest

IMAGES = "t10k-images-idx3-ubyte.gz"
_ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = next(
    (
        folder
        for folder in (
            _ROOT / ".." / "shared" / "data" / "mnist",
            _ROOT.parents[1] / "shared" / "data" / "mnist",
        )
        if (folder / IMAGES).is_file()
    ),
    _ROOT / ".." / "shared" / "data" / "mnist",
)
# IDX images: a 16-byte header (magic, count, rows, columns), then uint8 pixels row by row.
IDX_HEADER_BYTES = 16


@cache
def _images() -> np.ndarray:
    raw = gzip.decompress((MNIST_DIR / IMAGES).read_bytes())
    X = np.frombuffer(raw, dtype=np.uint8, offset=IDX_HEADER_BYTES).reshape(-1, 784) / 255.0
    X.setflags(write=False)
    return X


def mnist_test_images() -> np.ndarray:
    """MNIST-test pixels in [0, 1], float64 (10 000 x 784, read-only); skips the test when the
    file is absent."""
    if not (MNIST_DIR / IMAGES).is_file():
        pytest.skip(f"MNIST-test not found at {MNIST_DIR.resolve() / IMAGES}")
    return _images()


@cache
def _cov() -> np.ndarray:
    from ppca_stability import covariance

    S = covariance(_images())
    S.setflags(write=False)
    return S


def mnist_test_cov() -> np.ndarray:
    """The ddof=0 covariance of `mnist_test_images` (784 x 784, read-only), computed once."""
    mnist_test_images()
    return _cov()
