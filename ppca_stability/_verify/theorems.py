"""The theorems `ppca_stability._verify.verify()` checks, each a hypothesis property.

Every property compares two independent routes: the closed forms of theory.md (as the package
implements them) against dense numeric linear algebra, brute-force enumeration, an independent
polynomial recursion, or exact invariances. Each draws small problems (d <= 6) from
`ppca_stability.strategies`; a failing check raises ``AssertionError`` with the numbers
that disagree. This module imports hypothesis; `ppca_stability._verify.verify` imports it only
when it runs.
"""

from __future__ import annotations

# Kept whole: a catalogue read top to bottom (problems, numeric oracles, pPCA theorems, linear-VAE
# theorems, ELBO landscape) whose registry at the end names each theorem's strategy and check;
# they are private to it, and splitting the file would turn them into shared names.
import itertools
import math
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp
from hypothesis.strategies import SearchStrategy

from .._base.classification import Stability
from .._base.tolerance import DEFAULT_RTOL
from .._ppca.classify import classify_point
from .._ppca.hessian import log_likelihood_hessian
from .._ppca.likelihood import log_likelihood, log_likelihood_gradient
from .._ppca.stability import StabilityMap, stability_map
from .._spectra.container import from_eigenpairs
from ..exceptions import DegeneracyWarning
from ..strategies import SIGMA2_KINDS, orthogonal_matrices, sigma2_values, spectra

# Tolerances, named by what they absorb.
# Gradient at an enumerated point, relative to the size of either of its terms C^-1 W and
# C^-1 S C^-1 W: eigenvector round-off amplified by the inverse relative gap.
GRADIENT_RTOL = 1e-8
# Closed-form against dense numeric Hessian eigenvalues, relative to the largest |eigenvalue|.
HESSIAN_RTOL = 1e-8
# A numeric Hessian eigenvalue below this (relative to the largest) is a zero; examples whose
# closed-form non-zero eigenvalues come within DECIDABLE_FACTOR of it are undecidable and skipped.
ZERO_RTOL = 1e-10
DECIDABLE_FACTOR = 100.0
# Exact identities evaluated by two float64 routes (log-likelihoods, ELBO gap, encoders).
IDENTITY_RTOL = 1e-9
# The stochastic ELBO's sample mean must lie within this many standard errors of the closed form.
Z_SCORE = 6.0
N_MC = 400

THEORY = "theory.md"


@dataclass(frozen=True, slots=True)
class Theorem:
    """A named statement, its source, the strategy of its examples and the check of one example."""

    name: str
    statement: str
    source: str
    strategy: Callable[[], SearchStrategy]
    check: Callable[[Any], None]
    requires: str | None = None


# ----------------------------------------------------------------------------- problems
@dataclass(frozen=True, eq=False, slots=True)
class Problem:
    """``(cov, sigma2, latent_dim)`` with the exact drawn eigenvalues and basis of ``cov``."""

    eigenvalues: np.ndarray
    basis: np.ndarray
    sigma2: float | str
    latent_dim: int

    @property
    def cov(self) -> np.ndarray:
        return from_eigenpairs(self.eigenvalues, self.basis)

    @property
    def d(self) -> int:
        return self.eigenvalues.size

    def map(self, cov: np.ndarray | None = None, sigma2: float | str | None = None) -> StabilityMap:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegeneracyWarning)
            return stability_map(
                self.cov if cov is None else cov,
                self.sigma2 if sigma2 is None else sigma2,
                latent_dim=self.latent_dim,
            )

    def __repr__(self) -> str:
        identity = np.array_equal(self.basis, np.eye(self.d))
        rows = [
            "Problem",
            f"  eigenvalues  {self.eigenvalues.tolist()!r}",
            f"  sigma2       {self.sigma2!r}",
            f"  latent_dim   {self.latent_dim}",
            "  basis        identity" if identity else f"  basis        {self.basis.tolist()!r}",
        ]
        return "\n".join(rows)


@hs.composite
def _problems(
    draw: Any,
    *,
    learned: bool = False,
    kinds: tuple[str, ...] = ("between", "outside"),
    near_rtol: tuple[float, float] = (1e-14, 1e-6),
    rotate: bool = True,
    max_dim: int = 5,
    **spectrum_kw: Any,
) -> Problem:
    lam = draw(spectra(min_dim=2 if learned else 1, max_dim=max_dim, **spectrum_kw))
    d = lam.size
    q = draw(hs.integers(1, d - 1 if learned else d))
    basis = draw(orthogonal_matrices(d)) if rotate else np.eye(d)
    s = "learned" if learned else draw(sigma2_values(lam, kinds=kinds, near_rtol=near_rtol))
    return Problem(lam, basis, s, q)


# Well-separated spectra in [0.1, 10]: every sign of every Hessian eigenvalue is numerically
# decidable, so the numeric route can judge the closed form's inertia.
_SEPARATED: dict[str, Any] = {"min_value": 0.1, "max_value": 10.0, "min_gap": 0.01}


