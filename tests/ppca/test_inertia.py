"""The closed-form Hessian at the stationary points: the sign counter (`inertia_counter`, both its
scalar and vectorised branches) against the signs of `closed_form_spectrum`, point by point, ties
included; the map's census and stability counts against those signs."""

import warnings
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as hs

from ppca_stability import DegeneracyWarning, Stability, stability_map
from ppca_stability._ppca import inertia as inertia
from ppca_stability._ppca.inertia import closed_form_spectrum, symmetry_dim


def test_symmetry_dim_counts_rotations_among_and_out_of_live_columns():
    # k (k - 1) / 2 rotations among the live columns, k (q - k) of live into dead ones.
    assert [symmetry_dim(k, 4) for k in range(5)] == [0, 3, 5, 6, 6]
    assert symmetry_dim(3, 3) == 3


@given(
    lam=hs.lists(hs.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 5.0]), min_size=2, max_size=6),
    q=hs.integers(1, 5),
    s=hs.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 4.0]),
    learned=hs.booleans(),
)
@settings(deadline=None, max_examples=80)
def test_counted_inertia_equals_the_closed_form_spectrum(lam, q, s, learned):
    """Points, census() and stability_counts() count signs without building spectra; the counts
    must equal the signs of the closed-form spectrum of every point, ties included, in both the
    scalar and the vectorised branch of the counter."""
    lam = np.sort(np.array(lam))[::-1]
    q = min(q, lam.size - 1 if learned else lam.size)
    assume(lam[0] > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        smap = stability_map(np.diag(lam), "learned" if learned else s, latent_dim=q)
        points = list(smap.points)
    _assert_counts_match_closed_form(smap, points)


def _assert_counts_match_closed_form(smap, points):
    by_index, by_kind = {}, {}
    for p in points:
        _assert_point_counts_match_closed_form(smap, p)
        by_index[p.morse_index] = by_index.get(p.morse_index, 0) + 1
        by_kind[p.stability] = by_kind.get(p.stability, 0) + 1
    assert smap.census() == dict(sorted(by_index.items()))
    assert smap.stability_counts() == {k: by_kind[k] for k in Stability if k in by_kind}


def _assert_point_counts_match_closed_form(smap, p):
    spec = closed_form_spectrum(
        smap.eigenvalues,
        np.array(p.active, dtype=np.intp),
        p.sigma2,
        smap.latent_dim,
        joint=smap.is_learned,
        rtol=smap.rtol,
        floor=smap.floor,
    )
    expected = (spec.count(1), spec.count(-1), spec.count(0))
    assert (p.morse_index, p.n_degenerate, p.symmetry_dim) == (
        expected[0],
        expected[2],
        spec.symmetry_dim,
    )
    assert p.stability is Stability.from_counts(*expected)
    for threshold in (0, 10**9):  # the counter's vectorised branch for every k, then its scalar one
        with mock.patch.object(inertia, "_VECTORISE_FROM", threshold):
            count = inertia.inertia_counter(
                smap.eigenvalues, smap.latent_dim, smap.rtol, smap.floor, joint=smap.is_learned
            )
            assert count(p.active, p.sigma2) == expected


@pytest.mark.parametrize("learned", [False, True])
def test_counted_inertia_of_large_active_sets_with_ties(learned):
    # Active sets beyond _VECTORISE_FROM, tied eigenvalues, and (fixed) sigma2 on an eigenvalue.
    lam = np.repeat([7.0, 5.0, 3.0, 2.0, 1.0, 0.5, 0.0], [1, 8, 8, 8, 6, 5, 4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        smap = stability_map(np.diag(lam), "learned" if learned else 1.0, latent_dim=30)
        points = (
            [smap.global_maximum]
            if learned
            else [smap.point(tuple(range(k))) for k in (17, 20, 25)]
        )
    assert max(p.n_active for p in points) > inertia._VECTORISE_FROM
    for p in points:
        _assert_point_counts_match_closed_form(smap, p)
