"""beta_for_latents, the inverse of predict_collapse: checked against the closed form
``lam_k > sigma2 >= lam_{k+1}`` written with the conversion table of theory.md §7, against
predict_collapse inside and at the ends of the interval, and as a property over spectra,
conventions and k."""

import numpy as np
import pytest
from _support import cov_from_eigenvalues
from hypothesis import given
from hypothesis import strategies as st

from ppca_stability import BetaInterval, beta_for_latents, predict_collapse
from ppca_stability.strategies import covariances, spectra

# The computed eigenvalues of Q diag(lam) Q^T against lam.
EIG_RTOL = 1e-12
LAM = np.array([9.0, 6.0, 4.0, 2.5, 1.0, 0.3])
CONVENTIONS = [
    ("sse", "sum"),
    ("half_sse", "sum"),
    ("mse", "sum"),
    ("sse", "mean"),
    ("mse", "mean"),
    ("half_sse", "mean"),
]


def _sigma2_per_beta(reconstruction, kl_reduction, d, q):
    """The table of theory.md §7 (and docs/sigma2.md §2), written out: sigma2 / beta."""
    per = {"sse": 0.5, "half_sse": 1.0, "mse": d / 2.0}[reconstruction]
    return per / q if kl_reduction == "mean" else per


@pytest.mark.parametrize("reconstruction,kl_reduction", CONVENTIONS)
@pytest.mark.parametrize("keep", range(LAM.size + 1))
def test_interval_is_the_closed_form(keep, reconstruction, kl_reduction, rng):
    """k latents live iff lam_k > sigma2 >= lam_{k+1}: beta = sigma2 / (sigma2 per beta)."""
    q = LAM.size
    S = cov_from_eigenvalues(LAM, rng)
    out = beta_for_latents(
        S, keep, reconstruction=reconstruction, kl_reduction=kl_reduction, latent_dim=q
    )
    per = _sigma2_per_beta(reconstruction, kl_reduction, LAM.size, q)
    assert isinstance(out, BetaInterval) and out.keep == keep
    if keep == 0:
        assert out.high == np.inf and out.sigma2_high == np.inf
    else:
        assert out.sigma2_high == pytest.approx(LAM[keep - 1], rel=EIG_RTOL)
        assert out.high == pytest.approx(LAM[keep - 1] / per, rel=EIG_RTOL)
    if keep == q:  # every smaller beta keeps all q latents too
        assert out.low == 0.0 and out.sigma2_low == 0.0 and not out.low_closed
    else:
        assert out.low_closed
        assert out.sigma2_low == pytest.approx(LAM[keep], rel=EIG_RTOL)
        assert out.low == pytest.approx(LAM[keep] / per, rel=EIG_RTOL)


@pytest.mark.parametrize("reconstruction,kl_reduction", CONVENTIONS)
def test_predict_collapse_inside_and_at_the_ends(reconstruction, kl_reduction, rng):
    q = 4
    S = cov_from_eigenvalues(LAM, rng)
    conv = {"reconstruction": reconstruction, "kl_reduction": kl_reduction}
    for keep in range(q + 1):
        out = beta_for_latents(S, keep, latent_dim=q, **conv)

        def n_active(beta):
            return predict_collapse(S, latent_dim=q, beta=beta, **conv).n_active

        inside = [2.0 * out.low, 1.01 * out.low] if keep == 0 else [np.sqrt(out.low * out.high)]
        if keep == q:
            inside = [out.high / 2.0, out.high * 1e-6]
        for beta in inside:
            assert beta in out and n_active(beta) == keep
        if out.low_closed:  # closed lower end: keeps k; just below it, one more latent lives
            assert out.low in out and n_active(out.low) == keep
            assert n_active(out.low * (1 - 1e-6)) == keep + 1
        if keep:  # open upper end: latent k collapses there
            assert out.high not in out and n_active(out.high) == keep - 1
            assert n_active(out.high * (1 - 1e-6)) == keep


