"""Regenerate every number and figure of docs/mnist.md: python docs/mnist_figures.py [DATA_DIR].

The paper's experiment on real data, MNIST-test (10 000 images, d = 784, pixels scaled to
[0, 1]). One function per stage, each writing its results into OUT (default docs/images), so a
stage can be re-run alone (``--stage``) and a later stage (the landscape probe) can read the
saved sweep:

* ``linear``:  spectrum, phase diagram on a grid framed on the collapse region, predicted
  collapse against sigma^2, and the sigma^2 <-> beta conversions -> ``mnist_linear.json``,
  ``mnist_phase.json`` (a saved `PhaseDiagram`), ``mnist_spectrum.png``, ``mnist_phase.png``;
* ``deep``:    the reference deep VAE's collapse sweep on a random subset of MNIST-test ->
  ``mnist_sweep.json`` (a saved `DeepCollapseSweep`, ``ppca_stability.load`` reads it back),
  ``mnist_sweep_run.json`` (configuration and wall time), ``mnist_deep.png``;
* ``compare``: where the deep VAE and the linear prediction disagree (the sigma^2 a landscape
  probe should look at) -> ``mnist_compare.json``;
* ``longer``:  the same models trained for ``--epochs`` epochs at ``--sigma2`` (default: where they
  disagree) -> ``mnist_sweep_e<epochs>_s<sigma2 values>.json`` and its ``_run.json``;
* ``tables``:  prints the Markdown tables of docs/mnist.md from the saved files.

DATA_DIR holds ``t10k-images-idx3-ubyte.gz`` as distributed (default ``../shared/data/mnist``
next to the repository). The deep stages need the ``deep`` extra (PyTorch). A later stage that
needs a trained network (the landscape probe) gets it back, bit for bit, with `refit`. The script
uses the ``ppca_stability`` Python imports: run it as ``PYTHONPATH=. python docs/mnist_figures.py``
to use a source checkout over an installed copy.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # loaded by path (the tests): its sibling docs/_thresholds.py
    sys.path.insert(0, str(HERE))

from _thresholds import number, thresholds_record, thresholds_table  # noqa: E402

ROOT = HERE.parent
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "mnist"
IMAGES = "t10k-images-idx3-ubyte.gz"

LATENT_DIM_LINEAR = 32  # the phase diagram and predicted collapse
# The deep sweep (sized for <= 25 min on one thread of a shared 2-core machine; see the page).
N_SUBSET = 2000
LATENT_DIM = 16
HIDDEN = (256,)
ACTIVATION = "relu"
EPOCHS = 20
BATCH_SIZE = 128
SEEDS = 2
SWEEP_SIGMA2 = (0.5, 1.0, 2.0, 3.5, 7.0)
# Draws the sweep's torch seeds (seed j is the j-th draw; `refit` relies on it).
SWEEP_RNG = 0
# The convergence check: where deep and linear disagree, train this many epochs instead.
LONGER_EPOCHS = 60
# The phase diagram's grid: the collapse region of latent_dim = 32, lam_32 / 4 to 4 lam_1.
PHASE_MARGIN = 4.0
PHASE_POINTS = 300
# sigma^2 values at which the page lists the predicted collapse.
PREDICT_SIGMA2 = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 392.0)
# Latent counts for which the page lists the beta interval that keeps exactly that many.
KEEP = (0, 1, 2, 6, 16, 32)


# --------------------------------------------------------------------------- data


def read_mnist_images(directory: Path) -> np.ndarray:
    """MNIST-test images as a float64 (10 000, 784) array in [0, 1], from the IDX file as
    distributed: through ``ppca_stability.datasets.load_mnist`` (checksums verified) where the
    installed package has it, else read here."""
    path = Path(directory) / IMAGES
    if not path.exists():
        raise SystemExit(
            f"MNIST-test not found: {path} does not exist. Download {IMAGES} (the MNIST database, "
            "Y. LeCun, C. Cortes, C. J. C. Burges; torchvision keeps it under MNIST/raw/ after "
            "torchvision.datasets.MNIST(root, train=False, download=True)) and pass its directory "
            "as DATA_DIR."
        )
    try:
        from ppca_stability.datasets import load_mnist  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        return np.asarray(load_mnist(directory).images, dtype=np.float64)
    raw = gzip.decompress(path.read_bytes())
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 2051:
        raise SystemExit(f"{path} is not an IDX image file (magic {magic}, expected 2051).")
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16)
    return pixels.reshape(int(n), int(rows) * int(cols)).astype(np.float64) / 255.0


def subset(X: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` rows drawn without replacement (seeded), in file order. The file is not shuffled:
    its first rows have a different spectrum (lam_1 = 4.80 for the first 2 000 against 5.31)."""
    if n >= X.shape[0]:
        return X
    idx = np.sort(np.random.default_rng(seed).choice(X.shape[0], n, replace=False))
    return X[idx]


def _write(path: Path, record: dict) -> None:
    path.write_text(json.dumps(record, indent=1, allow_nan=True) + "\n")


# --------------------------------------------------------------------------- stage: linear


