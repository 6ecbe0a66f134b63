"""Classifying thousands of equal-norm clusters shows its count first, then a progress bar."""

import numpy as np

from ppca_stability import elbo_stability_map


def test_progress_counts_the_clusters_then_classifies_them(capsys):
    emap = elbo_stability_map(
        np.diag([5.0, 3.0, 2.0, 1.0]), 0.5, latent_dim=3, include_clusters=True, progress=True
    )
    n = emap.n_cluster_points
    assert n > 0
    capsys.readouterr()
    emap.census()
    err = capsys.readouterr().err
    assert "equal-norm clusters" in err and f"0/{n}" in err  # the count comes first


def test_no_progress_by_default(capsys):
    emap = elbo_stability_map(
        np.diag([5.0, 3.0, 2.0, 1.0]), 0.5, latent_dim=3, include_clusters=True
    )
    emap.census()
    assert capsys.readouterr().err == ""
