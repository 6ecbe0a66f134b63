"""``ppca-stability beta``: the sigma^2 your beta-VAE or MSE loss implies, and what collapses;
with ``--keep K``, the beta that keeps exactly K latents."""

from __future__ import annotations

import argparse

from .. import (
    KL_REDUCTIONS,
    RECONSTRUCTIONS,
    beta_for_latents,
    predict_collapse,
    sigma2_from_beta,
)
from ._io import (
    CliError,
    add_data_arguments,
    load_covariance,
    nonnegative_int,
    positive_float,
    positive_int,
)

# Latents shown with DATA when --latent-dim is not given.
DEFAULT_LATENTS = 10


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "beta",
        help="convert a beta-VAE weight to the Gaussian-VAE sigma^2 and predict collapse",
        description="A loss Rec + beta*KL is a Gaussian VAE with noise variance sigma^2 = beta/2 "
        "(sse), beta (half_sse) or beta*d/2 (mse), divided by q when the KL is averaged over the "
        "q latents. With DATA, list which latents a linear VAE collapses; with DATA and --keep K, "
        "give the interval of beta that keeps exactly K latents.",
    )
    add_data_arguments(p, optional=True)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--beta", type=positive_float, help="weight of the KL term")
    what.add_argument(
        "--keep",
        type=nonnegative_int,
        metavar="K",
        help="the inverse question (needs DATA): which beta keeps exactly K latents live",
    )
    p.add_argument(
        "--reconstruction",
        choices=RECONSTRUCTIONS,
        default="mse",
        help="how the reconstruction term is written (default: mse, the per-coordinate mean)",
    )
    p.add_argument(
        "--kl-reduction",
        choices=KL_REDUCTIONS,
        default="sum",
        help="how the KL term is reduced over the latents: sum (default, the ELBO's KL) or mean "
        "(e.g. .mean() over a (batch, q) array: beta then weighs it beta/q; needs --latent-dim "
        "or DATA)",
    )
    p.add_argument(
        "--n-features",
        type=positive_int,
        default=None,
        help="data dimension d (taken from DATA if given)",
    )
    p.add_argument(
        "--latent-dim",
        type=positive_int,
        default=None,
        help=f"latent dimension q (default with DATA: min(d, {DEFAULT_LATENTS}))",
    )
    p.set_defaults(handler=run)


def _keep(args: argparse.Namespace) -> int:
    if args.data is None:
        raise CliError("--keep: needs DATA (the answer is set by the data's eigenvalues).")
    if args.kl_reduction == "mean" and args.latent_dim is None:
        raise CliError(
            "--latent-dim: required with --keep and --kl-reduction mean (the mean divides the KL "
            "by q)."
        )
    cov = load_covariance(args.data, is_cov=args.cov)
    d = cov.shape[0]
    if args.n_features not in (None, d):
        raise CliError(f"--n-features {args.n_features} contradicts DATA, which has {d} features.")
    conventions = {"kl_reduction": args.kl_reduction, "latent_dim": args.latent_dim}
    interval = beta_for_latents(cov, args.keep, reconstruction=args.reconstruction, **conventions)
    print(repr(interval))
    for rec in RECONSTRUCTIONS:
        # The same sigma^2 interval in each convention: beta scales with sigma^2.
        unit = sigma2_from_beta(1.0, reconstruction=rec, n_features=d, **conventions)
        low, high = interval.sigma2_low / unit, interval.sigma2_high / unit
        bracket = "[" if interval.low_closed else "("
        print(f"  same sigma^2 under {rec:>8}: beta in {bracket}{low:.5g}, {high:.5g})")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.keep is not None:
        return _keep(args)
    if args.data is None and args.reconstruction == "mse" and args.n_features is None:
        raise CliError(
            "--n-features: required with --reconstruction mse (the mean divides by d), unless "
            "DATA is given."
        )
    if args.data is None and args.kl_reduction == "mean" and args.latent_dim is None:
        raise CliError(
            "--latent-dim: required with --kl-reduction mean (the mean divides the KL by q), "
            "unless DATA is given."
        )
    cov = load_covariance(args.data, is_cov=args.cov) if args.data else None
    d = cov.shape[0] if cov is not None else args.n_features
    if cov is not None and args.n_features not in (None, d):
        raise CliError(f"--n-features {args.n_features} contradicts DATA, which has {d} features.")
    q = args.latent_dim if args.latent_dim is not None or d is None else min(d, DEFAULT_LATENTS)
    if d is not None and q is not None and q > d:  # checked before anything is printed
        raise CliError(f"--latent-dim must be at most the number of features ({d}); got {q}.")
    conventions = {"kl_reduction": args.kl_reduction, "latent_dim": q}
    s = sigma2_from_beta(args.beta, reconstruction=args.reconstruction, n_features=d, **conventions)
    mean = f", KL averaged over q = {q} latents" if args.kl_reduction == "mean" else ""
    print(
        f"beta = {args.beta:g} with {args.reconstruction} reconstruction{mean}"
        + (f" (d = {d})" if d else "")
        + f"  ==>  Gaussian-VAE sigma^2 = {s:g}"
    )
    for rec in RECONSTRUCTIONS:
        if rec != "mse" or d:
            unit = sigma2_from_beta(1.0, reconstruction=rec, n_features=d, **conventions)
            print(f"  same sigma^2 under {rec:>8}: beta = {s / unit:g}")
    if cov is None:
        print("Give DATA to see which latent directions collapse (those with variance <= sigma^2).")
        return 0
    print()
    print(
        repr(
            predict_collapse(
                cov,
                latent_dim=q,
                beta=args.beta,
                reconstruction=args.reconstruction,
                kl_reduction=args.kl_reduction,
            )
        )
    )
    return 0
