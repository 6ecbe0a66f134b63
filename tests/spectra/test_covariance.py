"""covariance / sample_moments: in memory, chunked, memory-mapped, streamed under a memory budget,
and on Dask arrays (marked slow: a local cluster takes seconds to start; CI runs the slow tests
once, with dask from the ``test`` extra; without dask installed they skip, saying so)."""

import tracemalloc

import numpy as np
import pytest
from _support import EXACT_RTOL, rel_err

from ppca_stability import SampleMoments, covariance, sample_moments
from ppca_stability._cli._io import load_covariance

# Covariance of data offset by OFFSET standard deviations: chunk-shifted Chan merging keeps full
# precision (measured ~1e-15); the textbook E[x x^T] - mu mu^T loses all of it (error ~ 10 x cov).
OFFSET = 1e8
OFFSET_RTOL = 1e-12
NAIVE_LOST = 1e-2
# Dask: the same tolerance as chunked NumPy; both are exact merges of exact per-chunk moments.
DASK_RTOL = EXACT_RTOL
DASK_MISSING = "dask is not installed: pip install 'ppca_stability[dask]'"


def reference_moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Oracle: two passes in memory, the exact mean first (numpy's own np.cov, ddof=0)."""
    return X.mean(axis=0), np.atleast_2d(np.cov(X, rowvar=False, ddof=0))


@pytest.fixture
def data(rng) -> np.ndarray:
    return rng.normal(size=(1003, 13)) @ rng.normal(size=(13, 13)) + rng.normal(size=13)


@pytest.mark.parametrize("chunk_rows", [None, 1, 7, 100, 1003, 5000])
def test_chunked_equals_numpy(data, chunk_rows):
    mean, cov = reference_moments(data)
    m = sample_moments(data, chunk_rows=chunk_rows)
    assert isinstance(m, SampleMoments) and m.n_samples == data.shape[0] and m.n_features == 13
    assert rel_err(m.covariance, cov) < EXACT_RTOL
    assert rel_err(m.mean, mean) < EXACT_RTOL
    assert np.array_equal(m.covariance, m.covariance.T)
    assert rel_err(covariance(data, chunk_rows=chunk_rows), cov) < EXACT_RTOL


def test_memmap_equals_numpy(tmp_path, data):
    path = tmp_path / "data.npy"
    np.save(path, data)
    mm = np.load(path, mmap_mode="r")
    expected = covariance(data)
    for chunk_rows in (None, 10, 333):
        assert rel_err(covariance(mm, chunk_rows=chunk_rows), expected) < EXACT_RTOL
    raw = np.memmap(tmp_path / "raw.bin", dtype=np.float32, mode="w+", shape=data.shape)
    raw[:] = data
    raw.flush()
    assert (
        rel_err(covariance(raw, memory_budget=4096), covariance(np.asarray(raw, dtype=np.float64)))
        < EXACT_RTOL
    )


def test_memory_budget_sets_the_chunk_size(data):
    # One row of 13 float64 is 104 bytes: a 1000-byte budget means 9-row chunks, same answer.
    assert rel_err(covariance(data, memory_budget=1000), covariance(data)) < EXACT_RTOL


def test_digits_and_integer_data(digits):
    X = digits
    _, cov = reference_moments(X)
    assert rel_err(covariance(X, chunk_rows=64), cov) < EXACT_RTOL
    ints = np.arange(12).reshape(4, 3) ** 2
    assert (
        rel_err(covariance(ints, chunk_rows=3), reference_moments(ints.astype(float))[1])
        < EXACT_RTOL
    )


def test_doctest_value_and_single_sample():
    assert np.array_equal(covariance([[0.0, 1.0], [2.0, 3.0]]), np.ones((2, 2)))
    assert np.array_equal(covariance([[5.0, -1.0]]), np.zeros((2, 2)))


@pytest.mark.parametrize("chunk_rows", [None, 7, 64])
def test_large_offset_keeps_precision(chunk_rows, rng):
    spread = rng.normal(size=(4000, 6)) * np.array([1.0, 2.0, 3.0, 0.5, 1e-3, 10.0])
    X = spread + OFFSET
    # X - OFFSET is exact (Sterbenz), so the oracle sees exactly the data we pass, without offset.
    _, cov = reference_moments(X - OFFSET)
    ours = sample_moments(X, chunk_rows=chunk_rows)
    assert rel_err(ours.covariance, cov) < OFFSET_RTOL
    assert np.abs(ours.mean - OFFSET - spread.mean(axis=0)).max() < 1e-15 * OFFSET * 10
    naive = X.T @ X / X.shape[0] - np.outer(X.mean(axis=0), X.mean(axis=0))
    assert rel_err(naive, cov) > NAIVE_LOST  # the textbook formula would have failed here


def test_npy_larger_than_budget_streams(tmp_path, rng):
    """A 20 MiB .npy reduced under a 1 MiB budget: traced allocations stay near the budget.

    tracemalloc sees NumPy's buffers but not the file's pages, which the OS maps in and may drop;
    so this measures exactly what the reduction allocates.
    """
    d, budget = 64, 2**20
    n = 20 * 2**20 // (8 * d)
    path = tmp_path / "big.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    for i in range(0, n, 4096):
        mm[i : i + 4096] = rng.normal(size=(min(4096, n - i), d)) + 3.0
    mm.flush()
    del mm
    data = np.load(path, mmap_mode="r")
    tracemalloc.start()
    try:
        cov = covariance(data, memory_budget=budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * budget, f"peak traced memory {peak / 2**20:.2f} MiB for a 1 MiB budget"
    # the CLI's DATA path streams the same file
    assert rel_err(load_covariance(str(path), is_cov=False), cov) < EXACT_RTOL
    assert rel_err(cov, reference_moments(np.load(path))[1]) < EXACT_RTOL


def test_repr_is_one_line(data):
    text = repr(sample_moments(data))
    assert text.startswith("SampleMoments(n_samples=1003, n_features=13") and "\n" not in text


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ("abc", TypeError, "`data` must be an array of real numbers"),
        (np.ones((3, 2), dtype=complex), TypeError, "`data` must be real"),
        (np.array([[1.0, 2.0], [3.0]], dtype=object), TypeError, "object array"),
        (np.array([["a", "b"]]), TypeError, "`data` must be an array of real numbers"),
        (np.ones(5), ValueError, r"`data` must be a 2-D .*reshape"),
        (np.ones((2, 2, 2)), ValueError, "`data` must be a 2-D"),
        (np.ones((0, 3)), ValueError, "`data` must have at least one sample"),
        (
            np.array([[1.0, np.nan], [2.0, 3.0]]),
            ValueError,
            "`data` must contain only finite values",
        ),
        (
            np.array([[1.0, np.inf], [2.0, 3.0]]),
            ValueError,
            "`data` must contain only finite values",
        ),
        (np.array([[1e200, 0.0], [-1e200, 1.0]]), ValueError, "rescale"),
    ],
)
def test_bad_data(bad, error, match):
    with pytest.raises(error, match=match):
        covariance(bad)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"chunk_rows": 0}, ValueError, "`chunk_rows` must be a positive integer"),
        ({"chunk_rows": 2.5}, TypeError, "`chunk_rows` must be a positive integer"),
        ({"memory_budget": -1}, ValueError, "`memory_budget` must be a positive integer"),
        ({"memory_budget": True}, TypeError, "`memory_budget`"),
    ],
)
def test_bad_chunking(data, kwargs, error, match):
    with pytest.raises(error, match=match):
        covariance(data, **kwargs)


