"""The documentation cannot rot: every example in docs/*.md runs, and what it shows is what it
prints.

* ```python blocks run page by page, in order, in one namespace per page (in a temporary working
  directory). A ```text block right after a python block is its expected output.
* ```console / ```bash blocks: a line ``$ ppca-stability ...`` (or, without prompts, every line)
  is run through ``ppca_stability._cli.main`` and must exit with 0; the lines after a ``$`` command,
  up to the next one, are its expected output.
* Expected output is compared as doctest does, with ELLIPSIS and NORMALIZE_WHITESPACE: ``...``
  stands for anything (used for timings and for the elided rows of long tables).
* Every ``tests/<file>.py::<test>`` the docs cite exists, and the CLI reference has an example of
  every sub-command.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ppca_stability._cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Written by benchmarks/run_all.py: measured numbers, no examples of ours.
GENERATED = {"performance.md"}
PAGES = sorted(p for p in DOCS.glob("*.md") if p.name not in GENERATED)

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.M | re.S,
)
# Shell lines shown for the reader but not run by this test (installation, building the site).
NOT_RUN = (
    "pip ",
    "python3 -m venv",
    "python -m venv",
    ".venv/bin/pip",
    "python docs/tutorial_figures.py",
    "mkdocs ",
    "python -m pytest",
)
CHECKER = doctest.OutputChecker()
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
CITED_TEST = re.compile(r"tests/((?:\w+/)?test_\w+\.py)::(test_\w+)")


def blocks(page: Path) -> list[tuple[str, str, int]]:
    """``(language, dedented body, line number)`` of every fenced block, in order."""
    text = page.read_text()
    out = []
    for m in FENCE.finditer(text):
        indent = len(m["indent"])
        body = "".join(line[indent:] for line in m["body"].splitlines(keepends=True))
        out.append((m["lang"], body, text.count("\n", 0, m.start()) + 1))
    return out


def _check_output(want: str, got: str, where: str) -> None:
    if not CHECKER.check_output(want.strip() + "\n", got.strip() + "\n", FLAGS):
        pytest.fail(f"{where}: the output differs from the docs.\n--- docs\n{want}\n--- got\n{got}")


def _commands(body: str) -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs of a console/bash block."""
    lines = body.splitlines()
    if not any(line.startswith("$ ") for line in lines):
        return [
            (line.strip(), "")
            for line in lines
            if line.strip() and not line.lstrip().startswith("#")
        ]
    pairs: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("$ "):
            pairs.append((line[2:].strip(), []))
        elif pairs:
            pairs[-1][1].append(line)
    return [(cmd, "\n".join(out)) for cmd, out in pairs]


def _run_cli(command: str, where: str) -> None:
    for cmd, want in _commands(command):
        if cmd.startswith(NOT_RUN):
            continue
        argv = shlex.split(cmd)
        assert argv[0] == "ppca-stability", (
            f"{where}: shell example {cmd!r} is neither run nor known to be skipped"
        )
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            try:
                code = main(argv[1:])
            except SystemExit as exc:  # --help exits through argparse
                code = exc.code
        assert code == 0, f"{where}: {cmd!r} exited with {code}\n{stdout.getvalue()}"
        if want.strip():
            _check_output(want, stdout.getvalue(), f"{where}: {cmd!r}")


def _runnable(page: Path) -> bool:
    return any(lang in ("python", "console", "bash") for lang, _, _ in blocks(page))


