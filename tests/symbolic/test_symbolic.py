"""Tests of ppca_stability.symbolic: the sympy likelihood against the numeric one, the exact maps
against the numeric stability_map and the dense numeric Hessian, the piecewise map in sigma2,
the symbolic proof of the closed form, input errors."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from ppca_stability import (
    DegeneracyWarning,
    Stability,
    log_likelihood,
    log_likelihood_gradient,
    log_likelihood_hessian,
    stability_map,
)
from ppca_stability.symbolic import (
    critical_sigma2,
    exact_stability_map,
    gradient_expr,
    hessian_expr,
    lambdify_expr,
    likelihood_symbols,
    log_likelihood_expr,
    verify_hessian_closed_form,
)

# Float round-off of the numeric routes, relative to the largest value compared.
NUMERIC_RTOL = 1e-10
# Closed-form eigenvalues against eigvalsh of a dense Hessian built from W_I = sqrt(lam - s) u_i.
DENSE_RTOL = 1e-9

S = sympy.Symbol("s")

# Small exact rationals (1/3 and 1/5 are not floats: the numeric side sees them rounded) from a
# short range, so that ties between eigenvalues and sigma2 = eigenvalue happen often.
rationals = st.builds(Fraction, st.integers(0, 12), st.sampled_from([1, 2, 3, 5]))
positive_rationals = rationals.filter(lambda x: x > 0)


@st.composite
def problems(draw, max_d: int = 5):
    lam = draw(st.lists(rationals, min_size=1, max_size=max_d))
    q = draw(st.integers(1, len(lam)))
    # sigma2 from the eigenvalues half the time: sigma2 = lambda must be exact.
    s = draw(
        st.one_of(positive_rationals, st.sampled_from([v for v in lam if v > 0] or [Fraction(1)]))
    )
    return lam, q, s


def _floats(values) -> np.ndarray:
    return np.array([float(v) for v in values])


def _numeric_map(lam, s, q):
    """The numeric map of diag(lam), and whether it announced a degeneracy."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DegeneracyWarning)
        smap = stability_map(np.diag(_floats(lam)), float(s), latent_dim=q)
        points = list(smap.points)
    return smap, points, any(issubclass(w.category, DegeneracyWarning) for w in caught)


# ----------------------------------------------------------------------------- expressions
def _random_problem(d: int, q: int, rng: np.random.Generator):
    X = rng.standard_normal((3 * d, d))
    return rng.standard_normal((d, q)), X.T @ X / X.shape[0], float(rng.uniform(0.2, 2.0))


@pytest.mark.parametrize(("d", "q"), [(1, 1), (2, 1), (3, 1), (2, 2)])
def test_expressions_match_numeric_likelihood_gradient_hessian(d, q, rng):
    W, cov, s = _random_problem(d, q, rng)
    ell = lambdify_expr(log_likelihood_expr(d, q), d, q)
    grad = lambdify_expr(gradient_expr(d, q), d, q)
    hess = lambdify_expr(hessian_expr(d, q), d, q)
    assert ell(W, cov, s) == pytest.approx(log_likelihood(W, cov, s), rel=NUMERIC_RTOL)
    (gW, gs), (nW, ns) = grad(W, cov, s), log_likelihood_gradient(W, cov, s)
    np.testing.assert_allclose(gW, nW, rtol=0, atol=NUMERIC_RTOL * np.abs(nW).max())
    assert gs == pytest.approx(ns, rel=NUMERIC_RTOL, abs=NUMERIC_RTOL)
    H = log_likelihood_hessian(W, cov, s)
    np.testing.assert_allclose(hess(W, cov, s), H, rtol=0, atol=NUMERIC_RTOL * np.abs(H).max())


@pytest.mark.parametrize(("d", "q"), [(2, 1), (3, 1)])
def test_joint_hessian_expression_matches_numeric(d, q, rng):
    W, cov, s = _random_problem(d, q, rng)
    H = log_likelihood_hessian(W, cov, s, sigma2_learned=True)
    got = lambdify_expr(hessian_expr(d, q, sigma2_learned=True), d, q)(W, cov, s)
    np.testing.assert_allclose(got, H, rtol=0, atol=NUMERIC_RTOL * np.abs(H).max())


