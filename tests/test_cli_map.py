import json

import numpy as np
import pytest

from ppca_stability import stability_map
from ppca_stability._cli import main


@pytest.fixture
def data_file(tmp_path):
    X = np.random.default_rng(0).normal(size=(200, 5)) * np.array([3.0, 2.0, 1.5, 1.0, 0.5])
    path = tmp_path / "x.npy"
    np.save(path, X)
    return path, X


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


@pytest.mark.parametrize("argv_tail,match", [
    (["--sigma2", "abc"], "--sigma2"),
    (["--sigma2", "-1"], "sigma2"),
    (["--sigma2", "1", "--latent-dim", "9"], "latent_dim"),
])
def test_map_bad_arguments_one_line_exit_2(data_file, capsys, argv_tail, match):
    path, _ = data_file
    assert main(["map", str(path), *argv_tail]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err and "Traceback" not in err


@pytest.mark.parametrize("content,name", [(b"", "empty.csv"), (b"not,a,number\n", "bad.csv"),
                                          (b"\x93NUMPY garbage", "bad.npy"), (b"1,2\n3,4\n", "x.dat")])
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
    import subprocess
    import sys

    path, _ = data_file
    code = ("import sys; from ppca_stability._cli import main; "
            f"sys.exit(main(['map', {str(path)!r}, '--sigma2', '0.1', '--show', '100000']))")
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        proc.stdout.readline()
        proc.stdout.close()  # like `| head -1`
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) in (0, 141) and "Traceback" not in err
