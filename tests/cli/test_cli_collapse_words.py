"""One meaning per word: "collapsed" is the (epsilon, delta)-collapse (in the linear theory: a
zero decoder column, KL exactly 0), "inactive" the active-units test, "switched off" a trained
latent's KL at most 1e-3 nats; what the command line prints says which, and a stochastic fit's
stopping rule is not called convergence."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from ppca_stability import compare_with_ppca, fit_linear_vae
from ppca_stability._cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Eigenvalues of the data; at SIGMA2 with LATENT_DIM latents the optimum collapses the last one.
SCALES = np.sqrt([5.0, 3.0, 2.0, 1.0, 0.5, 0.2])
SIGMA2 = 1.5
LATENT_DIM = 4


@pytest.fixture
def data_path(tmp_path):
    X = np.random.default_rng(3).normal(size=(2000, SCALES.size)) * SCALES
    path = tmp_path / "x.npy"
    np.save(path, X)
    return path


def _qualified(text: str) -> list[str]:
    """Lines that print the word "collapsed" without saying which collapse they mean."""
    qualifiers = ("KL = 0", "zero column", "(epsilon, delta)", "optimum collapses")
    return [
        line
        for line in text.splitlines()
        if re.search(r"\bcollapsed\b", line) and not any(q in line for q in qualifiers)
    ]


@pytest.mark.filterwarnings("ignore::ppca_stability.ConvergenceWarning")  # a short schedule
def test_stochastic_vae_says_what_its_stopping_rule_means(data_path, capsys):
    code = main(
        [
            *("vae", str(data_path), "--objective", "stochastic", "--latent-dim", "4"),
            *("--sigma2", str(SIGMA2), "--max-steps", "400", "--classify", "yes"),
        ]
    )
    out = capsys.readouterr().out
    assert code in (0, 1)
    assert "converged:" not in out  # a stochastic fit is not called converged
    assert "near, not at, a stationary point" in out
    assert re.search(r"switched off\s+\d+ of 4 \(KL <= 0\.001 nats", out)
    assert _qualified(out) == [], _qualified(out)


def test_analytic_vae_output_names_its_collapse(data_path, capsys):
    argv = ["vae", str(data_path), "--latent-dim", str(LATENT_DIM), "--sigma2", str(SIGMA2)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "converged: gradient" in out and re.search(r"switched off\s+1 of 4", out)
    assert _qualified(out) == [], _qualified(out)


def test_map_output_names_its_collapse(data_path, capsys):
    assert main(["map", str(data_path), "--sigma2", str(SIGMA2), "--latent-dim", "4"]) == 0
    out = capsys.readouterr().out
    assert "1 of 4 latents collapsed" in out and _qualified(out) == [], _qualified(out)


def test_agreement_row_shows_the_kls_that_missed_the_threshold():
    # A fit whose predicted-collapsed latent keeps a KL above 1e-3 (a noise floor): the failing
    # row gives the KL it has instead of only the count.
    cov = np.diag(SCALES**2)
    fit = fit_linear_vae(cov=cov, latent_dim=LATENT_DIM, sigma2=SIGMA2, rng=0)
    W = fit.loadings.copy()
    off = fit.switched_off[0]
    W[:, off] = 0.3 * np.eye(SCALES.size)[:, 3]  # a faint column where the optimum has none
    a = compare_with_ppca(W, cov, sigma2=SIGMA2, classify=False)
    assert len(a.switched_off) == 0 and a.n_collapsed_predicted == 1
    smallest = float(np.min(a.kl_per_latent))
    assert smallest > 1e-3
    assert f"the 1 smallest KLs here are {smallest:.3g}" in repr(a)


def test_the_old_names_still_work_and_warn():
    cov = np.diag(SCALES**2)
    fit = fit_linear_vae(cov=cov, latent_dim=LATENT_DIM, sigma2=SIGMA2, rng=0)
    a = compare_with_ppca(fit)
    with pytest.warns(FutureWarning, match="switched_off"):
        assert fit.collapsed == fit.switched_off
    with pytest.warns(FutureWarning, match="switched_off"):
        assert a.collapsed == a.switched_off
    with pytest.warns(FutureWarning, match="switched_off_as_predicted"):
        assert a.collapsed_as_predicted is a.switched_off_as_predicted is True


def test_the_glossary_defines_each_word_once():
    text = (DOCS / "sigma2.md").read_text()
    glossary = text[text.index("## Glossary") :]
    for word in ("**collapsed**", "**inactive**", "**switched off**"):
        assert glossary.count(word) == 1, word
    assert "1e-3" in glossary and "0.01" in glossary and "Burda" in glossary
    for page in ("cli.md", "deep_vae.md", "tutorial.md"):
        assert "sigma2.md#glossary" in (DOCS / page).read_text(), page
