"""The shared input validators, through every public function that uses them: the same mistake
gives the same error (type and message naming the parameter) wherever it is made.

Errors particular to one function (``latent_dim`` below ``n_features`` when sigma2 is learned,
``method``, a phase-diagram grid, ...) are tested with that function.
"""

import numpy as np
import pytest

import ppca_stability as ps

D = 2
W = np.ones((D, 1))
COV = np.diag([2.0, 1.0])  # valid, no ties

# --------------------------------------------------------------------------- cov
# Functions taking a covariance, called with a bad one (the loadings match its first dimension).
COV_USERS = {
    "spectrum": lambda cov: ps.spectrum(cov),
    "stability_map": lambda cov: ps.stability_map(cov, 1.0),
    "ppca_mle": lambda cov: ps.ppca_mle(cov, 1),
    "phase_diagram": lambda cov: ps.phase_diagram(cov),
    "predict_collapse": lambda cov: ps.predict_collapse(cov, latent_dim=1, sigma2=1.0),
    "log_likelihood": lambda cov: ps.log_likelihood(_loadings_for(cov), cov, 1.0),
    "log_likelihood_gradient": lambda cov: ps.log_likelihood_gradient(_loadings_for(cov), cov, 1.0),
    "log_likelihood_hessian": lambda cov: ps.log_likelihood_hessian(_loadings_for(cov), cov, 1.0),
    "classify_point": lambda cov: ps.classify_point(_loadings_for(cov), cov, 1.0),
}
# Positive semi-definiteness is checked where the eigenvalues are computed (no extra factorisation).
EIGEN_USERS = ("spectrum", "stability_map", "ppca_mle", "phase_diagram", "predict_collapse")


def _loadings_for(cov) -> np.ndarray:
    shape = np.shape(cov)
    return np.ones((shape[0] if len(shape) == 2 else D, 1))


COV_ERRORS = {
    "not square": (
        np.ones((2, 3)),
        ValueError,
        r"`cov` must be a square 2-D array.*covariance\(data\)",
    ),
    "not symmetric": (np.array([[1.0, 2.0], [0.0, 1.0]]), ValueError, "`cov` must be symmetric"),
    "NaN": (np.diag([1.0, np.nan]), ValueError, "`cov` must contain only finite"),
    "complex": (COV * 1j, TypeError, "`cov` must be real"),
    "empty": (np.zeros((0, 0)), ValueError, "`cov` must not be empty"),
    "strings": ([["a"]], TypeError, "`cov` must be an array of real numbers"),
    "None": (None, TypeError, "`cov` must be an array of real numbers; got None"),
    "masked": (
        np.ma.masked_array(np.eye(2), mask=[[0, 1], [0, 0]]),
        TypeError,
        "`cov` is a masked array; masks are not supported",
    ),
    # Necessary conditions for PSD, checked in O(d^2) by every user (log_likelihood and its
    # derivatives accepted a negative diagonal).
    "negative variance": (
        np.diag([1.0, -1.0]),
        ValueError,
        r"positive semi-definite; its diagonal entry \[1, 1\] is -1 < 0",
    ),
    "correlation above 1": (
        np.array([[1.0, 2.0], [2.0, 1.0]]),
        ValueError,
        r"positive semi-definite; \|entry \[0, 1\]\| = 2 exceeds sqrt",
    ),
}


@pytest.mark.parametrize("error", sorted(COV_ERRORS))
@pytest.mark.parametrize("user", sorted(COV_USERS))
def test_bad_cov(user, error):
    cov, exc, match = COV_ERRORS[error]
    with pytest.raises(exc, match=match):
        COV_USERS[user](cov)


@pytest.mark.parametrize("user", EIGEN_USERS)
def test_cov_not_positive_semi_definite(user):
    # Passes the entrywise checks (unit diagonal, |correlations| 0.9); eigenvalues -0.8, 1.9, 1.9.
    cov = np.array([[1.0, 0.9, 0.9], [0.9, 1.0, -0.9], [0.9, -0.9, 1.0]])
    with pytest.raises(
        ValueError, match="`cov` must be positive semi-definite; its smallest eigenvalue is -0.8"
    ):
        COV_USERS[user](cov)


