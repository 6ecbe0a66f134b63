"""CLI ``phase`` and ``demo``: output against the API, whole-or-nothing files, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ppca_stability import covariance, phase_diagram
from ppca_stability._cli import main


@pytest.fixture
def data_file(tmp_path):
    X = np.random.default_rng(0).normal(size=(200, 5)) * np.array([3.0, 2.0, 1.5, 1.0, 0.5])
    path = tmp_path / "x.npy"
    np.save(path, X)
    return path, X


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err
    return err


def test_phase_table(data_file, capsys):
    path, _ = data_file
    assert main(["phase", str(path), "--latent-dim", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PhaseDiagram(n_features=5, latent_dim=2")
    assert "collapses" in out


def test_phase_json_matches_api(data_file, capsys):
    path, X = data_file
    assert main(["phase", str(path), "--latent-dim", "2", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    pd = phase_diagram(covariance(X), latent_dim=2)
    np.testing.assert_allclose(payload["sigma2"], pd.sigma2)
    assert payload["n_points"] == list(pd.n_points)
    assert payload["n_active"] == pd.n_active.tolist()
    assert payload["sigma2_learned"] == pytest.approx(pd.sigma2_learned)
    assert payload["stability_counts"][0] == {k.value: v for k, v in pd.stability_counts[0].items()}


def test_phase_json_census_matches_api(data_file, capsys):
    path, X = data_file
    assert main(["phase", str(path), "--latent-dim", "2", "--json"]) == 0
    assert "census" not in json.loads(capsys.readouterr().out)
    assert main(["phase", str(path), "--latent-dim", "2", "--json", "--census"]) == 0
    payload = json.loads(capsys.readouterr().out)
    pd = phase_diagram(covariance(X), latent_dim=2)
    assert len(payload["census"]) == pd.sigma2.size
    assert payload["census"] == [{str(k): v for k, v in c.items()} for c in pd.census]
    assert [sum(c.values()) for c in payload["census"]] == list(pd.n_points)


def test_phase_census_needs_json(data_file, capsys):
    path, _ = data_file
    assert main(["phase", str(path), "--census"]) == 2
    assert "--census: only with --json" in capsys.readouterr().err


def test_phase_json_without_learned_sigma2(tmp_path, capsys):
    path = tmp_path / "cov.csv"
    np.savetxt(path, np.diag([3.0, 2.0, 1.0]), delimiter=",")
    assert main(["phase", str(path), "--cov", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sigma2_learned"] is None


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_phase_writes_the_figure(data_file, tmp_path, capsys, suffix):
    path, _ = data_file
    fig = tmp_path / f"phase.{suffix}"
    assert main(["phase", str(path), "--latent-dim", "2", "--out", str(fig)]) == 0
    assert fig.stat().st_size > 1000
    assert str(fig) in capsys.readouterr().out


def test_phase_bad_file(tmp_path, capsys):
    assert main(["phase", str(tmp_path / "missing.npy")]) == 2
    assert "no such file" in _one_line_error(capsys)


def test_phase_bad_figure_suffix(data_file, tmp_path, capsys):
    path, _ = data_file
    assert main(["phase", str(path), "--out", str(tmp_path / "fig.jpgx")]) == 2
    assert "--out" in _one_line_error(capsys)


def test_phase_unwritable_out_leaves_no_file(data_file, tmp_path, capsys):
    path, _ = data_file
    missing_dir = tmp_path / "nope" / "fig.png"
    assert main(["phase", str(path), "--out", str(missing_dir)]) == 2
    _one_line_error(capsys)
    assert not missing_dir.exists()
    # The target is a directory: writing fails after the figure was rendered; no stray temp file.
    target = tmp_path / "fig.png"
    target.mkdir()
    before = set(tmp_path.iterdir())
    assert main(["phase", str(path), "--out", str(target)]) == 2
    assert "cannot write" in _one_line_error(capsys)
    assert set(tmp_path.iterdir()) == before and target.is_dir()


def test_phase_bad_latent_dim(data_file, capsys):
    path, _ = data_file
    assert main(["phase", str(path), "--latent-dim", "9"]) == 2
    assert "latent_dim" in _one_line_error(capsys)


def test_demo(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "sigma2_ML" in text and "collapsed" in text and "saddles" in text
    figures = sorted(out.iterdir())
    assert [f.name for f in figures] == ["phase_digits.png", "stability_map_digits.png"]
    for f in figures:
        assert f.stat().st_size > 10_000 and str(f) in text


def test_demo_out_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["demo", "--out", str(blocker)]) == 2
    assert "--out" in _one_line_error(capsys)
