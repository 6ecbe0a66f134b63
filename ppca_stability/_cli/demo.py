"""``ppca-stability demo``: the main job, on scikit-learn's bundled handwritten digits (no
download)."""

from __future__ import annotations

import argparse
import os
from decimal import Decimal
from pathlib import Path

import numpy as np

from .. import MAX_PLOTTED_POINTS, Stability, covariance, phase_diagram, stability_map
from .._base.optional import require
from ._io import CliError, add_force_argument, check_figure_path, save_figure

DEFAULT_OUT = "ppca_stability_demo"
DEFAULT_LATENT_DIM = 10
# The noise variances the table reports, besides 1 (the value many VAE implementations fix):
# sigma2_ML and these multiples of it.
SIGMA2_MULTIPLES = (2.0, 5.0, 10.0, 30.0)
# Without a sigma2_ML (K >= rank), rows where this fraction of the K latents stays live instead
# (sigma2 halfway, geometrically, between two consecutive eigenvalues).
LIVE_FRACTIONS = (0.75, 0.5, 0.25, 0.125, 0.0625)
# The figure's sigma2 axis starts here (below it every latent is live) and ends at 10 lam_max.
FIGURE_SIGMA2_MIN = 0.1
FIGURE_GRID_POINTS = 300
EIGENVALUES_PER_ROW = 10
# The figures written into --out.
FIGURES = ("phase_digits.png", "stability_map_digits.png")

VAE_DEFAULT_NOTE = (
    "  1 (VAE default): sigma2 = 1 is a Gaussian decoder of unit variance, i.e. the loss\n"
    "  1/2 |x - f(z)|^2 + KL that many VAE implementations use (see docs/sigma2.md for others)."
)
COLLAPSE_NOTE = (
    "A collapsed latent: at the optimum of a linear VAE (= probabilistic PCA) with decoder noise\n"
    "variance sigma2, latent c is used only if its eigenvalue lambda_c exceeds sigma2. Otherwise "
    "its\ndecoder column is zero and its posterior equals the prior (KL = 0): it carries no "
    "information."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job: posterior collapse and the landscape on real data (digits, offline)",
        description="Run on scikit-learn's bundled handwritten digits (1797 images, 64 pixels): "
        "print the spectrum, the learned noise variance, which latents collapse at several sigma^2 "
        "and how many stationary points (and saddles) the likelihood has, and write the "
        "phase-diagram figures.",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=DEFAULT_OUT,
        help=f"directory for the figures (default: ./{DEFAULT_OUT}, created if missing)",
    )
    p.add_argument(
        "--latent-dim",
        type=int,
        default=DEFAULT_LATENT_DIM,
        help=f"latent dimension K of the linear VAE (default {DEFAULT_LATENT_DIM})",
    )
    add_force_argument(p)
    p.set_defaults(handler=run)


def _count(n: int) -> str:
    return f"{n:,}" if n < 10**12 else f"{Decimal(n):.3g}"


def _latents(first: int, last: int) -> str:
    """1-based latent range text for 0-based ``first..last - 1``."""
    if first >= last:
        return "none"
    return f"{first + 1}" if last - first == 1 else f"{first + 1}-{last}"


