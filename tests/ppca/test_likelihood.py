"""The log-likelihood and its gradient against naive formulas (explicit C and its inverse), finite
differences and scikit-learn's PCA.score; no d x d inverse or determinant is ever formed."""

import numpy as np
import pytest
import scipy.linalg
from _support import (
    FD_RTOL,
    NUMERIC_RTOL,
    cov_from_eigenvalues,
    fd_gradient,
    naive_gradient,
    naive_log_likelihood,
    rel_err,
)

from ppca_stability import covariance, log_likelihood, log_likelihood_gradient, ppca_mle

# scikit-learn's PCA.score against our likelihood: both exact closed forms in float64.
SKLEARN_RTOL = 1e-10


@pytest.fixture(params=[(4, 2), (6, 6), (7, 3), (1, 1)])
def problem(request, rng):
    d, q = request.param
    S = cov_from_eigenvalues(rng.exponential(size=d) + 0.05, rng)
    return rng.normal(size=(d, q)), S, float(rng.uniform(0.1, 2.0))


def test_log_likelihood_matches_naive_formula(problem):
    W, S, s = problem
    assert log_likelihood(W, S, s) == pytest.approx(naive_log_likelihood(W, S, s), rel=NUMERIC_RTOL)


def test_gradient_matches_naive_formula_and_finite_differences(problem):
    W, S, s = problem
    gW, gs = log_likelihood_gradient(W, S, s)
    nW, ns = naive_gradient(W, S, s)
    assert rel_err(gW, nW) < NUMERIC_RTOL
    assert gs == pytest.approx(ns, rel=NUMERIC_RTOL, abs=1e-12)
    fdW = fd_gradient(lambda w: log_likelihood(w.reshape(W.shape), S, s), W.ravel())
    fds = fd_gradient(lambda v: log_likelihood(W, S, v[0]), np.array([s]))
    assert rel_err(gW.ravel(), fdW) < FD_RTOL
    assert gs == pytest.approx(fds[0], rel=FD_RTOL, abs=1e-9)


def test_rank_deficient_loadings_and_singular_cov(rng):
    S = cov_from_eigenvalues([3.0, 1.0, 0.0, 0.0], rng)
    W = np.zeros((4, 3))
    W[:, 0] = rng.normal(size=4)
    for s in (1e-3, 0.5, 7.0):
        assert log_likelihood(W, S, s) == pytest.approx(
            naive_log_likelihood(W, S, s), rel=NUMERIC_RTOL
        )
        assert (
            rel_err(log_likelihood_gradient(W, S, s)[0], naive_gradient(W, S, s)[0]) < NUMERIC_RTOL
        )


def test_no_dense_inverse_or_determinant_is_formed(monkeypatch, problem):
    W, S, s = problem
    expected = naive_log_likelihood(W, S, s)

    def forbidden(*args, **kwargs):
        raise AssertionError("a d x d inverse, solve or determinant was formed")

    for mod, names in (
        (np.linalg, ("inv", "solve", "det", "slogdet", "pinv")),
        (scipy.linalg, ("inv", "solve", "det", "cho_factor", "lu_factor", "pinv")),
    ):
        for name in names:
            monkeypatch.setattr(mod, name, forbidden)
    assert log_likelihood(W, S, s) == pytest.approx(expected, rel=NUMERIC_RTOL)
    log_likelihood_gradient(W, S, s)


@pytest.mark.parametrize("q", [1, 5, 10, 30, 60])
def test_matches_sklearn_pca_score_on_digits(q, digits):
    """theory.md §8: PCA.score = our l with the model from the ddof=1 covariance and the data
    term from the ddof=0 covariance."""
    from sklearn.decomposition import PCA

    X = digits
    n = X.shape[0]
    pca = PCA(q, whiten=False, svd_solver="full").fit(X)
    S0 = covariance(X)
    fit1 = ppca_mle(S0 * n / (n - 1), q)  # the ddof=1 model: sigma2 = sklearn's noise_variance_
    assert fit1.sigma2 == pytest.approx(pca.noise_variance_, rel=SKLEARN_RTOL)
    ours = log_likelihood(fit1.loadings, S0, fit1.sigma2)
    assert ours == pytest.approx(pca.score(X), rel=SKLEARN_RTOL)
    # and our own MLE on the ddof=0 covariance is at least as good on the training data
    assert ppca_mle(S0, q).log_likelihood >= ours - 1e-12 * abs(ours)


def test_numpy_scalar_and_integer_inputs_are_accepted():
    W = np.array([[1], [0]])  # integer loadings
    assert log_likelihood(W, np.eye(2, dtype=int), np.float32(0.5)) == pytest.approx(
        naive_log_likelihood(W.astype(float), np.eye(2), 0.5), rel=NUMERIC_RTOL
    )
