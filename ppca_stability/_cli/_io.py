"""File input and output shared by the sub-commands: loading DATA, writing files atomically."""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._covariance import covariance

__all__ = [
    "CliError",
    "add_data_arguments",
    "add_force_argument",
    "check_feature_count",
    "check_figure_path",
    "check_output_path",
    "dump_json",
    "load_covariance",
    "load_matrix",
    "parse_sigma2",
    "save_figure",
    "write_atomic",
]

FIGURE_FORMATS = (".png", ".svg", ".pdf")
# How a file we write starts, by suffix: an existing file that does not is not ours, and is
# overwritten only with --force.
SIGNATURES = {".png": (b"\x89PNG",), ".pdf": (b"%PDF",), ".svg": (b"<?xml", b"<svg")}
# d x d float64 matrices alive at once for a covariance and its eigendecomposition: the matrix,
# its symmetrised copy, eigh's working copy (which becomes the eigenvectors) and syevd's
# workspace of about 2 d^2.
COV_COPIES = 5
# Resolution of raster figures.
FIGURE_DPI = 150


class CliError(Exception):
    """A problem with the command line or its files, reported as one line with exit code 2."""


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


def _csv_columns(p: Path, delimiter: str) -> int:
    """Columns of the first non-comment line, read in bounded pieces: a 10^6-column line is
    counted without building a row of floats."""
    with p.open("rb") as f:
        for line in f:
            if line.strip() and not line.lstrip().startswith(b"#"):
                return line.count(delimiter.encode()) + 1
    return 0


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
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{name}: no such file: {path}")
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
            delimiter = "\t" if suffix == ".tsv" else ","
            check_feature_count(_csv_columns(p, delimiter), path, name)
            arr = np.loadtxt(p, delimiter=delimiter, ndmin=2, dtype=np.float64)
        else:
            raise CliError(f"{name}: unsupported file type {suffix!r}; use .npy or .csv.")
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
    arr = load_matrix(path)
    if is_cov:
        return np.asarray(arr, dtype=np.float64)
    return covariance(arr)


def check_output_path(path: str, option: str, formats: tuple[str, ...], *, force: bool) -> Path:
    """Check an output file before any work: a suffix we write, an existing writable directory,
    and no existing file that is not one of ours (unless `force`)."""
    target = Path(path)
    if target.suffix.lower() not in formats:
        raise CliError(f"{option}: the file must end in {', '.join(formats)}; got {path!r}.")
    parent = target.parent
    if not parent.is_dir():
        raise CliError(f"{option}: cannot write {target}: directory {parent} does not exist.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CliError(f"{option}: cannot write {target}: directory {parent} is not writable.")
    if target.is_dir():
        raise CliError(f"{option}: {target} is a directory; give a file name.")
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
    """JSON text for CLI output (numpy arrays and enums converted)."""
    return json.dumps(payload, indent=2, default=_default, allow_nan=False)


def parse_sigma2(text: str) -> float | str:
    if text == "learned":
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f'`--sigma2` must be a positive number or "learned"; got {text!r}.'
        ) from None


def add_force_argument(parser: Any) -> None:
    """--force: overwrite an existing output file that this tool did not write."""
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite an existing output file even if it is not one this tool wrote",
    )


def check_figure_path(path: str, *, force: bool = False) -> Path:
    """The figure path, if its suffix names a format we write and it can be written."""
    return check_output_path(path, "--out", FIGURE_FORMATS, force=force)


def save_figure(fig: Any, path: Path) -> Path:
    """Save a matplotlib Figure whole or not at all; errors become one-line CLI errors."""
    try:
        return write_atomic(
            path, lambda tmp: fig.savefig(tmp, format=path.suffix[1:].lower(), dpi=FIGURE_DPI)
        )
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc
