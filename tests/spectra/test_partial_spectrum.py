"""Partial spectra: the top eigenpairs from a covariance or from data give the same maps, fits and
phase diagrams as the complete decomposition, and questions they cannot answer raise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as hs

from ppca_stability import (
    Spectrum,
    covariance,
    elbo_stability_map,
    phase_diagram,
    ppca_mle,
    spectrum,
    stability_map,
)
from ppca_stability._base.tolerance import DEFAULT_RTOL
from ppca_stability._spectra.container import from_eigenpairs
from ppca_stability._spectra.spectrum import dense_cut
from ppca_stability._spectra.sylvester import count_above
from ppca_stability.exceptions import DegeneracyWarning

# Same answers from two exact routes (LAPACK on a subset vs the whole): round-off only.
EXACT_RTOL = 1e-12
# The data route against the covariance route (the acceptance tolerances of the partial solver).
LOGLIK_RTOL = 1e-9
LOADINGS_ATOL = 1e-7


@pytest.fixture(autouse=True)
def _partial_route_from_512_features(monkeypatch):
    """The automatic partial routes at the sizes these tests use (d = 600): their size rule
    (from 1024 features, `route.PARTIAL_MIN_FEATURES`) is a speed choice; what is tested here
    is that the routes give the complete route's answers."""
    from ppca_stability._ppca import route

    monkeypatch.setattr(route, "PARTIAL_MIN_FEATURES", 512)


def _cov(lam: np.ndarray, seed: int) -> np.ndarray:
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((lam.size, lam.size)))
    return from_eigenpairs(lam, Q)


def _spiked_data(n: int, d: int, spikes: np.ndarray, seed: int, offset: float = 0.0):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((d, spikes.size)))
    return (
        rng.standard_normal((n, d))
        + (rng.standard_normal((n, spikes.size)) * np.sqrt(spikes)) @ U.T
        + offset
    )


def _same_map(a, b, *, loglik_rtol=EXACT_RTOL, loadings_atol=1e-10) -> None:
    assert a.n_points == b.n_points
    assert a.census() == b.census()
    assert a.stability_counts() == b.stability_counts()
    ga, gb = a.global_maximum, b.global_maximum
    assert ga.active == gb.active and ga.stability == gb.stability
    assert ga.log_likelihood == pytest.approx(gb.log_likelihood, rel=loglik_rtol)
    np.testing.assert_allclose(
        ga.loadings @ ga.loadings.T, gb.loadings @ gb.loadings.T, atol=loadings_atol
    )


# ----------------------------------------------------------------------------- cov route
SPECTRA = {
    "distinct": (np.geomspace(20.0, 0.01, 40), 0.5),
    "ties at the cut": (np.r_[9.0, 7.0, 3.0, 3.0, 3.0, np.geomspace(2.0, 0.01, 35)], 3.0),
    "sigma2 within rtol": (np.r_[9.0, 7.0, 5.0, np.geomspace(2.0, 0.01, 37)], 5.0 * (1 + 1e-11)),
    "rank deficient": (np.r_[np.geomspace(10.0, 1.0, 12), np.zeros(28)], 2.0),
}


@pytest.mark.parametrize("name", SPECTRA)
def test_partial_spectrum_map_equals_complete(name):
    lam, s = SPECTRA[name]
    cov = _cov(lam, 1)
    top = spectrum(cov, above=s)
    assert not top.is_complete and top.n_features == lam.size
    assert top.trace == pytest.approx(lam.sum(), rel=EXACT_RTOL)
    degenerate = name in ("ties at the cut", "sigma2 within rtol")
    with pytest.warns(DegeneracyWarning) if degenerate else _no_warning():
        partial = stability_map(top, s, latent_dim=3)
    with pytest.warns(DegeneracyWarning) if degenerate else _no_warning():
        complete = stability_map(spectrum(cov), s, latent_dim=3)
    _same_map(partial, complete)
    assert [p.active for p in partial.points] == [p.active for p in complete.points]
    assert [p.morse_index for p in partial.points] == [p.morse_index for p in complete.points]


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_learned_sigma2_from_a_partial_spectrum_needs_only_the_trace():
    # Every s_I is at least (trace - top 4) / 56 > 1.5, above every eigenvalue not held.
    lam = np.r_[np.linspace(30.0, 20.0, 8), np.geomspace(0.5, 0.1, 52)]
    cov = _cov(lam, 2)
    top = spectrum(cov, above=1.0)
    assert top.eigenvalues.size == 8
    partial, complete = (
        stability_map(top, "learned", latent_dim=4),
        stability_map(spectrum(cov), "learned", latent_dim=4),
    )
    _same_map(partial, complete)
    fit_p, fit_c = ppca_mle(top, 4), ppca_mle(cov, 4)
    # sigma2_ML is the mean of the discarded eigenvalues: (trace - top 4) / (d - 4).
    assert fit_p.sigma2 == pytest.approx((lam.sum() - lam[:4].sum()) / 56, rel=1e-10)
    assert fit_p.sigma2 == pytest.approx(fit_c.sigma2, rel=EXACT_RTOL)
    without_trace = Spectrum(top.eigenvalues, top.eigenvectors, top.n_features)
    with pytest.raises(ValueError, match="total variance"):
        ppca_mle(without_trace, 4)