def linear_stage(X: np.ndarray, out: Path) -> dict:
    """Spectrum, phase diagram, predicted collapse against sigma^2, and beta conversions."""
    from ppca_stability import (
        beta_for_latents,
        beta_from_sigma2,
        covariance,
        phase_diagram,
        predict_collapse,
        sigma2_from_beta,
        spectrum,
    )

    start = time.perf_counter()
    cov = covariance(X)
    lam = spectrum(cov, vectors=False).eigenvalues
    q = LATENT_DIM_LINEAR
    grid = np.geomspace(lam[q - 1] / PHASE_MARGIN, PHASE_MARGIN * lam[0], PHASE_POINTS)
    pd = phase_diagram(cov, latent_dim=q, sigma2=grid)
    pd.save(out / "mnist_phase.json")
    d = X.shape[1]
    # Predicted collapse at a few sigma2: one more phase diagram (one eigendecomposition) rather
    # than a predict_collapse per value (each decomposes the covariance again).
    at = phase_diagram(cov, latent_dim=q, sigma2=list(PREDICT_SIGMA2))
    predictions = {
        repr(s): {"n_active": int(at.n_active[g]), "total_kl": float(at.kl_per_latent[g].sum())}
        for g, s in enumerate(PREDICT_SIGMA2)
    }
    # What a user's loss means: torch.nn.MSELoss() + KL summed over latents, beta = 1.
    mse = predict_collapse(cov, latent_dim=q, beta=1.0, reconstruction="mse")
    keep = {}
    for k in KEEP:
        iv = beta_for_latents(cov, k, reconstruction="mse", latent_dim=q)
        keep[str(k)] = {
            "sigma2": [iv.sigma2_low, iv.sigma2_high],
            "beta_mse": [iv.low, iv.high],
            "beta_sse": [
                beta_from_sigma2(v, reconstruction="sse") if 0 < v < math.inf else v
                for v in (iv.sigma2_low, iv.sigma2_high)
            ],
        }
    record = {
        "n_samples": int(X.shape[0]),
        "n_features": d,
        "latent_dim": q,
        "eigenvalues_top64": lam[:64].tolist(),
        "trace": float(lam.sum()),
        "n_above": {repr(s): int(at.n_above[g]) for g, s in enumerate(PREDICT_SIGMA2)},
        "sigma2_learned": pd.sigma2_learned,
        "phase_grid": [float(grid[0]), float(grid[-1]), PHASE_POINTS],
        "predictions": predictions,
        "mse_beta1": {"sigma2": mse.sigma2, "n_active": mse.n_active},
        "sigma2_mse_beta1": sigma2_from_beta(1.0, reconstruction="mse", n_features=d),
        "beta_mse_at_lam1": beta_from_sigma2(float(lam[0]), reconstruction="mse", n_features=d),
        "beta_sse_at_lam1": beta_from_sigma2(float(lam[0]), reconstruction="sse"),
        "keep": keep,
        "seconds": time.perf_counter() - start,
    }
    _write(out / "mnist_linear.json", record)
    _spectrum_figure(lam, out)
    fig = pd.plot()
    fig.savefig(out / "mnist_phase.png", dpi=90)
    return record


def _spectrum_figure(lam: np.ndarray, out: Path) -> None:
    from ppca_stability._plotting.scaffold import Figure

    fig = Figure(figsize=(9.0, 3.8), layout="constrained")
    ax = fig.add_subplot()
    k = np.arange(1, 101)
    ax.semilogy(k, lam[:100], "o", ms=3, color="black", label="eigenvalue $\\lambda_k$")
    for s, c in ((392.0, "#d95f02"), (2.0, "#1b9e77"), (0.5, "#7570b3")):
        n = int(np.count_nonzero(lam > s))
        if s > lam[0]:
            ax.annotate(
                f"$\\sigma^2$ = {s:g} (MSELoss + KL, $\\beta$ = 1) = {s / lam[0]:.0f} "
                "$\\lambda_1$, far above this axis: no eigenvalue above it",
                (0.98, 0.96),
                xycoords="axes fraction",
                color=c,
                va="top",
                ha="right",
                fontsize="small",
            )
            continue
        ax.axhline(s, color=c, lw=1.0, ls="--", label=f"$\\sigma^2$ = {s:g}: {n} eigenvalues above")
    ax.axvline(
        LATENT_DIM_LINEAR, color="0.7", lw=0.8, label=f"k = {LATENT_DIM_LINEAR} (latent_dim)"
    )
    ax.set_xlabel("rank k")
    ax.set_ylabel("eigenvalue of the covariance")
    ax.set_ylim(lam[99] / 1.5, lam[0] * 3)
    ax.set_title(
        "MNIST-test ([0, 1] pixels): the top 100 of 784 eigenvalues; latent $c$ of a linear VAE "
        "collapses once $\\sigma^2 \\geq \\lambda_c$",
        loc="left",
        fontsize="medium",
    )
    ax.legend(loc="lower left", fontsize="small")
    fig.savefig(out / "mnist_spectrum.png", dpi=90)


# --------------------------------------------------------------------------- stage: deep


def deep_stage(
    X: np.ndarray,
    out: Path,
    *,
    n: int = N_SUBSET,
    sigma2: tuple[float, ...] = SWEEP_SIGMA2,
    epochs: int = EPOCHS,
    seeds: int = SEEDS,
    latent_dim: int = LATENT_DIM,
    hidden: tuple[int, ...] = HIDDEN,
    progress: bool = True,
    name: str = "mnist_sweep",
) -> dict:
    """The reference deep VAE's collapse sweep on ``n`` random rows, saved with ``.save()`` as
    ``<name>.json``; its configuration and wall time in ``<name>_run.json``."""
    import torch

    from ppca_stability.deep import deep_collapse_sweep

    Xs = subset(X, n)
    start = time.perf_counter()
    sweep = deep_collapse_sweep(
        Xs,
        latent_dim,
        list(sigma2),
        n_seeds=seeds,
        hidden=hidden,
        activation=ACTIVATION,
        epochs=epochs,
        batch_size=BATCH_SIZE,
        threads=1,
        rng=SWEEP_RNG,
        progress=progress,
    )
    seconds = time.perf_counter() - start
    sweep.save(out / f"{name}.json")
    record = {
        "n_samples": int(Xs.shape[0]),
        "subset_seed": 0,
        "rng": SWEEP_RNG,
        "latent_dim": latent_dim,
        "hidden": list(hidden),
        "activation": ACTIVATION,
        "epochs": epochs,
        "batch_size": BATCH_SIZE,
        "n_seeds": seeds,
        "sigma2": list(sigma2),
        "threads": 1,
        "torch": torch.__version__,
        "seconds": seconds,
        "seconds_per_fit": seconds / (len(sigma2) * seeds),
        "seconds_per_epoch": seconds / (len(sigma2) * seeds * epochs),
    }
    _write(out / f"{name}_run.json", record)
    if name == "mnist_sweep":
        fig = sweep.plot()
        fig.savefig(out / "mnist_deep.png", dpi=80)
    return record


