"""Training a linear VAE by gradient ascent on its ELBO (theory.md §6).

The ELBO, its gradients and the optimal encoder are in `_elbo.objective`; this module holds
the trainer `fit_linear_vae()` and its results. Why the default trainer is fast is explained in the
Notes of `fit_linear_vae()`.
"""

from __future__ import annotations

# Kept whole: the configuration, the two optimisers (full-batch L-BFGS-like ascent and stochastic
# Adam), the rotation projection and the result share one private problem object (`_Problem`) and
# its scaled coordinates; splitting them would export that object to every piece.
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from .._base import persist
from .._base.frames import data_frame
from .._base.html import render, repr_facts
from .._base.threads import blas_threads
from .._base.validation import (
    check_choice,
    check_latent_dim,
    check_positive_float,
    check_positive_int,
    check_rng,
    check_sigma2,
)
from .._elbo.objective import LinearVAEParams, elbo_terms, resolve_cov, stochastic_elbo
from .._ppca.mle import kl_at_optimum, mle_from_spectrum
from .._spectra.covariance import sample_moments
from .._spectra.spectrum import eigh_descending
from ..exceptions import ConvergenceWarning

__all__ = ["LinearVAEFit", "TrainingHistory", "fit_linear_vae"]

# A fit's history keeps every step up to this many rows, then every k-th (k doubling): about
# 8 (q + 2) bytes a row, so at most ~1 MB for q = 10 whatever max_steps is.
MAX_HISTORY_ROWS = 10_000

# A trained latent is "switched off" when its data-averaged KL (nats) is at most this: it carries
# (almost) no information. Not "collapsed", which is the (epsilon, delta)-collapse of
# `collapse_diagnostics` (docs/sigma2.md, Glossary).
SWITCHED_OFF_KL = 1e-3
# L-BFGS: number of stored gradient-difference pairs, Armijo constant, smallest step tried.
LBFGS_MEMORY = 30
ARMIJO_C1 = 1e-4
MIN_STEP = 1e-12
# Objective changes this small, relative to the largest term summed into the ELBO, are round-off:
# the line search treats them as ties.
ROUNDOFF_RTOL = 64 * np.finfo(np.float64).eps
# Adam's moment decay rates and denominator guard (Kingma & Ba's defaults).
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
# The stochastic schedule decays the learning rate exponentially to this fraction of `lr`, and the
# result is the average of the iterates over this final fraction of the steps (Polyak-Ruppert).
FINAL_LR_FRACTION = 1e-4
TAIL_AVERAGE = 0.5
# Scale of the random start (in the scale-free units of `fit_linear_vae`'s Notes).
INIT_SCALE = 0.1

# Defaults per (objective, optimizer): learning rate, step budget, stationarity tolerance.
_DEFAULT_LR = {
    ("analytic", "adam"): 1e-3,
    ("analytic", "gd"): 1e-2,
    ("stochastic", "adam"): 1e-1,
    ("stochastic", "gd"): 1e-2,
}
_DEFAULT_MAX_STEPS = {"lbfgs": 5_000, "adam": 100_000, "gd": 100_000}
_DEFAULT_STOCHASTIC_STEPS = 80_000
_DEFAULT_TOL = {"analytic": 1e-10, "stochastic": 1e-1}
_DEFAULT_BATCH_SIZE = 128
# BLAS threads in fit_linear_vae (after the data's covariance) and compare_with_ppca (None: the
# library's default). Every training step is a few (d, d) x (d, q) products, too small to share
# well: on 2 busy cores the default threads spin and wait for each other. Measured on a 784-d
# (2000-d) power-law spectrum, q = 32 (64), sigma2 learned, 2 cores shared with other work: default
# threads 8.7 s wall / 8.9 s CPU (62 s / 70 s; 196 s / 117 s in a second run) against one thread
# 0.8 s / 0.9 s (17 s / 11 s); compare_with_ppca of the d = 784, q = 32 fit with its
# classification 1.2-2.6 s (8.7 s once) against 0.34 s. The benchmark
# (benchmarks/bench_linear_vae.py) measures both settings of the trainer.
TRAINING_BLAS_THREADS: int | None = 1


def limit_blas_threads() -> Any:
    """A context in which BLAS uses `TRAINING_BLAS_THREADS` threads (threadpoolctl)."""
    return blas_threads(TRAINING_BLAS_THREADS)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False, slots=True)
