"""Benchmark: the I(x; z) estimate of collapse_diagnostics - time and peak memory over a family of
encoders, against the plain blocked evaluation from differences.

Problem: He et al. (2019)'s estimator over n encoder outputs (n, q): an n x n mixture of Gaussian
log-densities and a log-sum-exp per row. Ours forms the log-densities by matrix products in blocks
of rows and recomputes from differences only the entries whose rounding bound is too loose (see
ppca_stability/_vae/mutual_information.py); the reference evaluates every entry from differences,
in blocks of the same memory. Encoders: "spread" (means ~ N(0, 1), log-variances ~ -1 +- 0.5, the
ordinary case), "prior" (every latent collapsed: mu = 0, log var = 0), "separated" (narrow
posteriors far from the origin: mu ~ 1e4 N(0, 1), var = 1e-12, where the expansion cancels and
the diagonal is recomputed) and "pile-up" (all means within 1e-3 of 1e6, var = 1e-6: every entry
matters and is recomputed, the worst case). Goal: n = 10 000 within 100 MiB, and ours no slower
than the reference (ratio <= 1).

Run: ``python benchmarks/bench_mutual_information.py``.
"""

from __future__ import annotations

import math

import numpy as np
from _timing import best_time, best_times_interleaved, peak_memory_mib, table
from scipy.special import logsumexp

from ppca_stability._vae import mutual_information as mi

PEAK_GOAL_MIB = 100.0


def _encoder(kind: str, n: int, q: int, rng: np.random.Generator):
    if kind == "spread":
        return rng.standard_normal((n, q)), -1.0 + 0.5 * rng.standard_normal((n, q))
    if kind == "prior":
        return np.zeros((n, q)), np.zeros((n, q))
    if kind == "separated":
        return 1e4 * rng.standard_normal((n, q)), np.full((n, q), math.log(1e-12))
    return 1e6 + 1e-3 * rng.standard_normal((n, q)), np.full((n, q), math.log(1e-6))


def _reference(mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """log (1/n) sum_j q(z_i | x_j) from differences, blocks of the same number of entries."""
    n, q = mu.shape
    sig, rinv = np.exp(0.5 * logvar), np.exp(-0.5 * logvar)
    const = -0.5 * (q * mi.LOG_2PI + logvar.sum(axis=1)) - math.log(n)
    rows = max(1, mi.BLOCK_ELEMENTS // (n * q))
    out = np.empty(n)
    for s in range(0, n, rows):
        t = ((mu[s : s + rows, None] - mu[None]) + (sig * eps)[s : s + rows, None]) * rinv[None]
        out[s : s + rows] = logsumexp(const - 0.5 * np.einsum("ijk,ijk->ij", t, t), axis=1)
    return out


def run(
    sizes: tuple[int, ...] = (2000, 10_000), q: int = 10, reference_up_to: int = 2000
) -> list[dict]:
    rows = []
    for n in sizes:
        for kind in ("spread", "prior", "separated", "pile-up"):
            mu, logvar = _encoder(kind, n, q, np.random.default_rng(0))
            eps = np.random.default_rng(1).standard_normal((n, q))
            peak = peak_memory_mib(lambda: mi.log_mixture_density(mu, logvar, eps))
            row = {"case": f"{kind}, n = {n}, q = {q}"}
            if n <= reference_up_to:
                ours, ref = best_times_interleaved(
                    lambda: mi.log_mixture_density(mu, logvar, eps),
                    lambda: _reference(mu, logvar, eps),
                    repeat=2,
                )
                row["ours s"] = f"{ours:.2f}"
                err = np.max(
                    np.abs(mi.log_mixture_density(mu, logvar, eps) - _reference(mu, logvar, eps))
                )
                row |= {
                    "reference s": f"{ref:.2f}",
                    "ratio": f"{ours / ref:.2f}",
                    "max |diff|": f"{err:.1e}",
                }
            else:
                ours = best_time(lambda: mi.log_mixture_density(mu, logvar, eps), repeat=1)
                row["ours s"] = f"{ours:.2f}"
            row |= {"peak MiB": f"{peak:.0f}", "goal": f"<= 1, peak <= {PEAK_GOAL_MIB:g} MiB"}
            row["met"] = (
                "yes" if peak <= PEAK_GOAL_MIB and float(row.get("ratio", 0)) <= 1 else "NO"
            )
            rows.append(row)
    return rows


if __name__ == "__main__":
    rows = run()
    print(table(rows, ["case", "ours s", "reference s", "ratio", "max |diff|", "peak MiB", "met"]))
