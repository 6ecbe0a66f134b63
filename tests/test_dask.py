"""covariance on Dask arrays: a chunked reduction on the active scheduler, checked against NumPy.

Marked slow (a local cluster takes seconds to start); CI runs the slow tests once, with dask from
the ``test`` extra. Without dask installed these tests skip, saying so.
"""

import numpy as np
import pytest

from ppca_stability import covariance, sample_moments

from _support import EXACT_RTOL, rel_err

da = pytest.importorskip("dask.array", reason="dask is not installed: pip install 'ppca_stability[dask]'")
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed: "
                                  "pip install 'ppca_stability[dask]'")

pytestmark = pytest.mark.slow

# The same tolerance as chunked NumPy: both are exact merges of exact per-chunk moments.
DASK_RTOL = EXACT_RTOL


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(5000, 40)) @ rng.normal(size=(40, 40)) + 1e6 * rng.normal(size=40)


def test_local_cluster_matches_numpy(client, data):
    X = da.from_array(data, chunks=(333, 15))  # uneven row blocks, columns split too
    m = sample_moments(X)
    assert type(m.covariance) is np.ndarray and m.n_samples == data.shape[0]
    assert rel_err(m.covariance, covariance(data)) < DASK_RTOL
    assert rel_err(m.mean, data.mean(axis=0)) < DASK_RTOL
    assert np.array_equal(m.covariance, m.covariance.T)
    # the work really ran on the cluster's two workers
    assert len(client.scheduler_info()["workers"]) == 2


def test_rechunked_rows_and_lazy_source(client, data):
    # A lazily generated array (no NumPy copy on the client): the graph is built, then reduced.
    X = da.from_array(data, chunks=(1000, 40)) * 2.0 - 3.0
    assert rel_err(covariance(X, chunk_rows=700), 4.0 * covariance(data)) < DASK_RTOL


def test_threaded_scheduler(data):
    # The same code on dask's local threaded scheduler, forced even while a cluster client is active.
    import dask

    with dask.config.set(scheduler="threads"):
        got = covariance(da.from_array(data, chunks=(512, 40)))
    assert rel_err(got, covariance(data)) < DASK_RTOL


def test_bad_dask_input():
    with pytest.raises(ValueError, match="`data` must be a 2-D"):
        covariance(da.ones(5, chunks=2))
    with pytest.raises(TypeError, match="`data` must be real"):
        covariance(da.ones((3, 2), chunks=2, dtype=complex))
    bad = da.from_array(np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]]), chunks=(1, 2))
    with pytest.raises(ValueError, match="`data` must contain only finite values"):
        covariance(bad)