class TrainingHistory:
    """Record of a fit: closed-form (full-data) ELBO, KL per latent and ``sigma2`` by step.

    Every step is recorded up to `MAX_HISTORY_ROWS` rows; a longer fit keeps every k-th step
    (k a power of two, doubled whenever the rows would exceed the cap) and always its last, so
    memory stays bounded whatever ``max_steps`` is.

    Attributes
    ----------
    elbo : ndarray, shape (n_rows,)
        Row 0 is the random start (step 0).
    kl : ndarray, shape (n_rows, q)
    sigma2 : ndarray, shape (n_rows,)
    averaged_from : int or None
        First step whose row records the running average of the iterates (Polyak-Ruppert, the
        stochastic objective) instead of the iterate itself; None when nothing is averaged.
    steps : ndarray of int, shape (n_rows,)
        The step each row records (``0, 1, 2, ...`` unless the fit was longer than the cap).
    """

    elbo: np.ndarray
    kl: np.ndarray
    sigma2: np.ndarray
    averaged_from: int | None = None
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if self.steps.size != self.elbo.size:  # one row per step (the deep VAE's epochs)
            object.__setattr__(self, "steps", np.arange(self.elbo.size))

    def __repr__(self) -> str:
        first, last = self.elbo[0], self.elbo[-1]
        strided = "" if self.steps.size == int(self.steps[-1]) + 1 else f", {self.steps.size} rows"
        return (
            f"TrainingHistory(n_steps={int(self.steps[-1])}{strided}, "
            f"elbo {first:.6g} -> {last:.6g})"
        )


class _Recorder:
    """Rows of a `TrainingHistory`, every `stride`-th step, at most `MAX_HISTORY_ROWS` of them
    (plus the last step)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.stride = limit, 1
        self.steps: list[int] = []
        self.rows: list[tuple[float, np.ndarray, float]] = []
        self.last: tuple[int, tuple[float, np.ndarray, float]] | None = None

    def add(self, step: int, elbo: float, kl: np.ndarray, s: float) -> None:
        row = (elbo, kl, s)
        self.last = (step, row)
        if step % self.stride:
            return
        self.steps.append(step)
        self.rows.append(row)
        if len(self.rows) > self.limit:
            self.stride *= 2
            keep = [i for i, t in enumerate(self.steps) if t % self.stride == 0]
            self.steps = [self.steps[i] for i in keep]
            self.rows = [self.rows[i] for i in keep]

    def history(self, averaged_from: int | None) -> TrainingHistory:
        steps, rows = list(self.steps), list(self.rows)
        if self.last is not None and self.last[0] != steps[-1]:
            steps.append(self.last[0])
            rows.append(self.last[1])
        return TrainingHistory(
            np.array([r[0] for r in rows]),
            np.array([r[1] for r in rows]),
            np.array([r[2] for r in rows]),
            averaged_from=averaged_from,
            steps=np.array(steps, dtype=np.int64),
        )


@dataclass(frozen=True, eq=False, slots=True)
class LinearVAEFit:
    """A trained linear VAE (see `fit_linear_vae()`).

    Attributes
    ----------
    loadings : ndarray, shape (d, q)
        Decoder ``W``.
    encoder_weights : ndarray, shape (q, d)
        ``V``.
    encoder_variances : ndarray, shape (q,)
        ``D``.
    sigma2 : float
    sigma2_learned : bool
    elbo : float
        Closed-form data-averaged ELBO at the end.
    elbo_optimum : float
        Its analytic maximum: the pPCA maximum log-likelihood (theory.md §6).
    kl_optimum : ndarray, shape (q,)
        Predicted KL per latent at the optimum, ``1/2 log max(1, lam_c / sigma2)``, descending.
    history : TrainingHistory
    converged : bool
        Analytic objective: the ELBO gradient fell below ``tol`` (stationary to ``tol``).
        Stochastic objective: after the whole learning-rate schedule, the full-data gradient at
        the averaged iterate is below ``tol`` (1e-1 by default): a stopping rule at the
        Monte-Carlo noise level, not stationarity; the fit is near, not at, a stationary point
        (``message`` says which).
    n_iter : int
    message : str
    objective, optimizer : str
    cov : ndarray, shape (d, d)
        The covariance (ddof=0) the fit was trained on (the covariance of `data` when it was
        given): `compare_with_ppca` uses it by default.
    """

    loadings: np.ndarray
    encoder_weights: np.ndarray
    encoder_variances: np.ndarray
    sigma2: float
    sigma2_learned: bool
    elbo: float
    elbo_optimum: float
    kl_optimum: np.ndarray
    history: TrainingHistory
    converged: bool
    n_iter: int
    message: str
    objective: str
    optimizer: str
    cov: np.ndarray

    @property
    def latent_dim(self) -> int:
        return int(self.loadings.shape[1])

    @property
    def params(self) -> LinearVAEParams:
        return LinearVAEParams(self.encoder_weights, np.log(self.encoder_variances), self.loadings)

    @property
    def kl_per_latent(self) -> np.ndarray:
        """Data-averaged KL of each latent at the end (nats)."""
        return self.history.kl[-1]

    @property
    def switched_off(self) -> tuple[int, ...]:
        """Indices of the latents whose data-averaged KL is at most ``SWITCHED_OFF_KL`` = 1e-3
        nats: they carry (almost) no information ("switched off" in the glossary of
        docs/sigma2.md)."""
        return tuple(int(c) for c in np.flatnonzero(self.kl_per_latent <= SWITCHED_OFF_KL))

    @property
    def collapsed(self) -> tuple[int, ...]:
        """Deprecated: `switched_off` (KL at most 1e-3 nats). "Collapsed" now means the
        (epsilon, delta)-collapse of `collapse_diagnostics` only."""
        warnings.warn(
            "LinearVAEFit.collapsed is deprecated: use LinearVAEFit.switched_off (the latents "
            "whose KL is at most 1e-3 nats); 'collapsed' now means (epsilon, delta)-collapse.",
            FutureWarning,
            stacklevel=2,
        )
        return self.switched_off

    def __repr__(self) -> str:
        how = "learned" if self.sigma2_learned else "fixed"
        kl = ", ".join(f"{k:.3g}" for k in np.sort(self.kl_per_latent)[::-1])
        off = len(self.switched_off)
        smallest = float(self.kl_per_latent.min())
        return "\n".join(
            [
                f"LinearVAEFit({self.objective} ELBO, {self.optimizer}, "
                f"n_features={self.loadings.shape[0]}, latent_dim={self.latent_dim})",
                f"  elbo          {self.elbo:.10g}  (optimum {self.elbo_optimum:.10g}, "
                f"gap {self.elbo_optimum - self.elbo:.3g})",
                f"  sigma2        {self.sigma2:.6g} ({how})",
                f"  KL per latent [{kl}]",
                f"  switched off  {off} of {self.latent_dim} (KL <= {SWITCHED_OFF_KL:g} nats"
                + ("" if off else f"; smallest KL {smallest:.3g}")
                + ")",
                f"  steps         {self.n_iter}: {self.message}",
            ]
        )

    def plot(self, ax: Any = None) -> Any:
        """Training curves: ELBO shortfall from its analytic optimum, and KL per latent.

        Parameters
        ----------
        ax : sequence of two matplotlib Axes, optional
            Where to draw; a new figure with two panels by default.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .._plotting.training import plot_linear_vae_fit

        return plot_linear_vae_fit(self, ax)

    # ------------------------------------------------------------------ keeping and showing
    # JSON text and a file that `ppca_stability.load` reads back (docs/saving.md).
    to_json = persist.to_json
    save = persist.save

    def to_frame(self) -> Any:
        """The training history, one row per step (row 0: the start): ``elbo``, ``sigma2`` and
        the KL of each latent (``kl_0`` ...). Needs pandas (the ``pandas`` extra)."""
        h = self.history
        columns: dict[str, Any] = {"elbo": h.elbo, "sigma2": h.sigma2}
        columns.update({f"kl_{c}": h.kl[:, c] for c in range(h.kl.shape[1])})
        return data_frame(columns, "LinearVAEFit.to_frame()", index_name="step")

    def _repr_html_(self) -> str:
        lines = repr(self).splitlines()
        return render(lines[0], repr_facts(lines[1:]))


