"""A reference deep Gaussian VAE (PyTorch), and its posterior collapse measured against the linear
theory.

Optional: needs the ``deep`` extra, ``pip install "ppca_stability[deep]"``, which pins
``torch==2.13.0`` (a CPU build is enough; see the README for why the pin).

The model is the plainest deep Gaussian VAE: an MLP encoder ``x -> (mu(x), log sigma_enc^2(x))``, an
MLP decoder ``z -> f(z)``, the prior ``N(0, I)`` and the decoder ``p(x | z) = N(f(z), sigma2 I)``
with ``sigma2`` fixed or learned (one scalar). It maximises the reparameterised one-sample ELBO

    ELBO(x) = -(d/2) log(2 pi sigma2) - ||x - f(mu + sigma_enc eps)||^2 / (2 sigma2)
              - KL(q(z|x) || N(0, I))

with Adam on minibatches, in float64. ``sigma2`` is in the units of the data, exactly as in the
linear theory (docs/sigma2.md). The networks see the data through a fixed standardisation
``(x - mean) / c`` with ``c^2 = tr(S) / d`` (one scalar, so the decoder noise stays isotropic) and
the decoder output is mapped back by ``mean + c f``: a reparametrisation of the same model that
gives Adam well-scaled weights; the ELBO and ``sigma2`` are those of the raw data.

With ``activation="identity"`` both networks are affine, so the model is a linear VAE whose encoder
variance may depend on ``x``; its optimum is the pPCA solution of theory.md §6 (the true posterior
variance does not depend on ``x``), so the collapse it learns must match `predict_collapse()`.

`CollapseMonitor` records the collapse diagnostics, ``I(x; z)`` included, epoch by epoch in your
own training loop (plain PyTorch, or Lightning through a callback) beside the linear prediction at
the loss's ``sigma2``.

Determinism: all randomness (initial weights, minibatch order, reparameterisation noise) comes from
one seed drawn from `rng`; the global torch RNG is forked and restored, and
``torch.set_num_threads`` is set for the fit and restored after, so a seed and a thread count give
bit-identical results on CPU.
"""

from ._monitor import CollapseMonitor, MonitorHistory
from ._probe import LandscapeProbe, landscape_probe
from ._reference import (
    ACTIVATIONS,
    CollapseThresholds,
    DeepCollapseSweep,
    DeepVAEFit,
    deep_collapse_sweep,
    default_sigma2_grid,
    fit_deep_vae,
)

__all__ = [
    "ACTIVATIONS",
    "CollapseMonitor",
    "CollapseThresholds",
    "DeepCollapseSweep",
    "DeepVAEFit",
    "MonitorHistory",
    "LandscapeProbe",
    "deep_collapse_sweep",
    "default_sigma2_grid",
    "fit_deep_vae",
    "landscape_probe",
]
