"""The Hessian of a deep Gaussian VAE's ELBO at its weights: maximum or saddle (`landscape_probe`).

The probe fixes the reparameterisation noise (common random numbers: ``n_noise`` draws per sample),
which makes the Monte-Carlo ELBO

    L(theta) = mean_x mean_k [ -(d/2) log(2 pi sigma2)
                               - ||x - f(mu(x) + sigma_enc(x) eps_xk)||^2 / (2 sigma2) ]
               - mean_x KL(q(z|x) || N(0, I))

a deterministic, twice differentiable function of the flat trainable parameters ``theta``. Its
Hessian-vector products come from autograd by double backward: the gradient's graph is built once
(``create_graph=True``) and each product is one more reverse pass through it (``retain_graph``).
On the 784-256-32 MLP of benchmarks/bench_probe.py that is 2.4 times cheaper than
forward-over-reverse (``torch.func.jvp`` of ``torch.func.grad``), which redoes the forward and
backward passes for every product. The largest eigenvalues come from ARPACK
(`scipy.sparse.linalg.eigsh`, ``which="LA"``) on a `scipy.sparse.linalg.LinearOperator`; no
Hessian is formed beyond
`DENSE_LIMIT` parameters. The found directions are then re-measured under ``n_batches``
independent noise draws: the spread of those Rayleigh quotients is the Monte-Carlo error, and only
a curvature positive beyond it counts as an ascent direction. A curvature is the second derivative
along its direction whether or not the direction is an exact eigenvector, so the eigensolver's
residual does not enter that test; it bounds how far the curvatures are from eigenvalues, and
enters where the probe claims that nothing among the top is positive (`LandscapeProbe.thresholds`).

ARPACK's work between two products (orthogonalising the new vector against its Krylov basis, a
few hundred MB at this size) runs in NumPy's and SciPy's OpenBLAS. On two threads those threads
spin after each call and take the cores from torch's: on the benchmark's network after 30 epochs
a product inside ARPACK took 0.21 s against 0.13 s alone, and the probe 127 s; with that BLAS on
one thread during the eigensolver, 0.15 s and 98 s (the orthogonalisation itself 0.04 s per
product, memory-bound either way).

For an affine decoder the noise can be made exact: with ``noise="matched"`` each sample's draws are
antithetic pairs whitened to mean 0 and second moment ``I`` exactly, so the Monte-Carlo
reconstruction error equals its expectation for every ``theta`` (``E ||r - W s eps||^2 =
||r||^2 + sum_c s_c^2 ||w_c||^2`` needs only those two moments), and the probe's ELBO of a linear
VAE is the closed-form ELBO of theory.md §6. For a non-linear decoder it is a variance reduction
(exact for the decoder's quadratic Taylor part), not an unbiased estimator.
"""

# Kept whole: the fixed-noise objective, its validation, the eigensolver and the probe share one
# configuration and one noise stream (the same `rng` gives the same objective to a caller that
# polishes it and to the probe); splitting them would pass that state across modules.

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse.linalg

from .._base.threads import one_blas_thread
from .._base.validation import (
    as_real_array,
    check_bool,
    check_choice,
    check_positive_float,
    check_positive_int,
    check_rng,
    check_rtol,
    check_sigma2,
)
from .._ppca.likelihood import LOG_2PI
from .._spectra.covariance import covariance
from .._spectra.spectrum import spectrum
from .._vae.beta import predict_collapse
from .._vae.diagnostics import collapse_diagnostics
from ._probe_result import LandscapeProbe
from ._reference import DeepVAEFit
from ._torch import torch

__all__ = ["LandscapeProbe", "landscape_probe"]

