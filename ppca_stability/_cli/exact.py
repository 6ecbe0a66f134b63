"""``ppca-stability exact``: the exact stability map of a rational spectrum (loads sympy)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ._io import CliError, load_matrix, positive_int, text_rows

# Largest covariance file read exactly (rows): the exact map is for small problems.
MAX_ROWS = 64


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "exact",
        help="exact stability map of a rational spectrum, at one sigma^2 or piecewise in sigma^2",
        description="Every stationary point of the pPCA likelihood for exact rational eigenvalues "
        "(given, or those of a small covariance matrix), with exact Hessian eigenvalues, Morse "
        "index and stability: at one rational sigma^2, or (without --sigma2) as a function of "
        "sigma^2 over the intervals between the critical values.",
    )
    p.add_argument(
        "cov",
        metavar="COV",
        nargs="?",
        default=None,
        help="optional: a small (d, d) covariance file instead of --eigenvalues (.csv/.txt/.tsv "
        "entries are read exactly as decimals or fractions such as 1/3; .npy entries must be "
        "integers or exact binary fractions); its eigenvalues must be rational",
    )
    p.add_argument(
        "--cov",
        dest="cov_flag",
        action="store_true",
        help="accepted for symmetry with the other commands: COV is always a covariance",
    )
    p.add_argument(
        "--eigenvalues",
        default=None,
        help="comma-separated exact eigenvalues, e.g. 5,3,2,1 or 5/2,1.5,0.1 (decimals are exact)",
    )
    p.add_argument(
        "--latent-dim",
        type=positive_int,
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


def _matrix(path: str) -> Any:
    """The covariance entries, exact: text cells as strings (parsed as exact rationals by the
    library), a .npy as its array."""
    if Path(path).suffix.lower() == ".npy":
        return np.asarray(load_matrix(path, "COV"))
    rows = text_rows(path, "COV", max_rows=MAX_ROWS + 1)
    if len(rows) > MAX_ROWS:
        raise CliError(f"COV: {path} has more than {MAX_ROWS} rows; the exact map is for small d.")
    return rows


def run(args: argparse.Namespace) -> int:
    if (args.cov is None) == (args.eigenvalues is None):
        raise CliError("give exactly one of COV (a covariance file) and --eigenvalues.")
    import sympy  # only this sub-command needs sympy

    from ..symbolic import exact_stability_map

    if args.cov is not None:
        spectrum = _matrix(args.cov)
        args.flag_names["eigenvalues"] = "COV"  # the library's errors then name the file
    else:
        spectrum = [v.strip() for v in args.eigenvalues.split(",")]
    sigma2 = sympy.Symbol("s", positive=True) if args.sigma2 is None else args.sigma2
    smap = exact_stability_map(spectrum, sigma2, latent_dim=args.latent_dim)
    print(smap.to_latex() if args.latex else repr(smap))
    return 0