@pytest.mark.slow
def test_expressions_match_numeric_d3_q2(rng):
    W, cov, s = _random_problem(3, 2, rng)
    H = log_likelihood_hessian(W, cov, s, sigma2_learned=True)
    got = lambdify_expr(hessian_expr(3, 2, sigma2_learned=True), 3, 2)(W, cov, s)
    np.testing.assert_allclose(got, H, rtol=0, atol=NUMERIC_RTOL * np.abs(H).max())


def test_woodbury_form_equals_the_direct_definition():
    # theory.md §1: l = -1/2 [d log 2 pi + log det C + tr(C^-1 S)], C = W W^T + s I.
    sym = likelihood_symbols(2, 1)
    W, Sm, s = sym.loadings, sym.cov, sym.sigma2
    C = W * W.T + s * sympy.eye(2)
    direct = -(2 * sympy.log(2 * sympy.pi) + sympy.log(C.det()) + (C.inv() * Sm).trace()) / 2
    values = {
        W[0, 0]: sympy.Rational(3, 2),
        W[1, 0]: -1,
        Sm[0, 0]: 2,
        Sm[0, 1]: sympy.Rational(1, 3),
        Sm[1, 1]: 5,
        s: sympy.Rational(7, 10),
    }
    assert sympy.simplify((log_likelihood_expr(2, 1) - direct).subs(values)) == 0


def test_lambdify_rejects_foreign_symbols_and_wrong_shapes():
    with pytest.raises(ValueError, match="expr"):
        lambdify_expr(log_likelihood_expr(2, 1), 1, 1)
    with pytest.raises(TypeError, match="expr"):
        lambdify_expr("W_0_0", 1, 1)
    f = lambdify_expr(log_likelihood_expr(2, 1), 2, 1)
    with pytest.raises(ValueError, match="cov"):
        f(np.ones((2, 1)), np.eye(3), 1.0)
    with pytest.raises(ValueError, match="loadings"):
        f(np.ones((2, 2)), np.eye(2), 1.0)


def test_expression_sizes_are_validated():
    with pytest.raises(ValueError, match="latent_dim"):
        log_likelihood_expr(2, 3)
    with pytest.raises(TypeError, match="n_features"):
        hessian_expr(2.0, 1)
    with pytest.raises(TypeError, match="sigma2_learned"):
        hessian_expr(2, 1, sigma2_learned="joint")
    with (
        pytest.warns(FutureWarning, match="sigma2_learned"),
        pytest.raises(ValueError, match="wrt"),
    ):
        hessian_expr(2, 1, wrt="sigma2")


# ----------------------------------------------------------------------------- exact vs numeric
@settings(deadline=None, max_examples=60)
@given(problems())
def test_exact_map_agrees_with_numeric_map(problem):
    lam, q, s = problem
    exact = exact_stability_map(lam, s, latent_dim=q)
    smap, points, warned = _numeric_map(lam, s, q)
    assert [p.active for p in exact.points] == [p.active for p in points]
    for e, n in zip(exact.points, points):
        assert (e.morse_index, e.stability, e.symmetry_dim, e.n_degenerate, e.n_collapsed) == (
            n.morse_index,
            n.stability,
            n.symmetry_dim,
            n.n_degenerate,
            n.n_collapsed,
        )
        ex = _floats(e.hessian_eigenvalues)
        scale = np.abs(ex).max()
        np.testing.assert_allclose(n.hessian_eigenvalues, ex, rtol=0, atol=NUMERIC_RTOL * scale)
        assert float(e.log_likelihood) == pytest.approx(n.log_likelihood, rel=NUMERIC_RTOL)
    # The numeric map warns exactly when some point has zero modes beyond the symmetry orbit.
    assert warned == any(p.n_degenerate for p in exact.points)
    assert exact.census() == smap.census()


@settings(deadline=None, max_examples=25)
@given(problems(max_d=4))
def test_exact_eigenvalues_are_those_of_the_dense_hessian(problem):
    # Independent of the closed form: eigvalsh of the full numeric Hessian at W_I.
    lam, q, s = problem
    _, points, _ = _numeric_map(lam, s, q)
    cov = np.diag(_floats(lam))
    for e, n in zip(exact_stability_map(lam, s, latent_dim=q).points, points):
        dense = np.linalg.eigvalsh(log_likelihood_hessian(n.loadings, cov, float(s)))
        ex = _floats(e.hessian_eigenvalues)
        scale = max(
            np.abs(ex).max(), 1.0 / float(s) ** 2
        )  # 1/s^2: the natural scale if all are zero
        np.testing.assert_allclose(dense, ex, rtol=0, atol=DENSE_RTOL * scale)


def test_ties_and_sigma2_at_an_eigenvalue_are_exact_zeros():
    # lam = (3, 3, 1), s = 1, q = 2, point (0,): the cross term with the tied j = 1 is
    # (3 - 3) / (s 3) = 0 and the dead column x j = 2 is (1 - 1) / 1 = 0: two extra zeros; the
    # dead column x j = 1 is (3 - 1) / 1 > 0, so the point is still a saddle.
    smap = exact_stability_map([3, 3, 1], 1, latent_dim=2)
    p = smap.point([0])
    assert (p.symmetry_dim, p.n_degenerate, p.morse_index) == (1, 2, 1)
    assert p.hessian_eigenvalues.count(0) == 3
    assert p.stability is Stability.SADDLE
    # Without the dead column (q = 1) the tie alone leaves only negatives and one zero.
    p = exact_stability_map([3, 3, 1], 1, latent_dim=1).point([0])
    assert (p.symmetry_dim, p.n_degenerate, p.stability) == (0, 1, Stability.DEGENERATE)
    # sigma2 = lam_2 alone: the dead column x j = 1 is the only zero.
    p = exact_stability_map([3, 1], 1, latent_dim=2).point([0])
    assert (p.symmetry_dim, p.n_degenerate, p.stability) == (1, 1, Stability.DEGENERATE)
    # Top set (0, 1): no excluded eigenvalue above s, no dead column: a strict maximum.
    assert smap.global_maximum.stability is Stability.MAXIMUM
    # W = 0 at s = lam_1 (theory.md §3: a maximum only for s > lam_1) is degenerate.
    assert (
        exact_stability_map([3, 3, 1], 3, latent_dim=2).point([]).stability is Stability.DEGENERATE
    )
    assert (
        exact_stability_map([3, 3, 1], "3.5", latent_dim=2).point([]).stability is Stability.MAXIMUM
    )


def test_a_point_needs_its_eigenvalues_strictly_above_sigma2():
    smap = exact_stability_map([5, 3, 2, 1], 2, latent_dim=2)
    assert [p.active for p in smap.points] == [(), (0,), (1,), (0, 1)]
    with pytest.raises(ValueError, match="active"):
        smap.point([2])


@settings(deadline=None, max_examples=40)
@given(st.lists(rationals, min_size=1, max_size=6, unique=True), st.data())
def test_morse_index_formula(lam, data):
    # theory.md §3: n+ = (q - k)(m - k) + sum_c (i_c - c) for distinct eigenvalues (1-based i_c,
    # here 0-based i and c alike), sigma2 off the eigenvalues; the only n+ = 0 point is the top set.
    q = data.draw(st.integers(1, len(lam)))
    s = data.draw(positive_rationals.filter(lambda x: x not in lam))
    smap = exact_stability_map(lam, s, latent_dim=q)
    m = sum(v > s for v in lam)
    for p in smap.points:
        k = p.n_active
        assert p.morse_index == (q - k) * (m - k) + sum(i - c for c, i in enumerate(p.active))
        assert (p.morse_index == 0) == (p.active == smap.global_maximum.active)


def test_results_are_frozen_and_have_table_reprs():
    smap = exact_stability_map([5, 3, 2, 1], "3/2", latent_dim=2)
    with pytest.raises(AttributeError):
        smap.latent_dim = 3
    text = repr(smap)
    assert "ExactStabilityMap(n_features=4, latent_dim=2, sigma2=3/2)" in text
    assert len(text.splitlines()) == 4 + smap.n_points
    assert "MAXIMUM" in repr(smap.global_maximum)


def test_symbolic_map_refuses_fixed_sigma2_accessors():
    smap = exact_stability_map([2, 1], S, latent_dim=1)
    with pytest.raises(ValueError, match="points"):
        smap.points
    with pytest.raises(ValueError, match="intervals"):
        exact_stability_map([2, 1], 1, latent_dim=1).intervals


# ----------------------------------------------------------------------------- symbolic sigma2
# Exact maps at two values per piece for each example, the later (larger) ones the costliest:
# ten problems (twenty took half as long again).
@settings(deadline=None, max_examples=10)
@given(problems(max_d=4), st.data())
def test_intervals_agree_with_rational_maps(problem, data):
    lam, q, _ = problem
    smap = exact_stability_map(lam, S, latent_dim=q)
    pieces = smap.intervals
    assert [p.lower for p in pieces if p.is_critical] == list(smap.critical_values)
    assert pieces[0].lower == 0 and pieces[-1].upper == sympy.oo
    for piece in pieces:
        # The sample, and another rational drawn inside the piece, give the piece's classification.
        lo, hi = (
            Fraction(str(piece.lower)),
            (Fraction(str(piece.upper)) if piece.upper != sympy.oo else None),
        )
        t = data.draw(st.fractions(min_value=0, max_value=1).filter(lambda x: 0 < x < 1))
        inside = lo if piece.is_critical else (lo + t * (hi - lo) if hi is not None else lo + 1 / t)
        assert piece.contains(inside)
        for value in {piece.sample, sympy.Rational(inside.numerator, inside.denominator)}:
            at = smap.at(value)
            assert [(p.active, p.morse_index, p.stability) for p in at.points] == [
                (p.active, p.morse_index, p.stability) for p in piece.points
            ]
            for p, r in zip(piece.points, at.points):
                assert sorted(
                    sympy.sympify(v).subs(S, value) for v in p.hessian_eigenvalues
                ) == list(r.hessian_eigenvalues)


@settings(deadline=None, max_examples=30)
@given(problems())
def test_critical_values_are_the_distinct_positive_eigenvalues(problem):
    # Derived by critical_sigma2 from roots and sampled classifications; theory.md §3 predicts
    # exactly the positive eigenvalues (points appear or vanish there, nothing else changes sign).
    lam, q, _ = problem
    assert critical_sigma2(lam, latent_dim=q) == tuple(
        sorted({sympy.Rational(v.numerator, v.denominator) for v in lam if v > 0})
    )


def test_piecewise_map_of_the_readme_spectrum():
    smap = exact_stability_map([5, 3, 2, 1], S, latent_dim=2)
    labels = [p.label for p in smap.intervals]
    assert labels == ["(0, 1)", "1", "(1, 2)", "2", "(2, 3)", "3", "(3, 5)", "5", "(5, oo)"]
    first, last = smap.intervals[0], smap.intervals[-1]
    assert first.n_points == 11  # sum_{k<=2} C(4, k)
    assert first.points[0].stability is Stability.MINIMUM  # W = 0 below every eigenvalue
    assert [p.stability for p in last.points] == [Stability.MAXIMUM]
    assert last.points[0].hessian_eigenvalues[-1] == (5 - S) / S**2
    assert smap.intervals[-2].points[0].stability is Stability.DEGENERATE  # s = lam_1


def test_latex_table():
    smap = exact_stability_map([5, 3, 2, 1], S, latent_dim=2)
    tex = smap.to_latex()
    assert tex.splitlines()[1] == r"\begin{tabular}{lllll}" and tex.endswith(r"\end{tabular}")
    rows = [line for line in tex.splitlines() if line.endswith(r"\\")]
    assert len(rows) == 1 + sum(p.n_points for p in smap.intervals)
    assert r"$s \in (5, \infty)$ & $\varnothing$ & 0 & maximum" in tex
    assert r"\frac{5 - s}{s^{2}} \;(\times 2)" in tex
    assert (
        r"\sigma^2 = \frac{3}{2}"
        in exact_stability_map([5, 3, 2, 1], "3/2", latent_dim=2).to_latex()
    )


# ----------------------------------------------------------------------------- proof
@pytest.mark.parametrize(("d", "q"), [(2, 1), (2, 2), pytest.param(3, 2, marks=pytest.mark.slow)])
def test_closed_form_hessian_is_proved(d, q):
    report = verify_hessian_closed_form(d, q)
    assert report.passed
    assert len(report.cases) == sum(sympy.binomial(d, k) for k in range(q + 1))
    assert all(c.gradient_vanishes and c.charpoly_matches for c in report.cases)


def test_the_proof_detects_a_wrong_closed_form(monkeypatch):
    from ppca_stability._symbolic import _exact, _proof

    def off_by_factor(lam, active, s, q):
        (value, mult), *rest = _exact.hessian_groups(lam, active, s, q)
        return [(2 * value, mult), *rest]

    monkeypatch.setattr(_proof, "hessian_groups", off_by_factor)
    report = verify_hessian_closed_form(2, 1)
    assert not report.passed
    assert all(c.gradient_vanishes and not c.charpoly_matches for c in report.cases)


def test_proof_report():
    report = verify_hessian_closed_form(1, 1)
    assert "characteristic polynomial" in report.statement
    assert (
        repr(report)
        .splitlines()[0]
        .startswith("ClosedFormProof(n_features=1, latent_dim=1, passed=True")
    )


# ----------------------------------------------------------------------------- inputs
def test_exact_inputs_are_accepted():
    a = exact_stability_map(
        [Fraction(5), sympy.Rational(3), "2.0", np.int64(1)], "1.5", latent_dim=2
    )
    b = exact_stability_map([0.5 * 10, 3.0, 2, 1], 1.5, latent_dim=2)  # floats exact in binary
    c = exact_stability_map(np.array([1.0, 2.0, 3.0, 5.0]), sympy.Rational(3, 2), latent_dim=2)
    assert a.eigenvalues == b.eigenvalues == c.eigenvalues == (5, 3, 2, 1)
    assert a.sigma2 == b.sigma2 == c.sigma2 == sympy.Rational(3, 2)


@pytest.mark.parametrize(
    ("eigenvalues", "error", "match"),
    [
        ([1, 0.1], ValueError, r"`eigenvalues\[1\]` got the float 0.1, which is not exactly"),
        ([1, -2], ValueError, "`eigenvalues` must be non-negative"),
        ([1, "abc"], ValueError, r"`eigenvalues\[1\]` must be an exact rational"),
        ([1, None], TypeError, r"`eigenvalues\[1\]` must be a rational number"),
        ([1, sympy.sqrt(2)], ValueError, r"`eigenvalues\[1\]` must be rational"),
        ([1, S], TypeError, r"`eigenvalues\[1\]` must be a number"),
        ([1, True], TypeError, r"`eigenvalues\[1\]`"),
        ([1, float("nan")], ValueError, r"`eigenvalues\[1\]` must be finite"),
        ([1, sympy.Float(0.5)], TypeError, "sympy Float"),
        ("5,3,2", TypeError, "`eigenvalues` must be a sequence"),
        ([], ValueError, "`eigenvalues` must not be empty"),
        (np.zeros((2, 2, 2)), ValueError, "`eigenvalues` must be a sequence of eigenvalues or a"),
    ],
)
def test_bad_eigenvalues(eigenvalues, error, match):
    with pytest.raises(error, match=match):
        exact_stability_map(eigenvalues, 1, latent_dim=1)


@pytest.mark.parametrize(
    ("sigma2", "error", "match"),
    [
        (0, ValueError, "`sigma2` must be positive"),
        ("-1/2", ValueError, "`sigma2` must be positive"),
        (0.1, ValueError, "`sigma2` got the float 0.1"),
        (2 * S, TypeError, "single sympy Symbol; got the expression 2\\*s"),
        (sympy.Symbol("t", negative=True), ValueError, "assumptions exclude positive"),
        ("sigma", ValueError, "`sigma2` must be an exact rational"),
    ],
)
def test_bad_sigma2(sigma2, error, match):
    with pytest.raises(error, match=match):
        exact_stability_map([2, 1], sigma2, latent_dim=1)


def test_bad_latent_dim():
    with pytest.raises(ValueError, match="latent_dim"):
        exact_stability_map([2, 1], 1, latent_dim=3)
    with pytest.raises(TypeError, match="latent_dim"):
        critical_sigma2([2, 1], latent_dim="1")
    with pytest.raises(ValueError, match="n_features"):
        verify_hessian_closed_form(0, 1)


def test_exact_map_refuses_exponential_enumeration_up_front():
    # Regression: 14 eigenvalues at a fixed sigma2 took 26 s (every one of the 2^14 active sets
    # symbolically); now refused at once, naming the count and the numeric alternative.
    with pytest.raises(ValueError, match=r"visits 16384 active sets.*stability_map"):
        exact_stability_map(list(range(1, 15)), "1/2")
    with pytest.raises(ValueError, match="visits 16384 active sets"):
        critical_sigma2(list(range(1, 15)))
    # a small latent_dim keeps the enumeration polynomial: allowed
    assert exact_stability_map(list(range(1, 15)), "1/2", latent_dim=1).n_points == 15


@pytest.mark.parametrize(
    "value",
    ["1e500000", "1e50000000", "1" * 3000, Fraction(1, 10**5000), 10**5000],
    ids=["1e500000", "1e50000000", "3000 digits", "tiny Fraction", "huge int"],
)
def test_huge_exact_numbers_are_refused_before_they_are_built(value):
    # Regression: "1e500000" burned CPU before a confusing int-digits error ("1e50000000": 90 s).
    with pytest.raises(ValueError, match=r"eigenvalues\[0\]` = .* more than 1000 digits"):
        exact_stability_map([value, 1], "1/2")


def test_exact_numbers_up_to_the_digit_limit_are_accepted():
    # 1e1000 and 1 lie above sigma2 = 1/2, 1e-1000 below: 2^2 points
    assert exact_stability_map(["1e1000", "1e-1000", 1], "1/2").n_points == 4


@pytest.mark.parametrize(("d", "q"), [(2, 1), pytest.param(2, 2, marks=pytest.mark.slow)])
def test_elbo_decoder_gradient_at_the_optimal_encoder_is_the_cluster_equation(d, q):
    """sympy: with the encoder equations solved exactly, C grad_W M = S W - W M diag(M)^-1 M for a
    general symmetric S (docs/theory.md, the ELBO's point 4): the polynomial system the exact
    root solve works on has the same real roots as the ELBO's gradient."""
    from ppca_stability._symbolic._elbo_roots import gradient_identity

    assert gradient_identity(d, q)


@pytest.mark.parametrize(
    "latent_dim",
    # One latent: its live column turns freely in the tied eigenspace (0.1 s). Two: the equal-norm
    # cluster roots form the family too (a Groebner basis of 4 s, so a slow check).
    [1, pytest.param(2, marks=pytest.mark.slow)],
)
def test_exact_elbo_roots_refuse_a_continuous_family(latent_dim):
    """A tie between the eigenvalues makes the roots a continuous family: no finite list."""
    from ppca_stability._symbolic._elbo_roots import real_stationary_loadings

    with pytest.raises(ValueError, match="continuous family"):
        real_stationary_loadings(["2", "2"], "1/2", latent_dim)