NOISE_KINDS = ("iid", "matched")
METHODS = ("auto", "dense", "lanczos")
# "auto" forms the dense Hessian (reverse passes vectorised over the parameters) up to this many
# parameters: near a maximum the ascent curvatures are tiny beside the stiff negative ones (digits,
# a linear VAE's saddle: 0.02 against -500), where ARPACK needs far more products than p;
# "dense" refuses beyond MAX_DENSE (a (p, p) float64 array and p Hessian-vector products).
DENSE_LIMIT = 1_000
MAX_DENSE = 4_000
# Default zero band, relative to the Hessian's scale (the larger of the largest computed
# |curvature| and the root-mean-square eigenvalue estimated from one random direction).
PROBE_RTOL = 1e-6
# ARPACK: tolerance relative to the Hessian's scale (see `landscape_probe`'s `tol`), and the
# smallest Krylov dimension (ncv). The top of a trained network's fixed-noise Hessian is a dense
# cluster (the MNIST MLP of benchmarks/bench_probe.py after 30 epochs: the top 10 within 6%,
# 1.64-1.74), where the residuals of the last Ritz pairs fall slowly while their values converge far
# faster. The curvatures are Monte-Carlo estimates whose standard deviation over noise draws is far
# larger than what a tight tolerance buys: the default stops once the eigensolver's error is well
# inside it. Against tol 1e-3 (ncv 40), tol 3e-2 with ncv 80 moved no curvature by more than 0.009 /
# 0.013 / 0.043 after 1 / 30 / 60 epochs, where the smallest Monte-Carlo standard deviation of a
# curvature was 0.014 / 0.11 / 0.21, in 271 / 462 / 405 products against 374 / 792 / 938 (one
# thread); on two threads the whole probe took 322 / 512 products after 1 / 30 epochs, 69 / 101 s,
# against 391 / 759 with tol 1e-3 (benchmarks/bench_probe.py). Products after 30 epochs (one
# thread): tol 1e-3 with ncv 40 / 80 / 120: 792 / 709 / 902; tol 1e-2, ncv 40 / 80: 714 / 585; tol
# 3e-2, ncv 40 / 60 / 80 / 100: 506 / 510 / 462 / 506 (ARPACK restarts in steps of about ncv - k
# products, so the best ncv is partly where a restart lands); tol 1e-1, ncv 80: 272, the 10th
# curvature 0.15 low. The residuals do not enter the ascent test (`LandscapeProbe.thresholds`), so a
# looser tol cannot call a direction ascent that is not; it can leave a direction of the cluster
# unresolved (after 30 epochs the tenth, borderline with either tol, counted at 1e-3 and not at
# 3e-2). The Krylov basis costs ncv * 8 bytes per parameter (273 MB here).
ARPACK_TOL = 3e-2
MIN_KRYLOV = 80
# Block eigensolvers do not pay here (benchmarks/bench_probe_block.py, one thread, CPU seconds):
# the products are GEMM-bound, so a batched product (autograd's is_grads_batched, the double
# backward under vmap) costs 1.2-1.6 times as much per vector as single ones for b = 4-20, and
# every block solver needed more products than ARPACK for the top 10 after 1 / 30 epochs
# (ARPACK 374 / 792): LOBPCG, block 10, not converged in 945 (1 epoch; residuals 0.1 at 400);
# block 14, 1 508 (1 epoch, maxiter); thick-restart block Lanczos, blocks of 2: 545 / not
# converged in 2 000; of 4: 1 137 / 2 000; of 10: - / 2 000 (residuals 0.02-0.1).


# --------------------------------------------------------------------------- the objective


class _Runner(torch.nn.Module):
    """Calls ``model.encode`` and ``model.decode`` from ``forward``, so that
    `torch.func.functional_call` can evaluate them at given parameters."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        mu, logvar = self.model.encode(x)
        if eps is None:  # the encoder alone (for the KL)
            return mu, logvar
        n, k, q = eps.shape
        z = mu[:, None, :] + torch.exp(0.5 * logvar)[:, None, :] * eps
        xhat = self.model.decode(z.reshape(n * k, q))
        return mu, logvar, xhat.reshape(n, k, -1)


class _ElboFunction:
    """The Monte-Carlo ELBO (mean per sample) at a flat ``theta`` with fixed noise, and the KL
    per latent; a pure function of ``theta`` for `torch.func`."""

    def __init__(
        self,
        runner: _Runner,
        names: Sequence[str],
        shapes: Sequence[torch.Size],
        X: torch.Tensor,
        eps: torch.Tensor,
        sigma2: float | None,
    ) -> None:
        self.runner, self.names, self.shapes = runner, list(names), list(shapes)
        self.sizes = [math.prod(s) for s in shapes]
        self.X, self.eps = X, eps
        self.sigma2 = sigma2  # None: learned, log sigma2 is the last coordinate of theta

    def with_noise(self, eps: torch.Tensor) -> _ElboFunction:
        return _ElboFunction(self.runner, self.names, self.shapes, self.X, eps, self.sigma2)

    def _run(self, theta: torch.Tensor, eps: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        n_weights = sum(self.sizes)
        parts = torch.split(theta[:n_weights], self.sizes)
        params = {f"model.{n}": p.view(s) for n, p, s in zip(self.names, parts, self.shapes)}
        return torch.func.functional_call(self.runner, params, (self.X, eps))

    def parts(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(elbo, kl)``: the mean ELBO (scalar) and the mean KL per latent ``(q,)``."""
        mu, logvar, xhat = self._run(theta, self.eps)
        d = self.X.shape[1]
        if self.sigma2 is None:
            log_s = theta[-1]
        else:
            log_s = torch.tensor(math.log(self.sigma2), dtype=theta.dtype)
        sq_err = torch.sum((self.X[:, None, :] - xhat) ** 2, dim=2).mean(dim=1)
        kl = _kl(mu, logvar)
        ll = -0.5 * d * (LOG_2PI + log_s) - 0.5 * sq_err * torch.exp(-log_s)
        return (ll - kl.sum(dim=1)).mean(), kl.mean(dim=0)

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        return self.parts(theta)[0]

    def kl(self, theta: torch.Tensor) -> torch.Tensor:
        """Mean KL per latent ``(q,)`` (the encoder alone)."""
        return _kl(*self._run(theta, None)).mean(dim=0)


def _kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per entry, without cancellation near the prior."""
    return 0.5 * (mu**2 + torch.expm1(logvar) - logvar)


@functools.cache
def _load_forward_ad() -> None:
    """The first forward-mode product makes torch script its jvp decompositions, which warns
    (DeprecationWarning: torch.jit.script) from inside torch; do it once with that warning off."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script", category=DeprecationWarning)
        one = torch.ones(1, dtype=torch.float64)
        torch.func.jvp(torch.sin, (one,), (one,))


def _second_directional(
    fn: Callable[[torch.Tensor], Any], theta: torch.Tensor, v: torch.Tensor
) -> Any:
    """``d^2/dt^2 fn(theta + t v)`` at ``t = 0`` (forward over forward), for any output
    structure."""

    def first(th: torch.Tensor) -> Any:
        return torch.func.jvp(fn, (th,), (v,))[1]

    return torch.func.jvp(first, (theta,), (v,))[1]


def _hessian_product(
    fn: Callable[[torch.Tensor], torch.Tensor], theta0: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """``(value, gradient, hvp)`` of the scalar ``fn`` at ``theta0``: the gradient's graph is
    built once (``create_graph``) and each Hessian-vector product ``hvp(v)`` is one more reverse
    pass through it (double backward); dropping ``hvp`` frees that graph."""
    theta = theta0.clone().requires_grad_(True)
    value_t = fn(theta)
    (grad_t,) = torch.autograd.grad(value_t, theta, create_graph=True)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        if not grad_t.requires_grad:  # an objective linear in theta
            return torch.zeros_like(v)
        (out,) = torch.autograd.grad(grad_t, theta, v, retain_graph=True, allow_unused=True)
        return torch.zeros_like(v) if out is None else out

    return value_t.detach(), grad_t.detach(), hvp


def _quadratic_forms(
    fn: Callable[[torch.Tensor], torch.Tensor], theta0: torch.Tensor, V: torch.Tensor
) -> np.ndarray:
    """``v_i^T H v_i`` for the rows ``v_i`` of ``V``, ``H`` the Hessian of ``fn`` at ``theta0``:
    one gradient graph and one Hessian-vector product per row. On the MNIST MLP of
    benchmarks/bench_probe.py (30 epochs, one thread) 10 rows take 3.2 CPU s, against 6.2 s for
    10 second directional derivatives (forward over forward, `_second_directional`); equal to
    5e-15 relative."""
    _, _, hvp = _hessian_product(fn, theta0)
    return np.array([float(torch.dot(v, hvp(v))) for v in V])


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True, slots=True)
class _ProbeConfig:
    model: torch.nn.Module
    X: np.ndarray
    sigma2: float | str
    n_eigen: int
    n_noise: int
    n_batches: int
    noise: str
    method: str
    rtol: float
    tol: float
    maxiter: int | None
    threads: int | None
    rng: np.random.Generator
    progress: bool


def _resolve_model(model: Any, sigma2: Any) -> tuple[torch.nn.Module, float | str]:
    if isinstance(model, DeepVAEFit):
        if sigma2 is None:
            sigma2 = "learned" if model.sigma2_learned else model.sigma2
        return model.model, check_sigma2(sigma2, allow_learned=True)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            "`model` must be a torch.nn.Module with encode(x) -> (mu, log_variance) and "
            f"decode(z) -> mean, or a DeepVAEFit; got {type(model).__name__}."
        )
    for method in ("encode", "decode"):
        if not callable(getattr(model, method, None)):
            raise TypeError(
                f"`model` must have a method `{method}` (encode(x) -> (mu, log_variance), "
                "decode(z) -> mean); wrap other layouts in a small module (see the docstring)."
            )
    if sigma2 is None:
        raise ValueError(
            '`sigma2` is required for a model that is not a DeepVAEFit: pass a float, or "learned" '
            "if the model has a `log_sigma2` parameter."
        )
    return model, check_sigma2(sigma2, allow_learned=True)