# --------------------------------------------------------------------------- training problem


@dataclass(frozen=True, eq=False, slots=True)
class _Evaluation:
    x: np.ndarray
    V: np.ndarray
    logD: np.ndarray
    W: np.ndarray
    s: float
    elbo: float
    kl: np.ndarray
    grad: np.ndarray  # of the ELBO in the optimiser's coordinates
    roundoff: float  # the ELBO's absolute round-off
    measure: float  # largest ELBO-gradient entry in the documented scale-free coordinates


class _Problem:
    """The optimiser's coordinates and the ELBO in them (`fit_linear_vae`, Notes).

    ``x = [V_hat, log D, W_hat, t]`` with ``V = V_hat / sqrt(c)``, ``W = sqrt(c) W_hat``,
    ``s = c exp(t / t_scale)``, ``c = tr S / d``; ``V_hat`` and ``log D`` are absent when the
    encoder is the closed form, ``t`` when ``sigma2`` is fixed. With the closed-form encoder the
    ELBO is evaluated at the decoder with orthogonalised columns ``W R`` (``R`` from the thin SVD
    of ``W``) and ``t_scale = sqrt(d / 2)``; otherwise ``t_scale = 1``.
    """

    def __init__(
        self,
        S: np.ndarray,
        q: int,
        sigma2: float | str,
        closed_form: bool,
        X: np.ndarray | None,
        mean: np.ndarray | None = None,
    ) -> None:
        d = S.shape[0]
        self.S, self.trS, self.q, self.X, self.mean = S, float(np.trace(S)), q, X, mean
        self.c = self.trS / d
        self.root_c = math.sqrt(self.c)
        self.learned = sigma2 == "learned"
        self.s_fixed = None if self.learned else float(sigma2)
        self.closed_form = closed_form
        # The curvature of the ELBO in log s is about (d - q) / 2 (one 1/2 per discarded
        # direction), against O(1) for the decoder entries: rescaling log s by sqrt(d / 2) balances
        # the two blocks, which L-BFGS's single initial step length cannot do.
        self.t_scale = math.sqrt(d / 2.0) if closed_form else 1.0
        self.n_encoder = 0 if closed_form else q * d + q
        self._cache: _Evaluation | None = None

    def initial(self, rng: np.random.Generator) -> np.ndarray:
        """A small random start (and ``s = tr S / d`` when learned)."""
        d, q = self.S.shape[0], self.q
        parts = (
            []
            if self.closed_form
            else [INIT_SCALE * rng.standard_normal(q * d) / math.sqrt(d), np.zeros(q)]
        )
        parts.append(INIT_SCALE * rng.standard_normal(d * q))
        if self.learned:
            parts.append(np.zeros(1))
        return np.concatenate(parts)

    def unpack(
        self, x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray | None]:
        """``(V, log D, W, s)`` where the ELBO is evaluated, and the rotation ``R^T`` applied to
        ``W`` (None without the closed-form encoder)."""
        d, q = self.S.shape[0], self.q
        s = self.c * math.exp(x[-1] / self.t_scale) if self.learned else cast(float, self.s_fixed)
        W = self.w_unit(s) * x[self.n_encoder : self.n_encoder + d * q].reshape(d, q)
        if not self.closed_form:
            return x[: q * d].reshape(q, d) / self.root_c, x[q * d : self.n_encoder], W, s, None
        # Variable projection over the column rotation: the likelihood is invariant under
        # W -> W R and the ELBO's gap 1/2 log(prod M_cc / det M) >= 0 vanishes when W^T W is
        # diagonal, so max_R ELBO(W R) is attained at the right singular vectors, W R = P diag(w),
        # and equals the log-likelihood of W. This removes the rotation modes, whose curvature
        # (lam_i - lam_j)^2 / (lam_i lam_j) is what made close eigenvalues slow. The optimal encoder
        # of P diag(w) is V* = diag(w / (w^2 + s)) P^T, D* = s / (w^2 + s) (`_elbo` module).
        P, w, Rt = np.linalg.svd(W, full_matrices=False)
        V = (w / (w * w + s))[:, None] * P.T
        return V, np.log(s / (w * w + s)), P * w, s, Rt

    def pack_gradient(
        self,
        grads: tuple[np.ndarray, np.ndarray, np.ndarray, float],
        s: float,
        W: np.ndarray,
        Rt: np.ndarray | None = None,
    ) -> np.ndarray:
        """The ELBO gradient in ``x``. With the rotation, ``d ELBO(W R) / dW = G R^T`` where ``G``
        is the gradient at ``W R``: the gap's gradient vanishes at orthogonal columns and the
        likelihood's is rotation-equivariant."""
        gV, glogD, gW, gs = grads
        parts = [] if self.closed_form else [gV.ravel() / self.root_c, glogD]
        parts.append(self.w_unit(s) * (gW if Rt is None else gW @ Rt).ravel())
        if self.learned:
            g_t = s * gs
            if self.closed_form:  # W = sqrt(s) W_hat moves with t: d W / d log s = W / 2
                g_t += 0.5 * float(np.sum(W * gW))
            parts.append(np.array([g_t / self.t_scale]))
        return np.concatenate(parts)

    def w_unit(self, s: float) -> float:
        """The unit of ``W_hat``: ``sqrt(s)`` with the closed-form encoder, else ``sqrt(c)``."""
        return math.sqrt(s) if self.closed_form else self.root_c

    def evaluate(self, x: np.ndarray) -> _Evaluation:
        """Closed-form ELBO and its gradient at ``x`` (one-entry cache: optimisers re-ask)."""
        if self._cache is not None and np.array_equal(self._cache.x, x):
            return self._cache
        V, logD, W, s, Rt = self.unpack(x)
        elbo, kl, grads = elbo_terms(V, logD, W, self.S, s, self.trS)
        grad = self.pack_gradient(grads, s, W, Rt)
        measure = float(np.max(np.abs(grad[:-1] if self.learned else grad)))
        if self.learned:  # measured in log s, whatever the optimiser's scaling of it
            measure = max(measure, abs(float(grad[-1])) * self.t_scale)
        # The reconstruction error is tr S minus terms of its size, over 2 s: when s << tr S it
        # carries the round-off of tr S / (2 s), which can exceed that of the ELBO's value.
        roundoff = ROUNDOFF_RTOL * max(abs(elbo), self.trS / (2.0 * s), 1.0)
        self._cache = _Evaluation(x.copy(), V, logD, W, s, elbo, kl, grad, roundoff, measure)
        return self._cache

    def loss(self, x: np.ndarray) -> tuple[float, np.ndarray, float]:
        """``-ELBO``, its gradient (optimisers minimise) and its round-off."""
        ev = self.evaluate(x)
        return -ev.elbo, -ev.grad, ev.roundoff

    def stochastic_loss(
        self, x: np.ndarray, rng: np.random.Generator, batch_size: int
    ) -> tuple[float, np.ndarray]:
        """Minus a reparameterised one-sample ELBO estimate on a random minibatch, and its
        gradient."""
        V, logD, W, s, _ = self.unpack(x)
        X = cast(np.ndarray, self.X)  # the stochastic objective always has data
        # Only the minibatch is read (a memory-mapped file stays on disk) and centred in float64.
        rows = rng.choice(X.shape[0], size=batch_size, replace=False)
        batch = np.asarray(X[rows], dtype=np.float64) - cast(np.ndarray, self.mean)
        eps = rng.standard_normal((batch_size, self.q))
        elbo, grads = stochastic_elbo(V, logD, W, batch, eps, s)
        return -elbo, -self.pack_gradient(grads, s, W)

    @staticmethod
    def stationarity(ev: _Evaluation) -> float:
        """Largest ELBO-gradient entry in the scale-free coordinates ``W / sqrt(c)``, ``log s``
        (and ``V sqrt(c)``, ``log D``): invariant to scaling the data."""
        return ev.measure


