"""``ppca-stability phase``: the landscape over a grid of sigma^2, as a table, JSON or a figure."""

from __future__ import annotations

import argparse

from .. import PhaseDiagram, phase_diagram, phase_grid
from ._io import (
    CliError,
    add_data_arguments,
    add_force_argument,
    check_figure_path,
    dump_json,
    load_covariance,
    positive_float,
    positive_int,
    save_figure,
    summarise,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "phase",
        help="phase diagram over sigma^2: collapsed latents, stationary points, optimum",
        description="How the pPCA landscape changes with the noise variance sigma^2: which latents "
        "are live at the optimum (the rest collapse), how many stationary points there are and of "
        "what stability, and the optimum's log-likelihood, on a log grid framed on the collapse "
        "region (lambda_q ... lambda_1 and the learned sigma2) containing every eigenvalue in it.",
    )
    add_data_arguments(p)
    p.add_argument(
        "--latent-dim", type=positive_int, default=None, help="latent dimension q (default: d)"
    )
    p.add_argument(
        "--sigma2-min",
        type=positive_float,
        default=None,
        metavar="S",
        help="lower end of the sigma2 grid (default: min(lambda_q, sigma2_ML) / 4, below every "
        "latent's switch-off and the learned sigma2)",
    )
    p.add_argument(
        "--sigma2-max",
        type=positive_float,
        default=None,
        metavar="S",
        help="upper end of the sigma2 grid (default: 4 lambda_1, beyond the last switch-off); "
        "either way the grid is 200 log-spaced values plus every eigenvalue in the range",
    )
    p.add_argument(
        "--out",
        metavar="FIG",
        default=None,
        help="write the figure to FIG (.png, .pdf, .svg, .jpg, ...: any format matplotlib writes)",
    )
    add_force_argument(p)
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument(
        "--census",
        action="store_true",
        help="with --json, add the census per sigma2 value: {morse_index: count}, exact integers "
        "(they can exceed 2**53; up to q (d - q) + 1 entries per value)",
    )
    p.set_defaults(handler=run)


def _payload(pd: PhaseDiagram, with_census: bool) -> dict:
    payload = {
        "n_features": pd.n_features,
        "latent_dim": pd.latent_dim,
        "eigenvalues": pd.eigenvalues,
        "breakpoints": pd.breakpoints,
        "sigma2_learned": pd.sigma2_learned,
        "sigma2": pd.sigma2,
        "n_above": pd.n_above,
        "n_active": pd.n_active,
        "max_log_likelihood": pd.max_log_likelihood,
        "kl_per_latent": pd.kl_per_latent,
        "n_points": list(pd.n_points),
        "stability_counts": [{k.value: v for k, v in c.items()} for c in pd.stability_counts],
    }
    if with_census:
        payload["census"] = [{str(index): count for index, count in c.items()} for c in pd.census]
    return payload


def _table(pd: PhaseDiagram) -> str:
    lines = repr(pd).splitlines()
    lines.insert(
        3,
        "  rows: one sigma2 inside each interval between eigenvalues where the answer changes, "
        "near sigma2_learned and at log-spaced ranks of the spectrum (every grid value: --json)",
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    out = None if args.out is None else check_figure_path(args.out, force=args.force)
    if args.census and not args.json:
        raise CliError("--census: only with --json (the table shows the counts by stability).")
    cov = load_covariance(args.data, is_cov=args.cov)
    grid = None
    if args.sigma2_min is not None or args.sigma2_max is not None:
        grid = phase_grid(
            cov, latent_dim=args.latent_dim, sigma2_min=args.sigma2_min, sigma2_max=args.sigma2_max
        )
    pd = phase_diagram(cov, latent_dim=args.latent_dim, sigma2=grid)
    if args.json:
        print(dump_json(_payload(pd, args.census)))
    else:
        print(_table(pd))
        q = pd.latent_dim
        print(
            "\nlatent c is live at the optimum while sigma2 < lambda_c and collapses beyond (q = "
            f"{q}):"
        )
        print("  " + summarise(f"{c + 1}: {lam:.4g}" for c, lam in enumerate(pd.eigenvalues[:q])))
    if out is not None:
        path = save_figure(pd.plot(), out)
        if not args.json:
            print(f"\nfigure written to {path}")
    return 0