def _landscape_probe_iv(
    model: Any,
    data: Any,
    sigma2: Any,
    n_eigen: Any,
    n_noise: Any,
    n_batches: Any,
    noise: Any,
    method: Any,
    rtol: Any,
    tol: Any,
    maxiter: Any,
    threads: Any,
    rng: Any,
    progress: Any,
) -> _ProbeConfig:
    module, s = _resolve_model(model, sigma2)
    if s == "learned":
        log_s = getattr(module, "log_sigma2", None)
        if not isinstance(log_s, torch.nn.Parameter) or log_s.numel() != 1:
            raise ValueError(
                '`sigma2`="learned" needs a scalar torch.nn.Parameter `log_sigma2` on the model '
                "(log of the decoder noise variance); pass the variance as a float instead."
            )
    X = as_real_array(data, "data")
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1:
        raise ValueError(
            "`data` must be a 2-D (n_samples, n_features) array with at least 2 rows; got shape "
            f"{X.shape}."
        )
    n_noise_ = check_positive_int(n_noise, "n_noise")
    noise_ = check_choice(noise, "noise", NOISE_KINDS)
    if noise_ == "matched" and n_noise_ % 2:
        raise ValueError(
            f'`n_noise` must be even with noise="matched" (antithetic pairs); got {n_noise_}.'
        )
    n_batches_ = check_positive_int(n_batches, "n_batches")
    if n_batches_ < 2:
        raise ValueError(
            f"`n_batches` must be at least 2 (their spread is the Monte-Carlo error); got "
            f"{n_batches_}."
        )
    return _ProbeConfig(
        model=module,
        X=np.array(X, order="C", copy=True),
        sigma2=s,
        n_eigen=check_positive_int(n_eigen, "n_eigen"),
        n_noise=n_noise_,
        n_batches=n_batches_,
        noise=noise_,
        method=check_choice(method, "method", METHODS),
        rtol=check_rtol(rtol),
        tol=check_positive_float(tol, "tol", allow_zero=True),
        maxiter=None if maxiter is None else check_positive_int(maxiter, "maxiter"),
        threads=None if threads is None else check_positive_int(threads, "threads"),
        rng=check_rng(rng),
        progress=check_bool(progress, "progress"),
    )


def _check_outputs(module: torch.nn.Module, X: torch.Tensor) -> int:
    """Run encode/decode on two samples; return ``latent_dim``; errors say what was wrong."""
    with torch.no_grad():
        try:
            out = module.encode(X[:2])
        except (RuntimeError, ValueError) as err:
            raise ValueError(
                f"`data` (shape {tuple(X.shape)}) does not fit `model`: encode(x) on its first "
                f"rows raised {type(err).__name__}: {err}"
            ) from err
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise ValueError(
                "`model`.encode(x) must return a pair (mu, log_variance); got "
                f"{type(out).__name__}."
            )
        mu, logvar = out
        if not (
            isinstance(mu, torch.Tensor)
            and isinstance(logvar, torch.Tensor)
            and mu.ndim == 2
            and mu.shape == logvar.shape
            and mu.shape[0] == 2
        ):
            raise ValueError(
                "`model`.encode(x) must return two (n_samples, latent_dim) tensors (mu, "
                "log_variance); got shapes "
                f"{getattr(mu, 'shape', None)} and {getattr(logvar, 'shape', None)}."
            )
        if mu.dtype != torch.float64:
            raise TypeError(
                f"`model` must compute in float64 (call model.double()); its encoder returns "
                f"{mu.dtype}."
            )
        xhat = module.decode(mu)
        if not isinstance(xhat, torch.Tensor) or tuple(xhat.shape) != tuple(X[:2].shape):
            raise ValueError(
                f"`model`.decode(z) must return an (n, {X.shape[1]}) tensor to match `data`; "
                f"got shape {getattr(xhat, 'shape', None)}."
            )
    return int(mu.shape[1])


# --------------------------------------------------------------------------- the probe


def _draw_noise(
    gen: torch.Generator, n: int, k: int, q: int, kind: str
) -> torch.Tensor:  # (n, k, q)
    if kind == "iid":
        return torch.randn(n, k, q, generator=gen, dtype=torch.float64)
    # Antithetic pairs whitened per sample: (1/k) sum eps = 0 and (1/k) sum eps eps^T = I exactly.
    m = k // 2
    G = torch.randn(n, m, q, generator=gen, dtype=torch.float64)
    L = torch.linalg.cholesky(G.transpose(1, 2) @ G / m)
    G = torch.linalg.solve_triangular(L, G.transpose(1, 2), upper=False).transpose(1, 2)
    return torch.cat([G, -G], dim=1)


