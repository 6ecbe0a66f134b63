"""phase_diagram speed targets (issue 4); reported, not asserted.

1. digits (d = 64), latent_dim 64, a 400-point grid, census and stability counts included: < 2 s.
   The census module keeps no cache, so every call is cold.
2. d = 2000, a 1000-point grid, no census: at most 1.5x one numpy.linalg.eigh(cov) in the same run.

Run: python benchmarks/bench_phase.py [--d 2000] [--grid 1000]
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import best_time, peak_memory_mib, random_covariance, table

from ppca_stability import covariance, phase_diagram


def digits_row() -> dict:
    from sklearn.datasets import load_digits

    S = covariance(load_digits().data)
    grid = np.geomspace(1e-4, 2e3, 400)

    def ours() -> None:
        pd = phase_diagram(S, latent_dim=64, sigma2=grid)
        pd.census
        pd.stability_counts

    t = best_time(ours, repeat=3)
    return {
        "case": "digits d=64, q=64, 400 values, census (cold)",
        "ours [s]": f"{t:.3f}",
        "reference": "goal 2 s",
        "reference [s]": "2",
        "ratio": f"{t / 2.0:.3f}",
        "goal": "< 2 s",
        "met": "yes" if t < 2.0 else "NO",
        "peak MiB": f"{peak_memory_mib(ours):.0f}",
    }


def large_rows(d: int, n_grid: int) -> list[dict]:
    S = random_covariance(d, np.random.default_rng(0))
    grid = np.geomspace(1e-5, 10.0, n_grid)
    t_ref = best_time(lambda: np.linalg.eigh(S), repeat=3)
    rows = []
    for q in (None, 10):
        t = best_time(lambda: phase_diagram(S, latent_dim=q, sigma2=grid), repeat=3)
        rows.append(
            {
                "case": f"d={d}, q={q or d}, {n_grid} values, no census",
                "ours [s]": f"{t:.3f}",
                "reference [s]": f"{t_ref:.3f} (eigh)",
                "ratio": f"{t / t_ref:.2f}",
                "goal": "<= 1.5x",
                "met": "yes" if t <= 1.5 * t_ref else "NO",
                "peak MiB": f"{peak_memory_mib(lambda: phase_diagram(S, latent_dim=q, sigma2=grid)):.0f}",  # noqa: E501
            }
        )
    return rows


def run(d: int = 2000, n_grid: int = 1000) -> list[dict]:
    """All rows: the digits grid with census, then the large grids without."""
    return [digits_row(), *large_rows(d, n_grid)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--d", type=int, default=2000)
    parser.add_argument("--grid", type=int, default=1000)
    args = parser.parse_args()
    rows = run(args.d, args.grid)
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
