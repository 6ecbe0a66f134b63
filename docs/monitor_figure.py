"""CollapseMonitor on MNIST: a small MLP VAE trained by a plain PyTorch loop, monitored every epoch.

Writes ``docs/images/monitor_mnist.png`` (the figure of docs/deep_vae.md §5) and prints the
monitor's table. Needs the ``deep`` and ``plot`` extras and the MNIST test files (see
`ppca_stability.datasets.load_mnist`):

    python docs/monitor_figure.py [MNIST_DIR]

MNIST_DIR defaults to ``../shared/data/mnist`` next to the repository, else
``$PPCA_STABILITY_MNIST``. About a minute on one CPU core.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from ppca_stability import covariance, spectrum
from ppca_stability.datasets import load_mnist
from ppca_stability.deep import CollapseMonitor

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images" / "monitor_mnist.png"
N_SAMPLES = 2000  # the first 2 000 test images
LATENT_DIM = 16
HIDDEN = 256
SIGMA2 = 1.5  # decoder noise variance, in the units of pixels scaled to [0, 1]
EPOCHS = 40
BATCH = 100
LR = 1e-3
SEED = 0


class MLPVAE(torch.nn.Module):
    """Encoder 784 -> 256 -> (mu, log sigma^2), decoder latent -> 256 -> 784, ReLU."""

    def __init__(self, d: int, q: int, hidden: int) -> None:
        super().__init__()
        self.q = q
        self.encoder = torch.nn.Sequential(
            torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2 * q)
        )
        self.decoder = torch.nn.Sequential(
            torch.nn.Linear(q, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, d)
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return h[:, : self.q], h[:, self.q :]

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Negative ELBO per sample up to a constant: ||x - f(z)||^2 / (2 sigma2) + KL."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = ((x - self.decoder(z)) ** 2).sum(dim=1) / (2 * SIGMA2)
        kl = 0.5 * (mu**2 + torch.expm1(logvar) - logvar).sum(dim=1)
        return (rec + kl).mean()


def main(mnist_dir: str | None) -> None:
    mnist = load_mnist(mnist_dir, n_samples=N_SAMPLES)
    X = mnist.images
    lam = spectrum(covariance(X), vectors=False).eigenvalues
    print(mnist)
    print(f"top eigenvalues: {np.round(lam[:LATENT_DIM], 3).tolist()}; sigma2 = {SIGMA2}")

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    Xt = torch.from_numpy(X).float()
    model = MLPVAE(X.shape[1], LATENT_DIM, HIDDEN)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    monitor = CollapseMonitor(data=X, sigma2=SIGMA2)
    monitor.update_from(model, Xt, epoch=0)  # the initial network
    start = time.perf_counter()
    for epoch in range(1, EPOCHS + 1):
        model.train()
        for idx in torch.randperm(len(Xt)).split(BATCH):
            loss = model.loss(Xt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        monitor.update_from(model, Xt, epoch=epoch)
    print(f"{EPOCHS} epochs with a monitor update each: {time.perf_counter() - start:.1f} s")
    print(monitor)
    fig = monitor.plot()
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    default = ROOT / ".." / "shared" / "data" / "mnist"
    main(sys.argv[1] if len(sys.argv) > 1 else (str(default) if default.is_dir() else None))
