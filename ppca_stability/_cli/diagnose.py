"""``ppca-stability diagnose``: collapse diagnostics of saved encoder outputs, optionally against
the theory."""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from .. import (
    KL_REDUCTIONS,
    RECONSTRUCTIONS,
    CollapseDiagnostics,
    collapse_diagnostics,
    compare_collapse,
    covariance,
)
from ._io import (
    CliError,
    DataWarning,
    dump_json,
    load_covariance,
    load_matrix,
    positive_float,
    regular_file,
    warn_about_samples,
)

# Array names looked up in the .npz when --means / --log-variances are not given.
MEAN_KEYS = ("means", "mean", "mu")
LOG_VARIANCE_KEYS = ("log_variances", "log_variance", "logvar", "log_var")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diagnose",
        help="collapse diagnostics (KL per latent, active units) of saved encoder outputs",
        description="Read a Gaussian encoder's means and log-variances, one row per sample, from "
        "an .npz (np.savez(path, means=..., log_variances=...), from any framework) and report the "
        "KL per latent, the active units (Var_x mu > threshold) and the (epsilon, delta)-collapsed "
        "latents. With --data and --sigma2 (or --beta), put the linear VAE's prediction beside "
        "them, with a one-line verdict.",
    )
    p.add_argument(
        "outputs", metavar="ENCODER_OUTPUTS.npz", help=".npz with the means and log-variances"
    )
    p.add_argument(
        "--means",
        default=None,
        help=f"array name of the means (default: first of {', '.join(MEAN_KEYS)})",
    )
    p.add_argument(
        "--log-variances",
        default=None,
        help=f"array name of the log-variances (default: first of {', '.join(LOG_VARIANCE_KEYS)})",
    )
    p.add_argument(
        "--epsilon",
        type=float,
        default=0.01,
        help="KL level of (epsilon, delta)-collapse (default 0.01)",
    )
    p.add_argument(
        "--delta",
        type=float,
        default=0.01,
        help="fraction of samples allowed above epsilon (default 0.01)",
    )
    p.add_argument(
        "--au-threshold",
        type=float,
        default=0.01,
        help="active if Var_x(mu) exceeds this (default 0.01)",
    )
    p.add_argument(
        "--data",
        metavar="DATA",
        default=None,
        help="training data (.npy/.csv, rows are samples; or a covariance with --cov) for the "
        "comparison",
    )
    p.add_argument("--cov", action="store_true", help="--data is already a (d, d) covariance")
    p.add_argument(
        "--sigma2",
        type=positive_float,
        default=None,
        help="the decoder's noise variance, for the comparison",
    )
    p.add_argument(
        "--beta", type=positive_float, default=None, help="or the beta of a Rec + beta*KL loss"
    )
    p.add_argument(
        "--reconstruction",
        choices=RECONSTRUCTIONS,
        default=None,
        help="how Rec is written, with --beta: sse, half_sse or mse (the per-coordinate mean); "
        "needed with --beta (mse with a warning when omitted, an error from version 0.3)",
    )
    p.add_argument(
        "--kl-reduction",
        choices=KL_REDUCTIONS,
        default="sum",
        help="how the KL is reduced over the latents, with --beta: sum (default) or mean "
        "(.mean() over a (batch, q) array, which weighs it beta/q)",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(handler=run)


def _pick(
    archive: np.lib.npyio.NpzFile, key: str | None, defaults: tuple[str, ...], what: str, path: str
) -> np.ndarray:
    names = list(archive.files)
    if key is not None:
        if key not in names:
            raise CliError(f"{path}: no array {key!r}; it has {', '.join(names) or 'none'}.")
        return archive[key]
    for name in defaults:
        if name in names:
            return archive[name]
    raise CliError(
        f"no {what} in {path}: expected an array named {' or '.join(defaults)} "
        f"(it has {', '.join(names) or 'none'}); choose one with --{what.replace(' ', '-')}."
    )


def _load(path: str, means: str | None, log_variances: str | None) -> tuple[np.ndarray, np.ndarray]:
    p = regular_file(path, "ENCODER_OUTPUTS", "an .npz file")
    try:
        archive = np.load(p, allow_pickle=False)
    except Exception as exc:  # numpy raises several classes for a bad file
        raise CliError(f"ENCODER_OUTPUTS: cannot read {path}: {exc}".splitlines()[0]) from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise CliError(
            f"ENCODER_OUTPUTS: {path} is a single array; save both with np.savez(path, means=..., "
            "log_variances=...)."
        )
    with archive:
        return (
            _pick(archive, means, MEAN_KEYS, "means", path),
            _pick(archive, log_variances, LOG_VARIANCE_KEYS, "log-variances", path),
        )


def _payload(diag: CollapseDiagnostics) -> dict:
    return {
        "n_samples": diag.n_samples,
        "latent_dim": diag.latent_dim,
        "epsilon": diag.epsilon,
        "delta": diag.delta,
        "au_threshold": diag.au_threshold,
        "kl_per_latent": diag.kl_per_latent,
        "total_kl": diag.total_kl,
        "mean_variance": diag.mean_variance,
        "active": diag.active,
        "active_units": diag.active_units,
        "collapsed_fraction": diag.collapsed_fraction,
        "collapsed": list(diag.collapsed),
        "mutual_information": diag.mutual_information,
        "mi_samples": diag.mi_samples,
    }


def _covariance(path: str, is_cov: bool, n_outputs: int) -> np.ndarray:
    """The covariance of --data; a DataWarning when its rows and the encoder outputs' differ."""
    if is_cov:
        return load_covariance(path, is_cov=True)
    arr = load_matrix(path)
    warn_about_samples(arr, path)
    if arr.shape[0] != n_outputs:
        warnings.warn(
            f"DATA: {path} has {arr.shape[0]} rows (samples), the encoder outputs {n_outputs}: "
            "the comparison assumes they are the same data (the outputs of the encoder on it).",
            DataWarning,
            stacklevel=1,
        )
    return covariance(arr)


def run(args: argparse.Namespace) -> int:
    comparing = args.sigma2 is not None or args.beta is not None
    if comparing and args.data is None:
        raise CliError(
            "--sigma2/--beta: only with --data (the comparison needs the data's covariance)."
        )
    if args.data is not None and not comparing:
        raise CliError(
            "--data: give --sigma2 or --beta too (the decoder noise variance the model was trained "
            "with)."
        )
    mu, logvar = _load(args.outputs, args.means, args.log_variances)
    diag = collapse_diagnostics(
        mu, logvar, epsilon=args.epsilon, delta=args.delta, au_threshold=args.au_threshold
    )
    cmp = None
    if comparing:
        reconstruction = args.reconstruction
        if args.beta is not None and reconstruction is None:
            warnings.warn(
                "--reconstruction: not given with --beta, so mse is assumed (sigma^2 = "
                "beta d / 2); from version 0.3 it is required. Pass the convention of your loss.",
                FutureWarning,
                stacklevel=1,
            )
            reconstruction = "mse"
        with warnings.catch_warnings():
            # The verdict printed below says it; the library's warning would repeat it.
            warnings.filterwarnings("ignore", "compare_collapse:", UserWarning)
            cmp = compare_collapse(
                diag,
                _covariance(args.data, args.cov, diag.n_samples),
                args.sigma2,
                beta=args.beta,
                reconstruction=reconstruction,
                kl_reduction=args.kl_reduction,
            )
    if args.json:
        payload = _payload(diag)
        if cmp is not None:
            payload["linear"] = {
                "sigma2": cmp.sigma2,
                "beta": cmp.beta,
                "eigenvalues": cmp.eigenvalues,
                "kl_per_latent": cmp.predicted_kl,
                "mean_variance": cmp.predicted_mean_variance,
                "active_units": cmp.predicted_active_units,
                "live": cmp.predicted_live,
                "measured_order": cmp.order,
                "reconstruction": cmp.reconstruction,
                "kl_reduction": cmp.kl_reduction,
            }
            payload["verdict"] = cmp.verdict
            payload["suspected_convention"] = cmp.suspected_convention
        print(dump_json(payload))
    else:
        print(repr(diag))
        if cmp is not None:
            print()
            print(repr(cmp))
    return 0
