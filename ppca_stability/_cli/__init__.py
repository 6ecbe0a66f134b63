"""The ``ppca-stability`` command line: argument parsing and printing only, no maths.

Each sub-command lives in its own module of this package, which defines
``register(subparsers)``; the handler it registers receives the parsed arguments and returns an
exit code. A bad file or argument is reported as one line on stderr with exit code 2, naming the
flag (a library error's `parameter` is rewritten as the flag that sets it). Warnings about DATA
(`DataWarning`) are printed after the output, or added to the error line if the command fails.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import signal
import sys
import threading
import warnings
from typing import Any

from .. import __version__
from ._io import CliError, DataWarning

# Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ["map", "phase", "demo", "beta", "verify", "vae", "exact", "diagnose", "deep"]
# Library parameters whose CLI name is not their flag's dest.
PARAMETER_NAMES = {"rng": "--seed", "cov": "DATA", "data": "DATA"}
# A parameter named in a library message: `name` or `name[i]`, or a bare name with an underscore
# (no English word has one), not part of a path or file name; either may be followed by
# "=True"/"=False" (advice such as "use include_clusters=False").
_PARAMETER = re.compile(
    r"(?:`(\w+)(\[(\d+)\])?`|(?<![\w/.\\-])([a-z]\w*_\w+)\b(?![/\\]|\.\w))(=(?:True|False)\b)?"
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), reported by `main()`, and
    which takes flags only in full (argparse's prefix matching would read ``--sigma`` as
    ``--sigma2``); sub-command parsers are of this class too."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 (argparse's)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ppca-stability",
        description="Stationary points of the pPCA likelihood and their stability in sigma^2.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    for command in sub.choices.values():
        command.set_defaults(
            flag_names=_flag_names(command),
            switches=frozenset(
                a.option_strings[0]
                for a in command._actions
                if isinstance(a, argparse._StoreTrueAction)
            ),
        )
    return parser


def _flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Library parameter name -> the flag (or positional) that sets it, for one sub-command."""
    names = {}
    for action in parser._actions:
        flags = [o for o in action.option_strings if o.startswith("--")]
        if flags and action.dest not in ("help", "means", "log_variances"):
            names[action.dest] = flags[0]
    return names | PARAMETER_NAMES


def in_flags(message: str, names: dict[str, str], switches: frozenset[str] = frozenset()) -> str:
    """A library message with each `parameter` it names rewritten as the flag that sets it; for an
    on/off flag (`switches`), ``name=True`` becomes "with --flag" and ``name=False`` "without
    --flag" (``--flag=False`` is no command line)."""

    def flag(m: re.Match) -> str:
        name = names.get(m[1] or m[4])
        if name is None:
            return m[0]
        if m[5] and name in switches:
            return f"{'with' if m[5] == '=True' else 'without'} {name}"
        return (f"{name} (item {int(m[3]) + 1})" if m[2] else name) + (m[5] or "")

    return _PARAMETER.sub(flag, message)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ppca-stability`` console script."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except CliError as exc:
        print(f"ppca-stability: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    # SIGTERM unwinds (exit 143) instead of killing outright, so that a half-written temporary
    # file is removed; signal handlers can only be set from the main thread.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    # Warnings about DATA wait for the outcome: after the output, or on the error's line.
    about_data: list[str] = []

    def show(message: Any, category: Any, *where: Any, **options: Any) -> None:
        if issubclass(category, DataWarning):
            about_data.append(str(message))
        else:
            _show_warning(message, category)

    try:
        with warnings.catch_warnings():
            # Shown even where warnings are errors (python -W error): a hint, not a failure.
            warnings.simplefilter("always", DataWarning)
            # Our warnings are printed as one line each, not with a source excerpt.
            warnings.showwarning = show
            code = int(args.handler(args) or 0)
            sys.stdout.flush()  # a full disk or closed pipe is reported here, not at exit
        for message in about_data:
            _show_warning(message, DataWarning)
        return code
    except (CliError, ValueError, TypeError, ImportError) as exc:
        note = f" (warning: {about_data[0]})" if about_data else ""
        message = in_flags(str(exc), args.flag_names, args.switches)
        print(f"ppca-stability {args.command}: error: {message}{note}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, and keep Python's exit-time flush of
        # stdout from raising again.
        _discard_stdout()
        return 141
    except OSError as exc:  # writing stdout failed (e.g. `> /dev/full`); files raise CliError
        _discard_stdout()
        print(
            f"ppca-stability {args.command}: error: cannot write the output: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"ppca-stability {args.command}: interrupted: no result", file=sys.stderr)
        return 130
    except SystemExit as exc:  # SIGTERM (see _terminate)
        _stop_repeating()
        print(f"ppca-stability {args.command}: terminated: no result", file=sys.stderr)
        return int(exc.code) if isinstance(exc.code, int) else 143
    finally:
        if in_main_thread:
            _stop_repeating()
            signal.signal(signal.SIGTERM, previous)


# A handler's exception is lost where Python ignores exceptions: in a garbage-collector callback
# (Hypothesis installs one) or a __del__, it is printed as "Exception ignored" and the run goes
# on, so a terminated `verify` kept running. The termination is raised again every
# REPEAT_SECONDS (SIGALRM) until one reaches the code that reports it.
REPEAT_SECONDS = 0.5


def _terminate(signum: int, frame: object) -> None:
    code = 128 + signum
    if hasattr(signal, "setitimer"):

        def again(_signum: int, _frame: object) -> None:
            raise SystemExit(code)

        signal.signal(signal.SIGALRM, again)
        signal.setitimer(signal.ITIMER_REAL, REPEAT_SECONDS, REPEAT_SECONDS)
    raise SystemExit(code)


def _stop_repeating() -> None:
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0.0)


def _discard_stdout() -> None:
    # Whatever is still buffered can never be written: drop it, so that Python's exit-time flush
    # of stdout does not fail again with a traceback.
    try:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (lives until exit)
        os.dup2(sys.stdout.fileno(), 1)
    except OSError:
        pass


def _show_warning(message: object, category: type[Warning]) -> None:
    print(f"warning: {category.__name__}: {message}", file=sys.stderr)
