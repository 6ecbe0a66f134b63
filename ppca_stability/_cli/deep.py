"""``ppca-stability deep``: train the reference deep Gaussian VAE over a sigma^2 grid and measure
its collapse."""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from typing import Any

from ._io import (
    CliError,
    add_force_argument,
    check_figure_path,
    dump_json,
    load_data,
    positive_float,
    positive_int,
    save_figure,
    seed,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "deep",
        help="deep Gaussian VAE over a sigma^2 grid: measured collapse vs the linear theory (needs "
        "torch)",
        description="Train an MLP Gaussian VAE (PyTorch, the 'deep' extra) on DATA at every "
        "sigma^2 of a grid, with several seeds, and print the measured active units and KL beside "
        "the linear VAE's prediction, and the sigma^2 at which each unit becomes inactive.",
    )
    p.add_argument("data", metavar="DATA", help=".npy or .csv data matrix (rows are samples)")
    p.add_argument("--latent-dim", type=positive_int, required=True, help="latent dimension q")
    p.add_argument(
        "--sigma2",
        default=None,
        help="comma-separated grid of decoder noise variances (default: 8 log-spaced values "
        "from lambda_q/4 to 4 lambda_1)",
    )
    p.add_argument(
        "--seeds", type=positive_int, default=3, help="fits per sigma^2 value (default 3)"
    )
    p.add_argument(
        "--seed", type=seed, default=0, help="random seed that draws the fits' seeds (default 0)"
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="training epochs per fit (default: the library's)",
    )
    p.add_argument(
        "--hidden", default=None, help="comma-separated hidden widths (default: the library's)"
    )
    p.add_argument("--activation", default=None, help="tanh, relu or identity (default tanh)")
    p.add_argument(
        "--batch-size", type=positive_int, default=None, help="minibatch size (default 256)"
    )
    p.add_argument(
        "--lr", type=positive_float, default=None, help="Adam learning rate (default 3e-3)"
    )
    p.add_argument(
        "--threads", type=positive_int, default=1, help="torch threads per fit (default 1)"
    )
    p.add_argument(
        "--out", metavar="FIG", default=None, help="write the figure to FIG (.png, .svg or .pdf)"
    )
    add_force_argument(p)
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (also off when stderr is not a terminal)",
    )
    p.set_defaults(handler=run)


def _floats(text: str, option: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"{option}: expected comma-separated numbers; got {text!r}.") from None


def _ints(text: str, option: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"{option}: expected comma-separated integers; got {text!r}.") from None


def _payload(sweep: Any, thresholds: Any) -> dict:
    return {
        "latent_dim": sweep.latent_dim,
        "sigma2": sweep.sigma2,
        "seeds": list(sweep.seeds),
        "eigenvalues": sweep.eigenvalues,
        "activation": sweep.activation,
        "hidden": list(sweep.hidden),
        "epochs": sweep.epochs,
        "active_units": sweep.active_units,
        "n_collapsed": sweep.n_collapsed,
        "kl_by_rank": sweep.kl_by_rank,
        "elbo": sweep.elbo,
        "predicted_active_units": sweep.predicted_active_units,
        "predicted_kl": sweep.predicted_kl,
        "thresholds": {
            "k": thresholds.k,
            "eigenvalue": thresholds.eigenvalue,
            "linear_on_grid": _nan_to_none(thresholds.linear_on_grid),
            "deep": _nan_to_none(thresholds.deep),
            "deep_min": _nan_to_none(thresholds.deep_min),
            "deep_max": _nan_to_none(thresholds.deep_max),
        },
    }


def _plan(
    shape: tuple[int, int],
    grid: list[float] | None,
    args: argparse.Namespace,
    options: dict[str, Any],
    sweep: Any,
    default_grid: Any,
) -> _Estimate:
    """Print the plan (fits, epochs, minibatches) on stderr before any training, and return the
    callback that prints the time estimate after the first epoch."""
    defaults = {
        name: p.default for name, p in inspect.signature(sweep).parameters.items()
    } | options
    n_grid = (
        len(grid) if grid is not None else inspect.signature(default_grid).parameters["n"].default
    )
    n, d = shape
    epochs = int(defaults["epochs"])
    n_fits = n_grid * args.seeds
    print(
        f"plan: {n_grid} sigma2 values x {args.seeds} seeds = {n_fits} fits of {epochs} epochs "
        f"({n_fits * epochs} epochs of {-(-n // int(defaults['batch_size']))} minibatches) on "
        f"{n} samples x {d} features",
        file=sys.stderr,
        flush=True,
    )
    return _Estimate(n_fits, epochs)


def _nan_to_none(values: Any) -> list:
    return [None if v != v else float(v) for v in values]


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class _Estimate:
    """Prints, on stderr, the time the sweep will take, measured on the first epoch of the first
    fit (`deep_collapse_sweep`'s callback): the other fits have the same size."""

    def __init__(self, n_fits: int, epochs: int) -> None:
        self.n_fits, self.epochs = n_fits, epochs
        self.start = 0.0

    def __call__(self, fit: int, epoch: int) -> None:
        if fit != 0 or epoch > 1:
            return
        if epoch == 0:
            self.start = time.perf_counter()
            return
        per_epoch = time.perf_counter() - self.start
        total = per_epoch * self.n_fits * self.epochs
        print(
            f"first epoch: {per_epoch:.2g} s, so about {_duration(total)} for all "
            f"{self.n_fits * self.epochs} epochs (an estimate from one epoch; the time per epoch "
            "grows with the samples and features and does not depend on sigma2)",
            file=sys.stderr,
            flush=True,
        )


def run(args: argparse.Namespace) -> int:
    out = None if args.out is None else check_figure_path(args.out, force=args.force)
    try:
        from ..deep import deep_collapse_sweep, default_sigma2_grid
    except ImportError as exc:
        raise CliError(str(exc)) from None
    options = {}
    if args.epochs is not None:
        options["epochs"] = args.epochs
    if args.hidden is not None:
        options["hidden"] = _ints(args.hidden, "--hidden")
    if args.activation is not None:
        options["activation"] = args.activation
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    if args.lr is not None:
        options["lr"] = args.lr
    data = load_data(args.data)
    grid = None if args.sigma2 is None else _floats(args.sigma2, "--sigma2")
    estimate = _plan(data.shape, grid, args, options, deep_collapse_sweep, default_sigma2_grid)
    sweep = deep_collapse_sweep(
        data,
        args.latent_dim,
        grid,
        n_seeds=args.seeds,
        threads=args.threads,
        rng=args.seed,
        progress=not args.no_progress and sys.stderr.isatty(),
        callback=estimate,
        **options,
    )
    thresholds = sweep.thresholds()
    if args.json:
        print(dump_json(_payload(sweep, thresholds)))
    else:
        print(repr(sweep))
        print()
        print(repr(thresholds))
    if out is not None:
        path = save_figure(sweep.plot(), out)
        if not args.json:
            print(f"\nfigure written to {path}")
    return 0
