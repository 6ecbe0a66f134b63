"""``beta --keep K`` (the inverse question) and the verdict of ``diagnose``, against the API."""

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
