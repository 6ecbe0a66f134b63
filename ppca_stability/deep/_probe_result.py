"""`LandscapeProbe`: what `landscape_probe` found about a deep VAE's ELBO at one point, with
the linear prediction beside it (its table `repr`, its figure)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._base.tolerance import DEFAULT_RTOL, eigen_floor, n_above
from .._vae.beta import CollapsePrediction
from .._vae.diagnostics import CollapseDiagnostics
from ._torch import torch

__all__ = ["LandscapeProbe"]

# A curvature is an ascent direction when it and its mean over the independent batches exceed
# MC_SIGMAS standard errors plus the numerical band (rtol * scale); see `thresholds`.
MC_SIGMAS = 3.0
# Rows of the curvature and latent tables shown by repr.
REPR_ROWS = 12


@dataclass(frozen=True, eq=False, slots=True)
class LandscapeProbe:
    """The top of the Hessian spectrum of a deep Gaussian VAE's ELBO at its weights.

    Build it with `landscape_probe()`. The ELBO is maximised, so a positive curvature is an
    ascent direction: at a maximum there is none; at a saddle (for instance a collapsed latent
    that could still be revived) there are some.

    Attributes
    ----------
    parameters : ndarray, shape (n_parameters,)
        ``theta0``: the model's trainable parameters, flattened in ``model.named_parameters()``
        order, with ``log sigma2`` last when ``sigma2`` is learned.
    parameter_names : tuple of str
        The parameter tensors in ``theta`` order (``"log_sigma2"`` last when learned).
    objective : callable
        ``objective(theta)``: the mean-per-sample Monte-Carlo ELBO (nats) at a flat float64 torch
        tensor ``theta``, with the probe's fixed noise. ``torch.autograd.functional.hessian(
        objective, torch.as_tensor(parameters))`` is the Hessian whose top eigenvalues are
        `curvatures`.
    value : float
        ``objective(theta0)``.
    gradient_norm : float
        Euclidean norm of the objective's gradient at ``theta0``: the curvatures describe a
        stationary point only when this is small.
    curvatures : ndarray, shape (n_eigen,)
        The ``n_eigen`` largest eigenvalues of that Hessian, descending.
    directions : ndarray, shape (n_eigen, n_parameters)
        Unit eigenvectors, row ``i`` for ``curvatures[i]``; sign fixed so that the largest entry is
        positive.
    residuals : ndarray, shape (n_eigen,)
        ``||H v_i - curvature_i v_i||``, which bounds each curvature's eigensolver error.
    batch_curvatures : ndarray, shape (n_batches, n_eigen)
        Rayleigh quotients ``v_i^T H_b v_i`` of the found directions under independent noise
        draws ``b`` (same samples, same ``n_noise``).
    latent_second_derivatives : ndarray, shape (n_eigen, latent_dim)
        ``d^2/dt^2 KL_c(theta0 + t v_i)``: how fast direction ``i`` moves latent ``c``'s mean KL
        (over the probe samples) away from where it is.
    diagnostics : CollapseDiagnostics
        Of the encoder at ``theta0`` on the probe samples.
    linear : CollapsePrediction
        `predict_collapse()` on the probe samples' covariance at the same ``sigma2``.
    eigenvalues : ndarray, shape (n_features,)
        Eigenvalues of the probe samples' covariance (ddof=0), descending.
    sigma2 : float
        Decoder noise variance at ``theta0``.
    sigma2_learned : bool
    n_noise : int
    noise : str
        ``"iid"`` or ``"matched"`` (see the module notes).
    band : float
        The numerical zero band: ``rtol`` times the Hessian's scale.
    method : str
        ``"dense"`` or ``"lanczos"``.
    n_products : int
        Hessian-vector products used (the dense route counts ``n_parameters``).
    seconds : float
        Wall time of the probe.
    """

    parameters: np.ndarray
    parameter_names: tuple[str, ...]
    objective: Callable[[torch.Tensor], torch.Tensor]
    value: float
    gradient_norm: float
    curvatures: np.ndarray
    directions: np.ndarray
    residuals: np.ndarray
    batch_curvatures: np.ndarray
    latent_second_derivatives: np.ndarray
    diagnostics: CollapseDiagnostics
    linear: CollapsePrediction
    eigenvalues: np.ndarray
    sigma2: float
    sigma2_learned: bool
    n_noise: int
    noise: str
    band: float
    method: str
    n_products: int
    seconds: float

    # ----------------------------------------------------------------- sizes
    @property
    def n_parameters(self) -> int:
        return int(self.parameters.size)

    @property
    def n_eigen(self) -> int:
        return int(self.curvatures.size)

    @property
    def n_batches(self) -> int:
        return int(self.batch_curvatures.shape[0])

    @property
    def latent_dim(self) -> int:
        return self.diagnostics.latent_dim

    @property
    def n_samples(self) -> int:
        return self.diagnostics.n_samples

    # ----------------------------------------------------------------- Monte-Carlo error
    @property
    def curvature_mean(self) -> np.ndarray:
        """Mean of `batch_curvatures` over the independent batches: each found direction's
        curvature without the selection bias of the eigensolver's own noise."""
        return self.batch_curvatures.mean(axis=0)

    @property
    def curvature_sd(self) -> np.ndarray:
        """Standard deviation (ddof=1) of `batch_curvatures`: the Monte-Carlo error of one
        curvature estimated with one noise draw set, such as `curvatures`."""
        return self.batch_curvatures.std(axis=0, ddof=1)

    @property
    def curvature_se(self) -> np.ndarray:
        """Standard error of `curvature_mean`: ``curvature_sd / sqrt(n_batches)``."""
        return self.curvature_sd / math.sqrt(self.n_batches)

    @property
    def thresholds(self) -> np.ndarray:
        """What a curvature must exceed for its direction to count as an ascent direction:
        ``MC_SIGMAS`` standard errors plus `band`.

        The eigensolver's residual is not part of it. A curvature is the Rayleigh quotient
        ``v^T H v`` of its (unit) direction, which is the objective's second derivative along
        ``v`` however far ``v`` is from an eigenvector; and the directions are orthonormal with
        ``V^T H V`` diagonal (Rayleigh-Ritz), so ``k`` positive curvatures give ``H`` at least
        ``k`` positive eigenvalues (Courant-Fischer). The residual bounds how far a curvature is
        from an eigenvalue of ``H``: it enters where a claim needs the eigenvalues themselves,
        that nothing among the top ``n_eigen`` is positive (`flat`)."""
        return MC_SIGMAS * self.curvature_se + self.band

    @property
    def ascent(self) -> np.ndarray:
        """Boolean mask over the computed directions: positive beyond Monte-Carlo and numerical
        error (both the probe's own curvature and the independent batches' mean)."""
        t = self.thresholds
        return (self.curvature_mean > t) & (self.curvatures > t)

    @property
    def flat(self) -> np.ndarray:
        """Computed directions that are neither ascent nor clearly descent: within error of 0,
        the error being the threshold plus the eigensolver residual (an eigenvalue of ``H``
        within the residual of a negative curvature may be positive)."""
        t = MC_SIGMAS * self.curvature_se + np.maximum(self.residuals, self.band)
        return ~self.ascent & (np.maximum(self.curvature_mean, self.curvatures) >= -t)

    @property
    def n_ascent(self) -> int:
        """Computed curvatures positive beyond their Monte-Carlo error: ascent directions."""
        return int(np.count_nonzero(self.ascent))

    @property
    def stability(self) -> str:
        """The verdict, limited to what was computed (the top ``n_eigen`` curvatures)."""
        k, n = self.n_ascent, self.n_eigen
        if k:
            many = " (all computed; there may be more)" if k == n else ""
            head = (
                f"SADDLE: {k} ascent direction{'s' if k > 1 else ''} among the top {n} curvatures"
            )
            return head + many
        n_flat = int(np.count_nonzero(self.flat))
        if n_flat:
            return (
                f"UNDECIDED: no curvature positive beyond its error among the top {n}, but "
                f"{n_flat} within error of 0 (flat, or more noise draws needed)"
            )
        return (
            f"no ascent direction among the top {n} curvatures (a maximum to that extent; the "
            "rest of the spectrum was not computed)"
        )

    # ----------------------------------------------------------------- latents
    @property
    def latent_attribution(self) -> np.ndarray:
        """``(n_eigen, latent_dim)``: `latent_second_derivatives` divided, row by row, by its sum
        of absolute values (0 where the direction leaves every KL unchanged). A large positive
        entry ``[i, c]``: moving along direction ``i`` (either way) raises latent ``c``'s KL,
        i.e. direction ``i`` revives latent ``c``."""
        d2 = self.latent_second_derivatives
        total = np.abs(d2).sum(axis=1, keepdims=True)
        return np.divide(d2, total, out=np.zeros_like(d2), where=total > 0)

    @property
    def revived_latent(self) -> np.ndarray:
        """For each direction, the latent whose KL it raises most (-1 if it raises none)."""
        a = self.latent_attribution
        best = np.argmax(a, axis=1)
        return np.where(a[np.arange(a.shape[0]), best] > 0, best, -1)

    @property
    def active_latents(self) -> int:
        """Active units of the encoder at ``theta0`` (`CollapseDiagnostics.active_units`)."""
        return self.diagnostics.active_units

    @property
    def n_above_sigma2(self) -> int:
        """``m(sigma2)``: eigenvalues of the covariance above ``sigma2`` (package tie rule)."""
        lam = self.eigenvalues
        return n_above(lam, self.sigma2, DEFAULT_RTOL, eigen_floor(lam))

    @property
    def linear_morse_index(self) -> int | None:
        """Ascent directions the linear theory gives a point with the deep model's number ``k``
        of active latents on the top ``k`` eigen-directions: ``(q - k)(m - k)``, theory.md §3 (the
        linear VAE's ELBO has the pPCA index, docs/theory.md "the linear VAE's own landscape" 5).
        None when ``k > m`` (no such stationary point)."""
        k, m, q = self.active_latents, self.n_above_sigma2, self.latent_dim
        return (q - k) * (m - k) if k <= m else None

    @property
    def linear_escape_curvatures(self) -> np.ndarray:
        """``(lam_r - sigma2) / sigma2^2`` for the top ``latent_dim`` eigenvalues (NaN where
        ``lam_r <= sigma2``): the linear theory's curvature of the profile likelihood along a
        dead column turning towards eigen-direction ``r`` (theory.md §3, "dead column x excluded
        j"), in the raw data's units per unit of decoder weight."""
        lam = self.eigenvalues[: self.latent_dim]
        s = self.sigma2
        out = np.full(lam.size, np.nan)
        m = min(self.n_above_sigma2, lam.size)
        out[:m] = (lam[:m] / s - 1.0) / s
        return out

    # ----------------------------------------------------------------- display
    def __repr__(self) -> str:
        how = "learned" if self.sigma2_learned else "fixed"
        rows = [
            f"LandscapeProbe(n_parameters={self.n_parameters}, latent_dim={self.latent_dim}, "
            f"n_samples={self.n_samples}, n_noise={self.n_noise} ({self.noise}), "
            f"n_batches={self.n_batches}, method={self.method})",
            f"  ELBO          {self.value:.8g} nats per sample (fixed noise)",
            f"  gradient norm {self.gradient_norm:.3g}",
            f"  sigma2        {self.sigma2:.6g} ({how})",
            f"  verdict       {self.stability}",
            f"  {'rank':>4} {'curvature':>11} {'fresh noise':>11} {'± se':>9} {'residual':>9}  "
            f"{'':6} raises the KL of",
        ]
        att, rev = self.latent_attribution, self.revived_latent
        for i in range(min(self.n_eigen, REPR_ROWS)):
            kind = "ascent" if self.ascent[i] else ("flat" if self.flat[i] else "")
            who = f"latent {rev[i]} ({att[i, rev[i]]:.2f})" if rev[i] >= 0 else "-"
            rows.append(
                f"  {i + 1:>4} {self.curvatures[i]:>11.4g} {self.curvature_mean[i]:>11.4g} "
                f"{self.curvature_se[i]:>9.2g} {self.residuals[i]:>9.2g}  {kind:6} {who}"
            )
        if self.n_eigen > REPR_ROWS:
            rows.append(f"  ... {self.n_eigen - REPR_ROWS} more")
        lin, morse = self.linear, self.linear_morse_index
        k, m, q = self.active_latents, self.n_above_sigma2, self.latent_dim
        if morse is None:
            point = f"no linear stationary point has the deep model's {k} active latents (m = {m})"
        else:
            point = (
                f"a point with the deep model's {k} active latents on the top eigen-directions has "
                f"(q-k)(m-k) = {morse} ascent directions (m = {m} eigenvalues > sigma2)"
            )
        rows += [
            f"  linear VAE    optimum keeps {lin.n_active} of {q} latents; {point}",
            f"  {'rank':>4} {'latent':>6} {'KL':>8} {'deep':>9} | {'lam_r':>9} {'linear':>9} "
            f"{'escape':>9}  revived by",
        ]
        order = np.argsort(-self.diagnostics.kl_per_latent, kind="stable")
        esc = self.linear_escape_curvatures
        collapsed = set(self.diagnostics.collapsed)
        for r in range(min(q, REPR_ROWS)):
            c = int(order[r])
            dead = c in collapsed
            by = [str(i + 1) for i in np.flatnonzero(self.ascent & (rev == c))]
            lam_r = self.eigenvalues[r] if r < self.eigenvalues.size else float("nan")
            lin_state = "collapsed" if r >= lin.n_active else "live"
            escape = f"{esc[r]:.4g}" if dead and np.isfinite(esc[r]) else "-"
            rows.append(
                f"  {r + 1:>4} {c:>6} {self.diagnostics.kl_per_latent[c]:>8.4f} "
                f"{'collapsed' if dead else 'live':>9} | {lam_r:>9.4g} {lin_state:>9} "
                f"{escape:>9}  " + (", ".join(by) if by else "-")
            )
        if self.latent_dim > REPR_ROWS:
            rows.append(f"  ... {self.latent_dim - REPR_ROWS} more")
        return "\n".join(rows)

    def plot(self, ax: Any = None) -> Any:
        """Curvatures with their Monte-Carlo error, which latent each direction revives, and the
        deep KL per latent beside the linear prediction.

        Parameters
        ----------
        ax : sequence of three matplotlib Axes, optional
            Where to draw; a new figure with three panels by default.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .._plotting.probe import plot_landscape_probe

        return plot_landscape_probe(self, ax=ax)
