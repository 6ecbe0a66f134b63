"""classify_point on points no closed form hands it (issue 7).

The points: a stationary point ``W_I R`` rotated by a random orthogonal ``R`` (so neither its
columns nor its Hessian are aligned with the eigenbasis), for two active sets: the global maximum
(top latent_dim eigenvalues) and the index-1 saddle that swaps the last kept eigenvalue for the
next one (a single ascent direction among d q: the hardest saddle to see). The answer is checked
against ``stability_map(cov, sigma2, latent_dim).point(active)`` (closed form): stability and Morse
index. Spectrum: 4 decades, log-uniform, random eigenbasis; sigma2 between eigenvalues 2q and 2q+1.

Cases: dense Hessian at d q = 4000 (d = 200, q = 20) and Hessian-free Lanczos at d = 784, q = 64
(d q = 50 176). Goal: under 30 s and under 1 GiB peak memory per classification. Memory is the
peak resident set size (``ru_maxrss``) of a fresh subprocess that builds the problem and classifies
one point: the whole process, interpreter and NumPy included, not just traced allocations.

Run: python benchmarks/bench_classify.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CASES = (("dense", 200, 20), ("lanczos", 784, 64))
GOAL_S, GOAL_MIB = 30.0, 1024.0


def _worker(method: str, d: int, q: int, which: str) -> dict:
    import resource
    import time
    import warnings

    import numpy as np
    from _timing import random_covariance

    from ppca_stability import classify_point, stability_map

    rng = np.random.default_rng(0)
    S = random_covariance(d, rng)
    lam = np.linalg.eigvalsh(S)[::-1]
    s = float(np.sqrt(lam[2 * q] * lam[2 * q + 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the reference must be non-degenerate
        smap = stability_map(S, s, latent_dim=q)
    active = tuple(range(q)) if which == "maximum" else tuple(range(q - 1)) + (q,)
    expected = smap.point(active)
    R, _ = np.linalg.qr(rng.standard_normal((q, q)))
    W = expected.loadings @ R
    t0 = time.perf_counter()
    c = classify_point(W, S, s, method=method)
    elapsed = time.perf_counter() - t0
    return {
        "seconds": elapsed,
        "got": c.stability.name,
        "expected": expected.stability.name,
        "morse": c.morse_index,
        "expected_morse": expected.morse_index,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run() -> list[dict]:
    rows = []
    here = Path(__file__).resolve().parent
    for method, d, q in CASES:
        for which in ("maximum", "saddle"):
            out = subprocess.run(
                [
                    sys.executable,
                    str(here / "bench_classify.py"),
                    "--worker",
                    method,
                    str(d),
                    str(q),
                    which,
                ],
                capture_output=True,
                text=True,
                cwd=here,
            )
            if out.returncode != 0:
                rows.append(
                    {
                        "case": f"{method} d={d} q={q} {which}",
                        "met": "failed: " + (out.stderr.strip().splitlines() or ["?"])[-1],
                    }
                )
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            correct = r["got"] == r["expected"] and r["morse"] == r["expected_morse"]
            ok = r["seconds"] < GOAL_S and r["peak_rss_mib"] < GOAL_MIB and correct
            rows.append(
                {
                    "case": f"{method}, d={d}, q={q} (d q = {d * q}), rotated {which}",
                    "ours [s]": f"{r['seconds']:.2f}",
                    "reference": "goal 30 s",
                    "reference [s]": "30",
                    "ratio": f"{r['seconds'] / GOAL_S:.2f}",
                    "goal": "< 30 s, < 1 GiB, correct",
                    "met": "yes" if ok else "NO",
                    "peak MiB": f"{r['peak_rss_mib']:.0f} (RSS)",
                    "notes": f"{r['got']} (closed form {r['expected']}), Morse index {r['morse']} "
                    f"(closed form {r['expected_morse']})",
                }
            )
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        method, d, q, which = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        print(json.dumps(_worker(method, d, q, which)))
        return
    from _timing import table

    rows = run()
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
