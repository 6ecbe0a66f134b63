"""collapse_diagnostics against independent formulas, compare_collapse against the linear optimum,
and the ``diagnose`` command."""

from __future__ import annotations

import json
import re
from fractions import Fraction

import numpy as np
import pytest
from _support import cov_from_eigenvalues
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ppca_stability import (
    CollapseDiagnostics,
    collapse_diagnostics,
    compare_collapse,
    optimal_encoder,
    ppca_mle,
    predict_collapse,
)
from ppca_stability._cli import main

# Two float64 routes through the KL formula (log of the variance vs the log-variance itself).
KL_RTOL = 1e-9
# Margin around epsilon inside which the two routes may round to different sides: such draws are
# skipped.
TIE_RTOL = 1e-6
# Monte-Carlo error of KL and Var_x(mu) estimated from N_MC samples of the linear optimum's encoder.
N_MC = 20_000
MC_ATOL = 0.02


def _oracle(mu, logvar, eps, delta, au):
    """Per-sample KL written from the Gaussian KL formula with variances (not log-variances),
    activity as the plain two-pass variance, collapse as an exact fraction of samples."""
    var = np.exp(logvar)
    kl = 0.5 * (mu**2 + var - 1.0 - np.log(var))
    n = mu.shape[0]
    frac_below = [Fraction(int(np.sum(kl[:, i] < eps)), n) for i in range(mu.shape[1])]
    collapsed = tuple(i for i, f in enumerate(frac_below) if f >= 1 - Fraction(delta))
    centred = mu - mu.mean(axis=0)
    activity = (centred**2).mean(axis=0)
    return kl, collapsed, activity, activity > au


encoder_outputs = st.tuples(st.integers(1, 40), st.integers(1, 6)).flatmap(
    lambda shape: st.tuples(
        arrays(np.float64, shape, elements=st.floats(-5, 5)),
        arrays(np.float64, shape, elements=st.floats(-8, 4)),
    )
)


@given(
    encoder_outputs,
    st.sampled_from([1e-3, 0.01, 0.1]),
    st.sampled_from([0.0, 0.01, 0.1, 0.5]),
    st.sampled_from([0.0, 0.01, 0.5]),
)
def test_matches_independent_formulas(outputs, eps, delta, au):
    mu, logvar = outputs
    kl, collapsed, activity, active = _oracle(mu, logvar, eps, delta, au)
    assume(not np.any(np.abs(kl - eps) <= TIE_RTOL * eps))
    assume(not np.any(np.abs(activity - au) <= TIE_RTOL * max(au, 1e-12)))
    diag = collapse_diagnostics(mu, logvar, epsilon=eps, delta=delta, au_threshold=au)
    np.testing.assert_allclose(diag.kl_per_latent, kl.mean(axis=0), rtol=KL_RTOL, atol=1e-15)
    np.testing.assert_allclose(diag.mean_variance, activity, rtol=KL_RTOL, atol=1e-15)
    assert diag.collapsed == collapsed
    assert diag.active.tolist() == active.tolist() and diag.active_units == int(active.sum())
    assert diag.n_samples == mu.shape[0] and diag.latent_dim == mu.shape[1]
    assert diag.total_kl == pytest.approx(kl.mean(axis=0).sum(), rel=KL_RTOL, abs=1e-15)


@given(st.integers(1, 50), st.integers(1, 5), st.floats(-1e-4, 1e-4))
def test_all_collapsed_at_the_prior(n, q, jitter):
    """Encoder equal to the prior (mu = 0, log var = 0) up to tiny noise: every latent collapsed,
    none active."""
    mu = np.full((n, q), jitter)
    diag = collapse_diagnostics(mu, np.full((n, q), -jitter))
    assert diag.collapsed == tuple(range(q)) and diag.active_units == 0
    assert np.all(diag.kl_per_latent < 1e-8)


def test_none_collapsed_and_all_active():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(300, 4)) * 2.0
    diag = collapse_diagnostics(mu, np.full((300, 4), np.log(0.05)))
    assert diag.collapsed == () and diag.active_units == 4
    # KL = 1/2 (E mu^2 + 0.05 - 1 - log 0.05), per latent
    np.testing.assert_allclose(
        diag.kl_per_latent, 0.5 * ((mu**2).mean(0) + 0.05 - 1 - np.log(0.05)), rtol=KL_RTOL
    )