class _Counter:
    def __init__(self, bar: Any) -> None:
        self.n, self.bar = 0, bar

    def tick(self, k: int = 1) -> None:
        self.n += k
        self.bar.update(k)


def _top_eigenpairs(
    hvp: Callable[[torch.Tensor], torch.Tensor],
    objective: _ElboFunction,
    theta0: torch.Tensor,
    cfg: _ProbeConfig,
    counter: _Counter,
) -> tuple[np.ndarray, np.ndarray, str]:
    p, k = theta0.numel(), cfg.n_eigen
    method = cfg.method
    if method == "auto":
        method = "dense" if p <= DENSE_LIMIT else "lanczos"
    if method == "lanczos" and k >= p - 1:
        raise ValueError(
            f"`n_eigen` must be below n_parameters - 1 = {p - 1} for method='lanczos'; got {k} "
            "(use method='dense' for a small model)."
        )
    if method == "dense":
        if p > MAX_DENSE:
            raise ValueError(
                f"`method`='dense' forms a ({p}, {p}) Hessian; it is allowed up to {MAX_DENSE} "
                "parameters. Use method='lanczos'."
            )
        H = torch.autograd.functional.hessian(objective, theta0, vectorize=True).numpy()
        counter.tick(p)
        vals, vecs = np.linalg.eigh((H + H.T) / 2)
        return vals[::-1][:k].copy(), vecs[:, ::-1][:, :k].T.copy(), method

    def matvec(x: np.ndarray) -> np.ndarray:
        counter.tick()
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1))
        return hvp(v).numpy()

    v0 = cfg.rng.standard_normal(p)
    # ARPACK stops when a Ritz value's residual is below tol * |Ritz value|. Near a maximum the
    # top curvatures are close to 0 beside a wide negative spectrum, and that asks for a residual
    # close to 0: on a trained MNIST network the top 10 did not converge in 468 products. The
    # Krylov spaces of H and H + c I are the same, so running on the shifted operator finds the
    # same Ritz pairs and only changes the stopping rule, to a residual below tol * |lam + c|,
    # about tol * c: relative to the Hessian's scale c, the RMS eigenvalue seen from v0.
    shift = float(np.linalg.norm(matvec(v0 / np.linalg.norm(v0))))

    def shifted(x: np.ndarray) -> np.ndarray:
        return matvec(x) + shift * np.asarray(x, dtype=np.float64).reshape(-1)

    op = scipy.sparse.linalg.LinearOperator((p, p), matvec=shifted, dtype=np.float64)
    try:
        # ARPACK's own work between products (orthogonalising against the Krylov basis) runs in
        # NumPy's and SciPy's OpenBLAS; on two threads those spin after each call and take the
        # cores from torch's threads (module notes).
        with one_blas_thread():
            vals, vecs = scipy.sparse.linalg.eigsh(
                op,
                k=k,
                which="LA",
                v0=v0,
                tol=cfg.tol,
                maxiter=cfg.maxiter,
                ncv=min(p, max(2 * k + 1, MIN_KRYLOV)),
            )
    except scipy.sparse.linalg.ArpackNoConvergence as err:
        raise RuntimeError(
            f"ARPACK found {len(err.eigenvalues)} of the {k} largest curvatures within "
            f"`maxiter`={cfg.maxiter} restarts ({counter.n} Hessian-vector products); raise "
            "`maxiter`, loosen `tol` or ask for fewer (`n_eigen`)."
        ) from None
    vals = vals - shift
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order].T.copy(), method


def _fix_signs(vecs: np.ndarray) -> np.ndarray:
    idx = np.argmax(np.abs(vecs), axis=1)
    signs = np.sign(vecs[np.arange(vecs.shape[0]), idx])
    return vecs * np.where(signs == 0, 1.0, signs)[:, None]


def _trainable(module: torch.nn.Module, learned: bool) -> tuple[list[str], list[torch.Tensor]]:
    """Trainable parameters in ``named_parameters`` order, ``log_sigma2`` left out (it is the
    last coordinate when learned, a constant otherwise)."""
    log_s = getattr(module, "log_sigma2", None)
    names, tensors = [], []
    for name, p in module.named_parameters():
        if p is log_s or not p.requires_grad:
            continue
        names.append(name)
        tensors.append(p)
    if not tensors and not learned:
        raise ValueError("`model` has no trainable parameters (requires_grad=True) to probe.")
    wrong = {str(t.dtype) for t in tensors if t.dtype != torch.float64}
    if wrong:
        raise TypeError(
            f"`model` must compute in float64 (call model.double()); it has {', '.join(wrong)} "
            "parameters."
        )
    return names, tensors


