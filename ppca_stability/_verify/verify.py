"""Check the theory behind the package on generated examples: `verify()`.

Each theorem of theory.md that the package relies on (stationary points, Hessian closed forms,
Morse indices, the census, the joint problem, the linear VAE's ELBO) is a hypothesis property
comparing two independent routes; `verify()` runs them and returns a
`VerificationReport` with, for a failure, hypothesis's shrunk counterexample. Hypothesis is
imported only when `verify()` runs, so ``import ppca_stability`` stays light.
"""

from __future__ import annotations

import importlib.util
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._base.validation import check_positive_int, check_seed
from ..exceptions import DegeneracyWarning

__all__ = ["TheoremResult", "VerificationReport", "theorem_names", "verify"]

DEFAULT_MAX_EXAMPLES = 100


@dataclass(frozen=True, eq=False, slots=True)
class TheoremResult:
    """The outcome of checking one theorem.

    Attributes
    ----------
    name, statement, source : str
        The theorem, in words, and where it comes from (literature or theory.md section).
    examples : int
        Examples tried until the first failure (or in total).
    status : {"passed", "failed", "skipped"}
        ``"skipped"`` when a module the theorem needs is not installed.
    counterexample : str or None
        The shrunk falsifying example (its ``repr``) and the failed check's message.
    seconds : float
        Wall time, shrinking included.
    """

    name: str
    statement: str
    source: str
    examples: int
    status: str
    counterexample: str | None
    seconds: float

    @property
    def passed(self) -> bool:
        return self.status != "failed"

    def __repr__(self) -> str:
        return f"TheoremResult({self.name}: {self.status}, {self.examples} examples)"


@dataclass(frozen=True, eq=False, slots=True)
class VerificationReport:
    """Results of `verify()`, one row per theorem; ``repr`` is the table.

    Attributes
    ----------
    results : tuple of TheoremResult
    max_examples : int
    seed : int or None
        None: hypothesis ran derandomized (the same examples every time).
    """

    results: tuple[TheoremResult, ...]
    max_examples: int
    seed: int | None

    @property
    def passed(self) -> bool:
        """No theorem failed (skipped ones do not count as failures)."""
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[TheoremResult, ...]:
        return tuple(r for r in self.results if r.status == "failed")

    def __getitem__(self, name: str) -> TheoremResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(
            f"no theorem named {name!r} in this report; have {[r.name for r in self.results]}."
        )

    def __repr__(self) -> str:
        n_failed = len(self.failures)
        seed = "derandomized" if self.seed is None else f"seed {self.seed}"
        width = max([len(r.name) for r in self.results] + [7])
        rows = [
            f"VerificationReport: {'PASSED' if self.passed else 'FAILED'} "
            f"({len(self.results) - n_failed} of {len(self.results)} theorems hold; up to "
            f"{self.max_examples} examples each, {seed})",
            f"  {'theorem':<{width}}  {'examples':>8}  {'result':<7}  {'time':>7}  source",
        ]
        rows += [
            f"  {r.name:<{width}}  {r.examples:>8}  {r.status:<7}  {r.seconds:>6.2f}s  {r.source}"
            for r in self.results
        ]
        for r in self.failures:
            rows += ["", f"{r.name}: {r.statement}", "  counterexample (shrunk):"]
            rows += [f"    {line}" for line in (r.counterexample or "").splitlines()]
        return "\n".join(rows)


# The registry's names, in its order, without importing it (it imports Hypothesis): the command
# line lists them in its --help. A test checks that they match the registry.
THEOREM_NAMES = (
    "gradient_vanishes",
    "hessian_closed_form",
    "morse_index_formula",
    "no_spurious_maxima",
    "zero_is_minimum_iff",
    "orbit_count",
    "census_gaussian_binomial",
    "joint_stationary_points",
    "scale_equivariance",
    "rotation_invariance",
    "elbo_bound_and_gap",
    "optimal_encoder",
    "stochastic_elbo_unbiased",
    "elbo_no_spurious_maxima",
    "elbo_diagonal_maximum_isolated",
)


def theorem_names() -> tuple[str, ...]:
    """Names of the theorems `verify()` knows, in the order it checks them.

    Examples
    --------
    >>> from ppca_stability import theorem_names
    >>> theorem_names()[:3]
    ('gradient_vanishes', 'hessian_closed_form', 'morse_index_formula')
    """
    return THEOREM_NAMES


def _verify_iv(max_examples: Any, seed: Any, theorems: Any) -> tuple[int, int | None, list[str]]:
    max_examples = check_positive_int(max_examples, "max_examples")
    seed = check_seed(seed)
    names = theorem_names()
    if theorems is None:
        return max_examples, seed, list(names)
    if isinstance(theorems, str):
        theorems = [theorems]
    if not isinstance(theorems, Sequence) or not theorems:
        raise TypeError(
            f"`theorems` must be a non-empty sequence of theorem names or None; got {theorems!r}."
        )
    unknown = [t for t in theorems if t not in names]
    if unknown:
        raise ValueError(
            f"`theorems` contains unknown name(s) {unknown!r}; choose from {', '.join(names)}."
        )
    return max_examples, seed, list(dict.fromkeys(theorems))


