"""Ties and tolerances: the grid-wide degeneracy test against the map's, value by value."""

import warnings

import numpy as np
from _support import SPECTRUM

from ppca_stability import DegeneracyWarning, stability_map
from ppca_stability._tolerance import fixed_degeneracy, n_above, tie_sign


def test_tie_sign_and_n_above_share_one_tie_rule():
    # Within rtol * max(|a|, |b|) + floor: tied (0), and a tied eigenvalue is not above s.
    lam = np.array([4.0, 2.0 + 1e-12, 1.0])
    assert tie_sign(lam, 2.0, 1e-9, 0.0).tolist() == [1, 0, -1]
    assert n_above(lam, 2.0, 1e-9, 0.0) == 1
    assert n_above(lam, 2.0, 0.0, 0.0) == 2
    assert n_above(lam, np.array([0.5, 2.0, 5.0]), 1e-9, 0.0).tolist() == [3, 1, 0]


def test_grid_degeneracy_test_agrees_with_the_map_at_each_value():
    # Phase diagrams decide degeneracy for a whole sigma2 grid at once (fixed_degeneracy); a map
    # built at each grid value must agree. Eigenvalues, values 1e-12 above them, and others.
    grid = np.concatenate([SPECTRUM, SPECTRUM * (1 + 1e-12), [0.05, 2.0, 9.0]])
    for lam in (SPECTRUM, np.array([3.0, 1.0, 1.0, 0.5])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegeneracyWarning)
            maps = [stability_map(np.diag(lam), float(s), latent_dim=2) for s in grid]
        n_near, tied_above = fixed_degeneracy(lam, grid, maps[0].rtol, maps[0].floor)
        for g, smap in enumerate(maps):
            assert bool(n_near[g] > 0 or tied_above[g]) == smap.has_degeneracy
