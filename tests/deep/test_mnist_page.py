"""docs/mnist_figures.py, the script behind docs/mnist.md, still runs: every stage on a tiny subset
of MNIST-test writes its files, the saved results load back, and the page's tables are rebuilt from
them. Skips without torch (the ``deep`` extra) or without the MNIST-test files.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from ppca_stability import load

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
MNIST = ROOT / ".." / "shared" / "data" / "mnist"
SCRIPT = ROOT / "docs" / "mnist_figures.py"


def _script():
    spec = importlib.util.spec_from_file_location("mnist_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mnist():
    if not (MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST-test not found at {MNIST.resolve()}")
    return _script().read_mnist_images(MNIST)


def test_reader_gives_mnist_test_in_unit_pixels(mnist):
    assert mnist.shape == (10_000, 784)
    assert mnist.dtype == np.float64
    assert mnist.min() == 0.0 and mnist.max() == 1.0


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(SystemExit, match="MNIST-test not found.*torchvision"):
        _script().read_mnist_images(tmp_path)


@pytest.mark.slow
def test_every_stage_writes_what_the_page_reads(mnist, tmp_path):
    fig = _script()
    small = fig.subset(mnist, 300)
    linear = fig.linear_stage(small, tmp_path)
    run = fig.deep_stage(
        small,
        tmp_path,
        n=300,
        sigma2=(0.5, 8.0),
        epochs=2,
        seeds=1,
        latent_dim=4,
        hidden=(16,),
        progress=False,
    )
    compare = fig.compare_stage(tmp_path)
    longer = fig.longer_stage(
        small, tmp_path, sigma2=(8.0,), epochs=3, n=300, seeds=1, latent_dim=4, hidden=(16,),
        progress=False,
    )  # fmt: skip
    for name in ("mnist_spectrum.png", "mnist_phase.png", "mnist_deep.png"):
        assert (tmp_path / name).stat().st_size > 0
    phase = load(tmp_path / "mnist_phase.json")
    assert phase.latent_dim == fig.LATENT_DIM_LINEAR
    np.testing.assert_array_equal(phase.eigenvalues[:64], linear["eigenvalues_top64"])
    sweep = load(tmp_path / "mnist_sweep.json")
    np.testing.assert_array_equal(sweep.sigma2, [0.5, 8.0])
    assert sweep.active_units.shape == (2, 1)
    assert json.loads((tmp_path / "mnist_sweep_run.json").read_text()) == run
    # a later stage (the landscape probe) gets the sweep's trained network back, bit for bit
    again = fig.refit(small, tmp_path, sigma2=8.0, seed=0)
    np.testing.assert_array_equal(
        again.diagnostics.kl_per_latent, sweep.diagnostics[1][0].kl_per_latent
    )
    assert [r["sigma2"] for r in compare["rows"]] == [0.5, 8.0]
    # the rows the page shows come from the saved sweep
    assert [r["active_units"] for r in compare["rows"]] == sweep.active_units.tolist()
    assert longer["epochs"] == 3 and longer["sigma2"] == [8.0]
    assert load(tmp_path / "mnist_sweep_e3_s8.json").epochs == 3
    text = fig.tables(tmp_path)
    assert "| 392 |" in text and "| 8 | " in text
    # the stationary stage: the gradient, the probe at the longer-trained network, the polish
    st = fig.stationary_stage(
        small, tmp_path, sigma2=8.0, run_name="mnist_sweep_e3_s8", end_run="mnist_sweep_e3_s8",
        seed=0, n_noise=2, n_batches=3, maxiter=3, n_eigen=2, progress=False,
    )  # fmt: skip
    h = st["polish"]
    assert h["iteration"] == list(range(len(h["iteration"]))) and len(h["iteration"]) <= 4
    assert h["elbo"][-1] >= h["elbo"][0]  # L-BFGS raises the objective it polishes
    start = st["start"]["gradient"]
    assert start["norm_own"] == pytest.approx(h["gradient_norm"][0], rel=1e-12)
    assert len(start["dkl_dt_mean_gradient"]) == 4 and len(start["norm_batches"]) == 3
    # the probe differentiates the objective whose gradient the report measured (same noise)
    probe = st["end"]["probe"]
    assert probe["value"] == pytest.approx(st["end"]["gradient"]["value_own"], rel=1e-12)
    assert probe["gradient_norm"] == pytest.approx(st["end"]["gradient"]["norm_own"], rel=1e-9)
    assert json.loads((tmp_path / "mnist_stationary.json").read_text()) == st
    for name in ("mnist_stationary.png", "mnist_stationary_probe.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_page_shows_the_tables_of_the_saved_run():
    """Every table row the script builds from docs/images/mnist_*.json is on docs/mnist.md."""
    out = ROOT / "docs" / "images"
    rows = [line for line in _script().tables(out).splitlines() if line.startswith("|")]
    assert len(rows) > 40  # linear predictions, beta intervals, sweep, thresholds
    page = (ROOT / "docs" / "mnist.md").read_text()
    missing = [row for row in rows if row not in page]
    assert not missing, f"docs/mnist.md does not show these rows of the saved run: {missing}"
