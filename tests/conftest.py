"""Shared fixtures, and the Hypothesis profiles.

Profiles: "ci" (derandomised, 25 examples, no example database) is the default, with or without
the CI environment variable, so a plain ``pytest`` is reproducible, quick and writes no
``.hypothesis/`` directory (Hypothesis's constants cache goes to a temporary directory). "dev"
(100 random examples per property, with the example database in ``.hypothesis/``) is opt-in:
``pytest --hypothesis-profile=dev`` or ``PPCA_HYPOTHESIS_PROFILE=dev pytest``.
Tests that pin their own ``@settings(max_examples=...)`` keep it; the profile sets the rest.
"""

import os
import shutil
import tempfile

import numpy as np
import pytest
from _support import SPECTRUM, cov_from_eigenvalues, digits_data
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None, print_blob=True)
PROFILE = os.environ.get("PPCA_HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)

# The seed of the `rng` fixture: any fixed value; tests that depend on a particular draw seed
# their own generator.
RNG_SEED = 20240917


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Under pytest-xdist (``-n 2``) each worker is one process of several: one BLAS thread
        # each, or every worker's threads spin on the others' cores (on 2 cores, two workers with
        # two OpenBLAS threads each made the quick run about twice as slow).
        _one_blas_thread()
    # Hypothesis formats a failure with a lazy import that warns on some installs; under
    # filterwarnings=error that turns every falsifying example into a pytest INTERNALERROR.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )
    if (config.getoption("hypothesis_profile", None) or PROFILE) == "ci":
        # Even without a database Hypothesis caches constants under .hypothesis/ in the working
        # directory; the default run leaves nothing behind.
        home = tempfile.mkdtemp(prefix="ppca-stability-hypothesis-")
        set_hypothesis_home_dir(home)
        config.add_cleanup(lambda: shutil.rmtree(home, ignore_errors=True))


def _one_blas_thread() -> None:
    import scipy.linalg  # noqa: F401  (loads SciPy's own BLAS, so that the limit reaches it too)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


# Markers by what a test exercises, so that a quick unit run can leave out the long ones
# (CONTRIBUTING.md: ``pytest -m "not slow and not integration and not cli"``). A test marks itself
# when it is the exception (``@pytest.mark.integration`` on a test that reads MNIST-test, runs a
# fresh interpreter or trains a network); otherwise its place decides.
INTEGRATION = (
    "tests/deep/",
    # The deep subpackage's doctests train networks with PyTorch.
    "ppca_stability/deep/",
    "tests/test_docs.py",
    "tests/test_readme.py",
    "tests/vae/test_linear_vae.py",
    "tests/vae/test_agreement.py",
    "tests/test_robustness.py",
)
CLI = ("tests/cli/",)


def pytest_collection_modifyitems(config, items):
    root = str(config.rootpath) + "/"
    for item in items:
        where = str(item.path).removeprefix(root)
        if where.startswith(INTEGRATION):
            item.add_marker(pytest.mark.integration)
        if where.startswith(CLI):
            item.add_marker(pytest.mark.cli)
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.property)


def pytest_terminal_summary(terminalreporter):
    """Report how many inputs the robustness fuzzing tried, per target."""
    import sys

    module = sys.modules.get("test_robustness")
    tried = getattr(module, "TRIED", None)
    if tried:
        top = ", ".join(f"{k}: {v}" for k, v in tried.most_common(8))
        terminalreporter.write_line(
            f"robustness fuzzing: {sum(tried.values())} calls over {len(tried)} targets ({top}, "
            "...)"
        )


@pytest.fixture
def rng() -> np.random.Generator:
    """A freshly seeded generator: the same draws in every test and every run."""
    return np.random.default_rng(RNG_SEED)


@pytest.fixture(scope="session")
def digits() -> np.ndarray:
    """scikit-learn's digits data (1797 x 64, float64), loaded once per session. Read-only."""
    X = digits_data()
    X.setflags(write=False)
    return X


@pytest.fixture(scope="session")
def digits_cov(digits) -> np.ndarray:
    """The ddof=0 covariance of the digits data (d = 64, three zero eigenvalues). Read-only."""
    from ppca_stability import covariance

    S = covariance(digits)
    S.setflags(write=False)
    return S


@pytest.fixture(scope="session")
def spectrum_cov() -> np.ndarray:
    """A rotated covariance with eigenvalues `SPECTRUM` (distinct, no zeros), d = 6. Read-only."""
    S = cov_from_eigenvalues(SPECTRUM, np.random.default_rng(7))
    S.setflags(write=False)
    return S