# --------------------------------------------------------------------------- sigma2
# Functions taking one noise variance; the first two also accept "learned".
SIGMA2_USERS = {
    "stability_map": lambda s: ps.stability_map(COV, s, latent_dim=1),
    "ppca_mle": lambda s: ps.ppca_mle(np.diag([2.0, 1.0, 0.5]), 1, sigma2=s),
    "log_likelihood": lambda s: ps.log_likelihood(W, COV, s),
    "log_likelihood_gradient": lambda s: ps.log_likelihood_gradient(W, COV, s),
    "log_likelihood_hessian": lambda s: ps.log_likelihood_hessian(W, COV, s),
    "hessian_vector_product": lambda s: ps.hessian_vector_product(W, COV, s, np.ones(D)),
    "classify_point": lambda s: ps.classify_point(W, COV, s),
    "predict_collapse": lambda s: ps.predict_collapse(COV, latent_dim=1, sigma2=s),
    "beta_from_sigma2": lambda s: ps.beta_from_sigma2(s, reconstruction="sse"),
}
LEARNED_ALLOWED = ("stability_map", "ppca_mle")

SIGMA2_ERRORS = {
    "zero": (0.0, ValueError, r"`sigma2` must be positive and finite; got 0\.0"),
    "negative": (-1.0, ValueError, r"`sigma2` must be positive and finite; got -1\.0"),
    "NaN": (np.nan, ValueError, "`sigma2` must be positive and finite; got nan"),
    "bool": (True, TypeError, "`sigma2` must be a positive float; got the bool True"),
    "list": ([1.0], TypeError, r"`sigma2` must be a positive float; got list \[1\.0\]"),
    "misspelt learned": (
        "learnt",
        ValueError,
        "`sigma2` must be a positive float.*got the string 'learnt'",
    ),
}


@pytest.mark.parametrize("error", sorted(SIGMA2_ERRORS))
@pytest.mark.parametrize("user", sorted(SIGMA2_USERS))
def test_bad_sigma2(user, error):
    sigma2, exc, match = SIGMA2_ERRORS[error]
    with pytest.raises(exc, match=match):
        SIGMA2_USERS[user](sigma2)


@pytest.mark.parametrize("user", sorted(set(SIGMA2_USERS) - {"predict_collapse"}))
def test_sigma2_none(user):
    # predict_collapse takes sigma2=None to mean "use beta" (tested with it).
    with pytest.raises(TypeError, match="`sigma2` must be a positive float; got NoneType"):
        SIGMA2_USERS[user](None)


@pytest.mark.parametrize("user", sorted(SIGMA2_USERS))
def test_sigma2_learned_only_where_allowed(user):
    if user in LEARNED_ALLOWED:
        SIGMA2_USERS[user]("learned")
        with pytest.raises(ValueError, match='`sigma2` must be a positive float or "learned"'):
            SIGMA2_USERS[user]("learnt")
    else:
        with pytest.raises(
            ValueError, match="`sigma2` must be a positive float; got the string 'learned'"
        ):
            SIGMA2_USERS[user]("learned")


# --------------------------------------------------------------------------- latent_dim
LATENT_DIM_USERS = {
    "stability_map": lambda q: ps.stability_map(COV, 1.0, latent_dim=q),
    "phase_diagram": lambda q: ps.phase_diagram(COV, latent_dim=q),
    "ppca_mle": lambda q: ps.ppca_mle(np.eye(3), q),
    "predict_collapse": lambda q: ps.predict_collapse(COV, latent_dim=q, sigma2=1.0),
}

LATENT_DIM_ERRORS = {
    "zero": (0, ValueError, "`latent_dim` must be a positive integer; got 0"),
    "negative": (-1, ValueError, "`latent_dim` must be a positive integer; got -1"),
    "float": (1.5, TypeError, "`latent_dim` must be a positive integer; got float 1.5"),
    "string": ("1", TypeError, "`latent_dim` must be a positive integer; got str"),
    "bool": (True, TypeError, "`latent_dim` must be a positive integer; got bool"),
}


@pytest.mark.parametrize("error", sorted(LATENT_DIM_ERRORS))
@pytest.mark.parametrize("user", sorted(LATENT_DIM_USERS))
def test_bad_latent_dim(user, error):
    latent_dim, exc, match = LATENT_DIM_ERRORS[error]
    with pytest.raises(exc, match=match):
        LATENT_DIM_USERS[user](latent_dim)


