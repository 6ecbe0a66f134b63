"""``ppca-stability vae``: train a linear VAE and check it against the analytic pPCA optimum."""

from __future__ import annotations

import argparse
import sys

from .. import classify_vae_point, compare_with_ppca, fit_linear_vae
from ._io import (
    CliError,
    add_data_arguments,
    add_force_argument,
    check_figure_path,
    load_covariance,
    load_data,
    parse_sigma2,
    positive_float,
    positive_int,
    save_figure,
)

# Flags that only the stochastic objective uses (the analytic one runs L-BFGS on all the data).
STOCHASTIC_ONLY = (("lr", "--lr"), ("batch_size", "--batch-size"))


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
        "--max-steps",
        type=positive_int,
        default=None,
        help="step budget (default: the trainer's, 5000 analytic, 80000 stochastic)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="stochastic objective: initial Adam learning rate (default 0.1, decaying to 1e-4 of "
        "it over the steps)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="stochastic objective: samples per minibatch (default 128), at most the number of "
        "samples",
    )
    p.add_argument(
        "--classify",
        choices=("auto", "yes", "no"),
        default="auto",
        help="classify the trained point by its Hessian: 'auto' (default) when the size keeps it "
        "to seconds, 'yes' always, 'no' never",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--out",
        metavar="FIG",
        default=None,
        help="save the training curves to this figure (.png, .svg or .pdf)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (also off when stderr is not a terminal)",
    )
    add_force_argument(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    stochastic = args.objective == "stochastic"
    for name, flag in STOCHASTIC_ONLY:
        if getattr(args, name) is not None and not stochastic:
            raise CliError(
                f"{flag}: used only with --objective stochastic (the analytic objective runs "
                "L-BFGS with a line search on all the data)."
            )
    if stochastic and args.cov:
        raise CliError(
            "--objective stochastic trains on minibatches of samples: DATA must be a data "
            "matrix, not a covariance (--cov)."
        )
    # The figure path is checked before training, not after.
    out = None if args.out is None else check_figure_path(args.out, force=args.force)
    if stochastic:
        # Minibatches need the samples: a .npy stays memory-mapped; the trainer reads its mean and
        # covariance in one streamed pass and then only the rows of each minibatch.
        data, cov = load_data(args.data), None
        if args.batch_size is not None and args.batch_size > data.shape[0]:
            raise CliError(
                f"--batch-size: must be at most the number of samples in DATA ({data.shape[0]}); "
                f"got {args.batch_size}."
            )
    else:
        # The analytic ELBO needs only the covariance: streamed from DATA, computed once.
        data, cov = None, load_covariance(args.data, is_cov=args.cov)
    fit = fit_linear_vae(
        data,
        cov=cov,
        latent_dim=args.latent_dim,
        sigma2=parse_sigma2(args.sigma2),
        objective=args.objective,
        lr=args.lr,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        rng=args.seed,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    classify: bool | str = "auto" if args.classify == "auto" else args.classify == "yes"
    agreement = compare_with_ppca(fit, classify=classify)
    print(repr(fit))
    print()
    print(repr(agreement))
    print()
    # The ELBO's own classification (all of V, log D, W): exact counts by its structured route
    # (d = 784, q = 32: 0.4 s), run whenever the likelihood's was (the same budget for "auto").
    if agreement.classification is not None:
        if stochastic:
            print(
                "The ELBO's own Hessian at the trained point (a fit on minibatches stops near, "
                "not at, a stationary point):"
            )
        print(
            repr(
                classify_vae_point(
                    fit.params, fit.cov, fit.sigma2, sigma2_learned=fit.sigma2_learned
                )
            )
        )
    else:
        why = "--classify no" if args.classify == "no" else agreement.classification_note
        print(f"ELBO Hessian classification skipped ({why.split(';')[0]}; --classify yes runs it)")
    if stochastic and not agreement.passed and args.max_steps is not None:
        print(
            f"\nnote: the schedule ran {fit.n_iter} steps (--max-steps); the agreement check is "
            "for a stochastic fit at the end of a long schedule (the default is 80000 steps)"
        )
    if out is not None:
        path = save_figure(fit.plot(), out)
        print(f"\ntraining curves written to {path}")
    return 0 if agreement.passed else 1