def _generic(learned: bool = False) -> SearchStrategy[Problem]:
    return _problems(learned=learned, **_SEPARATED)


def _either() -> SearchStrategy[Problem]:
    return hs.one_of(_generic(), _generic(learned=True))


# ----------------------------------------------------------------------------- numeric oracles
def _numeric_hessian_eigenvalues(point: Any, cov: np.ndarray, joint: bool) -> np.ndarray:
    H = log_likelihood_hessian(point.loadings, cov, point.sigma2, sigma2_learned=joint)
    return np.linalg.eigvalsh(H)


def _numeric_morse_index(point: Any, cov: np.ndarray, joint: bool) -> int:
    """Positive eigenvalues of the dense Hessian; skips examples whose signs round-off could
    flip."""
    h = _numeric_hessian_eigenvalues(point, cov, joint)
    scale = float(np.max(np.abs(h)))
    closed = point.hessian_eigenvalues
    nonzero = np.abs(closed) > ZERO_RTOL * scale
    assume(np.all(np.abs(closed[nonzero]) > DECIDABLE_FACTOR * ZERO_RTOL * scale))
    return int(np.sum(h > ZERO_RTOL * scale))


def _morse_formula(active: tuple[int, ...], m: int, q: int) -> int:
    """theory.md §3: ``n+ = (q - k)(m - k) + sum_c (i_c - c)`` (1-based, so ``i_c - c`` 0-based
    too)."""
    k = len(active)
    return (q - k) * (m - k) + sum(i - c for c, i in enumerate(active))


def _gaussian_binomial(m: int, k: int) -> list[int]:
    """Coefficients of ``[m choose k]_t`` by the t-Pascal rule ``[m, k] = [m-1, k-1] + t^k [m-1,
    k]``
    (the census module uses the product formula instead)."""
    rows = {(0, 0): [1]}
    for n in range(1, m + 1):
        for j in range(0, min(n, k) + 1):
            a = rows.get((n - 1, j - 1), []) if j else []
            b = [0] * j + rows.get((n - 1, j), [])
            rows[(n, j)] = [x + y for x, y in itertools.zip_longest(a, b, fillvalue=0)]
    return rows[(m, k)]


def _census_reference(m: int, q: int) -> dict[int, int]:
    """``P_s(t) = sum_k t^{(q-k)(m-k)} [m choose k]_t`` as ``{index: count}``."""
    counts: dict[int, int] = {}
    for k in range(min(q, m) + 1):
        for j, c in enumerate(_gaussian_binomial(m, k)):
            if c:
                n = (q - k) * (m - k) + j
                counts[n] = counts.get(n, 0) + c
    return dict(sorted(counts.items()))


def _close(a: float, b: float, rtol: float, scale: float = 0.0) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b), scale)


# ----------------------------------------------------------------------------- pPCA theorems
def _check_gradient(problem: Problem) -> None:
    cov, smap = problem.cov, problem.map()
    for p in smap.points:
        g_W, g_s = log_likelihood_gradient(p.loadings, cov, p.sigma2)
        lam = smap.eigenvalues[list(p.active)]
        term = math.sqrt(float(np.sum((lam - p.sigma2) / lam**2)))  # |C^-1 W|_F at W_I
        assert np.linalg.norm(g_W) <= GRADIENT_RTOL * max(term, 1.0 / math.sqrt(p.sigma2)), (
            f"|grad_W| = {np.linalg.norm(g_W):.3g} at active {p.active}, sigma2 {p.sigma2!r}"
        )
        if smap.is_learned:
            assert abs(g_s) <= GRADIENT_RTOL * problem.d / p.sigma2, (
                f"dl/dsigma2 = {g_s:.3g} at active {p.active}, s_I {p.sigma2!r}"
            )


def _check_hessian(problem: Problem) -> None:
    cov, smap = problem.cov, problem.map()
    for p in smap.points:
        numeric = _numeric_hessian_eigenvalues(p, cov, smap.is_learned)
        closed = p.hessian_eigenvalues
        err = float(np.max(np.abs(closed - numeric)))
        # The Hessian's natural scale lam_1 / s^2 floors the largest |eigenvalue| (all zero at s =
        # lam).
        scale = max(float(np.max(np.abs(numeric))), float(smap.eigenvalues[0]) / p.sigma2**2)
        assert closed.shape == numeric.shape and err <= HESSIAN_RTOL * scale, (
            f"active {p.active}: closed form {closed} vs numeric {numeric} (max error {err:.3g})"
        )


def _check_morse(problem: Problem) -> None:
    cov, smap = problem.cov, problem.map()
    m, q = smap.n_above, smap.latent_dim
    for p in smap.points:
        formula = _morse_formula(p.active, m, q)
        numeric = _numeric_morse_index(p, cov, joint=False)
        assert p.morse_index == formula == numeric, (
            f"active {p.active}: morse_index {p.morse_index}, formula {formula}, numeric {numeric}"
        )