def test_single_sample():
    """n_samples = 1: no variance over x (nothing is active); collapse is decided by that one
    sample."""
    diag = collapse_diagnostics([[0.0, 3.0]], [[0.0, 0.0]])
    assert diag.active_units == 0 and diag.mean_variance.tolist() == [0.0, 0.0]
    assert diag.collapsed == (0,) and diag.kl_per_latent.tolist() == [0.0, 4.5]


def test_huge_means():
    """Means far beyond the data scale: the variance does not overflow or cancel, KL overflows to
    inf only
    when it exceeds the float range."""
    base = np.array([1e150, 1e150 + 1e136, 1e150 - 1e136])
    diag = collapse_diagnostics(np.column_stack([base, np.full(3, 1e8)]), np.zeros((3, 2)))
    exact = [Fraction(v) for v in base.tolist()]  # the variance of the stored floats, in rationals
    centre = sum(exact) / 3
    assert diag.mean_variance[0] == pytest.approx(
        float(sum((v - centre) ** 2 for v in exact) / 3), rel=1e-12
    )
    assert diag.mean_variance[1] == 0.0  # constant column: exactly 0
    assert diag.active.tolist() == [True, False]
    assert diag.kl_per_latent[1] == pytest.approx(0.5e16, rel=1e-15)
    huge = collapse_diagnostics([[1e200], [-1e200]], [[0.0], [0.0]])
    assert (
        huge.kl_per_latent[0] == np.inf
        and huge.mean_variance[0] == np.inf
        and huge.active_units == 1
    )


def test_delta_counts_samples_exactly():
    """delta = 0.01 on 100 samples allows exactly one sample above epsilon (1 - 0.01 = 0.99 in
    floats
    would make this a rounding question)."""
    mu = np.zeros((100, 2))
    mu[:1, 0] = 1.0  # one sample informative in latent 0
    mu[:2, 1] = 1.0  # two in latent 1
    diag = collapse_diagnostics(mu, np.zeros((100, 2)), epsilon=0.01, delta=0.01)
    assert diag.collapsed == (0,)
    assert diag.collapsed_fraction.tolist() == [0.99, 0.98]