def refit(X: np.ndarray, out: Path, *, sigma2: float, seed: int, name: str = "mnist_sweep") -> Any:
    """Train again, bit for bit, the model a saved sweep fitted at `sigma2` with its seed number
    `seed` (the sweep keeps diagnostics, not networks): for a later stage that needs the trained
    network, such as a landscape probe. Returns a `DeepVAEFit`."""
    from ppca_stability.deep import fit_deep_vae

    run = json.loads((out / f"{name}_run.json").read_text())
    rng = np.random.default_rng(run["rng"])
    for _ in range(seed):  # the sweep draws its seeds one after another from this generator
        rng.integers(2**62)
    return fit_deep_vae(
        subset(X, run["n_samples"], run["subset_seed"]),
        latent_dim=run["latent_dim"],
        sigma2=sigma2,
        hidden=tuple(run["hidden"]),
        activation=run["activation"],
        epochs=run["epochs"],
        batch_size=run["batch_size"],
        threads=run["threads"],
        rng=rng,
        progress=False,
    )


def longer_stage(
    X: np.ndarray,
    out: Path,
    *,
    sigma2: tuple[float, ...] | None = None,
    epochs: int = LONGER_EPOCHS,
    **kw: Any,
) -> dict:
    """The sweep again with ``epochs`` epochs at ``sigma2`` (by default every sigma^2 where deep
    and linear disagree, from ``compare``): do the extra active units go away with training?"""
    if sigma2 is None:
        sigma2 = tuple(json.loads((out / "mnist_compare.json").read_text())["probe_sigma2"])
    if not sigma2:
        return {}
    name = f"mnist_sweep_e{epochs}_s{'_'.join(f'{v:g}' for v in sigma2)}"
    return deep_stage(X, out, sigma2=sigma2, epochs=epochs, name=name, **kw)


# --------------------------------------------------------------------------- stage: compare


def compare_stage(out: Path) -> dict:
    """Where the deep VAE and the linear theory disagree, per sigma^2, from the saved sweep: the
    sigma^2 values a landscape probe should examine."""
    from ppca_stability import load

    sweep = load(out / "mnist_sweep.json")
    au, pred = sweep.active_units, sweep.predicted_active_units
    kl = sweep.kl_by_rank
    rows = []
    for g, s in enumerate(sweep.sigma2):
        # latents beyond the predicted count that still pass the active-unit test, and their KL
        extra = [[float(v) for v in kl[g, j, pred[g] : au[g, j]]] for j in range(len(sweep.seeds))]
        rows.append(
            {
                "sigma2": float(s),
                "predicted_active_units": int(pred[g]),
                "active_units": au[g].tolist(),
                "n_collapsed": sweep.n_collapsed[g].tolist(),
                "total_kl": kl[g].sum(axis=1).tolist(),
                "predicted_total_kl": float(sweep.predicted_kl[g].sum()),
                "extra_unit_kl": extra,
                "disagree": bool(np.any(au[g] != pred[g])),
            }
        )
    record = {
        "eigenvalues": sweep.eigenvalues.tolist(),
        "rows": rows,
        "probe_sigma2": [r["sigma2"] for r in rows if r["disagree"]],
        "thresholds": thresholds_record(sweep.thresholds()),
    }
    _write(out / "mnist_compare.json", record)
    return record


# --------------------------------------------------------------------------- tables


def probe_stage(X: np.ndarray, out: Path, *, sigma2: float, seed: int = 0) -> dict:
    """The landscape probe at a sweep's trained network (`refit`): the top curvatures of the
    deep ELBO there, how many are ascent directions and which latents they revive, beside the
    linear prediction; its table, figure and a JSON summary (``mnist_probe_<sigma2>.*``)."""
    import time

    from ppca_stability.deep import landscape_probe

    run = json.loads((out / "mnist_sweep_run.json").read_text())
    t0 = time.perf_counter()
    fit = refit(X, out, sigma2=sigma2, seed=seed)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    probe = landscape_probe(
        fit, subset(X, run["n_samples"], run["subset_seed"]), n_eigen=10, rng=0, threads=2
    )
    t_probe = time.perf_counter() - t0
    stem = f"mnist_probe_{sigma2:g}"
    (out / f"{stem}.txt").write_text(repr(probe) + "\n")
    probe.plot().savefig(out / f"{stem}.png", dpi=110)
    record = {
        "sigma2": sigma2,
        "seed": seed,
        "epochs": run["epochs"],
        "n_parameters": int(probe.parameters.size),
        "gradient_norm": float(probe.gradient_norm),
        "curvatures": [float(c) for c in probe.curvatures],
        "n_ascent": int(probe.n_ascent),
        "verdict": str(probe.stability),
        "seconds_refit": round(t_fit, 1),
        "seconds_probe": round(t_probe, 1),
    }
    _write(out / f"{stem}.json", record)
    print(repr(probe))
    return record


# --------------------------------------------------------------------------- stage: stationary

