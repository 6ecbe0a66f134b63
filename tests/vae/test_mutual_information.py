"""The mutual information I(x; z) of collapse_diagnostics (He et al. 2019's estimator).

Oracles: the same estimator written independently with scipy.stats (each posterior a
multivariate_normal, its entropy from scipy) on the documented draw; closed forms (an encoder at the
prior has I = 0, a deterministic encoder that separates n samples has I = log n, the linear VAE's
optimum has I = 1/2 sum log(lam_c / sigma2) because its aggregate posterior is the prior), each
within the estimator's Monte-Carlo error; a direct difference-form evaluation where the fast
expansion would cancel.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from ppca_stability import collapse_diagnostics
from ppca_stability._vae import mutual_information as mi_module

# Two float64 routes through the same estimator (mixture log-sum-exp, closed-form entropy).
ESTIMATOR_RTOL = 1e-10
# Monte-Carlo standard deviations allowed between the estimate and a closed form.
MC_SDS = 4.0


def _draw(mu, logvar, seed):
    """The documented draw: eps = default_rng(seed).standard_normal((n, q))."""
    eps = np.random.default_rng(seed).standard_normal(mu.shape)
    return mu + np.exp(0.5 * logvar) * eps


def _scipy_estimate(mu, logvar, seed):
    """-E_x H(q(z|x)) - mean_i log (1/n) sum_j q(z_i | x_j), with scipy's Gaussians."""
    z = _draw(mu, logvar, seed)
    n = mu.shape[0]
    posteriors = [stats.multivariate_normal(mu[j], np.diag(np.exp(logvar[j]))) for j in range(n)]
    log_q = np.column_stack([np.atleast_1d(post.logpdf(z)) for post in posteriors])
    neg_entropy = -np.mean([post.entropy() for post in posteriors])
    return neg_entropy - np.mean(logsumexp(log_q, axis=1) - math.log(n))


@pytest.mark.parametrize(
    "n,q,spread,seed", [(1, 1, 1.0, 0), (40, 1, 1.0, 1), (120, 3, 0.3, 2), (200, 5, 3.0, 3)]
)
def test_matches_scipy_mixture(n, q, spread, seed):
    rng = np.random.default_rng(100 + seed)
    mu = spread * rng.standard_normal((n, q))
    logvar = rng.uniform(-4.0, 1.0, (n, q))
    diag = collapse_diagnostics(mu, logvar, rng=seed)
    assert diag.mi_samples == n
    assert diag.mutual_information == pytest.approx(
        _scipy_estimate(mu, logvar, seed), rel=ESTIMATOR_RTOL, abs=1e-12
    )


def test_encoder_at_the_prior_has_no_information():
    """mu = 0, log var = 0: the mixture is N(0, I) exactly, the estimate is 1/2 (mean |z|^2 - q),
    mean 0 and standard deviation sqrt(q / (2 n))."""
    n, q = 2000, 4
    diag = collapse_diagnostics(np.zeros((n, q)), np.zeros((n, q)))
    assert abs(diag.mutual_information) < MC_SDS * math.sqrt(q / (2 * n))
    assert diag.total_kl == 0.0 and len(diag.collapsed) == q


def test_deterministic_separating_encoder_reaches_log_n():
    """Posteriors of width 1e-3 around means 10 apart: each z_i has only its own component, the
    estimate is log n + 1/2 (q - mean |eps|^2), within sqrt(q / (2 n)) of log n."""
    n, q = 500, 2
    mu = np.column_stack([10.0 * np.arange(n), np.zeros(n)])
    logvar = np.full((n, q), math.log(1e-6))
    diag = collapse_diagnostics(mu, logvar, rng=7)
    assert abs(diag.mutual_information - math.log(n)) < MC_SDS * math.sqrt(q / (2 * n))
    assert f"at most log {n} = {math.log(n):.4g}" in repr(diag)


def _direct_estimate(mu, logvar, seed):
    """The estimator from the differences z_i - mu_j = (mu_i - mu_j) + sigma_i eps_i, row by row."""
    eps = np.random.default_rng(seed).standard_normal(mu.shape)
    sig = np.exp(0.5 * logvar)
    n, q = mu.shape
    log_qz = np.empty(n)
    for i in range(n):
        t = ((mu[i] - mu) + sig[i] * eps[i]) / sig
        with np.errstate(over="ignore"):  # far components: t^2 = inf, density 0
            log_q = -0.5 * np.sum(np.log(2 * np.pi) + logvar + t**2, axis=1)
        log_qz[i] = logsumexp(log_q) - math.log(n)
    return -0.5 * np.mean(np.sum(np.log(2 * np.pi) + 1 + logvar, axis=1)) - np.mean(log_qz)


