"""Benchmark (a measurement, not in run_all): block eigensolvers with batched Hessian-vector
products against ARPACK for `landscape_probe`'s top 10 curvatures on the MNIST MLP.

Problem: that of benchmarks/bench_probe.py (784-256-32 tanh MLP VAE, 427 344 parameters, the
first 2 048 MNIST-test images, sigma2 = 0.5 fixed, one noise draw per sample), networks after
``--epochs`` epochs of Adam, all on ONE torch thread (times are CPU seconds, ``process_time``).

Part 1, batched products: the CPU seconds per vector of one batched product of ``b`` vectors
(``torch.autograd.grad(..., is_grads_batched=True)``, the double backward under vmap) against
``b`` single products through the same retained graph, best of 3, and the largest relative
difference of the results.

Part 2, solvers, each in a fresh process (its own peak RSS, ``VmHWM``): ARPACK as the probe runs
it (``_probe._top_eigenpairs``, method "lanczos", default tol); `scipy.sparse.linalg.lobpcg`
(``largest=True``, a block of 10 + ``--guard`` random vectors, residual tolerance
``ARPACK_TOL`` times the probe's shift c, the RMS eigenvalue); and a thick-restart (Krylov-Schur)
block Lanczos with full reorthogonalisation (blocks of ``b``, at most ``nmax`` basis vectors,
10 + max(b, 2) Ritz vectors kept at a restart, stopping once each of the top 10 residuals is
below ``ARPACK_TOL * |lam + c|``, ARPACK's rule on the shifted operator). The block solvers apply
a block as single products (part 1: batching does not make a product cheaper). Reported:
products, CPU seconds, the top 10 and their residuals ``||H v - lam v||`` (recomputed with one
more product each, not counted), peak MiB. A solver stopped by ``--max-products`` says so.

Run: ``python benchmarks/bench_probe_block.py [--epochs 1 30] [--parts 1 2]``; about 20 CPU
minutes per network for part 2.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
import warnings
from pathlib import Path

import numpy as np
from _timing import table
from bench_probe import HIDDEN, LATENT_DIM, MNIST, SIGMA2, _peak_rss_mib, load_images

K = 10


def _setup(epochs: int, folder: Path):
    """The fitted network's probe objective, its retained gradient graph and the product."""
    import torch

    from ppca_stability.deep import _probe, fit_deep_vae

    torch.set_num_threads(1)
    X = load_images(folder=folder)
    fit = fit_deep_vae(X, latent_dim=LATENT_DIM, sigma2=SIGMA2, hidden=HIDDEN, epochs=epochs,
                       batch_size=256, threads=1, rng=0, progress=False)  # fmt: skip
    objective, theta0 = _probe._probe_objective(fit, X, rng=0)
    theta = theta0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(objective(theta), theta, create_graph=True)
    return objective, theta0, theta, grad


def _batched(epochs: int, folder: Path) -> list[dict]:
    import torch

    _, _, theta, grad = _setup(epochs, folder)
    V = torch.from_numpy(np.random.default_rng(1).standard_normal((20, theta.numel())))

    def single(W):
        return torch.stack([torch.autograd.grad(grad, theta, w, retain_graph=True)[0] for w in W])

    def batched(W):
        return torch.autograd.grad(grad, theta, W, retain_graph=True, is_grads_batched=True)[0]

    rows = []
    for b in (1, 4, 10, 20):
        best = {single: np.inf, batched: np.inf}
        out = {}
        for _ in range(3):  # interleaved
            for fn in (single, batched):
                t = time.process_time()
                out[fn] = fn(V[:b])
                best[fn] = min(best[fn], time.process_time() - t)
        diff = torch.linalg.vector_norm(out[batched] - out[single], dim=1)
        rel = float(torch.max(diff / torch.linalg.vector_norm(out[single], dim=1)))
        rows.append({
            "epochs": epochs, "b": b, "single s/vector": f"{best[single] / b:.3f}",
            "batched s/vector": f"{best[batched] / b:.3f}",
            "batched / single": f"{best[batched] / best[single]:.2f}", "max rel diff": f"{rel:.1e}",
        })  # fmt: skip
    return rows


def block_lanczos(matmat, p, k, b, nmax, tolerance, rng, max_products):
    """Top `k` eigenpairs by thick-restart block Lanczos; ``tolerance(theta)`` the residual
    bound of each Ritz value. Returns values, vectors (p, k), residual estimates, products."""
    keep = k + max(b, 2)
    V = np.empty((p, nmax + b))
    T = np.zeros((nmax + b, nmax + b))
    V[:, :b] = np.linalg.qr(rng.standard_normal((p, b)))[0]
    done, n, products = 0, b, 0
    while True:
        while n <= nmax:  # extend the basis by blocks
            W = matmat(V[:, done:n])
            products += n - done
            C = V[:, :n].T @ W
            W -= V[:, :n] @ C
            C2 = V[:, :n].T @ W  # reorthogonalise twice
            W -= V[:, :n] @ C2
            T[:n, done:n] = C + C2
            T[done:n, :done] = T[:done, done:n].T
            Q, R = np.linalg.qr(W)
            V[:, n : 2 * n - done], T[n : 2 * n - done, done:n] = Q, R
            done, n = n, 2 * n - done
        theta, S = np.linalg.eigh((T[:done, :done] + T[:done, :done].T) / 2)
        theta, S = theta[::-1], S[:, ::-1]
        coupling = T[done:n, :done] @ S  # residual of Ritz pair i: ||coupling[:, i]||
        res = np.linalg.norm(coupling, axis=0)
        if np.all(res[:k] <= tolerance(theta[:k])) or products >= max_products:
            return theta[:k], V[:, :done] @ S[:, :k], res[:k], products
        nb = n - done
        V[:, :keep] = V[:, :done] @ S[:, :keep]
        V[:, keep : keep + nb] = V[:, done:n].copy()
        T[:] = 0
        T[:keep, :keep] = np.diag(theta[:keep])
        T[keep : keep + nb, :keep] = coupling[:, :keep]
        done, n = keep, keep + nb


