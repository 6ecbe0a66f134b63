"""ppca_stability.deep.CollapseMonitor: collapse recorded epoch by epoch in a plain PyTorch loop.

Oracles: every recorded row is `collapse_diagnostics` of the same encoder outputs (called directly);
the prediction is `predict_collapse` at the monitor's sigma2 (or the beta it converts); the
figure's reference lines are the prediction's numbers. Tests need torch (the ``deep`` extra).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ppca_stability import collapse_diagnostics, covariance, predict_collapse, sigma2_from_beta

torch = pytest.importorskip("torch")
deep = pytest.importorskip("ppca_stability.deep")
CollapseMonitor = deep.CollapseMonitor

LAM = np.array([4.0, 1.0, 0.25])
ROOT = Path(__file__).resolve().parents[2]


def _toy(n: int = 300, seed: int = 0) -> np.ndarray:
    """Gaussian data with covariance ~ diag(4, 1, 0.25)."""
    return np.random.default_rng(seed).normal(size=(n, 3)) * np.sqrt(LAM)


def _outputs(epochs: int, n: int = 200, q: int = 2, seed: int = 1):
    """Encoder outputs whose second latent loses its spread over the epochs."""
    rng = np.random.default_rng(seed)
    for e in range(epochs):
        spread = 1.0 - e / max(epochs - 1, 1)
        mu = rng.normal(size=(n, q)) * np.r_[1.0, np.full(q - 1, spread)]
        logvar = np.log(np.full((n, q), 0.2 + 0.8 * (1 - spread**2)))
        yield mu, logvar


@pytest.fixture(scope="module")
def toy_fit():
    return deep.fit_deep_vae(_toy(), latent_dim=2, sigma2=2.0, epochs=20, rng=0, progress=False)


# --------------------------------------------------------------------------- recording


def test_rows_are_collapse_diagnostics_of_each_epoch():
    monitor = CollapseMonitor(np.diag(LAM), sigma2=2.0, epsilon=0.02, au_threshold=0.05, rng=3)
    expected = []
    for mu, logvar in _outputs(4):
        monitor.update(mu, logvar)
        expected.append(collapse_diagnostics(mu, logvar, epsilon=0.02, au_threshold=0.05, rng=3))
    h = monitor.history
    assert h.epoch.tolist() == [0, 1, 2, 3] and h.kl_per_latent.shape == (4, 2)
    np.testing.assert_array_equal(h.kl_per_latent, [d.kl_per_latent for d in expected])
    np.testing.assert_array_equal(h.mean_variance, [d.mean_variance for d in expected])
    np.testing.assert_array_equal(h.mutual_information, [d.mutual_information for d in expected])
    assert h.active_units.tolist() == [d.active_units for d in expected]
    assert h.n_collapsed.tolist() == [len(d.collapsed) for d in expected]
    assert [tuple(np.flatnonzero(row)) for row in h.collapsed] == [d.collapsed for d in expected]
    np.testing.assert_allclose(h.total_kl, [d.total_kl for d in expected], rtol=1e-15)
    # the second latent dies: active at first, collapsed at the end
    assert h.active[0].tolist() == [True, True] and h.active[-1].tolist() == [True, False]
    assert h.collapsed[-1].tolist() == [False, True]


def test_torch_tensors_with_gradients_are_accepted():
    mu, logvar = next(_outputs(1))
    tmu = torch.tensor(mu, requires_grad=True)
    tlv = torch.tensor(logvar, requires_grad=True)
    a, b = CollapseMonitor(), CollapseMonitor()
    a.update(tmu * 1.0, tlv * 1.0)
    b.update(mu, logvar)
    np.testing.assert_array_equal(a.history.kl_per_latent, b.history.kl_per_latent)
    assert a.history.mutual_information[0] == b.history.mutual_information[0]


def test_prediction_is_predict_collapse_at_the_loss_sigma2():
    X = _toy()
    by_data = CollapseMonitor(data=X, sigma2=0.5)
    by_cov = CollapseMonitor(covariance(X), sigma2=0.5)
    assert by_data.prediction is None  # the latent dimension comes with the first update
    for m in (by_data, by_cov):
        m.update(*next(_outputs(1)))
    expected = predict_collapse(covariance(X), latent_dim=2, sigma2=0.5)
    for m in (by_data, by_cov):
        np.testing.assert_allclose(m.prediction.kl_per_latent, expected.kl_per_latent, rtol=1e-12)
        assert m.prediction.n_active == expected.n_active == 2
    by_beta = CollapseMonitor(covariance(X), beta=0.5, reconstruction="sse")
    by_beta.update(*next(_outputs(1)))
    assert by_beta.prediction.sigma2 == pytest.approx(
        sigma2_from_beta(0.5, reconstruction="sse", n_features=3)
    )
    assert by_beta.comparison.sigma2 == by_beta.prediction.sigma2


def test_repr_is_a_table_with_the_linear_row():
    monitor = CollapseMonitor(np.diag(LAM), sigma2=2.0)
    assert repr(monitor) == "CollapseMonitor(epochs=0, sigma2=2)"
    for mu, logvar in _outputs(15):
        monitor.update(mu, logvar)
    lines = repr(monitor).splitlines()
    assert lines[0] == "CollapseMonitor(epochs=15, latent_dim=2, n_samples=200, sigma2=2)"
    assert "I(x;z)" in lines[1] and lines[1].split()[:4] == [
        "epoch",
        "active",
        "collapsed",
        "total",
    ]
    assert any(line.strip() == "..." for line in lines)  # the middle epochs are elided
    linear = next(line for line in lines if line.split()[0] == "linear")
    # lam = (4, 1, 0.25), sigma2 = 2: one live latent with KL 1/2 log 2
    assert linear.split()[1:4] == ["1", "1", f"{0.5 * np.log(2):.4g}"]
    assert lines[-1].startswith("  (linear:") and "log 200" in lines[-1]


def test_update_from_model_tensor_array_and_loader(toy_fit):
    X = _toy()
    mu, logvar = toy_fit.encode(X)
    expected = collapse_diagnostics(mu, logvar)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X), torch.zeros(len(X))), batch_size=64
    )
    model = toy_fit.model.train()
    for data in (torch.from_numpy(X), X, loader):
        monitor = CollapseMonitor(data=X, sigma2=2.0)
        monitor.update_from(model, data, batch_size=70)
        assert model.training  # its mode is restored
        got = monitor.diagnostics[0]
        np.testing.assert_allclose(got.kl_per_latent, expected.kl_per_latent, rtol=1e-12)
        assert got.mutual_information == pytest.approx(expected.mutual_information, rel=1e-12)
    toy_fit.model.eval()


def test_plain_pytorch_loop_records_every_epoch():
    """The loop the docs show: a small VAE trained by hand, the monitor updated each epoch."""
    X = torch.from_numpy(_toy())
    gen = torch.Generator().manual_seed(0)

    class VAE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = torch.nn.Linear(3, 4, dtype=torch.float64)
            self.dec = torch.nn.Linear(2, 3, dtype=torch.float64)

        def encode(self, x):
            h = self.enc(x)
            return h[:, :2], h[:, 2:]

    torch.manual_seed(0)
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    monitor = CollapseMonitor(data=X.numpy(), sigma2=2.0)
    for epoch in range(6):
        for _ in range(20):
            mu, logvar = model.encode(X)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen, dtype=X.dtype)
            rec = ((X - model.dec(z)) ** 2).sum(dim=1) / (2 * 2.0)
            kl = 0.5 * (mu**2 + torch.expm1(logvar) - logvar).sum(dim=1)
            opt.zero_grad()
            (rec + kl).mean().backward()
            opt.step()
        monitor.update_from(model, X, epoch=epoch)
    h = monitor.history
    assert h.epoch.tolist() == list(range(6)) and np.all(np.isfinite(h.mutual_information))
    # the rate moves as the loop trains; the prediction is there to compare with
    assert h.total_kl[0] != h.total_kl[-1] and monitor.predicted_active_units == 1


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(cov=np.eye(3), data=np.zeros((4, 3)), sigma2=1.0), ValueError, "`cov` or `data`"),
        (dict(cov=np.eye(3)), ValueError, "give `sigma2` \\(or `beta`\\)"),
        (dict(sigma2=1.0), ValueError, "give `cov` or `data` with `sigma2`"),
        (dict(cov=np.eye(3), sigma2=-1.0), ValueError, "`sigma2` must be positive"),
        (dict(data=np.zeros(4), sigma2=1.0), ValueError, "`data` must be a 2-D"),
        (dict(epsilon=-1.0), ValueError, "`epsilon`"),
        (dict(rng="seed"), TypeError, "`rng` must be"),
        (dict(mi_max_samples=0), ValueError, "`mi_max_samples` must be a positive integer"),
    ],
)
def test_construction_errors_name_the_parameter(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        CollapseMonitor(**kwargs)


def test_update_errors():
    monitor = CollapseMonitor(np.eye(2), sigma2=0.5)
    with pytest.raises(ValueError, match="more than the 2 features of `cov`"):
        monitor.update(np.zeros((5, 3)), np.zeros((5, 3)))
    monitor.update(np.zeros((5, 2)), np.zeros((5, 2)), epoch=3)
    with pytest.raises(ValueError, match="`epoch` must increase .* got 3 after 3"):
        monitor.update(np.zeros((5, 2)), np.zeros((5, 2)), epoch=3)
    with pytest.raises(TypeError, match="`epoch` must be an int"):
        monitor.update(np.zeros((5, 2)), np.zeros((5, 2)), epoch=4.0)
    with pytest.raises(ValueError, match="`means` has 1 latents; earlier updates had 2"):
        monitor.update(np.zeros((5, 1)), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="`log_variances` must have the shape"):
        monitor.update(np.zeros((5, 2)), np.zeros((4, 2)))
    assert monitor.history.epoch.tolist() == [3]  # failed updates record nothing
    with pytest.raises(ValueError, match="no batches"):
        monitor.update_from(torch.nn.Linear(2, 2), [])
    with pytest.raises(ValueError, match="no update yet"):
        CollapseMonitor().latent_dim


# --------------------------------------------------------------------------- the figure


def test_plot_draws_history_over_the_prediction():
    from matplotlib.figure import Figure

    monitor = CollapseMonitor(np.diag(LAM), sigma2=0.5)
    for mu, logvar in _outputs(5):
        monitor.update(mu, logvar)
    fig = monitor.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    ax_kl, ax_units, ax_mi = fig.axes
    dashed = [ln for ln in ax_kl.lines if ln.get_linestyle() == "--" and len(ln.get_xdata())]
    # one reference line per rank at the linear optimum's KL, lam = (4, 1), sigma2 = 0.5
    np.testing.assert_allclose(
        sorted(ln.get_ydata()[0] for ln in dashed), sorted(0.5 * np.log(LAM[:2] / 0.5))
    )
    measured = [ln for ln in ax_kl.lines if ln.get_linestyle() == "-" and len(ln.get_xdata())]
    assert len(measured) == 2 and measured[0].get_xdata().tolist() == [0, 1, 2, 3, 4]
    refs = {
        ln.get_label(): ln.get_ydata()[0] for ln in ax_units.lines if "linear" in ln.get_label()
    }
    assert refs == {"linear: active": 2, "linear: collapsed": 0}
    total = next(ln for ln in ax_mi.lines if ln.get_label().startswith("linear optimum"))
    assert total.get_ydata()[0] == pytest.approx(0.5 * np.sum(np.log(LAM[:2] / 0.5)))
    assert ax_mi.get_xlabel() == "epoch"
    axes = Figure().subplots(3, 1)
    assert monitor.plot(ax=axes) is axes[0].figure


def test_plot_without_prediction_and_errors():
    from matplotlib.figure import Figure

    with pytest.raises(ValueError, match="no update yet"):
        CollapseMonitor().plot()
    monitor = CollapseMonitor()
    monitor.update(*next(_outputs(1)))
    fig = monitor.plot()
    assert not any(ln.get_linestyle() == "--" for ax in fig.axes for ln in ax.lines)
    with pytest.raises(ValueError, match="`ax` must be None or 3 matplotlib Axes"):
        monitor.plot(ax=Figure().subplots())
    # lam = (4, 1), sigma2 = 2: one latent live and one collapsed, drawn as one reference line
    equal = CollapseMonitor(np.diag(LAM), sigma2=2.0)
    equal.update(*next(_outputs(1)))
    refs = [ln for ln in equal.plot().axes[1].lines if ln.get_label().startswith("linear")]
    assert [(ln.get_label(), ln.get_ydata()[0]) for ln in refs] == [
        ("linear: active = collapsed", 1)
    ]


def test_matplotlib_is_imported_only_by_plot():
    code = (
        "import sys, numpy as np\n"
        "from ppca_stability.deep import CollapseMonitor\n"
        "m = CollapseMonitor(); m.update(np.zeros((4, 2)), np.zeros((4, 2)))\n"
        "print('matplotlib' in sys.modules); m.plot(); print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- Lightning


# Lightning's own warnings about its dependencies and its data loaders are not what this checks.
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")
def test_lightning_callback_recipe():
    """The callback block of docs/deep_vae.md (```py3, its only one), in a real Trainer; skipped
    without Lightning."""
    import importlib.util

    text = (ROOT / "docs" / "deep_vae.md").read_text()
    block = re.findall(r"^```py3\n(.*?)^```", text, re.M | re.S)
    assert len(block) == 1 and "class CollapseCallback(L.Callback)" in block[0]
    if importlib.util.find_spec("lightning") is None:
        pytest.importorskip("pytorch_lightning")
        block[0] = block[0].replace("import lightning as L", "import pytorch_lightning as L")
    namespace: dict = {}
    exec(compile(block[0], "deep_vae.md", "exec"), namespace)
    L, CollapseCallback = namespace["L"], namespace["CollapseCallback"]

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.enc = torch.nn.Linear(3, 4, dtype=torch.float64)
            self.dec = torch.nn.Linear(2, 3, dtype=torch.float64)

        def encode(self, x):
            h = self.enc(x)
            return h[:, :2], h[:, 2:]

        def training_step(self, batch, _):
            (x,) = batch
            mu, logvar = self.encode(x)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            kl = 0.5 * (mu**2 + torch.expm1(logvar) - logvar).sum(dim=1)
            return (((x - self.dec(z)) ** 2).sum(dim=1) / 4.0 + kl).mean()

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=0.05)

    X = torch.from_numpy(_toy())
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X), batch_size=100)
    monitor = CollapseMonitor(data=X.numpy(), sigma2=2.0)
    trainer = L.Trainer(
        max_epochs=3,
        callbacks=[CollapseCallback(monitor, X)],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Module(), loader)
    assert monitor.history.epoch.tolist() == [0, 1, 2]
