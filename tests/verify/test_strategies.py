"""ppca_stability.strategies: what each strategy promises, checked as properties; argument
errors."""

import numpy as np
import pytest
from _support import NUMERIC_RTOL
from hypothesis import find, given
from hypothesis import strategies as hs

from ppca_stability import log_likelihood_gradient, spectrum
from ppca_stability.strategies import (
    SIGMA2_KINDS,
    covariances,
    orthogonal_matrices,
    sigma2_values,
    spectra,
    stationary_points,
)

# Relative slack for a gap or range bound after the log -> value round trip.
ROUNDTRIP_RTOL = 1e-12


@given(lam=spectra(min_dim=2, max_dim=7, min_value=1e-3, max_value=1e3, min_gap=0.05))
def test_spectra_are_descending_in_range_with_gaps(lam):
    assert 2 <= lam.size <= 7 and lam.dtype == np.float64
    assert np.all(lam[:-1] >= lam[1:])
    assert np.all((lam >= 1e-3 * (1 - ROUNDTRIP_RTOL)) & (lam <= 1e3 * (1 + ROUNDTRIP_RTOL)))
    assert np.all(lam[:-1] >= 1.05 * lam[1:] * (1 - ROUNDTRIP_RTOL))


def test_spectra_draw_ties_zeros_and_wide_ranges_only_when_asked():
    assert find(spectra(ties=True, min_dim=3), lambda lam: np.any(lam[:-1] == lam[1:])).size == 3
    assert find(spectra(zeros=True), lambda lam: lam[-1] == 0).tolist() in (
        [0.0, 0.0][:1],
        [1.0, 0.0],
        [0.01, 0.0],
    )
    wide = find(
        spectra(min_value=1e-10, max_value=1e10, min_gap=0.0), lambda lam: lam[0] / lam[-1] > 1e19
    )
    assert wide[0] / wide[-1] > 1e19


@given(lam=spectra(ties=False))
def test_spectra_without_ties_have_no_zeros_or_ties(lam):
    assert np.all(lam > 0) and np.all(lam[:-1] > lam[1:])


@given(Q=orthogonal_matrices(4))
def test_orthogonal_matrices_are_orthogonal(Q):
    assert np.allclose(Q.T @ Q, np.eye(4), atol=NUMERIC_RTOL)


@given(data=hs.data())
def test_covariances_have_the_drawn_spectrum(data):
    lam = data.draw(spectra(zeros=True, ties=True))
    cov = data.draw(covariances(lam))
    assert np.array_equal(cov, cov.T)
    assert np.allclose(spectrum(cov).eigenvalues, lam, rtol=0, atol=NUMERIC_RTOL * lam[0])


@pytest.mark.parametrize("kind", SIGMA2_KINDS)
@given(data=hs.data())
def test_sigma2_values_are_placed_as_promised(kind, data):
    lam = data.draw(spectra(min_dim=2, zeros=True, ties=True))
    pos = np.unique(lam[lam > 0])
    if kind == "between" and pos.size < 2:
        return
    s = data.draw(sigma2_values(lam, kinds=(kind,), near_rtol=(1e-14, 1e-6)))
    assert 0 < s < np.inf
    rel = np.min(np.abs(pos - s) / pos)
    if kind == "at":
        assert s in pos
    elif kind == "near":
        assert 0.9e-14 <= rel <= 1.1e-6  # float spacing is ~1 % of a 1e-14 offset
    elif kind == "between":
        assert pos[0] < s < pos[-1] and s not in pos
    else:
        assert s > pos[-1] or s < pos[0]


@given(case=stationary_points(sigma2_kinds=("between", "outside", "at")))
def test_stationary_points_are_stationary(case):
    g_W, _ = log_likelihood_gradient(case.point.loadings, case.cov, case.sigma2)
    lam = case.eigenvalues
    assert np.linalg.norm(g_W) <= NUMERIC_RTOL * lam[0] / case.sigma2**1.5 + 1e-300
    assert case.point.active == case.stability_map.point(case.point.active).active
    assert "StationaryCase" in repr(case)


@given(case=stationary_points(sigma2="learned", latent_dim=1))
def test_learned_stationary_points(case):
    assert case.latent_dim == 1 and case.stability_map.is_learned
    assert np.isclose(
        case.sigma2, np.delete(case.eigenvalues, list(case.point.active)).mean(), rtol=NUMERIC_RTOL
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: spectra(min_dim=0), "min_dim"),
        (lambda: spectra(min_dim=3, max_dim=2), "max_dim"),
        (lambda: spectra(min_value=-1.0), "min_value"),
        (lambda: spectra(min_value=2.0, max_value=1.0), "max_value"),
        (lambda: spectra(max_dim=50, min_gap=1.0), "min_gap"),
        (lambda: spectra(ties="yes"), "ties"),
        (lambda: orthogonal_matrices(0), "dim"),
        (lambda: covariances([-1.0, 2.0]), "eigenvalues"),
        (lambda: sigma2_values([0.0, 0.0]), "spectrum"),
        (lambda: sigma2_values([1.0], kinds=("inside",)), "kinds"),
        (lambda: sigma2_values([1.0], kinds="at"), "kinds"),
        (lambda: sigma2_values([1.0], near_rtol=(1e-3, 1e-6)), "near_rtol"),
        (lambda: stationary_points(sigma2="fitted"), "sigma2"),
        (lambda: stationary_points(np.ones((2, 3))), "cov"),
        (lambda: stationary_points(latent_dim=0), "latent_dim"),
    ],
)
def test_bad_arguments_name_the_parameter(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()


def test_sigma2_fixed_is_a_deprecated_spelling_of_none():
    with pytest.warns(FutureWarning, match="sigma2=None"):
        stationary_points(sigma2="fixed")
    with pytest.raises(ValueError, match="`sigma2`"):
        stationary_points(sigma2="joint")
