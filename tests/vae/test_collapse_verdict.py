"""The one-line verdict of compare_collapse, and the loss convention it asks for with beta.

Oracle: encoder outputs of the analytic linear-VAE optimum (theory.md §6) at a known sigma2, whose
collapse is exactly the linear prediction; read with the right convention they must be
"consistent", read with a wrong one (a factor d or q off in sigma2) "far ... check the loss
convention", naming the convention they were made with.
"""

import warnings

import numpy as np
import pytest
from _support import cov_from_eigenvalues

from ppca_stability import (
    collapse_diagnostics,
    compare_collapse,
    optimal_encoder,
    ppca_mle,
    sigma2_from_beta,
)
from ppca_stability._vae.comparison import CONSISTENT, CONVENTION, DIFFERENT

# 20 features, eigenvalues 10 .. 0.01 geometrically: the conventions put sigma2 far apart.
LAM = np.geomspace(10.0, 0.01, 20)
Q = 8
# Samples of the encoder outputs (Monte-Carlo error of the total KL ~ 1 %).
N = 20_000


def _optimum_outputs(s, rng):
    """Means and log-variances of the linear VAE's optimal encoder at sigma2 = s, on N samples."""
    S = cov_from_eigenvalues(LAM, rng)
    V, D = optimal_encoder(ppca_mle(S, Q, sigma2=s).loadings, s)
    X = rng.multivariate_normal(np.zeros(LAM.size), S, size=N)
    mu = X @ V.T
    return S, collapse_diagnostics(mu, np.broadcast_to(np.log(D), mu.shape))


@pytest.mark.parametrize(
    "reconstruction,kl_reduction,beta",
    [("sse", "sum", 1.0), ("half_sse", "sum", 0.3), ("mse", "sum", 0.02), ("mse", "mean", 0.5)],
)
def test_right_convention_is_consistent(reconstruction, kl_reduction, beta, rng):
    conv = {"reconstruction": reconstruction, "kl_reduction": kl_reduction}
    s = sigma2_from_beta(beta, n_features=LAM.size, latent_dim=Q, **conv)
    S, diag = _optimum_outputs(s, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cmp = compare_collapse(diag, S, beta=beta, **conv)
    assert cmp.verdict.startswith(CONSISTENT + ": ")
    assert cmp.suspected_convention is None
    assert (
        f"{diag.active_units} active units measured vs {cmp.predicted_active_units} predicted"
        in cmp.verdict
    )
    assert f"  verdict: {cmp.verdict}" in repr(cmp)


@pytest.mark.parametrize(
    "trained,read_as",
    [
        # an SSE loss read as nn.MSELoss(): sigma2 d = 20 times too large, every latent "dies"
        (("sse", "sum"), ("mse", "sum")),
        # the other way round: sigma2 20 times too small, every latent "lives"
        (("mse", "sum"), ("sse", "sum")),
        # a KL averaged over the q latents read as summed: sigma2 q = 8 times too large
        (("mse", "mean"), ("mse", "sum")),
    ],
)
def test_wrong_convention_is_named(trained, read_as, rng):
    beta = 1.0 if trained[0] == "sse" else 0.1
    s = sigma2_from_beta(
        beta, reconstruction=trained[0], kl_reduction=trained[1], n_features=LAM.size, latent_dim=Q
    )
    S, diag = _optimum_outputs(s, rng)
    with pytest.warns(UserWarning, match=f"reconstruction={trained[0]!r}") as caught:
        cmp = compare_collapse(
            diag, S, beta=beta, reconstruction=read_as[0], kl_reduction=read_as[1]
        )
    assert len(caught) == 1
    assert cmp.verdict.startswith(CONVENTION + ": ")
    assert cmp.suspected_convention == trained
    # the verdict quotes the sigma2 the suspected convention gives
    assert f"(sigma2 = {s:.4g})" in cmp.verdict
    # and the right reading is consistent
    right = compare_collapse(diag, S, beta=beta, reconstruction=trained[0], kl_reduction=trained[1])
    assert right.verdict.startswith(CONSISTENT)


def test_sigma2_given_is_never_a_convention_question(rng):
    """Without beta there is no convention to blame: a far-off sigma2 "differs", silently."""
    S, diag = _optimum_outputs(0.05, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cmp = compare_collapse(diag, S, sigma2=50.0)
    assert cmp.verdict.startswith(DIFFERENT + ": ") and cmp.suspected_convention is None
    assert f"{diag.active_units} active units measured vs 0 predicted" in cmp.verdict


def test_extra_weakly_active_units_differ_without_blaming_the_convention(rng):
    """The optimum plus weakly active units (Var_x mu = 0.0225, KL ~ 0.011 each) in its collapsed
    latents: the KL matches, the count does not. "differs", with the eigenvalues near sigma2
    named, and no convention blamed."""
    s = float(np.sqrt(LAM[3] * LAM[4]))  # 4 live latents, two eigenvalues within a factor 1.5
    S, optimum = _optimum_outputs(s, rng)
    live = optimum.active
    mu = np.where(live, 0.0, 0.15 * rng.standard_normal((N, Q)))
    logvar = np.full((N, Q), np.log(0.99))
    # keep the live latents as they were: rebuild them from the optimum's encoder
    V, D = optimal_encoder(ppca_mle(S, Q, sigma2=s).loadings, s)
    X = rng.multivariate_normal(np.zeros(LAM.size), S, size=N)
    mu[:, live] = (X @ V.T)[:, live]
    logvar[:, live] = np.log(D)[live]
    diag = collapse_diagnostics(mu, logvar)
    assert diag.active_units == Q
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cmp = compare_collapse(diag, S, beta=2 * s, reconstruction="sse")
    assert cmp.verdict.startswith(DIFFERENT + ": ")
    assert f"{Q} active units measured vs {np.count_nonzero(LAM > s)} predicted" in cmp.verdict
    assert "within a factor 1.5 of 2 eigenvalue(s)" in cmp.verdict
    assert cmp.suspected_convention is None


def test_kl_change_in_percent(rng):
    S, diag = _optimum_outputs(0.3, rng)
    cmp = compare_collapse(diag, S, sigma2=0.3)
    predicted = float(np.sum(cmp.predicted_kl))
    pct = round(100 * (diag.total_kl / predicted - 1))
    assert f"total KL {diag.total_kl:.3g} vs {predicted:.3g} nats ({pct:+d} %)" in cmp.verdict


def test_beta_without_reconstruction_is_a_future_warning(rng):
    S, diag = _optimum_outputs(0.3, rng)
    with pytest.warns(FutureWarning, match="`reconstruction` is required with `beta`") as caught:
        cmp = compare_collapse(diag, S, beta=0.06)  # mse: sigma2 = 0.06 * 20 / 2 = 0.6
    assert all(w.filename == __file__ for w in caught)  # points at the caller
    assert cmp.reconstruction == "mse" and cmp.sigma2 == pytest.approx(0.6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compare_collapse(diag, S, sigma2=0.3)
        compare_collapse(diag, S, beta=0.06, reconstruction="mse")