def _solver(epochs: int, solver: str, folder: Path, guard: int, max_products: int) -> dict:
    import scipy.sparse.linalg
    import torch

    from ppca_stability.deep import _probe

    objective, theta0, theta, grad = _setup(epochs, folder)
    p = theta0.numel()

    def hvp(v):
        return torch.autograd.grad(grad, theta, v, retain_graph=True)[0]

    count = [0]

    def matmat(Y):
        Y = np.asarray(Y, dtype=np.float64).reshape(p, -1)
        count[0] += Y.shape[1]
        cols = [hvp(torch.from_numpy(np.ascontiguousarray(Y[:, j]))) for j in range(Y.shape[1])]
        return torch.stack(cols, dim=1).numpy()

    rng = np.random.default_rng(0)
    rng.integers(2**62)  # as the probe: its noise seed first
    cpu = time.process_time()
    note = ""
    if solver == "arpack":

        class Counter:
            def tick(self, k: int = 1) -> None:
                count[0] += k

        vals, vecs, _ = _probe._top_eigenpairs(hvp, objective, theta0, _Cfg(rng), Counter())
        vecs = vecs.T
    else:
        v0 = rng.standard_normal(p)
        shift = float(np.linalg.norm(matmat(v0 / np.linalg.norm(v0))))
        if solver == "lobpcg":
            op = scipy.sparse.linalg.LinearOperator((p, p), matvec=matmat, matmat=matmat,
                                                    dtype=np.float64)  # fmt: skip
            maxiter = max_products // (K + guard)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                lam, Y = scipy.sparse.linalg.lobpcg(
                    op, rng.standard_normal((p, K + guard)), largest=True,
                    tol=_probe.ARPACK_TOL * shift, maxiter=maxiter,
                )  # fmt: skip
            note = "stopped at maxiter" if caught else ""
            order = np.argsort(lam)[::-1][:K]
            vals, vecs = lam[order], Y[:, order]
        else:
            b, nmax = (int(x) for x in solver.split(":")[1:])
            vals, vecs, _, _ = block_lanczos(
                matmat, p, K, b, nmax, lambda t: _probe.ARPACK_TOL * np.abs(t + shift), rng,
                max_products,
            )  # fmt: skip
            note = "stopped at max products" if count[0] >= max_products else ""
    cpu = time.process_time() - cpu
    products = count[0]
    H = matmat(vecs)
    res = np.linalg.norm(H - vecs * vals, axis=0)
    return {
        "epochs": epochs, "solver": solver, "products": products, "CPU s": f"{cpu:.0f}",
        "peak MiB": f"{_peak_rss_mib():.0f}", "note": note,
        "top 10": " ".join(f"{v:.5f}" for v in vals),
        "residuals": " ".join(f"{r:.1e}" for r in res),
    }  # fmt: skip


class _Cfg:
    """The fields of the probe's configuration that `_top_eigenpairs` reads (ARPACK defaults)."""

    def __init__(self, rng: np.random.Generator) -> None:
        from ppca_stability.deep import _probe

        self.n_eigen, self.method, self.tol = K, "lanczos", _probe.ARPACK_TOL
        self.maxiter, self.rng = None, rng


def _child(target, args, queue) -> None:
    try:
        queue.put(target(*args))
    except Exception as exc:  # the parent waits on the queue: always answer
        queue.put({"epochs": args[0], "note": f"failed: {type(exc).__name__}: {exc}"})


def _spawn(target, args):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--parts", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--solvers", nargs="+",
                        default=["arpack", "lobpcg", "block:2:40", "block:4:48"])  # fmt: skip
    parser.add_argument("--guard", type=int, default=4, help="LOBPCG's extra block vectors")
    parser.add_argument("--max-products", type=int, default=1600)
    parser.add_argument("--mnist", type=Path, default=MNIST, help="folder of the IDX .gz files")
    args = parser.parse_args()
    if not (args.mnist / "t10k-images-idx3-ubyte.gz").exists():
        raise SystemExit(f"MNIST-test not found at {args.mnist.resolve()}")
    if 1 in args.parts:
        rows = [r for e in args.epochs for r in _spawn(_batched, (e, args.mnist))]
        print(table(rows, list(rows[0])), flush=True)
    if 2 in args.parts:
        rows = []
        for e in args.epochs:
            for s in args.solvers:
                rows.append(_spawn(_solver, (e, s, args.mnist, args.guard, args.max_products)))
                print(rows[-1], flush=True)
        print(table(rows, list(rows[0])))
