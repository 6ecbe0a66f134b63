"""The reference deep Gaussian VAE and its collapse sweep (the public face is
`ppca_stability.deep`).
"""

from __future__ import annotations

# Kept whole: the model, its training loop and the sweep share the torch session (threads, RNG)
# and the data standardisation of one private configuration; the public face is
# `ppca_stability.deep`, and further tools (the landscape probe, the monitor) live beside it.
import functools
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._base import persist
from .._base.frames import data_frame
from .._base.validation import (
    as_real_array,
    check_choice,
    check_positive_int,
    check_rng,
    check_sigma2,
    check_sigma2_grid,
)
from .._ppca.likelihood import LOG_2PI
from .._ppca.phase import PhaseDiagram, phase_diagram
from .._spectra.covariance import covariance
from .._spectra.spectrum import spectrum
from .._vae.comparison import CollapseComparison, compare_collapse
from .._vae.diagnostics import CollapseDiagnostics, collapse_diagnostics
from .._vae.linear_vae import TrainingHistory
from ._torch import torch

__all__ = [
    "ACTIVATIONS",
    "CollapseThresholds",
    "DeepCollapseSweep",
    "DeepVAEFit",
    "deep_collapse_sweep",
    "default_sigma2_grid",
    "fit_deep_vae",
]

ACTIVATIONS = ("relu", "tanh", "identity")
# Reparameterised draws per sample for the final ELBO estimate (its Monte-Carlo error is ~1/4 of
# a one-draw estimate's).
ELBO_SAMPLES = 16
# The default sweep: DEFAULT_GRID_POINTS log-spaced sigma2 in [lam_q / GRID_MARGIN, GRID_MARGIN
# lam_1].
DEFAULT_GRID_POINTS = 8
GRID_MARGIN = 4.0
# Adam's learning rate decays (cosine, per epoch) from lr to LR_FLOOR * lr.
LR_FLOOR = 0.05


# --------------------------------------------------------------------------- the model


def _mlp(widths: Sequence[int], activation: str) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(a, b, dtype=torch.float64))
        if i < len(widths) - 2:
            layers.append(
                {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "identity": torch.nn.Identity}[
                    activation
                ]()
            )
    return torch.nn.Sequential(*layers)


