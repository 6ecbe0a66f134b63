"""Benchmark: `landscape_probe` on an MNIST-sized deep VAE - time and memory for the top 10
curvatures, and the cost of one Hessian-vector product against one forward-backward pass.

Problem: the first 2 048 images of MNIST-test (pixels / 255, d = 784), the reference VAE of
``ppca_stability.deep`` with a 784-256-32 tanh MLP encoder and the mirrored decoder (427 344
parameters), sigma2 = 0.5 fixed (23 eigenvalues of the data's covariance exceed it: the linear
theory collapses 9 of the 32 latents). Cases: the network after 1 epoch of Adam (near its
initialisation) and after 30 epochs (batches of 256). The probe: ``n_eigen=10``, ``n_noise=1``,
``n_batches=4``, default ARPACK tolerance, on ``--threads`` torch threads (default 2).

Each case runs in a fresh process so that its peak RSS (``VmHWM``) is its own; the fit is
not timed. Reported: wall and CPU seconds of the probe (CPU time is the fairer number on a shared
machine), Hessian-vector products used, and the best of 5 wall (CPU) times of one gradient
(forward-backward pass on the 2 048 samples) and of one Hessian-vector product; the goal is the
top 10 curvatures in under 120 s and 2 GiB on 2 cores. Then the same probe with ``tol=1e-3``
(not timed): its products and verdict, and how far the default's curvatures lie from it beside
the smallest Monte-Carlo standard deviation of a curvature (what the default tolerance buys).
The images are read from ``../shared/data/mnist`` (the IDX files, with numpy and gzip); without
them the benchmark says so.

Run: ``python benchmarks/bench_probe.py [--threads 2] [--epochs 1 30] [--mnist DIR]``.
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import resource
import time
from pathlib import Path

import numpy as np
from _timing import table

MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"
N_SAMPLES = 2048
HIDDEN = (256,)
LATENT_DIM = 32
SIGMA2 = 0.5
GOAL_SECONDS = 120.0
GOAL_MIB = 2048.0
REFERENCE_TOL = 1e-3


def load_images(n: int = N_SAMPLES, folder: Path = MNIST) -> np.ndarray:
    """The first `n` MNIST-test images as float64 rows in [0, 1]."""
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read()
    header = np.frombuffer(raw[:16], dtype=">u4")
    if header[0] != 2051:
        raise ValueError(f"not an IDX image file: magic {header[0]}")
    count, rows, cols = (int(v) for v in header[1:])
    images = np.frombuffer(raw[16:], dtype=np.uint8).reshape(count, rows * cols)
    return images[:n].astype(np.float64) / 255.0


def _peak_rss_mib() -> float:
    """This process's peak resident memory, MiB: Linux's ``VmHWM``, which belongs to the process
    image; ``ru_maxrss`` survives ``fork`` + ``exec`` and so reports the parent's peak when
    that was larger (inside run_all: 2 405 MiB against 961 MiB for the probe run alone)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best(fn, repeat: int = 5) -> tuple[float, float]:
    """Best wall and best CPU seconds of `repeat` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def _case(epochs: int, threads: int, folder: Path) -> dict:
    import torch

    from ppca_stability.deep import fit_deep_vae, landscape_probe

    X = load_images(folder=folder)
    fit = fit_deep_vae(
        X,
        latent_dim=LATENT_DIM,
        sigma2=SIGMA2,
        hidden=HIDDEN,
        epochs=epochs,
        batch_size=256,
        threads=threads,
        rng=0,
        progress=False,
    )
    torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    probe = landscape_probe(fit, X, n_eigen=10, rng=0, threads=threads)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss = _peak_rss_mib()
    # One gradient against one Hessian-vector product, through the probe's own objective.
    theta = torch.as_tensor(probe.parameters).clone().requires_grad_(True)
    grad = torch.func.grad(probe.objective)
    g_wall, g_cpu = _best(lambda: grad(theta.detach()))
    (g,) = torch.autograd.grad(probe.objective(theta), theta, create_graph=True)
    v = torch.as_tensor(probe.directions[0])
    h_wall, h_cpu = _best(lambda: torch.autograd.grad(g, theta, v, retain_graph=True))
    met = wall < GOAL_SECONDS and rss < GOAL_MIB
    print(f"{epochs} epoch(s):\n{probe!r}\n", flush=True)
    # The same probe with a tight tolerance: how far the default's curvatures are from it.
    ref = landscape_probe(fit, X, n_eigen=10, rng=0, threads=threads, tol=REFERENCE_TOL)
    print(f"{epochs} epoch(s), tol={REFERENCE_TOL:g}:\n{ref!r}\n", flush=True)
    shift = np.abs(probe.curvatures - ref.curvatures)
    return {
        "case": f"{epochs} epoch{'s' if epochs > 1 else ''}",
        "parameters": probe.n_parameters,
        "probe wall s": f"{wall:.1f}",
        "probe CPU s": f"{cpu:.1f}",
        "Hv products": probe.n_products,
        "gradient s": f"{g_wall:.3f} ({g_cpu:.3f} CPU)",
        "Hv s": f"{h_wall:.3f} ({h_cpu:.3f} CPU)",
        "ratio": f"{h_wall / g_wall:.2f}",
        "peak MiB": f"{rss:.0f}",
        "goal": f"top 10 < {GOAL_SECONDS:.0f} s, < {GOAL_MIB / 1024:.0f} GiB",
        "met": "yes" if met else "NO",
        "verdict": probe.stability,
        "top curvatures": ", ".join(f"{c:.3g}" for c in probe.curvatures[:3]),
        "largest residual": f"{probe.residuals.max():.2g}",
        f"tol={REFERENCE_TOL:g}: products, verdict": f"{ref.n_products}, {ref.stability}",
        "max |curvature change| / min MC sd": (f"{shift.max():.2g} / {ref.curvature_sd.min():.2g}"),
        "gradient norm": f"{probe.gradient_norm:.3g}",
    }


def _child(epochs: int, threads: int, folder: Path, queue) -> None:
    try:
        row = _case(epochs, threads, folder)
        print(row, flush=True)  # each case as soon as it is measured
        queue.put(row)
    except Exception as exc:  # the parent waits on the queue: always answer
        queue.put({"case": f"{epochs} epochs", "met": f"failed: {type(exc).__name__}: {exc}"})


def run(epochs: tuple[int, ...] = (1, 30), threads: int = 2, mnist: Path = MNIST) -> list[dict]:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ImportError('needs the "deep" extra (torch)') from None
    if not (mnist / "t10k-images-idx3-ubyte.gz").exists():
        return [{"case": "-", "met": f"skipped: MNIST-test not found at {mnist.resolve()}"}]
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for e in epochs:
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(e, threads, mnist, queue))
        proc.start()
        row = queue.get()
        proc.join()
        rows.append(row)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--mnist", type=Path, default=MNIST, help="folder of the IDX .gz files")
    args = parser.parse_args()
    rows = run(tuple(args.epochs), args.threads, args.mnist)
    print(table(rows, list(rows[0])))
