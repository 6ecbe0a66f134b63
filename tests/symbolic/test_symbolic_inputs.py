"""Exact inputs: a small covariance matrix stands for its eigenvalues in the exact map."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from ppca_stability.symbolic import exact_stability_map


def _rotated(eigenvalues):
    """Q diag(eigenvalues) Q^T with a rational orthogonal Q (a Cayley transform of a skew
    matrix): exact rational entries, known rational eigenvalues, no zero entries."""
    d = len(eigenvalues)
    A = sympy.Matrix(d, d, lambda i, j: sympy.Rational(i - j, i + j + 1))  # skew-symmetric
    eye = sympy.eye(d)
    Q = (eye - A) * (eye + A).inv()
    assert Q * Q.T == eye
    return Q * sympy.diag(*eigenvalues) * Q.T


def test_a_matrix_gives_the_map_of_its_eigenvalues():
    lam = [5, 3, 2, 1]
    M = _rotated(lam)
    assert all(M[i, j] != 0 for i in range(4) for j in range(4))  # not a diagonal in disguise
    rows = [[str(M[i, j]) for j in range(4)] for i in range(4)]  # as a text file gives them
    for given in (M, rows):
        from_matrix = exact_stability_map(given, "3/2", latent_dim=2)
        from_eigenvalues = exact_stability_map(lam, "3/2", latent_dim=2)
        assert from_matrix.eigenvalues == from_eigenvalues.eigenvalues
        assert repr(from_matrix) == repr(from_eigenvalues)


def test_repeated_eigenvalues_keep_their_multiplicity():
    smap = exact_stability_map(np.array([[2, 1, 0], [1, 2, 0], [0, 0, 1]]), 1, latent_dim=1)
    assert smap.eigenvalues == (3, 1, 1)


@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        ([[2, 1], [1, 3]], r"not rational \(the roots of x\*\*2 - 5\*x \+ 5 = 0\)"),
        ([[2, 1], [0, 2]], r"must be symmetric .* entry \[1, 0\] = 0 but \[0, 1\] = 1"),
        ([[1, 2, 3], [2, 1]], "must be square; got 2 rows of 2 or 3 entries"),
        (np.ones((3, 2)), "must be square; got 3 rows of 2 entries"),
        (np.array([[0.1, 0.0], [0.0, 1.0]]), r"`eigenvalues\[0, 0\]` got the float 0.1"),
        ([[1, 0], [0, -1]], "must be non-negative"),
        (np.eye(65, dtype=int), "at most 64 x 64"),
    ],
)
def test_bad_matrices_are_named_errors(matrix, match):
    with pytest.raises(ValueError, match=match):
        exact_stability_map(matrix, 1, latent_dim=1)