# ----------------------------------------------------------------------------- Dask
@pytest.fixture(scope="module")
def da():
    return pytest.importorskip("dask.array", reason=DASK_MISSING)


@pytest.fixture(scope="module")
def client(da):
    distributed = pytest.importorskip(
        "distributed", reason=DASK_MISSING.replace("dask", "dask.distributed", 1)
    )
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.fixture
def dask_data(rng) -> np.ndarray:
    return rng.normal(size=(5000, 40)) @ rng.normal(size=(40, 40)) + 1e6 * rng.normal(size=40)


@pytest.mark.slow
def test_dask_local_cluster_matches_numpy(da, client, dask_data):
    X = da.from_array(dask_data, chunks=(333, 15))  # uneven row blocks, columns split too
    m = sample_moments(X)
    assert type(m.covariance) is np.ndarray and m.n_samples == dask_data.shape[0]
    assert rel_err(m.covariance, covariance(dask_data)) < DASK_RTOL
    assert rel_err(m.mean, dask_data.mean(axis=0)) < DASK_RTOL
    assert np.array_equal(m.covariance, m.covariance.T)
    # the work really ran on the cluster's two workers
    assert len(client.scheduler_info()["workers"]) == 2


@pytest.mark.slow
def test_dask_rechunked_rows_and_lazy_source(da, client, dask_data):
    # A lazily generated array (no NumPy copy on the client): the graph is built, then reduced.
    X = da.from_array(dask_data, chunks=(1000, 40)) * 2.0 - 3.0
    assert rel_err(covariance(X, chunk_rows=700), 4.0 * covariance(dask_data)) < DASK_RTOL


@pytest.mark.slow
def test_dask_threaded_scheduler(da, dask_data):
    # The same code on dask's local threaded scheduler, forced even while a cluster client is
    # active.
    import dask

    with dask.config.set(scheduler="threads"):
        got = covariance(da.from_array(dask_data, chunks=(512, 40)))
    assert rel_err(got, covariance(dask_data)) < DASK_RTOL


@pytest.mark.slow
def test_bad_dask_input(da):
    with pytest.raises(ValueError, match="`data` must be a 2-D"):
        covariance(da.ones(5, chunks=2))
    with pytest.raises(TypeError, match="`data` must be real"):
        covariance(da.ones((3, 2), chunks=2, dtype=complex))
    bad = da.from_array(np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]]), chunks=(1, 2))
    with pytest.raises(ValueError, match="`data` must contain only finite values"):
        covariance(bad)


# ----------------------------------------------------------------------------- containers (§3)
def test_masked_arrays_are_refused_not_silently_unmasked():
    # Regression: covariance() dropped the mask and used the hidden values.
    X = np.ma.masked_array(np.arange(6.0).reshape(3, 2), mask=[[0, 1], [0, 0], [0, 0]])
    with pytest.raises(TypeError, match="`data` is a masked array; masks are not supported"):
        covariance(X)


def test_none_and_sparse_get_their_own_messages():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="`data` must be an array of real numbers; got None"):
        covariance(None)
    with pytest.raises(TypeError, match=r"scipy sparse .*data\.toarray\(\)"):
        covariance(scipy_sparse.random(5, 3, density=0.5, format="csr", random_state=0))


def test_nullable_pandas_frames_are_named():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64"), "b": [1.0, 2.0, 3.0]})
    with pytest.raises(TypeError, match=r"pandas object .*missing values"):
        covariance(frame)


def test_dask_unknown_row_chunks_say_how_to_fix(da, rng):
    # Regression: boolean indexing leaves NaN row chunks, which failed inside Dask.
    X = da.from_array(rng.normal(size=(100, 3)), chunks=(10, 3))
    with pytest.raises(ValueError, match=r"unknown row chunk sizes.*compute_chunk_sizes\(\)"):
        covariance(X[X[:, 0] > 0])