# --------------------------------------------------------------------------- optimisers


# Hand-written rather than SciPy's L-BFGS-B, which cannot reach the default tol=1e-10: it stops
# when a step does not decrease -ELBO, and once the gradient is near 1e-7 the decrease is below the
# ELBO's round-off. This one's Armijo test accepts ties within the ELBO's round-off and keeps
# following the gradient. Measured with the same coordinates (rotation projection, W / sqrt(s),
# scaled log s) and memory (SciPy: gtol=1e-10, ftol=0; one BLAS thread, CPU time): on digits
# (q=10, sigma2 learned) SciPy stops after 41 iterations at gradient 8.6e-9 (W W^T error 5.4e-8,
# 0.01 s) while this one converges (4.6e-11 after 55 steps, W W^T error 3.0e-10, 0.02 s); on a
# 784-d power-law spectrum (n=5000, q=32, learned) SciPy stops "ABNORMAL" after 99 iterations at
# gradient 1.4e-6 (W W^T error 2.7e-7, 0.89 s) while this one converges in 138 steps (1.5e-9,
# 0.78 s). Before the rotation projection neither converged there in 5 000 steps.
class _LBFGS:
    """Limited-memory BFGS with a backtracking Armijo line search (Nocedal & Wright, Alg. 7.4)."""

    def __init__(self, loss: Callable[[np.ndarray], tuple[float, np.ndarray, float]]) -> None:
        self.loss = loss
        self.pairs: list[tuple[np.ndarray, np.ndarray, float]] = []

    def _direction(self, g: np.ndarray) -> np.ndarray:
        r = g.copy()
        alphas = []
        for s, y, rho in reversed(self.pairs):
            a = rho * (s @ r)
            r -= a * y
            alphas.append(a)
        if self.pairs:
            s, y, _ = self.pairs[-1]
            r *= (s @ y) / (y @ y)
        else:
            r /= max(1.0, float(np.max(np.abs(g))))
        for (s, y, rho), a in zip(self.pairs, reversed(alphas)):
            r += s * (a - rho * (y @ r))
        return -r

    def step(self, x: np.ndarray) -> np.ndarray | None:
        f, g, tie = self.loss(x)
        p = self._direction(g)
        slope = float(g @ p)
        if slope >= 0.0:  # the memory lost positive definiteness: restart from steepest descent
            self.pairs.clear()
            p = self._direction(g)
            slope = float(g @ p)
        t = 1.0
        while t >= MIN_STEP:
            x_new = x + t * p
            f_new, g_new, _ = self.loss(x_new)
            if f_new <= f + ARMIJO_C1 * t * slope + tie:
                break
            t *= 0.5
        else:
            if not self.pairs:
                return None
            self.pairs.clear()
            return x
        s, y = x_new - x, g_new - g
        sy = float(s @ y)
        if sy > 0.0:
            self.pairs.append((s, y, 1.0 / sy))
            del self.pairs[:-LBFGS_MEMORY]
        return x_new


