"""(epsilon, delta)-collapse at its boundary: delta is the decimal the user wrote.

Lucas et al.'s definition: latent i is collapsed when KL_i(x) < epsilon on at least a 1 - delta
fraction of the samples. With k samples above epsilon out of n, the latent is collapsed iff
k / n <= delta; at k = delta n exactly it is collapsed, whatever binary double stores delta.
"""

from fractions import Fraction

import numpy as np
import pytest

from ppca_stability import collapse_diagnostics

CASES = [
    (n, delta)
    for n in (50, 100, 300, 1000, 10_000)
    for delta in (0.01, 0.03, 0.07, 0.1, 0.3, 0.29, 0.57)
    if (Fraction(str(delta)) * n).denominator == 1
]


def encoder_outputs(n: int, k_above: int) -> tuple[np.ndarray, np.ndarray]:
    """Two latents: latent 0 has KL 0.5 (> epsilon) on the first `k_above` samples and 0
    elsewhere; latent 1 has KL 0.5 everywhere."""
    mu = np.zeros((n, 2))
    mu[:k_above, 0] = 1.0  # KL = mu^2 / 2 with logvar = 0
    mu[:, 1] = 1.0
    return mu, np.zeros((n, 2))


@pytest.mark.parametrize(("n", "delta"), CASES)
def test_exactly_delta_n_samples_above_epsilon_is_collapsed(n, delta):
    k = int(Fraction(str(delta)) * n)
    diag = collapse_diagnostics(*encoder_outputs(n, k), epsilon=0.01, delta=delta)
    assert diag.collapsed == (0,)


@pytest.mark.parametrize(("n", "delta"), CASES)
def test_one_more_sample_above_epsilon_is_not_collapsed(n, delta):
    k = int(Fraction(str(delta)) * n) + 1
    diag = collapse_diagnostics(*encoder_outputs(n, k), epsilon=0.01, delta=delta)
    assert diag.collapsed == ()


def test_the_reported_case_three_of_one_hundred():
    diag = collapse_diagnostics(*encoder_outputs(100, 3), epsilon=0.01, delta=0.03)
    assert diag.collapsed == (0,)
    assert diag.collapsed_fraction[0] == pytest.approx(0.97)