def _check_no_spurious_maxima(problem: Problem) -> None:
    cov, smap = problem.cov, problem.map()
    top = tuple(range(min(smap.latent_dim, smap.n_above)))
    best = smap.global_maximum
    assert best.active == top, f"global_maximum.active = {best.active}, expected the top set {top}"
    for p in smap.points:
        is_max = p.stability is Stability.MAXIMUM
        numeric_max = _numeric_morse_index(p, cov, joint=False) == 0
        assert is_max == numeric_max == (p.active == top), (
            f"active {p.active}: stability {p.stability.name}, numeric ascent-free {numeric_max}, "
            f"top set {top}"
        )
        assert p.log_likelihood <= best.log_likelihood + IDENTITY_RTOL * abs(best.log_likelihood), (
            f"active {p.active} has log-likelihood {p.log_likelihood!r} above the top set's "
            f"{best.log_likelihood!r}"
        )


def _check_zero_minimum(problem: Problem) -> None:
    cov, s = problem.cov, float(problem.sigma2)  # drawn fixed (the theorem's problems)
    zero = problem.map().points[0]
    assert zero.active == ()
    lam_min, lam_max = float(problem.eigenvalues.min()), float(problem.eigenvalues.max())
    expected = (
        Stability.MINIMUM if s < lam_min else Stability.MAXIMUM if s > lam_max else Stability.SADDLE
    )
    numeric = classify_point(
        np.zeros((problem.d, problem.latent_dim)), cov, s, method="dense"
    ).stability
    assert zero.stability is expected is numeric, (
        f"W = 0 at sigma2 {s!r} (eigenvalues {lam_min!r}..{lam_max!r}): closed form "
        f"{zero.stability.name}, numeric {numeric.name}, expected {expected.name}"
    )


def _joint_admissible_reference(lam: np.ndarray, q: int) -> list[tuple[int, ...]]:
    """Brute force over every index set: ``k <= min(q, d-1)``, ``s_I = mean(rest) > 0``,
    ``lam_i > s_I`` for ``i in I`` (theory.md §5)."""
    d = lam.size
    sets = []
    for k in range(min(q, d - 1) + 1):
        for active in itertools.combinations(range(d), k):
            rest = np.delete(lam, list(active))
            s_I = float(rest.mean())
            if s_I > 0 and all(lam[i] > s_I * (1 + DEFAULT_RTOL) for i in active):
                sets.append(active)
    return sets


def _check_orbit_count(problem: Problem) -> None:
    smap = problem.map()
    lam, q = problem.eigenvalues, problem.latent_dim
    listed = [p.active for p in smap.points]
    assert len(listed) == len(set(listed)) == smap.n_points, (
        f"n_points = {smap.n_points} but {len(listed)} points listed ({len(set(listed))} distinct)"
    )
    if smap.is_learned:
        reference = _joint_admissible_reference(smap.eigenvalues, q)
        assert sorted(listed) == sorted(reference), (
            f"joint points {listed}, brute force {reference}"
        )
        return
    # Within rtol of sigma2 an eigenvalue is tied with it and counts as not above (theory.md §3:
    # a bifurcation, where the new column has zero length); skip the round-off band at rtol.
    rel = np.divide(np.abs(lam - problem.sigma2), lam, out=np.full(lam.size, np.inf), where=lam > 0)
    assume(not np.any((rel > DEFAULT_RTOL / 4) & (rel < 4 * DEFAULT_RTOL)))
    m = int(np.sum((lam > problem.sigma2) & (rel > DEFAULT_RTOL)))
    expected = sum(math.comb(m, k) for k in range(min(q, m) + 1))
    assert smap.n_points == expected, (
        f"n_points = {smap.n_points}, sum_k C({m}, k) for k <= {q} = {expected}"
    )


def _check_census(problem: Problem) -> None:
    cov, smap = problem.cov, problem.map()
    census = smap.census()
    reference = _census_reference(smap.n_above, smap.latent_dim)
    brute: dict[int, int] = {}
    for p in smap.points:
        n = _numeric_morse_index(p, cov, joint=False)
        brute[n] = brute.get(n, 0) + 1
    assert census == reference == dict(sorted(brute.items())), (
        f"census() {census}, Gaussian-binomial polynomial {reference}, numeric enumeration "
        f"{dict(sorted(brute.items()))}"
    )


def _check_joint(problem: Problem) -> None:
    cov, smap = problem.cov, problem.map()
    lam, q = smap.eigenvalues, smap.latent_dim
    top = tuple(range(q))
    assert smap.global_maximum.active == top, (
        f"joint global maximum {smap.global_maximum.active}, expected {top}"
    )
    for p in smap.points:
        s_I = float(np.delete(lam, list(p.active)).mean())
        assert _close(p.sigma2, s_I, IDENTITY_RTOL), (
            f"active {p.active}: sigma2 {p.sigma2!r}, mean of the rest {s_I!r}"
        )
        assert all(lam[i] > s_I for i in p.active), (
            f"active {p.active} keeps an eigenvalue below s_I = {s_I!r}"
        )
        numeric_max = _numeric_morse_index(p, cov, joint=True) == 0
        is_max = p.stability is Stability.MAXIMUM
        assert is_max == numeric_max == (p.active == top), (
            f"active {p.active}: stability {p.stability.name}, numeric ascent-free {numeric_max}, "
            f"top set {top}"
        )