class _GaussianVAE(torch.nn.Module):
    """MLP encoder and decoder around a fixed standardisation of the data (see the module notes)."""

    def __init__(
        self,
        mean: torch.Tensor,
        scale: float,
        latent_dim: int,
        hidden: tuple[int, ...],
        activation: str,
        log_sigma2: float,
        learn_sigma2: bool,
    ) -> None:
        super().__init__()
        d = mean.numel()
        self.register_buffer("shift", mean)
        self.scale = scale
        self.latent_dim = latent_dim
        self.encoder = _mlp([d, *hidden, 2 * latent_dim], activation)
        self.decoder = _mlp([latent_dim, *hidden[::-1], d], activation)
        self.log_sigma2 = torch.nn.Parameter(
            torch.tensor(log_sigma2, dtype=torch.float64), requires_grad=learn_sigma2
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder((x - self.shift) / self.scale)
        return h[:, : self.latent_dim], h[:, self.latent_dim :]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.shift + self.scale * self.decoder(z)

    def elbo(self, x: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample one-draw ELBO (n,) and KL per sample and latent (n, q)."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * noise
        sq_err = torch.sum((x - self.decode(z)) ** 2, dim=1)
        kl = 0.5 * (mu**2 + torch.expm1(logvar) - logvar)
        d = x.shape[1]
        ll = -0.5 * d * (LOG_2PI + self.log_sigma2) - 0.5 * sq_err * torch.exp(-self.log_sigma2)
        return ll - kl.sum(dim=1), kl


class _TorchSession:
    """Fork the global torch RNG and set the thread count for a block; restore both after."""

    def __init__(self, seed: int, threads: int) -> None:
        self.seed, self.threads = seed, threads

    def __enter__(self) -> torch.Generator:
        self._threads = torch.get_num_threads()
        self._fork = torch.random.fork_rng(devices=[])
        self._fork.__enter__()
        torch.set_num_threads(self.threads)
        torch.manual_seed(self.seed)  # initial weights (nn.Linear draws from the global RNG)
        return torch.Generator().manual_seed(self.seed + 1)

    def __exit__(self, *exc: Any) -> None:
        torch.set_num_threads(self._threads)
        self._fork.__exit__(*exc)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False, slots=True)
class DeepVAEFit:
    """A trained deep Gaussian VAE (see `fit_deep_vae()`).

    Attributes
    ----------
    diagnostics : CollapseDiagnostics
        Of the encoder on the training data.
    elbo : float
        Data-averaged ELBO on the training data (nats per sample), estimated with
        `ELBO_SAMPLES` reparameterised draws per sample.
    history : TrainingHistory
        Per epoch (row 0: the initial network): mean minibatch ELBO, mean KL per latent, ``sigma2``.
    sigma2 : float
        Decoder noise variance at the end (the fixed value, or the learned one).
    sigma2_learned : bool
    cov : ndarray, shape (d, d)
        Covariance (ddof=0) of the training data, for `comparison`.
    model : torch.nn.Module
        The trained network; ``model.encode(x)`` returns ``(mu, log_variance)`` tensors.
    seed : int
        The torch seed the fit was drawn with.
    activation : str
    hidden : tuple of int
    """

    diagnostics: CollapseDiagnostics
    elbo: float
    history: TrainingHistory
    sigma2: float
    sigma2_learned: bool
    cov: np.ndarray
    model: Any
    seed: int
    activation: str
    hidden: tuple[int, ...]

    @property
    def latent_dim(self) -> int:
        return self.diagnostics.latent_dim

    @property
    def comparison(self) -> CollapseComparison:
        """`compare_collapse()` of `diagnostics` with the linear VAE at this fit's ``sigma2``."""
        return compare_collapse(self.diagnostics, self.cov, self.sigma2)

    def encode(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        """Encoder means and log-variances of `data` (n, d) as float64 arrays, each (n,
        latent_dim)."""
        X = as_real_array(data, "data")
        if X.ndim != 2 or X.shape[1] != self.cov.shape[0]:
            raise ValueError(
                f"`data` must be a 2-D array with {self.cov.shape[0]} columns; got shape {X.shape}."
            )
        with torch.no_grad():
            mu, logvar = self.model.encode(torch.from_numpy(np.ascontiguousarray(X)))
        return mu.numpy().copy(), logvar.numpy().copy()

    def __repr__(self) -> str:
        how = "learned" if self.sigma2_learned else "fixed"
        return "\n".join(
            [
                f"DeepVAEFit(n_features={self.cov.shape[0]}, latent_dim={self.latent_dim}, "
                f"hidden={list(self.hidden)}, activation={self.activation!r}, "
                f"epochs={self.history.elbo.size - 1}, seed={self.seed})",
                f"  elbo          {self.elbo:.8g}",
                f"  sigma2        {self.sigma2:.6g} ({how})",
                f"  active units  {self.diagnostics.active_units} of {self.latent_dim}",
                f"  collapsed     {len(self.diagnostics.collapsed)} of {self.latent_dim}",
                f"  total KL      {self.diagnostics.total_kl:.4g} nats",
            ]
        )


@dataclass(frozen=True, eq=False, slots=True)
class CollapseThresholds:
    """Where the ``k``-th active unit becomes inactive as ``sigma2`` grows: deep VAE against linear
    theory.

    Each threshold is where an active-unit count (as a function of ``log sigma2`` on the sweep's
    grid) falls through ``k - 1/2`` for the last time, interpolated linearly in ``log sigma2``
    between the two grid values that bracket it; NaN when that does not happen inside the grid. The
    linear threshold is ``lam_k`` exactly; ``linear_on_grid`` applies the same interpolation to the
    linear prediction sampled on the same grid, the fair reference for a coarse grid.

    Attributes
    ----------
    k : ndarray of int, shape (latent_dim,)
    eigenvalue : ndarray, shape (latent_dim,)
        ``lam_k``.
    linear_on_grid : ndarray, shape (latent_dim,)
    deep : ndarray, shape (latent_dim,)
        From the mean active-unit count over seeds.
    deep_min, deep_max : ndarray, shape (latent_dim,)
        Smallest and largest of the per-seed thresholds (NaN if any seed has none in the grid).
    sigma2 : ndarray or None
        The grid the thresholds were read from: it sets the digits the table prints
        (`significant_digits`).
    n_seeds : int or None
        Seeds behind ``deep``; with one, the table has no per-seed column.

    The table (``repr``) prints "–" where a threshold is not inside the grid.
    """

    k: np.ndarray
    eigenvalue: np.ndarray
    linear_on_grid: np.ndarray
    deep: np.ndarray
    deep_min: np.ndarray
    deep_max: np.ndarray
    sigma2: np.ndarray | None = None
    n_seeds: int | None = None

    @property
    def ratio(self) -> np.ndarray:
        """``deep / linear_on_grid``: 1 when the deep VAE loses its k-th unit where the linear
        one does."""
        return self.deep / self.linear_on_grid

    @property
    def significant_digits(self) -> int:
        """Digits the grid supports for a threshold (and a ratio of two): a threshold read off
        a grid is uncertain by up to its widest step, a relative ``delta = max log(s_{g+1} /
        s_g)``; one digit beyond that, ``1 + ceil(log10(1 / delta))`` (at least 1). A grid
        stepping by a factor 4 gives 1 digit, 1.5 gives 2, 1.05 gives 3. Without a grid, 4."""
        if self.sigma2 is None or self.sigma2.size < 2:
            return UNKNOWN_GRID_DIGITS
        delta = float(np.max(np.diff(np.log(self.sigma2))))
        return max(1, 1 + math.ceil(math.log10(1.0 / delta)))

    def __repr__(self) -> str:
        n = self.significant_digits
        one_seed = self.n_seeds == 1
        names = ["k", "lam_k", "linear@grid", "deep (mean)" if not one_seed else "deep"]
        if not one_seed:
            names.append("deep seeds")
        names.append("ratio")
        cells = []
        for i in range(self.k.size):
            row = [
                str(self.k[i]),
                f"{self.eigenvalue[i]:.4g}",
                _digits(self.linear_on_grid[i], n),
                _digits(self.deep[i], n),
            ]
            if not one_seed:
                lo, hi = self.deep_min[i], self.deep_max[i]
                row.append(NO_VALUE if np.isnan(lo) else f"[{_digits(lo, n)}, {_digits(hi, n)}]")
            row.append(_digits(self.ratio[i], n))
            cells.append(row)
        widths = [max([len(name)] + [len(c[j]) for c in cells]) for j, name in enumerate(names)]
        grid = "" if self.sigma2 is None else f" on {self.sigma2.size} grid values"
        rows = [
            f"CollapseThresholds: sigma2 at which the k-th active unit becomes inactive{grid}",
            f"  ({n} significant digit{'s' if n > 1 else ''}: what the grid's widest step "
            f"supports; {NO_VALUE}: not inside the grid)",
        ]
        rows += ["  " + " ".join(f"{v:>{w}}" for v, w in zip(r, widths)) for r in [names] + cells]
        return "\n".join(rows)


# What a table prints where there is no value (a threshold outside the grid), as docs/deep_vae.md.
NO_VALUE = "\u2013"
# Significant digits of a threshold when the grid it was read from is unknown.
UNKNOWN_GRID_DIGITS = 4


def _digits(value: float, n: int) -> str:
    """`value` rounded to `n` significant digits, written without an exponent for magnitudes
    from 1e-4 to 1e6 (``198`` to one digit is ``200``, not ``2e+02``); NaN is `NO_VALUE`."""
    if not math.isfinite(value):
        return NO_VALUE
    rounded = float(f"{value:.{n}g}")
    if rounded == 0.0 or not 1e-4 <= abs(rounded) < 1e6:
        return f"{value:.{n}g}"
    return f"{rounded:.{max(0, n - 1 - math.floor(math.log10(abs(rounded))))}f}"


def _crossing(grid: np.ndarray, counts: np.ndarray, level: float) -> float:
    """Last ``sigma2`` where ``counts`` falls through ``level``, log-linearly interpolated; NaN
    if none."""
    above = counts >= level
    if not above.any() or above[-1]:
        return math.nan
    g = int(np.flatnonzero(above)[-1])  # counts[g] >= level > counts[g + 1:]
    t = (counts[g] - level) / (counts[g] - counts[g + 1])
    return float(np.exp(np.log(grid[g]) + t * (np.log(grid[g + 1]) - np.log(grid[g]))))


@dataclass(frozen=True, eq=False, slots=True)
class DeepCollapseSweep:
    """Deep-VAE collapse measured on a grid of ``sigma2`` and several seeds, beside the linear
    theory.

    Build it with `deep_collapse_sweep()`. Entry ``[g, j]`` is grid value ``g``, seed ``j``.

    Attributes
    ----------
    sigma2 : ndarray, shape (G,)
    seeds : tuple of int
    diagnostics : tuple of tuple of CollapseDiagnostics, shape (G, S)
    elbo : ndarray, shape (G, S)
    phase : PhaseDiagram
        The linear theory on the same data and ``latent_dim`` (default fine grid, for the figure).
    activation : str
    hidden : tuple of int
    epochs : int
    """

    sigma2: np.ndarray
    seeds: tuple[int, ...]
    diagnostics: tuple[tuple[CollapseDiagnostics, ...], ...]
    elbo: np.ndarray
    phase: PhaseDiagram
    activation: str
    hidden: tuple[int, ...]
    epochs: int

    @property
    def latent_dim(self) -> int:
        return self.phase.latent_dim

    @property
    def eigenvalues(self) -> np.ndarray:
        """Top ``latent_dim`` eigenvalues of the data covariance, descending."""
        return self.phase.eigenvalues[: self.latent_dim]

    @property
    def active_units(self) -> np.ndarray:
        """Measured active units, int (G, S)."""
        return np.array([[d.active_units for d in row] for row in self.diagnostics])

    @property
    def n_collapsed(self) -> np.ndarray:
        """Measured ``(epsilon, delta)``-collapsed latents, int (G, S)."""
        return np.array([[len(d.collapsed) for d in row] for row in self.diagnostics])

    @property
    def kl_by_rank(self) -> np.ndarray:
        """Measured KL per latent sorted in decreasing order, (G, S, latent_dim)."""
        return np.array([[np.sort(d.kl_per_latent)[::-1] for d in row] for row in self.diagnostics])

    @property
    def predicted_kl(self) -> np.ndarray:
        """Linear optimum's KL per latent, ``1/2 log max(1, lam_c / sigma2)``, (G, latent_dim)."""
        return 0.5 * np.log(np.maximum(1.0, self.eigenvalues[None, :] / self.sigma2[:, None]))

    @property
    def predicted_active_units(self) -> np.ndarray:
        """Active units of the linear optimum under the sweep's threshold: ``1 - sigma2/lam_c >
        au_threshold``."""
        au = self.diagnostics[0][0].au_threshold
        lam = self.eigenvalues[None, :]
        var = np.where(lam > self.sigma2[:, None], 1.0 - self.sigma2[:, None] / lam, 0.0)
        return np.count_nonzero(var > au, axis=1)

    def thresholds(self) -> CollapseThresholds:
        """Where each active unit becomes inactive, deep (mean and per seed) against linear; see
        `CollapseThresholds`."""
        s, au, pred = self.sigma2, self.active_units, self.predicted_active_units
        ks = np.arange(1, self.latent_dim + 1)
        mean = au.mean(axis=1)
        per_seed = np.array(
            [[_crossing(s, au[:, j], k - 0.5) for j in range(au.shape[1])] for k in ks]
        )
        return CollapseThresholds(
            k=ks,
            eigenvalue=self.eigenvalues.copy(),
            linear_on_grid=np.array([_crossing(s, pred, k - 0.5) for k in ks]),
            deep=np.array([_crossing(s, mean, k - 0.5) for k in ks]),
            deep_min=per_seed.min(axis=1),
            deep_max=per_seed.max(axis=1),
            sigma2=s.copy(),
            n_seeds=len(self.seeds),
        )

    def __repr__(self) -> str:
        au, kl = self.active_units, self.kl_by_rank.sum(axis=2)
        pred_kl = self.predicted_kl.sum(axis=1)
        n = len(self.seeds)
        head = (
            f"DeepCollapseSweep(latent_dim={self.latent_dim}, {self.sigma2.size} sigma2 values x "
            f"{n} seed{'s' if n != 1 else ''}, hidden={list(self.hidden)}, "
            f"activation={self.activation!r}, epochs={self.epochs})"
        )
        if n == 1:  # one seed: its values, with no spread to show
            rows = [
                head,
                f"  {'sigma2':>10} | {'active units':^16} | {'total KL [nats]':^17}",
                f"  {'':>10} | {'linear':>7} {'deep':>8} | {'linear':>8} {'deep':>8}",
            ]
            rows += [
                f"  {s:>10.4g} | {self.predicted_active_units[g]:>7} {au[g, 0]:>8} | "
                f"{pred_kl[g]:>8.3f} {kl[g, 0]:>8.3f}"
                for g, s in enumerate(self.sigma2)
            ]
            return "\n".join(r.rstrip() for r in rows)
        rows = [
            head,
            f"  {'sigma2':>10} | {'active units':^26} | {'total KL [nats]':^26}",
            f"  {'':>10} | {'linear':>6} {'deep mean':>9} {'[min, max]':>9} | {'linear':>7} "
            f"{'deep mean':>9} {'± std':>8}",
        ]
        for g, s in enumerate(self.sigma2):
            rows.append(
                f"  {s:>10.4g} | {self.predicted_active_units[g]:>6} {au[g].mean():>9.2f} "
                f"{f'[{au[g].min()}, {au[g].max()}]':>9} | {pred_kl[g]:>7.3f} {kl[g].mean():>9.3f} "
                f"{kl[g].std():>8.3f}"
            )
        return "\n".join(r.rstrip() for r in rows)

    def plot(self, ax: Any = None) -> Any:
        """Active units and KL per latent against ``sigma2``: deep VAE (markers) over the linear
        theory (lines).

        Parameters
        ----------
        ax : sequence of two matplotlib Axes, optional
            Where to draw; a new figure with two panels by default.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .._plotting.deep import plot_deep_collapse_sweep

        return plot_deep_collapse_sweep(self, ax=ax)

    # ------------------------------------------------------------------ keeping and showing
    # JSON text and a file that `ppca_stability.load` reads back (docs/saving.md).
    to_json = persist.to_json
    save = persist.save

    def to_frame(self) -> Any:
        """One row per (grid value, seed): ``sigma2``, ``seed``, ``elbo``, ``active_units``,
        ``n_collapsed``, ``total_kl``, and the linear theory's ``predicted_active_units`` and
        ``predicted_total_kl`` at that ``sigma2``. Needs pandas (the ``pandas`` extra)."""
        G, S = self.elbo.shape
        columns = {
            "sigma2": np.repeat(self.sigma2, S),
            "seed": np.tile(np.array(self.seeds, dtype=np.int64), G),
            "elbo": self.elbo.ravel(),
            "active_units": self.active_units.ravel(),
            "n_collapsed": self.n_collapsed.ravel(),
            "total_kl": self.kl_by_rank.sum(axis=2).ravel(),
            "predicted_active_units": np.repeat(self.predicted_active_units, S),
            "predicted_total_kl": np.repeat(self.predicted_kl.sum(axis=1), S),
        }
        return data_frame(columns, "DeepCollapseSweep.to_frame()")


# --------------------------------------------------------------------------- fitting


def _check_hidden(hidden: Any) -> tuple[int, ...]:
    widths = (hidden,) if isinstance(hidden, numbers.Integral) else hidden
    try:
        out = tuple(check_positive_int(h, "hidden") for h in widths)
    except TypeError:
        raise TypeError(
            f"`hidden` must be a positive int or a sequence of them; got {hidden!r}."
        ) from None
    if not out:
        raise ValueError(
            "`hidden` must name at least one hidden layer width; got an empty sequence."
        )
    return out


def _check_positive_float(value: Any, name: str) -> float:
    return float(check_sigma2(value, name))


@dataclass(frozen=True, slots=True)
class _Config:
    X: np.ndarray
    q: int
    sigma2: float | str
    hidden: tuple[int, ...]
    activation: str
    epochs: int
    batch_size: int
    lr: float
    threads: int


def _check_data(data: Any) -> np.ndarray:
    X = as_real_array(data, "data")
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1:
        raise ValueError(
            "`data` must be a 2-D (n_samples, n_features) array with at least 2 rows; got shape "
            f"{X.shape}."
        )
    # A private, writable copy: torch shares memory with it (and refuses read-only memory maps).
    return np.array(X, order="C", copy=True)


def _config(
    data: Any,
    latent_dim: Any,
    sigma2: Any,
    hidden: Any,
    activation: Any,
    epochs: Any,
    batch_size: Any,
    lr: Any,
    threads: Any,
) -> _Config:
    X = _check_data(data)
    return _Config(
        X=X,
        q=check_positive_int(
            latent_dim, "latent_dim", upper=X.shape[1], upper_name="the number of features"
        ),
        sigma2=check_sigma2(sigma2, allow_learned=True),
        hidden=_check_hidden(hidden),
        activation=check_choice(activation, "activation", ACTIVATIONS),
        epochs=check_positive_int(epochs, "epochs"),
        batch_size=min(check_positive_int(batch_size, "batch_size"), X.shape[0]),
        lr=_check_positive_float(lr, "lr"),
        threads=check_positive_int(threads, "threads"),
    )


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**62))


def _fit(
    cfg: _Config,
    cov: np.ndarray,
    seed: int,
    progress: bool,
    desc: str = "deep VAE",
    on_epoch: Callable[[int], Any] | None = None,
) -> DeepVAEFit:
    """One fit; ``on_epoch(0)`` as training starts, then ``on_epoch(e)`` after epoch ``e``."""
    from tqdm.auto import tqdm

    X, q = cfg.X, cfg.q
    n, d = X.shape
    learned = cfg.sigma2 == "learned"
    c2 = float(np.trace(cov)) / d
    scale = math.sqrt(c2) if c2 > 0 else 1.0
    with _TorchSession(seed, cfg.threads) as gen:
        Xt = torch.from_numpy(X)
        model = _GaussianVAE(
            Xt.mean(dim=0),
            scale,
            q,
            cfg.hidden,
            cfg.activation,
            math.log(scale**2 if learned else float(cfg.sigma2)),
            learned,
        )
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
        # Cosine decay to LR_FLOOR * lr: the last epochs average out the minibatch and
        # reparameterisation noise that would otherwise keep collapsed units faintly active.
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=cfg.epochs, eta_min=LR_FLOOR * cfg.lr
        )

        def evaluate() -> tuple[float, np.ndarray]:
            with torch.no_grad():
                elbo, kl = model.elbo(Xt, torch.randn(n, q, generator=gen, dtype=torch.float64))
            return float(elbo.mean()), kl.mean(dim=0).numpy()

        elbo0, kl0 = evaluate()
        elbos, kls, sigma2s = [elbo0], [kl0], [math.exp(model.log_sigma2.item())]
        with tqdm(total=cfg.epochs, disable=not progress, desc=desc, leave=False) as bar:
            if on_epoch is not None:
                on_epoch(0)
            for epoch in range(1, cfg.epochs + 1):
                perm = torch.randperm(n, generator=gen)
                sum_elbo, sum_kl = 0.0, torch.zeros(q, dtype=torch.float64)
                for start in range(0, n, cfg.batch_size):
                    xb = Xt[perm[start : start + cfg.batch_size]]
                    elbo, kl = model.elbo(
                        xb, torch.randn(xb.shape[0], q, generator=gen, dtype=torch.float64)
                    )
                    loss = -elbo.mean()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sum_elbo += float(elbo.detach().sum())
                    sum_kl += kl.detach().sum(dim=0)
                schedule.step()
                elbos.append(sum_elbo / n)
                kls.append((sum_kl / n).numpy())
                sigma2s.append(math.exp(model.log_sigma2.item()))
                bar.update()
                bar.set_postfix(elbo=f"{elbos[-1]:.6g}", refresh=False)
                if on_epoch is not None:
                    on_epoch(epoch)
        with torch.no_grad():
            mu, logvar = model.encode(Xt)
            total = sum(
                float(
                    model.elbo(Xt, torch.randn(n, q, generator=gen, dtype=torch.float64))[0].mean()
                )
                for _ in range(ELBO_SAMPLES)
            )
    return DeepVAEFit(
        diagnostics=collapse_diagnostics(mu.numpy(), logvar.numpy()),
        elbo=total / ELBO_SAMPLES,
        history=TrainingHistory(np.array(elbos), np.array(kls), np.array(sigma2s)),
        sigma2=sigma2s[-1],
        sigma2_learned=learned,
        cov=cov,
        model=model.eval(),
        seed=seed,
        activation=cfg.activation,
        hidden=cfg.hidden,
    )


def fit_deep_vae(
    data: ArrayLike,
    *,
    latent_dim: int,
    sigma2: float | str,
    hidden: int | Sequence[int] = (64,),
    activation: str = "tanh",
    epochs: int = 300,
    batch_size: int = 256,
    lr: float = 3e-3,
    threads: int = 1,
    rng: np.random.Generator | int | None = None,
    progress: bool = True,
) -> DeepVAEFit:
    """Train a deep Gaussian VAE (MLP encoder and decoder) with Adam on the reparameterised ELBO.

    Parameters
    ----------
    data : array_like, shape (n_samples, n_features)
        Training data (rows are samples), in the units ``sigma2`` refers to.
    latent_dim : int
    sigma2 : float or "learned"
        Decoder noise variance, fixed, or one scalar trained with the networks.
    hidden : int or sequence of int, default (64,)
        Hidden layer widths of the encoder; the decoder mirrors them.
    activation : {"tanh", "relu", "identity"}, default "tanh"
        ``"identity"`` makes both networks affine: a linear VAE (see the module notes).
    epochs : int, default 300
        Passes over the data.
    batch_size : int, default 256
        Minibatch size (at most ``n_samples``).
    lr : float, default 3e-3
        Adam's learning rate, constant.
    threads : int, default 1
        ``torch.set_num_threads`` during the fit (restored after); results are bit-identical for a
        given seed and thread count.
    rng : numpy.random.Generator or int or None
        Source of the torch seed: initial weights, minibatch order and reparameterisation noise.
    progress : bool, default True
        Show a tqdm progress bar over the epochs.

    Returns
    -------
    DeepVAEFit

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability.deep import fit_deep_vae
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 3)) * np.sqrt([4.0, 1.0, 0.25])     # eigenvalues ~ 4, 1, 0.25
    >>> fit = fit_deep_vae(x, latent_dim=2, sigma2=2.0, epochs=150, rng=0, progress=False)
    >>> fit.diagnostics.active_units                  # only lam_1 = 4 exceeds sigma2 = 2
    1
    """
    cfg = _config(data, latent_dim, sigma2, hidden, activation, epochs, batch_size, lr, threads)
    return _fit(cfg, covariance(cfg.X), _seed(check_rng(rng)), progress)


def default_sigma2_grid(
    cov: ArrayLike, latent_dim: int, n: int = DEFAULT_GRID_POINTS
) -> np.ndarray:
    """``n`` log-spaced ``sigma2`` from ``lam_q / 4`` to ``4 lam_1``: every collapse threshold and
    beyond.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability.deep import default_sigma2_grid
    >>> default_sigma2_grid(np.diag([4.0, 1.0]), 2, n=3)
    array([ 0.25,  2.  , 16.  ])
    """
    lam = spectrum(cov, vectors=False).eigenvalues
    q = check_positive_int(
        latent_dim, "latent_dim", upper=lam.size, upper_name="the number of features"
    )
    return _default_grid(lam, q, check_positive_int(n, "n"))


def _default_grid(lam: np.ndarray, q: int, n: int) -> np.ndarray:
    if lam[q - 1] <= 0:
        raise ValueError(
            f"the covariance has rank below `latent_dim` = {q}; pass `sigma2_grid` explicitly."
        )
    return np.geomspace(lam[q - 1] / GRID_MARGIN, lam[0] * GRID_MARGIN, n)


def deep_collapse_sweep(
    data: ArrayLike,
    latent_dim: int,
    sigma2_grid: ArrayLike | None = None,
    *,
    n_seeds: int = 3,
    hidden: int | Sequence[int] = (64,),
    activation: str = "tanh",
    epochs: int = 300,
    batch_size: int = 256,
    lr: float = 3e-3,
    threads: int = 1,
    rng: np.random.Generator | int | None = None,
    progress: bool = True,
    callback: Callable[[int, int], Any] | None = None,
) -> DeepCollapseSweep:
    """Train the deep VAE at every ``sigma2`` of a grid with several seeds and measure its collapse.

    Parameters
    ----------
    data : array_like, shape (n_samples, n_features)
    latent_dim : int
    sigma2_grid : array_like, optional
        Strictly increasing decoder noise variances; default `default_sigma2_grid()`
        (8 values from ``lam_q / 4`` to ``4 lam_1``).
    n_seeds : int, default 3
        Fits per grid value. Seed ``j`` is the same at every grid value (common random numbers).
    hidden, activation, epochs, batch_size, lr, threads
        As in `fit_deep_vae()`.
    rng : numpy.random.Generator or int or None
        Draws the `n_seeds` torch seeds.
    progress : bool, default True
        One tqdm bar over all ``G x n_seeds`` fits.
    callback : callable, optional
        ``callback(fit, epoch)``: with ``epoch = 0`` as fit number ``fit`` starts training
        (counted from 0 in grid-major order, ``g * n_seeds + j``), then after each of its epochs
        (from 1); e.g. to estimate the time left, as ``ppca-stability deep`` does.

    Returns
    -------
    DeepCollapseSweep
        Its ``repr`` is the table, ``.plot()`` the figure and ``.thresholds()`` the deep-vs-linear
        thresholds.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability.deep import deep_collapse_sweep
    >>> x = np.random.default_rng(0).normal(size=(300, 3)) * np.sqrt([4.0, 1.0, 0.25])
    >>> sweep = deep_collapse_sweep(x, 2, [0.5, 2.0, 8.0], n_seeds=2, epochs=200, batch_size=300,
    ...                             rng=0, progress=False)  # full batch: 200 Adam steps
    >>> sweep.predicted_active_units.tolist(), sweep.active_units.tolist()
    ([2, 1, 0], [[2, 2], [1, 1], [0, 0]])
    """
    cfg = _config(data, latent_dim, "learned", hidden, activation, epochs, batch_size, lr, threads)
    cov = covariance(cfg.X)
    pd = phase_diagram(cov, latent_dim=cfg.q)
    grid = (
        _default_grid(pd.eigenvalues, cfg.q, DEFAULT_GRID_POINTS)
        if sigma2_grid is None
        else check_sigma2_grid(sigma2_grid, "sigma2_grid")
    )
    gen = check_rng(rng)
    seeds = tuple(_seed(gen) for _ in range(check_positive_int(n_seeds, "n_seeds")))
    if callback is not None and not callable(callback):
        raise TypeError(f"`callback` must be callable or None; got {type(callback).__name__}.")
    from tqdm.auto import tqdm

    rows, elbos = [], np.empty((grid.size, len(seeds)))
    with tqdm(
        total=grid.size * len(seeds), disable=not progress, desc="deep VAE sweep", unit="fit"
    ) as bar:
        for g, s in enumerate(grid):
            row = []
            for j, seed in enumerate(seeds):
                bar.set_postfix(sigma2=f"{s:.4g}", seed=j, refresh=True)
                hook = None if callback is None else functools.partial(callback, g * len(seeds) + j)
                fit = _fit(replace(cfg, sigma2=float(s)), cov, seed, progress=False, on_epoch=hook)
                row.append(fit.diagnostics)
                elbos[g, j] = fit.elbo
                bar.update()
            rows.append(tuple(row))
    return DeepCollapseSweep(
        sigma2=grid,
        seeds=seeds,
        diagnostics=tuple(rows),
        elbo=elbos,
        phase=pd,
        activation=cfg.activation,
        hidden=cfg.hidden,
        epochs=cfg.epochs,
    )
