"""The reference deep Gaussian VAE (ppca_stability.deep, PyTorch) and the ``deep`` command.

Oracles: the linear theory where it is a theorem (an MLP with identity activations is a linear VAE,
whose optimum is pPCA; the ELBO never exceeds the pPCA log-likelihood; no unit survives
sigma2 >= 4 lam_1), bit-identical reruns for determinism, and the page's tables rebuilt from the
record the figure script saved. Tests that need torch skip without it (the ``deep`` extra).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _support import digits_data

from ppca_stability import collapse_diagnostics, covariance, phase_diagram, ppca_mle, spectrum
from ppca_stability._cli import main

ROOT = Path(__file__).resolve().parents[2]
HAS_TORCH = importlib.util.find_spec("torch") is not None  # as the root conftest.py decides
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason='needs the "deep" extra (torch)')

# Monte-Carlo error of the 16-draw ELBO estimate on the digits (sd of one draw ~ 0.2 nats / sqrt(16
# n)), with a wide margin: the ELBO may not exceed the log-likelihood by more than this.
ELBO_MC_ATOL = 0.02
# How far Adam (stochastic, 300 epochs) may stop below the analytic optimum, in nats per sample.
ELBO_OPT_ATOL = 0.15
# KL per latent (nats) of the trained linear limit against 1/2 log(lam_c / sigma2).
KL_ATOL = 0.05


def _toy(n: int = 400, seed: int = 0) -> np.ndarray:
    """Gaussian data with covariance ~ diag(4, 1, 0.25)."""
    return np.random.default_rng(seed).normal(size=(n, 3)) * np.sqrt([4.0, 1.0, 0.25])


@pytest.fixture(scope="module")
def deep():
    return pytest.importorskip("ppca_stability.deep")


@pytest.fixture(scope="module")
def toy_fit(deep):
    return deep.fit_deep_vae(_toy(), latent_dim=2, sigma2=2.0, epochs=120, rng=0, progress=False)


# --------------------------------------------------------------------------- without torch


def test_import_without_torch_is_one_line_naming_the_extra():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "try:\n    import ppca_stability.deep\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert (
        out.strip() == "ppca_stability.deep needs torch, which is not installed: pip install "
        '"ppca_stability[deep]"'
    )


def test_cli_deep_without_torch_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    np.save(tmp_path / "x.npy", _toy(50))
    monkeypatch.setitem(sys.modules, "torch", None)
    for name in [m for m in sys.modules if m.startswith("ppca_stability.deep")]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["deep", str(tmp_path / "x.npy"), "--latent-dim", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ppca_stability[deep]" in err


def test_docs_tables_are_the_measured_record():
    """docs/deep_vae.md shows exactly the tables that docs/deep_figures.py builds from its saved
    record."""
    spec = importlib.util.spec_from_file_location("deep_figures", ROOT / "docs" / "deep_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    record = json.loads((ROOT / "docs" / "images" / "deep_digits.json").read_text())
    page = (ROOT / "docs" / "deep_vae.md").read_text()
    shown = module.tables(record).split("\n\n")
    assert len(shown) == 2 and all(table in page for table in shown)
    # the record is the acceptance sweep: digits, latent_dim 10, >= 8 sigma2 over [lam_10 / 4, 4
    # lam_1], >= 3 seeds
    lam = spectrum(covariance(digits_data())).eigenvalues
    assert len(record["sigma2"]) >= 8 and len(record["seeds"]) >= 3
    assert record["sigma2"][0] == pytest.approx(lam[9] / 4) and record["sigma2"][
        -1
    ] == pytest.approx(4 * lam[0])
    assert np.array(record["predicted_active_units"]).tolist() == [
        int(np.sum(1 - s / lam[:10] > 0.01)) for s in record["sigma2"]
    ]


# --------------------------------------------------------------------------- fits


@needs_torch
def test_fit_collapses_what_the_theory_collapses_on_toy_data(toy_fit):
    """lam ~ (4, 1, 0.25), sigma2 = 2: one unit carries information, the other is at the prior."""
    d = toy_fit.diagnostics
    assert d.active_units == 1 and len(d.collapsed) == 1
    assert toy_fit.comparison.predicted_active_units == 1
    assert toy_fit.elbo <= ppca_mle(covariance(_toy()), 2, sigma2=2.0).log_likelihood + ELBO_MC_ATOL


@needs_torch
def test_fit_is_deterministic_and_leaves_torch_state_alone(deep, toy_fit):
    import torch

    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    again = deep.fit_deep_vae(_toy(), latent_dim=2, sigma2=2.0, epochs=120, rng=0, progress=False)
    assert again.elbo == toy_fit.elbo and again.seed == toy_fit.seed
    assert np.array_equal(again.diagnostics.kl_per_latent, toy_fit.diagnostics.kl_per_latent)
    assert np.array_equal(again.history.elbo, toy_fit.history.elbo)
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), state)
    other = deep.fit_deep_vae(_toy(), latent_dim=2, sigma2=2.0, epochs=5, rng=1, progress=False)
    assert other.seed != toy_fit.seed


@needs_torch
def test_fit_fields(toy_fit):
    assert toy_fit.history.elbo.shape == (121,) and toy_fit.history.kl.shape == (121, 2)
    assert np.all(toy_fit.history.sigma2 == 2.0) and not toy_fit.sigma2_learned
    mu, logvar = toy_fit.encode(_toy())
    assert mu.dtype == np.float64 and mu.shape == logvar.shape == (400, 2)
    again = collapse_diagnostics(mu, logvar)
    assert np.array_equal(again.kl_per_latent, toy_fit.diagnostics.kl_per_latent)
    text = repr(toy_fit)
    assert (
        text.startswith("DeepVAEFit(n_features=3, latent_dim=2") and "active units  1 of 2" in text
    )


@needs_torch
def test_learned_sigma2_moves(deep):
    fit = deep.fit_deep_vae(
        _toy(), latent_dim=1, sigma2="learned", epochs=150, batch_size=64, rng=0, progress=False
    )
    assert fit.sigma2_learned and fit.history.sigma2[0] == pytest.approx(
        np.trace(covariance(_toy())) / 3
    )
    # pPCA with q = 1 learns the mean of the discarded eigenvalues (~0.6) and the deep decoder
    # contains that linear solution, so its sigma2 falls well below the starting tr(S) / d ~ 1.75
    assert fit.sigma2 < 1.0


@needs_torch
@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(latent_dim=4), ValueError, "`latent_dim` must be at most the number of features"),
        (dict(sigma2=-1.0), ValueError, "`sigma2` must be positive"),
        (dict(sigma2="fixed"), ValueError, '`sigma2` must be a positive float or "learned"'),
        (dict(activation="gelu"), ValueError, "`activation` must be one of"),
        (dict(hidden=()), ValueError, "`hidden` must name at least one"),
        (dict(hidden=[8, 0]), ValueError, "`hidden` must be a positive integer"),
        (dict(hidden="8"), TypeError, "`hidden` must be a positive int or a sequence"),
        (dict(epochs=0), ValueError, "`epochs` must be a positive integer"),
        (dict(lr=0.0), ValueError, "`lr` must be positive"),
        (dict(rng="seed"), TypeError, "`rng` must be"),
    ],
)
def test_fit_errors_name_the_parameter(deep, kwargs, exc, match):
    args = dict(latent_dim=2, sigma2=1.0, epochs=1, progress=False) | kwargs
    with pytest.raises(exc, match=match):
        deep.fit_deep_vae(_toy(20), **args)


@needs_torch
def test_fit_rejects_bad_data(deep):
    with pytest.raises(ValueError, match="`data` must be a 2-D"):
        deep.fit_deep_vae(np.zeros(10), latent_dim=1, sigma2=1.0, progress=False)
    with pytest.raises(ValueError, match="`data` must contain only finite"):
        deep.fit_deep_vae(np.full((5, 2), np.nan), latent_dim=1, sigma2=1.0, progress=False)


# --------------------------------------------------------------------------- sweeps


@needs_torch
def test_sweep_table_thresholds_and_figure(deep):
    from matplotlib.figure import Figure

    sweep = deep.deep_collapse_sweep(
        _toy(300), 2, [0.5, 2.0, 8.0], n_seeds=2, epochs=30, batch_size=300, rng=0, progress=False
    )
    assert sweep.active_units.shape == (3, 2) and sweep.kl_by_rank.shape == (3, 2, 2)
    assert sweep.predicted_active_units.tolist() == [2, 1, 0]
    assert np.all(np.diff(sweep.kl_by_rank, axis=2) <= 0)
    th = sweep.thresholds()
    # the linear staircase on this grid drops 2 -> 1 between 0.5 and 2 and 1 -> 0 between 2 and 8
    assert 0.5 < th.linear_on_grid[1] < 2.0 < th.linear_on_grid[0] < 8.0
    assert th.k.tolist() == [1, 2] and "deep (mean)" in repr(th)
    assert repr(sweep).startswith("DeepCollapseSweep(latent_dim=2, 3 sigma2 values x 2 seeds")
    fig = sweep.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 2 and fig.axes[1].get_xscale() == "log"
    with pytest.raises(ValueError, match="`sigma2_grid` must be strictly increasing"):
        deep.deep_collapse_sweep(_toy(30), 2, [2.0, 1.0], progress=False)


def test_crossing_interpolates_in_log_sigma2():
    pytest.importorskip("torch")
    from ppca_stability.deep import _reference as deep

    grid = np.array([1.0, 10.0, 100.0])
    assert deep._crossing(grid, np.array([2.0, 1.0, 0.0]), 1.5) == pytest.approx(10**0.5)
    assert deep._crossing(grid, np.array([2.0, 0.0, 1.0]), 0.5) != deep._crossing(
        grid, np.array([2.0, 0.0, 0.0]), 0.5
    )
    assert np.isnan(
        deep._crossing(grid, np.array([2.0, 2.0, 2.0]), 1.5)
    )  # never drops inside the grid
    assert np.isnan(deep._crossing(grid, np.array([0.0, 0.0, 0.0]), 0.5))  # below the grid already


@needs_torch
def test_cli_deep_table_json_and_figure(tmp_path, capsys):
    np.save(tmp_path / "x.npy", _toy(200))
    args = [
        "deep",
        str(tmp_path / "x.npy"),
        "--latent-dim",
        "2",
        "--sigma2",
        "0.5,8",
        "--seeds",
        "1",
        "--epochs",
        "40",
        "--hidden",
        "16",
    ]
    assert main(args + ["--out", str(tmp_path / "f.png")]) == 0
    out = capsys.readouterr().out
    assert "DeepCollapseSweep(latent_dim=2, 2 sigma2 values x 1 seed, hidden=[16]" in out
    assert "CollapseThresholds" in out and (tmp_path / "f.png").stat().st_size > 0
    assert main(args + ["--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["sigma2"] == [0.5, 8.0] and payload["predicted_active_units"] == [2, 0]
    assert main(args[:4] + ["--sigma2", "1,x"]) == 2
    assert re.search(r"--sigma2: expected comma-separated numbers", capsys.readouterr().err)


# --------------------------------------------------------------------------- the acceptance runs
# (slow)


@needs_torch
@pytest.mark.slow
@pytest.mark.parametrize("sigma2", [20.0, 85.0, 120.0, 400.0])
def test_identity_activations_are_the_linear_vae(deep, sigma2):
    """An MLP with identity activations is a linear VAE: trained on the digits, it collapses exactly
    the latents pPCA collapses at this sigma2, with the analytic KL per latent, and its ELBO reaches
    the pPCA maximum log-likelihood without exceeding it. The sigma2 values sit between eigenvalues
    (lam_10 = 37, 69.5 < 85 < 101 < 120 < 141.7, lam_1 = 179 < 400), away from the critical slowing
    down at each lam_c."""
    X = digits_data()
    cov = covariance(X)
    fit = deep.fit_deep_vae(
        X, latent_dim=10, sigma2=sigma2, activation="identity", rng=0, progress=False
    )
    cmp = fit.comparison
    assert (
        cmp.measured.active_units == cmp.predicted_active_units == int(np.sum(cmp.predicted_live))
    )
    np.testing.assert_allclose(cmp.measured_kl, cmp.predicted_kl, atol=KL_ATOL)
    best = ppca_mle(cov, 10, sigma2=sigma2).log_likelihood
    assert best - ELBO_OPT_ATOL <= fit.elbo <= best + ELBO_MC_ATOL


@needs_torch
@pytest.mark.slow
def test_digits_sweep_no_unit_survives_four_lambda_one(deep):
    """The acceptance sweep: digits, latent_dim 10, 8 sigma2 values over [lam_10 / 4, 4 lam_1], 3
    seeds. What the theory guarantees is asserted: nothing is active at sigma2 = 4 lam_1 on any seed
    (the fully
    collapsed solution is the optimum for sigma2 >= lam_1); the rest is measured and reported in the
    docs."""
    X = digits_data()
    sweep = deep.deep_collapse_sweep(X, 10, n_seeds=3, rng=0, progress=False)
    lam = phase_diagram(covariance(X), latent_dim=10).eigenvalues
    assert sweep.sigma2.size == 8 and len(sweep.seeds) == 3
    assert sweep.sigma2[0] == pytest.approx(lam[9] / 4) and sweep.sigma2[-1] == pytest.approx(
        4 * lam[0]
    )
    beyond = sweep.sigma2 >= 4 * lam[0] * (1 - 1e-12)
    assert beyond.any() and np.all(sweep.active_units[beyond] == 0)
    assert np.all(sweep.n_collapsed[beyond] == 10)


def test_docs_point_to_where_deep_models_are_tested():
    """docs/sigma2.md's note on deep VAEs links the page that tests them and cites its tests."""
    note = (ROOT / "docs" / "sigma2.md").read_text().split('!!! note "Linear vs deep"')[1]
    note = note.split("\n\n")[0]
    assert "does not test deep models" not in note
    assert "(deep_vae.md)" in note
    cited = re.findall(r"tests/deep/test_deep\.py::(test_\w+)", note)
    assert cited
    for test in cited:
        assert re.search(rf"^def {test}\(", (ROOT / "tests/deep/test_deep.py").read_text(), re.M)


@needs_torch
def test_docs_pytorch_example_runs(tmp_path, monkeypatch, capsys):
    """The PyTorch blocks of docs/deep_vae.md (```py, which tests/test_docs.py leaves to this file
    because they need torch) run, print the ```text block that follows them (compared as
    tests/test_docs.py does), and save outputs the diagnose command reads."""
    import doctest

    text = (ROOT / "docs" / "deep_vae.md").read_text()
    blocks = re.findall(r"^```py\n(.*?)^```\n(?:\n```text\n(.*?)^```)?", text, flags=re.M | re.S)
    assert blocks and any(shown for _, shown in blocks)
    monkeypatch.chdir(tmp_path)
    for block, shown in blocks:
        exec(compile(block, "deep_vae.md", "exec"), {"__name__": "docs_deep_vae"})
        out = capsys.readouterr().out
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        assert doctest.OutputChecker().check_output(
            shown.strip() + "\n", out.strip() + "\n", flags
        ), f"docs/deep_vae.md shows\n{shown}\nthe block printed\n{out}"
    assert main(["diagnose", "encoder_outputs.npz"]) == 0
