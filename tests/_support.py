"""Shared test helpers: tolerances, reference data and independent (deliberately naive) oracles.

Plain functions and constants live here; fixtures built from them (the seeded `rng`, the digits
data loaded once per session, the covariance of `SPECTRUM`) live in conftest.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# Tolerances, named by what they absorb.
EXACT_RTOL = 1e-12  # two float64 routes through the same closed form
NUMERIC_RTOL = 1e-9  # closed form vs a dense numeric computation (eigh, inverse)
FD_RTOL = 1e-6  # central finite differences, step ~1e-5 relative
FD_STEP = 1e-5

# Distinct, well separated, no zeros: the spectrum of the `spectrum_cov` fixture.
SPECTRUM = np.array([6.0, 4.5, 3.0, 2.2, 1.1, 0.4])
SPECTRUM.setflags(write=False)


def random_orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    return Q * np.sign(np.diag(R))


def cov_from_eigenvalues(eigenvalues, rng: np.random.Generator) -> np.ndarray:
    lam = np.asarray(eigenvalues, dtype=float)
    U = random_orthogonal(rng, lam.size)
    S = (U * lam) @ U.T
    return (S + S.T) / 2


def random_vae_problem(seed: int, d: int = 5, q: int = 3):
    """Covariance (eigenvalues uniform on [0.1, 5]), linear-VAE parameters and sigma2 from
    `seed`."""
    from ppca_stability import LinearVAEParams

    rng = np.random.default_rng(seed)
    S = cov_from_eigenvalues(np.sort(rng.uniform(0.1, 5.0, d))[::-1], rng)
    params = LinearVAEParams(
        rng.standard_normal((q, d)) * 0.5, rng.standard_normal(q) * 0.3, rng.standard_normal((d, q))
    )
    return S, params, float(rng.uniform(0.3, 2.0))


def digits_data() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().data.astype(np.float64)


def mnist_dir() -> Path | None:
    """The shared MNIST-test directory: ``<repo>/../shared/data/mnist`` (CI clones the repository
    next to ``shared/``), else the directory in ``$PPCA_STABILITY_MNIST``; None when neither has the
    files."""
    candidates = [Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"]
    if os.environ.get("PPCA_STABILITY_MNIST"):
        candidates.append(Path(os.environ["PPCA_STABILITY_MNIST"]))
    for d in candidates:
        if (d / "t10k-images-idx3-ubyte.gz").is_file():
            return d.resolve()
    return None


MNIST_MISSING = "MNIST-test not found at <repo>/../shared/data/mnist (nor $PPCA_STABILITY_MNIST)"


def naive_log_likelihood(W: np.ndarray, S: np.ndarray, s: float) -> float:
    """Oracle: forms C and its inverse explicitly (what the library must never do)."""
    d = S.shape[0]
    C = W @ W.T + s * np.eye(d)
    return -0.5 * (
        d * np.log(2 * np.pi) + np.linalg.slogdet(C)[1] + np.trace(np.linalg.solve(C, S))
    )


def naive_gradient(W: np.ndarray, S: np.ndarray, s: float) -> tuple[np.ndarray, float]:
    d = S.shape[0]
    Ci = np.linalg.inv(W @ W.T + s * np.eye(d))
    return Ci @ S @ Ci @ W - Ci @ W, 0.5 * np.trace(Ci @ S @ Ci - Ci)


def fd_gradient(f, x: np.ndarray, step: float = FD_STEP) -> np.ndarray:
    """Central differences of a scalar or vector function along every coordinate of x."""
    x = np.asarray(x, dtype=float)
    cols = []
    for i in range(x.size):
        h = step * max(1.0, abs(x.flat[i]))
        e = np.zeros_like(x)
        e.flat[i] = h
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    return np.array(cols).T


def rel_err(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(float).tiny))


def off_by_one_percent(closed_form_spectrum):
    """A deliberately broken `closed_form_spectrum`: every eigenvalue 1 % too large (for checking
    that `verify` catches a wrong closed form)."""
    from ppca_stability._ppca.inertia import HessianSpectrum

    def broken(*args, **kwargs):
        h = closed_form_spectrum(*args, **kwargs)
        return HessianSpectrum(h.values * 1.01, h.multiplicity, h.signs, h.symmetry_dim)

    return broken