# SciPy has no Adam. _Adam and _GD exist to reproduce what practitioners see: Adam or gradient
# descent on all four blocks (V, log D, W, sigma2), and Adam with a decaying learning rate on the
# stochastic objective.
class _Adam:
    """Adam (Kingma & Ba 2015) on a gradient oracle, with a learning rate per step."""

    def __init__(
        self, grad: Callable[[np.ndarray], np.ndarray], lr: Callable[[int], float]
    ) -> None:
        self.grad, self.lr = grad, lr
        self.m: np.ndarray | float = 0.0
        self.v: np.ndarray | float = 0.0
        self.k = 0

    def step(self, x: np.ndarray) -> np.ndarray:
        b1, b2 = ADAM_BETAS
        g = self.grad(x)
        self.k += 1
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        m_hat = self.m / (1 - b1**self.k)
        v_hat = self.v / (1 - b2**self.k)
        return x - self.lr(self.k) * m_hat / (np.sqrt(v_hat) + ADAM_EPS)


class _GD:
    """Plain gradient descent with a learning rate per step."""

    def __init__(
        self, grad: Callable[[np.ndarray], np.ndarray], lr: Callable[[int], float]
    ) -> None:
        self.grad, self.lr = grad, lr
        self.k = 0

    def step(self, x: np.ndarray) -> np.ndarray:
        self.k += 1
        return x - self.lr(self.k) * self.grad(x)


