"""``ppca-stability vae``: train a linear VAE and check it against the analytic pPCA optimum."""

from __future__ import annotations

import argparse

from .._agreement import compare_with_ppca
from .._elbo_landscape import classify_vae_point
from .._linear_vae import fit_linear_vae
from .._spectrum import covariance
from ._io import add_data_arguments, load_matrix, parse_sigma2, write_atomic


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "vae",
        help="train a linear VAE and compare it with the pPCA optimum",
        description="Train a linear VAE by gradient ascent on its ELBO (closed form, or stochastic "
        "on minibatches) and print how closely it matches the analytic pPCA maximum likelihood; "
        "the exit code is 1 when the agreement check fails.",
    )
    add_data_arguments(p, cov_note=" (analytic objective only)")
    p.add_argument("--latent-dim", type=int, required=True, help="latent dimension q")
    p.add_argument(
        "--sigma2", default="learned", help='decoder noise variance, or "learned" (default)'
    )
    p.add_argument(
        "--objective",
        choices=("analytic", "stochastic"),
        default="analytic",
        help="closed-form ELBO (default) or Monte-Carlo ELBO on minibatches of DATA",
    )
    p.add_argument(
        "--max-steps", type=int, default=None, help="step budget (default: the trainer's)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--out", metavar="FIG.png", default=None, help="save the training curves to this image"
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    matrix = load_matrix(args.data)
    cov = matrix if args.cov else covariance(matrix)
    fit = fit_linear_vae(
        None if args.cov else matrix,
        cov=cov if args.cov else None,
        latent_dim=args.latent_dim,
        sigma2=parse_sigma2(args.sigma2),
        objective=args.objective,
        max_steps=args.max_steps,
        rng=args.seed,
    )
    agreement = compare_with_ppca(fit, cov)
    print(repr(fit))
    print()
    print(repr(agreement))
    print()
    print(repr(classify_vae_point(fit.params, cov, fit.sigma2, sigma2_learned=fit.sigma2_learned)))
    if args.out:
        fig = fit.plot()
        write_atomic(args.out, lambda tmp: fig.savefig(tmp, dpi=120))
        print(f"\ntraining curves written to {args.out}")
    return 0 if agreement.passed else 1
