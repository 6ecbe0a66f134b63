"""Timing helpers shared by the benchmarks: best-of-n wall time and peak traced memory."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np


def best_time(fn: Callable[[], Any], *, repeat: int = 5, min_total: float = 0.0) -> float:
    """Best wall time of `repeat` calls (more calls while their total is below `min_total` s)."""
    times: list[float] = []
    while len(times) < repeat or sum(times) < min_total:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


# Seconds to wait before each timed call of the dense-linear-algebra benchmarks. NumPy and SciPy
# load separate OpenBLAS libraries, and each one's threads keep spinning for a while after a call:
# a NumPy `eigh` right after a SciPy BLAS call (an ARPACK run) ran up to 15 % slower on two
# cores. `stability_map` on one covariance, with and without the pause (d = 2000, complete
# route, spikes over a spread bulk): 1.17x one eigh in an interleaved benchmark round without
# it; 1.045x (best of 10) and 1.054x (median) with it.
PAUSE = 0.3


def best_times_interleaved(
    *fns: Callable[[], Any], repeat: int = 5, pause: float = 0.0
) -> list[float]:
    """Best wall time of each function over `repeat` rounds, the functions called in turn within
    a round: a ratio of two of them is then not skewed by load that changes between their runs
    (on a shared machine, timing one function's repeats after the other's is). `pause` seconds
    of sleep before each call (`PAUSE` for BLAS-bound calls)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            if pause:
                time.sleep(pause)
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def peak_memory_mib(fn: Callable[[], Any]) -> float:
    """Peak memory traced by tracemalloc during one call (numpy registers its buffers), MiB."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def random_covariance(d: int, rng: np.random.Generator, *, decades: float = 4.0) -> np.ndarray:
    """A dense covariance with a spectrum spread log-uniformly over `decades` orders of
    magnitude."""
    lam = np.logspace(0.0, -decades, d)
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    Q *= np.sign(np.diag(R))
    S = (Q * lam) @ Q.T
    return (S + S.T) / 2


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table."""
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join(
        "| " + " | ".join(str(r.get(c, "")) for c in columns) + " |\n" for r in rows
    )