@pytest.mark.parametrize("page", [p for p in PAGES if _runnable(p)], ids=lambda p: p.name)
def test_examples_run_and_print_what_the_page_shows(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    found = blocks(page)
    for i, (lang, body, line) in enumerate(found):
        where = f"{page.name}:{line}"
        if lang == "python":
            stdout = io.StringIO()
            with contextlib.redirect_stdout(stdout):
                exec(compile(body, where, "exec"), namespace)
            following = found[i + 1] if i + 1 < len(found) else None
            if following is not None and following[0] == "text":
                _check_output(following[1], stdout.getvalue(), where)
        elif lang in ("console", "bash"):
            _run_cli(body, where)


def test_cited_tests_exist():
    cited = {(f, t) for page in DOCS.glob("*.md") for f, t in CITED_TEST.findall(page.read_text())}
    assert cited, "the docs cite no tests"
    missing = []
    for file, test in sorted(cited):
        path = ROOT / "tests" / file
        if not path.exists() or not re.search(rf"^\s*def {test}\(", path.read_text(), flags=re.M):
            missing.append(f"tests/{file}::{test}")
    assert not missing, f"the docs cite tests that do not exist: {missing}"


def test_cli_reference_has_an_example_of_every_command():
    text = (DOCS / "cli.md").read_text()
    shown = {
        shlex.split(cmd)[1]
        for lang, body, _ in blocks(DOCS / "cli.md")
        if lang in ("console", "bash")
        for cmd, _ in _commands(body)
        if cmd.startswith("ppca-stability ")
    }
    assert set(COMMANDS) <= shown, f"cli.md has no example of {sorted(set(COMMANDS) - shown)}"
    for name in COMMANDS:
        assert f"## `{name}`" in text, f"cli.md has no section for `{name}`"


def test_tutorial_figures_script_writes_every_figure(tmp_path):
    script = DOCS / "tutorial_figures.py"
    result = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    tutorial = (DOCS / "tutorial.md").read_text()
    shown = set(re.findall(r"\]\(images/(tutorial_[\w-]+\.png)\)", tutorial))
    written = {p.name for p in tmp_path.glob("*.png")}
    assert shown and shown <= written, (
        f"the tutorial shows {sorted(shown - written)}, which the script does not write"
    )


# ----------------------------------------------------------------------------- formulas
# The curvature of the log-likelihood along a dead column paired with an excluded direction j,
# as the pages write it: (λⱼ − σ²)/σ⁴ or (λⱼ − s) / s², any subscript. Only a power of σ² (or s)
# in the denominator: the other table rows divide by eigenvalues.
DEAD_COLUMN_CURVATURE = re.compile(
    r"\((?P<lam>λ[^\s)]*) − (?P<s>σ²|s)\) ?/ ?(?P<power>σ⁴|σ²|s²|s)(?![\w²⁴])"
)
POWER_OF_SIGMA2 = {"σ²": 1, "s": 1, "σ⁴": 2, "s²": 2}
# Central differences with step h on a quadratic-like function: error O(h²) plus round-off
# eps/h² relative; h = 1e-4 leaves about 1e-7.
FD_STEP = 1e-4
FD_RTOL = 1e-5


def _dead_column_curvature_fd(lam: np.ndarray, s: float, j: int) -> float:
    """d²ℓ/dt² at t = 0 along W = t e_j e_1ᵀ (one column of a (d, 2) W, the rest zero): the
    second central difference of the public log-likelihood at the stationary point W = 0."""
    from ppca_stability import log_likelihood

    cov = np.diag(lam)
    W = np.zeros((lam.size, 2))
    W[j, 0] = FD_STEP

    def ell(t: float) -> float:
        return log_likelihood(t * W / FD_STEP, cov, s)

    return (ell(FD_STEP) - 2 * ell(0.0) + ell(-FD_STEP)) / FD_STEP**2


def test_dead_column_curvature_in_the_docs_is_the_numeric_one():
    found: dict[str, list[str]] = {}
    for page in sorted(DOCS.glob("*.md")):
        for m in DEAD_COLUMN_CURVATURE.finditer(page.read_text()):
            found.setdefault(page.name, []).append(m[0])
    # the pages that state it (so that a rewording cannot make this test pass vacuously)
    assert {"theory.md", "sigma2.md", "cli.md"} <= set(found), found
    lam = np.array([5.0, 3.0, 2.0, 1.0])
    # sigma2 away from 1, so that every power of it gives a different number
    for s in (1.5, 0.25, 4.0):
        for j in range(lam.size):
            numeric = _dead_column_curvature_fd(lam, s, j)
            for page, formulas in found.items():
                for formula in formulas:
                    power = POWER_OF_SIGMA2[DEAD_COLUMN_CURVATURE.fullmatch(formula)["power"]]
                    stated = (lam[j] - s) / s**power
                    assert abs(stated - numeric) <= FD_RTOL * abs(numeric), (
                        f"{page}: {formula} gives {stated:.6g} at λ = {lam[j]}, σ² = {s}; the "
                        f"finite-difference Hessian gives {numeric:.6g}"
                    )
