"""``ppca-stability map``: every stationary point at one sigma^2, classified."""

from __future__ import annotations

import argparse
import itertools
import sys
from typing import Any

from .. import (
    ElboStabilityMap,
    StabilityMap,
    covariance,
    elbo_stability_map,
    spectrum,
    stability_map,
    uses_partial_spectrum,
)
from . import in_flags
from ._io import (
    CliError,
    add_data_arguments,
    check_feature_count,
    dump_json,
    format_count,
    load_covariance,
    load_data,
    nonnegative_int,
    parse_sigma2,
    positive_int,
    sigma2_arg,
    summarise,
)

# How many stationary points the table lists (the rest are counted, not printed).
N_SHOWN = 20
# Census entries printed in full; more are summarised.
SHOWN_ENTRIES = 16


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "map",
        help="classify every stationary point at one sigma^2",
        description="Classify every stationary point of the pPCA likelihood (or of the linear "
        "VAE's ELBO) at one sigma^2 (maximum, saddle, minimum, degenerate) from the eigenvalues "
        "of the data covariance.",
    )
    add_data_arguments(p)
    p.add_argument(
        "--sigma2",
        required=True,
        type=sigma2_arg,
        help='observation-noise variance, or "learned"',
    )
    p.add_argument(
        "--latent-dim",
        type=positive_int,
        default=None,
        help="latent dimension q (default: d, or d-1 if learned)",
    )
    p.add_argument(
        "--objective",
        choices=("likelihood", "elbo"),
        default="likelihood",
        help="the pPCA likelihood (default) or the linear VAE's ELBO in all parameters",
    )
    p.add_argument(
        "--encoder",
        choices=("diagonal", "full"),
        default=None,
        help="encoder covariance of the ELBO (with --objective elbo; default diagonal)",
    )
    p.add_argument(
        "--include-clusters",
        action="store_true",
        help="with --objective elbo and the diagonal encoder: also enumerate and classify the "
        "equal-norm cluster saddles, counted in the census (a dense Hessian each: small d q)",
    )
    p.add_argument(
        "--show",
        type=nonnegative_int,
        default=N_SHOWN,
        help=f"how many points to list (default {N_SHOWN}; 0 lists none)",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(handler=run)


def _row(p: Any) -> dict:
    return {
        "active": list(p.active),
        "sigma2": p.sigma2,
        "log_likelihood": p.log_likelihood,
        **({"elbo": p.elbo} if hasattr(p, "elbo") else {}),
        "morse_index": p.morse_index,
        "n_collapsed": p.n_collapsed,
        "stability": p.stability.value,
    }


def _load(args: argparse.Namespace) -> Any:
    """The covariance, or, for a large ``.npy`` of data at a fixed sigma2 and a small latent
    dimension, its eigenpairs above sigma2 streamed from the file (no d x d matrix)."""
    sigma2 = parse_sigma2(args.sigma2)
    if (
        not args.cov
        and not args.include_clusters  # the clusters read the whole spectrum
        and not isinstance(sigma2, str)
        and args.latent_dim is not None
        and args.data.lower().endswith(".npy")
    ):
        arr = load_data(args.data, check_memory=False)
        d = arr.shape[1]
        if args.latent_dim <= d and uses_partial_spectrum(d, args.latent_dim, sigma2):
            return spectrum(data=arr, above=sigma2, progress=sys.stderr.isatty())
        check_feature_count(d, args.data)
        return covariance(arr)
    return load_covariance(args.data, is_cov=args.cov)


def run(args: argparse.Namespace) -> int:
    for flag, value in (("--include-clusters", args.include_clusters), ("--encoder", args.encoder)):
        if value and args.objective != "elbo":
            raise CliError(f"{flag}: used only with --objective elbo")
    cov = _load(args)
    smap: StabilityMap | ElboStabilityMap
    if args.objective == "elbo":
        smap = elbo_stability_map(
            cov,
            args.sigma2,
            latent_dim=args.latent_dim,
            encoder=args.encoder or "diagonal",
            include_clusters=args.include_clusters,
            progress=sys.stderr.isatty(),  # the clusters' classification can take minutes
        )
        if args.include_clusters:
            print(
                f"classifying {smap.n_cluster_points} equal-norm cluster points "
                "(a dense Hessian each)",
                file=sys.stderr,
            )
    else:
        smap = stability_map(cov, args.sigma2, latent_dim=args.latent_dim)
    # Rows, not points: each point holds (d, q) loadings, which are dropped as soon as read.
    shown = [_row(p) for p in itertools.islice(smap.points, args.show)]
    # Counted before anything is enumerated; a count or census too costly to make is reported
    # as such (with the bound), never attempted.
    n_points: int | None
    try:
        n_points = smap.n_points
    except ValueError as exc:
        n_points = None
        count_note = in_flags(str(exc).removeprefix("`n_points`: "), args.flag_names)
    census: dict[int, int] | None = None
    counts: dict[str, int] | None = None
    if n_points is None:
        census_note = "the points are too many to count (above)"
    else:
        try:
            census = smap.census()
        except ValueError as exc:  # too large to compute exactly: report the rest, say why
            census_note = str(exc)
        try:
            counts = {k.value: v for k, v in smap.stability_counts().items()}
        except ValueError as exc:
            counts_note = str(exc)
    top = smap.global_maximum
    if args.json:
        print(
            dump_json(
                {
                    "n_features": smap.n_features,
                    "latent_dim": smap.latent_dim,
                    "sigma2": smap.sigma2,
                    "eigenvalues": smap.eigenvalues,
                    "n_points": n_points,
                    "n_points_upper_bound": smap.n_points_upper_bound
                    if n_points is None
                    else n_points,
                    "global_maximum": _row(top),
                    "stability_counts": counts,
                    "census": None if census is None else {str(k): v for k, v in census.items()},
                    **(
                        {"n_cluster_points": smap.n_cluster_points}
                        if isinstance(smap, ElboStabilityMap) and smap.include_clusters
                        else {}
                    ),
                    "points": shown,
                }
            )
        )
        return 0
    print(repr(smap))
    # Lists are summarised (their ends and a count): at d = 784 the census alone is 40 kB.
    print(
        f"\nglobal maximum: active [{summarise(top.active)}]; {top.n_collapsed} of "
        f"{smap.latent_dim} latents collapsed (zero decoder column: KL = 0)"
    )
    if n_points is None:
        print(f"n_points: not counted; {count_note}")
    if census is None:
        print(f"census (Morse index: count): not computed; {census_note}")
    else:
        entries = [f"{k}: {format_count(v)}" for k, v in census.items()]
        more = " (all of them: --json)" if len(entries) > SHOWN_ENTRIES else ""
        print(f"census (Morse index: count): {summarise(entries, SHOWN_ENTRIES)}{more}")
    if counts is not None:
        print("by stability: " + ", ".join(f"{k}: {format_count(v)}" for k, v in counts.items()))
    elif n_points is not None:
        print(f"by stability: not computed; {counts_note}")
    if not shown:
        print("\nno stationary points listed (--show N lists the first N)")
        return 0
    total = "" if n_points is None else f" of {format_count(n_points)}"
    print(f"\nfirst {len(shown)}{total} stationary points:")
    print(f"{'active':<24} {'sigma2':>11} {'log-lik':>13} {'morse':>6}  stability")
    for r in shown:
        act = ",".join(map(str, r["active"])) or "-"
        print(
            f"{act[:24]:<24} {r['sigma2']:>11.5g} {r['log_likelihood']:>13.6g} "
            f"{r['morse_index']:>6}  {r['stability']}"
        )
    return 0
