"""The automatic partial routes answer every valid input as a full eigendecomposition does.

Reference: ``numpy.linalg.eigh`` of the same matrix (values to 1e-10 lam_max, counts exact);
maps compared through their point counts against the map of the complete spectrum.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs

from ppca_stability import (
    DegeneracyWarning,
    Spectrum,
    covariance,
    spectrum,
    stability_map,
)
from ppca_stability._base.tolerance import roundoff_threshold
from ppca_stability._spectra import partial as _partial
from ppca_stability._spectra import spectrum as _spectrum

VALUE_RTOL = 1e-10  # of lam_max: the Krylov method's residual tolerance


def _rotated(lam: np.ndarray, seed: int = 0) -> np.ndarray:
    Q, R = np.linalg.qr(np.random.default_rng(seed).standard_normal((lam.size, lam.size)))
    Q *= np.sign(np.diag(R))
    S = (Q * lam) @ Q.T
    return (S + S.T) / 2.0


def _data_with_covariance(lam: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n samples whose ddof=0 covariance is ``Q diag(lam) Q^T`` up to round-off (a random
    rotation Q): centred, whitened exactly, then scaled."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, lam.size))
    Z -= Z.mean(axis=0)
    w, V = np.linalg.eigh(Z.T @ Z / n)
    white = Z @ V / np.sqrt(w)  # covariance I
    Q, _ = np.linalg.qr(rng.standard_normal((lam.size, lam.size)))
    return (white * np.sqrt(lam)) @ Q.T + 3.0


def _assert_top_of(top: Spectrum, S: np.ndarray, above: float) -> None:
    """`top` holds exactly the eigenvalues of `S` not below `above` (none tied with it here),
    each to VALUE_RTOL lam_max, and nothing below its own cut."""
    full = np.linalg.eigvalsh(S)[::-1]
    r = int(np.count_nonzero(full > above))
    assert top.eigenvalues.size == r
    np.testing.assert_allclose(top.eigenvalues, full[:r], rtol=0, atol=VALUE_RTOL * full[0])
    if not top.is_complete:
        assert np.all(top.eigenvalues >= above * (1 - 1e-6))
        assert top.rest_max is not None and full[r] <= top.rest_max < above
    if top.eigenvectors is not None:
        U = top.eigenvectors
        np.testing.assert_allclose(U.T @ U, np.eye(r), atol=1e-8)


# ----------------------------------------------------------------------------- every value above
@pytest.mark.parametrize(
    "S, above",
    [
        (np.diag([3.0, 2.0, 1.0]), 0.5),
        (np.eye(20) * 2.0, 0.5),
        (np.array([[4.0]]), 1.0),
    ],
    ids=["diag3", "eye20", "d1"],
)
def test_every_eigenvalue_above_the_cut_gives_the_whole_spectrum(S, above):
    top = spectrum(S, above=above, rng=0)
    assert top.is_complete
    _assert_top_of(top, S, above)


@pytest.mark.parametrize("shape", [(1000, 30), (10, 1)])
def test_data_with_every_eigenvalue_above_the_cut_gives_the_whole_spectrum(shape):
    X = np.random.default_rng(1).standard_normal(shape)
    for method in ("auto", "krylov"):
        top = spectrum(data=X, above=0.01, method=method, rng=0)
        assert top.is_complete
        _assert_top_of(top, covariance(X), 0.01)


# ----------------------------------------------------------------------------- wide range
WIDE = np.r_[1e12, 1e6, 1e3, np.linspace(1.5, 0.5, 509)]  # d = 512


def test_a_wide_eigenvalue_range_keeps_its_directions():
    # Twelve decades: the block Krylov method kept only directions above 1e-8 of the block's
    # norm and lost every one below the top; the round-off rule keeps them.
    S = _rotated(WIDE)
    _assert_top_of(spectrum(S, above=5e5, rng=0), S, 5e5)
    found = _partial.krylov_top(
        _partial.dense_operator(S), above=5e5, n_components=None, rng=np.random.default_rng(0)
    )
    assert found.eigenvalues.size == 2
    complete = stability_map(spectrum(S), 5e5, latent_dim=1)
    assert stability_map(S, 5e5, latent_dim=1).n_points == complete.n_points == 3


def test_a_partial_spectrum_holds_nothing_below_its_cut():
    S = _rotated(WIDE)
    top = spectrum(S, above=2.0, rng=0)
    assert not top.is_complete
    _assert_top_of(top, S, 2.0)  # 1e12, 1e6, 1e3: no 0.0


# ----------------------------------------------------------------------------- repeated bulk
def _spiked(d: int) -> np.ndarray:
    return np.r_[[6.0, 4.0, 3.0, 2.0, 1.6], np.ones(d - 5)]


def _map_counts(S, s, q):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        smap = stability_map(S, s, latent_dim=q)
        return smap.n_points, smap.has_degeneracy


@pytest.mark.parametrize("d", [512, pytest.param(600, marks=pytest.mark.slow), 1000])
def test_a_spiked_identity_map_answers_through_the_exact_route(d):
    S = np.diag(_spiked(d))
    assert _map_counts(S, 0.5, 5) == _map_counts(spectrum(S), 0.5, 5)


@pytest.mark.parametrize("d", [200, 400])
def test_a_rotated_spiked_identity_spectrum_above_its_bulk(d):
    S = _rotated(_spiked(d))
    top = spectrum(S, above=0.5, rng=0)
    _assert_top_of(top, S, 0.5)
    # The Krylov method alone, on the covariance, refuses naming its route and what to do.
    with pytest.raises(ValueError, match="products with the covariance.*method='eigh'"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_partial, "MAX_PASSES", 2)
            spectrum(S, above=0.5, method="krylov", rng=0)


def test_data_with_a_spiked_identity_covariance():
    X = _data_with_covariance(_spiked(200), 1000)
    _assert_top_of(spectrum(data=X, above=0.5, rng=0), covariance(X), 0.5)
    # n < d: the Gram route takes over from the Krylov method.
    Xw = _data_with_covariance(np.r_[[6.0, 4.0, 3.0], np.ones(77)], 80, seed=2)
    Xw = np.hstack([Xw, np.zeros((80, 120))])  # d = 200 > n
    _assert_top_of(spectrum(data=Xw, above=0.5, rng=0), covariance(Xw), 0.5)


# ----------------------------------------------------------------------------- n >> d data
def test_data_with_many_more_samples_than_features_forms_the_covariance(monkeypatch):
    X = _data_with_covariance(np.r_[np.linspace(30.0, 2.0, 23), np.linspace(0.4, 0.01, 377)], 4000)
    calls = []
    monkeypatch.setattr(
        _partial, "krylov_top", lambda *a, **k: calls.append(1) or pytest.fail("Krylov ran")
    )
    _assert_top_of(spectrum(data=X, above=0.5, rng=0), covariance(X), 0.5)
    assert not calls
    # The rule: forming the covariance costs less than a few passes of the Krylov method.
    assert _spectrum.covariance_first(10_000, 784, None)
    assert not _spectrum.covariance_first(3000, 3000, None)  # d^3 dominates: passes win
    assert not _spectrum.covariance_first(2000, 20_000, None)  # n < d: no covariance first


def test_arpack_is_chosen_for_a_few_pairs_or_a_few_dozen_above_a_graded_spectrum():
    """`lanczos_chosen` from 1024 features on: any spectrum for at most 10 pairs above the cut,
    a graded one (twelve decades with 24 or 50 above, a power law 1/i with 24) for up to 50,
    never a Wishart edge beyond 10 and never more than 50; below 1024 features every count up
    to 64."""
    from ppca_stability._spectra.lanczos import lanczos_chosen

    d = 1024
    rng = np.random.default_rng(4)
    families = {
        "twelve decades": (np.logspace(12.0, 0.0, d), (24, 50)),
        "power law 1/i": (1.0 / np.arange(1.0, d + 1), (24,)),
        "Wishart edge": (np.linalg.svd(rng.standard_normal((d, d)), compute_uv=False) ** 2 / d, ()),
    }
    for name, (lam, graded) in families.items():
        lam = np.sort(lam)[::-1]
        S = _rotated(lam, 5)
        for k in (3, 10, 24, 50, 60):
            cut = float(0.5 * (lam[k - 1] + lam[k]))
            assert lanczos_chosen(S, cut, k) == (k <= 10 or k in graded), (name, k)
    small = _rotated(np.sort(families["Wishart edge"][0][:512])[::-1], 6)
    assert lanczos_chosen(small, 1.0, 64) and not lanczos_chosen(small, 1.0, 65)


@pytest.mark.parametrize("route", ["lanczos", "lanczos gives up", "more than its count"])
def test_data_formed_into_its_covariance_counts_then_runs_lanczos_or_a_reduction(
    route, monkeypatch
):
    """From a covariance it formed, `spectrum(data=X, above=a)` counts the pairs above the cut
    exactly and, as `stability_map`'s route does, has ARPACK converge that many where
    `lanczos_chosen` says (at most 64 at these 400 features), else (or when ARPACK gives up)
    takes them from one tridiagonal reduction: the same pairs every way, with or without
    vectors."""
    X = _data_with_covariance(np.r_[np.linspace(30.0, 2.0, 23), np.linspace(0.4, 0.01, 377)], 4000)
    S = covariance(X)
    runs: list[int] = []
    reductions: list[float] = []
    real, real_reduced = _partial.lanczos_top, _spectrum.reduced_above

    def spy(*args, **kwargs):
        runs.append(args[1])  # the number of pairs asked for
        return None if route == "lanczos gives up" else real(*args, **kwargs)

    def spy_reduced(*args, **kwargs):
        reductions.append(args[1])
        return real_reduced(*args, **kwargs)

    monkeypatch.setattr(_partial, "lanczos_top", spy)
    monkeypatch.setattr(_spectrum, "reduced_above", spy_reduced)
    if route == "more than its count":
        monkeypatch.setattr(_spectrum, "lanczos_chosen", lambda S, cut, count: count <= 22)
    got = spectrum(data=X, above=0.5, rng=0)
    _assert_top_of(got, S, 0.5)
    assert runs == ([] if route == "more than its count" else [23])
    assert reductions == ([] if route == "lanczos" else [0.5])
    values = spectrum(data=X, above=0.5, rng=0, vectors=False)
    assert values.eigenvectors is None
    np.testing.assert_allclose(values.eigenvalues, got.eigenvalues, rtol=1e-12)


# ----------------------------------------------------------------------------- user-built spectra
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"trace": -1.0}, "`trace` must be a finite, non-negative"),
        ({"trace": np.inf}, "`trace` must be a finite, non-negative"),
        ({"trace": 7.0}, r"`trace` \(7\) must be at least the sum"),
        ({"trace": 9.0, "rest_max": np.nan}, "`rest_max` must be a finite"),
    ],
)
def test_an_impossible_partial_spectrum_is_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Spectrum(np.array([5.0, 3.0]), None, 4, **kwargs)


def test_a_spectrum_built_from_lists_is_an_array_spectrum():
    spec = Spectrum([5.0, 3.0], None, 4, 9.0, 1.0)
    assert isinstance(spec.eigenvalues, np.ndarray) and spec.eigenvalues.dtype == np.float64
    assert stability_map(spec, 2.0, latent_dim=1).n_points == 3
    with pytest.raises(TypeError, match="`eigenvalues` must be an array of real numbers"):
        Spectrum(["a", "b"], None)
    with pytest.raises(ValueError, match="`eigenvalues` must be 1-D"):
        Spectrum(np.eye(2), None)


# ----------------------------------------------------------------------------- property
def _family():
    """Spectra (descending, d <= 40) and a cut: every eigenvalue above it, d = 1, values repeated
    above and at the cut, dynamic ranges up to 1e12, spiked identities, a cut inside a bulk."""
    d = hs.integers(1, 40)

    def build(args):
        kind, d, decades, spikes, where, seed = args
        rng = np.random.default_rng(seed)
        if kind == "spiked":
            lam = np.r_[np.sort(rng.uniform(1.5, 8.0, min(spikes, d)))[::-1], np.ones(d)][:d]
        elif kind == "repeated":
            values = 10.0 ** np.sort(rng.uniform(-1, 1, 3))[::-1]
            lam = np.sort(rng.choice(values, d))[::-1]
        else:  # "range": log-uniform over `decades`
            lam = np.sort(10.0 ** rng.uniform(-decades / 2, decades / 2, d))[::-1]
        lam = lam / lam[0]
        distinct = np.unique(lam)[::-1]
        floor = 4 * roundoff_threshold(1.0, d) + 1e-8
        if where == "below all":
            above = float(lam[-1]) * 0.5
        elif where == "at a value":
            above = float(rng.choice(distinct))
        else:  # between two values, or inside a bulk
            i = int(rng.integers(0, distinct.size))
            lo = distinct[i + 1] if i + 1 < distinct.size else 0.0
            above = float((distinct[i] + lo) / 2)
        return lam, max(above, 2 * floor), seed

    return hs.tuples(
        hs.sampled_from(["spiked", "repeated", "range"]),
        d,
        hs.integers(0, 12),
        hs.integers(0, 6),
        hs.sampled_from(["below all", "at a value", "between"]),
        hs.integers(0, 2**16),
    ).map(build)


@given(case=_family(), route=hs.sampled_from(["auto", "krylov", "data"]))
def test_the_automatic_route_agrees_with_a_full_eigh(case, route):
    # "auto" on a covariance (certified Krylov, else LAPACK), the Krylov method alone, and the
    # data route (covariance first, Krylov or the Gram matrix by cost).
    lam, above, seed = case
    S = _rotated(lam, seed)
    if route == "data":
        X = _data_with_covariance(lam, 3 * lam.size + 2, seed)
        S = covariance(X)
    full = spectrum(S)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        if route == "data":
            top = spectrum(data=X, above=above, rng=seed)
        else:
            top = spectrum(
                S, above=above, method="krylov" if route == "krylov" else "auto", rng=seed
            )
        # Every eigenvalue not below the cut beyond the tie tolerance, to VALUE_RTOL lam_max.
        r = top.eigenvalues.size
        np.testing.assert_allclose(
            top.eigenvalues, full.eigenvalues[:r], rtol=0, atol=VALUE_RTOL * full.eigenvalues[0]
        )
        assert np.count_nonzero(full.eigenvalues > above * (1 + 1e-8) + 1e-8) <= r
        if not top.is_complete:  # rest_max bounds the rest, up to round-off
            slack = roundoff_threshold(full.eigenvalues[0], lam.size)
            assert np.count_nonzero(full.eigenvalues > top.rest_max + slack) <= r
        q = max(1, min(3, lam.size))
        s = above * (1 + 1e-6) if not top.is_complete else above
        assert stability_map(top, s, latent_dim=q).n_points == (
            stability_map(full, s, latent_dim=q).n_points
        )


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_the_automatic_map_agrees_with_a_full_eigh_at_large_d(seed):
    rng = np.random.default_rng(seed)
    families = [
        _spiked(600),
        WIDE,
        np.r_[10.0 ** rng.uniform(0, 12, 8), np.linspace(1.5, 0.5, 600)],
        np.sort(rng.choice([4.0, 2.0, 1.0, 0.5], 700))[::-1],
    ]
    for lam in families:
        S = _rotated(np.sort(lam)[::-1], seed)
        for s in (0.75, 1.0, 3.0):
            assert _map_counts(S, s, 4) == _map_counts(spectrum(S), s, 4)
