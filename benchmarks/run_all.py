"""Run every benchmark and write docs/performance.md.

Usage: python benchmarks/run_all.py [--out docs/performance.md] [--only NAME ...]

Each benchmark module exposes ``run(...) -> list[dict]``: one dict per table row, with at least
``case``, ``ratio`` (ours over the reference measured in the same run, unless its notes say
otherwise), ``goal`` and, where it knows, ``met`` and ``peak MiB``. A module that is missing, lacks
``run``, or whose optional dependency is absent gives a row "skipped: <reason>".

On machines where OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are pinned (see the machine notes) numbers
reflect that kernel; to measure NumPy's own choice run, for this command only,
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run_all.py``. The kernel in use is
recorded in the output (threadpoolctl).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import re
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from _timing import table  # noqa: E402

# (title, module, keyword arguments for run())
BENCHMARKS: list[tuple[str, str, dict]] = [
    (
        "stability_map vs numpy.linalg.eigh",
        "bench_stability_map",
        {"sizes": [256, 1024, 2000, 3072]},
    ),
    ("phase_diagram vs numpy.linalg.eigh", "bench_phase", {}),
    ("log_likelihood + gradient", "bench_likelihood", {}),
    ("classify_point on rotated stationary points", "bench_classify", {}),
    ("Hessian accuracy at scale: closed form vs Lanczos", "bench_accuracy", {}),
    ("fit_linear_vae time to agreement vs PyTorch Adam", "bench_linear_vae", {}),
    ("fit_linear_vae over sizes, sigma2 and BLAS threads", "bench_linear_vae", {"table": "sizes"}),
    ("elbo_stability_map vs stability_map", "bench_elbo", {}),
    ("Large d: partial spectra and spectra from data", "bench_partial", {}),
    (
        "I(x; z) of collapse_diagnostics vs evaluation from differences",
        "bench_mutual_information",
        {},
    ),
    ("The automatic routes vs the plain ones (eigh, covariance, PCA)", "bench_routes", {}),
    ("landscape_probe on a 784-256-32 MNIST VAE (Hv over gradient)", "bench_probe", {}),
]


def _met(row: dict) -> str:
    """The row's own verdict, or one derived from a "<= x" goal and its ratio."""
    if row.get("met"):
        return str(row["met"])
    goal = re.match(r"\s*<=\s*([0-9.]+)", str(row.get("goal", "")))
    try:
        ratio = float(row.get("ratio", ""))
    except ValueError:
        return ""
    return ("yes" if ratio <= float(goal.group(1)) else "NO") if goal else ""


def run_one(module_name: str, kwargs: dict) -> list[dict]:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return [{"case": "-", "met": f"skipped: {module_name}.py cannot be imported ({exc})"}]
    try:
        if not hasattr(module, "run"):
            return [{"case": "-", "met": f"skipped: {module_name}.py has no run() entry point"}]
        return module.run(**kwargs)
    except ImportError as exc:  # an optional dependency of the benchmark
        return [{"case": "-", "met": f"skipped: {exc}"}]
    except Exception as exc:  # report and go on: one broken benchmark must not hide the others
        traceback.print_exc()
        return [{"case": "-", "met": f"failed: {type(exc).__name__}: {exc}".splitlines()[0]}]


def machine() -> list[str]:
    import scipy

    lines = [
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores "
        f"({_cpu_model()}), {_memory_gib():.0f} GiB; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, SciPy {scipy.__version__}",
    ]
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            lines.append(
                f"- BLAS: {info.get('internal_api')} {info.get('version')}, kernel "
                f"{info.get('architecture', '?')}, {info.get('num_threads')} threads "
                f"({info.get('filepath', '').rsplit('/', 1)[-1]})"
            )
    except ImportError:
        lines.append("- BLAS: threadpoolctl not installed (pip install threadpoolctl)")
    pinned = {
        k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ
    }
    lines.append(
        f"- OpenBLAS overrides in the environment: {pinned or 'none (unset for this run)'}"
    )
    return lines


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return float("nan")


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE.parent / "docs" / "performance.md"))
    parser.add_argument("--only", nargs="*", help="module names to run (default: all)")
    args = parser.parse_args()
    load_before = _load()
    t0 = time.perf_counter()
    sections, summary = [], []
    for title, name, kwargs in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        print(f"== {title} ({name})", flush=True)
        t = time.perf_counter()
        rows = run_one(name, kwargs)
        for row in rows:
            row["met"] = _met(row)
            summary.append(
                {
                    "benchmark": title,
                    "case": row.get("case", row.get("d", "")),
                    "ratio": row.get("ratio", ""),
                    "goal": row.get("goal", ""),
                    "met": row["met"],
                    "peak MiB": next((v for k, v in row.items() if k.startswith("peak")), ""),
                }
            )
        columns = list(dict.fromkeys(k for row in rows for k in row))
        doc = (importlib.import_module(name).__doc__ or "").strip() if name in sys.modules else ""
        # Command lines like "[--d 2000]" would read as Markdown reference links: escape brackets
        # outside inline code.
        parts = re.split(r"(`+[^`]*`+)", doc)
        doc = "".join(
            p if i % 2 else p.replace("[", "\\[").replace("]", "\\]") for i, p in enumerate(parts)
        )
        sections.append(
            f"## {title}\n\n`benchmarks/{name}.py`, {time.perf_counter() - t:.0f} s.\n\n"
            + (f"{doc}\n\n" if doc else "")
            + table(rows, columns)
        )
        print(table(rows, columns), flush=True)
    load_after = _load()
    text = (
        "# Performance\n\nWritten by `python benchmarks/run_all.py` "
        f"(all benchmarks, {time.perf_counter() - t0:.0f} s). Every ratio is ours over a reference "
        "timed in the same run (best of several calls), so it is comparable across machines; "
        "absolute seconds are not. Peak memory is tracemalloc's peak of NumPy's allocations unless "
        "marked RSS (a subprocess's whole resident set).\n\n"
        + "\n".join(machine())
        + f"\n- load average (1, 5, 15 min) before: {load_before}; after: {load_after}. "
        "The machine has 2 cores shared with other work: a load above ~1 means benchmarks competed "
        "for CPU, which inflates the times of both ours and the reference.\n\n"
        "## Summary\n\n"
        + table(summary, ["benchmark", "case", "ratio", "goal", "met", "peak MiB"])
        + "\n"
        + "\n\n".join(sections)
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
