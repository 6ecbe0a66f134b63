"""Saving and loading results: every kind round-trips to an equal object (float64 bit for bit),
the file format is checked (version, not ours), the CLI's --json loads, a reloaded phase diagram
replots the same figure, and `to_frame()` tables hold the results' numbers."""

import dataclasses
import gzip
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ppca_stability as ps
from ppca_stability._base import persist
from ppca_stability._cli import main

COV = np.diag([5.0, 3.0, 2.0, 1.0])
MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"


def assert_same(a, b, where="result", *, private=True):
    """`b` equals `a` field by field: same types, arrays of the same dtype, shape and bits (a
    numpy scalar reloads as the Python number of the same value)."""
    if isinstance(a, (float, np.floating)) and not isinstance(a, bool):
        assert isinstance(b, float), where
        assert np.float64(a).tobytes() == np.float64(b).tobytes(), where
        return
    if isinstance(a, np.integer):
        assert isinstance(b, int) and int(a) == b, where
        return
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.tobytes() == b.tobytes(), where
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            saved = private and f.name in ("_values", "_floor")
            if f.init and (not f.name.startswith("_") or saved):
                assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def _diagnostics(rng):
    mu = rng.normal(size=(120, 4)) * np.array([1.0, 0.5, 1e-3, 0.0])
    logvar = rng.normal(size=(120, 4)) * 0.1 - np.array([1.0, 0.5, 0.0, 0.0])
    return ps.collapse_diagnostics(mu, logvar)


