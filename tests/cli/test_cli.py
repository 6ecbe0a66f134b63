"""The command line: output against the public API, one-line errors with exit code 2,
whole-or-nothing files. One section per sub-command (map, phase, demo, beta, exact, verify); the
``vae`` command is
tested with the linear VAE. Fuzzing of the CLI with malformed files lives in test_robustness.py."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from _support import off_by_one_percent, rel_err

from ppca_stability import covariance, phase_diagram, stability_map
from ppca_stability._cli import main
from ppca_stability._ppca import stability as results_module


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


@pytest.mark.parametrize(
    "missing,argv,message",
    [
        (
            "matplotlib",
            ["phase", "{data}", "--latent-dim", "2", "--out", "{tmp}/phase.png"],
            'writing a figure needs matplotlib, which is not installed: pip install '
            '"ppca_stability[plot]"',
        ),
        (
            "sklearn",
            ["demo", "--out", "{tmp}/demo"],
            "The demo (scikit-learn's bundled digits) needs sklearn, which is not installed: "
            'pip install "ppca_stability[demo]"',
        ),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(
    data_file, tmp_path, capsys, monkeypatch, missing, argv, message
):
    # A None entry in sys.modules makes the import fail as if the package were not installed.
    for name in [m for m in sys.modules if m == missing or m.startswith(missing + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, missing, None)
    path, _ = data_file
    args = [a.format(data=path, tmp=tmp_path) for a in argv]
    assert main(args) == 2
    assert _one_line_error(capsys) == f"ppca-stability {argv[0]}: error: {message}"
    assert not (tmp_path / "phase.png").exists() and not (tmp_path / "demo").exists()


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
        (["--sigma2", "1", "--latent-dim", "9"], "--latent-dim"),
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
    # The target is a directory: refused before any work; no stray temp file.
    target = tmp_path / "fig.png"
    target.mkdir()
    before = set(tmp_path.iterdir())
    assert main(["phase", str(path), "--out", str(target)]) == 2
    assert "is a directory" in _one_line_error(capsys)
    assert set(tmp_path.iterdir()) == before and target.is_dir()


def test_phase_bad_latent_dim(data_file, capsys):
    path, _ = data_file
    assert main(["phase", str(path), "--latent-dim", "9"]) == 2
    assert "--latent-dim" in _one_line_error(capsys)


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
    assert "--n-features" in capsys.readouterr().err


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
    assert err.count("\n") == 1 and "--eigenvalues (item 2)" in err
    assert main(["exact", "--eigenvalues", "5,3", "--sigma2", "0"]) == 2
    assert "--sigma2 must be positive" in capsys.readouterr().err


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


# ----------------------------------------------------------------------------- sizes
def _run_cli(*argv: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ppca_stability", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_phase_out_at_large_d_needs_no_census(tmp_path):
    # Regression: `phase --out` at d = 300 exceeded 8 GB (the census per distinct m).
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


# ----------------------------------------------------------------------------- promises (§4)
def _assert_one_line_exit_2(done: subprocess.CompletedProcess, *fragments: str) -> str:
    err = done.stderr.strip()
    assert done.returncode == 2, (done.returncode, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_vae_out_is_checked_before_training(data_file, tmp_path):
    # Regression: --out to a directory, or without an extension, failed after training (the
    # latter on the temporary file's random suffix); to a missing directory likewise.
    path, _ = data_file
    (tmp_path / "figdir.png").mkdir()
    for out, fragment in [
        (tmp_path / "figdir.png", "is a directory"),
        (tmp_path / "curves", "must end in .png"),
        (tmp_path / "nodir" / "c.png", "does not exist"),
    ]:
        done = _run_cli("vae", str(path), "--latent-dim", "2", "--out", str(out))
        _assert_one_line_exit_2(done, "--out")
        assert fragment in done.stderr and "ELBO" not in done.stdout


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere"
)
def test_vae_out_to_an_unwritable_directory(data_file, tmp_path):
    path, _ = data_file
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    done = _run_cli("vae", str(path), "--latent-dim", "2", "--out", str(locked / "c.png"))
    _assert_one_line_exit_2(done, "not writable")


def test_phase_out_into_a_missing_directory_fails_before_work(data_file, tmp_path):
    path, _ = data_file
    done = _run_cli("phase", str(path), "--out", str(tmp_path / "nodir" / "x.png"))
    _assert_one_line_exit_2(done, "does not exist")
    assert done.stdout == ""  # nothing computed or printed


def test_demo_bad_latent_dim_creates_nothing(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "figs"
    done = _run_cli("demo", "--out", str(out), "--latent-dim", "0")
    _assert_one_line_exit_2(done, "--latent-dim")
    assert not out.exists()


def test_npz_named_npy_is_a_one_line_error(tmp_path):
    path = tmp_path / "x.npy"
    with open(path, "wb") as f:
        np.savez(f, a=np.eye(3))
    _assert_one_line_exit_2(_run_cli("map", str(path), "--sigma2", "1"), ".npz archive")


def test_parse_errors_report_the_position_not_the_content(tmp_path):
    # Regression: a symlink to /etc/passwd printed its first line.
    secret = tmp_path / "secret.txt"
    secret.write_text("1,2\nroot:x:0:0:root:/root:/bin/bash,3\n")
    link = tmp_path / "data.csv"
    link.symlink_to(secret)
    err = _assert_one_line_exit_2(_run_cli("map", str(link), "--sigma2", "1"), "row")
    assert "root:x" not in err and "bash" not in err


def test_huge_feature_counts_fail_fast_with_the_size(tmp_path):
    # Regression: MemoryError tracebacks on a 10^6-column CSV and a (100, 60000) .npy.
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(["1"] * 10**6) + "\n")
    _assert_one_line_exit_2(_run_cli("map", str(wide), "--sigma2", "1"), "1000000 features", "GiB")
    tall = tmp_path / "tall.npy"
    np.lib.format.open_memmap(tall, mode="w+", dtype=np.float64, shape=(100, 60000)).flush()
    _assert_one_line_exit_2(_run_cli("phase", str(tall)), "60000 features", "GiB")


def test_huge_cov_fails_fast_on_a_machine_with_8_gib(tmp_path, monkeypatch, capsys):
    # Regression: a 25000^2 --cov ran out of memory; the size is checked against the machine's
    # memory (patched to 8 GiB here so that the test does not depend on this machine).
    from ppca_stability._cli import _io

    monkeypatch.setattr(_io, "memory_bytes", lambda: 8 * 2**30)
    path = tmp_path / "cov.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(25000, 25000)).flush()
    assert main(["map", str(path), "--cov", "--sigma2", "1"]) == 2
    assert "25000 features" in _one_line_error(capsys)


def test_stdout_to_a_full_disk_is_a_one_line_error(data_file):
    # Regression: `map > /dev/full` ended in a traceback.
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    path, _ = data_file
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "ppca_stability", "map", str(path), "--sigma2", "1"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert done.returncode == 2 and "No space left on device" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_outputs_keep_the_mode_and_refuse_foreign_files(data_file, tmp_path):
    # Regression: outputs overwrote unrelated files silently and widened 0600 to 0644.
    path, _ = data_file
    fig = tmp_path / "fig.png"
    fig.write_text("my notes, not a figure")
    done = _run_cli("phase", str(path), "--out", str(fig))
    _assert_one_line_exit_2(done, "--force")
    assert fig.read_text() == "my notes, not a figure"
    fig.chmod(0o600)
    done = _run_cli("phase", str(path), "--out", str(fig), "--force")
    assert done.returncode == 0, done.stderr
    assert fig.read_bytes().startswith(b"\x89PNG") and stat.S_IMODE(fig.stat().st_mode) == 0o600
    # A figure this tool wrote is overwritten without --force, keeping its mode.
    assert _run_cli("phase", str(path), "--out", str(fig)).returncode == 0
    assert stat.S_IMODE(fig.stat().st_mode) == 0o600


def test_sigterm_while_saving_leaves_no_temporary_file(data_file, tmp_path):
    # Regression: SIGTERM during savefig left a 0-byte temporary file.
    path, _ = data_file
    script = (
        "import time, matplotlib.figure as mf\n"
        "def slow(self, fname, **kw):\n"
        "    open(fname, 'wb').close()\n"
        "    time.sleep(60)\n"
        "mf.Figure.savefig = slow\n"
        "from ppca_stability._cli import main\n"
        f"raise SystemExit(main(['phase', {str(path)!r}, '--out', {str(tmp_path / 'f.png')!r}]))\n"
    )
    with subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE) as proc:
        deadline = time.monotonic() + 120
        while not any(p.name.startswith(".f.png.") for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert [p.name for p in tmp_path.iterdir() if p != path] == []


def test_verify_writes_nothing_into_the_working_directory(tmp_path):
    # Regression: `verify` created .hypothesis/ in the working directory.
    done = _run_cli(
        "verify", "--examples", "2", "--theorem", "orbit_count", "--no-progress", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_vae_streams_the_covariance_once(data_file, monkeypatch, capsys):
    # Regression: `vae DATA` loaded the whole file as float64 and computed the covariance twice
    # (400 MB float32: 52 s, 1.36 GB). The analytic objective now gets the streamed covariance.
    from ppca_stability._cli import vae as vae_cli

    path, X = data_file
    seen = {}
    real_fit = vae_cli.fit_linear_vae

    def spy(data, **kwargs):
        seen["data"], seen["cov"] = data, kwargs["cov"]
        return real_fit(data, **kwargs)

    monkeypatch.setattr(vae_cli, "fit_linear_vae", spy)
    assert main(["vae", str(path), "--latent-dim", "2"]) in (0, 1)
    assert seen["data"] is None and rel_err(seen["cov"], covariance(X)) < 1e-12


def _demo_table_rows(text):
    header = next(i for i, line in enumerate(text.splitlines()) if "total KL (nats)" in line)
    rows = []
    for line in text.splitlines()[header + 1 :]:
        if not line.startswith("   ") or line.strip().startswith("1 (VAE default):"):
            break
        rows.append(line)
    return rows


def test_demo_map_uses_the_same_latent_dim_as_the_text(tmp_path, capsys, digits_cov):
    # The map figure is drawn at the K the text talks about (as a summary when too large), and
    # the text says which sigma2 and how it is drawn; the "VAE default" row is explained.
    assert main(["demo", "--out", str(tmp_path), "--latent-dim", "10"]) == 0
    text = capsys.readouterr().out
    s_ml = phase_diagram(digits_cov, latent_dim=10).sigma2_learned
    n = stability_map(digits_cov, s_ml, latent_dim=10).n_points
    assert f"Stability map at sigma2_ML, K = 10: {n:,} stationary points" in text
    assert "the figure is a summary" in text
    assert "1 (VAE default): sigma2 = 1 is a Gaussian decoder of unit variance" in text
    assert len(_demo_table_rows(text)) == 6


def test_demo_without_a_learned_sigma2_keeps_its_rows_and_figures(tmp_path, capsys):
    # latent_dim >= rank: no sigma2_ML. The table still has rows (sigma2 = 1 and values between
    # eigenvalues), the text says why, and both figures are written (the map at sigma2 = 1).
    assert main(["demo", "--out", str(tmp_path), "--latent-dim", "64"]) == 0
    text = capsys.readouterr().out
    assert "no sigma2_ML to scale" in text
    rows = _demo_table_rows(text)
    assert len(rows) >= 4
    live = [int(row.split()[-5]) for row in rows]
    assert live == sorted(live, reverse=True) and len(set(live)) == len(live)
    assert "Stability map at sigma2 = 1, K = 64" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "phase_digits.png",
        "stability_map_digits.png",
    ]


# ----------------------------------------------------------------------------- a CLI that
# catches mistakes and speaks in flags (one contiguous block)
def _spd(d: int, rng) -> np.ndarray:
    A = rng.normal(size=(d, d))
    return A @ A.T / d + np.eye(d)


def test_square_symmetric_data_without_cov_warns_once_after_the_output(tmp_path, rng):
    path = tmp_path / "C.npy"
    np.save(path, _spd(4, rng))
    done = _run_cli("map", str(path), "--sigma2", "5")
    assert done.returncode == 0 and "StabilityMap" in done.stdout
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and "DataWarning" in err[0] and "square symmetric" in err[0]
    assert "pass --cov" in err[0]
    done = _run_cli("map", str(path), "--cov", "--sigma2", "5")
    assert done.returncode == 0 and done.stderr == ""


@pytest.mark.parametrize(
    "shape,fragment",
    [((1, 3), "single sample"), ((3, 5), "3 samples of 5 features (n <= d)"), ((200, 5), None)],
)
def test_few_samples_warn(tmp_path, rng, shape, fragment):
    path = tmp_path / "x.npy"
    np.save(path, rng.normal(size=shape))
    done = _run_cli("map", str(path), "--sigma2", "0.5")
    assert done.returncode == 0, done.stderr
    if fragment is None:
        assert done.stderr == ""
    else:
        assert len(done.stderr.strip().splitlines()) == 1 and fragment in done.stderr


def test_a_warning_about_data_joins_the_error_line(tmp_path, rng):
    path = tmp_path / "x.npy"
    np.save(path, rng.normal(size=(2, 3)))
    done = _run_cli("map", str(path), "--sigma2", "learned")
    err = _assert_one_line_exit_2(done, "(warning: DATA:", "2 samples of 3 features")
    assert "unbounded" in err


def _json_map(path, *extra) -> dict:
    done = _run_cli("map", str(path), "--sigma2", "0.5", "--json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_csv_header_and_delimiters_give_the_same_answer(tmp_path, rng):
    X = rng.normal(size=(30, 3)) * [3.0, 1.0, 0.3]
    plain = tmp_path / "plain.csv"
    np.savetxt(plain, X, delimiter=",")
    reference = _json_map(plain)
    assert reference["eigenvalues"] == pytest.approx(np.linalg.eigvalsh(covariance(X))[::-1])
    variants = {
        "header.csv": dict(delimiter=",", header="f0,f1,f2", comments=""),
        "quoted.csv": dict(delimiter=",", header='"a","b","c"', comments=""),
        "tabs.csv": dict(delimiter="\t"),
        "tabs.tsv": dict(delimiter="\t", header="f0\tf1\tf2", comments=""),
        "semicolons.csv": dict(delimiter=";"),
        "spaces.txt": dict(delimiter=" "),
    }
    for name, options in variants.items():
        np.savetxt(tmp_path / name, X, **options)
        assert _json_map(tmp_path / name) == reference, name
    # comments and blank lines before the header
    commented = tmp_path / "commented.csv"
    commented.write_text("# exported\n\nf0,f1,f2\n" + (tmp_path / "plain.csv").read_text())
    assert _json_map(commented) == reference


@pytest.mark.parametrize(
    "content,fragment",
    [
        ("", "no rows of numbers"),
        ("# only a comment\n\n", "no rows of numbers"),
        ("a,b,c\n", "a header row and no rows of numbers"),
        ("1,x,3\n4,5,6\n", "at row 0"),  # a bad row with numbers in it is not a header
    ],
)
def test_empty_and_header_only_csv_are_one_line_errors(tmp_path, content, fragment):
    path = tmp_path / "x.csv"
    path.write_text(content)
    err = _assert_one_line_exit_2(_run_cli("map", str(path), "--sigma2", "1"), "DATA", fragment)
    assert "UserWarning" not in err


def test_a_directory_is_not_a_missing_file(tmp_path):
    folder = tmp_path / "data.npy"
    folder.mkdir()
    for argv in (["map", str(folder), "--sigma2", "1"], ["diagnose", str(folder)]):
        err = _assert_one_line_exit_2(_run_cli(*argv), "is a directory")
        assert "no such file" not in err


def _table_rows(text: str) -> list[tuple[float, int, int]]:
    """(sigma2, n_above, n_active) of the rows of the phase table."""
    lines = text.split("n_points\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [(float(c[0]), int(c[1]), int(c[2])) for c in (line.split() for line in lines)]


def test_phase_table_shows_where_the_answer_changes(tmp_path):
    # Regression: at d = 784 on a power-law spectrum the table showed five sigma2 below 2e-4 and
    # one at 733, skipping everything in between.
    lam = 100.0 * np.arange(1, 785) ** -1.5
    path = tmp_path / "cov.npy"
    np.save(path, np.diag(lam))
    for q in (784, 32):
        done = _run_cli("phase", str(path), "--cov", "--latent-dim", str(q))
        assert done.returncode == 0, done.stderr
        rows = _table_rows(done.stdout)
        pd = phase_diagram(np.diag(lam), latent_dim=q)
        for s, n_above, n_active in rows:  # each row is the API's answer at its sigma2
            g = int(np.argmin(np.abs(np.log(pd.sigma2 / s))))
            assert (pd.n_above[g], pd.n_active[g]) == (n_above, n_active)
        # a row in every decade of the spectrum, and rows on both sides of each of the top
        # three eigenvalues (where the first latents collapse)
        sigma2 = np.array([r[0] for r in rows])
        for low in range(int(np.floor(np.log10(lam[-1]))), 2):
            assert np.any((sigma2 >= 10.0**low) & (sigma2 < 10.0 ** (low + 1))), (q, low)
        assert {1, 2, 3} <= {r[1] for r in rows}
        assert all(len(line) < 200 for line in done.stdout.splitlines())
    # With q < rank: the intervals around sigma2_learned are rows, the one holding it marked.
    k = int(np.sum(lam > pd.sigma2_learned))
    assert {k - 1, k, k + 1} <= {r[1] for r in rows}
    marked = [line for line in done.stdout.splitlines() if "<- sigma2_learned" in line]
    assert len(marked) == 1 and int(marked[0].split()[1]) == k


def test_map_at_large_d_prints_short_lines(tmp_path):
    # Regression: `map` with the default latent_dim = d printed a 40 kB census line.
    path = tmp_path / "cov.npy"
    np.save(path, np.diag(100.0 * np.arange(1, 785) ** -1.5))
    done = _run_cli("map", str(path), "--cov", "--sigma2", "0.3", "--show", "3")
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) < 400
    census = next(line for line in done.stdout.splitlines() if line.startswith("census"))
    assert "more)" in census and "--json" in census
    maximum = next(line for line in done.stdout.splitlines() if line.startswith("global"))
    assert "(36 more)" in maximum  # 48 live latents: 9 shown first, 3 last


@pytest.mark.parametrize(
    "argv,fragment,forbidden",
    [
        (["verify", "--examples", "0"], "argument --examples: must be a positive integer", "_"),
        (["map", "{data}", "--sigma2", "1", "--show", "-1"], "argument --show", None),
        (["map", "{data}", "--sigma2", "1e400"], "argument --sigma2", None),
        (["map", "{data}", "--sigma2", "1", "--latent-dim", "9"], "--latent-dim must be", "_dim"),
        (["map", "{data}", "--cov", "--sigma2", "1"], "--cov expects a square", "covariance("),
        (["beta", "--beta", "1"], "--n-features", "n_features"),
        (["beta", "--beta", "-1", "--n-features", "3"], "argument --beta", None),
        (["vae", "{data}", "--latent-dim", "2", "--seed", "-1"], "--seed", "`rng`"),
        (["vae", "{data}", "--latent-dim", "2", "--max-steps", "0"], "--max-steps", "max_steps"),
        (["exact", "--eigenvalues", "5,x"], "--eigenvalues (item 2)", "eigenvalues["),
        (["exact", "--eigenvalues", "5,3", "--latent-dim", "0"], "argument --latent-dim", None),
        (["deep", "{data}", "--latent-dim", "2", "--lr", "0"], "argument --lr", None),
        (["diagnose", "{data}", "--sigma2", "-1"], "argument --sigma2", None),
    ],
)
def test_errors_name_the_flag(data_file, argv, fragment, forbidden):
    path, _ = data_file
    err = _assert_one_line_exit_2(_run_cli(*(a.format(data=path) for a in argv)), fragment)
    if forbidden is not None:
        assert forbidden not in err.split("error:", 1)[1].replace("--", "  "), err


def test_sigma2_learned_in_any_case_and_version(data_file):
    path, _ = data_file
    done = _run_cli("map", str(path), "--sigma2", "LEARNED", "--latent-dim", "2", "--show", "0")
    assert done.returncode == 0 and "sigma2=learned" in done.stdout
    from ppca_stability import __version__

    done = _run_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"ppca-stability {__version__}"


@pytest.mark.parametrize("suffix,magic", [("jpg", b"\xff\xd8\xff"), ("eps", b"%!PS")])
def test_phase_writes_any_format_matplotlib_writes(data_file, tmp_path, suffix, magic):
    path, _ = data_file
    fig = tmp_path / f"phase.{suffix}"
    done = _run_cli("phase", str(path), "--latent-dim", "2", "--out", str(fig))
    assert done.returncode == 0, done.stderr
    assert fig.read_bytes().startswith(magic)
    # ... and one this tool wrote is overwritten without --force
    assert _run_cli("phase", str(path), "--latent-dim", "2", "--out", str(fig)).returncode == 0


def test_verify_draws_no_progress_bar_into_a_log(tmp_path):
    done = _run_cli("verify", "--examples", "2", "--theorem", "orbit_count", cwd=tmp_path)
    assert done.returncode == 0 and "orbit_count" in done.stdout
    assert done.stderr == ""  # stderr is a pipe here, not a terminal


def test_exact_from_a_rational_covariance_matrix(tmp_path):
    # Q diag(5, 3, 2, 1) Q^T for the rational rotation Q = [[3, -4], [4, 3]] / 5 on each pair.
    Q = np.array([[3, -4], [4, 3]]) / 5
    block = [Q @ np.diag(pair) @ Q.T for pair in ([5, 3], [2, 1])]
    cov = np.block([[block[0], np.zeros((2, 2))], [np.zeros((2, 2)), block[1]]])
    path = tmp_path / "cov.csv"
    # exact decimals in the file: 3.72 and so on (25ths), written as text
    path.write_text("\n".join(",".join(f"{v:.2f}" for v in row) for row in cov) + "\n")
    by_matrix = _run_cli("exact", str(path), "--latent-dim", "2", "--sigma2", "3/2")
    by_eigenvalues = _run_cli(
        "exact", "--eigenvalues", "5,3,2,1", "--latent-dim", "2", "--sigma2", "3/2"
    )
    assert by_matrix.returncode == 0, by_matrix.stderr
    assert by_matrix.stdout == by_eigenvalues.stdout
    fractions = tmp_path / "fractions.csv"
    fractions.write_text("5/2,1/2\n1/2,5/2\n")
    done = _run_cli("exact", str(fractions), "--cov", "--sigma2", "1")
    assert done.returncode == 0 and "eigenvalues      [3, 2]" in done.stdout
    irrational = tmp_path / "irrational.csv"
    irrational.write_text("2,1\n1,3\n")
    _assert_one_line_exit_2(_run_cli("exact", str(irrational)), "COV", "not rational")
    _assert_one_line_exit_2(_run_cli("exact"), "exactly one of COV")


def test_beta_with_the_kl_averaged_over_latents(tmp_path):
    done = _run_cli(
        "beta", "--beta", "1", "--n-features", "784", "--kl-reduction", "mean", "--latent-dim", "16"
    )
    assert done.returncode == 0, done.stderr
    assert f"sigma^2 = {784 / 2 / 16:g}" in done.stdout  # beta d / 2, divided by q
    path = tmp_path / "cov.npy"
    np.save(path, np.diag([500.0, 300.0, 100.0]))
    done = _run_cli("beta", "--beta", "4", str(path), "--cov", "--kl-reduction", "mean")
    # beta d / 2 / q = 4 * 3 / 2 / 3 = 2: every eigenvalue stays above it
    assert done.returncode == 0 and "sigma2=2 (beta=4, mse, KL mean over latents)" in done.stdout
    _assert_one_line_exit_2(
        _run_cli("beta", "--beta", "1", "--n-features", "3", "--kl-reduction", "mean"),
        "--latent-dim",
    )


def test_out_under_a_regular_file_is_refused_before_work_even_for_root(data_file, tmp_path):
    # The "unwritable directory" probe without relying on permissions (root writes anywhere):
    # a path whose parent is a regular file can be written by no one.
    path, _ = data_file
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file")
    for command in (["vae", str(path), "--latent-dim", "2"], ["phase", str(path)]):
        done = _run_cli(*command, "--out", str(blocker / "sub" / "fig.png"))
        _assert_one_line_exit_2(done, "--out", "is a file, not a directory")
        assert done.stdout == "" and blocker.read_text() == "a file"
        # /proc takes no new files whoever asks (os.access says "writable" to root): the
        # check creates and removes a probe file in the directory before any work.
        if os.path.isdir("/proc/self"):
            done = _run_cli(*command, "--out", "/proc/fig.png")
            _assert_one_line_exit_2(done, "--out", "refuses new files")
            assert done.stdout == ""


def test_a_data_warning_is_printed_even_where_warnings_are_errors(tmp_path, capsys):
    # In process, under this suite's filterwarnings = error: a hint must not become a failure.
    path = tmp_path / "one.csv"
    path.write_text("1,2,3\n")
    assert main(["map", str(path), "--sigma2", "1", "--show", "0"]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("warning: DataWarning: DATA:") and "single sample" in err


def test_huge_cov_fails_fast_in_a_subprocess(tmp_path):
    # The 25000^2 --cov probe as a subprocess, with the machine's memory set to 8 GiB in it.
    path = tmp_path / "cov.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(25000, 25000)).flush()
    script = (
        "from ppca_stability._cli import _io, main\n"
        "_io.memory_bytes = lambda: 8 * 2**30\n"
        f"raise SystemExit(main(['map', {str(path)!r}, '--cov', '--sigma2', '1']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    _assert_one_line_exit_2(done, "25000 features", "GiB")


def test_flag_names_leave_paths_alone(tmp_path, capsys):
    folder = tmp_path / "latent_dim"
    folder.mkdir()
    missing = folder / "n_features.csv"
    assert main(["map", str(missing), "--sigma2", "1"]) == 2
    assert str(missing) in _one_line_error(capsys)
    assert main(["map", str(folder / "x.csv"), "--sigma2", "1", "--latent-dim", "0"]) == 2
    assert "argument --latent-dim" in _one_line_error(capsys)


def test_diagnose_converts_beta_with_a_kl_averaged_over_latents(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4)) * np.sqrt([4.0, 2.0, 1.0, 0.5])
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "enc.npz", mu=rng.normal(size=(400, 2)), logvar=np.zeros((400, 2)))
    out = {}
    for reduction in ("sum", "mean"):
        res = _run_cli(
            "diagnose",
            str(tmp_path / "enc.npz"),
            "--data",
            str(tmp_path / "x.npy"),
            "--beta",
            "1",
            "--kl-reduction",
            reduction,
            "--json",
        )
        assert res.returncode == 0, res.stderr
        out[reduction] = json.loads(res.stdout)["linear"]["sigma2"]
    # mse with d = 4: sigma2 = beta d / 2 = 2 summed; averaged over q = 2 latents, half that.
    assert out == {"sum": 2.0, "mean": 1.0}


# ----------------------------------------------------------------------------- vae, stochastic
@pytest.fixture
def float32_data_file(tmp_path, rng):
    X = (rng.normal(size=(400, 6)) * np.array([3.0, 2.0, 1.5, 1.0, 0.7, 0.5])).astype(np.float32)
    path = tmp_path / "x32.npy"
    np.save(path, X)
    return path, X


@pytest.mark.filterwarnings("ignore::ppca_stability.ConvergenceWarning")  # a short run
def test_vae_stochastic_streams_data_once(float32_data_file, monkeypatch, capsys):
    # The samples stay memory-mapped in their own dtype; their mean and covariance come from one
    # streamed pass (sample_moments), which also serves the agreement check.
    from ppca_stability._vae import linear_vae as _linear_vae

    path, X = float32_data_file
    passes, seen = [], {}
    real_moments = _linear_vae.sample_moments

    def spy_moments(data, **kwargs):
        passes.append(data)
        return real_moments(data, **kwargs)

    monkeypatch.setattr(_linear_vae, "sample_moments", spy_moments)
    real_fit = _linear_vae.fit_linear_vae

    def spy_fit(data, **kwargs):
        seen.update(kwargs, data=data)
        return real_fit(data, **kwargs)

    from ppca_stability._cli import vae as vae_cli

    monkeypatch.setattr(vae_cli, "fit_linear_vae", spy_fit)
    argv = ["vae", str(path), "--objective", "stochastic", "--latent-dim", "2"]
    code = main([*argv, "--max-steps", "200", "--lr", "0.05", "--batch-size", "64"])
    out = capsys.readouterr().out
    assert code in (0, 1) and "LinearVAEFit(stochastic ELBO" in out
    assert len(passes) == 1 and isinstance(passes[0], np.memmap)
    assert passes[0].dtype == np.float32
    assert seen["lr"] == 0.05 and seen["batch_size"] == 64 and seen["max_steps"] == 200
    assert seen["progress"] is False  # stderr is not a terminal here


@pytest.mark.filterwarnings("ignore::ppca_stability.ConvergenceWarning")  # a short run
def test_vae_progress_bar_follows_the_terminal(float32_data_file, monkeypatch, capsys):
    from ppca_stability._cli import vae as vae_cli

    path, _ = float32_data_file
    seen = []
    real_fit = vae_cli.fit_linear_vae
    monkeypatch.setattr(
        vae_cli, "fit_linear_vae", lambda d, **kw: seen.append(kw["progress"]) or real_fit(d, **kw)
    )
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    argv = ["vae", str(path), "--objective", "stochastic", "--latent-dim", "2", "--max-steps", "5"]
    main(argv)
    main([*argv, "--no-progress"])
    capsys.readouterr()
    assert seen == [True, False]


def test_vae_stochastic_subprocess_has_no_progress_bar_in_a_log(float32_data_file):
    path, _ = float32_data_file
    done = _run_cli(
        "vae",
        str(path),
        "--objective",
        "stochastic",
        "--latent-dim",
        "2",
        "--max-steps",
        "300",
        "--batch-size",
        "100",
        "--classify",
        "no",
    )
    assert done.returncode in (0, 1), done.stderr
    assert "LinearVAEFit(stochastic ELBO" in done.stdout and "skipped" in done.stdout
    assert "linear VAE" not in done.stderr and "it/s" not in done.stderr


@pytest.mark.parametrize(
    "extra, flag",
    [
        (["--objective", "stochastic", "--lr", "0"], "--lr"),
        (["--objective", "stochastic", "--lr", "nan"], "--lr"),
        (["--objective", "stochastic", "--batch-size", "0"], "--batch-size"),
        (["--objective", "stochastic", "--batch-size", "401"], "--batch-size"),
        (["--objective", "stochastic", "--max-steps", "-3"], "--max-steps"),
        (["--objective", "stochastic", "--cov"], "--cov"),
        (["--lr", "0.1"], "--lr"),
        (["--batch-size", "10"], "--batch-size"),
        (["--classify", "maybe"], "--classify"),
    ],
)
def test_vae_flags_are_validated_by_flag_name(float32_data_file, extra, flag):
    path, _ = float32_data_file
    done = _run_cli("vae", str(path), "--latent-dim", "2", *extra)
    err = done.stderr.strip()
    assert done.returncode == 2 and len(err.splitlines()) == 1, err
    assert flag in err and "Traceback" not in err