@dataclass(frozen=True, eq=False, slots=True)
class Transformed:
    """A problem and the transformation applied to it (a scale factor or an orthogonal matrix)."""

    problem: Problem
    transform: Any

    def __repr__(self) -> str:
        t = self.transform
        shown = repr(t) if np.isscalar(t) else repr(np.asarray(t).tolist())
        return f"{self.problem!r}\n  transform    {shown}"


def _classification(smap: StabilityMap) -> list[tuple]:
    return [(p.active, p.morse_index, p.n_degenerate, p.stability) for p in smap.points]


@hs.composite
def _scaled(draw: Any) -> Transformed:
    # Diagonal covariances keep every degeneracy exact under scaling (eigh of a diagonal matrix
    # is exact and c * lam, c * sigma2 keep their order); rotated ones use only robust sigma2.
    problem = draw(
        hs.one_of(
            _problems(kinds=SIGMA2_KINDS, rotate=False, ties=True, zeros=True, min_gap=0.0),
            _problems(learned=True, rotate=False, ties=True, min_gap=0.0),
            _problems(
                kinds=("between", "outside", "near"), near_rtol=(1e-7, 1e-6), ties=True, zeros=True
            ),
        )
    )
    return Transformed(problem, 10.0 ** draw(hs.floats(-6.0, 6.0)))


def _check_scale(example: Transformed) -> None:
    problem, c = example.problem, example.transform
    smap = problem.map()
    s = problem.sigma2 if smap.is_learned else c * problem.sigma2
    scaled = problem.map(cov=c * problem.cov, sigma2=s)
    assert _classification(smap) == _classification(scaled), (
        f"scale c = {c!r} changes the "
        f"classification:\n{_classification(smap)}\n{_classification(scaled)}"
    )
    shift = 0.5 * problem.d * math.log(c)  # l(cS, cs) = l(S, s) - d/2 log c
    for p, ps in zip(smap.points, scaled.points):
        assert _close(
            ps.log_likelihood + shift, p.log_likelihood, IDENTITY_RTOL, scale=problem.d
        ), (
            f"active {p.active}: log-likelihood {p.log_likelihood!r} -> {ps.log_likelihood!r} "
            f"under c = {c!r}"
        )


@hs.composite
def _rotated(draw: Any) -> Transformed:
    problem = draw(
        hs.one_of(
            _problems(
                kinds=("between", "outside", "near"), near_rtol=(1e-7, 1e-6), ties=True, zeros=True
            ),
            _problems(learned=True, ties=True),
        )
    )
    return Transformed(problem, draw(orthogonal_matrices(problem.d)))


def _check_rotation(example: Transformed) -> None:
    problem, Q = example.problem, example.transform
    smap = problem.map()
    rotated = problem.map(cov=from_eigenpairs(problem.eigenvalues, Q @ problem.basis))
    assert _classification(smap) == _classification(rotated), (
        "rotating cov changes the "
        f"classification:\n{_classification(smap)}\n{_classification(rotated)}"
    )
    tied = np.any(np.abs(np.diff(problem.eigenvalues)) <= DEFAULT_RTOL * problem.eigenvalues[0])
    for p, pr in zip(smap.points, rotated.points):
        assert _close(p.log_likelihood, pr.log_likelihood, IDENTITY_RTOL, scale=problem.d), (
            f"active {p.active}: log-likelihood {p.log_likelihood!r} vs {pr.log_likelihood!r} "
            "after rotation"
        )
        if not tied:  # W W^T is unique when the eigenvalues are; W itself only up to O(q)
            G, Gr = Q @ p.loadings @ p.loadings.T @ Q.T, pr.loadings @ pr.loadings.T
            assert np.max(np.abs(G - Gr)) <= HESSIAN_RTOL * max(
                1.0, float(problem.eigenvalues[0])
            ), f"active {p.active}: W W^T does not rotate with cov"


# ----------------------------------------------------------------------------- linear VAE theorems
@dataclass(frozen=True, eq=False, slots=True)
class VAEExample:
    """A decoder ``W``, noise ``s``, an encoder ``(V, log D)`` and a centred data set ``X``."""

    data: np.ndarray
    loadings: np.ndarray
    sigma2: float
    encoder_weights: np.ndarray
    encoder_log_variances: np.ndarray

    @property
    def cov(self) -> np.ndarray:
        return self.data.T @ self.data / self.data.shape[0]

    def __repr__(self) -> str:
        return "\n".join(
            [
                "VAEExample",
                f"  data                   {self.data.tolist()!r}",
                f"  loadings               {self.loadings.tolist()!r}",
                f"  sigma2                 {self.sigma2!r}",
                f"  encoder_weights        {self.encoder_weights.tolist()!r}",
                f"  encoder_log_variances  {self.encoder_log_variances.tolist()!r}",
            ]
        )


