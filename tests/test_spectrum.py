"""spectrum: descending eigenvalues, orthonormal sign-fixed eigenvectors, round-off zeros made
exact.

Its input errors (shape, symmetry, positive semi-definiteness, ...) are in test_validation.py.
"""

import numpy as np
from _support import NUMERIC_RTOL, rel_err
from hypothesis import given
from hypothesis import strategies as hs

from ppca_stability import Spectrum, spectrum
from ppca_stability.strategies import covariances, spectra


@given(data=hs.data())
def test_eigenpairs_reconstruct_the_covariance(data):
    lam = data.draw(spectra(ties=True, zeros=True), label="lam")
    cov = data.draw(covariances(lam), label="cov")
    sp = spectrum(cov)
    values, U = sp.eigenvalues, sp.eigenvectors
    d = lam.size
    assert isinstance(sp, Spectrum) and sp.n_features == d
    assert values.dtype == np.float64 and U.shape == (d, d)
    assert np.all(values[:-1] >= values[1:]) and np.all(values >= 0)
    assert np.allclose(values, lam, rtol=0, atol=NUMERIC_RTOL * lam[0])
    assert np.allclose(U.T @ U, np.eye(d), rtol=0, atol=NUMERIC_RTOL)
    assert rel_err((U * values) @ U.T, cov) < NUMERIC_RTOL
    # The sign convention (scikit-learn's svd_flip): each column's largest-magnitude entry is
    # positive.
    assert np.all(U[np.argmax(np.abs(U), axis=0), np.arange(d)] > 0)
    # Values alone: the same eigenvalues, no vectors.
    alone = spectrum(cov, vectors=False)
    assert alone.eigenvectors is None
    assert np.allclose(alone.eigenvalues, values, rtol=0, atol=NUMERIC_RTOL * lam[0])


def test_round_off_eigenvalues_of_a_singular_covariance_are_exactly_zero(rng, digits_cov):
    # Rank 3 in 8 dimensions: eigh returns five values of size ~1e-16, of either sign.
    X = rng.normal(size=(4, 8))
    X -= X.mean(axis=0)
    lam = spectrum(X.T @ X / 4).eigenvalues
    assert np.count_nonzero(lam) == 3 and np.all(lam[3:] == 0.0)
    # The digits data have three constant pixels: three zero eigenvalues, exactly.
    digits_lam = spectrum(digits_cov).eigenvalues
    assert np.all(digits_lam[-3:] == 0.0) and digits_lam[-4] > 1e-6 * digits_lam[0]


def test_eigenvalue_order_and_sign_do_not_depend_on_the_input_order():
    cov = np.diag([1.0, 3.0, 2.0])
    sp = spectrum(cov)
    np.testing.assert_array_equal(sp.eigenvalues, [3.0, 2.0, 1.0])
    np.testing.assert_array_equal(np.abs(sp.eigenvectors), np.eye(3)[:, [1, 2, 0]])
    assert np.all(sp.eigenvectors.sum(axis=0) == 1.0)
    flipped = spectrum(-np.eye(3) @ cov @ -np.eye(3))
    np.testing.assert_array_equal(flipped.eigenvectors, sp.eigenvectors)


def test_repr_shows_the_leading_eigenvalues():
    assert (
        repr(spectrum(np.diag([3.0, 2.0, 1.0]))) == "Spectrum(n_features=3, eigenvalues=[3, 2, 1])"
    )
    many = repr(spectrum(np.diag(np.arange(8.0, 0.0, -1.0))))
    assert many == "Spectrum(n_features=8, eigenvalues=[8, 7, 6, 5, 4, 3, ...])"
