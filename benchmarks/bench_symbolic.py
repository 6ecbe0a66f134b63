"""The symbolic core against the speed targets of issue 3 (reported, not asserted).

* exact_stability_map, 8 rational eigenvalues, latent_dim 4, rational sigma2: goal < 5 s;
* exact_stability_map, 6 rational eigenvalues, latent_dim 3, symbolic sigma2: goal < 30 s;
* verify_hessian_closed_form at (d, q) = (3, 2): goal < 60 s; other sizes with --proof-sizes.

Each run is a fresh process, so sympy's caches start cold (as in a user's first call).
Run: python benchmarks/bench_symbolic.py [--proof-sizes 2x1 3x2 3x3 4x2]

Measured on the 2-core development machine (cold process each):

| case | seconds | goal [s] |
|---|---|---|
| exact_stability_map, d=8, q=4, sigma2=1/2 (all 163 points) | 0.49 | < 5 |
| exact_stability_map, d=6, q=3, symbolic sigma2 | 0.43 | < 30 |
| verify_hessian_closed_form(2, 1) | 0.31 |  |
| verify_hessian_closed_form(2, 2) | 1.11 |  |
| verify_hessian_closed_form(3, 1) | 0.46 |  |
| verify_hessian_closed_form(3, 2) | 3.44 | < 60 |
| verify_hessian_closed_form(4, 1) | 0.77 |  |
| verify_hessian_closed_form(4, 2) | 13.32 |  |
| verify_hessian_closed_form(3, 3) | 17.92 |  |
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _timing import table

CASES = {
    "map-rational": (
        "exact_stability_map, d=8, q=4, sigma2=1/2 (all 163 points)",
        5.0,
        "exact_stability_map(['17/2', 7, '13/2', 5, 4, '7/2', 2, 1], '1/2', latent_dim=4)",
    ),
    "map-symbolic": (
        "exact_stability_map, d=6, q=3, symbolic sigma2",
        30.0,
        "exact_stability_map(['11/2', 5, 4, 3, '5/2', 1], sympy.Symbol('s'), latent_dim=3)",
    ),
}
SETUP = (
    "import sympy; "
    "from ppca_stability.symbolic import exact_stability_map, verify_hessian_closed_form"
)


def cold_seconds(statement: str, timeout: float) -> str:
    """Wall time of `statement` in a fresh interpreter (import excluded), or a timeout note."""
    code = (
        f"{SETUP}\nimport time\nt = time.perf_counter()\nr = {statement}\n"
        "print(time.perf_counter() - t)"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return f"> {timeout:.0f}"
    return f"{float(out.stdout.strip().splitlines()[-1]):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--proof-sizes", nargs="*", default=["2x1", "3x2"], help="d x q sizes for the proof"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds before a case is abandoned"
    )
    args = parser.parse_args()
    rows = [
        {"case": label, "seconds": cold_seconds(stmt, args.timeout), "goal [s]": f"< {goal:g}"}
        for label, goal, stmt in CASES.values()
    ]
    for size in args.proof_sizes:
        d, q = map(int, size.split("x"))
        stmt = f"verify_hessian_closed_form({d}, {q})"
        rows.append(
            {
                "case": f"verify_hessian_closed_form({d}, {q})",
                "seconds": cold_seconds(stmt, args.timeout),
                "goal [s]": "< 60" if (d, q) == (3, 2) else "",
            }
        )
    print(table(rows, ["case", "seconds", "goal [s]"]))


if __name__ == "__main__":
    main()
