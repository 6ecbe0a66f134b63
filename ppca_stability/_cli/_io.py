"""File input and output shared by the sub-commands: loading DATA, writing files atomically."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .. import SYMMETRY_RTOL, covariance, json_header
from .._base.optional import require

__all__ = [
    "CliError",
    "DataWarning",
    "FlagValueError",
    "add_data_arguments",
    "add_force_argument",
    "check_feature_count",
    "check_figure_path",
    "check_output_path",
    "dump_json",
    "format_count",
    "load_covariance",
    "load_data",
    "load_matrix",
    "nonnegative_int",
    "parse_sigma2",
    "positive_float",
    "positive_int",
    "regular_file",
    "save_figure",
    "seed",
    "sigma2_arg",
    "summarise",
    "text_rows",
    "write_atomic",
]

# Figure formats matplotlib writes that we do not offer: pgf needs a LaTeX installation, raw and
# rgba are headerless pixel dumps (no way to tell later whether we wrote them).
EXCLUDED_FORMATS = {"pgf", "raw", "rgba"}
# How a file we write starts, by suffix: an existing file that does not is not ours, and is
# overwritten only with --force.
SIGNATURES = {
    ".png": (b"\x89PNG",),
    ".pdf": (b"%PDF",),
    ".svg": (b"<?xml", b"<svg"),
    ".svgz": (b"\x1f\x8b",),
    ".eps": (b"%!PS",),
    ".ps": (b"%!PS",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".tif": (b"II*\0", b"MM\0*"),
    ".tiff": (b"II*\0", b"MM\0*"),
    ".webp": (b"RIFF",),
    ".gif": (b"GIF8",),
    ".avif": (b"\0\0\0",),
}
# Longest list a text line prints in full; longer ones show their ends and a count.
SHOWN_ITEMS = 12
# d x d float64 matrices alive at once for a covariance and its eigendecomposition: the matrix,
# its symmetrised copy, eigh's working copy (which becomes the eigenvectors) and syevd's
# workspace of about 2 d^2.
COV_COPIES = 5
# Resolution of raster figures.
FIGURE_DPI = 150
# Counts of up to this many digits are printed in full; larger ones in scientific notation.
COUNT_DIGITS = 12


class CliError(Exception):
    """A problem with the command line or its files, reported as one line with exit code 2."""


class FlagValueError(argparse.ArgumentTypeError, ValueError):
    """A flag's value is invalid: argparse reports it as "argument --flag: <message>"."""


class DataWarning(UserWarning):
    """DATA looks like a mistake (a covariance without --cov, fewer samples than features)."""


# ----------------------------------------------------------------------------- argument types
# argparse reports a type's ArgumentTypeError as "argument --flag: <message>", naming the flag.
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise FlagValueError(f"must be a positive integer; got {text!r}.")
    return value


def seed(text: str) -> int:
    """``--seed``: a non-negative integer (what numpy accepts as a seed)."""
    return nonnegative_int(text)


def nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise FlagValueError(f"must be a non-negative integer; got {text!r}.")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0.0):
        raise FlagValueError(f"must be a positive finite number; got {text!r}.")
    return value


def sigma2_arg(text: str) -> float | str:
    """``--sigma2`` as an argparse type: a positive finite number, or "learned" in any case."""
    if not isinstance(text, str):  # already parsed (argparse applies the type to defaults)
        return text
    if text.strip().lower() == "learned":
        return "learned"
    try:
        return positive_float(text)
    except FlagValueError:
        raise FlagValueError(
            f'must be a positive finite number or "learned"; got {text!r}.'
        ) from None


def parse_sigma2(text: str) -> float | str:
    """`sigma2_arg` for a handler that parses ``--sigma2`` itself: its error names `sigma2`,
    which `main` reports as the flag."""
    try:
        return sigma2_arg(text)
    except FlagValueError as exc:
        raise ValueError(f"`sigma2` {exc}") from None


def format_count(n: int) -> str:
    """An exact count as the library's reprs write it: in full up to `COUNT_DIGITS` digits, else
    four significant digits and its length, "7.116e88 (89 digits)" (``--json`` has the exact
    value). The CLI uses only the public API, so this is not the library's own helper."""
    text = str(n)
    if len(text.lstrip("-")) <= COUNT_DIGITS:
        return text
    mantissa, exponent = f"{Decimal(n):.4g}".lower().split("e")
    return f"{mantissa}e{int(exponent)} ({len(text.lstrip('-'))} digits)"