def test_accepts_torch_like_and_lists():
    class ArrayLike:  # what a CPU torch tensor offers numpy
        def __init__(self, a):
            self.a = a

        def __array__(self, dtype=None, copy=None):
            return self.a

    mu = np.array([[0.5, 0.0], [-0.5, 0.0]])
    a = collapse_diagnostics(ArrayLike(mu), ArrayLike(np.zeros((2, 2))))
    b = collapse_diagnostics(mu.tolist(), [[0, 0], [0, 0]])
    assert a.kl_per_latent.tolist() == b.kl_per_latent.tolist() == [0.125, 0.0]


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (
            dict(means=np.zeros(5), log_variances=np.zeros(5)),
            ValueError,
            r"`means` must be a 2-D .* shape \(n_samples, 1\)",
        ),
        (
            dict(means=np.zeros((5, 2)), log_variances=np.zeros((2, 5))),
            ValueError,
            "shape of `means`.*transpose",
        ),
        (
            dict(means=np.zeros((5, 2)), log_variances=np.zeros((5, 3))),
            ValueError,
            "`log_variances` must have the shape",
        ),
        (
            dict(means=np.full((5, 2), np.nan), log_variances=np.zeros((5, 2))),
            ValueError,
            "`means` must contain only finite",
        ),
        (
            dict(means=np.zeros((5, 2)), log_variances=np.full((5, 2), np.inf)),
            ValueError,
            "`log_variances` must contain only finite",
        ),
        (
            dict(means=np.zeros((0, 2)), log_variances=np.zeros((0, 2))),
            ValueError,
            "at least one sample",
        ),
        (dict(means=np.zeros((3, 2, 1)), log_variances=np.zeros((3, 2, 1))), ValueError, "2-D"),
        (dict(means="abc", log_variances=np.zeros((5, 2))), TypeError, "`means` must be an array"),
        (
            dict(means=np.zeros((5, 2)), log_variances=np.zeros((5, 2)), epsilon=-0.1),
            ValueError,
            "`epsilon` must be non-negative",
        ),
        (
            dict(means=np.zeros((5, 2)), log_variances=np.zeros((5, 2)), delta=1.5),
            ValueError,
            r"`delta` must be in \[0, 1\]",
        ),
        (
            dict(means=np.zeros((5, 2)), log_variances=np.zeros((5, 2)), au_threshold=-1),
            ValueError,
            "`au_threshold`",
        ),
        (
            dict(means=np.zeros((5, 2)), log_variances=np.zeros((5, 2)), au_threshold=True),
            TypeError,
            "`au_threshold`",
        ),
    ],
)
def test_errors_name_the_parameter(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        collapse_diagnostics(**kwargs)


def test_repr_is_a_table():
    diag = collapse_diagnostics(
        np.column_stack([np.linspace(-1, 1, 50), np.zeros(50)]), np.zeros((50, 2))
    )
    text = repr(diag)
    assert text.splitlines()[0].startswith(
        "CollapseDiagnostics(n_samples=50, latent_dim=2, active_units=1, collapsed=1"
    )
    assert text.splitlines()[1].startswith("  I(x; z) = ") and "at most log 50 = 3.912" in text
    assert len(text.splitlines()) == 4 + 2


def _linear_optimum_outputs(lam, s, q, rng):
    """Encoder outputs of the linear VAE at its analytic optimum (theory.md §6), on Gaussian
    samples."""
    S = cov_from_eigenvalues(lam, rng)
    W = ppca_mle(S, q, sigma2=s).loadings
    V, D = optimal_encoder(W, s)
    X = rng.multivariate_normal(np.zeros(lam.size), S, size=N_MC)
    mu = X @ V.T
    return S, mu, np.broadcast_to(np.log(D), mu.shape)


@pytest.mark.parametrize("s", [0.3, 1.5, 3.0, 10.0])
def test_linear_optimum_measures_as_predicted(s):
    """Diagnostics of the analytic linear-VAE encoder reproduce predict_collapse: the same live
    latents
    and, within Monte-Carlo error, KL = 1/2 log(lam / s) and Var_x(mu) = 1 - s / lam."""
    rng = np.random.default_rng(3)
    lam = np.array([8.0, 4.0, 2.0, 1.0, 0.5])
    S, mu, logvar = _linear_optimum_outputs(lam, s, 3, rng)
    cmp = compare_collapse(collapse_diagnostics(mu, logvar), S, sigma2=s)
    pred = predict_collapse(S, latent_dim=3, sigma2=s)
    assert cmp.predicted_active_units == cmp.measured.active_units == pred.n_active
    # ppca_mle orders the columns by eigenvalue, so latent c is rank c; dead columns have KL exactly
    # 0
    assert cmp.measured.collapsed == tuple(int(c) for c in np.flatnonzero(pred.collapsed))
    np.testing.assert_allclose(cmp.measured_kl, pred.kl_per_latent, atol=MC_ATOL)
    np.testing.assert_allclose(
        cmp.measured.mean_variance[cmp.order], cmp.predicted_mean_variance, atol=MC_ATOL
    )
    assert cmp.kl_difference == pytest.approx(cmp.measured_kl - cmp.predicted_kl)


# An arbitrary encoder: some other convention may explain it better, which compare_collapse says.
@pytest.mark.filterwarnings("ignore:compare_collapse:UserWarning")
def test_compare_with_beta_uses_the_sigma2_conventions():
    rng = np.random.default_rng(0)
    S = cov_from_eigenvalues([4.0, 2.0, 1.0, 0.5], rng)
    diag = collapse_diagnostics(rng.normal(size=(50, 2)), np.zeros((50, 2)))
    by_beta = compare_collapse(diag, S, beta=1.0, reconstruction="mse")  # sigma2 = beta d / 2 = 2
    assert (
        by_beta.sigma2 == 2.0
        and by_beta.beta == 1.0
        and by_beta.predicted_live.tolist() == [True, False]
    )
    assert "beta=1, mse" in repr(by_beta) and "active units" in repr(by_beta)
    assert compare_collapse(diag, S, beta=4.0, reconstruction="sse").sigma2 == 2.0
    # A KL averaged over the q = 2 latents weighs it beta / q: sigma2 = (beta / q) d / 2 = 1.
    by_mean = compare_collapse(diag, S, beta=1.0, reconstruction="mse", kl_reduction="mean")
    assert by_mean.sigma2 == 1.0 and by_mean.predicted_live.tolist() == [True, True]


DIAG = collapse_diagnostics(np.zeros((5, 2)), np.zeros((5, 2)))


@pytest.mark.parametrize(
    "args,exc,match",
    [
        (
            (np.zeros((5, 2)), np.eye(3), 1.0),
            TypeError,
            "`diagnostics` must be a CollapseDiagnostics",
        ),
        ((DIAG, np.eye(1), 1.0), ValueError, "latent_dim = 2, more than the 1 features"),
        ((DIAG, np.eye(3)), ValueError, "exactly one of `sigma2` and `beta`"),
        ((DIAG, np.eye(3), -1.0), ValueError, "`sigma2` must be positive"),
        ((DIAG, np.ones((3, 2)), 1.0), ValueError, "`cov` must be a square"),
    ],
)
def test_compare_errors(args, exc, match):
    with pytest.raises(exc, match=match):
        compare_collapse(*args)


# --------------------------------------------------------------------------- the diagnose command


def _save_outputs(tmp_path, **arrays):
    path = tmp_path / "enc.npz"
    np.savez(path, **arrays)
    return str(path)


def test_cli_diagnose_table_and_json(tmp_path, capsys):
    rng = np.random.default_rng(0)
    mu = np.column_stack([rng.normal(size=200), np.zeros(200)])
    path = _save_outputs(tmp_path, mu=mu, logvar=np.zeros((200, 2)))
    assert main(["diagnose", path]) == 0
    assert repr(collapse_diagnostics(mu, np.zeros((200, 2)))) in capsys.readouterr().out
    assert main(["diagnose", path, "--json", "--epsilon", "0.5"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (
        payload["active_units"] == 1 and payload["collapsed"] == [1] and payload["epsilon"] == 0.5
    )


def test_cli_diagnose_against_data(tmp_path, capsys):
    rng = np.random.default_rng(1)
    lam = np.array([8.0, 4.0, 2.0, 1.0, 0.5])
    S, mu, logvar = _linear_optimum_outputs(lam, 3.0, 3, rng)
    np.save(tmp_path / "cov.npy", S)
    path = _save_outputs(tmp_path, means=mu, log_variances=np.ascontiguousarray(logvar))
    assert (
        main(["diagnose", path, "--data", str(tmp_path / "cov.npy"), "--cov", "--sigma2", "3"]) == 0
    )
    out = capsys.readouterr().out
    assert repr(compare_collapse(collapse_diagnostics(mu, logvar), S, sigma2=3.0)) in out
    assert (
        main(
            [
                "diagnose",
                path,
                "--data",
                str(tmp_path / "cov.npy"),
                "--cov",
                "--sigma2",
                "3",
                "--json",
            ]
        )
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert payload["linear"]["active_units"] == 2 == payload["active_units"]


@pytest.mark.parametrize(
    "arrays,extra,match",
    [
        (dict(a=np.zeros((3, 2))), [], "no means in"),
        (dict(mu=np.zeros((3, 2))), [], "no log-variances in"),
        (dict(mu=np.zeros((3, 2)), logvar=np.zeros((2, 3))), [], "transpose"),
        (
            dict(mu=np.zeros((3, 2)), logvar=np.zeros((3, 2))),
            ["--sigma2", "1"],
            "--sigma2/--beta: only with --data",
        ),
    ],
)
def test_cli_diagnose_errors_are_one_line(tmp_path, capsys, arrays, extra, match):
    path = _save_outputs(tmp_path, **arrays)
    assert main(["diagnose", path, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(match, err)


def test_cli_diagnose_missing_file(tmp_path, capsys):
    assert main(["diagnose", str(tmp_path / "nope.npz")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_diagnostics_result_is_frozen():
    diag = collapse_diagnostics(np.zeros((2, 1)), np.zeros((2, 1)))
    assert isinstance(diag, CollapseDiagnostics)
    with pytest.raises(AttributeError):
        diag.epsilon = 1.0  # type: ignore[misc]