@pytest.mark.parametrize("user", ["stability_map", "phase_diagram", "predict_collapse"])
def test_latent_dim_above_n_features(user):
    # With sigma2 learned (ppca_mle) the bound is n_features - 1, tested with ppca_mle.
    with pytest.raises(
        ValueError, match=r"`latent_dim` must be at most the number of features \(2\); got 3"
    ):
        LATENT_DIM_USERS[user](D + 1)


# --------------------------------------------------------------------------- loadings
LOADINGS_USERS = {
    "log_likelihood": lambda W_: ps.log_likelihood(W_, np.eye(3), 1.0),
    "log_likelihood_gradient": lambda W_: ps.log_likelihood_gradient(W_, np.eye(3), 1.0),
    "log_likelihood_hessian": lambda W_: ps.log_likelihood_hessian(W_, np.eye(3), 1.0),
    "hessian_vector_product": lambda W_: ps.hessian_vector_product(W_, np.eye(3), 1.0, np.ones(3)),
    "classify_point": lambda W_: ps.classify_point(W_, np.eye(3), 1.0),
}

LOADINGS_ERRORS = {
    "too few rows": (
        np.ones((2, 1)),
        ValueError,
        "`loadings` must have n_features = 3 rows to match `cov`",
    ),
    "transposed": (
        np.ones((1, 3)),
        ValueError,
        "`loadings` must have n_features = 3 rows.*transpose",
    ),
    "no columns": (np.ones((3, 0)), ValueError, "`loadings` must have at least one column"),
    "1-D": (np.ones(3), ValueError, r"`loadings` must be a 2-D \(n_features, latent_dim\) array"),
    "NaN": (np.full((3, 1), np.nan), ValueError, "`loadings` must contain only finite"),
    "complex": (np.ones((3, 1), dtype=complex), TypeError, "`loadings` must be real"),
    "string": ("abc", TypeError, "`loadings` must be an array of real numbers; got a string"),
}


@pytest.mark.parametrize("error", sorted(LOADINGS_ERRORS))
@pytest.mark.parametrize("user", sorted(LOADINGS_USERS))
def test_bad_loadings(user, error):
    loadings, exc, match = LOADINGS_ERRORS[error]
    with pytest.raises(exc, match=match):
        LOADINGS_USERS[user](loadings)


# --------------------------------------------------------------------------- rtol
RTOL_USERS = {
    "stability_map": lambda r: ps.stability_map(COV, 1.0, rtol=r),
    "classify_point": lambda r: ps.classify_point(W, COV, 1.0, rtol=r),
}


@pytest.mark.parametrize(
    "rtol, exc",
    [
        (-1, ValueError),
        (1.0, ValueError),
        (np.nan, ValueError),
        ("1e-9", TypeError),
        (True, TypeError),
    ],
)
@pytest.mark.parametrize("user", sorted(RTOL_USERS))
def test_bad_rtol(user, rtol, exc):
    with pytest.raises(exc, match=r"`rtol` must be a float in \[0, 1\)"):
        RTOL_USERS[user](rtol)


# --------------------------------------------------------------------------- wrt (deprecated)
# Functions accepting the deprecated `wrt` spelling of `sigma2_learned`.
WRT_USERS = {
    "log_likelihood_hessian": lambda wrt: ps.log_likelihood_hessian(W, COV, 1.0, wrt=wrt),
    "hessian_vector_product": lambda wrt: ps.hessian_vector_product(
        W, COV, 1.0, np.ones(W.size + (wrt == "joint")), wrt=wrt
    ),
    "hessian_expr": lambda wrt: pytest.importorskip("ppca_stability.symbolic").hessian_expr(
        D, 1, wrt=wrt
    ),
}


@pytest.mark.parametrize("user", sorted(WRT_USERS))
def test_wrt_warns_at_the_callers_line(user):
    with pytest.warns(FutureWarning, match="use sigma2_learned=True instead of wrt='joint'") as rec:
        WRT_USERS[user]("joint")
    assert [w.filename for w in rec] == [__file__]
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="`wrt` must be one of"):
        WRT_USERS[user]("sigma2")