# --------------------------------------------------------------------------- trainer


@dataclass(frozen=True, eq=False, slots=True)
class _FitConfig:
    S: np.ndarray
    X: np.ndarray | None
    mean: np.ndarray | None
    q: int
    sigma2: float | str
    objective: str
    optimizer: str
    lr: float | None
    max_steps: int
    tol: float
    batch_size: int | None
    rng: np.random.Generator


def _fit_linear_vae_iv(
    data: ArrayLike | None,
    cov: ArrayLike | None,
    latent_dim: Any,
    sigma2: Any,
    objective: Any,
    optimizer: Any,
    lr: Any,
    max_steps: Any,
    tol: Any,
    batch_size: Any,
    rng: Any,
    callback: Any,
) -> _FitConfig:
    objective = check_choice(objective, "objective", ("analytic", "stochastic"))
    optimizer = check_choice(optimizer, "optimizer", ("auto", "lbfgs", "adam", "gd"))
    if optimizer == "auto":
        optimizer = "lbfgs" if objective == "analytic" else "adam"
    X = mean = None
    if data is not None and cov is None:
        mean, S = _data_moments(data)
    else:
        S = resolve_cov(cov, data)  # says that exactly one of them is needed
    if objective == "stochastic":
        if mean is None:
            raise ValueError(
                "objective='stochastic' needs `data` (it trains on minibatches of samples); "
                "got only `cov`. Use objective='analytic' with a covariance."
            )
        if optimizer == "lbfgs":
            raise ValueError(
                "`optimizer`='lbfgs' needs a deterministic objective; use objective='analytic', "
                "or optimizer='adam' with objective='stochastic'."
            )
        X = np.asarray(data)  # minibatches are read from it; a memory map stays on disk
    if not np.trace(S) > 0.0:
        raise ValueError("`cov` (or the covariance of `data`) is zero: there is nothing to fit.")
    q = check_latent_dim(latent_dim, S.shape[0])
    sigma2 = check_sigma2(sigma2, allow_learned=True)
    if lr is not None:
        if optimizer == "lbfgs":
            raise ValueError(
                "`lr` is not used by optimizer='lbfgs', which chooses each step by a line "
                "search; omit it or pick optimizer='adam' or 'gd'."
            )
        lr = check_positive_float(lr, "lr")
    if max_steps is None:
        max_steps = (
            _DEFAULT_STOCHASTIC_STEPS
            if objective == "stochastic"
            else _DEFAULT_MAX_STEPS[optimizer]
        )
    max_steps = check_positive_int(max_steps, "max_steps")
    tol = _DEFAULT_TOL[objective] if tol is None else check_positive_float(tol, "tol")
    if batch_size is not None:
        if objective == "analytic":
            raise ValueError(
                "`batch_size` is only used with objective='stochastic'; the analytic ELBO "
                "averages over all the data."
            )
        n = cast(np.ndarray, X).shape[0]  # objective='stochastic' has data (checked above)
        batch_size = check_positive_int(
            batch_size, "batch_size", upper=n, upper_name="the number of samples in `data`"
        )
    elif objective == "stochastic":
        batch_size = min(_DEFAULT_BATCH_SIZE, cast(np.ndarray, X).shape[0])
    if callback is not None and not callable(callback):
        raise TypeError(f"`callback` must be callable or None; got {type(callback).__name__}.")
    return _FitConfig(
        S, X, mean, q, sigma2, objective, optimizer, lr, max_steps, tol, batch_size, check_rng(rng)
    )


