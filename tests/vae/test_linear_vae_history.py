"""A fit's history is bounded: every step up to a cap of rows, then every k-th step and the last,
with the rows it keeps equal to those of an unbounded record."""

from __future__ import annotations

import numpy as np
import pytest

import ppca_stability._vae.linear_vae as linear_vae
from ppca_stability import fit_linear_vae


def fit(max_steps: int, seed: int = 3):
    X = np.random.default_rng(0).standard_normal((60, 4)) * np.array([3.0, 2.0, 1.0, 0.5])
    return fit_linear_vae(
        X,
        latent_dim=2,
        sigma2=0.5,
        objective="stochastic",
        max_steps=max_steps,
        batch_size=8,
        rng=np.random.default_rng(seed),
    )


@pytest.mark.filterwarnings("ignore::ppca_stability.ConvergenceWarning")
def test_the_history_of_a_long_fit_keeps_a_bounded_strided_record(monkeypatch):
    full = fit(301).history
    assert full.steps.tolist() == list(range(302))
    monkeypatch.setattr(linear_vae, "MAX_HISTORY_ROWS", 16)
    short = fit(301).history
    assert short.elbo.size <= 17 and short.steps[0] == 0 and short.steps[-1] == 301
    assert np.all(np.diff(short.steps) > 0)
    stride = int(short.steps[1])
    assert stride > 1 and np.all(short.steps[:-1] % stride == 0)
    np.testing.assert_array_equal(short.elbo, full.elbo[short.steps])
    np.testing.assert_array_equal(short.kl, full.kl[short.steps])
    np.testing.assert_array_equal(short.sigma2, full.sigma2[short.steps])
    assert f"n_steps=301, {short.steps.size} rows" in repr(short)
