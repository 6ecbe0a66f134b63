"""spectrum: descending eigenvalues, orthonormal sign-fixed eigenvectors, round-off zeros made
exact.

Its input errors (shape, symmetry, positive semi-definiteness, ...) are in test_validation.py.
"""

import warnings

import numpy as np
import pytest
from _support import NUMERIC_RTOL, rel_err
from hypothesis import given
from hypothesis import strategies as hs

from ppca_stability import (
    PrecisionWarning,
    Spectrum,
    covariance,
    ppca_mle,
    spectrum,
    stability_map,
)
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


# ----------------------------------------------------------------------------- zero eigenvalues
def test_exact_small_eigenvalues_next_to_a_huge_one_are_kept():
    # Regression: the 100 d eps lam_max cut zeroed 4, 3, 2, 1 (eigh returns them exactly for a
    # diagonal matrix) and stability_map reported 2 points; the exact count is 2^5 (closed form,
    # as symbolic.exact_stability_map gives), and ppca_mle then claimed "rank 1".
    S = np.diag([1e16, 4.0, 3.0, 2.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for vectors in (True, False):
            assert spectrum(S, vectors=vectors).eigenvalues.tolist() == [1e16, 4.0, 3.0, 2.0, 1.0]
        assert stability_map(S, 0.5).n_points == 2**5
        assert ppca_mle(S, 3).sigma2 == 1.5  # mean of the discarded eigenvalues 2 and 1


def test_features_on_scales_1e8_apart_keep_their_small_eigenvalues(rng):
    # Regression (fit_linear_vae): features differing in scale by 1e8. Reference: the
    # eigenvalues of the standardised covariance, scaled back through the tiny features' block.
    X = rng.normal(size=(200, 4)) * np.array([1e8, 1.0, 1.0, 1.0])
    S = covariance(X)
    lam = spectrum(S).eigenvalues
    assert np.all(lam > 0)
    # The small block is nearly decoupled from the huge feature: its eigenvalues are those of the
    # Schur complement S_22 - S_21 S_11^-1 S_12, to first order.
    schur = S[1:, 1:] - np.outer(S[1:, 0], S[0, 1:]) / S[0, 0]
    assert np.allclose(lam[1:], np.linalg.eigvalsh(schur)[::-1], rtol=1e-6)


def test_unresolvable_eigenvalues_are_zeroed_with_a_precision_warning():
    # Feature 1 (variance 1e16) and 49 features almost collinear with it (variance 2.5e13 each)
    # plus independent noise of variance 5: the eigenvalues near 5 are computed to within their
    # residual, but the matrix's own round-off (entrywise d eps relative, the package's one rule)
    # moves them by up to d eps |u|^T |S| |u| ~ 11, more than their size: zeroed, with a warning.
    d = 50
    v = np.r_[1.0, np.full(d - 1, 0.05)]
    S = 1e16 * np.outer(v, v) + np.diag(np.r_[0.0, np.full(d - 1, 5.0)])
    with pytest.warns(PrecisionWarning, match=r"eigenvalue\(s\) of `cov`.*standardise"):
        lam = spectrum(S).eigenvalues
    assert np.all(lam[1:] == 0.0)


def test_a_small_eigenvalue_resolved_by_the_standard_round_off_rule_is_kept():
    # Feature 2 (variance 4.9e13) almost collinear with feature 1 (1e16): the small eigenvalue,
    # det / tr = 5e16 / (1e16 + 4.9e13 + 5), moves by at most d eps |u|^T |S| |u| ~ 0.09 under
    # the matrix's round-off (NumPy's rank tolerance, applied at its own scale): it is kept, and
    # agrees with the closed form to that bound. (The former 100x coarser rule zeroed it.)
    S = np.array([[1e16, 7e14], [7e14, 4.9e13 + 5.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lam = spectrum(S).eigenvalues
    exact = (1e16 * (4.9e13 + 5.0) - 7e14**2) / np.trace(S)
    u = np.array([-7e14, 1e16 - lam[1]])  # (S - lam_1 I) u = 0 from the first row
    u /= np.linalg.norm(u)
    bound = 2 * np.finfo(float).eps * float(np.abs(u) @ np.abs(S) @ np.abs(u))
    assert abs(lam[1] - exact) <= bound


def test_an_eigenvalue_above_a_resolved_one_is_kept():
    # The exact 1 of an uncoupled third feature is resolved, so the eigenvalue above it is not 0.
    S = np.array([[1e16, 1e15, 0.0], [1e15, 1e14 + 4.0, 0.0], [0.0, 0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lam = spectrum(S).eigenvalues
    assert np.all(lam[:-1] >= lam[1:]) and lam[2] == 1.0 and lam[1] > 1.0


def test_round_off_eigenvalues_of_rank_deficient_data_are_zeroed_silently(rng):
    X = rng.normal(size=(4, 30))  # rank 3 after centring
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for vectors in (True, False):
            assert np.count_nonzero(spectrum(covariance(X), vectors=vectors).eigenvalues) == 3


def test_a_spectrum_is_complete_unless_told_its_size_and_then_needs_its_trace():
    from ppca_stability import Spectrum

    whole = Spectrum(np.array([3.0, 2.0, 1.0]), None)
    assert whole.is_complete and whole.n_features == 3 and whole.trace == 6.0
    top = Spectrum(np.array([3.0, 2.0]), None, 5)
    assert not top.is_complete and top.trace is None
    assert "top 2 (partial)" in repr(top)
    with pytest.raises(ValueError, match="`n_features`"):
        Spectrum(np.array([3.0, 2.0]), None, 1)


def test_partial_spectrum_of_a_covariance_is_the_top_of_the_complete_one():
    from ppca_stability import spectrum

    rng = np.random.default_rng(3)
    A = rng.standard_normal((30, 30))
    cov = A @ A.T
    whole = spectrum(cov)
    top = spectrum(cov, n_components=4)
    np.testing.assert_allclose(top.eigenvalues, whole.eigenvalues[:4], rtol=1e-12)
    # Same sign convention: the entry of largest magnitude of each eigenvector is positive.
    np.testing.assert_allclose(top.vectors, whole.vectors[:, :4], atol=1e-10)
    assert top.trace == pytest.approx(np.trace(cov), rel=1e-14)
    cut = spectrum(cov, above=float(whole.eigenvalues[5]) * 1.01)
    assert cut.eigenvalues.size == 5 and cut.rest_max < whole.eigenvalues[4]


def test_a_subnormal_eigenvalue_is_zero_so_a_learned_map_lists_its_points():
    """A rotated diag(10, 0, 0) can come out of LAPACK with an eigenvalue of 5e-324; the mean of
    the discarded eigenvalues then underflows to 0 and the point (0,) had a log(0) likelihood."""
    from ppca_stability import Spectrum, stability_map
    from ppca_stability._spectra.container import from_eigenpairs

    Q = np.array(
        [
            [0.6194454131708773, 0.12825158733016515, -0.7744926794030103],
            [0.7850397315432901, -0.10119851812770846, 0.6111231298414378],
            [3.2697118733763885e-160, 0.9865649447836918, 0.16336954956157254],
        ]
    )
    S = from_eigenpairs(np.array([10.0, 0.0, 0.0]), Q)
    smap = stability_map(S, "learned", latent_dim=1)
    assert [p.active for p in smap.points] == [()]
    assert smap.eigenvalues[1:].tolist() == [0.0, 0.0]
    assert Spectrum(np.array([10.0, 5e-324, 0.0]), None).eigenvalues.tolist() == [10.0, 0.0, 0.0]


def test_sign_fix_makes_the_first_entry_of_largest_magnitude_positive():
    """The eigenvector sign convention (scikit-learn's svd_flip): in each column the first entry
    of largest magnitude, as argmax(|U|) picks it, is made positive; columns whose maximum and
    minus minimum tie exactly (here (1, -1) / sqrt(2) in both orders and with a larger entry
    elsewhere) and a zero column are decided the same way."""
    from ppca_stability._spectra.container import sign_fix

    rng = np.random.default_rng(4)
    U = rng.standard_normal((7, 6))
    U[:, 1] = [0.0, -0.5, 0.5, 0.1, 0.0, 0.0, 0.0]
    U[:, 2] = [0.0, 0.5, -0.5, 0.1, 0.0, 0.0, 0.0]
    U[:, 3] = [0.5, -0.9, 0.9, 0.0, 0.0, 0.0, 0.0]
    U[:, 4] = 0.0
    rows = np.argmax(np.abs(U), axis=0)
    signs = np.sign(U[rows, np.arange(U.shape[1])])
    expected = U * np.where(signs == 0, 1.0, signs)
    fixed = sign_fix(U.copy())
    np.testing.assert_array_equal(fixed, expected)
    assert fixed[1, 1] > 0 and fixed[1, 2] > 0 and fixed[1, 3] > 0
    # A strided view (the descending columns of eigh) is fixed in place.
    V = rng.standard_normal((5, 4))
    view = V[:, ::-1]
    sign_fix(view)
    assert np.all(np.abs(V).argmax(axis=0) == np.argmax(V, axis=0))


@pytest.mark.parametrize("order", ["C", "F"])
def test_the_complete_spectrum_is_numpys_eigh_to_the_bit_in_either_memory_order(order):
    """LAPACK reads a C-ordered covariance through its transpose (the same symmetric matrix,
    no transposing copy): eigenvalues and eigenvectors equal numpy.linalg.eigh's on the matrix
    as given, bit for bit, up to the descending order and the sign convention."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 40)) * np.linspace(3.0, 0.2, 40)
    S = np.asarray(covariance(X), order=order)
    lam, U = np.linalg.eigh(np.ascontiguousarray(S))
    spec = spectrum(S)
    assert np.array_equal(spec.eigenvalues, lam[::-1])
    signs = np.sign(spec.eigenvectors[0] / U[0, ::-1])
    assert np.array_equal(spec.eigenvectors, U[:, ::-1] * signs)
    values = spectrum(S, vectors=False).eigenvalues
    assert np.array_equal(values, np.linalg.eigvalsh(np.ascontiguousarray(S))[::-1])
