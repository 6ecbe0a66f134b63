"""verify(): passes on the package, catches deliberately broken formulas, reports them."""

import dataclasses

import numpy as np
import pytest
from _support import off_by_one_percent

from ppca_stability import VerificationReport, theorem_names, verify
from ppca_stability._ppca import stability as results_module

# Examples per theorem in the quick runs (the 200-example run lives in benchmarks/bench_verify.py).
QUICK = 10


@pytest.mark.integration
def test_every_theorem_passes_with_a_small_budget():
    report = verify(max_examples=QUICK)
    assert isinstance(report, VerificationReport)
    assert report.passed, repr(report)
    assert [r.name for r in report.results] == list(theorem_names())
    assert all(r.status == "passed" and 1 <= r.examples <= QUICK + 1 for r in report.results)
    table = repr(report)
    assert table.startswith("VerificationReport: PASSED") and "census_gaussian_binomial" in table
    assert "theory.md §3" in report["morse_index_formula"].source


def test_every_theorem_of_the_theory_is_registered():
    expected = {
        "gradient_vanishes",
        "hessian_closed_form",
        "morse_index_formula",
        "no_spurious_maxima",
        "zero_is_minimum_iff",
        "orbit_count",
        "census_gaussian_binomial",
        "joint_stationary_points",
        "elbo_bound_and_gap",
        "optimal_encoder",
        "stochastic_elbo_unbiased",
        "scale_equivariance",
        "rotation_invariance",
        "elbo_no_spurious_maxima",
        "elbo_diagonal_maximum_isolated",
    }
    assert expected <= set(theorem_names())


def test_a_broken_hessian_closed_form_is_caught(monkeypatch):
    monkeypatch.setattr(
        results_module,
        "closed_form_spectrum",
        off_by_one_percent(results_module.closed_form_spectrum),
    )
    report = verify(max_examples=50, theorems=["hessian_closed_form"])
    result = report["hessian_closed_form"]
    assert not report.passed and result.status == "failed"
    assert "Problem" in result.counterexample and "closed form" in result.counterexample
    assert "FAILED" in repr(report) and "counterexample (shrunk)" in repr(report)


def test_a_broken_census_is_caught(monkeypatch):
    original = results_module.census_dict
    monkeypatch.setattr(
        results_module,
        "census_dict",
        lambda m, q: {**original(m, q), 0: 2} if m >= 2 else original(m, q),
    )
    result = verify(max_examples=50, theorems=["census_gaussian_binomial"])[
        "census_gaussian_binomial"
    ]
    assert result.status == "failed" and "census() {0: 2" in result.counterexample


def test_the_classic_wrong_optimal_encoder_is_caught(monkeypatch):
    import ppca_stability._elbo.objective as elbo

    def posterior_variances(W, s):  # s diag(M^-1): the posterior's, not the ELBO-optimal D
        M = W.T @ W + s * np.eye(W.shape[1])
        return np.linalg.solve(M, W.T), s * np.diag(np.linalg.inv(M))

    monkeypatch.setattr(elbo, "optimal_encoder_kernel", posterior_variances)
    result = verify(max_examples=50, theorems=["optimal_encoder"])["optimal_encoder"]
    assert result.status == "failed" and "VAEExample" in result.counterexample


def test_a_second_elbo_maximum_in_the_census_is_caught(monkeypatch):
    from ppca_stability._elbo.landscape import ElboStabilityMap

    original = ElboStabilityMap.census
    monkeypatch.setattr(ElboStabilityMap, "census", lambda self: {**original(self), 0: 2})
    result = verify(max_examples=20, theorems=["elbo_no_spurious_maxima"])[
        "elbo_no_spurious_maxima"
    ]
    assert result.status == "failed" and "census {0: 2" in result.counterexample


def test_rotation_zero_modes_claimed_for_the_diagonal_encoder_are_caught(monkeypatch):
    """The map claiming the full encoder's rotation modes for the diagonal one (the pPCA
    picture) contradicts the ELBO's numeric Hessian at the maximum."""
    from ppca_stability._elbo.landscape import ElboStabilityMap

    original = ElboStabilityMap._build

    def with_rotations(self, p):  # noqa: ANN001, ANN202
        out = original(self, p)
        k = len(p.active)
        return dataclasses.replace(out, symmetry_dim=out.symmetry_dim + k * (k - 1) // 2)

    monkeypatch.setattr(ElboStabilityMap, "_build", with_rotations)
    result = verify(max_examples=50, theorems=["elbo_diagonal_maximum_isolated"])[
        "elbo_diagonal_maximum_isolated"
    ]
    assert result.status == "failed" and "symmetry_dim" in result.counterexample


def test_a_theorem_whose_module_is_missing_is_skipped(monkeypatch):
    import ppca_stability._verify.theorems as theorems

    changed = dataclasses.replace(
        theorems.THEOREMS["optimal_encoder"], requires="ppca_stability.no_such_module"
    )
    monkeypatch.setitem(theorems.THEOREMS, "optimal_encoder", changed)
    report = verify(max_examples=2, theorems=["optimal_encoder", "orbit_count"])
    assert (
        report.passed
        and report["optimal_encoder"].status == "skipped"
        and report["optimal_encoder"].examples == 0
    )


def test_seeded_runs_are_reproducible():
    a = verify(max_examples=5, seed=3, theorems=["orbit_count"])
    b = verify(max_examples=5, seed=3, theorems="orbit_count")
    assert a.passed and a.seed == 3 and a.results[0].examples == b.results[0].examples


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"max_examples": 0}, ValueError, "max_examples"),
        ({"max_examples": 2.5}, TypeError, "max_examples"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": "1"}, TypeError, "seed"),
        ({"theorems": ["nope"]}, ValueError, "theorems"),
        ({"theorems": []}, TypeError, "theorems"),
        ({"theorems": 3}, TypeError, "theorems"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        verify(**kwargs)


def test_report_lookup_of_an_unknown_theorem():
    with pytest.raises(KeyError, match="no theorem named"):
        verify(max_examples=1, theorems=["orbit_count"])["nope"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [8, 9, 10])
def test_scale_equivariance_with_random_seeds(seed):
    # seed 8 once found a joint classification that changed under S -> 0.1 S (since fixed)
    assert verify(max_examples=100, seed=seed, theorems=["scale_equivariance"]).passed


def test_theorem_names_match_the_registry_in_order():
    import ppca_stability._verify.theorems as theorems

    assert theorem_names() == tuple(theorems.THEOREMS)


@pytest.mark.integration
def test_the_command_line_parser_does_not_import_hypothesis():
    import subprocess
    import sys

    code = (
        "import sys; from ppca_stability._cli import build_parser; build_parser(); "
        "print('hypothesis' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
