"""The ``ppca-stability`` command line: argument parsing and printing only, no maths.

Each sub-command lives in its own module of this package, which defines
``register(subparsers)``; the handler it registers receives the parsed arguments and returns an
exit code. A bad file or argument is reported as one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from ._io import CliError

# Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ["map", "phase", "demo", "beta", "verify", "vae", "exact"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ppca-stability",
        description="Stationary points of the pPCA likelihood and their stability in sigma^2.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser



def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ppca-stability`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            # Our warnings are printed as one line each, not with a source excerpt.
            warnings.showwarning = _show_warning
            return int(args.handler(args) or 0)
    except CliError as exc:
        print(f"ppca-stability {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as exc:
        print(f"ppca-stability {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
    print(f"warning: {category.__name__}: {message}", file=sys.stderr)
