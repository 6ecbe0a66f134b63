"""Regenerate the deep-VAE page's figure and tables: python docs/deep_figures.py [--out DIR].

Trains the reference deep Gaussian VAE (ppca_stability.deep, needs the ``deep`` extra) on
scikit-learn's digits at 12 sigma^2 values from lambda_10 / 4 to 4 lambda_1, 3 seeds each, and
writes
``deep_digits.png`` and ``deep_digits.json`` (every measured number) into DIR (default docs/images),
with a control: the same training with identity activations (a linear VAE), one seed per sigma^2.
Prints the Markdown tables shown in docs/deep_vae.md; `tables()` rebuilds them from the JSON, which
the tests use to check that the page shows what was measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # loaded by path (the tests): its sibling docs/_thresholds.py
    sys.path.insert(0, str(HERE))

from _thresholds import thresholds_record, thresholds_table  # noqa: E402

GRID_POINTS = 12
SEEDS = 3
LATENT_DIM = 10


def run(out: Path) -> dict:
    from sklearn.datasets import load_digits

    from ppca_stability import covariance, spectrum
    from ppca_stability.deep import deep_collapse_sweep

    X = load_digits().data.astype(np.float64)
    lam = spectrum(covariance(X)).eigenvalues
    grid = np.geomspace(lam[LATENT_DIM - 1] / 4, 4 * lam[0], GRID_POINTS)
    start = time.perf_counter()
    sweep = deep_collapse_sweep(X, LATENT_DIM, grid, n_seeds=SEEDS, rng=0, progress=True)
    seconds = time.perf_counter() - start
    fig = sweep.plot()
    fig.savefig(out / "deep_digits.png", dpi=110)
    record = {
        "sigma2": sweep.sigma2.tolist(),
        "seeds": list(sweep.seeds),
        "eigenvalues": sweep.eigenvalues.tolist(),
        "activation": sweep.activation,
        "hidden": list(sweep.hidden),
        "epochs": sweep.epochs,
        "active_units": sweep.active_units.tolist(),
        "n_collapsed": sweep.n_collapsed.tolist(),
        "total_kl": sweep.kl_by_rank.sum(axis=2).tolist(),
        "elbo": sweep.elbo.tolist(),
        "predicted_active_units": sweep.predicted_active_units.tolist(),
        "predicted_total_kl": sweep.predicted_kl.sum(axis=1).tolist(),
        "thresholds": thresholds_record(sweep.thresholds()),
        "seconds_per_sigma2": seconds / grid.size,
    }
    return control(out, record)


def control(out: Path, record: dict) -> dict:
    """The same training with identity activations (a linear VAE) on the same grid, one seed:
    separates
    what depth changes from what the optimiser leaves undone near each threshold."""
    from sklearn.datasets import load_digits

    from ppca_stability.deep import deep_collapse_sweep

    X = load_digits().data.astype(np.float64)
    lin = deep_collapse_sweep(
        X, LATENT_DIM, record["sigma2"], n_seeds=1, activation="identity", rng=0, progress=True
    )
    record["identity_active_units"] = lin.active_units[:, 0].tolist()
    record["identity_total_kl"] = lin.kl_by_rank.sum(axis=2)[:, 0].tolist()
    (out / "deep_digits.json").write_text(json.dumps(record, indent=1, allow_nan=True) + "\n")
    return record


def tables(record: dict) -> str:
    """The two Markdown tables of docs/deep_vae.md, from the saved record."""
    au = np.array(record["active_units"])
    kl = np.array(record["total_kl"])
    rows = [
        "| σ² | σ² / λ₁ | active units: linear | deep: mean | deep: min–max | identity MLP | "
        "total KL: linear | deep: mean ± std | identity MLP |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lam1 = record["eigenvalues"][0]
    for g, s in enumerate(record["sigma2"]):
        rows.append(
            f"| {s:.4g} | {s / lam1:.3g} | {record['predicted_active_units'][g]} | "
            f"{au[g].mean():.2f} | {au[g].min()}–{au[g].max()} | "
            f"{record['identity_active_units'][g]} | {record['predicted_total_kl'][g]:.3f} | "
            f"{kl[g].mean():.3f} ± {kl[g].std():.3f} | {record['identity_total_kl'][g]:.3f} |"
        )
    rows += thresholds_table(record["thresholds"])
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "images")
    parser.add_argument(
        "--control-only",
        action="store_true",
        help="rerun only the identity-activation control, into the existing record",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.control_only:
        rec = control(args.out, json.loads((args.out / "deep_digits.json").read_text()))
    else:
        rec = run(args.out)
    print(tables(rec))
    print(f"\n{rec['seconds_per_sigma2']:.1f} s per sigma2 value ({SEEDS} seeds)")