def test_stability_map_takes_the_partial_route_itself_with_the_same_answers():
    d = 600
    lam = np.r_[np.linspace(50.0, 2.0, 30), np.geomspace(1.0, 1e-3, d - 30)]
    cov = _cov(lam, 3)
    auto = stability_map(cov, 1.5, latent_dim=5)
    assert not auto.spectrum.is_complete and auto.spectrum.eigenvalues.size < d
    complete = stability_map(spectrum(cov), 1.5, latent_dim=5)
    _same_map(auto, complete)
    # Many eigenvalues above sigma2: the top few do not settle the count; decomposed whole.
    assert stability_map(cov, 1e-2, latent_dim=5).spectrum.is_complete
    # The full Hessian spectrum of a point is computed on demand from the covariance.
    np.testing.assert_allclose(
        auto.global_maximum.hessian_eigenvalues,
        complete.global_maximum.hessian_eigenvalues,
        rtol=1e-9,
        atol=1e-12,
    )


def test_phase_diagram_and_fixed_mle_from_a_partial_spectrum():
    lam = np.r_[8.0, 6.0, 4.0, 3.0, np.geomspace(1.0, 0.01, 36)]
    cov = _cov(lam, 4)
    grid = np.array([1.5, 3.0, 3.5, 5.0, 10.0])
    top = spectrum(cov, above=1.2)
    a, b = (
        phase_diagram(top, latent_dim=2, sigma2=grid),
        phase_diagram(cov, latent_dim=2, sigma2=grid),
    )
    assert a.n_points == b.n_points and a.n_features == b.n_features
    np.testing.assert_array_equal(a.n_above, b.n_above)
    np.testing.assert_allclose(a.max_log_likelihood, b.max_log_likelihood, rtol=EXACT_RTOL)
    assert [dict(c) for c in a.stability_counts] == [dict(c) for c in b.stability_counts]
    # sigma2_ML = 0.40 lies below eigenvalues this spectrum lacks: it cannot settle it.
    assert b.sigma2_learned < 1.2 and a.sigma2_learned is None
    fa, fb = ppca_mle(top, 3, sigma2=2.0), ppca_mle(cov, 3, sigma2=2.0)
    assert fa.log_likelihood == pytest.approx(fb.log_likelihood, rel=EXACT_RTOL)


# ----------------------------------------------------------------------------- data route
@pytest.mark.parametrize("offset", [0.0, 3.0, 1e3])
def test_data_route_equals_covariance_route(tmp_path, offset):
    # Offsets 0 and 3 fold the centring into the operator's products; 1e3 (a mean far beyond
    # the spread) centres each chunk in a copy.
    X = _spiked_data(400, 120, np.linspace(40.0, 8.0, 6), seed=5, offset=offset)
    s = 4.5  # above the noise bulk (at most (1 + sqrt(120/400))^2 < 2.4)
    path = tmp_path / "x.npy"
    np.save(path, X)
    complete = stability_map(covariance(X), s, latent_dim=3)
    for data in (X, np.load(path, mmap_mode="r")):
        top = spectrum(data=data, above=s, rng=0)
        assert top.eigenvalues.size == complete.n_above
        _same_map(
            stability_map(top, s, latent_dim=3),
            complete,
            loglik_rtol=LOGLIK_RTOL,
            loadings_atol=LOADINGS_ATOL,
        )


def test_data_route_top_components_and_rank_deficient_data():
    X = _spiked_data(30, 80, np.linspace(20.0, 5.0, 4), seed=6)  # rank 29 < d
    top = spectrum(data=X, n_components=10, rng=1)
    full = spectrum(covariance(X))
    np.testing.assert_allclose(top.eigenvalues, full.eigenvalues[:10], rtol=1e-9)
    assert top.trace == pytest.approx(full.eigenvalues.sum(), rel=1e-12)
    s = float(full.eigenvalues[12] + full.eigenvalues[13]) / 2
    cut = spectrum(data=X, above=s, rng=1)
    _same_map(
        stability_map(cut, s, latent_dim=2),
        stability_map(full, s, latent_dim=2),
        loglik_rtol=LOGLIK_RTOL,
        loadings_atol=LOADINGS_ATOL,
    )


# A cut inside the noise bulk: about 100 of the covariance's eigenvalues lie above it, beyond the
# Krylov method's limit of 64 at this size, so the exact route answers (the n x n Gram matrix
# for n < d, the d x d covariance for n > d). Bulks (Marchenko-Pastur, unit noise): about
# [0.4, 6.9] for (150, 400) and [0.15, 2.6] for (400, 150).
BULK_CASES = [(150, 400, 1.0), (400, 150, 0.5)]


def _calls(monkeypatch, module, name):
    calls = []
    inner = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append(name)
        return inner(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


def _same_top(top, full, above) -> None:
    r = top.eigenvalues.size
    assert r == int(np.count_nonzero(full.eigenvalues > top.rest_max))
    assert full.eigenvalues[r] <= top.rest_max < above <= full.eigenvalues[r - 1]
    np.testing.assert_allclose(
        top.eigenvalues, full.eigenvalues[:r], rtol=0, atol=1e-12 * full.eigenvalues[0]
    )
    overlap = np.abs(np.sum(top.eigenvectors * full.eigenvectors[:, :r], axis=0))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-8)