def _check_output_dir(path: str) -> Path:
    """The figure directory, checked before any work: an existing directory, or one that can be
    created in the nearest existing ancestor (created only when the figures are written)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out: {out} exists and is not a directory.")
    ancestor = out
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise CliError(f"--out: cannot write into {ancestor}.")
    return out


def _output_dir(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"--out: cannot create directory {out}: {exc.strerror or exc}") from exc
    return out


def run(args: argparse.Namespace) -> int:
    datasets = require("sklearn.datasets", "demo", "The demo (scikit-learn's bundled digits)")
    require("matplotlib", "demo", "The demo's figures")

    out = _check_output_dir(args.out)
    X = datasets.load_digits().data
    cov = covariance(X)
    # Before anything is printed or created: checks --latent-dim.
    pd = phase_diagram(cov, latent_dim=args.latent_dim)
    if out.is_dir():
        for name in FIGURES:
            check_figure_path(str(out / name), force=args.force)
    q, lam, s_ml = pd.latent_dim, pd.eigenvalues, pd.sigma2_learned

    print(
        f"ppca-stability demo: linear VAE / probabilistic PCA on handwritten digits "
        f"({X.shape[0]} images x {X.shape[1]} pixels, grey levels 0-16)\n"
    )
    print("Spectrum of the data covariance (variance along each principal direction):")
    for start in range(0, lam.size, EIGENVALUES_PER_ROW):
        row = lam[start : start + EIGENVALUES_PER_ROW]
        print(f"  {start + 1:>2}-{start + row.size:<2}  " + " ".join(f"{v:7.3g}" for v in row))
    print(f"  {pd.breakpoints.size} of {lam.size} eigenvalues are non-zero.\n")
    print(COLLAPSE_NOTE + "\n")

    if s_ml is None:
        probes = [1.0] + _between_eigenvalues(lam, q)
        print(
            f"latent_dim K = {q}: no learned sigma2 (K >= rank {pd.breakpoints.size}: the "
            "likelihood is unbounded as sigma2 -> 0),\nso there is no sigma2_ML to scale: the rows "
            "are sigma2 = 1 and values between consecutive\neigenvalues, where fewer and fewer "
            "latents stay live."
        )
    else:
        print(
            f"latent_dim K = {q}: learned noise variance sigma2_ML = {s_ml:.4g} "
            f"(mean of the {lam.size - q} discarded eigenvalues)."
        )
        probes = [1.0, s_ml] + [f * s_ml for f in SIGMA2_MULTIPLES]
    at = phase_diagram(cov, latent_dim=q, sigma2=np.unique(probes))
    print(
        f"\n  {'sigma2':>16}  {'live':>4}  {'collapsed latents':>17}  {'total KL (nats)':>15}  "
        f"{'stationary points':>17}  {'saddles':>17}"
    )
    for g, s in enumerate(at.sigma2):
        name = "1 (VAE default)" if s == 1.0 else f"{s:.4g} (= ML)" if s == s_ml else f"{s:.4g}"
        k = int(at.n_active[g])
        saddles = at.stability_counts[g].get(Stability.SADDLE, 0)
        print(
            f"  {name:>16}  {k:>4}  {_latents(k, q):>17}  {at.kl_per_latent[g].sum():>15.3f}  "
            f"{_count(at.n_points[g]):>17}  {_count(saddles):>17}"
        )
    print(VAE_DEFAULT_NOTE)
    print(
        "  Every stationary point except the global maximum is a saddle (no spurious local maxima),"
    )
    print(
        "  so collapse is not gradient descent getting stuck: it is the optimum once sigma2 >= "
        "lambda_c."
    )

    lo = FIGURE_SIGMA2_MIN
    grid = np.union1d(
        np.geomspace(lo, 10.0 * lam[0], FIGURE_GRID_POINTS), pd.breakpoints[pd.breakpoints >= lo]
    )
    _output_dir(out)
    written = [save_figure(phase_diagram(cov, latent_dim=q, sigma2=grid).plot(), out / FIGURES[0])]
    # The map at the table's sigma2_ML (or, without one, at sigma2 = 1), with the same K.
    s_map, s_name = (s_ml, "sigma2_ML") if s_ml is not None else (1.0, "sigma2 = 1")
    smap = stability_map(cov, s_map, latent_dim=q)
    written.append(save_figure(smap.plot(), out / FIGURES[1]))
    print(
        f"\nStability map at {s_name}, K = {q}: {_count(smap.n_points)} stationary points, ", end=""
    )
    if smap.n_points > MAX_PLOTTED_POINTS:
        print(
            f"too many to draw one by one\n(at most {MAX_PLOTTED_POINTS:,}): the figure is a "
            "summary: the number of points of every Morse index,\nthe global maximum and a "
            "random sample of the points."
        )
    else:
        print("every one drawn.")
    print("\nFigures:")
    for path in written:
        print(f"  {path}")
    return 0


def _between_eigenvalues(lam: np.ndarray, q: int) -> list[float]:
    """sigma2 values where ``LIVE_FRACTIONS`` of the ``q`` latents stay live: the geometric mean
    of eigenvalues ``c`` and ``c + 1`` (1-based) for ``c = fraction * q``, positive ones only."""
    positive = int(np.count_nonzero(lam > 0))
    live = sorted({max(1, round(f * q)) for f in LIVE_FRACTIONS}, reverse=True)
    return [float(np.sqrt(lam[c - 1] * lam[c])) for c in live if c < positive]