# The network of issue #28's situation: the 60-epoch fit at sigma2 = 2 with 13 active units (seed
# number 1 of the `longer` run with 60 epochs at sigma2 = 2 and 3.5).
STATIONARY_RUN = "mnist_sweep_e60_s2_3.5"
STATIONARY_SEED = 1
# The same seed trained 180 epochs (`longer` at sigma2 = 2): 6 active units, the linear count.
END_RUN = "mnist_sweep_e180_s2"
STATIONARY_STEPS = ("gradient", "probe", "polish")
# The probe's n_eigen at the 180-epoch network: ARPACK found 1 of the top 10 in 472 products
# (15 restarts), so the page asks for the top 3.
STATIONARY_EIGEN = 3
# The probe's fixed-noise ELBO: N_NOISE draws per image, its noise from PROBE_RNG; independent
# noise batches (each N_NOISE draws per image) for the Monte-Carlo errors.
N_NOISE = 4
N_BATCHES = 4
PROBE_RNG = 0
# L-BFGS on -objective: iterations, and the memory of its Hessian approximation.
POLISH_ITERATIONS = 250
POLISH_MEMORY = 20
# ARPACK restarts allowed to the stationary stage's probe (each about 37 products for 3 pairs):
# at the 180-epoch network the top 3 converged in 964 products (15 restarts found 1 of them).
PROBE_MAXITER = 60


def _value_and_gradient(objective: Any, theta: Any) -> tuple[float, Any]:
    import torch

    th = theta.detach().clone().requires_grad_(True)
    value = objective(th)
    (grad,) = torch.autograd.grad(value, th)
    return float(value.detach()), grad


def gradient_report(objective: Any, theta: Any, *, n_batches: int, seed: int) -> dict:
    """The ELBO's gradient at ``theta``, attributed: its norm on the probe's own noise and on
    ``n_batches`` independent noise batches; the norm of the expected gradient estimated without
    the noise's bias (the mean over pairs of batches of ``g_a . g_b``, a <> b: unbiased for
    ``||E g||^2``, as the batches are independent); the noise (``sqrt(tr Cov)`` of one batch's
    gradient); and the rate at which moving along the normalised mean gradient changes each
    latent's mean KL (``d KL_c / dt``, per unit step in theta)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    n, k, q = objective.eps.shape
    own_value, own = _value_and_gradient(objective, theta)
    batches = []
    values = []
    for _ in range(n_batches):
        other = objective.with_noise(torch.randn(n, k, q, generator=gen, dtype=torch.float64))
        v, g = _value_and_gradient(other, theta)
        batches.append(g)
        values.append(v)
    G = torch.stack(batches)
    gram = G @ G.T
    B = n_batches
    pairs = float((gram.sum() - gram.diagonal().sum()) / (B * (B - 1)))
    mean = G.mean(dim=0)
    noise = float(torch.sqrt(((G - mean) ** 2).sum() / (B - 1)))
    # the pair estimate's own spread, roughly: the standard error of the pairs' values (they are
    # not independent, so take it as an indication)
    iu = torch.triu_indices(B, B, 1)
    pair_values = gram[iu[0], iu[1]]
    n_pairs = pair_values.numel()
    pairs_se = float(pair_values.std() / math.sqrt(n_pairs)) if n_pairs > 1 else None
    u = mean / torch.linalg.vector_norm(mean)
    with torch.no_grad():
        kl = objective.kl(theta).numpy()
    rate = torch.func.jvp(objective.kl, (theta,), (u,))[1].detach().numpy()
    # the same along the own-noise gradient (the direction an optimiser of this objective takes)
    rate_own = torch.func.jvp(objective.kl, (theta,), (own / own.norm(),))[1].detach().numpy()
    norms = torch.linalg.vector_norm(G, dim=1)
    cos = gram / norms[:, None] / norms[None, :]
    return {
        "value_own": own_value,
        "value_fresh": values,
        "norm_own": float(torch.linalg.vector_norm(own)),
        "norm_batches": norms.tolist(),
        "norm_mean": float(torch.linalg.vector_norm(mean)),
        "expected_norm2": pairs,
        "expected_norm2_se": pairs_se,
        "noise_per_batch": noise,
        "cosine_between_batches": float(cos[iu[0], iu[1]].mean()),
        "kl": kl.tolist(),
        "dkl_dt_mean_gradient": rate.tolist(),
        "dkl_dt_own_gradient": rate_own.tolist(),
    }


def polish(
    objective: Any, theta0: Any, *, maxiter: int, every: int = 10, progress: bool = True
) -> tuple[Any, dict]:
    """Deterministic full-batch L-BFGS on ``-objective`` (the probe's fixed-noise ELBO) from
    ``theta0``, recording at every iteration the gradient norm, the ELBO and the KL per latent and
    active units of the encoder, and every ``every`` iterations the ELBO on an independent noise
    draw of the same size (is the gain the ELBO's, or the fixed noise's?)."""
    import scipy.optimize
    import torch
    from tqdm.auto import tqdm

    from ppca_stability import collapse_diagnostics

    last: dict[str, Any] = {}

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        th = torch.from_numpy(x)
        value, grad = _value_and_gradient(objective, th)
        last.update(x=x.copy(), value=value, grad_norm=float(torch.linalg.vector_norm(grad)))
        return -value, -grad.numpy()

    history: dict[str, list] = {
        k: [] for k in ("iteration", "seconds", "elbo", "gradient_norm", "kl", "active_units",
                        "n_kl_above", "collapsed", "fresh_iteration", "elbo_fresh")
    }  # fmt: skip
    gen = torch.Generator().manual_seed(3)
    fresh = objective.with_noise(
        torch.randn(*objective.eps.shape, generator=gen, dtype=torch.float64)
    )
    start = time.perf_counter()

    def record(x: np.ndarray, it: int) -> None:
        if "x" not in last or not np.array_equal(last["x"], x):
            fun(x)
        with torch.no_grad():
            mu, logvar = _encode(objective, torch.from_numpy(x))
        diag = collapse_diagnostics(mu.numpy(), logvar.numpy())
        history["iteration"].append(it)
        history["seconds"].append(time.perf_counter() - start)
        history["elbo"].append(last["value"])
        history["gradient_norm"].append(last["grad_norm"])
        history["kl"].append(diag.kl_per_latent.tolist())
        history["active_units"].append(int(diag.active_units))
        history["n_kl_above"].append(int(np.count_nonzero(diag.kl_per_latent > 0.01)))
        history["collapsed"].append([int(c) for c in diag.collapsed])
        if it % every == 0:
            with torch.no_grad():
                history["elbo_fresh"].append(float(fresh(torch.from_numpy(x))))
            history["fresh_iteration"].append(it)

    x0 = theta0.detach().numpy().astype(np.float64).copy()
    record(x0, 0)
    bar = tqdm(total=maxiter, disable=not progress, desc="polish", unit="it", leave=False)

    def callback(intermediate_result: Any) -> None:
        record(intermediate_result.x, len(history["iteration"]))
        bar.update()
        bar.set_postfix(g=f"{history['gradient_norm'][-1]:.3g}", au=history["active_units"][-1])

    res = scipy.optimize.minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={"maxiter": maxiter, "maxcor": POLISH_MEMORY, "ftol": 0.0, "gtol": 0.0},
    )
    bar.close()
    history["message"] = str(res.message)
    history["n_evaluations"] = int(res.nfev)
    history["seconds_total"] = time.perf_counter() - start
    return torch.from_numpy(res.x.copy()), history


def _encode(objective: Any, theta: Any) -> tuple[Any, Any]:
    """The encoder's (mu, log-variance) on the objective's samples at ``theta``."""
    return objective._run(theta, None)


def stationary_stage(
    X: np.ndarray,
    out: Path,
    *,
    sigma2: float = 2.0,
    run_name: str = STATIONARY_RUN,
    end_run: str = END_RUN,
    seed: int = STATIONARY_SEED,
    n_noise: int = N_NOISE,
    n_batches: int = N_BATCHES,
    maxiter: int = POLISH_ITERATIONS,
    n_eigen: int = STATIONARY_EIGEN,
    probe_maxiter: int | None = PROBE_MAXITER,
    steps: tuple[str, ...] = STATIONARY_STEPS,
    progress: bool = True,
) -> dict:
    """Is the network of issue #28's situation (``run_name``, seed number ``seed``) at a saddle,
    a maximum, or still moving? (1) Its gradient on the probe's fixed-noise ELBO (``n_noise``
    draws per image) and on independent noise batches, attributed to the latents; (2) the same
    seed trained longer (``end_run``): its gradient, and the landscape probe there; (3) L-BFGS on
    the fixed-noise ELBO from the first network, with the ELBO on fresh noise alongside. Writes
    ``mnist_stationary.{json,txt}``, ``mnist_stationary.png``, ``mnist_stationary_probe.png``
    (the JSON after each step, so a partial run keeps what it did). ``steps``: a subset of
    ``("gradient", "probe", "polish")`` re-runs only those and keeps the rest of the saved
    record."""
    import torch

    from ppca_stability import predict_collapse
    from ppca_stability.deep._probe import _load_forward_ad, _probe_objective

    torch.set_num_threads(1)
    _load_forward_ad()  # torch scripts its forward-mode rules once (with a warning, silenced)
    run = json.loads((out / f"{run_name}_run.json").read_text())
    end = json.loads((out / f"{end_run}_run.json").read_text())
    Xs = subset(X, run["n_samples"], run["subset_seed"])
    seconds: dict[str, float] = {}
    record: dict[str, Any] = {
        "sigma2": sigma2,
        "seed": seed,
        "n_samples": int(Xs.shape[0]),
        "n_noise": n_noise,
        "n_batches": n_batches,
        "probe_rng": PROBE_RNG,
        "seconds": seconds,
        "threads": 1,
        "torch": torch.__version__,
    }
    path = out / "mnist_stationary.json"
    if set(steps) != set(STATIONARY_STEPS) and path.exists():  # keep the steps not re-run
        saved = json.loads(path.read_text())
        seconds.update(saved.pop("seconds"))
        record = {**saved, **record}
    # (1) the network with the extra units, and its gradient
    t0 = time.perf_counter()
    fit = refit(X, out, sigma2=sigma2, seed=seed, name=run_name)
    seconds["refit"] = time.perf_counter() - t0
    objective, theta0 = _probe_objective(fit, Xs, n_noise=n_noise, rng=PROBE_RNG)
    if "gradient" in steps:
        t0 = time.perf_counter()
        record["start"] = {
            "run": run_name,
            "epochs": run["epochs"],
            "n_parameters": int(theta0.numel()),
            "fit_elbo": fit.elbo,
            "active_units": int(fit.diagnostics.active_units),
            "collapsed": [int(c) for c in fit.diagnostics.collapsed],
            "gradient": gradient_report(objective, theta0, n_batches=n_batches, seed=1),
        }
        seconds["gradient_start"] = time.perf_counter() - t0
    record["linear_active"] = int(
        predict_collapse(fit.cov, latent_dim=fit.latent_dim, sigma2=sigma2).n_active
    )
    _write(path, record)
    # (2) the same seed trained longer: stationary? and the probe there
    if "gradient" in steps or "probe" in steps:
        t0 = time.perf_counter()
        fit_end = refit(X, out, sigma2=sigma2, seed=seed, name=end_run)
        seconds["refit_end"] = time.perf_counter() - t0
    if "gradient" in steps:
        objective_end, theta_end = _probe_objective(fit_end, Xs, n_noise=n_noise, rng=PROBE_RNG)
        t0 = time.perf_counter()
        record["end"] = {
            "run": end_run,
            "epochs": end["epochs"],
            "fit_elbo": fit_end.elbo,
            "active_units": int(fit_end.diagnostics.active_units),
            "collapsed": [int(c) for c in fit_end.diagnostics.collapsed],
            "gradient": gradient_report(objective_end, theta_end, n_batches=n_batches, seed=1),
        }
        seconds["gradient_end"] = time.perf_counter() - t0
        _write(path, record)
    if "probe" in steps:
        _stationary_probe(fit_end, Xs, record, out, n_eigen, probe_maxiter, progress)
        _write(path, record)
    if "polish" in steps:
        _stationary_polish(objective, theta0, record, out, maxiter, progress)
        _write(path, record)
    if "polish" in record and "start" in record:
        _stationary_figure(record, out)
    return record


def _stationary_probe(
    fit_end: Any,
    Xs: np.ndarray,
    record: dict,
    out: Path,
    n_eigen: int,
    probe_maxiter: int | None,
    progress: bool,
) -> None:
    from ppca_stability.deep import landscape_probe

    seconds, n_noise, n_batches = record["seconds"], record["n_noise"], record["n_batches"]
    t0 = time.perf_counter()
    try:
        probe = landscape_probe(
            fit_end, Xs, n_eigen=n_eigen, n_noise=n_noise, n_batches=n_batches, rng=PROBE_RNG,
            threads=1, maxiter=probe_maxiter, progress=progress,
        )  # fmt: skip
    except RuntimeError as err:  # ARPACK did not converge within probe_maxiter restarts
        record["end"]["probe"] = {"error": str(err), "maxiter": probe_maxiter}
        probe = None
    seconds["probe"] = time.perf_counter() - t0
    if probe is not None:
        (out / "mnist_stationary.txt").write_text(repr(probe) + "\n")
        probe.plot().savefig(out / "mnist_stationary_probe.png", dpi=100)
        record["end"]["probe"] = {
            "value": probe.value,
            "gradient_norm": probe.gradient_norm,
            "curvatures": probe.curvatures.tolist(),
            "curvature_mean": probe.curvature_mean.tolist(),
            "curvature_se": probe.curvature_se.tolist(),
            "residuals": probe.residuals.tolist(),
            "thresholds": probe.thresholds.tolist(),
            "revived_latent": probe.revived_latent.tolist(),
            "latent_attribution": probe.latent_attribution.tolist(),
            "n_ascent": probe.n_ascent,
            "verdict": probe.stability,
            "n_products": probe.n_products,
            "method": probe.method,
            "maxiter": probe_maxiter,
        }
        print(repr(probe))


def _stationary_polish(
    objective: Any, theta0: Any, record: dict, out: Path, maxiter: int, progress: bool
) -> None:
    import torch

    seconds, n_batches = record["seconds"], record["n_batches"]
    theta, history = polish(objective, theta0, maxiter=maxiter, progress=progress)
    seconds["polish"] = history["seconds_total"]
    t0 = time.perf_counter()
    record["polish"] = history
    record["polish"]["distance"] = float(torch.linalg.vector_norm(theta - theta0))
    record["polish"]["gradient"] = gradient_report(objective, theta, n_batches=n_batches, seed=2)
    seconds["gradient_polished"] = time.perf_counter() - t0


def _stationary_figure(record: dict, out: Path) -> None:
    """(a) how the gradient at the start moves each latent's KL; (b) the ELBO along the polish on
    its own noise and on fresh noise; (c) KL per latent along the polish; (d) latent counts."""
    from ppca_stability._plotting.scaffold import Figure, latent_colors

    g = record["start"]["gradient"]
    kl0 = np.asarray(g["kl"])
    order = np.argsort(-kl0)
    rate = np.asarray(g["dkl_dt_mean_gradient"])[order]
    fig = Figure(figsize=(15.0, 4.0), layout="constrained")
    ax_r, ax_e, ax_k, ax_a = fig.subplots(1, 4, width_ratios=[1.1, 1.0, 1.0, 1.0])
    rank = np.arange(1, kl0.size + 1)
    rel = rate / kl0[order]
    lin = record["linear_active"]
    ax_r.bar(rank, rel, color=np.where(rank <= lin, "#1b9e77", "#d95f02"))
    ax_r.axhline(0.0, color="black", lw=0.8)
    ax_r.set_xlabel("latent, by KL rank at the start")
    ax_r.set_ylabel("(d KL_c / dt) / KL_c along the mean gradient")
    ax_r.set_title(
        f"(a) the gradient at {record['start']['epochs']} epochs\n(orange: ranks beyond the "
        f"linear count {lin})",
        loc="left",
        fontsize="medium",
    )
    h = record["polish"]
    it = np.asarray(h["iteration"])
    e0 = h["elbo"][0]
    ax_e.plot(it, np.asarray(h["elbo"]) - e0, color="black", label="own noise (polished)")
    ax_e.plot(
        h["fresh_iteration"],
        np.asarray(h["elbo_fresh"]) - h["elbo_fresh"][0],
        color="#d95f02",
        label="fresh noise (same size)",
    )
    ax_e.axhline(0.0, color="0.6", lw=0.8)
    ax_e.set_xlabel("L-BFGS iteration")
    ax_e.set_ylabel("ELBO change [nats per image]")
    ax_e.legend(fontsize="small")
    ax_e.set_title("(b) L-BFGS on the fixed-noise ELBO", loc="left", fontsize="medium")
    kl = np.asarray(h["kl"])
    colors = latent_colors(kl.shape[1])
    for r, c in enumerate(order):
        ax_k.semilogy(it, np.maximum(kl[:, c], 1e-6), color=colors[r],
                      ls="-" if r < lin else "--", lw=1.2 if r < lin else 0.9)  # fmt: skip
    ax_k.axhline(0.01, color="0.5", lw=0.8, ls=":")
    ax_k.set_xlabel("L-BFGS iteration")
    ax_k.set_ylabel("mean KL per latent [nats]")
    ax_k.set_title(f"(c) KL per latent (dashed: ranks > {lin})", loc="left", fontsize="medium")
    ax_a.plot(it, h["active_units"], color="black", label="active units (Var mu > 0.01)")
    ax_a.plot(it, h["n_kl_above"], color="#7570b3", label="KL > 0.01 nats")
    ax_a.plot(it, [len(c) for c in h["collapsed"]], color="#d95f02",
              label="(0.01, 0.01)-collapsed")  # fmt: skip
    ax_a.axhline(lin, color="0.5", lw=0.8, ls=":", label=f"linear prediction ({lin})")
    ax_a.set_xlabel("L-BFGS iteration")
    ax_a.set_ylabel("latents")
    ax_a.set_ylim(-0.5, 19.0)
    ax_a.legend(fontsize="small", loc="upper right")
    ax_a.set_title("(d) latent counts along the polish", loc="left", fontsize="medium")
    fig.savefig(out / "mnist_stationary.png", dpi=90)


def tables(out: Path) -> str:
    """The Markdown tables of docs/mnist.md, from the saved records."""
    lines = []
    lin_path = out / "mnist_linear.json"
    if lin_path.exists():
        lin = json.loads(lin_path.read_text())
        lines += ["| σ² | eigenvalues above σ² | live latents (q = 32) | total KL [nats] |"]
        lines += ["|---:|---:|---:|---:|"]
        for s, p in lin["predictions"].items():
            lines.append(
                f"| {float(s):g} | {lin['n_above'][s]} | {p['n_active']} | {p['total_kl']:.3f} |"
            )
        lines += ["", "| keep k latents | σ² in | β (MSELoss, KL summed) | β (SSE) |"]
        lines += ["|---:|---|---|---|"]
        for k, v in lin["keep"].items():
            s, bm, bs = v["sigma2"], v["beta_mse"], v["beta_sse"]
            lines.append(
                f"| {k} | [{number(s[0])}, {number(s[1])}) | [{number(bm[0])}, {number(bm[1])}) | "
                f"[{number(bs[0])}, {number(bs[1])}) |"
            )
    cmp_path = out / "mnist_compare.json"
    if cmp_path.exists():
        cmp = json.loads(cmp_path.read_text())
        lam1 = cmp["eigenvalues"][0]
        lines += [
            "",
            "| σ² | σ² / λ₁ | active units: linear | deep (per seed) | (ε, δ)-collapsed "
            "(per seed) | total KL: linear | deep (per seed) | KL of the extra units [nats] |",
            "|---:|---:|---:|---|---|---:|---|---|",
        ]
        for r in cmp["rows"]:
            extra = "; ".join(
                ", ".join(f"{v:.3f}" for v in e) if e else "–" for e in r["extra_unit_kl"]
            )
            lines.append(
                f"| {r['sigma2']:g} | {r['sigma2'] / lam1:.3g} | {r['predicted_active_units']} | "
                f"{', '.join(map(str, r['active_units']))} | "
                f"{', '.join(map(str, r['n_collapsed']))} | {r['predicted_total_kl']:.3f} | "
                f"{', '.join(f'{v:.3f}' for v in r['total_kl'])} | {extra} |"
            )
        lines += thresholds_table(cmp["thresholds"], "λ_k (subset)")
        lines += ["", f"probe at σ² = {cmp['probe_sigma2']}"]
    longer = _longer_runs(out)
    if longer and cmp_path.exists():
        from ppca_stability import load

        rows = {r["sigma2"]: r for r in cmp["rows"]}
        lines += [
            "",
            "| σ² | epochs | active units: linear | deep (per seed) | (ε, δ)-collapsed (per seed) "
            "| total KL: linear | deep (per seed) |",
            "|---:|---:|---:|---|---|---:|---|",
        ]
        table = [
            (r["sigma2"], cmp_epochs(out), r["active_units"], r["n_collapsed"], r["total_kl"])
            for r in cmp["rows"]
        ]
        for path in longer:
            sweep = load(path)
            kl = sweep.kl_by_rank.sum(axis=2)
            table += [
                (float(s), sweep.epochs, sweep.active_units[g].tolist(),
                 sweep.n_collapsed[g].tolist(), kl[g].tolist())
                for g, s in enumerate(sweep.sigma2)
            ]  # fmt: skip
        shown = {s for s, *_ in table if s in {t[0] for t in table if t[1] != cmp_epochs(out)}}
        for s, epochs, au, nc, kl in sorted(t for t in table if t[0] in shown):
            r = rows[s]
            lines.append(
                f"| {s:g} | {epochs} | {r['predicted_active_units']} | {', '.join(map(str, au))} | "
                f"{', '.join(map(str, nc))} | {r['predicted_total_kl']:.3f} | "
                f"{', '.join(f'{v:.3f}' for v in kl)} |"
            )
    st_path = out / "mnist_stationary.json"
    if st_path.exists():
        lines += _stationary_tables(json.loads(st_path.read_text()))
    for path in [out / "mnist_sweep.json", *_longer_runs(out)]:
        run_path = path.with_name(f"{path.stem}_run.json")
        if run_path.exists():
            run = json.loads(run_path.read_text())
            lines += [
                "",
                f"{path.stem}: {run['seconds']:.0f} s in all, {run['seconds_per_fit']:.1f} s per "
                f"fit, {run['seconds_per_epoch']:.2f} s per epoch ({run['epochs']} epochs, n = "
                f"{run['n_samples']}, threads = 1)",
            ]
    return "\n".join(lines)


def _stationary_tables(st: dict) -> list[str]:
    """The gradient at the 60- and 180-epoch networks, and how the 60-epoch gradient moves each
    latent's KL (docs/mnist.md §5)."""
    lines = [
        "",
        "| network | active units | (ε, δ)-collapsed | ELBO, own noise | ELBO, fresh noise "
        "| gradient norm, own noise | ‖E g‖ from independent batches | noise of one batch "
        "| cosine between batches |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [
        (f"{st[k]['epochs']} epochs", st[k]["active_units"], len(st[k]["collapsed"]),
         st[k]["gradient"])
        for k in ("start", "end") if k in st
    ]  # fmt: skip
    if "polish" in st and "start" in st:
        h = st["polish"]
        rows.append(
            (f"{st['start']['epochs']} epochs + {h['iteration'][-1]} L-BFGS iterations",
             h["active_units"][-1], len(h["collapsed"][-1]), h["gradient"])
        )  # fmt: skip
    for name, au, nc, g in rows:
        lines.append(
            f"| {name} | {au} | {nc} | {g['value_own']:.3f} | {np.mean(g['value_fresh']):.3f} | "
            f"{g['norm_own']:.3f} | {math.sqrt(max(g['expected_norm2'], 0.0)):.3f} | "
            f"{g['noise_per_batch']:.3f} | {g['cosine_between_batches']:.2f} |"
        )
    if "start" in st:
        g = st["start"]["gradient"]
        kl = np.asarray(g["kl"])
        rate, own = np.asarray(g["dkl_dt_mean_gradient"]), np.asarray(g["dkl_dt_own_gradient"])
        lines += [
            "",
            "| KL rank | latent | KL [nats] | d KL / dt, mean gradient | relative | d KL / dt, "
            "own-noise gradient |",
            "|---:|---:|---:|---:|---:|---:|",
        ]

        def signed(v: float) -> str:
            return "0.0000" if abs(v) < 5e-5 else f"{v:+.4f}"

        for r, c in enumerate(np.argsort(-kl, kind="stable")):
            lines.append(
                f"| {r + 1} | {c} | {kl[c]:.4f} | {signed(rate[c])} | {rate[c] / kl[c]:+.2f} | "
                f"{signed(own[c])} |"
            )
    return lines