@pytest.mark.parametrize(("n", "d", "above"), BULK_CASES)
def test_data_route_with_a_cut_inside_the_bulk_answers_exactly_by_gram_or_covariance(
    monkeypatch, tmp_path, capsys, n, d, above
):
    from ppca_stability._spectra import partial as _partial
    from ppca_stability._spectra import spectrum as _spectrum

    X = _spiked_data(n, d, np.linspace(40.0, 10.0, 4), seed=n, offset=2.0)
    full = spectrum(covariance(X))
    assert int(np.count_nonzero(full.eigenvalues > above)) > 64
    gram = _calls(monkeypatch, _partial, "gram_eigh")
    dense = _calls(monkeypatch, _spectrum, "dense_partial")
    # Column blocks of 100 kB: the Gram matrix and the eigenvectors are summed over several.
    monkeypatch.setattr(_partial, "GRAM_CHUNK", 100_000)
    path = tmp_path / "x.npy"
    np.save(path, X)
    for data in (X, np.load(path, mmap_mode="r")):
        top = spectrum(data=data, above=above, rng=0)
        _same_top(top, full, above)
        assert top.trace == pytest.approx(full.eigenvalues.sum(), rel=1e-12)
    assert (len(gram), len(dense)) == ((2, 0) if n < d else (0, 2))
    values_only = spectrum(data=X, above=above, rng=0, vectors=False, progress=True)
    assert values_only.eigenvectors is None
    assert ("Gram matrix" in capsys.readouterr().err) == (n < d)
    # The same eigenvalues to round-off (LAPACK's values-only driver may differ in the last ulps).
    np.testing.assert_allclose(
        values_only.eigenvalues, top.eigenvalues, rtol=0, atol=1e-13 * full.eigenvalues[0]
    )
    _same_map(
        stability_map(top, above, latent_dim=5),
        stability_map(covariance(X), above, latent_dim=5),
        loglik_rtol=LOGLIK_RTOL,
        loadings_atol=LOADINGS_ATOL,
    )


def test_data_route_over_its_budget_of_passes_answers_top_components_exactly(monkeypatch):
    from ppca_stability._spectra import partial as _partial
    from ppca_stability._spectra import spectrum as _spectrum

    n, d = 150, 400
    X = _spiked_data(n, d, np.linspace(40.0, 10.0, 4), seed=3)
    full = spectrum(covariance(X))
    monkeypatch.setattr(_partial, "MIN_DENSE_PASSES", 1)
    monkeypatch.setattr(_spectrum, "EXACT_COST_FACTOR", 0.0)
    gram = _calls(monkeypatch, _partial, "gram_eigh")
    top = spectrum(data=X, n_components=20, rng=0)
    assert gram
    np.testing.assert_allclose(top.eigenvalues, full.eigenvalues[:20], rtol=1e-12)
    overlap = np.abs(np.sum(top.eigenvectors * full.eigenvectors[:, :20], axis=0))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-8)
    # More components than the data's rank (n - 1): the zero ones need the covariance.
    beyond = spectrum(data=X, n_components=n + 5, rng=0)
    np.testing.assert_allclose(
        beyond.eigenvalues, full.eigenvalues[: n + 5], rtol=0, atol=1e-12 * full.eigenvalues[0]
    )
    assert np.count_nonzero(beyond.eigenvalues) == n - 1


def test_data_route_on_dask_with_a_cut_inside_the_bulk_uses_the_gram_matrix():
    da = pytest.importorskip("dask.array")
    n, d, above = BULK_CASES[0]
    X = _spiked_data(n, d, np.linspace(40.0, 10.0, 4), seed=n, offset=2.0)
    top = spectrum(data=da.from_array(X, chunks=(50, 160)), above=above, rng=0)
    _same_top(top, spectrum(covariance(X)), above)


def test_data_route_says_what_to_change_when_no_exact_route_fits(monkeypatch):
    from ppca_stability._spectra import partial as _partial
    from ppca_stability._spectra import spectrum as _spectrum

    n, d, above = BULK_CASES[0]
    X = _spiked_data(n, d, np.linspace(40.0, 10.0, 4), seed=n)
    # As if both n and d were too large for an exact route, with a lower count limit (about 100
    # eigenvalues lie above the cut).
    monkeypatch.setattr(_spectrum, "DUAL_MAX", 100)
    monkeypatch.setattr(_spectrum, "MAX_DATA_COUNT", 32)
    with pytest.raises(ValueError, match=r"more than 32 eigenvalues.*`above`=1.*noise bulk"):
        spectrum(data=X, above=above, rng=0)
    monkeypatch.setattr(_spectrum, "DUAL_MAX", 10**6)
    # Eigenvectors the Gram matrix cannot deliver to the residual tolerance are refused.
    monkeypatch.setattr(_partial, "RESIDUAL_RTOL", 1e-30)
    with pytest.raises(ValueError, match=r"Gram matrix have a residual.*raise `above`"):
        spectrum(data=X, above=above, rng=0)


