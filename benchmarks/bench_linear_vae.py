"""Benchmark: the default linear-VAE trainer against plain PyTorch Adam on digits (issue 5), and
over sizes, sigma2 settings and BLAS thread counts.

Table "adam" (the default): scikit-learn's digits (d = 64), latent_dim 10, sigma2 learned,
closed-form ELBO, from a small random start. Reports steps and wall time until the relative W W^T
error against ``ppca_mle`` first falls below 1e-2, 1e-4 and 1e-6, for ``fit_linear_vae`` (default
settings: L-BFGS with the closed-form encoder) and for Adam as practitioners write it in PyTorch
(float64, lr 1e-3, all of V, log D, W, log sigma2 trained). torch is optional: without it the
reference is skipped with a message.

Table "sizes": ``fit_linear_vae(cov=S, latent_dim=q)`` with default settings until converged, then
``compare_with_ppca(fit, classify=False)``, on sample covariances of n = 5 000 Gaussian draws with
a power-law spectrum 1/i in a random basis (d = 256, 784, 2000: close eigenvalues, as in image
data), on digits (d = 64), and on unfriendly inputs: digits with feature standard deviations spread
over 1e8, and a fixed sigma2 far below the spectrum. sigma2 learned and fixed (at the geometric
mean of lam_q and lam_{q+1}). "BLAS threads 1" is the library's default (the trainer limits BLAS to
one thread, see ``TRAINING_BLAS_THREADS``); "default" lifts that limit (OpenBLAS's own thread
count, stated in the row). Wall time of one fit (best of 3 below 1 s) and the CPU time of all its
threads (the time goal is on CPU time: on 2 cores shared with other work the wall time measures the
load); both include the fit's reference eigendecomposition of S. "agreement" is the largest of
compare_with_ppca's relative checks (W W^T, alignment, ELBO gap, KL, sigma2).

Run: ``python benchmarks/bench_linear_vae.py [--table adam|sizes] [--adam-steps 60000]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _timing import best_time, peak_memory_mib
from sklearn.datasets import load_digits

import ppca_stability._vae.linear_vae as linear_vae_module
from ppca_stability import compare_with_ppca, covariance, fit_linear_vae, ppca_mle

TARGETS = (1e-2, 1e-4, 1e-6)
LATENT_DIM = 10
ADAM_LR = 1e-3
# PyTorch reference: W W^T error measured every this many steps (cheap next to a step).
MEASURE_EVERY = 50


def first_hits(errors, steps, times) -> dict[float, tuple[int, float] | None]:
    hits = {}
    for tol in TARGETS:
        idx = np.flatnonzero(np.asarray(errors) <= tol)
        hits[tol] = (int(steps[idx[0]]), float(times[idx[0]])) if idx.size else None
    return hits


def bench_ours(S: np.ndarray, target: np.ndarray, seed: int) -> tuple[dict, float]:
    snapshots: list[tuple[float, np.ndarray]] = []
    t0 = time.perf_counter()
    fit = fit_linear_vae(
        cov=S,
        latent_dim=LATENT_DIM,
        sigma2="learned",
        rng=seed,
        callback=lambda k, p, s, e: snapshots.append((time.perf_counter(), p.loadings)),
    )
    total = time.perf_counter() - t0
    norm = np.linalg.norm(target)
    errors = [np.linalg.norm(W @ W.T - target) / norm for _, W in snapshots]
    times = [t - t0 for t, _ in snapshots]
    print(
        f"ours: {fit.n_iter} L-BFGS steps, {total:.3f} s in total, final error {errors[-1]:.2e}; "
        f"{fit.message}"
    )
    return first_hits(errors, np.arange(1, len(errors) + 1), times), total


def bench_torch_adam(
    S: np.ndarray, target: np.ndarray, seed: int, max_steps: int
) -> tuple[dict, float] | None:
    try:
        import torch
    except ImportError:
        print("PyTorch reference skipped: torch is not installed (pip install torch==2.13.0).")
        return None
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    dt = torch.float64
    d, q = S.shape[0], LATENT_DIM
    St = torch.tensor(S, dtype=dt)
    trS = torch.trace(St)
    # The practitioner's start: small random weights, unit encoder variances, sigma2 = 1.
    V = (0.01 * torch.randn(q, d, dtype=dt)).requires_grad_()
    logD = torch.zeros(q, dtype=dt, requires_grad=True)
    W = (0.01 * torch.randn(d, q, dtype=dt)).requires_grad_()
    log_s = torch.zeros((), dtype=dt, requires_grad=True)
    opt = torch.optim.Adam([V, logD, W, log_s], lr=ADAM_LR)
    target_t = torch.tensor(target, dtype=dt)
    norm = torch.linalg.norm(target_t)
    errors, steps, times = [], [], []
    t0 = time.perf_counter()
    for step in range(1, max_steps + 1):
        opt.zero_grad()
        s = torch.exp(log_s)
        D = torch.exp(logD)
        VS = V @ St
        A = VS @ V.T + torch.diag(D)
        rec = trS - 2 * torch.sum(W.T * VS) + torch.sum((W.T @ W) * A)
        kl = 0.5 * (torch.trace(A) - q - torch.sum(logD))
        elbo = -0.5 * d * torch.log(2 * torch.pi * s) - rec / (2 * s) - kl
        (-elbo).backward()
        opt.step()
        if step % MEASURE_EVERY == 0:
            with torch.no_grad():
                errors.append(float(torch.linalg.norm(W @ W.T - target_t) / norm))
            steps.append(step)
            times.append(time.perf_counter() - t0)
    print(
        f"torch Adam (lr {ADAM_LR:g}, float64): {max_steps} steps in {times[-1]:.2f} s, "
        f"final error {errors[-1]:.2e}, best {min(errors):.2e}"
    )
    return first_hits(errors, steps, times), times[-1]


def run(seed: int = 0, adam_steps: int = 60_000, table: str = "adam") -> list[dict]:
    """Table "adam": one row per W W^T error target, our time (steps), Adam's, their ratio and the
    verdict. Table "sizes": one row per (problem, q, sigma2, BLAS threads)."""
    if table == "sizes":
        return run_sizes(seed)
    S = covariance(load_digits().data)
    ref = ppca_mle(S, LATENT_DIM, sigma2="learned")
    target = ref.loadings @ ref.loadings.T
    ours, _ = bench_ours(S, target, seed)
    peak = peak_memory_mib(
        lambda: fit_linear_vae(cov=S, latent_dim=LATENT_DIM, sigma2="learned", rng=seed)
    )
    adam = bench_torch_adam(S, target, seed, adam_steps)
    rows = []
    for tol in TARGETS:
        o = ours[tol]
        a = None if adam is None else adam[0][tol]
        row = {
            "case": f"digits q={LATENT_DIM}, W W^T error {tol:g}",
            "ours [s]": "not reached" if o is None else f"{o[1]:.3f} ({o[0]} steps)",
            "reference": f"torch Adam lr {ADAM_LR:g}",
            "goal": {1e-2: "<= 0.1 at 1e-2; reach 1e-6", 1e-6: "reach"}.get(tol, "reported"),
        }
        if adam is None:
            row["met"] = "skipped: torch is not installed (pip install '.[bench]')"
        else:
            row["reference [s]"] = "not reached" if a is None else f"{a[1]:.2f} ({a[0]} steps)"
            if o is not None and a is not None:
                row["ratio"] = f"{o[1] / a[1]:.4f}"
            elif (
                o is not None
            ):  # Adam's whole run did not get there: its total time bounds the ratio
                row["ratio"] = f"< {o[1] / adam[1]:.4f}"
            if tol == 1e-2:
                row["met"] = (
                    "yes"
                    if o is not None and a is not None and o[1] <= 0.1 * a[1]
                    else (
                        f"yes (Adam did not reach it in {adam_steps} steps)"
                        if o is not None and a is None
                        else "NO"
                    )
                )
        if tol == 1e-6:
            row["met"] = "yes" if o is not None else "NO"
        row["peak MiB"] = f"{peak:.1f} (whole fit)"
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- sizes and threads
N_SAMPLES = 5_000
# Goal of issue 17: d = 784, q = 32, sigma2 learned converges to agreement 1e-6 "in seconds".
AGREEMENT_GOAL = 1e-6
SECONDS_GOAL = 5.0
# (problem, q values, BLAS thread settings); None = the library default (one thread while
# training), "default" = the limit lifted. The d = 2000 default-thread runs are left out: on 2 busy
# cores they took 62-196 s against 17-21 s on one thread, which would dominate the run.
SIZES = [
    ("digits", (2, 10, 32), (None,)),
    ("power-law 256", (2, 16, 64), (None,)),
    ("power-law 784", (2, 32, 64), (None,)),
    ("power-law 784", (32,), ("default",)),
    ("power-law 2000", (2, 64), (None,)),
    ("digits, feature std over 1e8", (10,), (None,)),
]


def power_law_cov(d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    X = (rng.standard_normal((N_SAMPLES, d)) / np.sqrt(np.arange(1, d + 1))) @ Q.T
    return covariance(X)


def problem_cov(name: str, seed: int) -> np.ndarray:
    X = load_digits().data.astype(np.float64)
    if name == "digits":
        return covariance(X)
    if name.startswith("digits, feature std"):
        X = X[:, X.std(axis=0) > 0]
        scales = np.logspace(0.0, 8.0, X.shape[1])
        np.random.default_rng(seed).shuffle(scales)
        return covariance(X * scales)
    return power_law_cov(int(name.rsplit(" ", 1)[1]), seed)


def blas_threads() -> str:
    from threadpoolctl import threadpool_info

    counts = sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
    return "/".join(map(str, counts))


def time_fit(S: np.ndarray, q: int, sigma2, seed: int, threads) -> tuple[float, float, object]:
    """Wall time of one default fit (best of 3 when it is under a second), the CPU time of the
    first (all threads), and the fit."""
    previous = linear_vae_module.TRAINING_BLAS_THREADS
    linear_vae_module.TRAINING_BLAS_THREADS = None if threads == "default" else 1
    try:
        fits = []

        def once():
            fits.append(fit_linear_vae(cov=S, latent_dim=q, sigma2=sigma2, rng=seed))

        t0, c0 = time.perf_counter(), time.process_time()
        once()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        if elapsed < 1.0:
            elapsed = min(elapsed, best_time(once, repeat=2))
        return elapsed, cpu, fits[-1]
    finally:
        linear_vae_module.TRAINING_BLAS_THREADS = previous


def run_sizes(seed: int = 0) -> list[dict]:
    import warnings

    from ppca_stability import ConvergenceWarning, spectrum

    rows = []
    for name, qs, thread_settings in SIZES:
        S = problem_cov(name, seed)
        lam = spectrum(S).eigenvalues
        for q in qs:
            settings = ["learned", float(np.sqrt(lam[q - 1] * lam[q]))]
            if name == "digits" and q == 10:
                settings.append(1e-4 * float(lam[0]))  # far below the spectrum: W must grow
            for sigma2 in settings:
                for threads in thread_settings:
                    if threads == "default" and sigma2 != "learned":
                        continue
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        seconds, cpu, fit = time_fit(S, q, sigma2, seed, threads)
                    agreement = compare_with_ppca(fit, classify=False)
                    worst = max(v for v, _ in agreement.checks.values())
                    goal_time = (
                        name == "power-law 784" and q == 32 and sigma2 == "learned"
                    ) and threads is None
                    ok = agreement.passed and fit.converged
                    if goal_time:
                        ok = ok and cpu <= SECONDS_GOAL
                    rows.append(
                        {
                            "case": f"{name}, q={q}, sigma2 "
                            + ("learned" if sigma2 == "learned" else f"{sigma2:.3g}"),
                            "d": S.shape[0],
                            "BLAS threads": "1 (library default)"
                            if threads is None
                            else f"default ({blas_threads()})",
                            "steps": fit.n_iter,
                            "ours [s]": f"{seconds:.3f}",
                            "CPU [s]": f"{cpu:.3f}",
                            "converged": "yes" if fit.converged else "NO",
                            "agreement": f"{worst:.1e}",
                            "goal": f"agreement <= {AGREEMENT_GOAL:g}"
                            + (f", <= {SECONDS_GOAL:g} s CPU" if goal_time else "")
                            + (", time reported" if threads == "default" else ""),
                            "met": "yes" if ok else "NO",
                        }
                    )
                    print(rows[-1], flush=True)
    return rows


def main() -> None:
    from _timing import table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adam-steps", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", choices=("adam", "sizes"), default="adam")
    args = parser.parse_args()
    rows = run(args.seed, args.adam_steps, args.table)
    print(table(rows, list(dict.fromkeys(key for row in rows for key in row))))


if __name__ == "__main__":
    main()