@pytest.mark.parametrize("scale,log_var", [(1e4, -28.0), (1e3, -60.0), (1.0, -1400.0)])
def test_narrow_posteriors_far_from_the_origin(monkeypatch, scale, log_var):
    """mu^2 / sigma^2 from ~1e20 to ~1e600 (where the expanded squares cancel completely or
    overflow): the entries that matter are recomputed from differences and match the direct
    evaluation; without that step the estimate is far off."""
    rng = np.random.default_rng(5)
    n = 150
    mu = scale * rng.standard_normal((n, 3))
    mu[1] = mu[0] + np.exp(0.5 * log_var)  # two posteriors one width apart
    logvar = np.full((n, 3), log_var)
    got = collapse_diagnostics(mu, logvar, rng=4).mutual_information
    assert got == pytest.approx(_direct_estimate(mu, logvar, 4), rel=ESTIMATOR_RTOL)
    monkeypatch.setattr(mi_module, "EXACT_TOL", np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        unrefined = collapse_diagnostics(mu, logvar, rng=4).mutual_information
    assert not abs(unrefined - got) < 0.1


@pytest.mark.parametrize("blocks", [1, 4])
@pytest.mark.parametrize("piled_up", [True, False], ids=["piled up", "spread"])
def test_means_piled_up_far_from_the_origin_are_evaluated_from_differences(
    monkeypatch, blocks, piled_up
):
    """Every mean within its posterior width of the others and 1e6 from the origin: every entry
    of the expansion cancels and matters, so a sample of rows says so and every block is
    evaluated from the differences alone (the expansion runs only on the sample); ordinary
    outputs are expanded block by block. Either way the direct evaluation's estimate."""
    rng = np.random.default_rng(12)
    n, q = 200, 4
    if piled_up:
        mu = 1e6 + 1e-3 * rng.standard_normal((n, q))
        logvar = np.full((n, q), math.log(1e-6))
    else:
        mu, logvar = rng.standard_normal((n, q)), rng.uniform(-2.0, 0.0, (n, q))
    monkeypatch.setattr(mi_module, "BLOCK_ELEMENTS", n * n // blocks)
    calls = []
    expanded = mi_module._expanded
    monkeypatch.setattr(
        mi_module, "_expanded", lambda zb, *args: calls.append(len(zb)) or expanded(zb, *args)
    )
    got = collapse_diagnostics(mu, logvar, rng=4).mutual_information
    assert calls == [mi_module.SAMPLE_ROWS] + ([] if piled_up else [n // blocks] * blocks)
    assert got == pytest.approx(_direct_estimate(mu, logvar, 4), rel=ESTIMATOR_RTOL)


def test_blocks_do_not_change_the_estimate(monkeypatch):
    """Blocks of one row and chunked recomputation give the estimate of one block."""
    rng = np.random.default_rng(6)
    mu = np.vstack([rng.standard_normal((60, 2)), 1e5 + 1e-4 * rng.standard_normal((20, 2))])
    logvar = np.vstack([rng.uniform(-3, 0, (60, 2)), np.full((20, 2), -25.0)])
    whole = collapse_diagnostics(mu, logvar).mutual_information
    monkeypatch.setattr(mi_module, "BLOCK_ELEMENTS", 7)
    assert collapse_diagnostics(mu, logvar).mutual_information == pytest.approx(
        whole, rel=ESTIMATOR_RTOL
    )


def test_linear_optimum_information_is_its_rate():
    """At the linear VAE's optimum on Gaussian data the aggregate posterior is the prior
    (Var_x mu_c + D_c = 1), so I(x; z) = E_x KL = 1/2 sum_c log(lam_c / sigma2) exactly; the
    estimate over 2 000 samples falls short of it only by the mixture's bias, here < 0.03 nats."""
    lam, s = np.array([8.0, 4.0, 2.0]), 1.0
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2000, 3)) * np.sqrt(lam)
    mu = x * (1 - s / lam) / np.sqrt(lam - s)  # V* x in the eigenbasis, W = sqrt(lam - s)
    logvar = np.broadcast_to(np.log(s / lam), mu.shape)
    exact = 0.5 * np.sum(np.log(lam / s))
    diag = collapse_diagnostics(mu, logvar)
    assert np.allclose(np.var(mu, axis=0) + s / lam, 1.0, atol=0.1)
    assert exact - 0.03 < diag.mutual_information < exact + MC_SDS * math.sqrt(3 / 4000)


def test_subset_above_mi_max_samples_is_the_documented_draw():
    rng = np.random.default_rng(9)
    mu, logvar = rng.standard_normal((300, 2)), rng.uniform(-2, 0, (300, 2))
    diag = collapse_diagnostics(mu, logvar, rng=11, mi_max_samples=100)
    assert diag.mi_samples == 100 and diag.n_samples == 300
    g = np.random.default_rng(11)
    rows = np.sort(g.choice(300, 100, replace=False))
    expected = mi_module.mutual_information(mu[rows], logvar[rows], g)
    assert diag.mutual_information == expected
    assert "over 100 samples; at most log 100 = 4.605" in repr(diag)


def test_seeded_by_default_and_the_seed_matters():
    rng = np.random.default_rng(10)
    mu, logvar = rng.standard_normal((80, 2)), np.zeros((80, 2))
    a, b = collapse_diagnostics(mu, logvar), collapse_diagnostics(mu, logvar)
    assert a.mutual_information == b.mutual_information
    assert collapse_diagnostics(mu, logvar, rng=1).mutual_information != a.mutual_information
    gen = np.random.default_rng(0)
    assert collapse_diagnostics(mu, logvar, rng=gen).mutual_information == a.mutual_information


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(mi_max_samples=0), ValueError, "`mi_max_samples` must be a positive integer"),
        (dict(mi_max_samples=1.5), TypeError, "`mi_max_samples` must be a positive integer"),
        (dict(rng="seed"), TypeError, "`rng` must be a numpy.random.Generator"),
    ],
)
def test_errors_name_the_parameter(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        collapse_diagnostics(np.zeros((5, 2)), np.zeros((5, 2)), **kwargs)
