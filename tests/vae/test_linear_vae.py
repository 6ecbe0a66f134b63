"""Training a linear VAE (theory.md §6): on digits against ppca_mle, every optimiser and objective,
history, callback, progress and plot, input validation and the CLI."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from _support import digits_data, random_vae_problem

from ppca_stability import ConvergenceWarning, covariance, fit_linear_vae, ppca_mle, spectrum

# Acceptance thresholds (relative Frobenius error of W W^T against ppca_mle).
ANALYTIC_WWT_RTOL = 1e-6
STOCHASTIC_WWT_RTOL = 2e-2


def wwt_error(W, W_ref) -> float:
    return float(np.linalg.norm(W @ W.T - W_ref @ W_ref.T) / np.linalg.norm(W_ref @ W_ref.T))


# ----------------------------------------------------------------------------- training on digits


@pytest.fixture(scope="module")
def digits():
    X = digits_data()
    return X, covariance(X), spectrum(covariance(X)).eigenvalues


# sigma2 settings for latent_dim 10, chosen from the spectrum (digits: 179, 164, 142, 101, 69, 59,
# ...): learned; below lam_10 (no latent collapses); between lam_5 and lam_4 (6 of 10 collapse);
# between lam_4 and lam_3 (7 of 10 collapse). Higher sigma2 leaves live columns with lam - s of
# order 10 against s of order 150 and near-tied survivors (lam_1, lam_2), so the W W^T target itself
# is tiny and the Monte-Carlo noise of a minibatch-128 run exceeds 2e-2 of it.
SETTINGS = {
    "learned": lambda lam: "learned",
    "none-collapse": lambda lam: 0.5 * float(lam[9]),
    "some-collapse": lambda lam: float(np.sqrt(lam[3] * lam[4])),
    "most-collapse": lambda lam: float(np.sqrt(lam[2] * lam[3])),
}


@pytest.mark.parametrize("setting", SETTINGS)
def test_analytic_training_reaches_ppca_mle_on_digits(digits, setting):
    X, S, lam = digits
    sigma2 = SETTINGS[setting](lam)
    ref = ppca_mle(S, 10, sigma2=sigma2)
    fit = fit_linear_vae(cov=S, latent_dim=10, sigma2=sigma2, rng=0)
    assert fit.converged
    assert wwt_error(fit.loadings, ref.loadings) <= ANALYTIC_WWT_RTOL
    assert len(fit.switched_off) == ref.n_collapsed
    live = [c for c in range(10) if c not in fit.switched_off]
    # The live columns span exactly the predicted principal directions.
    U = spectrum(S).eigenvectors[:, : ref.n_active]
    Q = np.linalg.qr(fit.loadings[:, live])[0] if live else np.zeros((64, 0))
    assert np.allclose(np.linalg.svd(U.T @ Q, compute_uv=False), 1.0, atol=ANALYTIC_WWT_RTOL)
    assert fit.elbo == pytest.approx(ref.log_likelihood, rel=ANALYTIC_WWT_RTOL)
    if sigma2 == "learned":
        assert fit.sigma2 == pytest.approx(ref.sigma2, rel=ANALYTIC_WWT_RTOL)


@pytest.mark.slow
@pytest.mark.parametrize("setting", SETTINGS)
def test_stochastic_training_reaches_ppca_mle_on_digits(digits, setting):
    X, S, lam = digits
    sigma2 = SETTINGS[setting](lam)
    ref = ppca_mle(S, 10, sigma2=sigma2)
    fit = fit_linear_vae(
        X, latent_dim=10, sigma2=sigma2, objective="stochastic", batch_size=128, rng=0
    )
    assert wwt_error(fit.loadings, ref.loadings) <= STOCHASTIC_WWT_RTOL
    assert len(fit.switched_off) == ref.n_collapsed


def test_data_and_cov_give_the_same_analytic_fit(digits):
    X, S, _ = digits
    a = fit_linear_vae(X[:300], latent_dim=3, sigma2=30.0, rng=5)
    b = fit_linear_vae(cov=covariance(X[:300]), latent_dim=3, sigma2=30.0, rng=5)
    assert np.array_equal(a.loadings, b.loadings)


@pytest.mark.parametrize("optimizer", ["adam", "gd"])
def test_first_order_optimizers_improve_and_warn_when_stopped_early(optimizer):
    S, _, _ = random_vae_problem(0)
    with pytest.warns(ConvergenceWarning, match="max_steps"):
        fit = fit_linear_vae(
            cov=S, latent_dim=2, sigma2=0.5, optimizer=optimizer, max_steps=200, rng=0
        )
    assert not fit.converged and fit.message.startswith("not converged")
    assert fit.history.elbo[-1] > fit.history.elbo[0]
    assert fit.history.kl.shape == (201, 2) and fit.n_iter == 200


def test_callback_progress_history_and_plot():
    from matplotlib.figure import Figure

    S, _, _ = random_vae_problem(1)
    seen = []
    fit = fit_linear_vae(
        cov=S,
        latent_dim=2,
        sigma2="learned",
        rng=0,
        progress=True,
        callback=lambda k, p, s, e: seen.append((k, e)),
    )
    assert [k for k, _ in seen] == list(range(1, fit.n_iter + 1))
    assert seen[-1][1] == fit.elbo == fit.history.elbo[-1]
    assert fit.history.sigma2[-1] == fit.sigma2
    assert "LinearVAEFit" in repr(fit) and "converged" in repr(fit)
    fig = fit.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    # Into given axes: the same two panels, on the caller's figure.
    target = Figure()
    axes = target.subplots(1, 2)
    assert fit.plot(axes) is target
    assert [a.get_ylabel() for a in axes] == [a.get_ylabel() for a in fig.axes]
    with pytest.raises(ValueError, match="`ax`"):
        fit.plot(axes[0])


def test_matplotlib_is_imported_lazily_and_plot_avoids_pyplot():
    code = (
        "import sys, ppca_stability; print('matplotlib' in sys.modules); "
        "fit = ppca_stability.fit_linear_vae(cov=[[2.0, 0], [0, 1.0]], latent_dim=1, rng=0); "
        "fit.plot().savefig(sys.argv[1]); print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "/dev/null"], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


# ----------------------------------------------------------------------------- realistic spectra


def power_law_cov(d: int, n: int, seed: int = 0) -> np.ndarray:
    """Sample covariance of n Gaussian draws with eigenvalues 1/i (i = 1..d) in a random basis:
    adjacent eigenvalues are close, as in image data."""
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    return covariance((rng.standard_normal((n, d)) / np.sqrt(np.arange(1, d + 1))) @ Q.T)


# A budget the rotation-free trainer meets with a wide margin (74 steps at d = 200, q = 16) and a
# trainer that must resolve the column rotation through the ELBO's gap does not (1 784 steps).
CLOSE_EIGENVALUE_STEPS = 500


@pytest.mark.parametrize("sigma2", ["learned", 0.002])
def test_close_eigenvalues_converge_without_slow_rotation_modes(sigma2):
    S = power_law_cov(200, 2000)
    fit = fit_linear_vae(
        cov=S, latent_dim=16, sigma2=sigma2, rng=0, max_steps=CLOSE_EIGENVALUE_STEPS
    )
    ref = ppca_mle(S, 16, sigma2=sigma2)
    assert fit.converged
    assert wwt_error(fit.loadings, ref.loadings) <= ANALYTIC_WWT_RTOL
    # The decoder it returns has orthogonal columns, as every ELBO maximiser does.
    gram = fit.loadings.T @ fit.loadings
    assert np.allclose(gram, np.diag(np.diag(gram)), rtol=0, atol=ANALYTIC_WWT_RTOL * gram.max())


@pytest.mark.slow
def test_realistic_size_with_learned_sigma2_reaches_the_optimum():
    # 5 000 samples of 784 features, latent_dim 32: the size of an MNIST experiment.
    from ppca_stability import compare_with_ppca

    S = power_law_cov(784, 5000)
    fit = fit_linear_vae(cov=S, latent_dim=32, rng=0)
    assert fit.converged
    assert compare_with_ppca(fit, S, classify=False).passed


def test_features_whose_scales_differ_by_1e8_converge(digits):
    X, _, _ = digits
    X = X[:, X.std(axis=0) > 0]
    scales = np.logspace(0.0, 8.0, X.shape[1])
    np.random.default_rng(0).shuffle(scales)
    S = covariance(X * scales)
    fit = fit_linear_vae(cov=S, latent_dim=10, rng=0)
    ref = ppca_mle(S, 10, sigma2="learned")
    assert fit.converged
    assert wwt_error(fit.loadings, ref.loadings) <= ANALYTIC_WWT_RTOL
    assert fit.sigma2 == pytest.approx(ref.sigma2, rel=ANALYTIC_WWT_RTOL)


@pytest.mark.parametrize("sigma2", ["learned", 0.7])
def test_trainer_gradient_matches_finite_differences(sigma2):
    # The trainer's coordinates (rotation projection, W / sqrt(s), scaled log s) against central
    # differences of the ELBO it reports.
    from _support import FD_RTOL, FD_STEP

    from ppca_stability._vae.linear_vae import _Problem

    S, _, _ = random_vae_problem(3, d=6, q=3)
    problem = _Problem(S, 3, sigma2, True, None)
    x = problem.initial(np.random.default_rng(1)) * 10.0
    g = problem.evaluate(x).grad
    fd = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = FD_STEP
        fd[i] = (problem.evaluate(x + e).elbo - problem.evaluate(x - e).elbo) / (2 * FD_STEP)
    assert np.allclose(g, fd, rtol=FD_RTOL, atol=FD_RTOL * np.max(np.abs(g)))


def test_training_runs_blas_on_one_thread():
    from threadpoolctl import threadpool_info, threadpool_limits

    S, _, _ = random_vae_problem(4)
    threads = []
    # The caller allows two threads (a pytest-xdist worker runs with one: tests/conftest.py).
    with threadpool_limits(limits=2, user_api="blas"):
        fit_linear_vae(
            cov=S,
            latent_dim=2,
            rng=0,
            callback=lambda *_: threads.extend(
                i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"
            ),
        )
    assert threads and set(threads) == {1}


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(cov=np.eye(3), latent_dim=4), ValueError, "latent_dim"),
        (dict(cov=np.eye(3), latent_dim=0), ValueError, "latent_dim"),
        (dict(cov=np.eye(3), latent_dim=1, sigma2=0.0), ValueError, "sigma2"),
        (dict(cov=np.eye(3), latent_dim=1, sigma2=-1.0), ValueError, "sigma2"),
        (dict(cov=np.eye(3), latent_dim=1, optimizer="adam", lr=0.0), ValueError, "lr"),
        (dict(cov=np.eye(3), latent_dim=1, optimizer="adam", lr=-1e-3), ValueError, "lr"),
        (dict(cov=np.eye(3), latent_dim=1, lr=1e-3), ValueError, "lr"),
        (dict(cov=np.eye(3), latent_dim=1, objective="stochastic"), ValueError, "data"),
        (dict(cov=np.eye(3), latent_dim=1, objective="exact"), ValueError, "objective"),
        (dict(cov=np.eye(3), latent_dim=1, optimizer="sgd"), ValueError, "optimizer"),
        (dict(cov=np.eye(3), latent_dim=1, max_steps=0), ValueError, "max_steps"),
        (dict(cov=np.eye(3), latent_dim=1, batch_size=10), ValueError, "batch_size"),
        (dict(cov=np.ones((3, 2)), latent_dim=1), ValueError, "cov"),
        (dict(cov=np.zeros((3, 3)), latent_dim=1, sigma2=1.0), ValueError, "zero"),
        (dict(latent_dim=1), ValueError, "cov"),
        (dict(cov=np.eye(3), latent_dim=1, callback=3), TypeError, "callback"),
    ],
)
def test_fit_rejects_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fit_linear_vae(**kwargs)


def test_fit_rejects_bad_data():
    X = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(ValueError, match="batch_size.*number of samples"):
        fit_linear_vae(X, latent_dim=1, objective="stochastic", batch_size=21)
    with pytest.raises(ValueError, match="`data`.*finite"):
        fit_linear_vae(np.where(X == X[0, 0], np.nan, X), latent_dim=1)
    with pytest.raises(ValueError, match="exactly one"):
        fit_linear_vae(X, cov=np.eye(3), latent_dim=1)
    with pytest.raises(ValueError, match="optimizer"):
        fit_linear_vae(X, latent_dim=1, objective="stochastic", optimizer="lbfgs")


def test_cli_vae_prints_the_agreement_and_sets_the_exit_code(tmp_path, capsys):
    from ppca_stability._cli import main

    S, _, _ = random_vae_problem(2)
    np.save(tmp_path / "cov.npy", S)
    assert (
        main(["vae", str(tmp_path / "cov.npy"), "--cov", "--latent-dim", "2", "--sigma2", "0.5"])
        == 0
    )
    assert "PASSED" in capsys.readouterr().out
    with warnings.catch_warnings():  # the CLI prints warnings as one line on stderr
        warnings.simplefilter("always", ConvergenceWarning)
        code = main(
            ["vae", str(tmp_path / "cov.npy"), "--cov", "--latent-dim", "2", "--max-steps", "2"]
        )
    out = capsys.readouterr()
    assert code == 1 and "FAILED" in out.out and "ConvergenceWarning" in out.err
