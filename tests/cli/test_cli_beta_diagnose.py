"""``beta --keep K`` (the inverse question) and the verdict of ``diagnose``, against the API."""

import gzip
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from ppca_stability import beta_for_latents, predict_collapse
from ppca_stability._cli import main

LAM = np.array([500.0, 300.0, 100.0, 20.0])


@pytest.fixture
def cov_file(tmp_path):
    path = tmp_path / "cov.npy"
    np.save(path, np.diag(LAM))
    return str(path)


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    return captured.err


@pytest.mark.parametrize(
    "keep,extra,conventions",
    [
        (2, [], {"reconstruction": "mse"}),
        (0, ["--reconstruction", "sse"], {"reconstruction": "sse"}),
        (
            3,
            ["--kl-reduction", "mean", "--latent-dim", "3"],
            {"reconstruction": "mse", "kl_reduction": "mean", "latent_dim": 3},
        ),
    ],
)
def test_beta_keep_prints_the_interval(cov_file, capsys, keep, extra, conventions):
    argv = ["beta", cov_file, "--cov", "--keep", str(keep), *extra]
    assert main(argv) == 0
    out = capsys.readouterr().out
    interval = beta_for_latents(np.diag(LAM), keep, **conventions)
    assert out.startswith(repr(interval))
    # the same sigma^2 interval in the other conventions (d = 4): sse beta = 2 sigma^2
    q = conventions.get("latent_dim", 1) if conventions.get("kl_reduction") == "mean" else 1
    low = 2 * q * interval.sigma2_low
    assert f"under      sse: beta in {'[' if interval.low_closed else '('}{low:.5g}," in out
    # and a beta inside it keeps exactly `keep` latents
    if interval.low == 0:
        beta = interval.high / 2
    else:
        beta = interval.low * 1.5 if keep == 0 else np.sqrt(interval.low * interval.high)
    model = {"latent_dim": 4} | conventions
    assert predict_collapse(np.diag(LAM), beta=beta, **model).n_active == keep


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["--keep", "5"], "--keep = 5 latents is more than"),
        (["--keep", "2", "--kl-reduction", "mean"], "--latent-dim: required with --keep"),
        (["--keep", "2", "--beta", "1"], "not allowed with argument"),
        (["--keep", "-1"], "--keep"),
        (["--keep", "2", "--n-features", "9"], "--n-features 9 contradicts DATA"),
    ],
)
def test_beta_keep_errors_are_one_line(cov_file, capsys, argv, fragment):
    assert main(["beta", cov_file, "--cov", *argv]) == 2
    assert fragment in _one_line_error(capsys)


def test_beta_keep_needs_data(capsys):
    assert main(["beta", "--keep", "2"]) == 2
    assert "--keep: needs DATA" in _one_line_error(capsys)


def test_beta_needs_beta_or_keep(cov_file, capsys):
    assert main(["beta", cov_file, "--cov"]) == 2
    assert "one of the arguments --beta --keep is required" in _one_line_error(capsys)


# ----------------------------------------------------------------------------- diagnose verdict
D, Q, N = 20, 6, 4000
SPECTRUM = np.geomspace(10.0, 0.01, D)


def _optimum_files(tmp_path, s, n_data=N):
    """Encoder outputs of the linear VAE's optimum at sigma2 = s on data with covariance
    diag(SPECTRUM) (theory.md §6), saved with the data they came from (its first n_data rows)."""
    from ppca_stability import covariance, optimal_encoder, ppca_mle

    X = np.random.default_rng(0).standard_normal((N, D)) * np.sqrt(SPECTRUM)
    V, Dg = optimal_encoder(ppca_mle(covariance(X), Q, sigma2=s).loadings, s)
    mu = (X - X.mean(axis=0)) @ V.T
    np.savez(tmp_path / "enc.npz", means=mu, log_variances=np.tile(np.log(Dg), (N, 1)))
    np.save(tmp_path / "x.npy", X[:n_data])
    return str(tmp_path / "enc.npz"), str(tmp_path / "x.npy")


def test_diagnose_prints_the_verdict(tmp_path, capsys):
    enc, data = _optimum_files(tmp_path, 0.5)
    assert main(["diagnose", enc, "--data", data, "--sigma2", "0.5"]) == 0
    captured = capsys.readouterr()
    assert "  verdict: consistent with the linear theory: 6 active units measured vs 6" in (
        captured.out
    )
    assert captured.err == ""