def _matrices(shape: tuple[int, int], bound: float) -> SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, shape, elements=hs.floats(-bound, bound, allow_subnormal=False))


@hs.composite
def _vae_examples(draw: Any) -> VAEExample:
    d = draw(hs.integers(1, 4))
    q = draw(hs.integers(1, d))
    n = draw(hs.integers(2, 6))
    X = draw(_matrices((n, d), 3.0))
    X = X - X.mean(axis=0)
    s = 10.0 ** draw(hs.floats(-1.0, 1.0))
    return VAEExample(
        X,
        draw(_matrices((d, q), 2.0)),
        s,
        draw(_matrices((q, d), 2.0)),
        draw(hnp.arrays(np.float64, (q,), elements=hs.floats(-3.0, 3.0))),
    )


def _check_elbo_gap(ex: VAEExample) -> None:
    from .._elbo.objective import linear_vae_elbo, optimal_encoder

    cov, W, s = ex.cov, ex.loadings, ex.sigma2
    ll = log_likelihood(W, cov, s)
    elbo = linear_vae_elbo((ex.encoder_weights, ex.encoder_log_variances, W), cov=cov, sigma2=s)
    assert elbo <= ll + IDENTITY_RTOL * max(abs(ll), 1.0), (
        f"ELBO {elbo!r} exceeds the log-likelihood {ll!r}"
    )
    V, D = optimal_encoder(W, s)
    elbo_star = linear_vae_elbo((V, np.log(D), W), cov=cov, sigma2=s)
    M = W.T @ W + s * np.eye(W.shape[1])
    gap = 0.5 * (float(np.sum(np.log(np.diag(M)))) - np.linalg.slogdet(M)[1])  # theory.md §6
    assert _close(ll - elbo_star, gap, IDENTITY_RTOL, scale=max(abs(ll), 1.0) * 1e-3), (
        f"l - ELBO(V*, D*) = {ll - elbo_star!r}, 1/2 log(prod M_cc / det M) = {gap!r}"
    )


def _check_optimal_encoder(ex: VAEExample) -> None:
    from .._elbo.objective import linear_vae_elbo, linear_vae_elbo_gradient, optimal_encoder

    cov, W, s = ex.cov, ex.loadings, ex.sigma2
    V, D = optimal_encoder(W, s)
    M = W.T @ W + s * np.eye(W.shape[1])
    V_ref, D_ref = np.linalg.inv(M) @ W.T, s / np.diag(M)
    assert np.allclose(V, V_ref, rtol=IDENTITY_RTOL, atol=IDENTITY_RTOL) and np.allclose(
        D, D_ref, rtol=IDENTITY_RTOL
    ), (
        f"optimal_encoder {V.tolist()}, {D.tolist()}; M^-1 W^T, s / diag(M): {V_ref.tolist()}, "
        f"{D_ref.tolist()}"
    )
    grad, _ = linear_vae_elbo_gradient((V, np.log(D), W), cov=cov, sigma2=s)
    scale = max(1.0, float(np.abs(cov).max()) / s)
    assert np.max(np.abs(grad.encoder_weights), initial=0.0) <= IDENTITY_RTOL * 100 * scale, (
        "dELBO/dV != 0 at V*"
    )
    assert np.max(np.abs(grad.encoder_log_variances)) <= IDENTITY_RTOL, "dELBO/dlog D != 0 at D*"
    best = linear_vae_elbo((V, np.log(D), W), cov=cov, sigma2=s)
    other = linear_vae_elbo((ex.encoder_weights, ex.encoder_log_variances, W), cov=cov, sigma2=s)
    assert other <= best + IDENTITY_RTOL * max(abs(best), 1.0), (
        f"ELBO {other!r} at a drawn encoder beats {best!r} at (V*, D*)"
    )


def _check_stochastic(ex: VAEExample) -> None:
    from .._elbo.objective import linear_vae_elbo, stochastic_elbo

    X, W, s = ex.data, ex.loadings, ex.sigma2
    V, logD = ex.encoder_weights, ex.encoder_log_variances
    rng = np.random.default_rng(zlib.crc32(ex.data.tobytes()))  # fixed by the example: reproducible
    draws = np.array(
        [
            stochastic_elbo(V, logD, W, X, rng.standard_normal((X.shape[0], W.shape[1])), s)[0]
            for _ in range(N_MC)
        ]
    )
    exact = linear_vae_elbo((V, logD, W), cov=ex.cov, sigma2=s)
    se = float(draws.std(ddof=1)) / math.sqrt(N_MC)
    diff = float(draws.mean()) - exact
    assert abs(diff) <= Z_SCORE * se + IDENTITY_RTOL * max(abs(exact), 1.0), (
        f"stochastic mean {draws.mean()!r} vs closed form {exact!r}: {diff / max(se, 1e-300):.2f} "
        "standard errors"
    )