BUILDERS = {
    "StabilityMap": lambda c, rng: ps.stability_map(c, 30.0, latent_dim=5),
    "StabilityMap learned": lambda c, rng: ps.stability_map(COV, "learned", latent_dim=2),
    "StabilityMap partial": lambda c, rng: ps.stability_map(
        ps.spectrum(c, above=30.0), 30.0, latent_dim=5
    ),
    "Spectrum partial": lambda c, rng: ps.spectrum(c, above=30.0),
    "PhaseDiagram": lambda c, rng: ps.phase_diagram(c, latent_dim=10),
    "PhaseDiagram partial": lambda c, rng: ps.phase_diagram(
        ps.spectrum(c, above=30.0), latent_dim=5, sigma2=np.geomspace(40.0, 400.0, 7)
    ),
    "PPCAResult": lambda c, rng: ps.ppca_mle(c, 5),
    "ElboStabilityMap": lambda c, rng: ps.elbo_stability_map(
        COV, 1.5, latent_dim=2, encoder="full"
    ),
    "LinearVAEFit": lambda c, rng: ps.fit_linear_vae(cov=COV, latent_dim=2, sigma2=1.5, rng=0),
    "CollapsePrediction": lambda c, rng: ps.predict_collapse(
        c, latent_dim=10, beta=1.0, reconstruction="sse"
    ),
    "CollapseDiagnostics": lambda c, rng: _diagnostics(rng),
    "CollapseComparison": lambda c, rng: ps.compare_collapse(_diagnostics(rng), COV, 1.5),
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_kind_reloads_equal(name, digits_cov, rng, tmp_path):
    result = BUILDERS[name](digits_cov, rng)
    path = result.save(tmp_path / "r.json")
    again = ps.load(path)
    assert_same(result, again)
    assert again.to_json() == result.to_json()
    assert repr(again) == repr(result)


def test_a_reloaded_map_enumerates_the_same_points(digits_cov, tmp_path):
    smap = ps.stability_map(digits_cov, 30.0, latent_dim=3)
    again = ps.load(smap.save(tmp_path / "m.json"))
    assert again.census() == smap.census() and again.stability_counts() == smap.stability_counts()
    for p, q in zip(smap.points, again.points, strict=True):
        assert (p.active, p.stability, p.morse_index) == (q.active, q.stability, q.morse_index)
        assert_same(p.loadings, q.loadings)
        assert p.log_likelihood == q.log_likelihood


def test_a_reloaded_elbo_map_has_the_same_clusters(tmp_path):
    emap = ps.elbo_stability_map(COV, 1.5, latent_dim=2, include_clusters=True)
    again = ps.load(emap.save(tmp_path / "e.json"))
    assert again.census() == emap.census() and again.n_cluster_points == emap.n_cluster_points


@pytest.mark.integration
def test_deep_sweep_reloads_equal(tmp_path):
    pytest.importorskip("torch")
    from ppca_stability.deep import deep_collapse_sweep

    X = np.random.default_rng(0).normal(size=(120, 3)) * np.sqrt([4.0, 1.0, 0.25])
    sweep = deep_collapse_sweep(X, 2, [0.5, 8.0], n_seeds=2, epochs=2, rng=0, progress=False)
    again = ps.load(sweep.save(tmp_path / "s.json"))
    assert_same(sweep, again)
    assert repr(again) == repr(sweep)
    frame = sweep.to_frame()
    assert frame.shape == (4, 8)
    np.testing.assert_array_equal(frame["active_units"], sweep.active_units.ravel())


@pytest.mark.parametrize(
    "values",
    [
        [1 / 3, -0.0, 5e-324, np.finfo(float).max, np.pi * 1e-300, math.nan, math.inf, -math.inf],
        np.random.default_rng(3).normal(size=(4, 0, 2)),
    ],
)
def test_float64_arrays_round_trip_bit_for_bit(values):
    a = np.array(values, dtype=np.float64)
    text = json.dumps(persist._encode(a), allow_nan=False)
    b = persist._decode(json.loads(text))
    assert b.dtype == a.dtype and b.shape == a.shape and b.tobytes() == a.tobytes()


def test_scalars_keep_nonfinite_values_and_exact_big_integers():
    for value in (math.nan, math.inf, -math.inf, 0.1, 10**40, (1, 2**70)):
        back = persist._decode(json.loads(json.dumps(persist._encode(value), allow_nan=False)))
        assert_same(value, back)


def test_the_file_has_the_documented_header(tmp_path):
    doc = json.loads(ps.ppca_mle(COV, 2).to_json())
    assert (doc["format"], doc["version"], doc["kind"]) == ("ppca_stability", 1, "PPCAResult")
    assert doc["fields"]["eigenvalues"] == {
        "array": [5.0, 3.0, 2.0, 1.0],
        "dtype": "float64",
        "shape": [4],
    }


def test_another_version_is_refused_with_both_versions_named(tmp_path):
    doc = json.loads(ps.ppca_mle(COV, 2).to_json())
    doc["version"] = 99
    path = tmp_path / "future.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"version 99 .* reads version 1 only"):
        ps.load(path)


@pytest.mark.parametrize(
    "content", [b'{"a": 1}', b"\x89PNG\r\n\x1a\n\0\0", b"[1, 2]", b'{"format": "other"}']
)
def test_a_file_that_is_not_ours_is_refused_naming_it(tmp_path, content):
    path = tmp_path / "notours.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"notours\.json is not a ppca_stability result"):
        ps.load(path)


def test_missing_file_and_unknown_kind_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        ps.load(tmp_path / "absent.json")
    doc = {"format": "ppca_stability", "version": 1, "kind": "Nonsense", "fields": {}}
    with pytest.raises(ValueError, match="unknown result kind 'Nonsense'"):
        ps.from_json(json.dumps(doc))


def test_only_results_can_be_saved():
    with pytest.raises(TypeError, match="cannot save a dict"):
        persist.to_json({"a": 1})


# ----------------------------------------------------------------------------- the CLI's --json
@pytest.fixture
def data_file(tmp_path):
    X = np.random.default_rng(1).normal(size=(200, 5)) * np.array([3.0, 2.0, 1.5, 1.0, 0.5])
    path = tmp_path / "x.npy"
    np.save(path, X)
    return path, X


def _cli_json(capsys, tmp_path, *argv):
    assert main(list(argv)) == 0
    path = tmp_path / "out.json"
    path.write_text(capsys.readouterr().out)
    return path


def test_phase_json_from_the_cli_loads_as_the_phase_diagram(data_file, capsys, tmp_path):
    path, X = data_file
    out = _cli_json(capsys, tmp_path, "phase", str(path), "--latent-dim", "2", "--json", "--census")
    loaded = ps.load(out)
    # The payload has the public fields; the tie floor is recomputed from the eigenvalues.
    pd = ps.phase_diagram(ps.covariance(X), latent_dim=2)
    assert_same(pd, loaded, private=False)
    assert loaded._tie_floor == pd._tie_floor and loaded.stability_counts == pd.stability_counts


def test_diagnose_json_from_the_cli_loads_as_diagnostics(capsys, tmp_path, rng):
    mu, logvar = rng.normal(size=(50, 3)), rng.normal(size=(50, 3)) * 0.1
    np.savez(tmp_path / "enc.npz", means=mu, log_variances=logvar)
    out = _cli_json(capsys, tmp_path, "diagnose", str(tmp_path / "enc.npz"), "--json")
    assert_same(ps.collapse_diagnostics(mu, logvar), ps.load(out))


def test_map_json_from_the_cli_loads_as_its_payload(data_file, capsys, tmp_path):
    path, _ = data_file
    out = _cli_json(capsys, tmp_path, "map", str(path), "--sigma2", "0.5", "--json")
    payload = ps.load(out)
    assert isinstance(payload, dict) and "format" not in payload
    assert payload == {
        k: v
        for k, v in json.loads(out.read_text()).items()
        if k not in ("format", "version", "kind")
    }


# ----------------------------------------------------------------------------- replotting
def _figure_data(fig) -> list:
    """Every line's and scatter's data, axis limits, labels and titles of a figure."""
    out = []
    for ax in fig.axes:
        out.append((ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), ax.get_xlim(), ax.get_ylim()))
        out.extend((ln.get_label(), ln.get_xydata().tobytes()) for ln in ax.get_lines())
        out.extend(np.asarray(c.get_offsets()).tobytes() for c in ax.collections)
    return out


