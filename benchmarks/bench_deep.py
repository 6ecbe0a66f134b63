"""Benchmark: the deep-VAE collapse sweep on digits - time per sigma2 value, and deep vs linear
thresholds.

Problem: the acceptance sweep of ppca_stability.deep - scikit-learn's digits (d = 64), latent_dim
10, the default grid (8 log-spaced sigma2 from lambda_10 / 4 to 4 lambda_1), 3 seeds, default
network (tanh MLP, hidden 64, 300 epochs of Adam, batches of 256, float64, 1 torch thread per fit).
Reports wall and CPU seconds per sigma2 value (3 fits each; CPU time is the fairer number on a
shared machine) and `DeepCollapseSweep.thresholds()`: where the k-th active unit switches off,
for the deep VAE and for the linear prediction sampled on the same grid. torch is optional:
without it the benchmark says so and exits.

Run: ``python benchmarks/bench_deep.py [--seeds 3] [--points 8]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _timing import table

LATENT_DIM = 10


def run(seeds: int = 3, points: int = 8) -> list[dict]:
    from sklearn.datasets import load_digits

    from ppca_stability import covariance
    from ppca_stability.deep import deep_collapse_sweep, default_sigma2_grid

    X = load_digits().data.astype(np.float64)
    grid = default_sigma2_grid(covariance(X), LATENT_DIM, n=points)
    rows = []
    sweeps = []
    for s in grid:
        wall, cpu = time.perf_counter(), time.process_time()
        sweeps.append(deep_collapse_sweep(X, LATENT_DIM, [s], n_seeds=seeds, rng=0, progress=False))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        au = sweeps[-1].active_units[0]
        rows.append(
            {
                "case": f"sigma2 = {s:.4g}",
                "fits": seeds,
                "wall s": f"{wall:.1f}",
                "CPU s": f"{cpu:.1f}",
                "CPU s per fit": f"{cpu / seeds:.1f}",
                "active units (linear)": int(sweeps[-1].predicted_active_units[0]),
                "active units (deep, per seed)": ", ".join(map(str, au)),
            }
        )
    return rows, grid, sweeps


def thresholds_rows(grid: np.ndarray, sweeps: list) -> str:
    """Stitch the one-value sweeps into one table of active units and get the thresholds from it."""
    from dataclasses import replace

    whole = replace(
        sweeps[0],
        sigma2=grid,
        diagnostics=tuple(s.diagnostics[0] for s in sweeps),
        elbo=np.vstack([s.elbo for s in sweeps]),
    )
    return repr(whole) + "\n\n" + repr(whole.thresholds())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--points", type=int, default=8)
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SystemExit('skipped: needs the "deep" extra (torch)') from None
    rows, grid, sweeps = run(args.seeds, args.points)
    print(table(rows, list(rows[0])))
    print(thresholds_rows(grid, sweeps))