def _data_moments(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """The mean and covariance of `data` in one streamed pass (`sample_moments`), never a float64
    copy of the whole matrix."""
    moments = sample_moments(data)
    if not (np.all(np.isfinite(moments.covariance)) and np.all(np.isfinite(moments.mean))):
        raise ValueError("`data` must contain only finite values; it contains NaN or inf.")
    return moments.mean, moments.covariance


def _make_optimizer(cfg: _FitConfig, problem: _Problem) -> _LBFGS | _Adam | _GD:
    if cfg.optimizer == "lbfgs":
        return _LBFGS(problem.loss)
    lr0 = cfg.lr if cfg.lr is not None else _DEFAULT_LR[cfg.objective, cfg.optimizer]
    if cfg.objective == "stochastic":
        decay = FINAL_LR_FRACTION ** (1.0 / cfg.max_steps)

        def lr(k: int) -> float:
            return lr0 * decay**k

        def grad(x: np.ndarray) -> np.ndarray:
            return problem.stochastic_loss(x, cfg.rng, cast(int, cfg.batch_size))[1]
    else:

        def lr(k: int) -> float:
            return lr0

        def grad(x: np.ndarray) -> np.ndarray:
            return problem.loss(x)[1]

    return (_Adam if cfg.optimizer == "adam" else _GD)(grad, lr)


def fit_linear_vae(
    data: ArrayLike | None = None,
    *,
    cov: ArrayLike | None = None,
    latent_dim: int,
    sigma2: float | str = "learned",
    objective: str = "analytic",
    optimizer: str = "auto",
    lr: float | None = None,
    max_steps: int | None = None,
    tol: float | None = None,
    batch_size: int | None = None,
    rng: np.random.Generator | int | None = None,
    progress: bool = False,
    callback: Callable[[int, LinearVAEParams, float, float], Any] | None = None,
) -> LinearVAEFit:
    """Train a linear VAE by gradient ascent on its ELBO, from a small random start.

    Parameters
    ----------
    data : array_like, shape (n, d), optional
        Samples (rows). Required for ``objective="stochastic"``.
    cov : array_like, shape (d, d), optional
        Covariance (ddof=0) instead of `data`, for the analytic objective.
    latent_dim : int
        ``q``, between 1 and ``d``.
    sigma2 : float or "learned", default "learned"
        Decoder noise variance, fixed or trained jointly.
    objective : {"analytic", "stochastic"}, default "analytic"
        The closed-form data-averaged ELBO, or the reparameterised one-sample Monte-Carlo ELBO on
        random minibatches of `data` (closed-form Gaussian KL, as in ordinary VAE training).
    optimizer : {"auto", "lbfgs", "adam", "gd"}, default "auto"
        ``"lbfgs"``: L-BFGS with the closed-form optimal encoder (see Notes; the default for the
        analytic objective). ``"adam"`` (the default for the stochastic objective)
        and ``"gd"`` train all of ``V``, ``log D``, ``W`` and ``sigma2``.
    lr : float, optional
        Learning rate for Adam and GD, in the scale-free coordinates of the Notes
        (``W / sqrt(tr S / d)``, ``log sigma2``). Default 1e-3 (Adam, analytic: constant, as
        practitioners use it), 1e-2 (GD), 1e-1 (stochastic objective, decaying exponentially to
        ``1e-4 lr`` over `max_steps`). Not accepted by L-BFGS, which uses a line search.
    max_steps : int, optional
        Step budget: 5 000 (L-BFGS), 100 000 (Adam, GD), 80 000 (stochastic).
    tol : float, optional
        Converged when the largest entry of the closed-form ELBO gradient in the scale-free
        coordinates (``W / sqrt(s)`` with L-BFGS, ``W / sqrt(tr S / d)`` and ``V sqrt(tr S / d)``
        with Adam and GD; ``log D``; ``log s``) is at most `tol` (default 1e-10 analytic; 1e-1
        stochastic, checked once, after the learning-rate schedule has run: Monte-Carlo noise and
        the flat encoder directions along small eigenvalues keep the full-data gradient of a good
        stochastic fit at 1e-3 to 1e-1).
    batch_size : int, optional
        Minibatch size of the stochastic objective (default 128), at most ``n``.
    rng : numpy.random.Generator or int or None
        Random start, minibatches and reparameterisation noise.
    progress : bool, default False
        Show a tqdm progress bar with the current ELBO.
    callback : callable, optional
        Called after every step as ``callback(step, params, sigma2, elbo)``.

    Returns
    -------
    LinearVAEFit
        Warns `ConvergenceWarning` (and says so in ``message``) when the
        tolerance was not met.

    Notes
    -----
    Plain Adam on all of ``(V, log D, W, s)`` is slow for two reasons. (1) The problem is badly
    scaled: curvatures range from ``1/s^2`` (dead columns, ``s``) to ``1/lam^2`` (live columns)
    and, for the encoder, from ``lam_1 M / s`` down to ``lam_d M / s`` (zero for a singular
    covariance), so a fixed per-coordinate step is either unstable in the stiff directions or
    crawls in the flat ones and leaves a noise floor. (2) The ELBO's only handle on the column
    rotation is the gap ``1/2 log(prod M_cc / det M)``, whose curvature
    ``(lam_i - lam_j)^2 / (lam_i lam_j)`` is tiny for close eigenvalues, while the reconstruction
    error does not depend on the rotation at all.

    The default trainer therefore (a) maximises over the encoder exactly at every step - the
    closed-form ``(V*, D*)``, a variable projection that removes the encoder's ill-conditioned
    block and leaves ``f(W, s) = max_{V, D} L``, whose gradient is ``dL/dW`` and ``dL/ds`` at
    ``(V*, D*)`` by the envelope theorem; (b) maximises over the column rotation exactly too:
    the likelihood does not depend on it and the gap vanishes when ``W^T W`` is diagonal, so the
    ELBO is evaluated at the orthogonalised decoder ``W R = P diag(w)`` (thin SVD) and equals the
    log-likelihood of ``W``; this removes the slow rotation modes of (2), which made a 784-d
    power-law spectrum (close eigenvalues) stop unconverged after 5 000 steps; (c) works in the
    coordinates ``W = sqrt(s) W_hat`` and ``s = c exp(t / sqrt(d / 2))`` with ``c = tr S / d``:
    in units of ``sqrt(s)`` the many discarded directions have curvature of order one whatever
    the spread of the spectrum, and ``sqrt(d / 2)`` balances the curvature ``(d - q) / 2`` of
    ``log s``; and (d) runs L-BFGS (memory ``LBFGS_MEMORY``) with a backtracking Armijo line
    search that treats changes within the ELBO's round-off (which grows like ``tr S / s``) as
    ties, which builds the remaining curvature from gradient differences.
    It stays a pure gradient method: no Hessian and no eigendecomposition of ``S`` is used. Plain
    Adam and gradient descent on all four blocks remain available (``optimizer="adam"`` /
    ``"gd"``) to study what practitioners see; the stochastic objective (reparameterised
    Monte-Carlo ELBO on minibatches) uses Adam with an exponentially decaying learning rate and
    returns the average of the iterates over the second half of the schedule, which removes most
    of the Monte-Carlo noise left in the last iterate.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import fit_linear_vae, ppca_mle
    >>> cov = np.diag([5.0, 3.0, 2.0, 1.0])
    >>> fit = fit_linear_vae(cov=cov, latent_dim=2, sigma2=4.0, rng=0)  # lam_2 = 3 < 4: collapses
    >>> optimum = ppca_mle(cov, 2, sigma2=4.0).log_likelihood
    >>> fit.converged, len(fit.switched_off), round(fit.elbo - optimum, 9)
    (True, 1, 0.0)
    """
    cfg = _fit_linear_vae_iv(
        data,
        cov,
        latent_dim,
        sigma2,
        objective,
        optimizer,
        lr,
        max_steps,
        tol,
        batch_size,
        rng,
        callback,
    )
    with limit_blas_threads():
        return _fit(cfg, progress, callback)


def _fit(
    cfg: _FitConfig,
    progress: bool,
    callback: Callable[[int, LinearVAEParams, float, float], Any] | None,
) -> LinearVAEFit:
    """`fit_linear_vae` on a validated configuration."""
    reference = mle_from_spectrum(eigh_descending(cfg.S, vectors=True), cfg.q, cfg.sigma2)
    problem = _Problem(cfg.S, cfg.q, cfg.sigma2, cfg.optimizer == "lbfgs", cfg.X, cfg.mean)
    opt = _make_optimizer(cfg, problem)
    x = problem.initial(cfg.rng)
    ev = problem.evaluate(x)
    record = _Recorder(MAX_HISTORY_ROWS)
    record.add(0, ev.elbo, ev.kl, ev.s)
    message = f"reached max_steps={cfg.max_steps} before the gradient fell below tol={cfg.tol:g}"
    n_iter = 0
    tail_start = (
        int((1.0 - TAIL_AVERAGE) * cfg.max_steps)
        if cfg.objective == "stochastic"
        else cfg.max_steps
    )
    x_mean = np.zeros_like(x)
    from tqdm.auto import tqdm

    with tqdm(total=cfg.max_steps, disable=not progress, desc="linear VAE", leave=False) as bar:
        for n_iter in range(1, cfg.max_steps + 1):
            x_new = opt.step(x)
            if x_new is None:
                n_iter -= 1
                message = "the line search cannot improve the ELBO any more (round-off level)"
                break
            x = x_new
            if n_iter > tail_start:
                x_mean += (x - x_mean) / (n_iter - tail_start)
            ev = problem.evaluate(x_mean if n_iter > tail_start else x)
            record.add(n_iter, ev.elbo, ev.kl, ev.s)
            if callback is not None:
                callback(n_iter, LinearVAEParams(ev.V, ev.logD, ev.W), ev.s, ev.elbo)
            bar.update()
            bar.set_postfix(elbo=f"{ev.elbo:.8g}", refresh=False)
            if cfg.objective == "analytic" and problem.stationarity(ev) <= cfg.tol:
                break
    measure = problem.stationarity(ev)
    converged = measure <= cfg.tol
    if converged and cfg.objective == "stochastic":
        message = (
            f"noise level reached: full-data gradient {measure:.2g} <= tol={cfg.tol:g} after the "
            f"{n_iter}-step schedule (a stochastic fit's stopping rule: near, not at, a "
            "stationary point)"
        )
    elif converged:
        message = f"converged: gradient {measure:.2g} <= tol={cfg.tol:g} after {n_iter} steps"
    else:
        message = f"not converged: {message} (gradient {measure:.2g})"
        warnings.warn(f"fit_linear_vae: {message}", ConvergenceWarning, stacklevel=3)
    return LinearVAEFit(
        loadings=ev.W,
        encoder_weights=ev.V,
        encoder_variances=np.exp(ev.logD),
        sigma2=ev.s,
        sigma2_learned=cfg.sigma2 == "learned",
        elbo=ev.elbo,
        elbo_optimum=reference.log_likelihood,
        kl_optimum=kl_at_optimum(
            reference.eigenvalues[: cfg.q], reference.sigma2, reference.n_active
        ),
        history=record.history(tail_start + 1 if n_iter > tail_start else None),
        converged=bool(converged),
        n_iter=n_iter,
        message=message,
        objective=cfg.objective,
        optimizer=cfg.optimizer,
        cov=cfg.S,
    )
