"""The command line says the same things whatever route it takes: DATA warnings on every route
(the streamed data route of ``map``, the stochastic ``vae``, ``deep``), flags that are spelled in
full and checked before any work, counts that are counted (or refused) before anything is
enumerated, and counts printed in one format."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from ppca_stability import stability_map
from ppca_stability._base.formatting import format_count
from ppca_stability._cli import main
from ppca_stability._cli._io import format_count as cli_format_count
from ppca_stability._ppca import stability as stability_module

# Features from which `map` at a small latent dimension streams the eigenpairs from a .npy of
# data: `stability_map`'s documented partial route (d >= 512, latent_dim <= d / 8).
STREAMED_D = 512


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _spd(d: int, rng) -> np.ndarray:
    A = rng.normal(size=(d, d))
    return A @ A.T / d + np.eye(d)


# ----------------------------------------------------------------------------- DATA warnings
def test_map_streamed_route_warns_about_few_samples(tmp_path, rng, capsys):
    path = tmp_path / "x.npy"
    np.save(path, rng.normal(size=(300, STREAMED_D)))
    code, out, err = _run(capsys, "map", str(path), "--sigma2", "0.5", "--latent-dim", "4")
    assert code == 0 and "StabilityMap" in out
    assert "DataWarning" in err and f"300 samples of {STREAMED_D} features (n <= d)" in err


def test_map_streamed_route_warns_about_a_covariance_without_cov(tmp_path, rng, capsys):
    path = tmp_path / "c.npy"
    np.save(path, _spd(STREAMED_D, rng))
    code, out, err = _run(capsys, "map", str(path), "--sigma2", "0.5", "--latent-dim", "4")
    assert code == 0 and "square symmetric" in err and "pass --cov" in err


@pytest.mark.filterwarnings("ignore::ppca_stability.ConvergenceWarning")  # five steps
def test_stochastic_vae_warns_about_few_samples(tmp_path, rng, capsys):
    path = tmp_path / "x.npy"
    np.save(path, rng.normal(size=(6, 8)))
    code, _, err = _run(
        capsys,
        *("vae", str(path), "--objective", "stochastic", "--latent-dim", "2", "--sigma2", "1"),
        *("--max-steps", "5", "--batch-size", "3", "--classify", "no"),
    )
    assert code in (0, 1) and "6 samples of 8 features (n <= d)" in err


def test_deep_warns_about_few_samples(tmp_path, rng, capsys):
    pytest.importorskip("torch")
    path = tmp_path / "x.npy"
    np.save(path, rng.normal(size=(12, 16)))
    code, _, err = _run(
        capsys,
        *("deep", str(path), "--latent-dim", "2", "--sigma2", "1", "--seeds", "1"),
        *("--epochs", "1", "--hidden", "4", "--no-progress"),
    )
    assert code == 0 and "12 samples of 16 features (n <= d)" in err


# ----------------------------------------------------------------------------- flags
def test_abbreviated_flags_are_refused(tmp_path, rng, capsys):
    path = tmp_path / "x.npy"
    np.save(path, rng.normal(size=(50, 4)))
    code, _, err = _run(capsys, "map", str(path), "--sigma", "0.5")
    assert code == 2 and "--sigma" in err and "required: --sigma2" in err


def test_encoder_without_the_elbo_objective_is_an_error(tmp_path, rng, capsys):
    path = tmp_path / "x.npy"
    np.save(path, rng.normal(size=(50, 4)))
    code, _, err = _run(capsys, "map", str(path), "--sigma2", "0.5", "--encoder", "full")
    assert code == 2 and "--encoder" in err and "--objective elbo" in err


def test_the_cluster_advice_is_a_command_line_that_parses(tmp_path, capsys):
    path = tmp_path / "c.npy"
    np.save(path, np.diag(np.geomspace(10.0, 1.0, 40)))
    argv = ("map", str(path), "--cov", "--sigma2", "0.5", "--latent-dim", "8", "--show", "1")
    code, _, err = _run(capsys, *argv, "--objective", "elbo", "--include-clusters")
    assert code == 2 and "--include-clusters" in err
    assert "=False" not in err and "without --include-clusters" in err
    code, out, _ = _run(capsys, *argv, "--objective", "elbo")  # the advice, followed
    assert code == 0 and "ElboStabilityMap" in out


def test_beta_checks_the_latent_dim_before_printing(tmp_path, rng, capsys):
    path = tmp_path / "x.npy"
    np.save(path, rng.normal(size=(50, 4)))
    code, out, err = _run(capsys, "beta", "--beta", "1", "--latent-dim", "100", str(path))
    assert code == 2 and "--latent-dim" in err and out == ""


@pytest.mark.skipif(not __import__("os").path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_is_not_a_missing_file(capsys):
    code, _, err = _run(capsys, "map", "/dev/zero", "--sigma2", "1")
    assert code == 2 and "no such file" not in err and "not a regular file" in err


# ----------------------------------------------------------------------------- counts
def _digits(text: str) -> list[str]:
    """Integers of more than 12 digits in `text`."""
    return re.findall(r"\d{13,}", text)


def test_huge_counts_are_printed_in_one_format(tmp_path, capsys):
    path = tmp_path / "c.npy"
    np.save(path, np.diag(np.geomspace(10.0, 1.0, 60)))
    code, out, _ = _run(capsys, "map", str(path), "--cov", "--sigma2", "0.5", "--show", "2")
    assert code == 0 and not _digits(out), _digits(out)
    n = stability_map(np.diag(np.geomspace(10.0, 1.0, 60)), 0.5).n_points  # 2**60
    assert f"{n:.4g}".replace("e+", "e") in out and f"({len(str(n))} digits)" in out
    code, out, _ = _run(capsys, "map", str(path), "--cov", "--sigma2", "0.5", "--json")
    assert json.loads(out)["n_points"] == n  # exact in JSON


def test_show_zero_prints_no_empty_table(tmp_path, capsys):
    path = tmp_path / "c.npy"
    np.save(path, np.diag([4.0, 2.0, 1.0]))
    code, out, _ = _run(capsys, "map", str(path), "--cov", "--sigma2", "1.5", "--show", "0")
    assert code == 0 and "first 0 of" not in out and "stability\n" not in out
    assert "--show" in out  # says how to list them


def test_a_learned_map_too_large_to_count_answers_quickly(tmp_path, capsys, monkeypatch):
    # A power-law spectrum like MNIST's: with sigma2 learned and 10 latents the stationary points
    # number ~1e13 and counting them exactly visits ~1e8 branches; the map must answer (global
    # maximum, first points, a bound on the count) instead of going silent. The count's budget is
    # lowered so that reaching it takes no time here.
    monkeypatch.setattr(stability_module, "MAX_COUNT_BRANCHES", 10_000)
    lam = 1.0 / np.arange(1, 201) ** 0.7
    path = tmp_path / "c.npy"
    np.save(path, np.diag(lam))
    code, out, _ = _run(
        capsys, "map", str(path), "--cov", "--sigma2", "learned", "--latent-dim", "10"
    )
    assert code == 0 and "global maximum" in out and "at most" in out
    code, out, _ = _run(
        capsys, *("map", str(path), "--cov", "--sigma2", "learned", "--latent-dim", "10"), "--json"
    )
    payload = json.loads(out)
    assert payload["n_points"] is None and payload["n_points_upper_bound"] > 10**9


@pytest.mark.parametrize("n", [0, 7, 10**12 - 1, 10**12, 2**60, -(2**70), 7 * 10**88 + 11])
def test_the_command_line_writes_counts_as_the_reprs_do(n):
    # The CLI keeps its own copy (it imports only the public API): the two must agree.
    assert cli_format_count(n) == format_count(n)
    if len(str(abs(n))) > 12:
        assert f"({len(str(abs(n)))} digits)" in format_count(n)
    else:
        assert format_count(n) == str(n)


# ----------------------------------------------------------------------------- long runs
def test_deep_prints_its_plan_and_an_estimate_after_the_first_epoch(tmp_path, rng, capsys):
    pytest.importorskip("torch")
    path = tmp_path / "x.npy"
    np.save(path, rng.normal(size=(40, 3)))
    code, out, err = _run(
        capsys,
        *("deep", str(path), "--latent-dim", "2", "--sigma2", "0.5,2", "--seeds", "2"),
        *("--epochs", "3", "--hidden", "4", "--batch-size", "16", "--no-progress", "--json"),
    )
    assert code == 0 and json.loads(out)["epochs"] == 3  # stdout stays JSON
    lines = err.strip().splitlines()
    assert lines[0] == (
        "plan: 2 sigma2 values x 2 seeds = 4 fits of 3 epochs (12 epochs of 3 minibatches) on "
        "40 samples x 3 features"
    )
    assert len(lines) == 2 and re.match(
        r"first epoch: .* s, so about \d+ s for all 12 epochs", lines[1]
    )


def test_deep_sweep_callback_sees_every_epoch_of_every_fit():
    pytest.importorskip("torch")
    from ppca_stability.deep import deep_collapse_sweep

    calls = []
    x = np.random.default_rng(0).normal(size=(30, 3))
    deep_collapse_sweep(
        x,
        1,
        [0.5, 2.0],
        n_seeds=2,
        epochs=2,
        hidden=3,
        rng=0,
        progress=False,
        callback=lambda fit, epoch: calls.append((fit, epoch)),
    )
    assert calls == [(f, e) for f in range(4) for e in range(3)]