def test_dask_array_on_a_local_cluster_gives_the_numpy_answer():
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("dask.distributed")
    X = _spiked_data(300, 60, np.linspace(30.0, 6.0, 4), seed=7)
    s = 4.0
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster),
    ):
        top = spectrum(data=da.from_array(X, chunks=(70, 60)), above=s, rng=0)
    ref = spectrum(data=X, above=s, rng=0)
    np.testing.assert_allclose(top.eigenvalues, ref.eigenvalues, rtol=1e-10)
    assert top.trace == pytest.approx(ref.trace, rel=1e-12)
    _same_map(
        stability_map(top, s, latent_dim=2),
        stability_map(covariance(X), s, latent_dim=2),
        loglik_rtol=LOGLIK_RTOL,
        loadings_atol=LOADINGS_ATOL,
    )


# ----------------------------------------------------------------------------- errors
def test_questions_a_partial_spectrum_cannot_answer_raise_and_say_how():
    lam = np.r_[9.0, 7.0, 5.0, np.geomspace(2.0, 0.01, 37)]
    top = spectrum(_cov(lam, 8), above=3.0)
    smap = stability_map(top, 4.0, latent_dim=2)
    with pytest.raises(ValueError, match="every eigenvalue of the covariance"):
        smap.global_maximum.hessian_eigenvalues
    with pytest.raises(ValueError, match="above=a"):
        stability_map(top, 2.0, latent_dim=2)
    with pytest.raises(ValueError, match="latent_dim"):
        stability_map(top, "learned", latent_dim=3)
    with pytest.raises(ValueError, match="`sigma2` must be given"):
        phase_diagram(top, latent_dim=2)
    with pytest.raises(ValueError, match="no eigenvectors"):
        stability_map(spectrum(_cov(lam, 8), above=3.0, vectors=False), 4.0).global_maximum


def test_spectrum_argument_errors_name_the_parameter():
    cov = np.diag([3.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="exactly one of `cov` and `data`; got both"):
        spectrum(cov, data=cov)
    with pytest.raises(ValueError, match="at most one of `above` and `n_components`"):
        spectrum(cov, above=1.0, n_components=1)
    with pytest.raises(ValueError, match="`method`"):
        spectrum(cov, method="lanczos")
    with pytest.raises(ValueError, match="`method`='krylov'"):
        spectrum(cov, method="krylov")
    with pytest.raises(ValueError, match="`above`"):
        spectrum(cov, above=-1.0)
    with pytest.raises(ValueError, match="`n_components`"):
        spectrum(cov, n_components=4)


def test_krylov_on_a_covariance_matches_lapack():
    lam = np.r_[np.linspace(10.0, 3.0, 8), np.geomspace(1.0, 0.01, 52)]
    cov = _cov(lam, 9)
    a = spectrum(cov, above=2.0, method="krylov", rng=0)
    b = spectrum(cov, above=2.0)
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-10)
    np.testing.assert_allclose(np.abs(a.vectors.T @ b.vectors), np.eye(8), atol=1e-8)
    assert a.rest_max < 2.0