def _fixed_noise_objective(
    cfg: _ProbeConfig,
) -> tuple[_ElboFunction, torch.Tensor, torch.Generator]:
    """The probe's fixed-noise ELBO, its ``theta0`` and the torch generator its noise came from
    (the probe draws its independent batches from it next). The first draw of ``cfg.rng`` seeds
    that generator, so the same `rng` gives the same objective: a caller can optimise
    ``objective`` (docs/mnist_figures.py polishes a network to its stationary point) and probe
    the result with the same noise."""
    module = cfg.model
    learned = cfg.sigma2 == "learned"
    X = torch.from_numpy(cfg.X)
    n = cfg.X.shape[0]
    names, tensors = _trainable(module, learned)
    q = _check_outputs(module, X)
    if cfg.noise == "matched" and cfg.n_noise // 2 < q:
        raise ValueError(
            f'`n_noise` must be at least 2 * latent_dim = {2 * q} with noise="matched" (the '
            f"draws of each sample are whitened); got {cfg.n_noise}."
        )
    flat = [t.detach().reshape(-1) for t in tensors]
    if learned:
        flat.append(module.log_sigma2.detach().reshape(1))
    theta0 = torch.cat(flat).to(torch.float64).clone()
    gen = torch.Generator().manual_seed(int(cfg.rng.integers(2**62)))
    eps = _draw_noise(gen, n, cfg.n_noise, q, cfg.noise)
    objective = _ElboFunction(
        _Runner(module),
        names,
        [t.shape for t in tensors],
        X,
        eps,
        None if learned else float(cfg.sigma2),
    )
    return objective, theta0, gen


def _probe_objective(
    model: Any,
    data: Any,
    *,
    sigma2: float | str | None = None,
    n_noise: int = 1,
    noise: str = "iid",
    rng: np.random.Generator | int | None = None,
) -> tuple[_ElboFunction, torch.Tensor]:
    """``(objective, theta0)``: the fixed-noise ELBO that `landscape_probe` with the same
    arguments (and the same `rng`) differentiates, and the model's flat parameters. For callers
    that move ``theta`` first, e.g. to a stationary point of this very objective, and then probe
    there (write ``theta`` back into the model).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from ppca_stability.deep import fit_deep_vae, landscape_probe
    >>> x = np.random.default_rng(0).normal(size=(60, 3))
    >>> fit = fit_deep_vae(x, latent_dim=2, sigma2=1.0, hidden=(4,), epochs=2, rng=0,
    ...                    progress=False)
    >>> objective, theta0 = _probe_objective(fit, x, n_noise=2, rng=5)
    >>> probe = landscape_probe(fit, x, n_noise=2, n_eigen=2, rng=5)
    >>> bool(float(objective(theta0)) == probe.value)
    True
    """
    cfg = _landscape_probe_iv(
        model, data, sigma2, 1, n_noise, 2, noise, "auto", PROBE_RTOL, ARPACK_TOL, None, None,
        rng, False,
    )  # fmt: skip
    objective, theta0, _ = _fixed_noise_objective(cfg)
    return objective, theta0


