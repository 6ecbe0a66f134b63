"""Real data for the examples and the deep-VAE checks: MNIST, read from files you already have.

Import it explicitly (``from ppca_stability.datasets import load_mnist``). NumPy only; nothing here
downloads anything.

`load_mnist()` reads the IDX files of the MNIST database (LeCun, Cortes & Burges) as they are
distributed - ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` for the test split,
``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz`` for the training split, gzipped
or not - from a directory of its own or from torchvision's cache (``<root>/MNIST/raw/``).

What is verified before a file is trusted:

* test split: the sha256 of each file, against the digests below. For the ``.gz`` files they are the
  published digests of the distributed files (md5 ``9fb629c4...`` and ``ec29112d...``, the values
  torchvision checks), re-measured on a copy whose md5 matched; for the ungzipped files they are
  the digests of that copy's decompressed bytes.
* training split: no reference copy of it was available to confirm digests against, so none are
  hard-coded; the IDX header (magic number, 60 000 images of 28 x 28), the exact file length and the
  label range are checked instead (`MNISTData.verified` says which check was made).
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._base.validation import check_choice, check_positive_int, describe

__all__ = ["MNISTData", "load_mnist"]

SPLITS = ("test", "train")
# Environment variable consulted when `path` is None.
PATH_VARIABLE = "PPCA_STABILITY_MNIST"
IMAGE_SIDE = 28
N_PIXELS = IMAGE_SIDE * IMAGE_SIDE
N_CLASSES = 10
# (file stem, IDX magic number, dimensions) per split; the magic 0x0000 08 0k is "unsigned byte,
# k dimensions".
_FILES = {
    "test": (
        ("t10k-images-idx3-ubyte", 0x00000803, (10_000, IMAGE_SIDE, IMAGE_SIDE)),
        ("t10k-labels-idx1-ubyte", 0x00000801, (10_000,)),
    ),
    "train": (
        ("train-images-idx3-ubyte", 0x00000803, (60_000, IMAGE_SIDE, IMAGE_SIDE)),
        ("train-labels-idx1-ubyte", 0x00000801, (60_000,)),
    ),
}
# sha256 of the test split as distributed (.gz) and decompressed; see the module notes.
_SHA256: Mapping[str, str] = {
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
_HOW_TO_GET = (
    "ppca_stability never downloads data. Get the two files of the split as distributed by the "
    "MNIST database (for example from https://ossci-datasets.s3.amazonaws.com/mnist/, the mirror "
    "torchvision uses) into one directory and pass it as `path`, or let torchvision fetch them "
    "once with torchvision.datasets.MNIST(root, train=..., download=True) and pass that `root`; "
    f"setting the environment variable {PATH_VARIABLE} to the directory makes it the default."
)


@dataclass(frozen=True, eq=False, slots=True)
class MNISTData:
    """MNIST images and labels, as `load_mnist()` returns them.

    Attributes
    ----------
    images : ndarray, shape (n_samples, 784)
        float64 grey levels in [0, 1] (the stored bytes divided by 255), one flattened 28 x 28
        image per row, row-major (``images[i].reshape(28, 28)`` is the picture).
    labels : ndarray of int64, shape (n_samples,)
        The digit, 0 to 9.
    split : str
        ``"test"`` or ``"train"``.
    files : tuple of pathlib.Path
        The image and label files read.
    verified : str
        ``"sha256"`` (both files matched the known digests) or ``"header"`` (IDX header, length
        and label range only; the training split).
    """

    images: np.ndarray
    labels: np.ndarray
    split: str
    files: tuple[Path, Path]
    verified: str

    @property
    def n_samples(self) -> int:
        return int(self.labels.size)

    @property
    def label_counts(self) -> np.ndarray:
        """Images per digit, int (10,)."""
        return np.bincount(self.labels, minlength=N_CLASSES)

    def __repr__(self) -> str:
        return "\n".join(
            [
                f"MNISTData(split={self.split!r}, n_samples={self.n_samples}, "
                f"n_features={self.images.shape[1]})",
                f"  images    float64 in [{self.images.min():g}, {self.images.max():g}]",
                f"  labels    per digit 0-9: {self.label_counts.tolist()}",
                f"  read from {self.files[0].parent}",
                f"  verified  {self.verified}",
            ]
        )


def _load_mnist_iv(path: Any, split: Any, n_samples: Any) -> tuple[list[Path], str, int | None]:
    split = check_choice(split, "split", SPLITS)
    if path is None:
        env = os.environ.get(PATH_VARIABLE)
        if not env:
            raise FileNotFoundError(
                f"MNIST: no `path` given and the environment variable {PATH_VARIABLE} is not set. "
                + _HOW_TO_GET
            )
        path = env
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"`path` must be a directory (str or os.PathLike) or None; got "
            f"{type(path).__name__} {describe(path)}."
        )
    root = Path(path).expanduser()
    n_max = _FILES[split][0][2][0]
    n = None if n_samples is None else check_positive_int(n_samples, "n_samples", upper=n_max)
    # The directory itself, torchvision's layout under a root, and under <root>/MNIST.
    return [root, root / "MNIST" / "raw", root / "raw"], split, n


def _find(dirs: list[Path], stem: str) -> Path | None:
    for d in dirs:
        for name in (stem + ".gz", stem):
            if (d / name).is_file():
                return d / name
    return None


def _read_verified(file: Path, split: str) -> tuple[bytes, bool]:
    """The decompressed bytes of `file`, and whether a known digest was checked."""
    raw = file.read_bytes()
    expected = _SHA256.get(file.name) if split == "test" else None
    if expected is not None:
        got = hashlib.sha256(raw).hexdigest()
        if got != expected:
            raise ValueError(
                f"MNIST: {file} fails its checksum (sha256 {got}, expected {expected}): the file "
                "is corrupted or truncated, or is not the file the MNIST database distributes. "
                "Delete it and get it again. " + _HOW_TO_GET
            )
    if file.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"MNIST: {file} is not a readable gzip file ({exc}).") from None
    return raw, expected is not None


def _parse_idx(raw: bytes, file: Path, magic: int, dims: tuple[int, ...]) -> np.ndarray:
    """The uint8 payload of an IDX file, after checking its header and length."""
    header = 4 + 4 * len(dims)
    if len(raw) < header:
        raise ValueError(f"MNIST: {file} is too short ({len(raw)} bytes) to hold an IDX header.")
    got_magic = int.from_bytes(raw[:4], "big")
    got_dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(len(dims)))
    if got_magic != magic or got_dims != dims:
        raise ValueError(
            f"MNIST: {file} has IDX magic {got_magic:#010x} and dimensions {got_dims}; expected "
            f"{magic:#010x} and {dims}. Is it the right file for this split?"
        )
    size = int(np.prod(dims))
    if len(raw) != header + size:
        raise ValueError(
            f"MNIST: {file} holds {len(raw) - header} bytes after its header; its header "
            f"announces {size}. The file is truncated or corrupted."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    split: str = "test",
    n_samples: int | None = None,
) -> MNISTData:
    """Read MNIST from local IDX files, verify them, and return float64 images in [0, 1].

    Parameters
    ----------
    path : str or os.PathLike, optional
        A directory holding the split's two files (``t10k-images-idx3-ubyte`` and
        ``t10k-labels-idx1-ubyte`` for the test split, ``train-...`` for the training split), each
        gzipped (``.gz``, as distributed) or not; or torchvision's root, whose ``MNIST/raw/`` holds
        them. A ``.gz`` file is preferred when both are present. Default: the directory in the
        environment variable ``PPCA_STABILITY_MNIST``.
    split : {"test", "train"}, default "test"
        The 10 000 test images or the 60 000 training images.
    n_samples : int, optional
        Keep only the first `n_samples` images, in file order (the whole file is still read and
        verified).

    Returns
    -------
    MNISTData
        ``.images`` (n_samples, 784) float64 in [0, 1], ``.labels`` (n_samples,) int64.

    Raises
    ------
    FileNotFoundError
        When the files are not there; the message says how to get them.
    ValueError
        When a file fails its checksum (test split) or its IDX header, length or labels are wrong.

    Notes
    -----
    Never downloads. The test split is verified by sha256 (the digests of the files as
    distributed, and of their decompressed bytes); for the training split only the IDX structure is
    checked (see the module notes for why).

    Examples
    --------
    >>> from ppca_stability.datasets import load_mnist
    >>> mnist = load_mnist("~/data", n_samples=2000)            # doctest: +SKIP
    >>> mnist.images.shape, mnist.images.dtype                  # doctest: +SKIP
    ((2000, 784), dtype('float64'))

    Without the files, the error says how to get them:

    >>> load_mnist("/nonexistent")                              # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: MNIST test split not found: ... never downloads data. ...
    """
    dirs, split, n = _load_mnist_iv(path, split, n_samples)
    files = []
    for stem, _, _ in _FILES[split]:
        file = _find(dirs, stem)
        if file is None:
            looked = ", ".join(str(d) for d in dirs)
            raise FileNotFoundError(
                f"MNIST {split} split not found: no {stem}.gz or {stem} in {looked}. " + _HOW_TO_GET
            )
        files.append(file)
    arrays, checked = [], []
    for file, (_, magic, dims) in zip(files, _FILES[split]):
        raw, was_checked = _read_verified(file, split)
        arrays.append(_parse_idx(raw, file, magic, dims))
        checked.append(was_checked)
    images, labels = arrays
    if labels.max() >= N_CLASSES:
        raise ValueError(
            f"MNIST: {files[1]} holds label {int(labels.max())}; MNIST labels are 0 to 9."
        )
    keep = slice(None) if n is None else slice(0, n)
    return MNISTData(
        images=images[keep].reshape(-1, N_PIXELS) / 255.0,
        labels=labels[keep].astype(np.int64),
        split=split,
        files=(files[0], files[1]),
        verified="sha256" if all(checked) else "header",
    )
