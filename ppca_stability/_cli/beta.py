"""``ppca-stability beta``: the sigma^2 your beta-VAE or MSE loss implies, and what collapses."""

from __future__ import annotations

import argparse

from .._beta import RECONSTRUCTIONS, predict_collapse, sigma2_from_beta
from ._io import CliError, add_data_arguments, load_covariance


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "beta",
        help="convert a beta-VAE weight to the Gaussian-VAE sigma^2 and predict collapse",
        description="A loss Rec + beta*KL is a Gaussian VAE with noise variance sigma^2 = beta/2 "
        "(sse), beta (half_sse) or beta*d/2 (mse). With DATA, list which latents a linear VAE "
        "collapses.",
    )
    add_data_arguments(p, optional=True)
    p.add_argument("--beta", type=float, required=True, help="weight of the KL term")
    p.add_argument(
        "--reconstruction",
        choices=RECONSTRUCTIONS,
        default="mse",
        help="how the reconstruction term is written (default: mse, the per-coordinate mean)",
    )
    p.add_argument(
        "--n-features", type=int, default=None, help="data dimension d (taken from DATA if given)"
    )
    p.add_argument(
        "--latent-dim", type=int, default=None, help="latent dimension (default: min(d, 10))"
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    cov = load_covariance(args.data, is_cov=args.cov) if args.data else None
    d = cov.shape[0] if cov is not None else args.n_features
    if cov is not None and args.n_features not in (None, d):
        raise CliError(f"--n-features {args.n_features} contradicts DATA, which has {d} features.")
    s = sigma2_from_beta(args.beta, reconstruction=args.reconstruction, n_features=d)
    print(
        f"beta = {args.beta:g} with {args.reconstruction} reconstruction"
        + (f" (d = {d})" if d else "")
        + f"  ==>  Gaussian-VAE sigma^2 = {s:g}"
    )
    for rec in RECONSTRUCTIONS:
        if rec != "mse" or d:
            print(
                f"  same sigma^2 under {rec:>8}: beta = "
                f"{s / sigma2_from_beta(1.0, reconstruction=rec, n_features=d):g}"
            )
    if cov is None:
        print("Give DATA to see which latent directions collapse (those with variance <= sigma^2).")
        return 0
    q = args.latent_dim if args.latent_dim is not None else min(d, 10)
    print()
    print(
        repr(
            predict_collapse(cov, latent_dim=q, beta=args.beta, reconstruction=args.reconstruction)
        )
    )
    return 0