def _probe(cfg: _ProbeConfig) -> LandscapeProbe:
    from tqdm.auto import tqdm

    start = time.perf_counter()
    _load_forward_ad()
    module = cfg.model
    learned = cfg.sigma2 == "learned"
    n, d = cfg.X.shape
    objective, theta0, gen = _fixed_noise_objective(cfg)
    names, X, q = objective.names, objective.X, objective.eps.shape[2]
    s_now = math.exp(float(theta0[-1])) if learned else float(cfg.sigma2)
    value_t, grad_t, hvp = _hessian_product(objective, theta0)

    with tqdm(disable=not cfg.progress, desc="landscape probe", unit="Hv", leave=False) as bar:
        counter = _Counter(bar)
        value = float(value_t)
        gradient_norm = float(torch.linalg.vector_norm(grad_t))
        vals, vecs, method = _top_eigenpairs(hvp, objective, theta0, cfg, counter)
        vecs = _fix_signs(vecs)
        p = theta0.numel()
        # Residuals (the eigensolver's error bound) and the scale of the zero band: the RMS
        # eigenvalue from one random unit direction, E ||H r||^2 = tr(H^2) / p.
        V = torch.from_numpy(vecs)
        residuals = np.array(
            [float(torch.linalg.vector_norm(hvp(V[i]) - vals[i] * V[i])) for i in range(V.shape[0])]
        )
        r = torch.from_numpy(cfg.rng.standard_normal(p))
        rms = float(torch.linalg.vector_norm(hvp(r / torch.linalg.vector_norm(r))))
        counter.tick(V.shape[0] + 1)
        scale = max(float(np.max(np.abs(vals))), rms)
        batch = np.empty((cfg.n_batches, vals.size))
        kl_d2 = np.empty((vals.size, q))
        for i in range(vals.size):
            kl_d2[i] = _second_directional(objective.kl, theta0, V[i]).detach().numpy()
        del hvp  # the gradient's graph, before each batch builds its own
        for b in range(cfg.n_batches):
            other = objective.with_noise(_draw_noise(gen, n, cfg.n_noise, q, cfg.noise))
            batch[b] = _quadratic_forms(other, theta0, V)
            counter.tick(vals.size)
        with torch.no_grad():
            mu, logvar = module.encode(X)
    cov = covariance(cfg.X)
    lam = spectrum(cov, vectors=False).eigenvalues
    return LandscapeProbe(
        parameters=theta0.numpy().copy(),
        parameter_names=tuple(names) + (("log_sigma2",) if learned else ()),
        objective=objective,
        value=value,
        gradient_norm=gradient_norm,
        curvatures=np.asarray(vals, dtype=np.float64),
        directions=vecs,
        residuals=residuals,
        batch_curvatures=batch,
        latent_second_derivatives=kl_d2,
        diagnostics=collapse_diagnostics(mu.detach().numpy(), logvar.detach().numpy()),
        linear=predict_collapse(cov, latent_dim=min(q, d), sigma2=s_now),
        eigenvalues=lam,
        sigma2=s_now,
        sigma2_learned=learned,
        n_noise=cfg.n_noise,
        noise=cfg.noise,
        band=cfg.rtol * scale,
        method=method,
        n_products=counter.n,
        seconds=time.perf_counter() - start,
    )


