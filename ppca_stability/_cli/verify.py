"""``ppca-stability verify``: check the theory on generated examples and print the table."""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile

from .. import theorem_names, verify
from ._io import positive_int, seed

# verify()'s own default, so that the help text cannot drift from it.
DEFAULT_EXAMPLES = inspect.signature(verify).parameters["max_examples"].default


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check the theorems behind the package on generated examples (hypothesis)",
        description="Check every theorem the package relies on (stationary points, Hessian closed "
        "forms, Morse indices, census, joint sigma2, linear VAE) as a property on generated "
        "examples. Exit code 1 if any fails; the table then shows the shrunk counterexample.",
    )
    p.add_argument(
        "--examples",
        type=positive_int,
        default=DEFAULT_EXAMPLES,
        metavar="N",
        help=f"examples per theorem (default {DEFAULT_EXAMPLES})",
    )
    p.add_argument(
        "--seed",
        type=seed,
        default=None,
        metavar="S",
        help="random seed (default: derandomized, the same examples every run)",
    )
    p.add_argument(
        "--theorem",
        action="append",
        choices=theorem_names(),
        metavar="NAME",
        help="check only this theorem (repeatable); one of: " + ", ".join(theorem_names()),
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="do not show the progress bar (also off when stderr is not a terminal)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from hypothesis import configuration  # a dependency; imported only by this command

    # Hypothesis caches into ./.hypothesis by default; the command keeps nothing between runs
    # (no example database), so it works in a temporary directory instead of the user's.
    with tempfile.TemporaryDirectory(prefix="ppca-stability-hypothesis-") as home:
        configuration.set_hypothesis_home_dir(home)
        try:
            report = verify(
                max_examples=args.examples,
                seed=args.seed,
                theorems=args.theorem,
                progress=not args.no_progress and sys.stderr.isatty(),
            )
        finally:
            configuration.set_hypothesis_home_dir(None)
    print(repr(report))
    return 0 if report.passed else 1
