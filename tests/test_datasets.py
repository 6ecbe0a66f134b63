"""ppca_stability.datasets: MNIST read from local IDX files, verified, never downloaded.

Oracles: a minimal independent IDX reader (gzip + numpy.frombuffer at the documented header
offsets) for the shared MNIST-test copy; synthetic IDX files with known content for the training
split's structural checks; damaged copies for the checksum and structure errors.
"""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
from _support import MNIST_MISSING, mnist_dir

from ppca_stability.datasets import MNISTData, load_mnist

MNIST = mnist_dir()
needs_mnist = pytest.mark.skipif(MNIST is None, reason=MNIST_MISSING)
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _independent_read(stem: str, header: int) -> np.ndarray:
    with gzip.open(MNIST / f"{stem}.gz", "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


@pytest.fixture(scope="module")
def reference():
    """(images as uint8 (10000, 784), labels) by the independent reader."""
    if MNIST is None:
        pytest.skip(MNIST_MISSING)
    return _independent_read(TEST_FILES[0], 16).reshape(-1, 784), _independent_read(
        TEST_FILES[1], 8
    )


@pytest.fixture(scope="module")
def mnist():
    if MNIST is None:
        pytest.skip(MNIST_MISSING)
    return load_mnist(MNIST)


def _assert_same(data: MNISTData, reference) -> None:
    images, labels = reference
    np.testing.assert_array_equal(data.images, images / 255.0)
    np.testing.assert_array_equal(data.labels, labels)


def _write_idx(path, magic: int, dims: tuple[int, ...], payload: np.ndarray) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    data = header + payload.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=1)
    path.write_bytes(data)


# --------------------------------------------------------------------------- the shared copy


@needs_mnist
@pytest.mark.integration
def test_test_split_shape_range_labels(mnist, reference):
    assert isinstance(mnist, MNISTData) and mnist.split == "test" and mnist.verified == "sha256"
    assert mnist.images.shape == (10_000, 784) and mnist.images.dtype == np.float64
    assert mnist.labels.shape == (10_000,) and mnist.labels.dtype == np.int64
    # grey levels 0..255 scaled by 1/255: both ends occur in MNIST
    assert mnist.images.min() == 0.0 and mnist.images.max() == 1.0
    counts = mnist.label_counts
    assert counts.sum() == 10_000 and counts.min() > 0 and counts.size == 10
    np.testing.assert_array_equal(counts, np.bincount(reference[1], minlength=10))
    _assert_same(mnist, reference)
    text = repr(mnist)
    assert text.startswith("MNISTData(split='test', n_samples=10000, n_features=784)")
    assert f"per digit 0-9: {counts.tolist()}" in text and "verified  sha256" in text


@needs_mnist
@pytest.mark.integration
def test_n_samples_keeps_the_first_rows(mnist):
    head = load_mnist(MNIST, n_samples=100)
    np.testing.assert_array_equal(head.images, mnist.images[:100])
    np.testing.assert_array_equal(head.labels, mnist.labels[:100])