def landscape_probe(
    model: Any,
    data: Any,
    *,
    sigma2: float | str | None = None,
    n_eigen: int = 10,
    n_noise: int = 1,
    n_batches: int = 4,
    noise: str = "iid",
    method: str = "auto",
    rtol: float = PROBE_RTOL,
    tol: float = ARPACK_TOL,
    maxiter: int | None = None,
    threads: int | None = None,
    rng: np.random.Generator | int | None = None,
    progress: bool = False,
) -> LandscapeProbe:
    """Is a trained Gaussian VAE at a maximum of its ELBO, or on a saddle? The largest
    eigenvalues of the ELBO's Hessian in all trainable parameters, and which latents their
    directions revive.

    Parameters
    ----------
    model : torch.nn.Module or DeepVAEFit
        A float64 module with ``encode(x) -> (mu, log_variance)`` (each ``(n, latent_dim)``) and
        ``decode(z) -> mean`` (``(n, n_features)``, in the units of `data`), such as the
        reference VAE of `fit_deep_vae()`; a `DeepVAEFit` stands for its model (whose
        standardisation of the data is inside ``encode``/``decode``, so the ELBO is that of the
        raw data, as the fit's). Other layouts need a five-line wrapper::

            class Probeable(torch.nn.Module):
                def __init__(self, vae):
                    super().__init__()
                    self.vae = vae
                def encode(self, x):
                    mu, std = self.vae.encoder(x)          # whatever your encoder returns
                    return mu, 2 * torch.log(std)          # log-variance
                def decode(self, z):
                    return self.vae.decoder(z)

        The model is evaluated in its current mode: call ``model.eval()`` if it has dropout.
    data : array_like, shape (n_samples, n_features)
        The samples the ELBO is averaged over (a subset of the training data is typical).
    sigma2 : float or "learned", optional
        Decoder noise variance, in the units of `data`. A float holds it fixed. ``"learned"``
        uses the model's own scalar parameter ``log_sigma2`` as a coordinate of the Hessian (the
        last one, as ``log sigma2``). Default for a `DeepVAEFit`: its own (learned or fixed);
        required for any other model.
    n_eigen : int, default 10
        How many of the largest curvatures to compute.
    n_noise : int, default 1
        Reparameterisation draws per sample in the fixed-noise ELBO (the cost of one
        Hessian-vector product grows with ``n_samples * n_noise``).
    n_batches : int, default 4
        Independent noise draws under which each found direction's curvature is measured again:
        their spread is the Monte-Carlo error (at least 2).
    noise : {"iid", "matched"}, default "iid"
        ``"matched"``: each sample's draws are antithetic pairs whitened to sample mean 0 and
        sample covariance ``I`` (needs ``n_noise`` even and at least ``2 latent_dim``), which
        makes the ELBO of an affine decoder exact (module notes).
    method : {"auto", "dense", "lanczos"}, default "auto"
        ``"lanczos"``: ARPACK (`scipy.sparse.linalg.eigsh`, ``which="LA"``) on Hessian-vector
        products; ``"dense"``: the full Hessian (up to `MAX_DENSE` parameters); ``"auto"``:
        dense up to `DENSE_LIMIT` parameters.
    rtol : float, default 1e-6
        Numerical zero band, relative to the Hessian's scale.
    tol : float, default 3e-2
        ARPACK's tolerance (0: machine precision), relative to the Hessian's scale: ARPACK runs on
        ``H + c I`` with ``c`` the root-mean-square eigenvalue seen from its start vector (the same
        Krylov spaces, shifted back after), so it stops once each residual is below ``tol *
        |curvature + c|``. ARPACK's own rule, relative to each curvature, asks for a residual near 0
        when the top curvatures are near 0 beside a wide negative spectrum, as near a maximum. Each
        curvature is the Rayleigh quotient of its direction (what the independent batches measure
        again), within its reported residual of an eigenvalue and never above the eigenvalue of its
        rank. The default stops while the residuals are still a few percent of the scale, where the
        curvatures are already far more accurate than their Monte-Carlo error: on the MNIST MLP of
        the benchmarks, against ``tol=1e-3``, no curvature moved by as much as the smallest Monte-
        Carlo standard deviation (after 1, 30 and 60 epochs: 0.66, 0.12 and 0.2 of it), for 18-57%
        fewer Hessian-vector products. Inside a dense cluster at the top a curvature can sit below
        the eigenvalue of its rank by about the largest residual (an eigenvalue of the cluster not
        yet resolved): pass a smaller `tol` (1e-3, 1e-8) for curvatures that are eigenvalues to that
        precision.
    maxiter : int, optional
        ARPACK's restart limit (its default when None).
    threads : int, optional
        ``torch.set_num_threads`` during the probe (restored after).
    rng : numpy.random.Generator or int or None
        Source of the noise draws and of ARPACK's start vector.
    progress : bool, default False
        A tqdm bar counting Hessian-vector products.

    Returns
    -------
    LandscapeProbe
        ``repr`` is the table (verdict, curvatures with their Monte-Carlo error, the latent each
        revives, the linear theory beside the measured collapse), ``.plot()`` the figure.

    Examples
    --------
    A linear VAE (identity activations) at the pPCA point with its second latent switched off,
    while the second eigenvalue exceeds sigma2: a saddle, and the ascent direction revives that
    latent.

    >>> import numpy as np, torch
    >>> from ppca_stability.deep import landscape_probe
    >>> class Linear(torch.nn.Module):
    ...     def __init__(self, V, log_d, W, mean):
    ...         super().__init__()
    ...         self.V, self.W = torch.nn.Parameter(V), torch.nn.Parameter(W)
    ...         self.log_d, self.mean = torch.nn.Parameter(log_d), mean
    ...     def encode(self, x):
    ...         return (x - self.mean) @ self.V.T, self.log_d.expand(x.shape[0], -1)
    ...     def decode(self, z):
    ...         return self.mean + z @ self.W.T
    >>> x = np.random.default_rng(0).normal(size=(500, 3)) @ np.diag([2.0, 1.5, 0.5])
    >>> lam, U = np.linalg.eigh(np.cov(x.T, bias=True)); lam, U = lam[::-1], U[:, ::-1]
    >>> W = np.zeros((3, 2)); W[:, 0] = np.sqrt(lam[0] - 1.0) * U[:, 0]   # sigma2 = 1
    >>> V, log_d = W.T / lam[0], np.log([1.0 / lam[0], 1.0])                # optimal encoder
    >>> t = lambda a: torch.tensor(np.ascontiguousarray(a))
    >>> model = Linear(t(V), t(log_d), t(W), t(x.mean(axis=0)))
    >>> probe = landscape_probe(model, x, sigma2=1.0, n_eigen=3, n_noise=4, noise="matched",
    ...                         rng=0)
    >>> probe.stability
    'SADDLE: 1 ascent direction among the top 3 curvatures'
    >>> int(probe.revived_latent[0])
    1
    """
    cfg = _landscape_probe_iv(
        model,
        data,
        sigma2,
        n_eigen,
        n_noise,
        n_batches,
        noise,
        method,
        rtol,
        tol,
        maxiter,
        threads,
        rng,
        progress,
    )
    if cfg.threads is None:
        return _probe(cfg)
    before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _probe(cfg)
    finally:
        torch.set_num_threads(before)
