"""The ELBO landscape: elbo_stability_map against stability_map, and classify_vae_point at scale.

Measured (2 shared cores): map ratio 1.00 (digits q=10) and 0.96-1.00 (d=784, q=32); classify at
d=784, q=32: saddles found in 12-30 s (certain: a positive eigenvalue), ~110 MiB; the maximum on
the 4-decade spectrum NOT settled in 60 s (ARPACK on a dense cluster of tiny negative
eigenvalues): reported DEGENERATE with a ConvergenceWarning, i.e. the goal is missed.

1. ``elbo_stability_map(cov, sigma2, latent_dim)`` (build, global maximum, census) against
   ``stability_map`` on the same input. Goal: at most 10 % slower.
2. ``classify_vae_point`` at d = 784, q = 32 (about 50 000 parameters: Lanczos on the Schur
   complement of the encoder block) on three spectra, each at the global maximum (a random signed
   permutation of the columns) and at the index-1 saddle that swaps the last kept eigenvalue for
   the next one. The answer is checked against the closed-form map. Goal: under 60 s and 1 GiB;
   memory is the peak resident set size of a fresh subprocess (interpreter and NumPy included).

Spectra: "decades" (log-uniform over 4 decades, sigma2 between eigenvalues 2q and 2q + 1);
"many-above" (power law lam_i = i^-1, sigma2 below the 500th eigenvalue: 500 eigenvalues exceed
sigma2, so the top of the Hessian's spectrum is a continuum of small negative eigenvalues);
"singular" (rank 600, sigma2 between eigenvalues 2q and 2q + 1).

Run: python benchmarks/bench_elbo.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

D, Q = 784, 32
SPECTRA = ("decades", "many-above", "singular")
GOAL_S, GOAL_MIB, GOAL_RATIO = 60.0, 1024.0, 1.10


def _problem(kind: str):  # noqa: ANN202
    import numpy as np

    rng = np.random.default_rng(0)
    if kind == "decades":
        lam = np.logspace(0.0, -4.0, D)
        sigma2 = float(np.sqrt(lam[2 * Q] * lam[2 * Q + 1]))
    elif kind == "many-above":
        lam = 1.0 / np.arange(1, D + 1)
        sigma2 = float(0.5 * (lam[499] + lam[500]))
    else:
        lam = np.concatenate([np.logspace(0.0, -3.0, 600), np.zeros(D - 600)])
        sigma2 = float(np.sqrt(lam[2 * Q] * lam[2 * Q + 1]))
    Qm, R = np.linalg.qr(rng.standard_normal((D, D)))
    Qm *= np.sign(np.diag(R))
    S = (Qm * lam) @ Qm.T
    return (S + S.T) / 2, sigma2


def _worker(kind: str, which: str) -> dict:
    import resource
    import time

    import numpy as np

    from ppca_stability import LinearVAEParams, classify_vae_point, elbo_stability_map

    S, sigma2 = _problem(kind)
    emap = elbo_stability_map(S, sigma2, latent_dim=Q)
    active = tuple(range(Q)) if which == "maximum" else tuple(range(Q - 1)) + (Q,)
    ref = emap.point(active)
    rng = np.random.default_rng(1)
    perm, signs = rng.permutation(Q), rng.choice([-1.0, 1.0], Q)
    p = ref.params
    params = LinearVAEParams(
        p.encoder_weights[perm] * signs[:, None],
        p.encoder_log_variances[perm],
        p.loadings[:, perm] * signs,
    )
    t0 = time.perf_counter()
    c = classify_vae_point(params, S, sigma2)
    seconds = time.perf_counter() - t0
    return {
        "spectrum": kind,
        "point": which,
        "seconds": seconds,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "stability": c.stability.name,
        "morse": c.morse_index,
        "exact": c.morse_index_exact,
        "expected": [ref.stability.name, ref.morse_index],
        "method": c.method,
    }


def _map_ratio() -> list[dict]:
    import warnings

    import numpy as np
    from _timing import best_time
    from sklearn.datasets import load_digits

    from ppca_stability import elbo_stability_map, stability_map

    X = load_digits().data
    rows = []
    for name, S, sigma2, q in [
        ("digits", np.cov(X.T, ddof=0), 1.0, 10),
        ("decades d=784", _problem("decades")[0], _problem("decades")[1], Q),
    ]:

        def ppca() -> None:
            m = stability_map(S, sigma2, latent_dim=q)
            m.global_maximum, m.census()

        def elbo() -> None:
            m = elbo_stability_map(S, sigma2, latent_dim=q)
            m.global_maximum, m.census()

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_p = best_time(ppca, repeat=7, min_total=1.0)
            t_e = best_time(elbo, repeat=7, min_total=1.0)
        rows.append(
            {"input": name, "stability_map_s": t_p, "elbo_stability_map_s": t_e, "ratio": t_e / t_p}
        )
    return rows


def run() -> list[dict]:
    """The map rows for benchmarks/run_all.py (the classification at scale runs minutes per case
    while its goal is missed at the maximum: run this file for it)."""
    return [
        {
            "case": f"{row['input']}: elbo_stability_map + global_maximum + census",
            "ours [s]": f"{row['elbo_stability_map_s']:.4f}",
            "reference [s]": f"{row['stability_map_s']:.4f} (stability_map)",
            "ratio": f"{row['ratio']:.3f}",
            "goal": f"<= {GOAL_RATIO}",
        }
        for row in _map_ratio()
    ]


def main() -> int:
    here = Path(__file__).parent
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(sys.argv[2], sys.argv[3])))
        return 0
    sys.path.insert(0, str(here))
    ok = True
    for row in _map_ratio():
        ok &= row["ratio"] <= GOAL_RATIO
        print(
            f"map  {row['input']:<14} stability_map {row['stability_map_s'] * 1e3:8.2f} ms   "
            f"elbo_stability_map {row['elbo_stability_map_s'] * 1e3:8.2f} ms   ratio "
            f"{row['ratio']:.3f}"
        )
    for kind in SPECTRA:
        for which in ("maximum", "saddle"):
            out = subprocess.run(
                [sys.executable, __file__, "--worker", kind, which],
                capture_output=True,
                text=True,
                check=True,
                cwd=here,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            agree = [r["stability"], r["morse"]] == r["expected"]
            ok &= agree and r["seconds"] < GOAL_S and r["peak_mib"] < GOAL_MIB
            print(
                f"classify_vae_point d={D} q={Q} {kind:<10} {which:<7}: {r['seconds']:6.2f} s, "
                f"{r['peak_mib']:6.0f} MiB, {r['stability']} morse {r['morse']}"
                f"{'' if r['exact'] else ' (lower bound)'} ({r['method']}; closed form "
                f"{r['expected']})"
            )
    print("all goals met" if ok else "SOME GOALS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
