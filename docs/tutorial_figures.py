"""Regenerate the tutorial's figures (docs/images/tutorial_*.png) from the public API.

Run from anywhere: ``python docs/tutorial_figures.py`` (or ``--out DIR``). Every figure is the
``.plot()`` of the object the tutorial computes, with the same arguments as its examples.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from sklearn.datasets import load_digits  # noqa: E402

from ppca_stability import covariance, fit_linear_vae, phase_diagram, stability_map  # noqa: E402

# The tutorial's settings: digits, 10 latents, a fixed sigma^2 between lam_5 = 69.5 and lam_4 = 101.
LATENT_DIM = 10
SIGMA2 = 80.0
STOCHASTIC_STEPS = 10_000
DPI = 110


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "images",
        help="directory for the figures (default: docs/images)",
    )
    out = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)

    X = load_digits().data.astype(float)
    S = covariance(X)
    figures = {
        "tutorial_stability_map.png": stability_map(S, SIGMA2, latent_dim=LATENT_DIM).plot(),
        "tutorial_phase.png": phase_diagram(S, latent_dim=LATENT_DIM).plot(),
        "tutorial_training.png": fit_linear_vae(
            X,
            latent_dim=LATENT_DIM,
            sigma2=SIGMA2,
            objective="stochastic",
            max_steps=STOCHASTIC_STEPS,
            rng=0,
        ).plot(),
    }
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=DPI)
        print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
