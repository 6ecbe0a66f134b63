"""Every objective satisfies `PointObjective`, and its derivatives are those of its own value.

The checks read nothing but the protocol, so a new objective gets them by being added to
`OBJECTIVES`: the gradient against central differences of `value`, Hessian-vector products
against central differences of `gradient`, the dense Hessian against Hessian-vector products, and
`at(parameters)` as the identity.
"""

from __future__ import annotations

import numpy as np
import pytest
from _support import FD_RTOL, cov_from_eigenvalues

from ppca_stability._base.objective import PointObjective
from ppca_stability._elbo.derivatives import ElboModel
from ppca_stability._ppca.hessian import LikelihoodPoint

D, Q = 5, 2
EIGENVALUES = np.array([5.0, 3.0, 2.0, 1.0, 0.5])


def likelihood(rng: np.random.Generator, joint: bool) -> LikelihoodPoint:
    S = cov_from_eigenvalues(EIGENVALUES, rng)
    return LikelihoodPoint(rng.standard_normal((D, Q)), S, 0.7, joint)


def elbo(rng: np.random.Generator, full: bool, learned: bool) -> ElboModel:
    S = cov_from_eigenvalues(EIGENVALUES, rng)
    V, W = 0.5 * rng.standard_normal((Q, D)), rng.standard_normal((D, Q))
    if full:
        enc = np.tril(0.3 * rng.standard_normal((Q, Q)), -1) + np.diag(rng.uniform(0.5, 1.5, Q))
    else:
        enc = rng.uniform(-0.5, 0.5, Q)
    return ElboModel(V, enc, W, S, 0.7, full=full, learned=learned)


OBJECTIVES = {
    "likelihood, sigma2 fixed": lambda rng: likelihood(rng, False),
    "likelihood, sigma2 learned": lambda rng: likelihood(rng, True),
    "ELBO, diagonal encoder": lambda rng: elbo(rng, False, False),
    "ELBO, diagonal encoder, sigma2 learned": lambda rng: elbo(rng, False, True),
    "ELBO, full encoder": lambda rng: elbo(rng, True, False),
    "ELBO, full encoder, sigma2 learned": lambda rng: elbo(rng, True, True),
}


@pytest.fixture(params=list(OBJECTIVES), ids=list(OBJECTIVES))
def point(request, rng) -> PointObjective:
    return OBJECTIVES[request.param](rng)


def central(f, theta: np.ndarray, v: np.ndarray, h: float = 1e-5):
    return (f(theta + h * v) - f(theta - h * v)) / (2.0 * h)


def test_satisfies_the_protocol(point):
    assert isinstance(point, PointObjective)
    theta = point.parameters
    assert theta.shape == (point.size,) and theta.dtype == np.float64
    again = point.at(theta)
    assert again.value() == pytest.approx(point.value(), rel=1e-13)
    np.testing.assert_allclose(again.gradient(), point.gradient(), rtol=1e-12, atol=1e-12)


def test_gradient_is_the_derivative_of_the_value(point, rng):
    theta = point.parameters
    g = point.gradient()
    for _ in range(3):
        v = rng.standard_normal(point.size)
        fd = central(lambda t: point.at(t).value(), theta, v)
        assert float(g @ v) == pytest.approx(fd, rel=FD_RTOL, abs=FD_RTOL * np.abs(g).sum())


def test_hvp_is_the_derivative_of_the_gradient(point, rng):
    theta = point.parameters
    for _ in range(3):
        v = rng.standard_normal(point.size)
        fd = central(lambda t: point.at(t).gradient(), theta, v)
        hv = point.hvp(v)
        np.testing.assert_allclose(hv, fd, rtol=FD_RTOL, atol=FD_RTOL * np.abs(hv).max())


def test_dense_hessian_is_symmetric_and_agrees_with_hvp(point, rng):
    H = point.dense_hessian()
    assert H.shape == (point.size, point.size)
    np.testing.assert_allclose(H, H.T, atol=1e-12 * np.abs(H).max())
    V = rng.standard_normal((point.size, 4))
    for v in V.T:
        np.testing.assert_allclose(H @ v, point.hvp(v), rtol=1e-10, atol=1e-10 * np.abs(H).max())
