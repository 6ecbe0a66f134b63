"""``ppca-stability vae``: train a linear VAE and check it against the analytic pPCA optimum."""

from __future__ import annotations

import argparse

from .._agreement import compare_with_ppca
from .._elbo_landscape import classify_vae_point
from .._linear_vae import fit_linear_vae
from .._spectrum import covariance
from ._io import (
    add_data_arguments,
    add_force_argument,
    check_figure_path,
    load_covariance,
    load_matrix,
    parse_sigma2,
    save_figure,
)


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
        "--out",
        metavar="FIG",
        default=None,
        help="save the training curves to this figure (.png, .svg or .pdf)",
    )
    add_force_argument(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # The figure path is checked before training, not after.
    out = None if args.out is None else check_figure_path(args.out, force=args.force)
    if args.objective == "stochastic" and not args.cov:
        # Minibatches need the samples: the trainer reads them (a .npy stays memory-mapped).
        data, cov = load_matrix(args.data), None
    else:
        # The analytic ELBO needs only the covariance: streamed from DATA, computed once.
        data, cov = None, load_covariance(args.data, is_cov=args.cov)
    fit = fit_linear_vae(
        data,
        cov=cov,
        latent_dim=args.latent_dim,
        sigma2=parse_sigma2(args.sigma2),
        objective=args.objective,
        max_steps=args.max_steps,
        rng=args.seed,
    )
    agreement = compare_with_ppca(fit, cov if cov is not None else covariance(data))
    print(repr(fit))
    print()
    print(repr(agreement))
    print()
    print(repr(classify_vae_point(fit.params, cov, fit.sigma2, sigma2_learned=fit.sigma2_learned)))
    if out is not None:
        path = save_figure(fit.plot(), out)
        print(f"\ntraining curves written to {path}")
    return 0 if agreement.passed else 1
