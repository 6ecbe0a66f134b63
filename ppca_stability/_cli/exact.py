"""``ppca-stability exact``: the exact stability map of a rational spectrum (loads sympy)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "exact",
        help="exact stability map of a rational spectrum, at one sigma^2 or piecewise in sigma^2",
        description="Every stationary point of the pPCA likelihood for exact rational eigenvalues, "
        "with exact Hessian eigenvalues, Morse index and stability: at one rational sigma^2, or "
        "(without --sigma2) as a function of sigma^2 over the intervals between the critical "
        "values.",
    )
    p.add_argument(
        "--eigenvalues",
        required=True,
        help="comma-separated exact eigenvalues, e.g. 5,3,2,1 or 5/2,1.5,0.1 (decimals are exact)",
    )
    p.add_argument(
        "--latent-dim",
        type=int,
        default=None,
        help="latent dimension q (default: number of eigenvalues)",
    )
    p.add_argument(
        "--sigma2",
        default=None,
        help="exact sigma^2, e.g. 3/2 or 0.25; omit for the piecewise map in s = sigma^2",
    )
    p.add_argument(
        "--latex", action="store_true", help="print a LaTeX tabular instead of the text table"
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import sympy  # only this sub-command needs sympy

    from ..symbolic import exact_stability_map

    eigenvalues = [v.strip() for v in args.eigenvalues.split(",")]
    sigma2 = sympy.Symbol("s", positive=True) if args.sigma2 is None else args.sigma2
    smap = exact_stability_map(eigenvalues, sigma2, latent_dim=args.latent_dim)
    print(smap.to_latex() if args.latex else repr(smap))
    return 0