def test_a_reloaded_phase_diagram_replots_the_same_figure(digits_cov, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    pd = ps.phase_diagram(digits_cov, latent_dim=10)
    again = ps.load(pd.save(tmp_path / "pd.json"))
    first, second = pd.plot(), again.plot()
    try:
        assert _figure_data(first) == _figure_data(second)
        assert sum(len(ax.get_lines()) for ax in first.axes) > 0
    finally:
        plt.close(first)
        plt.close(second)


@pytest.mark.integration
def test_mnist_phase_diagram_saved_and_reloaded_replots_identically(tmp_path):
    images = MNIST / "t10k-images-idx3-ubyte.gz"
    if not images.is_file():
        pytest.skip(f"MNIST-test not found at {MNIST}")
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    with gzip.open(images) as f:
        X = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784) / 255.0
    pd = ps.phase_diagram(ps.covariance(X), latent_dim=10)
    again = ps.load(pd.save(tmp_path / "mnist_phase.json"))
    assert_same(pd, again)
    first, second = pd.plot(), again.plot()
    try:
        assert _figure_data(first) == _figure_data(second)
    finally:
        plt.close(first)
        plt.close(second)


# ----------------------------------------------------------------------------- DataFrames
def test_phase_diagram_frame_holds_every_grid_value(digits_cov):
    pytest.importorskip("pandas")
    pd = ps.phase_diagram(digits_cov, latent_dim=3)
    frame = pd.to_frame()
    assert list(frame.columns) == [
        "sigma2",
        "n_above",
        "n_active",
        "n_collapsed",
        "max_log_likelihood",
        "n_points",
        "degenerate",
        "kl_0",
        "kl_1",
        "kl_2",
    ]
    np.testing.assert_array_equal(frame["sigma2"], pd.sigma2)
    np.testing.assert_array_equal(frame["kl_2"], pd.kl_per_latent[:, 2])
    assert frame["n_points"].tolist() == list(pd.n_points)


def test_map_frames_list_the_points_in_order():
    pytest.importorskip("pandas")
    for smap in (
        ps.stability_map(COV, 1.5, latent_dim=2),
        ps.stability_map(np.diag([5.0, 3.0, 1.7, 1.0]), "learned", latent_dim=2),
        ps.elbo_stability_map(COV, 1.5, latent_dim=2),
    ):
        frame = smap.to_frame()
        points = list(smap.points)
        assert frame["active"].tolist() == [p.active for p in points]
        assert frame["stability"].tolist() == [p.stability.name for p in points]
        assert frame["morse_index"].tolist() == [p.morse_index for p in points]
        np.testing.assert_array_equal(frame["sigma2"], [p.sigma2 for p in points])


def test_table_frames_hold_the_per_latent_values(rng):
    pytest.importorskip("pandas")
    diag = _diagnostics(rng)
    frame = diag.to_frame()
    assert frame.index.name == "latent"
    np.testing.assert_array_equal(frame["kl_per_latent"], diag.kl_per_latent)
    assert np.flatnonzero(frame["collapsed"]).tolist() == list(diag.collapsed)
    cmp = ps.compare_collapse(diag, COV, 1.5)
    np.testing.assert_array_equal(cmp.to_frame()["measured_kl"], cmp.measured_kl)
    pred = ps.predict_collapse(COV, latent_dim=3, sigma2=2.5)
    np.testing.assert_array_equal(pred.to_frame()["kl_per_latent"], pred.kl_per_latent)
    fit = ps.fit_linear_vae(cov=COV, latent_dim=2, sigma2=1.5, rng=0)
    history = fit.to_frame()
    assert len(history) == fit.n_iter + 1
    np.testing.assert_array_equal(history["kl_1"], fit.history.kl[:, 1])


@pytest.mark.integration
def test_to_frame_without_pandas_is_one_line_naming_the_extra():
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "import numpy as np, ppca_stability as ps\n"
        "ps.phase_diagram(np.diag([2.0, 1.0]), latent_dim=1).to_frame()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1
    assert last.endswith(
        'needs pandas, which is not installed: pip install "ppca_stability[pandas]"'
    )


def test_diagnose_json_with_a_comparison_loads_as_its_payload(capsys, tmp_path, rng):
    mu, logvar = rng.normal(size=(50, 3)), rng.normal(size=(50, 3)) * 0.1
    np.savez(tmp_path / "enc.npz", means=mu, log_variances=logvar)
    data = tmp_path / "x.npy"
    np.save(data, rng.normal(size=(60, 3)))
    argv = ("diagnose", str(tmp_path / "enc.npz"), "--data", str(data), "--sigma2", "0.5", "--json")
    payload = ps.load(_cli_json(capsys, tmp_path, *argv))
    assert isinstance(payload, dict) and payload["linear"]["sigma2"] == 0.5