def test_cli_map_streams_a_large_npy_through_the_partial_route(tmp_path, capsys):
    import json

    from ppca_stability._cli import main

    X = _spiked_data(700, 600, np.linspace(40.0, 10.0, 5), seed=10)
    path = tmp_path / "x.npy"
    np.save(path, X)
    assert main(["map", str(path), "--sigma2", "6", "--latent-dim", "3", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    ref = stability_map(spectrum(covariance(X)), 6.0, latent_dim=3)
    assert len(payload["eigenvalues"]) == ref.n_above  # only the eigenpairs above sigma2
    assert payload["n_points"] == ref.n_points
    assert payload["census"] == {str(k): v for k, v in ref.census().items()}
    assert payload["global_maximum"]["log_likelihood"] == pytest.approx(
        ref.global_maximum.log_likelihood, rel=LOGLIK_RTOL
    )


def test_cli_elbo_map_streams_a_large_npy_and_counts_clusters_only_from_the_covariance(
    tmp_path, capsys
):
    """`map --objective elbo` takes the same streamed route as the likelihood map (same counts
    as the API on the full covariance); --include-clusters reads the whole covariance."""
    import json

    from ppca_stability._cli import main

    X = _spiked_data(700, 600, np.linspace(40.0, 10.0, 5), seed=10)
    path = tmp_path / "x.npy"
    np.save(path, X)
    argv = ["map", str(path), "--sigma2", "6", "--latent-dim", "3", "--objective", "elbo"]
    assert main([*argv, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    ref = elbo_stability_map(covariance(X), 6.0, latent_dim=3)
    assert len(payload["eigenvalues"]) == ref.ppca.n_above  # only the eigenpairs above sigma2
    assert payload["n_points"] == ref.n_points
    assert payload["census"] == {str(k): v for k, v in ref.census().items()}
    assert payload["global_maximum"]["elbo"] == pytest.approx(
        ref.global_maximum.elbo, rel=LOGLIK_RTOL
    )
    assert "n_cluster_points" not in payload

    small = tmp_path / "small.npy"
    np.save(small, X[:, :6])
    tail = ["--sigma2", "1", "--latent-dim", "2", "--objective", "elbo", "--include-clusters"]
    assert main(["map", str(small), *tail, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    full = elbo_stability_map(covariance(X[:, :6]), 1.0, latent_dim=2, include_clusters=True)
    assert payload["n_cluster_points"] == full.n_cluster_points > 0
    assert payload["census"] == {str(k): v for k, v in full.census().items()}
    assert main(["map", str(small), *tail]) == 0
    assert "equal-norm clusters" in capsys.readouterr().out
    assert main(["map", str(small), "--sigma2", "1", "--include-clusters"]) == 2
    assert "--include-clusters" in capsys.readouterr().err


def test_krylov_that_does_not_converge_raises_naming_the_parameter(monkeypatch):
    from ppca_stability._spectra import partial as _partial

    monkeypatch.setattr(_partial, "MAX_PASSES", 1)
    X = _spiked_data(200, 60, np.linspace(30.0, 6.0, 4), seed=11)
    with pytest.raises(ValueError, match=r"did not converge.*`above`"):
        spectrum(data=X, above=4.0, rng=0, method="krylov")
    with pytest.raises(ValueError, match=r"did not converge.*`n_components`"):
        spectrum(data=X, n_components=30, rng=0, method="krylov")


def test_spectrum_from_data_without_a_cut_is_the_complete_covariance_spectrum():
    X = _spiked_data(50, 12, np.array([5.0]), seed=12)
    a, b = spectrum(data=X), spectrum(covariance(X))
    assert a.is_complete
    np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)


def _top_of(lam: np.ndarray, s: float) -> Spectrum:
    """The partial spectrum of diag(lam) holding the eigenvalues not below ``s`` beyond the tie
    tolerance, and the bound the next one gives."""
    from ppca_stability._base.tolerance import eigen_floor, tie_sign

    r = min(
        int(np.count_nonzero(tie_sign(lam, s, DEFAULT_RTOL, eigen_floor(lam)) >= 0)), lam.size - 1
    )
    U = np.eye(lam.size)[:, :r]
    return Spectrum(lam[:r].copy(), U, lam.size, float(lam.sum()), float(lam[r]))


@given(data=hs.data())
def test_property_partial_map_equals_complete_on_generated_spectra(data):
    import warnings

    from ppca_stability.strategies import sigma2_values, spectra

    lam = data.draw(spectra(min_dim=3, max_dim=9, ties=True, zeros=True))
    s = data.draw(sigma2_values(lam))
    q = data.draw(hs.integers(1, lam.size))
    top = _top_of(lam, s)
    assume(top.rest_max < s)
    # The tie floor is capped by the smallest positive eigenvalue held (module notes of
    # _spectrum): compare where both caps agree.
    from ppca_stability._base.tolerance import eigen_floor
    from ppca_stability._spectra.container import spectrum_floor

    assume(spectrum_floor(top) == eigen_floor(lam))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        partial = stability_map(top, s, latent_dim=q)
        complete = stability_map(Spectrum(lam, np.eye(lam.size)), s, latent_dim=q)
    assert partial.has_degeneracy == complete.has_degeneracy
    _same_map(partial, complete, loglik_rtol=1e-12)


def _data_with_singular_values(n: int, d: int, sv: np.ndarray, seed: int) -> np.ndarray:
    """Centred data whose covariance has exactly the eigenvalues ``sv**2 / n`` (and zeros)."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, sv.size)))
    U -= U.mean(axis=0)  # centred columns stay orthogonal only approximately: re-orthonormalise
    U, _ = np.linalg.qr(U)
    V, _ = np.linalg.qr(rng.standard_normal((d, sv.size)))
    return (U * sv) @ V.T


@pytest.mark.parametrize("multiplicity", [17, 40])
def test_data_route_finds_an_eigenvalue_repeated_beyond_the_block_size(multiplicity):
    # A block Krylov run meets an eigenspace in at most its block size (16) directions; the
    # deflated check must find the remaining copies instead of certifying a cut below them.
    sv = np.r_[np.full(multiplicity, 60.0), np.linspace(20.0, 5.0, 10)]
    X = _data_with_singular_values(600, 300, sv, seed=multiplicity)
    exact = spectrum(covariance(X)).eigenvalues
    above = 1e-3
    top = spectrum(data=X, above=above, rng=0, method="krylov")
    n_true = int(np.count_nonzero(exact > above))
    assert n_true == multiplicity + 10
    assert top.eigenvalues.size == n_true
    np.testing.assert_allclose(top.eigenvalues, exact[:n_true], rtol=1e-9)
    assert top.rest_max < above
    k = multiplicity + 3
    first = spectrum(data=X, n_components=k, rng=0, method="krylov")
    np.testing.assert_allclose(first.eigenvalues, exact[:k], rtol=1e-9)


def test_partial_routes_refuse_a_covariance_whose_skipped_eigenvalues_sum_below_zero():
    # The subset eigensolver never sees the bottom of the spectrum; the trace does: the skipped
    # eigenvalues must not sum to a negative number (the entrywise checks pass here).
    d = 600
    lam = np.r_[np.geomspace(100.0, 1.0, 30), np.full(d - 31, 0.001), -5.0]
    C = _cov(lam, seed=3)
    assert np.all(np.diagonal(C) > 0)
    with pytest.raises(ValueError, match=r"positive semi-definite; the eigenvalues below its top"):
        stability_map(C, 0.5, latent_dim=5)
    with pytest.raises(ValueError, match="positive semi-definite"):
        spectrum(C, above=0.5)
    lam[-1] = 0.0  # rank-deficient but PSD: accepted, by the partial route
    smap = stability_map(_cov(lam, seed=3), 0.5, latent_dim=5)
    assert not smap.spectrum.is_complete


# ----------------------------------------------------------------------------- ELBO map
def _same_elbo_map(a, b) -> None:
    assert a.n_points == b.n_points and a.census() == b.census()
    assert a.stability_counts() == b.stability_counts()
    ga, gb = a.global_maximum, b.global_maximum
    assert (ga.active, ga.stability, ga.morse_index) == (gb.active, gb.stability, gb.morse_index)
    assert ga.elbo == pytest.approx(gb.elbo, rel=EXACT_RTOL)
    Wa, Wb = ga.params.loadings, gb.params.loadings
    np.testing.assert_allclose(Wa @ Wa.T, Wb @ Wb.T, atol=1e-10)


@pytest.mark.parametrize("encoder", ["diagonal", "full"])
def test_elbo_map_takes_the_partial_route_itself_with_the_same_answers(encoder):
    """The ELBO map is the pPCA map's orbits: it decomposes only the top of a large covariance,
    as stability_map does; rank S (the encoder's zero modes along null S) is computed only when a
    point's symmetry_dim is read."""
    d = 600
    lam = np.r_[np.linspace(50.0, 2.0, 30), np.geomspace(1.0, 1e-3, d - 40), np.zeros(10)]
    cov = _cov(lam, 4)
    auto = elbo_stability_map(cov, 1.5, latent_dim=5, encoder=encoder)
    assert not auto.ppca.spectrum.is_complete
    complete = elbo_stability_map(spectrum(cov), 1.5, latent_dim=5, encoder=encoder)
    _same_elbo_map(auto, complete)
    assert "rank" not in auto._cache  # nothing so far needed every eigenvalue
    assert auto.point((0, 2)).symmetry_dim == complete.point((0, 2)).symmetry_dim
    assert auto.rank == complete.rank == d - 10


def test_elbo_map_on_the_partial_route_finds_the_clusters_from_the_complete_spectrum(
    monkeypatch,
):
    """A cluster group can hold an eigenvalue below sigma2 beside a larger one, so the clusters
    of a map built on the top of the spectrum are enumerated from the complete one."""
    import ppca_stability._ppca.route as st

    monkeypatch.setattr(st, "PARTIAL_MIN_FEATURES", 8)
    lam = np.r_[30.0, 12.0, 0.5, np.geomspace(0.3, 0.01, 13)]
    cov = _cov(lam, 5)
    auto = elbo_stability_map(cov, 1.0, latent_dim=2)
    assert not auto.ppca.spectrum.is_complete
    complete = elbo_stability_map(spectrum(cov), 1.0, latent_dim=2)
    _same_elbo_map(auto, complete)
    assert auto.n_cluster_points == complete.n_cluster_points > 0
    below = [p for p in complete.cluster_points if any(lam[i] < 1.0 for i in p.active)]
    assert below, "no cluster uses an eigenvalue below sigma2: the case is not exercised"
    got = {p.groups: p.elbo for p in auto.cluster_points}
    for p in complete.cluster_points:
        assert got[p.groups] == pytest.approx(p.elbo, rel=1e-10)


def test_elbo_map_from_a_partial_spectrum_says_what_it_cannot_answer():
    lam = np.r_[np.linspace(8.0, 3.0, 6), np.geomspace(1.0, 1e-3, 34)]
    part = _top_of(lam, 2.0)
    emap = elbo_stability_map(part, 2.0, latent_dim=3)
    whole = elbo_stability_map(np.diag(lam), 2.0, latent_dim=3)
    _same_elbo_map(emap, whole)
    with pytest.raises(ValueError, match="rank of the covariance.*spectrum\\(cov\\)"):
        emap.global_maximum.symmetry_dim  # noqa: B018
    with pytest.raises(ValueError, match="equal-norm clusters.*spectrum\\(cov\\)"):
        emap.n_cluster_points  # noqa: B018
    with pytest.raises(ValueError, match="equal-norm clusters"):
        elbo_stability_map(part, 2.0, latent_dim=3, include_clusters=True)


def test_elbo_map_repr_on_the_partial_route_does_not_decompose_the_rest():
    d = 600
    cov = _cov(np.r_[np.linspace(50.0, 2.0, 30), np.geomspace(1.0, 1e-3, d - 30)], 6)
    emap = elbo_stability_map(cov, 1.5, latent_dim=5)
    text = repr(emap)
    assert f"of {d})" in text and "rank" not in text and "rank" not in emap._cache
    emap.rank  # noqa: B018
    assert f"(rank {d})" in repr(emap)


@pytest.mark.parametrize(("offset", "rows"), [(0.5, 7), (0.5, 1000), (1e4, 7)])
def test_data_operator_applies_the_centred_covariance(offset, rows):
    from ppca_stability._spectra import partial as _partial

    rng = np.random.default_rng(20)
    X = rng.standard_normal((90, 30)) * np.linspace(3.0, 0.2, 30) + offset
    mean = X.mean(axis=0)
    Xc = X - mean
    C = Xc.T @ Xc / X.shape[0]
    V = rng.standard_normal((30, 4))
    op = _partial.data_operator(X, X.shape[0], mean, float(np.trace(C)), rows)
    np.testing.assert_allclose(op.matmat(V), C @ V, rtol=1e-12, atol=1e-12 * np.abs(C @ V).max())
    # float32 data on disk: the same operator on its float64 values
    X32 = X.astype(np.float32)
    m32 = X32.mean(axis=0, dtype=np.float64)
    C32 = (X32 - m32).T @ (X32 - m32) / X.shape[0]
    op32 = _partial.data_operator(X32, X.shape[0], m32, float(np.trace(C32)), rows)
    np.testing.assert_allclose(op32.matmat(V), C32 @ V, rtol=1e-10, atol=1e-10 * np.abs(C32).max())


# ----------------------------------------------------------------------------- certified dense
def _dense_above(S, above, max_count=64, seed=0):
    from ppca_stability._spectra.spectrum import dense_above

    return dense_above(S, above, max_count=max_count, rng=np.random.default_rng(seed))


def test_dense_krylov_route_matches_lapack_and_certifies_its_cut():
    d = 600
    lam = np.r_[np.geomspace(40.0, 2.0, 25), np.geomspace(0.9, 1e-3, d - 25)]
    S = _cov(lam, 5)
    found = _dense_above(S, 1.0)
    assert isinstance(found, Spectrum) and not found.is_complete
    exact = spectrum(S)
    np.testing.assert_allclose(found.eigenvalues, exact.eigenvalues[:25], rtol=1e-12)
    np.testing.assert_allclose(found.eigenvectors, exact.eigenvectors[:, :25], atol=1e-9)
    assert lam[25] < found.rest_max < 1.0
    assert found.trace == pytest.approx(lam.sum(), rel=1e-12)
    # spectrum(cov, above=...) takes this route; method="eigh" keeps LAPACK's syevr.
    for method in ("auto", "eigh"):
        top = spectrum(S, above=1.0, method=method, rng=0)
        np.testing.assert_allclose(top.eigenvalues, exact.eigenvalues[:25], rtol=1e-12)


def test_dense_krylov_route_gives_way_to_lapack_where_it_cannot_answer(monkeypatch):
    from ppca_stability._spectra import partial as _partial

    d = 600
    # 40 copies of one eigenvalue above the cut: a block of 16 start vectors meets that
    # eigenspace in 16 directions only, the run reports 16 copies, and the Cholesky certificate
    # of the rest fails on the other 24. (Over a graded tail instead of a flat one, the run does
    # not settle within its budget: "passes", the same fallback.)
    lam = np.r_[np.full(40, 5.0), np.geomspace(3.0, 2.0, 5), np.full(d - 45, 0.5)]
    S = _cov(lam, 6)
    assert _dense_above(S, 1.0) == "certificate"
    graded = np.r_[lam[:45], np.geomspace(0.9, 1e-3, d - 45)]
    assert _dense_above(_cov(graded, 6), 1.0) == "passes"
    top = spectrum(S, above=1.0, rng=0)  # LAPACK answers instead: every copy
    np.testing.assert_allclose(top.eigenvalues, lam[:45], rtol=1e-12)
    with pytest.warns(DegeneracyWarning):
        auto = stability_map(S, 1.0, latent_dim=3)
    with pytest.warns(DegeneracyWarning):
        complete = stability_map(spectrum(S), 1.0, latent_dim=3)
    assert not auto.spectrum.is_complete
    # (The top three directions are any three of the 40-fold eigenspace: W W^T is not unique.)
    assert (auto.n_points, auto.census()) == (complete.n_points, complete.census())
    assert auto.global_maximum.log_likelihood == pytest.approx(
        complete.global_maximum.log_likelihood, rel=EXACT_RTOL
    )
    # More eigenvalues above the cut than wanted: certain from the Ritz values alone.
    assert _dense_above(S, 1.0, max_count=10) == "count"
    # A run over its budget of passes on a spectrum it otherwise certifies.
    distinct = _cov(np.r_[np.geomspace(40.0, 2.0, 25), np.geomspace(0.9, 1e-3, d - 25)], 5)
    assert isinstance(_dense_above(distinct, 1.0), Spectrum)
    assert stability_map(distinct, 1e-2, latent_dim=3).spectrum.is_complete  # "count"
    monkeypatch.setattr(_partial, "MIN_DENSE_PASSES", 1)
    monkeypatch.setattr(_partial, "DENSE_PASS_DIVISOR", 10**6)
    assert _dense_above(distinct, 1.0) == "passes"


def _counted(S, above, count, seed=0):
    from ppca_stability._spectra.spectrum import dense_above

    return dense_above(S, above, max_count=64, rng=np.random.default_rng(seed), count=count)


def test_dense_krylov_route_with_a_known_count_converges_those_pairs_and_certifies_the_rest():
    """Given the exact number of eigenvalues above the cut, the run converges just those (here
    70, more than the block of 16 and than the 64 without a count) and the Cholesky factor
    certifies the cut; no count above the cut is certified without a run. A count that is
    wrong (one short, or zero) fails the certificate instead of dropping an eigenvalue, and
    one too many returns only the pairs above the cut."""
    d = 600
    lam = np.r_[np.geomspace(40.0, 2.0, 70), np.geomspace(0.9, 1e-3, d - 70)]
    S = _cov(lam, 5)
    exact = spectrum(S)
    for above, held in ((1.0, 70), (50.0, 0), (2.5, int(np.count_nonzero(lam > 2.5)))):
        found = _counted(S, above, count_above(S, above * (1 - 1e-6)))
        assert isinstance(found, Spectrum) and found.eigenvalues.size == held
        np.testing.assert_allclose(found.eigenvalues, exact.eigenvalues[:held], rtol=1e-12)
        np.testing.assert_allclose(found.eigenvectors, exact.eigenvectors[:, :held], atol=1e-9)
        assert lam[held] < found.rest_max < above
    assert _counted(S, 1.0, 69) == "certificate"
    assert _counted(S, 1.0, 0) == "certificate"
    extra = _counted(S, 1.0, 71)
    assert isinstance(extra, Spectrum) and extra.eigenvalues.size == 70


def test_krylov_run_for_top_pairs_gives_up_early_where_it_cannot_converge_in_budget():
    """At the edge of a Wishart spectrum (no gap below the top ten) a run for the top ten
    falls by about a decade of residual per pass against the ~90 it needs: it gives up after
    a few passes, not at its budget of 20. A spectrum with a gap converges in the same budget
    and is not stopped."""
    from ppca_stability._spectra import partial as _partial

    d = 600
    A = np.random.default_rng(3).standard_normal((d, d))
    wishart = A @ A.T / d
    passes: list[int] = []

    class Bar:
        def update(self, n):
            passes.append(n)

    def run(S, want):
        passes.clear()
        return _partial._krylov(
            _partial.dense_operator((S + S.T) / 2),
            above=None,
            n_components=want,
            rng=np.random.default_rng(0),
            bar=Bar(),
            name="above",
            max_passes=20,
        )

    with pytest.raises(_partial.BudgetExceeded, match="passes"):
        run(wishart, 10)
    assert len(passes) < 10
    gapped = _cov(np.r_[np.geomspace(40.0, 5.0, 10), np.geomspace(1.0, 1e-3, d - 10)], 7)
    found = run(gapped, 10)
    np.testing.assert_allclose(found.eigenvalues, np.geomspace(40.0, 5.0, 10), rtol=1e-12)


@given(data=hs.data())
def test_property_dense_krylov_route_equals_complete_on_tied_spectra(data):
    """Generated spectra with repeated values (some beyond the block size), zeros, and a cut at,
    near or between eigenvalues: the certified Krylov route (without the count, and ARPACK with
    it) or its LAPACK fallback, never a different answer."""
    import warnings

    values = data.draw(
        hs.lists(hs.sampled_from([0.0, 0.3, 1.0, 2.0, 3.5, 7.0]), min_size=20, max_size=80)
    )
    lam = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    assume(lam[0] > 0)
    positive = np.unique(lam[lam > 0])
    base = data.draw(hs.sampled_from(list(positive) + [0.65, 1.5, 5.0]))
    s = base * data.draw(hs.sampled_from([1.0, 1.0 + 1e-11, 1.0 - 1e-11, 1.0 + 1e-6]))
    q = data.draw(hs.integers(1, 4))
    S = _cov(lam, data.draw(hs.integers(0, 2**16)))
    seed = data.draw(hs.integers(0, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        complete = stability_map(spectrum(S), s, latent_dim=q)
        # The Krylov route itself (no cap on the count; "certificate" or "passes" when it cannot
        # answer), and spectrum(cov, above=s), which falls back to LAPACK then.
        found = _dense_above(S, s, max_count=lam.size, seed=seed)
        tops = [found] if isinstance(found, Spectrum) else []
        # With the exact count at the cut: ARPACK for those pairs, or a reason to fall back.
        cut = dense_cut(s, DEFAULT_RTOL, lam.size, float(np.trace(S)))
        if cut > 0:
            counted = _counted(S, s, count_above(S, cut), seed=seed)
            tops += [counted] if isinstance(counted, Spectrum) else []
        try:
            tops.append(spectrum(S, above=s, rng=seed))
        except ValueError:  # a cut inside the round-off band of a zero eigenvalue
            pass
        for top in tops:
            assume(top.is_complete or top.rest_max < s)
            _same_map_or_family(stability_map(top, s, latent_dim=q), complete)


def _same_map_or_family(partial, complete) -> None:
    assert partial.has_degeneracy == complete.has_degeneracy
    if complete.has_degeneracy:  # tied directions: W W^T is any of a family, the rest unique
        assert (partial.n_points, partial.census()) == (complete.n_points, complete.census())
        assert partial.global_maximum.log_likelihood == pytest.approx(
            complete.global_maximum.log_likelihood, rel=1e-11
        )
    else:
        _same_map(partial, complete, loglik_rtol=1e-11, loadings_atol=1e-9)