# --------------------------------------------------------------------------- accepted
def test_integer_cov_and_numpy_scalars_are_accepted():
    assert ps.stability_map(np.diag([2, 1]), np.float32(0.5), latent_dim=np.int64(1)).n_points == 3


def test_float32_cov_is_symmetric_to_its_own_precision(rng):
    # Regression: float32 covariances were refused as "not symmetric" (relative asymmetry
    # 2.3e-8 against a fixed 1e-10); the tolerance is now 100 eps of the input's dtype.
    X = rng.normal(size=(500, 20)).astype(np.float32)
    cov = X.T @ X / np.float32(500)
    cov[0, 1] *= np.float32(1 + 1e-7)  # asymmetry at float32 round-off
    assert ps.stability_map(cov, 0.5).n_points == 2**20
    with pytest.raises(ValueError, match="must be symmetric"):
        ps.spectrum(cov.astype(np.float64))  # in float64 the same asymmetry is not round-off
    bad = cov.copy()
    bad[0, 1] *= np.float32(1.01)
    with pytest.raises(ValueError, match="must be symmetric"):
        ps.spectrum(bad)


@pytest.mark.parametrize(("r", "c"), [(10, 250), (250, 10), (130, 131), (299, 299 - 128)])
def test_cov_entry_checks_find_a_violation_in_any_tile(rng, r, c):
    # The symmetry and 2 x 2-minor checks scan pairs of 128 x 128 tiles of the upper triangle:
    # a violation in either triangle, inside or across tiles, is found and named by its entry.
    X = rng.normal(size=(400, 300))
    cov = X.T @ X / 400
    i, j = min(r, c), max(r, c)
    bad = cov.copy()
    bad[i, j] = bad[j, i] = 1.5 * np.sqrt(cov[i, i] * cov[j, j])
    with pytest.raises(ValueError, match=rf"\|entry \[{i}, {j}\]\| = .* exceeds sqrt"):
        ps.log_likelihood(np.zeros((300, 1)), bad, 1.0)
    lopsided = cov.copy()
    lopsided[r, c] += 1e-13 * np.abs(cov).max()  # asymmetric within round-off: symmetrised
    checked = ps.log_likelihood(np.zeros((300, 1)), lopsided, 1.0)
    assert checked == pytest.approx(ps.log_likelihood(np.zeros((300, 1)), cov, 1.0), rel=1e-12)
    lopsided[r, c] += 1e-6 * np.abs(cov).max()
    with pytest.raises(ValueError, match="must be symmetric"):
        ps.log_likelihood(np.zeros((300, 1)), lopsided, 1.0)


def test_sparse_cov_is_refused_with_a_hint():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match=r"scipy sparse .*cov\.toarray\(\)"):
        ps.spectrum(scipy_sparse.eye(3, format="csr"))


@pytest.mark.parametrize(("r", "c"), [(10, 250), (250, 10), (130, 131), (299, 299 - 128), (7, 7)])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("mirrored", [False, True])
def test_a_non_finite_entry_in_any_tile_is_named_as_such(rng, r, c, value, mirrored):
    # Finiteness is read from the symmetry scan's differences over pairs of 128 x 128 tiles:
    # one non-finite entry, or two that mirror each other (inf - inf), inside or across tiles
    # or on the diagonal, is refused as not finite (not as asymmetric or as a correlation above
    # 1), and without a RuntimeWarning from the arithmetic on it (warnings are errors here).
    X = rng.normal(size=(400, 300))
    cov = X.T @ X / 400
    cov[r, c] = value
    if mirrored:
        cov[c, r] = value
    with pytest.raises(ValueError, match="`cov` must contain only finite values"):
        ps.log_likelihood(np.zeros((300, 1)), cov, 1.0)
    with pytest.raises(ValueError, match="`cov` must contain only finite values"):
        ps.spectrum(cov)


def test_finite_entries_whose_differences_overflow_are_not_called_infinite():
    # A difference of finite entries can overflow to inf in the scan: confirmed on the entries,
    # the error is the asymmetry, not finiteness.
    cov = np.array([[1e308, 1e308], [-1e308, 1e308]])
    with pytest.raises(ValueError, match="`cov` must be symmetric"):
        ps.log_likelihood(np.zeros((2, 1)), cov, 1.0)
