"""verify(max_examples=200) over every theorem: wall time per theorem and in total.

Goal (issue 6): under 5 minutes for all theorems at 200 examples each.
Run: python benchmarks/bench_verify.py [--examples 200] [--seed S]
"""

from __future__ import annotations

import argparse
import time

from _timing import table

from ppca_stability import verify


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    t0 = time.perf_counter()
    report = verify(max_examples=args.examples, seed=args.seed, progress=True)
    total = time.perf_counter() - t0
    print(repr(report))
    rows = [
        {
            "theorem": r.name,
            "examples": r.examples,
            "result": r.status,
            "time [s]": f"{r.seconds:.2f}",
        }
        for r in report.results
    ]
    rows.append(
        {
            "theorem": "total",
            "examples": sum(r.examples for r in report.results),
            "result": "passed" if report.passed else "FAILED",
            "time [s]": f"{total:.1f} (goal < 300)",
        }
    )
    print()
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