# ----------------------------------------------------------------------------- ELBO landscape
# Starts for the numeric maximisation of the ELBO, and how close (relative) its value must come to
# the global maximum's to count as reaching it (L-BFGS stops at a relative 1e-12 change).
N_STARTS = 3
ASCENT_RTOL = 1e-6


@dataclass(frozen=True, eq=False, slots=True)
class ElboProblem:
    """A `Problem` and the encoder whose ELBO landscape is checked."""

    problem: Problem
    encoder: str

    def __repr__(self) -> str:
        return f"{self.problem!r}\n  encoder      {self.encoder!r}"


def _elbo_problems() -> SearchStrategy[ElboProblem]:
    small = {"max_dim": 4, **_SEPARATED}
    return hs.builds(
        ElboProblem,
        hs.one_of(_problems(**small), _problems(learned=True, **small)),
        hs.sampled_from(["diagonal", "full"]),
    )


def _elbo_map(ex: ElboProblem) -> Any:
    from .._elbo.landscape import elbo_stability_map

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        emap = elbo_stability_map(
            ex.problem.cov, ex.problem.sigma2, latent_dim=ex.problem.latent_dim, encoder=ex.encoder
        )
    assume(not emap.has_degeneracy)
    return emap


def _ascend(ex: ElboProblem, rng: np.random.Generator) -> tuple[Any, float, float]:
    """Maximise the ELBO in all parameters from a random start (L-BFGS with the library gradient;
    log-coordinates for ``sigma2`` and the Cholesky diagonal keep them positive). Returns the end
    point's parameters, ``sigma2`` and ELBO."""
    import scipy.optimize

    from .._elbo.derivatives import ElboModel
    from .._elbo.objective import LinearVAEFullParams, LinearVAEParams

    cov, q, full = ex.problem.cov, ex.problem.latent_dim, ex.encoder == "full"
    learned = ex.problem.sigma2 == "learned"
    d = cov.shape[0]
    tril = np.tril_indices(q)
    on_diag = tril[0] == tril[1]
    n_enc = q * (q + 1) // 2 if full else q
    s_fixed = 0.0 if learned else float(ex.problem.sigma2)

    def model(x: np.ndarray) -> ElboModel:
        e = x[q * d : q * d + n_enc]
        if full:
            L = np.zeros((q, q))
            L[tril] = np.where(on_diag, np.exp(e), e)
            e = L
        s = math.exp(x[-1]) if learned else s_fixed
        W = x[q * d + n_enc : q * d + n_enc + d * q].reshape(d, q)
        return ElboModel(x[: q * d].reshape(q, d), e, W, cov, s, full=full, learned=learned)

    def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(all="ignore"):
            try:
                m = model(x)
                g = m.gradient()
                value = m.value()
            except (np.linalg.LinAlgError, OverflowError):
                return math.inf, np.zeros_like(x)
        if full:  # chain rule for the log-diagonal of L
            g[q * d : q * d + n_enc] *= np.where(on_diag, np.exp(x[q * d : q * d + n_enc]), 1.0)
        if learned:
            g[-1] *= m.s
        return -value, -g

    scale = math.sqrt(float(np.max(ex.problem.eigenvalues)))
    x0 = np.concatenate(
        [
            rng.standard_normal(q * d) / scale,
            0.3 * rng.standard_normal(n_enc),
            rng.standard_normal(d * q) * scale,
        ]
        + ([[math.log(float(np.mean(ex.problem.eigenvalues)))]] if learned else [])
    )
    res = scipy.optimize.minimize(
        negative,
        x0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-11},
    )
    m = model(res.x)
    params = (LinearVAEFullParams if full else LinearVAEParams)(m.V, m.enc, m.W)
    return params, m.s, m.value()


def _check_elbo_no_spurious_maxima(ex: ElboProblem) -> None:
    from .._elbo.classify import classify_vae_point

    emap = _elbo_map(ex)
    cov, learned = ex.problem.cov, emap.is_learned
    best = emap.global_maximum
    assert emap.census().get(0, 0) == 1 and best.morse_index == 0, (
        f"census {emap.census()}: the map has other points of Morse index 0"
    )
    for p in emap.points:
        c = classify_vae_point(
            p.params, cov, p.sigma2, encoder=ex.encoder, sigma2_learned=learned, method="dense"
        )
        is_max = c.stability is Stability.MAXIMUM
        assert is_max == (p.active == best.active) == (p.stability is Stability.MAXIMUM), (
            f"active {p.active}: numeric {c.stability.name} (index {c.morse_index}), closed form "
            f"{p.stability.name}, global maximum {best.active}"
        )
        assert p.elbo <= best.elbo + IDENTITY_RTOL * abs(best.elbo)
    rng = np.random.default_rng(zlib.crc32(repr(ex).encode()))
    reached = 0
    for _ in range(N_STARTS):
        params, s, value = _ascend(ex, rng)
        assert value <= best.elbo + ASCENT_RTOL * abs(best.elbo), (
            f"gradient ascent found ELBO {value!r} above the global maximum's {best.elbo!r}"
        )
        if _close(value, best.elbo, ASCENT_RTOL, scale=1.0):
            reached += 1
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegeneracyWarning)
            c = classify_vae_point(
                params, cov, s, encoder=ex.encoder, sigma2_learned=learned, method="dense"
            )
        assert c.stability is not Stability.MAXIMUM, (
            f"gradient ascent ended at a local maximum with ELBO {value!r} below the global "
            f"{best.elbo!r}"
        )
    assert reached >= 1, f"no ascent from {N_STARTS} random starts reached the global maximum"


