"""`CollapseMonitor`: posterior collapse measured epoch by epoch in your own training loop, beside
the linear VAE's prediction at the loss's ``sigma2``."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._base.validation import as_real_array, check_cov, check_positive_int, check_rng
from .._spectra.covariance import covariance
from .._vae.beta import CollapsePrediction, predict_collapse
from .._vae.comparison import CollapseComparison, compare_collapse
from .._vae.diagnostics import (
    MI_MAX_SAMPLES,
    CollapseDiagnostics,
    check_threshold,
    collapse_diagnostics,
)

__all__ = ["CollapseMonitor", "MonitorHistory"]

# Epochs a repr shows before eliding the middle ones.
REPR_EPOCHS = 12
# Rows per forward pass in `update_from` when it is given one array or tensor.
ENCODE_BATCH = 1024


@dataclass(frozen=True, eq=False, slots=True)
class MonitorHistory:
    """What a `CollapseMonitor` recorded, one row per `update` (epoch).

    Attributes
    ----------
    epoch : ndarray of int, shape (E,)
    kl_per_latent : ndarray, shape (E, latent_dim)
        Mean KL of each latent to the prior (nats), in the encoder's own latent order.
    mean_variance : ndarray, shape (E, latent_dim)
        ``Var_x(mu_i)``, the active-unit statistic.
    active : ndarray of bool, shape (E, latent_dim)
    collapsed : ndarray of bool, shape (E, latent_dim)
        The ``(epsilon, delta)``-collapsed latents.
    mutual_information : ndarray, shape (E,)
        ``I(x; z)`` estimates (nats), see `collapse_diagnostics()`.
    """

    epoch: np.ndarray
    kl_per_latent: np.ndarray
    mean_variance: np.ndarray
    active: np.ndarray
    collapsed: np.ndarray
    mutual_information: np.ndarray

    @property
    def active_units(self) -> np.ndarray:
        """Active units per epoch, int (E,)."""
        return np.count_nonzero(self.active, axis=1)

    @property
    def n_collapsed(self) -> np.ndarray:
        """``(epsilon, delta)``-collapsed latents per epoch, int (E,)."""
        return np.count_nonzero(self.collapsed, axis=1)

    @property
    def total_kl(self) -> np.ndarray:
        """The rate ``E_x KL(q(z|x) || p(z))`` per epoch (nats), (E,)."""
        return self.kl_per_latent.sum(axis=1)


def _to_numpy(value: Any) -> Any:
    """A torch tensor as a NumPy array (detached, on the CPU); anything else unchanged."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    return value


