"""Robustness: hypothesis-driven fuzzing of every public function and CLI command.

Rules checked on every call: the only exceptions are ValueError/TypeError whose message
names the offending parameter; the only warnings are our DegeneracyWarning/ConvergenceWarning
(no RuntimeWarning from overflow or 0/0); results never contain NaN; the CLI exits with 0, 1
(verify failed) or 2 with a one-line error on stderr, never a traceback.
``TRIED`` counts the calls; conftest prints it at the end of the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

import ppca_stability as ps
from ppca_stability import ConvergenceWarning, DegeneracyWarning
from ppca_stability._cli import main
from ppca_stability.strategies import SIGMA2_KINDS, orthogonal_matrices, sigma2_values, spectra

TRIED: Counter = Counter()
ALLOWED_WARNINGS = (DegeneracyWarning, ConvergenceWarning)
# Properties of a result object that are computed lazily and must obey the same rules.
LAZY = (
    "n_points",
    "census",
    "stability_counts",
    "global_maximum",
    "points",
    "collapsed",
    "switched_off",
    "kl_per_latent",
)
# Deprecated aliases (a FutureWarning by design), touched through their new names in LAZY.
DEPRECATED = {"LinearVAEFit": ("collapsed",), "Agreement": ("collapsed",)}
# How many lazily built stationary points to inspect per map.
N_POINTS_CHECKED = 6


# ----------------------------------------------------------------------------- the harness
def _assert_no_nan(obj, where: str, depth: int = 0) -> None:
    if depth > 5:
        return
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc":
            assert not np.isnan(obj).any(), f"{where}: result contains NaN"
        elif obj.dtype == object:
            for x in obj.flat:
                _assert_no_nan(x, where, depth + 1)
    elif isinstance(obj, (float, np.floating, complex)):
        assert not np.isnan(obj), f"{where}: result is NaN"
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            _assert_no_nan(x, where, depth + 1)
    elif isinstance(obj, dict):
        for x in obj.values():
            _assert_no_nan(x, where, depth + 1)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            _assert_no_nan(getattr(obj, f.name), f"{where}.{f.name}", depth + 1)


def _names(message: str, names: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", message) for n in names)


def call(target: str, fn, *args, names: tuple[str, ...], **kwargs):
    """Call `fn`; enforce the rules; return the result, or None if it raised an allowed error."""
    TRIED[target] += 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            assert _names(str(exc), names), (
                f"{target}: {type(exc).__name__} does not name any of {names}: {exc}"
            )
            out = None
        if out is not None:
            _assert_no_nan(out, target)
            repr(out)  # result tables evaluate lazy properties
    bad = [
        f"{w.category.__name__}: {w.message}"
        for w in caught
        if not issubclass(w.category, ALLOWED_WARNINGS)
    ]
    assert not bad, f"{target}: foreign warnings {bad}"
    return out


def exercise(target: str, result, names: tuple[str, ...]) -> None:
    """Touch the lazily computed parts of a result object under the same rules."""
    for attr in LAZY:
        if not hasattr(type(result), attr) or attr in DEPRECATED.get(type(result).__name__, ()):
            continue
        if attr == "points":
            call(
                f"{target}.points",
                lambda: [(p, p.hessian_eigenvalues) for p in result.points[:N_POINTS_CHECKED]],
                names=names,
            )
            continue
        value = call(f"{target}.{attr}", lambda a=attr: getattr(result, a), names=names)
        if callable(value):
            call(f"{target}.{attr}()", value, names=names)


# ----------------------------------------------------------------------------- malformed input
# Finite values in a wide range for malformed-input fuzzing; NaN, inf and signs separately. Valid
# input at extreme scales is fuzzed by test_extreme_valid_input below.
SUPPORTED = 1e30
finite = hs.one_of(
    hs.floats(1 / SUPPORTED, SUPPORTED), hs.floats(-SUPPORTED, -1 / SUPPORTED), hs.just(0.0)
)
numbers_ = hs.one_of(finite, hs.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0]))
BAD_ARRAYS = hs.one_of(
    hs.none(),
    hs.booleans(),
    hs.text(max_size=6),
    hs.binary(max_size=6),
    hs.complex_numbers(),
    hs.integers(-(2**70), 2**70),
    numbers_,
    hs.dictionaries(hs.text(max_size=2), hs.integers(), max_size=2),
    hs.lists(hs.lists(numbers_, max_size=3), max_size=3),  # ragged or with NaN/inf
    hnp.arrays(
        hs.one_of(
            hnp.integer_dtypes(),
            hnp.unsigned_integer_dtypes(),
            hnp.boolean_dtypes(),
            hnp.complex_number_dtypes(),
            hnp.datetime64_dtypes(),
            hnp.unicode_string_dtypes(),
        ),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    ),
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
        elements=numbers_,
    ),
    hnp.arrays(np.float64, (3, 3), elements=hs.floats(-1e3, 1e3)),  # non-symmetric, indefinite
    hs.just(-np.eye(3)),
    hs.just(np.eye(3) + 1e-6 * np.triu(np.ones((3, 3)), 1)),
    hs.just(np.zeros((3, 3))),
    hs.just(np.eye(3, dtype=complex)),
    hs.just(np.array([[1.0, 2.0], [3.0]], dtype=object)),
)
BAD_SCALARS = hs.one_of(
    hs.none(),
    hs.booleans(),
    hs.text(max_size=8),
    hs.sampled_from(["learned", "nan", "1.0", ""]),
    numbers_,
    hs.complex_numbers(),
    hs.integers(-(2**70), 2**70),
    hs.just(np.float32(np.nan)),
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), elements=numbers_),
    hs.lists(finite, max_size=2),
)
BAD_INTS = hs.one_of(
    hs.integers(-(2**70), 2**70),
    numbers_,
    hs.booleans(),
    hs.text(max_size=3),
    hs.none(),
    hs.just(np.int64(2)),
    hs.just(2.0),
)

S3 = np.diag([3.0, 2.0, 1.0])
W3 = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
V3, D3 = np.array(W3.T), np.array([0.5, 0.5])


def _targets() -> dict:
    """name -> (function, valid keyword arguments, {parameter: strategy of bad values})."""
    t = {
        "spectrum": (lambda cov: ps.spectrum(cov), {"cov": S3}, {"cov": BAD_ARRAYS}),
        "covariance": (
            lambda data: ps.covariance(data),
            {"data": np.ones((4, 3))},
            {"data": BAD_ARRAYS},
        ),
        "stability_map": (
            lambda cov, sigma2, latent_dim, rtol: ps.stability_map(
                cov, sigma2, latent_dim=latent_dim, rtol=rtol
            ),
            {"cov": S3, "sigma2": 1.5, "latent_dim": 2, "rtol": 1e-9},
            {"cov": BAD_ARRAYS, "sigma2": BAD_SCALARS, "latent_dim": BAD_INTS, "rtol": BAD_SCALARS},
        ),
        "log_likelihood": (
            ps.log_likelihood,
            {"loadings": W3, "cov": S3, "sigma2": 0.5},
            {"loadings": BAD_ARRAYS, "cov": BAD_ARRAYS, "sigma2": BAD_SCALARS},
        ),
        "log_likelihood_gradient": (
            ps.log_likelihood_gradient,
            {"loadings": W3, "cov": S3, "sigma2": 0.5},
            {"loadings": BAD_ARRAYS, "cov": BAD_ARRAYS, "sigma2": BAD_SCALARS},
        ),
        "log_likelihood_hessian": (
            lambda loadings, cov, sigma2, sigma2_learned: ps.log_likelihood_hessian(
                loadings, cov, sigma2, sigma2_learned=sigma2_learned
            ),
            {"loadings": W3, "cov": S3, "sigma2": 0.5, "sigma2_learned": True},
            {
                "loadings": BAD_ARRAYS,
                "cov": BAD_ARRAYS,
                "sigma2": BAD_SCALARS,
                "sigma2_learned": BAD_SCALARS,
            },
        ),
        "hessian_vector_product": (
            ps.hessian_vector_product,
            {"loadings": W3, "cov": S3, "sigma2": 0.5, "direction": np.ones(6)},
            {
                "loadings": BAD_ARRAYS,
                "cov": BAD_ARRAYS,
                "sigma2": BAD_SCALARS,
                "direction": BAD_ARRAYS,
            },
        ),
        "classify_point": (
            lambda loadings, cov, sigma2, method, rtol, gtol, n_eigenvalues: ps.classify_point(
                loadings,
                cov,
                sigma2,
                method=method,
                rtol=rtol,
                gtol=gtol,
                n_eigenvalues=n_eigenvalues,
            ),
            {
                "loadings": W3,
                "cov": S3,
                "sigma2": 0.5,
                "method": "dense",
                "rtol": 1e-8,
                "gtol": 1e-7,
                "n_eigenvalues": 3,
            },
            {
                "loadings": BAD_ARRAYS,
                "cov": BAD_ARRAYS,
                "sigma2": BAD_SCALARS,
                "method": BAD_SCALARS,
                "rtol": BAD_SCALARS,
                "gtol": BAD_SCALARS,
                "n_eigenvalues": BAD_INTS,
            },
        ),
        "ppca_mle": (
            lambda cov, latent_dim, sigma2: ps.ppca_mle(cov, latent_dim, sigma2=sigma2),
            {"cov": S3, "latent_dim": 2, "sigma2": "learned"},
            {"cov": BAD_ARRAYS, "latent_dim": BAD_INTS, "sigma2": BAD_SCALARS},
        ),
        "strategies.spectra": (
            lambda min_dim, max_dim, min_value, max_value, min_gap: spectra(
                min_dim=min_dim,
                max_dim=max_dim,
                min_value=min_value,
                max_value=max_value,
                min_gap=min_gap,
            ),
            {"min_dim": 1, "max_dim": 3, "min_value": 0.1, "max_value": 10.0, "min_gap": 1e-3},
            {
                "min_dim": BAD_INTS,
                "max_dim": BAD_INTS,
                "min_value": BAD_SCALARS,
                "max_value": BAD_SCALARS,
                "min_gap": BAD_SCALARS,
            },
        ),
        "strategies.sigma2_values": (
            lambda spectrum, kinds: sigma2_values(spectrum, kinds=kinds),
            {"spectrum": [2.0, 1.0], "kinds": SIGMA2_KINDS},
            {"spectrum": BAD_ARRAYS, "kinds": BAD_SCALARS},
        ),
    }
    t["phase_diagram"] = (
        lambda cov, latent_dim, sigma2: ps.phase_diagram(cov, latent_dim=latent_dim, sigma2=sigma2),
        {"cov": S3, "latent_dim": 2, "sigma2": None},
        {"cov": BAD_ARRAYS, "latent_dim": BAD_INTS, "sigma2": BAD_ARRAYS},
    )
    t["linear_vae_elbo"] = (
        lambda params, cov, sigma2: ps.linear_vae_elbo(params, cov=cov, sigma2=sigma2),
        {"params": (V3, np.log(D3), W3), "cov": S3, "sigma2": 0.5},
        {
            "params": hs.one_of(BAD_ARRAYS, hs.tuples(BAD_ARRAYS, BAD_ARRAYS, BAD_ARRAYS)),
            "cov": BAD_ARRAYS,
            "sigma2": BAD_SCALARS,
        },
    )
    t["linear_vae_elbo_gradient"] = (
        lambda params, data, sigma2: ps.linear_vae_elbo_gradient(params, data=data, sigma2=sigma2),
        {"params": (V3, np.log(D3), W3), "data": np.eye(3), "sigma2": 0.5},
        {
            "params": hs.tuples(BAD_ARRAYS, hs.just(np.zeros(2)), hs.just(W3)),
            "data": BAD_ARRAYS,
            "sigma2": BAD_SCALARS,
        },
    )
    t["optimal_encoder"] = (
        ps.optimal_encoder,
        {"loadings": W3, "sigma2": 0.5},
        {"loadings": BAD_ARRAYS, "sigma2": BAD_SCALARS},
    )
    t["fit_linear_vae"] = (
        lambda cov, latent_dim, sigma2, lr, max_steps: ps.fit_linear_vae(
            cov=cov, latent_dim=latent_dim, sigma2=sigma2, lr=lr, max_steps=max_steps, rng=0
        ),
        {"cov": S3, "latent_dim": 2, "sigma2": "learned", "lr": None, "max_steps": 3},
        {
            "cov": BAD_ARRAYS,
            "latent_dim": BAD_INTS,
            "sigma2": BAD_SCALARS,
            "lr": BAD_SCALARS,
            "max_steps": BAD_INTS,
        },
    )
    t["sigma2_from_beta"] = (
        lambda beta_, reconstruction, n_features: ps.sigma2_from_beta(
            beta_, reconstruction=reconstruction, n_features=n_features
        ),
        {"beta_": 1.0, "reconstruction": "mse", "n_features": 3},
        {"beta_": BAD_SCALARS, "reconstruction": BAD_SCALARS, "n_features": BAD_INTS},
    )
    t["beta_from_sigma2"] = (
        lambda sigma2, reconstruction, n_features: ps.beta_from_sigma2(
            sigma2, reconstruction=reconstruction, n_features=n_features
        ),
        {"sigma2": 1.0, "reconstruction": "sum", "n_features": 3},
        {"sigma2": BAD_SCALARS, "reconstruction": BAD_SCALARS, "n_features": BAD_INTS},
    )
    t["predict_collapse"] = (
        lambda cov, latent_dim, sigma2: ps.predict_collapse(
            cov, latent_dim=latent_dim, sigma2=sigma2
        ),
        {"cov": S3, "latent_dim": 2, "sigma2": 1.5},
        {"cov": BAD_ARRAYS, "latent_dim": BAD_INTS, "sigma2": BAD_SCALARS},
    )
    return t


TARGETS = _targets()


@pytest.mark.parametrize("target", sorted(TARGETS))
@given(data=hs.data())
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_malformed_argument(target, data):
    fn, valid, bad = TARGETS[target]
    param = data.draw(hs.sampled_from(sorted(bad)), label="parameter")
    args = dict(valid, **{param: data.draw(bad[param], label=param)})
    names = (param.rstrip("_"),) if param != "beta_" else ("beta",)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegeneracyWarning)
        result = call(target, fn, names=names + tuple(valid), **args)
    if result is not None:
        exercise(target, result, names=tuple(valid))


# ----------------------------------------------------------------------------- found and fixed
# Found by this fuzz suite; each now either returns finite results or raises a ValueError that
# names the parameter, and classifications are scale-free.
def _huge_sigma2():
    return ps.stability_map(np.diag([3.0, 2.0, 1.0]), 3e245).global_maximum


def _tiny_sigma2_gradient():
    return ps.log_likelihood_gradient(np.eye(3, 2), np.diag([3.0, 2.0, 1.0]), 1e-160)


def _joint_hessian_small_scale():
    return ps.log_likelihood_hessian(
        np.eye(3, 2) * 1e-53, np.diag([3.0, 2.0, 1.0]) * 1e-105, 1e-106, sigma2_learned=True
    )


def _optimal_encoder_large_loadings():
    return ps.optimal_encoder(np.array([[3.945756506292369e16, 3.2901843760074505e29]]), 0.5)


def _joint_scale_dependence():
    # S -> c S must not change a classification (the joint arrowhead's zero test is scale-free).
    lam = np.array([1.001, 1.0, 0.999, 0.998])
    a = ps.stability_map(np.diag(lam), "learned", latent_dim=1).global_maximum.stability
    b = ps.stability_map(np.diag(1e-8 * lam), "learned", latent_dim=1).global_maximum.stability
    assert a is b, (a, b)
    return a


FOUND_BY_FUZZING = {
    "sigma2 = 3e245: OverflowError in hessian.closed_form_spectrum (s**2)": _huge_sigma2,
    "sigma2 = 1e-160: OverflowError in Model.trace_power_S (s**-2)": _tiny_sigma2_gradient,
    "cov ~ 1e-105: OverflowError in the joint Hessian (s**-3)": _joint_hessian_small_scale,
    "optimal_encoder with |W|^2 >> sigma2: LinAlgError (singular M)": (
        _optimal_encoder_large_loadings
    ),
    "joint classification changes under S -> 1e-8 S (MAXIMUM -> DEGENERATE)": (
        _joint_scale_dependence
    ),
}


@pytest.mark.parametrize("case", sorted(FOUND_BY_FUZZING))
def test_case_found_by_fuzzing_stays_fixed(case):
    call(case, FOUND_BY_FUZZING[case], names=("cov", "sigma2", "loadings"))


def test_optimal_encoder_is_accurate_when_loadings_dwarf_sigma2():
    W = np.array([[3.0e8, 0.0], [0.0, 2.0]])
    V, D = ps.optimal_encoder(W, 0.5)
    assert np.allclose(V, np.diag([3.0e8 / (9.0e16 + 0.5), 2.0 / 4.5]), rtol=1e-12, atol=0)
    assert np.allclose(D, [0.5 / (9.0e16 + 0.5), 0.5 / 4.5], rtol=1e-12)


# ----------------------------------------------------------------------------- extreme, valid input
@hs.composite
def extreme_problems(draw, max_exponent: int):
    """Spectra spanning up to 20 decades at overall scales 10**-max_exponent..10**max_exponent, with
    ties and zeros, d = 1.., latent_dim up to d, sigma2 at, within 1e-14 of, between and outside
    the eigenvalues."""
    decades = draw(hs.sampled_from([2.0, 8.0, 20.0]))
    lam = draw(
        spectra(
            max_dim=5,
            min_value=10.0 ** (-decades / 2),
            max_value=10.0 ** (decades / 2),
            min_gap=0.0,
            ties=True,
            zeros=True,
        )
    )
    lam = lam * 10.0 ** draw(hs.integers(-max_exponent, max_exponent))
    d = lam.size
    Q = draw(orthogonal_matrices(d)) if draw(hs.booleans()) else np.eye(d)
    cov = (Q * lam) @ Q.T
    cov = (cov + cov.T) / 2
    q = draw(hs.one_of(hs.just(d), hs.integers(1, d)))
    s = draw(sigma2_values(lam, kinds=SIGMA2_KINDS, near_rtol=(1e-14, 1e-6)))
    return cov, q, s


def _exercise_problem(cov, q, s) -> None:
    names = ("cov", "sigma2", "latent_dim", "loadings", "rtol")
    call("spectrum", ps.spectrum, cov, names=names)
    smap = call("stability_map", ps.stability_map, cov, s, latent_dim=q, names=names)
    if smap is not None:
        exercise("stability_map", smap, names)
    d = cov.shape[0]
    if d > 1:
        learned = call(
            "stability_map[learned]",
            ps.stability_map,
            cov,
            "learned",
            latent_dim=min(q, d - 1),
            names=names,
        )
        if learned is not None:
            exercise("stability_map[learned]", learned, names)
    fit = call("ppca_mle", ps.ppca_mle, cov, q, sigma2=s, names=names)
    W = fit.loadings if fit is not None else np.zeros((d, q))
    for fn in (ps.log_likelihood, ps.log_likelihood_gradient):
        call(fn.__name__, fn, W, cov, s, names=names)
    for learned in (False, True):
        call(
            f"log_likelihood_hessian[sigma2_learned={learned}]",
            ps.log_likelihood_hessian,
            W,
            cov,
            s,
            sigma2_learned=learned,
            names=names,
        )
    call(
        "hessian_vector_product", ps.hessian_vector_product, W, cov, s, np.ones(W.size), names=names
    )
    for learned_flag in (False, True):
        call(
            "classify_point",
            ps.classify_point,
            W,
            cov,
            s,
            sigma2_learned=learned_flag,
            method="dense",
            names=names,
        )
    pd = call("phase_diagram", ps.phase_diagram, cov, latent_dim=q, names=names)
    if pd is not None:
        exercise("phase_diagram", pd, names)
    enc = call("optimal_encoder", ps.optimal_encoder, W, s, names=names)
    if enc is not None:
        V, D = enc
        call(
            "linear_vae_elbo",
            ps.linear_vae_elbo,
            (V, np.log(D), W),
            cov=cov,
            sigma2=s,
            names=names + ("params",),
        )
        call(
            "linear_vae_elbo_gradient",
            ps.linear_vae_elbo_gradient,
            (V, np.log(D), W),
            cov=cov,
            sigma2=s,
            names=names + ("params",),
        )
    call("predict_collapse", ps.predict_collapse, cov, latent_dim=q, sigma2=s, names=names)
    call(
        "beta_from_sigma2",
        ps.beta_from_sigma2,
        s,
        reconstruction="mse",
        n_features=d,
        names=names + ("n_features",),
    )


# Overall scale exponent the core handles today: its closed forms use s**-3 and lam**2 in float64.
# Overall scales 1e-140..1e140 with spectra spanning up to 20 decades: 1e-150..1e150 in all.
SUPPORTED_EXPONENT = 140


@given(problem=extreme_problems(SUPPORTED_EXPONENT))
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_extreme_valid_input(problem):
    _exercise_problem(*problem)


def test_classify_point_at_tiny_scale_with_learned_sigma2_does_not_overflow():
    # Once found by the fuzzing above (OverflowError squaring the sigma2 gradient): W is the
    # fixed-sigma2 optimum's column, but sigma2 = 1e-145 is far from the mean of the discarded
    # eigenvalues (5e-136), so the joint gradient does not vanish.
    W = np.array([[np.sqrt(1e-135)], [0.0], [0.0]])
    cov = np.diag([1e-135, 1e-135, 1e-145])
    result = ps.classify_point(W, cov, 1e-145, sigma2_learned=True)
    assert result.stability is ps.Stability.NOT_STATIONARY
    assert np.isfinite(result.relative_gradient_norm)


@given(
    data=hnp.arrays(
        np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=5), elements=finite
    ),
    scale=hs.integers(-SUPPORTED_EXPONENT, SUPPORTED_EXPONENT),
)
def test_covariance_of_extreme_data(data, scale):
    # data at 10**(scale/2) gives covariances (and sigma2) at 10**scale
    cov = call("covariance", ps.covariance, data / SUPPORTED * 10.0 ** (scale / 2), names=("data",))
    if cov is not None:
        _exercise_problem(cov, 1, float(10.0**scale))


# ----------------------------------------------------------------------------- the CLI
def run_cli(argv: list[str]) -> tuple[int, str, str]:
    TRIED["cli " + argv[0]] += 1
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", DegeneracyWarning)
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def assert_clean_exit(rc: int, err: str, argv: list[str]) -> None:
    assert "Traceback" not in err, f"{argv}: traceback\n{err}"
    assert rc in (0, 1, 2), f"{argv}: exit code {rc}"
    if rc == 2:
        lines = err.strip().splitlines()
        assert lines and lines[-1].startswith("ppca-stability"), f"{argv}: no error line\n{err}"
        # argparse prints its usage first; our own errors are a single line.
        assert len(lines) == 1 or lines[0].startswith("usage:"), f"{argv}: multi-line error\n{err}"


def _file_payloads():
    text = hs.text(alphabet="0123456789.,-+eEnaifx \t\n;", max_size=80)
    arrays = hnp.arrays(
        hnp.scalar_dtypes(), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
    )
    return hs.one_of(
        hs.tuples(hs.sampled_from([".csv", ".txt", ".tsv"]), text.map(str.encode)),
        hs.tuples(hs.sampled_from([".npy", ".csv", ".bin", ""]), hs.binary(max_size=64)),
        hs.tuples(hs.just(".npy"), arrays),
        hs.tuples(hs.just(".csv"), hs.just(b"")),
    )


@given(
    payload=_file_payloads(),
    command=hs.sampled_from(["map", "phase", "beta"]),
    extra=hs.sampled_from([[], ["--cov"]]),
    sigma2=hs.sampled_from(["1.0", "learned", "-1", "nan", "abc", "1e400"]),
)
@settings(
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], deadline=None
)
def test_cli_with_garbage_files(tmp_path, payload, command, extra, sigma2):
    suffix, content = payload
    path = tmp_path / f"data{suffix}"
    if isinstance(content, np.ndarray):
        try:
            np.save(path, content, allow_pickle=False)
        except ValueError:  # object arrays cannot be saved without pickle
            path.write_bytes(b"\x93NUMPY garbage")
    else:
        path.write_bytes(content)
    argv = [command, str(path), *extra]
    if command == "map":
        argv += ["--sigma2", sigma2]
    elif command == "beta":
        argv += ["--beta", sigma2]
    else:
        argv += ["--json"]
    rc, _, err = run_cli(argv)
    assert_clean_exit(rc, err, argv)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["map", "{missing}", "--sigma2", "1"], 2),
        (["map", "{dir}", "--sigma2", "1"], 2),
        (["phase", "{missing}"], 2),
        (["map", "{good}", "--sigma2", "1", "--latent-dim", "0"], 2),
        (["map", "{good}", "--sigma2", "1", "--latent-dim", "x"], 2),
        (["map", "{good}", "--sigma2", "0"], 2),
        (["map", "{good}", "--cov", "--sigma2", "1"], 2),
        (["phase", "{good}", "--latent-dim", "99"], 2),
        (["beta", "--beta", "-1"], 2),
        (["beta", "--beta", "nan"], 2),
        (["verify", "--examples", "0"], 2),
        (["verify", "--seed", "-3", "--examples", "1", "--theorem", "orbit_count"], 2),
        (["verify", "--theorem", "nope"], 2),
        (["verify", "--examples", "1", "--theorem", "orbit_count", "--no-progress"], 0),
    ],
)
def test_cli_bad_arguments(tmp_path, rng, argv, expected):
    good = tmp_path / "x.csv"
    np.savetxt(good, rng.normal(size=(10, 3)), delimiter=",")
    argv = [a.format(missing=tmp_path / "nope.npy", dir=tmp_path, good=good) for a in argv]
    rc, _, err = run_cli(argv)
    assert_clean_exit(rc, err, argv)
    assert rc == expected, (argv, err)


def test_cli_empty_and_unreadable_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    binary = tmp_path / "bin.npy"
    binary.write_bytes(bytes(range(256)))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("1,2\n\xe9,3\n".encode("latin-1"))
    for path in (empty, binary, latin, tmp_path):
        argv = ["map", str(path), "--sigma2", "1"]
        rc, _, err = run_cli(argv)
        assert rc == 2, (argv, err)
        assert_clean_exit(rc, err, argv)
