"""File input and output shared by the sub-commands: loading DATA, writing files atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._covariance import covariance

__all__ = [
    "CliError",
    "add_data_arguments",
    "check_figure_path",
    "dump_json",
    "load_covariance",
    "load_matrix",
    "parse_sigma2",
    "save_figure",
    "write_atomic",
]

FIGURE_FORMATS = (".png", ".svg", ".pdf")
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


def load_matrix(path: str, name: str = "DATA") -> np.ndarray:
    """Read a 2-D float array from a ``.npy`` or ``.csv``/``.txt`` file."""
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{name}: no such file: {path}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        elif suffix in {".csv", ".txt", ".tsv"}:
            delimiter = "\t" if suffix == ".tsv" else ","
            arr = np.loadtxt(p, delimiter=delimiter, ndmin=2, dtype=np.float64)
        else:
            raise CliError(f"{name}: unsupported file type {suffix!r}; use .npy or .csv.")
    except CliError:
        raise
    except Exception as exc:  # numpy's parse errors come in many classes
        raise CliError(f"{name}: cannot read {path}: {exc}".splitlines()[0]) from exc
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


def write_atomic(path: str | os.PathLike, write: Callable[[str], Any]) -> Path:
    """Call ``write(tmp_path)`` then move the file into place: written whole or not at all."""
    target = Path(path)
    if target.parent and not target.parent.exists():
        raise CliError(f"cannot write {target}: directory {target.parent} does not exist.")
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent or "."
    )
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates the file owner-only; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
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


def check_figure_path(path: str) -> Path:
    """The figure path, if its suffix names a format we write."""
    target = Path(path)
    if target.suffix.lower() not in FIGURE_FORMATS:
        raise CliError(f"--out: the figure must end in {', '.join(FIGURE_FORMATS)}; got {path!r}.")
    return target


def save_figure(fig: Any, path: Path) -> Path:
    """Save a matplotlib Figure whole or not at all; errors become one-line CLI errors."""
    try:
        return write_atomic(
            path, lambda tmp: fig.savefig(tmp, format=path.suffix[1:].lower(), dpi=FIGURE_DPI)
        )
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc
