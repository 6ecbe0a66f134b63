"""Stationary points: enumeration, counts and unranking of active sets, the points' loadings,
gradient and likelihood (theory.md §2, §5)."""

import itertools
import math

import numpy as np
import pytest
from _support import EXACT_RTOL, NUMERIC_RTOL, SPECTRUM, cov_from_eigenvalues, rel_err

from ppca_stability import log_likelihood, log_likelihood_gradient, stability_map
from ppca_stability._ppca import enumeration as enumeration

# The gradient at a stationary point is round-off: relative to the gradient's natural scale.
GRAD_ATOL_REL = 1e-10


def _brute_joint(lam, q):
    d = lam.size
    out = []
    for k in range(min(q, d - 1) + 1):
        for c in itertools.combinations(range(d), k):
            rest = np.delete(lam, list(c))
            s = rest.mean()
            if s > 0 and all(lam[i] > s for i in c):
                out.append(c)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_joint_enumeration_and_count_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 9))
    q = int(rng.integers(1, d))
    lam = np.sort(rng.exponential(size=d) * (rng.random(d) > 0.25))[::-1]
    brute = _brute_joint(lam, q)
    assert list(enumeration.iter_joint(lam, q)) == brute
    assert enumeration.count_joint(lam, q) == len(brute)


def _brute_joint_tol(lam, q, rtol, floor):
    return [
        c
        for k in range(min(q, lam.size - 1) + 1)
        for c in itertools.combinations(range(lam.size), k)
        if enumeration.is_joint_admissible(lam, c, q, rtol, floor)
    ]


def test_joint_enumeration_count_and_unranking_with_zeros_ties_and_tolerances():
    # Singular spectra with latent_dim >= rank: the sets keeping every positive eigenvalue have
    # s_I = 0, and tr S - sum_I lam rounded to -1 ulp once admitted them and every superset with
    # zero eigenvalues (count 25 instead of 10 for one of these); ties and tolerances as in maps.
    rng = np.random.default_rng(1)
    draws = [
        lambda d: rng.exponential(size=d) * (rng.random(d) > 0.25),
        lambda d: rng.choice([0.0, 0.5, 1.0, 2.0, 3.0, 5.0], size=d),
        lambda d: rng.integers(0, 4, size=d).astype(float),
        lambda d: rng.exponential(size=d) * 10.0 ** rng.integers(-5, 5),
    ]
    for trial in range(400):
        d = int(rng.integers(1, 11))
        q = int(rng.integers(1, d + 2))
        lam = np.sort(draws[trial % 4](d))[::-1]
        rtol, floor = float(rng.choice([0.0, 1e-9, 0.1])), float(rng.choice([0.0, 1e-12, 0.05]))
        brute = _brute_joint_tol(lam, q, rtol, floor)
        assert list(enumeration.iter_joint(lam, q, rtol, floor)) == brute
        assert enumeration.count_joint(lam, q, rtol, floor) == len(brute)
        assert [
            enumeration.unrank_joint(i, lam, q, rtol, floor) for i in range(len(brute))
        ] == brute
        with pytest.raises(IndexError):
            enumeration.unrank_joint(len(brute), lam, q, rtol, floor)
        with pytest.raises(IndexError):
            enumeration.unrank_joint(-1, lam, q, rtol, floor)


@pytest.mark.parametrize("m,q", [(0, 3), (1, 1), (5, 2), (7, 7), (9, 4)])
def test_fixed_count_order_and_unranking(m, q):
    sets = list(enumeration.iter_fixed(m, q))
    assert (
        len(sets)
        == enumeration.count_fixed(m, q)
        == sum(math.comb(m, k) for k in range(min(q, m) + 1))
    )
    assert sets == sorted(sets, key=lambda a: (len(a), a))
    assert [enumeration.unrank_fixed(i, m, q) for i in range(len(sets))] == sets


@pytest.mark.parametrize("sigma2", [0.2, 1.3, "learned"])
def test_gradient_vanishes_and_likelihood_closed_form(sigma2, rng):
    lam = np.array([6.0, 3.5, 2.0, 1.2, 0.7, 0.0])  # singular, like the digits covariance
    S = cov_from_eigenvalues(lam, rng)
    smap = stability_map(S, sigma2, latent_dim=4)
    for p in smap.points:
        gW, gs = log_likelihood_gradient(p.loadings, S, p.sigma2)
        scale = np.sqrt(np.max(lam)) / p.sigma2
        assert np.max(np.abs(gW)) <= GRAD_ATOL_REL * scale
        if smap.is_learned:
            assert abs(gs) <= GRAD_ATOL_REL / p.sigma2
        assert p.log_likelihood == pytest.approx(
            log_likelihood(p.loadings, S, p.sigma2), rel=NUMERIC_RTOL
        )
        # live columns first, orthogonal, with norms sqrt(lam_i - s)
        k = p.n_active
        norms = np.linalg.norm(p.loadings, axis=0)
        assert np.allclose(norms[:k], np.sqrt(lam[list(p.active)] - p.sigma2), rtol=EXACT_RTOL * 10)
        assert np.all(norms[k:] == 0)


def test_grid_primitives_match_their_scalar_versions():
    # What phase diagrams use: counts for every m at once, the top point's likelihood for arrays.
    lam = SPECTRUM
    for q in (1, 3, 6):
        assert enumeration.count_fixed_upto(8, q) == [
            enumeration.count_fixed(m, q) for m in range(9)
        ]
    k = np.array([0, 1, 3, 6])
    s = np.array([7.0, 5.0, 1.5, 0.1])
    expected = [
        enumeration.stationary_log_likelihood(lam, tuple(range(a)), b) for a, b in zip(k, s)
    ]
    assert rel_err(enumeration.top_log_likelihood(lam, k, s), expected) < EXACT_RTOL