@pytest.mark.parametrize(
    "where,message",
    [
        ("{tmp}", "{tmp} is a directory; give an .npz file."),
        ("{tmp}/none.npz", "no such file: {tmp}/none.npz"),
        ("/dev/null", "/dev/null is not a regular file (a device); give an .npz file."),
    ],
)
def test_diagnose_names_what_its_encoder_outputs_path_is(tmp_path, capsys, where, message):
    path = where.format(tmp=tmp_path)
    assert main(["diagnose", path]) == 2
    err = _one_line_error(capsys)
    assert err.strip().endswith(f"error: ENCODER_OUTPUTS: {message.format(tmp=tmp_path)}"), err


def test_diagnose_sse_model_read_as_mse_says_check_the_convention(tmp_path, capsys):
    # trained with SSE and beta = 1: sigma2 = 0.5; read as MSE, sigma2 = beta d / 2 = 10 = lam_1
    enc, data = _optimum_files(tmp_path, 0.5)
    argv = ["diagnose", enc, "--data", data, "--beta", "1"]
    assert main([*argv, "--reconstruction", "mse"]) == 0
    captured = capsys.readouterr()
    assert "verdict: far from the linear theory - check the loss convention" in captured.out
    assert "reconstruction='sse' (sigma2 = 0.5)" in captured.out
    assert captured.err == ""  # said once, in the verdict
    assert main([*argv, "--reconstruction", "sse", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["verdict"].startswith("consistent with the linear theory")
    assert payload["suspected_convention"] is None and payload["linear"]["reconstruction"] == "sse"


def test_diagnose_beta_without_reconstruction_warns(tmp_path, capsys):
    enc, data = _optimum_files(tmp_path, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as outside pytest, where FutureWarnings are shown
        assert main(["diagnose", enc, "--data", data, "--beta", "0.05"]) == 0
    captured = capsys.readouterr()
    assert "sigma2=0.5 (beta=0.05, mse)" in captured.out
    assert captured.err.startswith(
        "warning: FutureWarning: --reconstruction: not given with --beta"
    )
    assert len(captured.err.strip().splitlines()) == 1


def test_diagnose_notes_rows_that_differ(tmp_path, capsys):
    enc, data = _optimum_files(tmp_path, 0.5, n_data=N // 2)
    assert main(["diagnose", enc, "--data", data, "--sigma2", "0.5"]) == 0
    err = capsys.readouterr().err
    assert f"has {N // 2} rows (samples), the encoder outputs {N}" in err
    assert len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- MNIST
MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"


@pytest.fixture(scope="module")
def mnist01(tmp_path_factory):
    """MNIST-test as a user trains on it: 10 000 x 784 pixels scaled to [0, 1], saved as .npy."""
    images = MNIST / "t10k-images-idx3-ubyte.gz"
    if not images.exists():
        pytest.skip(f"MNIST-test not found at {MNIST}")
    raw = gzip.decompress(images.read_bytes())
    X = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784) / 255.0
    path = tmp_path_factory.mktemp("mnist") / "mnist01.npy"
    np.save(path, X)
    return X, str(path)


@pytest.mark.slow
def test_mnist_keep_interval_and_sse_model_read_as_mse(mnist01, tmp_path, capsys):
    """The first day on MNIST: the beta that keeps 24 latents with an SSE loss, and an SSE-trained
    (beta = 1, sigma2 = 1/2) linear VAE diagnosed as if its loss were nn.MSELoss()."""
    from ppca_stability import covariance, optimal_encoder, ppca_mle, spectrum

    X, path = mnist01
    S = covariance(X)
    lam = spectrum(S).eigenvalues
    assert main(["beta", path, "--keep", "24", "--reconstruction", "sse"]) == 0
    out = capsys.readouterr().out
    # sse: beta = 2 sigma2, and 24 latents live iff lam_24 > sigma2 >= lam_25
    assert out.startswith(f"BetaInterval(keep=24: beta in [{2 * lam[24]:.5g}, {2 * lam[23]:.5g})")

    q = 32
    V, D = optimal_encoder(ppca_mle(S, q, sigma2=0.5).loadings, 0.5)
    mu = (X - X.mean(axis=0)) @ V.T
    np.savez(tmp_path / "enc.npz", means=mu, log_variances=np.tile(np.log(D), (len(X), 1)))
    argv = ["diagnose", str(tmp_path / "enc.npz"), "--data", path, "--beta", "1"]
    assert main([*argv, "--reconstruction", "mse"]) == 0
    out = capsys.readouterr().out
    live = int(np.count_nonzero(lam[:q] > 0.5))
    assert f"verdict: far from the linear theory - check the loss convention: {live} active" in out
    assert "reconstruction='sse' (sigma2 = 0.5)" in out
    assert main([*argv, "--reconstruction", "sse"]) == 0
    assert "verdict: consistent with the linear theory" in capsys.readouterr().out