def summarise(items: Any, n: int = SHOWN_ITEMS) -> str:
    """Comma-separated items, or, when there are more than `n`, the first and last few and how
    many were left out: a line of text stays short whatever the dimension."""
    items = [str(v) for v in items]
    if len(items) <= n:
        return ", ".join(items)
    head, tail = items[: n - n // 4], items[-(n // 4) :]
    return f"{', '.join(head)}, ... ({len(items) - len(head) - len(tail)} more), {', '.join(tail)}"


def add_data_arguments(parser: Any, *, optional: bool = False, cov_note: str = "") -> None:
    """The DATA positional and the --cov flag, shared by every sub-command that reads data."""
    parser.add_argument(
        "data",
        metavar="DATA",
        nargs="?" if optional else None,
        help=("optional: " if optional else "")
        + ".npy or .csv data matrix (rows are samples), or a covariance with --cov",
    )
    parser.add_argument(
        "--cov", action="store_true", help="DATA is already a (d, d) covariance" + cov_note
    )


def _position(exc: Exception) -> str:
    """Where a parse error happened, without the offending text (which could be anything the
    path points at: a symlink to /etc/passwd would print its first line)."""
    found = re.search(r"(at )?(row|line) \d+(, column \d+)?", str(exc))
    return f" at {found.group(0).removeprefix('at ')}" if found else ""


def _is_number(field: bytes) -> bool:
    """A decimal or a fraction such as 1/3 (the exact reader takes those)."""
    text = field.strip().strip(b"\"'")
    try:
        float(text)
        return True
    except ValueError:
        pass
    try:
        Fraction(text.decode())
    except (ValueError, ZeroDivisionError, UnicodeDecodeError):
        return False
    return True


def _csv_layout(p: Path, suffix: str, name: str) -> tuple[str | None, int, int]:
    """``(delimiter, lines to skip, columns)`` from the first data line, read as bytes (a
    10^6-column line is counted without building a row of floats).

    The delimiter is a tab for ``.tsv``; otherwise a comma if the line has one, else a tab, else
    a semicolon, else whitespace (None). A first line none of whose fields is a number is a
    header: it and the comments and blank lines before it are skipped. A data file with no line
    of numbers is an error.
    """
    lines = []
    with p.open("rb") as f:
        for number, line in enumerate(f):
            if line.strip() and not line.lstrip().startswith(b"#"):
                lines.append((number, line))
                if len(lines) == 2:
                    break
    if not lines:
        raise CliError(f"{name}: {p} has no rows of numbers (the file is empty or only comments).")
    first_number, first = lines[0]
    if suffix == ".tsv":
        delimiter: str | None = "\t"
    else:
        delimiter = next((c for c in (",", "\t", ";") if c.encode() in first), None)
    fields = first.split(None if delimiter is None else delimiter.encode())
    header = not any(_is_number(v) for v in fields)
    if header and len(lines) == 1:
        raise CliError(f"{name}: {p} has a header row and no rows of numbers.")
    return delimiter, first_number + 1 if header else 0, len(fields)


def text_rows(path: str, name: str, *, max_rows: int) -> list[list[str]]:
    """The cells of a small text table as strings (for exact parsing), header skipped, with
    the delimiter `load_matrix` would use; at most `max_rows` rows are read."""
    p = regular_file(path, name, "a .csv file")
    suffix = p.suffix.lower()
    if suffix not in {".csv", ".txt", ".tsv"}:
        raise CliError(f"{name}: unsupported file type {suffix!r}; use .csv/.txt/.tsv or .npy.")
    delimiter, skip, _ = _csv_layout(p, suffix, name)
    header = skip > 0
    rows: list[list[str]] = []
    try:
        with p.open(encoding="utf-8") as f:
            for line in f:
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                if header:  # the first line of text is the header
                    header = False
                    continue
                rows.append([cell.strip() for cell in line.split(delimiter)])
                if len(rows) >= max_rows:
                    break
    except UnicodeDecodeError:
        raise CliError(f"{name}: cannot read {path}: not a text file.") from None
    return rows


def regular_file(path: str, name: str, wanted: str) -> Path:
    """`path` as a Path, if it is a regular file (or a link to one): a directory, a device such as
    /dev/zero, a pipe or a socket is named as what it is, not as a missing file."""
    p = Path(path)
    if p.is_dir():
        raise CliError(f"{name}: {path} is a directory; give {wanted}.")
    if p.is_file():
        return p
    if not p.exists():
        raise CliError(f"{name}: no such file: {path}")
    mode = p.stat().st_mode
    kind = (
        "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a pipe"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a file"
    )
    raise CliError(f"{name}: {path} is not a regular file ({kind}); give {wanted}.")


def check_feature_count(d: int, path: str, name: str = "DATA") -> None:
    """Refuse, before anything is read, a problem whose d x d matrices cannot fit in memory."""
    need = COV_COPIES * 8 * d * d
    if need > memory_bytes():
        raise CliError(
            f"{name}: {path} has {d} features; its {d} x {d} covariance and eigenvectors need "
            f"about {need / 2**30:.3g} GiB, more than this machine's "
            f"{memory_bytes() / 2**30:.3g} GiB of memory. Reduce the features first (e.g. a "
            "random projection or PCA on a subsample)."
        )


def memory_bytes() -> int:
    """Physical memory of this machine (a generous 2^40 where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**40


def load_matrix(path: str, name: str = "DATA", *, check_memory: bool = True) -> np.ndarray:
    """Read a 2-D float array from a ``.npy`` or ``.csv``/``.txt`` file.

    ``.npy`` files are memory-mapped (nothing is read here); the number of features is checked
    against memory before a CSV is parsed or a covariance is formed (`check_feature_count`).
    """
    p = regular_file(path, name, "a .npy or .csv file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
            if not isinstance(arr, np.ndarray):  # np.load opens a .npz archive whatever its name
                if hasattr(arr, "close"):
                    arr.close()
                raise CliError(
                    f"{name}: {path} is not a .npy array (an .npz archive?); save one array with "
                    "numpy.save, or extract it: numpy.save('x.npy', numpy.load('f.npz')['name'])."
                )
            if arr.ndim == 2 and check_memory:  # not for data that never forms d x d matrices
                check_feature_count(arr.shape[1], path, name)
        elif suffix in {".csv", ".txt", ".tsv"}:
            delimiter, header, columns = _csv_layout(p, suffix, name)
            check_feature_count(columns, path, name)
            with warnings.catch_warnings():
                # an empty file is reported above; numpy's own warning would be a second line
                warnings.simplefilter("ignore", UserWarning)
                arr = np.loadtxt(p, delimiter=delimiter, skiprows=header, ndmin=2, dtype=np.float64)
        else:
            raise CliError(
                f"{name}: unsupported file type {suffix!r}; use .npy, or .csv/.txt/.tsv text."
            )
    except CliError:
        raise
    except MemoryError:
        raise CliError(f"{name}: {path} does not fit in memory.") from None
    except Exception as exc:  # numpy's parse errors come in many classes
        raise CliError(
            f"{name}: cannot read {path}{_position(exc)}: not a {suffix[1:]} file of numbers "
            f"({type(exc).__name__})."
        ) from exc
    if arr.ndim != 2 or arr.size == 0:
        raise CliError(f"{name}: expected a non-empty 2-D array in {path}; got shape {arr.shape}.")
    if arr.dtype.kind not in "biuf":
        raise CliError(f"{name}: expected numbers in {path}; got dtype {arr.dtype}.")
    return arr


def load_covariance(path: str, *, is_cov: bool) -> np.ndarray:
    """The ddof=0 covariance from a data file, or the file itself with ``--cov``.

    A ``.npy`` is memory-mapped and reduced chunk by chunk, so DATA may be larger than memory.
    """
    if not is_cov:
        return covariance(load_data(path))
    arr = load_matrix(path)
    n, d = arr.shape
    if n != d:
        raise CliError(
            f"DATA: --cov expects a square (d, d) covariance; {path} has shape ({n}, {d}). "
            "Without --cov its rows are used as samples."
        )
    return np.asarray(arr, dtype=np.float64)


def load_data(path: str, *, check_memory: bool = True) -> np.ndarray:
    """A data matrix (rows are samples) from DATA, with the `DataWarning` of
    `warn_about_samples` when it looks like a mistake: every route that reads samples (its
    covariance, eigenpairs streamed from it, minibatches) loads them here."""
    arr = load_matrix(path, check_memory=check_memory)
    warn_about_samples(arr, path)
    return arr


def warn_about_samples(arr: np.ndarray, path: str) -> None:
    """Warn (DataWarning) when a data matrix looks like a mistake: a square symmetric matrix is
    probably a covariance given without --cov; n <= d samples give a rank-deficient
    covariance."""
    n, d = arr.shape
    if n == 1:
        warnings.warn(
            f"DATA: {path} has a single sample (row): its covariance is 0. Rows are samples; "
            "transpose the data, or pass --cov for a covariance.",
            DataWarning,
            stacklevel=2,
        )
    elif n == d and _symmetric(arr):
        warnings.warn(
            f"DATA: {path} is a square symmetric ({d}, {d}) matrix, read as {n} samples; if it is "
            "a covariance, pass --cov.",
            DataWarning,
            stacklevel=2,
        )
    elif n <= d:
        warnings.warn(
            f"DATA: {path} has {n} samples of {d} features (n <= d): its covariance has rank at "
            f"most {n - 1}, so at least {d - n + 1} eigenvalues are 0. Rows are samples.",
            DataWarning,
            stacklevel=2,
        )


def _symmetric(arr: np.ndarray) -> bool:
    """Symmetric as `check_cov` reads a covariance (``max |A - A^T| <= SYMMETRY_RTOL max|A|``),
    checked in row blocks (DATA may be a memory-mapped file)."""
    d = arr.shape[0]
    step = max(1, 2**22 // max(d, 1))
    scale = 0.0
    worst = 0.0
    for i in range(0, d, step):
        rows = np.asarray(arr[i : i + step], dtype=np.float64)
        cols = np.asarray(arr[:, i : i + step], dtype=np.float64).T
        if not (np.all(np.isfinite(rows)) and np.all(np.isfinite(cols))):
            return False
        scale = max(scale, float(np.max(np.abs(rows), initial=0.0)))
        worst = max(worst, float(np.max(np.abs(rows - cols), initial=0.0)))
    return worst <= SYMMETRY_RTOL * scale


def check_output_path(path: str, option: str, formats: tuple[str, ...], *, force: bool) -> Path:
    """Check an output file before any work: a suffix we write, an existing writable directory,
    and no existing file that is not one of ours (unless `force`)."""
    target = Path(path)
    if target.suffix.lower() not in formats:
        raise CliError(f"{option}: the file must end in {', '.join(formats)}; got {path!r}.")
    parent = target.parent
    blocker = next((a for a in (parent, *parent.parents) if a.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise CliError(f"{option}: cannot write {target}: {blocker} is a file, not a directory.")
    if not parent.is_dir():
        raise CliError(f"{option}: cannot write {target}: directory {parent} does not exist.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CliError(f"{option}: cannot write {target}: directory {parent} is not writable.")
    if target.is_dir():
        raise CliError(f"{option}: {target} is a directory; give a file name.")
    try:  # the one sure test (root passes os.access anywhere, and /proc refuses new files)
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", dir=parent)
    except OSError as exc:
        raise CliError(
            f"{option}: cannot write {target}: directory {parent} refuses new files "
            f"({exc.strerror or exc})."
        ) from None
    os.close(fd)
    os.unlink(probe)
    if target.exists() and not force and not _is_ours(target):
        raise CliError(
            f"{option}: {target} exists and is not a {target.suffix} file this tool wrote; "
            "pass --force to overwrite it."
        )
    return target


def _is_ours(target: Path) -> bool:
    try:
        with target.open("rb") as f:
            head = f.read(64).lstrip()
    except OSError:
        return False
    return head.startswith(SIGNATURES.get(target.suffix.lower(), (b"\0",)))


def write_atomic(path: str | os.PathLike, write: Callable[[str], Any]) -> Path:
    """Call ``write(tmp_path)`` then move the file into place: written whole or not at all.

    An existing target keeps its permissions (a 0600 file stays 0600); a new one gets those a
    plain open() would give.
    """
    target = Path(path)
    if target.parent and not target.parent.exists():
        raise CliError(f"cannot write {target}: directory {target.parent} does not exist.")
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent or "."
    )
    os.close(fd)
    try:
        write(tmp)
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            # mkstemp creates the file owner-only; give it the permissions a plain open() would.
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "value"):  # enums
        return obj.value
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dump_json(payload: Any) -> str:
    """JSON text for CLI output (numpy arrays and enums converted), under the versioned header of
    the result format (`ppca_stability._base.persist`), so that `ppca_stability.load` reads it."""
    return json.dumps({**json_header(), **payload}, indent=2, default=_default, allow_nan=False)


def add_force_argument(parser: Any) -> None:
    """--force: overwrite an existing output file that this tool did not write."""
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite an existing output file even if it is not one this tool wrote",
    )


def figure_formats() -> tuple[str, ...]:
    """Suffixes of the figure formats matplotlib writes here (it must be installed)."""
    backend_bases = require("matplotlib.backend_bases", "plot", "writing a figure")
    supported = backend_bases.FigureCanvasBase.get_supported_filetypes()
    usual = [".png", ".pdf", ".svg"]
    others = sorted(f".{ext}" for ext in supported if ext not in EXCLUDED_FORMATS)
    return tuple(usual + [ext for ext in others if ext not in usual])


def check_figure_path(path: str, *, force: bool = False) -> Path:
    """The figure path, if its suffix names a format we write and it can be written."""
    return check_output_path(path, "--out", figure_formats(), force=force)


def save_figure(fig: Any, path: Path) -> Path:
    """Save a matplotlib Figure whole or not at all; errors become one-line CLI errors."""
    try:
        return write_atomic(
            path, lambda tmp: fig.savefig(tmp, format=path.suffix[1:].lower(), dpi=FIGURE_DPI)
        )
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc
