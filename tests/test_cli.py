"""The command line: output against the public API, one-line errors with exit code 2, whole-or-nothing
files. One section per sub-command (map, phase, demo, beta, exact, verify); the ``vae`` command is
tested with the linear VAE. Fuzzing of the CLI with malformed files lives in test_robustness.py."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from _support import off_by_one_percent

from ppca_stability import _stability as results_module
from ppca_stability import covariance, phase_diagram, stability_map
from ppca_stability._cli import main


@pytest.fixture
def data_file(tmp_path, rng):
    X = rng.normal(size=(200, 5)) * np.array([3.0, 2.0, 1.5, 1.0, 0.5])
    path = tmp_path / "x.npy"
    np.save(path, X)
    return path, X


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err
    return err


# ----------------------------------------------------------------------------- map
def test_map_table(data_file, capsys):
    path, _ = data_file
    assert main(["map", str(path), "--sigma2", "1.0", "--latent-dim", "2"]) == 0
    out = capsys.readouterr().out
    assert "StabilityMap(n_features=5, latent_dim=2" in out and "census (Morse index: count)" in out
    assert "maximum" in out and "saddle" in out


def test_map_json_matches_api(data_file, capsys):
    path, X = data_file
    assert main(["map", str(path), "--sigma2", "learned", "--latent-dim", "2", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    smap = stability_map(np.cov(X.T, bias=True), "learned", latent_dim=2)
    assert payload["n_points"] == smap.n_points
    assert payload["global_maximum"]["active"] == list(smap.global_maximum.active)
    assert payload["census"] == {str(k): v for k, v in smap.census().items()}


def test_map_cov_csv(tmp_path, capsys):
    path = tmp_path / "cov.csv"
    np.savetxt(path, np.diag([4.0, 2.0, 1.0]), delimiter=",")
    assert main(["map", str(path), "--cov", "--sigma2", "1.5", "--show", "2"]) == 0
    assert "first 2 of 4 stationary points" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv_tail,match",
    [
        (["--sigma2", "abc"], "--sigma2"),
        (["--sigma2", "-1"], "sigma2"),
        (["--sigma2", "1", "--latent-dim", "9"], "latent_dim"),
    ],
)
def test_map_bad_arguments_one_line_exit_2(data_file, capsys, argv_tail, match):
    path, _ = data_file
    assert main(["map", str(path), *argv_tail]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err and "Traceback" not in err


@pytest.mark.parametrize(
    "content,name",
    [
        (b"", "empty.csv"),
        (b"not,a,number\n", "bad.csv"),
        (b"\x93NUMPY garbage", "bad.npy"),
        (b"1,2\n3,4\n", "x.dat"),
    ],
)
def test_map_bad_files(tmp_path, capsys, content, name):
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["map", str(path), "--sigma2", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "DATA" in err


def test_map_missing_file(capsys):
    assert main(["map", "/nonexistent/file.npy", "--sigma2", "1"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_argparse_errors_are_one_line_and_help_exits_0(capsys):
    assert main(["map"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "required" in err and "usage" not in err
    assert main(["no-such-command"]) == 2
    assert main(["--help"]) == 0
    assert "map" in capsys.readouterr().out


def test_closed_pipe_ends_quietly(data_file, tmp_path):
    path, _ = data_file
    code = (
        "import sys; from ppca_stability._cli import main; "
        f"sys.exit(main(['map', {str(path)!r}, '--sigma2', '0.1', '--show', '100000']))"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        proc.stdout.readline()
        proc.stdout.close()  # like `| head -1`
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) in (0, 141) and "Traceback" not in err


# ----------------------------------------------------------------------------- phase
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


# ----------------------------------------------------------------------------- demo
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


# ----------------------------------------------------------------------------- beta
def test_beta_without_and_with_data(tmp_path, capsys):
    assert main(["beta", "--beta", "1", "--reconstruction", "mse", "--n-features", "784"]) == 0
    out = capsys.readouterr().out
    assert "392" in out and "sse" in out
    path = tmp_path / "cov.npy"
    np.save(path, np.diag([500.0, 300.0, 100.0]))
    assert (
        main(
            [
                "beta",
                "--beta",
                "1",
                "--reconstruction",
                "mse",
                str(path),
                "--cov",
                "--latent-dim",
                "3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "sigma2=1.5" in out and "collapsed=0" in out
    assert main(["beta", "--beta", "1", "--reconstruction", "mse"]) == 2
    assert "n_features" in capsys.readouterr().err


# ----------------------------------------------------------------------------- exact
def test_exact_piecewise_and_fixed(capsys):
    assert main(["exact", "--eigenvalues", "5,3,2,1", "--latent-dim", "2"]) == 0
    out = capsys.readouterr().out
    assert "critical values  [1, 2, 3, 5]" in out and "(5, oo)" in out
    assert main(["exact", "--eigenvalues", "5,3,2,1", "--latent-dim", "2", "--sigma2", "3/2"]) == 0
    out = capsys.readouterr().out
    assert "sigma2=3/2" in out and "(0, 1)  0      maximum" in out
    assert main(["exact", "--eigenvalues", "5,3,2,1", "--latent-dim", "2", "--latex"]) == 0
    assert capsys.readouterr().out.startswith("% pPCA stationary points")


def test_exact_errors_are_one_line(capsys):
    assert main(["exact", "--eigenvalues", "5,x", "--latent-dim", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "eigenvalues[1]" in err
    assert main(["exact", "--eigenvalues", "5,3", "--sigma2", "0"]) == 2
    assert "`sigma2` must be positive" in capsys.readouterr().err


# ----------------------------------------------------------------------------- verify
def test_verify_prints_the_table_and_exits_1_on_failure(capsys, monkeypatch):
    assert main(["verify", "--examples", "3", "--theorem", "orbit_count", "--no-progress"]) == 0
    assert "orbit_count" in capsys.readouterr().out
    monkeypatch.setattr(
        results_module,
        "closed_form_spectrum",
        off_by_one_percent(results_module.closed_form_spectrum),
    )
    assert (
        main(["verify", "--examples", "20", "--theorem", "hessian_closed_form", "--seed", "1"]) == 1
    )
    captured = capsys.readouterr()
    assert "counterexample (shrunk)" in captured.out and "Traceback" not in captured.err


# ----------------------------------------------------------------------------- sizes (issue §2)
def _run_cli(*argv: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ppca_stability", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_phase_out_at_large_d_needs_no_census(tmp_path):
    # Issue probe: `phase --out` at d = 300 exceeded 8 GB (the census per distinct m).
    path = tmp_path / "cov.npy"
    np.save(path, np.diag(np.geomspace(100.0, 1.0, 300)))
    done = _run_cli("phase", str(path), "--cov", "--out", str(tmp_path / "p.png"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "p.png").stat().st_size > 0
    done = _run_cli("phase", str(path), "--cov", "--json", "--census")
    assert done.returncode == 2 and "polynomial coefficients" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_map_reports_an_oversized_census_instead_of_failing(tmp_path):
    path = tmp_path / "cov.npy"
    np.save(path, np.diag(np.geomspace(100.0, 1.0, 1000)))
    done = _run_cli("map", str(path), "--cov", "--sigma2", "0.5", "--json", "--show", "2")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["census"] is None and len(payload["points"]) == 2
    assert payload["stability_counts"]["saddle"] == 2**1000 - 2
    done = _run_cli("map", str(path), "--cov", "--sigma2", "0.5")
    assert done.returncode == 0 and "census (Morse index: count): not computed" in done.stdout


def test_exact_refuses_large_inputs_up_front():
    done = _run_cli("exact", "--eigenvalues", ",".join(map(str, range(1, 17))), "--sigma2", "1/2")
    assert done.returncode == 2 and "active sets" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = _run_cli("exact", "--eigenvalues", "1e500000,1")
    assert done.returncode == 2 and "more than 1000 digits" in done.stderr


def test_beta_outside_float64_is_an_error():
    done = _run_cli("beta", "--beta", "1e308", "--n-features", "10")
    assert done.returncode == 2 and "outside the positive float64 range" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