def _check_elbo_isolated(ex: ElboProblem) -> None:
    from .._elbo.derivatives import linear_vae_elbo_flat_gradient, linear_vae_elbo_hessian
    from .._elbo.objective import LinearVAEParams

    emap = _elbo_map(ex)
    cov, learned, q = ex.problem.cov, emap.is_learned, ex.problem.latent_dim
    best = emap.global_maximum
    k = best.n_active
    H = linear_vae_elbo_hessian(best.params, cov=cov, sigma2=best.sigma2, sigma2_learned=learned)
    # The scale-free congruence of classify_vae_point (V sqrt(s), W / sqrt(s), sigma2 / s).
    d, n_enc = ex.problem.d, H.shape[0] - 2 * ex.problem.d * q - learned
    r = math.sqrt(best.sigma2)
    J = np.concatenate(
        [np.full(q * d, 1.0 / r), np.ones(n_enc), np.full(d * q, r)]
        + ([[best.sigma2]] if learned else [])
    )
    h = np.linalg.eigvalsh(J[:, None] * H * J[None, :])
    scale = float(np.max(np.abs(h)))
    small = np.sort(np.abs(h))
    rotations = k * (k - 1) // 2 + k * (q - k) if ex.encoder == "full" else 0
    nonzero = small[rotations:]
    assume(nonzero.size == 0 or nonzero[0] > DECIDABLE_FACTOR * ZERO_RTOL * scale)
    n_zero = int(np.sum(np.abs(h) <= ZERO_RTOL * scale))
    assert n_zero == rotations == best.symmetry_dim, (
        f"{ex.encoder} encoder, {k} live of {q}: {n_zero} zero Hessian eigenvalues, expected "
        f"{rotations} (map: symmetry_dim {best.symmetry_dim})"
    )
    assert int(np.sum(h > ZERO_RTOL * scale)) == 0, "the global maximum has an ascent direction"
    if ex.encoder == "diagonal":
        assert best.orbit_size == 2**k * math.perm(q, k)
        rng = np.random.default_rng(zlib.crc32(repr(ex).encode()))
        perm, signs = rng.permutation(q), rng.choice([-1.0, 1.0], q)
        p = best.params
        moved = LinearVAEParams(
            p.encoder_weights[perm] * signs[:, None],
            p.encoder_log_variances[perm],
            p.loadings[:, perm] * signs,
        )
        g = linear_vae_elbo_flat_gradient(
            moved, cov=cov, sigma2=best.sigma2, sigma2_learned=learned
        )
        g0 = linear_vae_elbo_flat_gradient(p, cov=cov, sigma2=best.sigma2, sigma2_learned=learned)
        assert np.max(np.abs(g)) <= 10 * np.max(np.abs(g0)) + GRADIENT_RTOL * scale, (
            "a signed permutation of the maximum is not stationary"
        )


# ----------------------------------------------------------------------------- the registry
_VAE = "ppca_stability._elbo.objective"

