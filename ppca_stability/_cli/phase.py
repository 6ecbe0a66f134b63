"""``ppca-stability phase``: the landscape over a grid of sigma^2, as a table, JSON or a figure."""

from __future__ import annotations

import argparse
from decimal import Decimal

import numpy as np

from .. import PhaseDiagram, phase_diagram
from ._io import (
    CliError,
    add_data_arguments,
    add_force_argument,
    check_figure_path,
    dump_json,
    load_covariance,
    positive_int,
    save_figure,
    summarise,
)

# Log-spaced counts of eigenvalues above sigma2 that the table shows, up to latent_dim and beyond
# it (the answer changes at every eigenvalue; these are quantiles of the spectrum in log rank).
ROWS_UP_TO_Q = 8
ROWS_BEYOND_Q = 4
# The intervals above the top few eigenvalues, where the first latents collapse, are all shown.
TOP_INTERVALS = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "phase",
        help="phase diagram over sigma^2: collapsed latents, stationary points, optimum",
        description="How the pPCA landscape changes with the noise variance sigma^2: which latents "
        "are live at the optimum (the rest collapse), how many stationary points there are and of "
        "what stability, and the optimum's log-likelihood, on a log grid containing every "
        "eigenvalue.",
    )
    add_data_arguments(p)
    p.add_argument(
        "--latent-dim", type=positive_int, default=None, help="latent dimension q (default: d)"
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


def table_rows(pd: PhaseDiagram) -> list[int]:
    """Grid indices the text table shows: one sigma2 inside each interval between consecutive
    eigenvalues for a log-spaced set of counts above sigma2 (all of them when there are few),
    the intervals above the top eigenvalues and around the learned sigma2, and both ends of
    the grid."""
    n_above = pd.n_above
    top = int(n_above.max())
    q = min(pd.latent_dim, top)
    counts = {top, *range(min(top, TOP_INTERVALS) + 1)}
    counts.update(np.geomspace(1, max(q, 1), ROWS_UP_TO_Q).round().astype(int).tolist())
    counts.update(np.geomspace(max(q, 1), max(top, 1), ROWS_BEYOND_Q).round().astype(int).tolist())
    if top <= ROWS_UP_TO_Q + ROWS_BEYOND_Q:
        counts.update(range(top + 1))
    if pd.sigma2_learned is not None:
        k = int(np.sum(pd.eigenvalues > pd.sigma2_learned))
        counts.update((k - 1, k, k + 1))
    at_eigenvalue = np.isin(pd.sigma2, pd.breakpoints)
    rows = []
    for k in sorted(counts & set(n_above.tolist())):
        inside = np.flatnonzero((n_above == k) & ~at_eigenvalue)
        if inside.size == 0:
            inside = np.flatnonzero(n_above == k)
        rows.append(int(inside[inside.size // 2]))
    return sorted({0, pd.sigma2.size - 1, *rows})


def _table(pd: PhaseDiagram) -> str:
    learned = pd.sigma2_learned
    lines = repr(pd).splitlines()[:3]  # the header, without the repr's evenly spaced rows
    lines.append(
        "  rows: one sigma2 between each pair of eigenvalues where the answer changes, near "
        "sigma2_learned and at log-spaced ranks of the spectrum (every grid value: --json)"
    )
    lines.append(
        f"  {'sigma2':>12} {'n_above':>8} {'n_active':>9} {'max log-lik':>13} {'n_points':>11}"
    )
    rows = table_rows(pd)
    for g in rows:
        n = int(pd.n_points[g])
        mark = ""
        if learned is not None and int(pd.n_above[g]) == int(np.sum(pd.eigenvalues > learned)):
            mark = f"  <- sigma2_learned = {learned:.5g} in this interval"
        lines.append(
            f"  {pd.sigma2[g]:>12.5g} {pd.n_above[g]:>8} {pd.n_active[g]:>9} "
            f"{pd.max_log_likelihood[g]:>13.6g} "
            f"{n if n < 10**10 else format(Decimal(n), '.3e'):>11}{mark}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    out = None if args.out is None else check_figure_path(args.out, force=args.force)
    if args.census and not args.json:
        raise CliError("--census: only with --json (the table shows the counts by stability).")
    cov = load_covariance(args.data, is_cov=args.cov)
    pd = phase_diagram(cov, latent_dim=args.latent_dim)
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
