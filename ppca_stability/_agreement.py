"""Does a trained linear VAE sit at the analytic pPCA optimum? (Lucas et al. 2019; theory.md §4, §6)

The ELBO's maximisers are the pPCA maximum-likelihood decoders with orthogonal columns,
``W = U_k (Lam_k - s)^{1/2} [P 0]`` with ``P`` a signed permutation, so a trained decoder is
compared through rotation-free quantities (``W W^T``, ``sigma2``, the ELBO, KL per latent) and
through its columns matched to the principal directions up to permutation and sign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._classify import DEFAULT_GTOL, DEFAULT_HESSIAN_RTOL, PointClassification, classify_kernel
from ._linear_vae import LinearVAEFit
from ._mle import mle_from_spectrum
from ._spectrum import eigh_descending
from ._validation import check_cov, check_rtol

__all__ = ["Agreement", "compare_with_ppca", "ANALYTIC_RTOL", "STOCHASTIC_RTOL"]

# Default tolerances: a converged analytic fit must agree to 1e-6, a stochastic one to 2e-2.
ANALYTIC_RTOL = 1e-6
STOCHASTIC_RTOL = 2e-2


@dataclass(frozen=True, eq=False, slots=True)
class Agreement:
    """How closely a `LinearVAEFit` matches the pPCA maximum likelihood.

    Attributes
    ----------
    wwt_error : float
        ``||W W^T - W* W*^T||_F / ||W* W*^T||_F`` (relative to ``||cov||_F`` when ``W* = 0``).
    alignment : ndarray, shape (k,)
        ``|cos|`` between principal direction ``u_i`` (``i < k``, the predicted live ones) and the
        fit column matched to it (assignment maximising the total ``|cos|``).
    matched_columns : tuple of int
        The fit column matched to each predicted live direction.
    sigma2_error : float or None
        Relative error of a learned ``sigma2``; None when it was fixed.
    elbo_gap : float
        ``(l* - ELBO) / |l*|``: relative shortfall from the pPCA maximum log-likelihood.
    kl_error : float
        Largest absolute error (nats) of the sorted KL per latent against ``1/2 log max(1, lam/s)``.
    collapsed : tuple of int
        Fit latents with KL at most ``COLLAPSED_KL``.
    n_collapsed_predicted : int
    classification : PointClassification
        `classify_point()` of the trained decoder (reported, not tested:
        a stochastic fit is near, not at, a stationary point).
    rtol : float
        Tolerance for ``wwt_error``, ``1 - alignment``, ``sigma2_error``, ``elbo_gap`` and
        ``kl_error``.
    """

    wwt_error: float
    alignment: np.ndarray
    matched_columns: tuple[int, ...]
    sigma2_error: float | None
    elbo_gap: float
    kl_error: float
    collapsed: tuple[int, ...]
    n_collapsed_predicted: int
    classification: PointClassification
    rtol: float

    @property
    def collapsed_as_predicted(self) -> bool:
        """Exactly the predicted number collapse; the others match the top principal directions."""
        return len(self.collapsed) == self.n_collapsed_predicted

    @property
    def checks(self) -> dict[str, tuple[float, bool]]:
        """Each tested quantity with whether it is within ``rtol``."""
        misalignment = float(1.0 - self.alignment.min()) if self.alignment.size else 0.0
        values = {
            "W W^T relative error": self.wwt_error,
            "1 - min |cos| (alignment)": misalignment,
            "ELBO gap (relative)": self.elbo_gap,
            "KL per latent, max error": self.kl_error,
        }
        if self.sigma2_error is not None:
            values["sigma2 relative error"] = self.sigma2_error
        return {name: (v, bool(v <= self.rtol)) for name, v in values.items()}

    @property
    def passed(self) -> bool:
        return self.collapsed_as_predicted and all(ok for _, ok in self.checks.values())

    def __repr__(self) -> str:
        def mark(ok: bool) -> str:
            return "ok" if ok else "FAIL"

        c = self.classification
        rows = [
            f"Agreement with the pPCA optimum: {'PASSED' if self.passed else 'FAILED'} (rtol "
            f"{self.rtol:g})",
            f"  {'quantity':<28} {'value':>10}  check",
        ]
        rows += [f"  {name:<28} {v:>10.3g}  {mark(ok)}" for name, (v, ok) in self.checks.items()]
        rows.append(
            f"  {'collapsed latents':<28} {len(self.collapsed):>10}  "
            f"{mark(self.collapsed_as_predicted)} (predicted {self.n_collapsed_predicted})"
        )
        rows.append(
            f"  {'decoder as a pPCA point':<28} {c.stability.name:>10}  (Morse index "
            f"{c.morse_index}, relative gradient {c.relative_gradient_norm:.2g}; reported only)"
        )
        return "\n".join(rows)


def _compare_with_ppca_iv(fit: Any, cov: Any, rtol: Any) -> tuple[LinearVAEFit, np.ndarray, float]:
    if not isinstance(fit, LinearVAEFit):
        raise TypeError(
            f"`fit` must be a LinearVAEFit from fit_linear_vae; got {type(fit).__name__}."
        )
    S = check_cov(cov)
    if S.shape[0] != fit.loadings.shape[0]:
        raise ValueError(
            f"`cov` must be ({fit.loadings.shape[0]}, {fit.loadings.shape[0]}) to match the "
            f"fit's n_features; got shape {S.shape}."
        )
    if rtol is None:
        rtol = ANALYTIC_RTOL if fit.objective == "analytic" else STOCHASTIC_RTOL
    return fit, S, check_rtol(rtol)


def compare_with_ppca(fit: LinearVAEFit, cov: Any, *, rtol: float | None = None) -> Agreement:
    """Compare a trained linear VAE with the analytic pPCA maximum-likelihood solution.

    Parameters
    ----------
    fit : LinearVAEFit
    cov : array_like, shape (d, d)
        The covariance (ddof=0) the VAE was trained on.
    rtol : float, optional
        Tolerance of every check; default `ANALYTIC_RTOL` (1e-6) for an analytic fit and
        `STOCHASTIC_RTOL` (2e-2) for a stochastic one.

    Returns
    -------
    Agreement

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import compare_with_ppca, fit_linear_vae
    >>> cov = np.diag([5.0, 3.0, 2.0, 1.0])
    >>> agreement = compare_with_ppca(fit_linear_vae(cov=cov, latent_dim=2, rng=0), cov)
    >>> agreement.passed, agreement.matched_columns in {(0, 1), (1, 0)}
    (True, True)
    """
    fit, S, rtol = _compare_with_ppca_iv(fit, cov, rtol)
    learned = fit.sigma2_learned
    spec = eigh_descending(S, vectors=True)  # serves both the reference and the alignment
    ref = mle_from_spectrum(spec, fit.latent_dim, "learned" if learned else fit.sigma2)
    W, W_ref = fit.loadings, ref.loadings
    target = W_ref @ W_ref.T
    scale = np.linalg.norm(target) if ref.n_active else np.linalg.norm(S)
    wwt_error = float(np.linalg.norm(W @ W.T - target) / scale)

    collapsed = fit.collapsed
    live = [c for c in range(fit.latent_dim) if c not in collapsed]
    U = spec.vectors[:, : ref.n_active]
    norms = np.linalg.norm(W[:, live], axis=0)
    cosines = np.abs(U.T @ W[:, live]) / np.where(norms > 0, norms, 1.0)
    rows, cols = linear_sum_assignment(cosines, maximize=True)
    alignment = np.zeros(ref.n_active)
    alignment[rows] = cosines[rows, cols]
    matched = [-1] * ref.n_active
    for r, c in zip(rows, cols):
        matched[r] = live[c]

    kl_fit = np.sort(fit.kl_per_latent)[::-1]
    return Agreement(
        wwt_error=wwt_error,
        alignment=alignment,
        matched_columns=tuple(matched),
        sigma2_error=abs(fit.sigma2 - ref.sigma2) / ref.sigma2 if learned else None,
        elbo_gap=float((ref.log_likelihood - fit.elbo) / abs(ref.log_likelihood)),
        kl_error=float(np.max(np.abs(kl_fit - fit.kl_optimum))),
        collapsed=collapsed,
        n_collapsed_predicted=ref.n_collapsed,
        classification=classify_kernel(
            W, S, fit.sigma2, learned, "auto", DEFAULT_HESSIAN_RTOL, DEFAULT_GTOL
        ),
        rtol=rtol,
    )