class CollapseMonitor:
    """Record KL per latent, active units, collapsed latents and ``I(x; z)`` every epoch, and hold
    them against the linear VAE's prediction at the same ``sigma2``.

    Call `update` with the encoder's outputs on a fixed evaluation set once per epoch (or
    `update_from` with the model), then read `history`, print the monitor (a table) or `plot` it.

    Parameters
    ----------
    cov : array_like, shape (d, d), optional
        Covariance (ddof=0) of the training data in the units the decoder sees, for the linear
        prediction. Give this or `data`, or neither for no prediction.
    sigma2 : float, optional
        The decoder's noise variance in your loss (see docs/sigma2.md). Give this or `beta` for the
        prediction.
    data : array_like, shape (n_samples, d), optional
        The training data instead of `cov` (its covariance is computed once).
    beta, reconstruction, kl_reduction
        A beta-VAE loss instead of `sigma2`, converted as in `compare_collapse()`.
    epsilon, delta, au_threshold : float, default 0.01
        Thresholds of `collapse_diagnostics()`.
    rng : numpy.random.Generator or int or None, default 0
        The Monte-Carlo draw of the ``I(x; z)`` estimate. An int seed gives every epoch the same
        draw of ``eps``, so changes from epoch to epoch are the encoder's, not the noise's.
    mi_max_samples : int, default 2 000
        As in `collapse_diagnostics()`.

    Attributes
    ----------
    diagnostics : list of CollapseDiagnostics
        One per update.
    prediction : CollapsePrediction or None
        The linear VAE's optimum at ``sigma2`` (after the first update, which fixes
        ``latent_dim``).

    Notes
    -----
    **PyTorch Lightning.** A callback that updates the monitor at the end of every training
    epoch (the module must have ``encode(x) -> (mu, logvar)``)::

        import lightning as L  # or: import pytorch_lightning as L

        class CollapseCallback(L.Callback):
            def __init__(self, monitor, data):
                self.monitor, self.data = monitor, data

            def on_train_epoch_end(self, trainer, pl_module):
                self.monitor.update_from(pl_module, self.data, epoch=trainer.current_epoch)

        monitor = CollapseMonitor(data=X, sigma2=0.1)
        trainer = L.Trainer(max_epochs=20, callbacks=[CollapseCallback(monitor, X_eval)])
        trainer.fit(model, train_loader)
        monitor.plot().savefig("collapse.png")

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability.deep import CollapseMonitor
    >>> rng = np.random.default_rng(0)
    >>> monitor = CollapseMonitor(np.diag([4.0, 1.0, 0.25]), sigma2=2.0)
    >>> for epoch, spread in enumerate([1.0, 0.5, 0.0]):    # latent 1 dies out over 3 epochs
    ...     mu = rng.normal(size=(500, 2)) * [1.0, spread]
    ...     logvar = np.log([[0.3, 1.0 - 0.9 * spread**2]])
    ...     monitor.update(mu, np.repeat(logvar, 500, axis=0), epoch=epoch)
    >>> monitor.history.active_units.tolist(), monitor.prediction.n_active
    ([2, 2, 1], 1)
    """

    def __init__(
        self,
        cov: Any = None,
        sigma2: float | None = None,
        *,
        data: Any = None,
        beta: float | None = None,
        reconstruction: str = "mse",
        kl_reduction: str = "sum",
        epsilon: float = 0.01,
        delta: float = 0.01,
        au_threshold: float = 0.01,
        rng: np.random.Generator | int | None = 0,
        mi_max_samples: int = MI_MAX_SAMPLES,
    ) -> None:
        if cov is not None and data is not None:
            raise ValueError("give `cov` or `data`, not both.")
        if data is not None:
            X = as_real_array(data, "data")
            if X.ndim != 2:
                raise ValueError(
                    f"`data` must be a 2-D (n_samples, n_features) array; got shape {X.shape}."
                )
            cov = covariance(X)
        self.cov = None if cov is None else check_cov(cov)
        if self.cov is not None and sigma2 is None and beta is None:
            raise ValueError(
                "give `sigma2` (or `beta`) with `cov`/`data`: the prediction is at the loss's "
                "sigma2."
            )
        if self.cov is None and (sigma2 is not None or beta is not None):
            raise ValueError(
                "give `cov` or `data` with `sigma2`/`beta`: the prediction needs the data's "
                "eigenvalues."
            )
        self._sigma2, self._beta = sigma2, beta
        self._reconstruction, self._kl_reduction = reconstruction, kl_reduction
        self._thresholds = dict(
            epsilon=check_threshold(epsilon, "epsilon"),
            delta=check_threshold(delta, "delta", upper=1.0),
            au_threshold=check_threshold(au_threshold, "au_threshold"),
        )
        # A Generator is kept (it advances); an int seed (or None) is passed again at every update.
        check_rng(rng)
        self._rng = rng
        self._mi_max_samples = check_positive_int(mi_max_samples, "mi_max_samples")
        self.diagnostics: list[CollapseDiagnostics] = []
        self.epochs: list[int] = []
        self.prediction: CollapsePrediction | None = None
        if self.cov is not None:
            # Now, so that a wrong sigma2 or beta fails before training starts.
            self._predict(self.cov, 1)

    def _predict(self, cov: np.ndarray, latent_dim: int) -> CollapsePrediction:
        return predict_collapse(
            cov,
            latent_dim=latent_dim,
            sigma2=self._sigma2,
            beta=self._beta,
            reconstruction=self._reconstruction,
            kl_reduction=self._kl_reduction,
        )

    # ------------------------------------------------------------------ recording

    def update(self, means: Any, log_variances: Any, *, epoch: int | None = None) -> None:
        """Record one epoch from the encoder's outputs on the evaluation data.

        Parameters
        ----------
        means, log_variances : array_like or torch.Tensor, shape (n_samples, latent_dim)
            As in `collapse_diagnostics()`; tensors are detached and moved to the CPU.
        epoch : int, optional
            Increasing epoch numbers; default one more than the last (0 first).
        """
        epoch = self._next_epoch(epoch)
        diag = collapse_diagnostics(
            _to_numpy(means),
            _to_numpy(log_variances),
            rng=self._rng,
            mi_max_samples=self._mi_max_samples,
            **self._thresholds,
        )
        if self.diagnostics and diag.latent_dim != self.latent_dim:
            raise ValueError(
                f"`means` has {diag.latent_dim} latents; earlier updates had {self.latent_dim}."
            )
        if self.cov is not None and self.prediction is None:
            if diag.latent_dim > self.cov.shape[0]:
                raise ValueError(
                    f"`means` has {diag.latent_dim} latents, more than the {self.cov.shape[0]} "
                    "features of `cov`; the linear theory has at most d latents."
                )
            self.prediction = self._predict(self.cov, diag.latent_dim)
        self.diagnostics.append(diag)
        self.epochs.append(epoch)

    def update_from(
        self, model: Any, data: Any, *, epoch: int | None = None, batch_size: int = ENCODE_BATCH
    ) -> None:
        """Run ``model.encode`` over `data` without gradients and `update` with its outputs.

        Parameters
        ----------
        model : torch.nn.Module
            With ``encode(x) -> (mu, log_variance)``. Put in eval mode for the pass and restored to
            its previous mode after.
        data : torch.Tensor, array_like or iterable of batches
            The evaluation inputs: one tensor or array (encoded `batch_size` rows at a time, cast
            to the model's dtype and device), or an iterable such as a ``DataLoader`` whose items
            are tensors or tuples whose first element is the input.
        epoch : int, optional
            As in `update`.
        batch_size : int, default 1024
        """
        import torch

        params = list(model.parameters()) if hasattr(model, "parameters") else []
        dtype = params[0].dtype if params else torch.get_default_dtype()
        device = params[0].device if params else torch.device("cpu")
        if isinstance(data, torch.Tensor) or isinstance(data, np.ndarray):
            X = torch.as_tensor(data)
            batches: Iterable[Any] = (X[s : s + batch_size] for s in range(0, len(X), batch_size))
        else:
            batches = data
        was_training = bool(getattr(model, "training", False))
        mus, logvars = [], []
        try:
            model.eval()
            with torch.no_grad():
                for batch in batches:
                    x = batch[0] if isinstance(batch, (tuple, list)) else batch
                    mu, logvar = model.encode(torch.as_tensor(x).to(device=device, dtype=dtype))
                    mus.append(mu.detach().cpu().double())
                    logvars.append(logvar.detach().cpu().double())
        finally:
            model.train(was_training)
        if not mus:
            raise ValueError("`data` gave no batches to encode.")
        self.update(torch.cat(mus), torch.cat(logvars), epoch=epoch)

    def _next_epoch(self, epoch: Any) -> int:
        if epoch is None:
            return self.epochs[-1] + 1 if self.epochs else 0
        if isinstance(epoch, (bool, np.bool_)) or not isinstance(epoch, numbers.Integral):
            raise TypeError(f"`epoch` must be an int or None; got {type(epoch).__name__}.")
        if self.epochs and int(epoch) <= self.epochs[-1]:
            raise ValueError(
                f"`epoch` must increase from update to update; got {int(epoch)} after "
                f"{self.epochs[-1]}."
            )
        return int(epoch)

    # ------------------------------------------------------------------ reading

    @property
    def latent_dim(self) -> int:
        if not self.diagnostics:
            raise ValueError("no update yet: the latent dimension is not known.")
        return self.diagnostics[0].latent_dim

    @property
    def history(self) -> MonitorHistory:
        """Everything recorded so far, as arrays with one row per epoch."""
        d = self.diagnostics
        q = d[0].latent_dim if d else 0
        collapsed = np.zeros((len(d), q), dtype=bool)
        for e, diag in enumerate(d):
            collapsed[e, list(diag.collapsed)] = True
        return MonitorHistory(
            epoch=np.array(self.epochs, dtype=np.int64),
            kl_per_latent=np.array([x.kl_per_latent for x in d]).reshape(len(d), q),
            mean_variance=np.array([x.mean_variance for x in d]).reshape(len(d), q),
            active=np.array([x.active for x in d], dtype=bool).reshape(len(d), q),
            collapsed=collapsed,
            mutual_information=np.array([x.mutual_information for x in d]),
        )

    @property
    def predicted_active_units(self) -> int | None:
        """Active units of the linear optimum under the same threshold (``1 - sigma2 / lam_c >
        au_threshold``), None without a prediction."""
        cmp = self.comparison
        return None if cmp is None else cmp.predicted_active_units

    @property
    def comparison(self) -> CollapseComparison | None:
        """`compare_collapse()` of the latest epoch with the linear prediction (None before the
        first update or without a prediction)."""
        if self.cov is None or not self.diagnostics:
            return None
        return compare_collapse(
            self.diagnostics[-1],
            self.cov,
            self._sigma2,
            beta=self._beta,
            reconstruction=self._reconstruction,
            kl_reduction=self._kl_reduction,
        )

    def __repr__(self) -> str:
        n = len(self.diagnostics)
        head = f"CollapseMonitor(epochs={n}"
        pred = self.prediction
        if n:
            head += f", latent_dim={self.latent_dim}, n_samples={self.diagnostics[-1].n_samples}"
        if pred is not None:
            src = f", beta={pred.beta:g}" if pred.beta is not None else ""
            head += f", sigma2={pred.sigma2:.6g}{src}"
        elif self._beta is not None:
            head += f", beta={self._beta:g}"
        elif self._sigma2 is not None:
            head += f", sigma2={self._sigma2:.6g}"
        rows = [head + ")"]
        if not n:
            return rows[0]
        h = self.history
        rows.append(
            f"  {'epoch':>6} {'active':>6} {'collapsed':>9} {'total KL':>9} {'I(x;z)':>8}  "
            "KL per latent, largest first [nats]"
        )
        shown = list(range(n))
        if n > REPR_EPOCHS:
            shown = shown[: REPR_EPOCHS // 2] + [-1] + shown[n - REPR_EPOCHS // 2 :]
        for e in shown:
            if e < 0:
                rows.append(f"  {'...':>6}")
                continue
            kl = np.sort(h.kl_per_latent[e])[::-1]
            top = " ".join(f"{v:.3g}" for v in kl[:6]) + (" ..." if kl.size > 6 else "")
            rows.append(
                f"  {h.epoch[e]:>6} {h.active_units[e]:>6} {h.n_collapsed[e]:>9} "
                f"{h.total_kl[e]:>9.4g} {h.mutual_information[e]:>8.4g}  {top}"
            )
        if pred is not None:
            kl = pred.kl_per_latent
            top = " ".join(f"{v:.3g}" for v in kl[:6]) + (" ..." if kl.size > 6 else "")
            rows.append(
                f"  {'linear':>6} {self.predicted_active_units:>6} "
                f"{int(np.count_nonzero(pred.collapsed)):>9} {float(np.sum(kl)):>9.4g} "
                f"{float(np.sum(kl)):>8.4g}  {top}"
            )
            rows.append(
                "  (linear: the linear VAE's optimum at this sigma2, whose aggregate posterior is "
                "the prior, so I(x;z) = total KL; measured I(x;z) is at most "
                f"log {self.diagnostics[-1].mi_samples} = "
                f"{math.log(self.diagnostics[-1].mi_samples):.3g})"
            )
        return "\n".join(rows)

    def plot(self, ax: Any = None) -> Any:
        """KL per latent, active and collapsed units, and ``I(x; z)`` against the epoch, with the
        linear prediction as reference lines.

        Parameters
        ----------
        ax : sequence of three matplotlib Axes, optional
            Where to draw; a new figure with three panels by default.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .._plotting.monitor import plot_collapse_monitor

        return plot_collapse_monitor(self, ax=ax)