THEOREMS: dict[str, Theorem] = {
    t.name: t
    for t in [
        Theorem(
            "gradient_vanishes",
            "The gradient of l vanishes at every enumerated stationary point W_I (fixed sigma2), "
            "and in W and sigma2 at every joint point (W_I, s_I).",
            f"Tipping & Bishop 1999; {THEORY} §2, §5",
            _either,
            _check_gradient,
        ),
        Theorem(
            "hessian_closed_form",
            "The closed-form Hessian spectrum (table of §3; arrowhead block of §5) equals the "
            "eigenvalues of the dense numeric Hessian, at every point, for ties, zero eigenvalues "
            "and sigma2 at or near an eigenvalue too.",
            f"{THEORY} §3, §5",
            lambda: hs.one_of(
                _problems(kinds=SIGMA2_KINDS, ties=True, zeros=True, min_gap=0.0),
                _problems(learned=True, ties=True, min_gap=0.0),
            ),
            _check_hessian,
        ),
        Theorem(
            "morse_index_formula",
            "For distinct eigenvalues, the Morse index of W_I is (q - k)(m - k) + sum_c (i_c - c), "
            "equal to the number of positive eigenvalues of the numeric Hessian.",
            f"{THEORY} §3",
            _generic,
            _check_morse,
        ),
        Theorem(
            "no_spurious_maxima",
            "At fixed sigma2 (distinct eigenvalues, sigma2 off the spectrum) the only local "
            "maximum is the top set I* = {1..min(q, m)}, and it has the largest log-likelihood.",
            f"Tipping & Bishop 1999; {THEORY} §2, §3",
            _generic,
            _check_no_spurious_maxima,
        ),
        Theorem(
            "zero_is_minimum_iff",
            "W = 0 is a strict minimum iff sigma2 < lam_min, a strict maximum iff sigma2 > lam_1, "
            "and a saddle in between (sigma2 off the spectrum); rank-deficient covariances never "
            "give a minimum.",
            f"{THEORY} §3",
            lambda: _problems(zeros=True, **_SEPARATED),
            _check_zero_minimum,
        ),
        Theorem(
            "orbit_count",
            "There are sum_{k <= min(q, m)} C(m, k) stationary orbits at fixed sigma2, and the "
            "joint orbits are exactly the index sets with every kept eigenvalue above the mean of "
            "the rest.",
            f"{THEORY} §2, §5",
            lambda: hs.one_of(
                _problems(kinds=SIGMA2_KINDS, ties=True, zeros=True, max_dim=8),
                _problems(learned=True, ties=True, zeros=True, max_dim=7),
            ),
            _check_orbit_count,
        ),
        Theorem(
            "census_gaussian_binomial",
            "Counting orbits by Morse index gives P(t) = sum_k t^((q-k)(m-k)) [m choose k]_t: "
            "census() = the t-Pascal recursion = brute-force enumeration with numeric Hessians.",
            f"{THEORY} §3",
            _generic,
            _check_census,
        ),
        Theorem(
            "joint_stationary_points",
            "Learning sigma2 jointly, each stationary point has s_I = the mean of the discarded "
            "eigenvalues with every kept one above it, and only the top-q set is a maximum "
            "(numeric joint Hessian).",
            f"Tipping & Bishop 1999; {THEORY} §5",
            lambda: _generic(learned=True),
            _check_joint,
        ),
        Theorem(
            "scale_equivariance",
            "S -> cS, sigma2 -> c sigma2 keeps every point and its classification (Morse index, "
            "degeneracy, stability) and shifts l by -(d/2) log c.",
            f"{THEORY} §1-§3 (dimensional analysis)",
            _scaled,
            _check_scale,
        ),
        Theorem(
            "rotation_invariance",
            "S -> Q S Q^T keeps every classification and log-likelihood; W W^T rotates with S.",
            f"{THEORY} §1-§3 (l depends on S through its spectrum and eigenvectors)",
            _rotated,
            _check_rotation,
        ),
        Theorem(
            "elbo_bound_and_gap",
            "ELBO <= l for every encoder; at (V*, D*) the gap is 1/2 log(prod_c M_cc / det M).",
            f"Lucas et al. 2019; {THEORY} §6",
            _vae_examples,
            _check_elbo_gap,
            _VAE,
        ),
        Theorem(
            "optimal_encoder",
            "For a given decoder the ELBO is maximised by V* = M^-1 W^T, D* = sigma2 / diag(M) "
            "(not sigma2 diag(M^-1)); its encoder gradients vanish there.",
            f"Lucas et al. 2019; {THEORY} §6",
            _vae_examples,
            _check_optimal_encoder,
            _VAE,
        ),
        Theorem(
            "stochastic_elbo_unbiased",
            f"The reparameterised one-sample ELBO has the closed-form ELBO as its mean ({N_MC} "
            f"draws, within {Z_SCORE:g} standard errors).",
            f"Kingma & Welling 2014; {THEORY} §6",
            _vae_examples,
            _check_stochastic,
            _VAE,
        ),
        Theorem(
            "elbo_no_spurious_maxima",
            "The linear-VAE ELBO in all parameters (diagonal and full encoder, sigma2 fixed or "
            "learned) has one local maximum up to its symmetries: the map's census has one point "
            "of Morse index 0, the numeric Hessian classifies only the global maximum as a "
            f"maximum, and gradient ascent from {N_STARTS} random starts ends at its ELBO or at "
            "a point that is not a local maximum.",
            f"Lucas et al. 2019; {THEORY}, The linear VAE's own landscape",
            _elbo_problems,
            _check_elbo_no_spurious_maxima,
        ),
        Theorem(
            "elbo_diagonal_maximum_isolated",
            "With distinct live eigenvalues the diagonal-encoder ELBO's maximum has no zero "
            "Hessian eigenvalue (isolated: its orbit is the 2^k q!/(q-k)! signed permutations), "
            "while the full encoder's has exactly the k(k-1)/2 + k(q-k) rotation modes.",
            f"Lucas et al. 2019; {THEORY}, The linear VAE's own landscape",
            _elbo_problems,
            _check_elbo_isolated,
        ),
    ]
}