@needs_mnist
@pytest.mark.integration
def test_corrupted_copy_fails_its_checksum(tmp_path):
    for stem in TEST_FILES:
        shutil.copy(MNIST / f"{stem}.gz", tmp_path)
    damaged = tmp_path / f"{TEST_FILES[0]}.gz"
    raw = bytearray(damaged.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one bit
    damaged.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz fails its checksum") as err:
        load_mnist(tmp_path)
    assert "never downloads" in str(err.value) and "expected 8d422c7b" in str(err.value)


@needs_mnist
@pytest.mark.integration
def test_ungzipped_copy_loads_and_is_verified(tmp_path, reference):
    for stem in TEST_FILES:
        with gzip.open(MNIST / f"{stem}.gz", "rb") as src:
            (tmp_path / stem).write_bytes(src.read())
    data = load_mnist(tmp_path)
    assert data.files[0].name == TEST_FILES[0] and data.verified == "sha256"
    _assert_same(data, reference)
    raw = tmp_path / TEST_FILES[1]
    raw.write_bytes(raw.read_bytes()[:-1])  # truncated by one label
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte fails its checksum"):
        load_mnist(tmp_path)


@needs_mnist
@pytest.mark.integration
def test_torchvision_layout_loads(tmp_path, reference):
    """torchvision keeps the distributed .gz and the extracted file side by side in
    <root>/MNIST/raw/; the .gz is read."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in TEST_FILES:
        shutil.copy(MNIST / f"{stem}.gz", raw)
        with gzip.open(MNIST / f"{stem}.gz", "rb") as src:
            (raw / stem).write_bytes(src.read())
    data = load_mnist(tmp_path)
    assert data.files == (raw / f"{TEST_FILES[0]}.gz", raw / f"{TEST_FILES[1]}.gz")
    _assert_same(data, reference)
    assert str(raw) in repr(data)
    # the MNIST folder itself works too
    _assert_same(load_mnist(tmp_path / "MNIST", n_samples=10_000), reference)


@needs_mnist
@pytest.mark.integration
def test_environment_variable_is_the_default(monkeypatch, mnist):
    monkeypatch.setenv("PPCA_STABILITY_MNIST", str(MNIST))
    np.testing.assert_array_equal(load_mnist(n_samples=5).labels, mnist.labels[:5])


# --------------------------------------------------------------------------- absent files, errors


def test_absent_directory_says_how_to_get_the_files(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_mnist(tmp_path / "nowhere")
    msg = str(err.value)
    assert msg.startswith("MNIST test split not found: no t10k-images-idx3-ubyte.gz or")
    assert str(tmp_path / "nowhere" / "MNIST" / "raw") in msg
    assert "never downloads" in msg and "torchvision.datasets.MNIST(root" in msg
    assert "\n" not in msg  # one paragraph


def test_no_path_and_no_environment_variable(monkeypatch):
    monkeypatch.delenv("PPCA_STABILITY_MNIST", raising=False)
    with pytest.raises(FileNotFoundError, match="PPCA_STABILITY_MNIST is not set"):
        load_mnist()


def test_missing_labels_file_is_named(tmp_path):
    _write_idx(tmp_path / "train-images-idx3-ubyte", 0x803, (60_000, 28, 28), np.zeros(0))
    with pytest.raises(FileNotFoundError, match="no train-labels-idx1-ubyte.gz or"):
        load_mnist(tmp_path, split="train")


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(split="validation"), ValueError, "`split` must be one of 'test', 'train'"),
        (dict(n_samples=0), ValueError, "`n_samples` must be a positive integer"),
        (dict(n_samples=10_001), ValueError, r"`n_samples` must be at most 10000"),
        (dict(n_samples=2.5), TypeError, "`n_samples` must be a positive integer"),
        (dict(path=3), TypeError, "`path` must be a directory"),
    ],
)
def test_errors_name_the_parameter(tmp_path, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        load_mnist(**({"path": tmp_path} | kwargs))


# --------------------------------------------------------------------------- the training split


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory):
    """A synthetic training split: image i is filled with the grey level i % 256, label i % 10."""
    d = tmp_path_factory.mktemp("train")
    i = np.arange(60_000)
    images = np.repeat((i % 256).astype(np.uint8)[:, None], 784, axis=1)
    _write_idx(d / "train-images-idx3-ubyte.gz", 0x803, (60_000, 28, 28), images)
    _write_idx(d / "train-labels-idx1-ubyte", 0x801, (60_000,), i % 10)
    return d


def test_train_split_is_checked_by_its_header(train_dir):
    data = load_mnist(train_dir, split="train", n_samples=300)
    assert data.verified == "header" and data.split == "train"
    assert data.images.shape == (300, 784)
    np.testing.assert_array_equal(data.images[:, 0], (np.arange(300) % 256) / 255.0)
    np.testing.assert_array_equal(data.labels, np.arange(300) % 10)
    assert np.all(data.images == data.images[:, :1])  # each synthetic image is one grey level


@pytest.mark.parametrize(
    "magic,dims,n_payload,match",
    [
        (0x801, (60_000, 28, 28), 0, r"has IDX magic 0x00000801 and dimensions \(60000, 28, 28\)"),
        (0x803, (10_000, 28, 28), 0, r"expected 0x00000803 and \(60000, 28, 28\)"),
        (0x803, (60_000, 28, 28), 784, "holds 784 bytes after its header; its header announces"),
    ],
)
def test_train_split_structure_errors(train_dir, tmp_path, magic, dims, n_payload, match):
    shutil.copy(train_dir / "train-labels-idx1-ubyte", tmp_path)
    _write_idx(tmp_path / "train-images-idx3-ubyte", magic, dims, np.zeros(n_payload))
    with pytest.raises(ValueError, match=match):
        load_mnist(tmp_path, split="train")


def test_train_split_label_range_and_gzip_errors(train_dir, tmp_path):
    shutil.copy(train_dir / "train-images-idx3-ubyte.gz", tmp_path)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", 0x801, (60_000,), np.full(60_000, 10))
    with pytest.raises(ValueError, match="holds label 10; MNIST labels are 0 to 9"):
        load_mnist(tmp_path, split="train")
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz is not a readable gzip"):
        load_mnist(tmp_path, split="train")
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="too short"):
        load_mnist(tmp_path, split="train")