def _longer_runs(out: Path) -> list[Path]:
    """The saved ``longer`` sweeps, by number of epochs."""
    paths = [p for p in out.glob("mnist_sweep_e*_s*.json") if not p.stem.endswith("_run")]
    return sorted(paths, key=lambda p: (int(p.stem.split("_")[2][1:]), p.stem))


def cmp_epochs(out: Path) -> int:
    return int(json.loads((out / "mnist_sweep_run.json").read_text())["epochs"])


# --------------------------------------------------------------------------- main

STAGES = ("linear", "deep", "compare", "longer", "probe", "stationary", "tables")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="MNIST directory")
    parser.add_argument("--out", type=Path, default=HERE / "images")
    parser.add_argument("--stage", choices=(*STAGES, "all"), default="all")
    parser.add_argument("--n", type=int, default=N_SUBSET, help="samples for the deep sweep")
    parser.add_argument("--epochs", type=int, default=None, help=f"default {EPOCHS}")
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument(
        "--sigma2",
        type=float,
        nargs="+",
        help=f"default {SWEEP_SIGMA2}; for --stage longer, where deep and linear disagree",
    )
    parser.add_argument(
        "--iterations", type=int, default=POLISH_ITERATIONS, help="L-BFGS iterations (stationary)"
    )
    parser.add_argument(
        "--steps",
        nargs="+",
        choices=STATIONARY_STEPS,
        default=STATIONARY_STEPS,
        help="--stage stationary: re-run only these steps, keep the rest of the saved record",
    )
    parser.add_argument(
        "--n-eigen", type=int, default=STATIONARY_EIGEN, help="--stage stationary: probe's n_eigen"
    )
    parser.add_argument(
        "--probe-maxiter",
        type=int,
        default=PROBE_MAXITER,
        help="--stage stationary: ARPACK restarts allowed to the probe",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    # "all": every stage but the longer runs, whose epochs and sigma2 docs/mnist.md chooses
    stages = ("linear", "deep", "compare", "tables") if args.stage == "all" else (args.stage,)
    X = (
        read_mnist_images(args.data)
        if {"linear", "deep", "longer", "probe", "stationary"} & set(stages)
        else None
    )
    if "linear" in stages:
        linear_stage(X, args.out)
    if "deep" in stages:
        deep_stage(
            X,
            args.out,
            n=args.n,
            sigma2=SWEEP_SIGMA2 if args.sigma2 is None else tuple(args.sigma2),
            epochs=args.epochs or EPOCHS,
            seeds=args.seeds,
            progress=not args.no_progress,
        )
    if "compare" in stages:
        compare_stage(args.out)
    if "longer" in stages:
        longer_stage(
            X,
            args.out,
            sigma2=None if args.sigma2 is None else tuple(args.sigma2),
            epochs=args.epochs or LONGER_EPOCHS,
            n=args.n,
            seeds=args.seeds,
            progress=not args.no_progress,
        )
    if "probe" in stages:
        for s2 in (2.0,) if args.sigma2 is None else args.sigma2:
            probe_stage(X, args.out, sigma2=s2)
    if "stationary" in stages:
        stationary_stage(
            X,
            args.out,
            sigma2=2.0 if args.sigma2 is None else args.sigma2[0],
            maxiter=args.iterations,
            steps=tuple(args.steps),
            n_eigen=args.n_eigen,
            probe_maxiter=args.probe_maxiter,
            progress=not args.no_progress,
        )
    if "tables" in stages:
        print(tables(args.out))


if __name__ == "__main__":
    main()
