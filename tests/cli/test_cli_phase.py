"""``ppca-stability phase``: the sigma2 range options, their errors (naming the flag), and the
table, which is the `PhaseDiagram` repr's, on small data and on MNIST-test."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _mnist import mnist_test_cov

from ppca_stability import phase_diagram, phase_grid
from ppca_stability._cli import main

# The eigenvalues of the test covariance: three latents switch off between 1 and 10.
LAM = np.array([9.0, 4.0, 2.0, 0.5, 0.1])


@pytest.fixture
def cov_file(tmp_path):
    path = tmp_path / "cov.npy"
    np.save(path, np.diag(LAM))
    return path


def _table(text: str) -> list[str]:
    """The rows of a phase table (the lines after its column header, up to a blank line)."""
    return text.split("n_points\n", 1)[1].split("\n\n", 1)[0].splitlines()


def test_sigma2_range_sets_the_grid_with_the_eigenvalues_inside_it(cov_file, capsys):
    argv = ["phase", str(cov_file), "--cov", "--latent-dim", "3", "--json"]
    assert main(argv + ["--sigma2-min", "1", "--sigma2-max", "10"]) == 0
    grid = np.array(json.loads(capsys.readouterr().out)["sigma2"])
    assert (grid[0], grid[-1]) == (1.0, 10.0)
    assert np.isin([2.0, 4.0, 9.0], grid).all() and not np.isin([0.5, 0.1], grid).any()
    np.testing.assert_array_equal(
        grid, phase_grid(np.diag(LAM), latent_dim=3, sigma2_min=1.0, sigma2_max=10.0)
    )
    # one end given: the other end is the default grid's
    assert main(argv + ["--sigma2-max", "10"]) == 0
    lower = json.loads(capsys.readouterr().out)["sigma2"][0]
    assert lower == phase_diagram(np.diag(LAM), latent_dim=3).sigma2[0]


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--sigma2-min", "3", "--sigma2-max", "2"], ["--sigma2-min (3)", "--sigma2-max (2)"]),
        (["--sigma2-min", "100"], ["--sigma2-min (100)", "--sigma2-max (its default", "both"]),
        (["--sigma2-min", "-1"], ["--sigma2-min", "positive"]),
        (["--sigma2-max", "inf"], ["--sigma2-max", "finite"]),
        (["--sigma2-max", "x"], ["--sigma2-max", "'x'"]),
    ],
)
def test_sigma2_range_errors_name_the_flag(cov_file, capsys, flags, fragments):
    assert main(["phase", str(cov_file), "--cov", "--latent-dim", "3"] + flags) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert all(f in err for f in fragments), err
    assert "sigma2_min" not in err and "sigma2_max" not in err  # the flag, not the parameter


def test_table_is_the_repr(cov_file, capsys):
    # One function makes both: the CLI prints the repr's rows (plus a line saying which rows).
    ranged = phase_grid(np.diag(LAM), latent_dim=3, sigma2_min=0.2, sigma2_max=12.0)
    for extra, grid in (([], None), (["--sigma2-min", "0.2", "--sigma2-max", "12"], ranged)):
        assert main(["phase", str(cov_file), "--cov", "--latent-dim", "3"] + extra) == 0
        out = capsys.readouterr().out
        pd = phase_diagram(np.diag(LAM), latent_dim=3, sigma2=grid)
        assert _table(out) == _table(repr(pd))
        assert out.startswith("\n".join(repr(pd).splitlines()[:3]))


def test_mnist_table_shows_the_collapse_with_distinct_sigma2(tmp_path, capsys):
    # MNIST-test, latent_dim 10: a row for each number of live latents, 0 to 10, and no printed
    # sigma2 that reads as an eigenvalue unless it is one (marked "= lam_c").
    S = mnist_test_cov()
    path = tmp_path / "cov.npy"
    np.save(path, S)
    assert main(["phase", str(path), "--cov", "--latent-dim", "10"]) == 0
    rows = [line.split(None, 5) for line in _table(capsys.readouterr().out)]
    assert {int(r[2]) for r in rows} == set(range(11))
    lam = phase_diagram(S, latent_dim=10, sigma2=[1.0]).eigenvalues
    printed_lam = {f"{v:.5g}" for v in lam[lam > 0]}
    for r in rows:
        marked = len(r) > 5 and r[5].startswith("= lam_")
        assert marked or r[0] not in printed_lam, r
