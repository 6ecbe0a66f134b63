"""Slower cross-checks of the numeric core on real data (run once by CI: `pytest -m slow`)."""

import numpy as np
import pytest

from ppca_stability import Stability, classify_point, covariance, log_likelihood_hessian, stability_map

from _support import NUMERIC_RTOL, digits_data

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sigma2", [1.0, 30.0, "learned"])
def test_digits_closed_form_vs_dense_hessian(sigma2):
    """The digits covariance (d = 64, three zero eigenvalues): closed form vs numeric Hessian at
    the global maximum and at saddles that swap one kept eigenvalue for a discarded one."""
    S = covariance(digits_data())
    smap = stability_map(S, sigma2, latent_dim=4)
    best = smap.global_maximum
    swaps = [best, smap.point((0, 1, 2, 5)), smap.point((1, 2, 3, 4))]
    for p in swaps:
        H = log_likelihood_hessian(p.loadings, S, p.sigma2, wrt="joint" if smap.is_learned else "loadings")
        closed = p.hessian_eigenvalues
        assert np.max(np.abs(np.linalg.eigvalsh(H) - closed)) <= NUMERIC_RTOL * np.max(np.abs(closed))
        c = classify_point(p.loadings, S, p.sigma2, sigma2_learned=smap.is_learned)
        assert (c.stability, c.morse_index) == (p.stability, p.morse_index)
    assert best.stability is Stability.MAXIMUM


def test_lanczos_on_digits_global_maximum_and_a_saddle():
    S = covariance(digits_data())
    smap = stability_map(S, 0.5, latent_dim=20)
    rng = np.random.default_rng(0)
    R, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    for active, expected in [(tuple(range(20)), Stability.MAXIMUM), (tuple(range(19)) + (25,), Stability.SADDLE)]:
        p = smap.point(active)
        c = classify_point(p.loadings @ R, S, 0.5, method="lanczos")
        assert c.stability is expected and c.morse_index == min(p.morse_index, 6)