def _run(theorem: Any, max_examples: int, seed: int | None, bar: Any) -> TheoremResult:
    import hypothesis
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings

    if theorem.requires and importlib.util.find_spec(theorem.requires) is None:
        return TheoremResult(
            theorem.name,
            theorem.statement,
            theorem.source,
            0,
            "skipped",
            f"needs {theorem.requires}, which is not installed",
            0.0,
        )
    state: dict[str, Any] = {"tried": 0, "failed": False, "last": None, "interrupt": None}

    def count() -> None:
        if not state["failed"]:
            state["tried"] += 1
            bar.update(1)

    def prop(example: Any) -> None:
        try:
            theorem.check(example)
        except hypothesis.errors.UnsatisfiedAssumption:
            raise
        except (KeyboardInterrupt, SystemExit) as exc:
            # An interrupt is no counterexample: hypothesis would report it as a flaky failure.
            state["interrupt"] = exc
            raise
        except Exception as exc:
            count()
            state["failed"] = True
            state["last"] = (example, exc)  # the final call replays the shrunk example
            raise
        count()

    test = settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        derandomize=seed is None,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        print_blob=False,
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
    )(given(theorem.strategy())(prop))
    if seed is not None:
        test = hypothesis.seed(seed)(test)
    t0 = time.perf_counter()
    counterexample = None
    try:
        test()
    except Exception as exc:  # the property failed, or hypothesis could not generate examples
        interrupt = state["interrupt"] or _interrupt_in(exc)
        if interrupt is not None:  # interrupted (SIGINT, SIGTERM): no verdict at all
            raise interrupt from None
        if state["last"] is None:
            counterexample = f"{type(exc).__name__}: {exc}"
        else:
            example, error = state["last"]
            counterexample = f"{example!r}\n{type(error).__name__}: {error}"
    status = "passed" if counterexample is None else "failed"
    return TheoremResult(
        theorem.name,
        theorem.statement,
        theorem.source,
        state["tried"],
        status,
        counterexample,
        time.perf_counter() - t0,
    )


def _interrupt_in(exc: BaseException, seen: set[int] | None = None) -> BaseException | None:
    """The KeyboardInterrupt or SystemExit that `exc` carries (hypothesis wraps an interrupt that
    lands in its own code, or that a replay did not repeat, in an error of its own), if any."""
    seen = set() if seen is None else seen
    if id(exc) in seen:
        return None
    seen.add(id(exc))
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return exc
    inner = [exc.__cause__, exc.__context__, *getattr(exc, "exceptions", ())]
    for e in inner:
        found = None if e is None else _interrupt_in(e, seen)
        if found is not None:
            return found
    return None


def verify(
    *,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    seed: int | None = None,
    theorems: Sequence[str] | None = None,
    progress: bool = False,
) -> VerificationReport:
    """Check the theorems behind the package on generated examples (hypothesis properties).

    Parameters
    ----------
    max_examples : int, default 100
        Examples per theorem (hypothesis's ``max_examples``; fewer when the space is exhausted).
    seed : int, optional
        Random seed; by default hypothesis is derandomized, so every run checks the same examples.
    theorems : sequence of str, optional
        Names to check (see `theorem_names()`); all by default. Theorems about the linear VAE
        are reported as skipped when `ppca_stability._vae.linear_vae` is not available.
    progress : bool, default False
        Show a progress bar (tqdm) over all examples.

    Returns
    -------
    VerificationReport
        ``.passed``; per theorem its statement, source, examples tried and, on failure, the shrunk
        counterexample.

    Examples
    --------
    >>> from ppca_stability import verify
    >>> report = verify(max_examples=5, theorems=["orbit_count", "census_gaussian_binomial"])
    >>> report.passed, [r.examples for r in report.results]
    (True, [5, 5])
    """
    max_examples, seed, names = _verify_iv(max_examples, seed, theorems)
    from tqdm.auto import tqdm

    from .theorems import THEOREMS

    results = []
    with (
        tqdm(total=len(names) * max_examples, disable=not progress, unit="ex", leave=False) as bar,
        warnings.catch_warnings(),
    ):
        # Degenerate examples are drawn on purpose: the theorems state what happens there.
        warnings.simplefilter("ignore", DegeneracyWarning)
        for i, name in enumerate(names):
            bar.set_description(name)
            result = _run(THEOREMS[name], max_examples, seed, bar)
            bar.update((i + 1) * max_examples - bar.n)
            results.append(result)
    return VerificationReport(tuple(results), max_examples, seed)