@given(
    data=st.data(),
    conv=st.sampled_from(CONVENTIONS),
)
def test_property_every_beta_in_the_interval_keeps_k(data, conv):
    lam = data.draw(spectra(min_dim=1, max_dim=6, zeros=True, min_gap=1e-3))
    cov = data.draw(covariances(lam))
    d = lam.size
    positive = int(np.count_nonzero(lam > 0))
    q = data.draw(st.one_of(st.none(), st.integers(1, d)))
    reconstruction, kl_reduction = conv
    if kl_reduction == "mean" and q is None:
        q = d
    top = positive if q is None else min(q, positive)
    keep = data.draw(st.integers(0, top))
    conventions = {"reconstruction": reconstruction, "kl_reduction": kl_reduction}
    out = beta_for_latents(cov, keep, latent_dim=q, **conventions)
    # predict_collapse needs a latent_dim: the model's, or every direction when none is given
    model_q = d if q is None else q

    def n_active(beta):
        return predict_collapse(cov, latent_dim=model_q, beta=beta, **conventions).n_active

    # inside: a draw strictly between the ends, in log scale (beyond the tie tolerance)
    lo = out.low if out.low > 0 else out.high * 1e-3
    hi = out.high if np.isfinite(out.high) else out.low * 1e3
    t = data.draw(st.floats(0.01, 0.99))
    beta = float(np.exp(np.log(lo) + t * (np.log(hi) - np.log(lo))))
    assert beta in out and n_active(beta) == keep
    if out.low_closed:
        assert n_active(out.low) == keep
    if keep:
        assert n_active(out.high) == keep - 1


def test_repr_states_the_ends(rng):
    S = cov_from_eigenvalues(LAM, rng)
    middle = repr(beta_for_latents(S, 2, reconstruction="mse"))
    assert middle.startswith("BetaInterval(keep=2: beta in [")
    assert "= [lam_3, lam_2): latents 1-2 live" in middle and "n_features=6" in middle
    none = repr(beta_for_latents(S, 0, reconstruction="sse"))
    assert "inf)" in none and "every latent collapses" in none
    every = repr(beta_for_latents(S, 3, reconstruction="sse", latent_dim=3))
    assert "beta in (0, " in every and "(0, lam_3): all 3 latents live" in every


@pytest.mark.parametrize(
    "args,kwargs,exc,match",
    [
        ((LAM, 7), {"reconstruction": "sse"}, ValueError, r"`keep` = 7 .* at most 6"),
        ((LAM, 4), {"reconstruction": "sse", "latent_dim": 3}, ValueError, "latent_dim = 3"),
        ((np.array([2.0, 1.0, 0.0]), 3), {"reconstruction": "sse"}, ValueError, "at most 2"),
        ((np.array([3.0, 2.0, 2.0, 1.0]), 2), {"reconstruction": "sse"}, ValueError, "tied"),
        ((LAM, -1), {"reconstruction": "sse"}, ValueError, "`keep` must be a non-negative"),
        ((LAM, 1.5), {"reconstruction": "sse"}, TypeError, "`keep` must be a non-negative"),
        ((LAM, True), {"reconstruction": "sse"}, TypeError, "`keep` must be"),
        ((LAM, 1), {"reconstruction": "mean"}, ValueError, "`reconstruction` must be one of"),
        (
            (LAM, 1),
            {"reconstruction": "sse", "kl_reduction": "mean"},
            ValueError,
            "`latent_dim` is required",
        ),
        ((LAM, 1), {"reconstruction": "sse", "latent_dim": 7}, ValueError, "`latent_dim` must"),
    ],
)
def test_errors_name_the_parameter(args, kwargs, exc, match):
    cov, keep = np.diag(args[0]), args[1]
    with pytest.raises(exc, match=match):
        beta_for_latents(cov, keep, **kwargs)


def test_convention_is_required():
    with pytest.raises(TypeError, match="reconstruction"):
        beta_for_latents(np.diag(LAM), 1)  # type: ignore[call-arg]
