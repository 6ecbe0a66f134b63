"""Does a trained linear VAE sit at the analytic pPCA optimum? (Lucas et al. 2019; theory.md §4, §6)

The ELBO's maximisers are the pPCA maximum-likelihood decoders with orthogonal columns,
``W = U_k (Lam_k - s)^{1/2} [P 0]`` with ``P`` a signed permutation, so a trained decoder is
compared through rotation-free quantities (``W W^T``, ``sigma2``, the ELBO, KL per latent) and
through its columns matched to the principal directions up to permutation and sign.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment

from .._base.validation import (
    as_real_array,
    check_bool,
    check_cov,
    check_loadings,
    check_rtol,
    check_sigma2,
)
from .._elbo.objective import LinearVAEParams, elbo_terms, optimal_encoder_kernel
from .._ppca.classify import (
    DEFAULT_GTOL,
    DEFAULT_HESSIAN_RTOL,
    PointClassification,
    classify_kernel,
)
from .._ppca.mle import kl_at_optimum, mle_from_spectrum
from .._spectra.spectrum import eigh_descending
from .linear_vae import SWITCHED_OFF_KL, LinearVAEFit, limit_blas_threads

__all__ = ["Agreement", "compare_with_ppca", "ANALYTIC_RTOL", "STOCHASTIC_RTOL"]

# Default tolerances: a converged analytic fit must agree to 1e-6, a stochastic one to 2e-2.
ANALYTIC_RTOL = 1e-6
STOCHASTIC_RTOL = 2e-2
# classify="auto" runs the Hessian classification when its structured route's cost,
# d^3 + d q^4 multiply-adds, is at most this: d = 784, q = 64 (1.3e10) takes about 6 s on one core.
CLASSIFY_BUDGET = 2e10


@dataclass(frozen=True, eq=False, slots=True)
class Agreement:
    """How closely a trained linear VAE matches the pPCA maximum likelihood.

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
    switched_off : tuple of int
        Fit latents whose data-averaged KL is at most ``SWITCHED_OFF_KL`` = 1e-3 nats ("switched
        off", docs/sigma2.md, Glossary).
    n_collapsed_predicted : int
        Latents the pPCA optimum collapses (``lam_c <= sigma2``: zero decoder column, KL exactly
        0); a fit agrees when exactly this many are switched off.
    kl_per_latent : ndarray, shape (q,)
        The fit's data-averaged KL per latent (nats), in its column order.
    classification : PointClassification or None
        `classify_point()` of the trained decoder (reported, not tested: a stochastic fit is near,
        not at, a stationary point); None when it was skipped (see ``classification_note``).
    classification_note : str
        How the classification was run, or why it was skipped.
    rtol : float
        Tolerance for ``wwt_error``, ``1 - alignment``, ``sigma2_error``, ``elbo_gap`` and
        ``kl_error``.
    stochastic : bool
        Whether the fit was trained on minibatches (the stochastic objective, or a VAE trained
        elsewhere): near, not at, a stationary point.
    """

    wwt_error: float
    alignment: np.ndarray
    matched_columns: tuple[int, ...]
    sigma2_error: float | None
    elbo_gap: float
    kl_error: float
    switched_off: tuple[int, ...]
    n_collapsed_predicted: int
    kl_per_latent: np.ndarray
    classification: PointClassification | None
    classification_note: str
    rtol: float
    stochastic: bool = False

    @property
    def switched_off_as_predicted(self) -> bool:
        """Exactly as many latents are switched off as the optimum collapses."""
        return len(self.switched_off) == self.n_collapsed_predicted

    @property
    def collapsed(self) -> tuple[int, ...]:
        """Deprecated: `switched_off` (KL at most 1e-3 nats)."""
        _deprecated("collapsed", "switched_off")
        return self.switched_off

    @property
    def collapsed_as_predicted(self) -> bool:
        """Deprecated: `switched_off_as_predicted`."""
        _deprecated("collapsed_as_predicted", "switched_off_as_predicted")
        return self.switched_off_as_predicted

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
        return self.switched_off_as_predicted and all(ok for _, ok in self.checks.values())

    def __repr__(self) -> str:
        def mark(ok: bool) -> str:
            return "ok" if ok else "FAIL"

        rows = [
            f"Agreement with the pPCA optimum: {'PASSED' if self.passed else 'FAILED'} (rtol "
            f"{self.rtol:g})",
            f"  {'quantity':<28} {'value':>10}  check",
        ]
        rows += [f"  {name:<28} {v:>10.3g}  {mark(ok)}" for name, (v, ok) in self.checks.items()]
        k = self.n_collapsed_predicted
        note = f"(predicted {k}: the latents the optimum collapses"
        if not self.switched_off_as_predicted and k:
            lowest = np.sort(self.kl_per_latent)[:k]
            note += f"; the {k} smallest KLs here are {lowest[0]:.3g} to {lowest[-1]:.3g}"
        rows.append(
            f"  {f'switched off (KL <= {SWITCHED_OFF_KL:g})':<28} {len(self.switched_off):>10}  "
            f"{mark(self.switched_off_as_predicted)} {note})"
        )
        c = self.classification
        if c is None:
            rows.append(
                f"  {'decoder as a pPCA point':<28} {'skipped':>10}  ({self.classification_note})"
            )
        else:
            rows.append(
                f"  {'decoder as a pPCA point':<28} {c.stability.name:>10}  (Morse index "
                f"{c.morse_index}, relative gradient {c.relative_gradient_norm:.2g}; reported only"
                + (
                    ": a fit on minibatches stops near, not at, a stationary point)"
                    if self.stochastic
                    else ")"
                )
            )
        return "\n".join(rows)


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"Agreement.{old} is deprecated: use Agreement.{new} (the latents whose KL is at most "
        "1e-3 nats); 'collapsed' now means (epsilon, delta)-collapse.",
        FutureWarning,
        stacklevel=3,
    )


@dataclass(frozen=True, eq=False, slots=True)
class _Trained:
    """A trained linear VAE, from `fit_linear_vae` or from elsewhere, as plain arrays."""

    W: np.ndarray
    V: np.ndarray
    D: np.ndarray
    s: float
    learned: bool
    stochastic: bool


def _trained_from_arrays(
    fit: Any, S: np.ndarray, sigma2: Any, sigma2_learned: Any, V: Any, D: Any
) -> _Trained:
    d = S.shape[0]
    if isinstance(fit, LinearVAEParams):
        if V is not None or D is not None:
            raise ValueError(
                "`encoder_weights` and `encoder_variances` are taken from `fit` (a "
                "LinearVAEParams); do not pass them too."
            )
        V, D, fit = fit.encoder_weights, fit.encoder_variances, fit.loadings
    W = check_loadings(fit, d, name="fit")
    q = W.shape[1]
    if sigma2 is None:
        raise ValueError(
            "`sigma2` is required when `fit` is an array of loadings: pass the decoder noise "
            "variance the VAE was trained with (and sigma2_learned=True if it was learned)."
        )
    s = check_sigma2(sigma2)
    if (V is None) != (D is None):
        raise ValueError(
            "pass both `encoder_weights` and `encoder_variances`, or neither (then the optimal "
            "encoder of the decoder is used)."
        )
    if V is None:
        V, D = optimal_encoder_kernel(W, s)
    else:
        V = as_real_array(V, "encoder_weights")
        if V.shape != (q, d):
            hint = " Did you pass its transpose?" if V.shape == (d, q) else ""
            raise ValueError(
                f"`encoder_weights` must have shape (latent_dim, n_features) = {(q, d)}; got "
                f"{V.shape}.{hint}"
            )
        D = as_real_array(D, "encoder_variances")
        if D.shape != (q,) or not np.all(D > 0.0):
            raise ValueError(
                f"`encoder_variances` must be {q} positive variances (not log-variances: "
                f"numpy.exp them); got shape {D.shape}"
                + ("." if D.shape != (q,) else f" with minimum {D.min():.3g}.")
            )
    return _Trained(W, V, D, s, check_bool(sigma2_learned, "sigma2_learned"), True)


def _compare_with_ppca_iv(
    fit: Any,
    cov: ArrayLike | None,
    rtol: Any,
    classify: Any,
    sigma2: Any,
    sigma2_learned: Any,
    encoder_weights: Any,
    encoder_variances: Any,
) -> tuple[_Trained, np.ndarray, float, bool | str]:
    if cov is None:
        if not isinstance(fit, LinearVAEFit):
            raise ValueError(
                "`cov` is required unless `fit` is a LinearVAEFit (which keeps the covariance it "
                "was trained on)."
            )
        cov = fit.cov
    S = check_cov(cov)
    if isinstance(fit, LinearVAEFit):
        given = [
            name
            for name, value in [
                ("sigma2", sigma2),
                ("sigma2_learned", sigma2_learned),
                ("encoder_weights", encoder_weights),
                ("encoder_variances", encoder_variances),
            ]
            if value is not None
        ]
        if given:
            raise ValueError(
                f"{', '.join(f'`{n}`' for n in given)}: taken from `fit` (a LinearVAEFit); pass "
                "them only with an array of loadings."
            )
        if S.shape[0] != fit.loadings.shape[0]:
            raise ValueError(
                f"`cov` must be ({fit.loadings.shape[0]}, {fit.loadings.shape[0]}) to match the "
                f"fit's n_features; got shape {S.shape}."
            )
        trained = _Trained(
            fit.loadings,
            fit.encoder_weights,
            fit.encoder_variances,
            fit.sigma2,
            fit.sigma2_learned,
            fit.objective == "stochastic",
        )
    elif isinstance(fit, (LinearVAEParams, np.ndarray, list, tuple)) or hasattr(fit, "__array__"):
        trained = _trained_from_arrays(
            fit,
            S,
            sigma2,
            False if sigma2_learned is None else sigma2_learned,
            encoder_weights,
            encoder_variances,
        )
    else:
        raise TypeError(
            "`fit` must be a LinearVAEFit from fit_linear_vae, a LinearVAEParams, or the decoder "
            f"loadings as a (n_features, latent_dim) array; got {type(fit).__name__}."
        )
    if rtol is None:
        rtol = STOCHASTIC_RTOL if trained.stochastic else ANALYTIC_RTOL
    if not (isinstance(classify, (bool, np.bool_)) or classify == "auto"):
        raise ValueError(f"`classify` must be True, False or 'auto'; got {classify!r}.")
    return trained, S, check_rtol(rtol), classify if classify == "auto" else bool(classify)


def classification_cost(d: int, q: int) -> float:
    """Flops of an exact structured inertia count at a ``(d, q)`` decoder (likelihood or ELBO,
    `_hessian_blocks`): one ``d x d`` eigendecomposition and the ``q^2`` Schur complement over
    ``d`` rows; "auto" classifies when it is at most `CLASSIFY_BUDGET`."""
    return float(d) ** 3 + d * float(q) ** 4


def _classification(
    t: _Trained, S: np.ndarray, classify: bool | str
) -> tuple[PointClassification | None, str]:
    """`classify_point` of the decoder when asked for, or within `CLASSIFY_BUDGET` for "auto"."""
    d, q = t.W.shape
    cost = classification_cost(d, q)
    if classify is False:
        return None, "classify=False"
    if classify == "auto" and cost > CLASSIFY_BUDGET:
        return None, (
            f"d^3 + d q^4 = {cost:.2g} exceeds the budget {CLASSIFY_BUDGET:.0e}; classify=True "
            "runs it"
        )
    # The structured route counts the inertia exactly without forming the (dq)^2 Hessian; it
    # needs q <= d.
    method = "structured" if q <= d else "dense"
    c = classify_kernel(t.W, S, t.s, t.learned, method, DEFAULT_HESSIAN_RTOL, DEFAULT_GTOL)
    return c, f"classify_point, method={method!r}"


def compare_with_ppca(
    fit: LinearVAEFit | LinearVAEParams | Any,
    cov: ArrayLike | None = None,
    *,
    rtol: float | None = None,
    classify: bool | str = "auto",
    sigma2: float | None = None,
    sigma2_learned: bool | None = None,
    encoder_weights: Any = None,
    encoder_variances: Any = None,
) -> Agreement:
    """Compare a trained linear VAE with the analytic pPCA maximum-likelihood solution.

    The verdict (distances to the optimum, collapsed latents) costs one eigendecomposition of
    `cov` and a few ``(d, d) x (d, q)`` products; the Hessian classification of the decoder, which
    is reported but not tested, can cost more and is bounded by `classify`.

    Parameters
    ----------
    fit : LinearVAEFit, LinearVAEParams or array_like of shape (d, q)
        A fit from `fit_linear_vae`, or a VAE trained elsewhere (e.g. in PyTorch): its parameters,
        or only its decoder loadings ``W``.
    cov : array_like, shape (d, d), optional
        The covariance (ddof=0) the VAE was trained on; by default a `LinearVAEFit`'s own
        (``fit.cov``). Required for a VAE trained elsewhere.
    rtol : float, optional
        Tolerance of every check; default `ANALYTIC_RTOL` (1e-6) for an analytic fit and
        `STOCHASTIC_RTOL` (2e-2) for a stochastic one or a VAE trained elsewhere (arrays).
    classify : bool or "auto", default "auto"
        Classify the decoder with `classify_point()` (its structured route): True always, False
        never, "auto" when its cost ``d^3 + d q^4`` is at most `CLASSIFY_BUDGET` (2e10: about
        6 s at d = 784, q = 64 on one core).
    sigma2 : float, optional
        With arrays only (required then): the decoder noise variance.
    sigma2_learned : bool, optional
        With arrays only: whether `sigma2` was trained (compared with the learned optimum) or
        fixed (default False).
    encoder_weights, encoder_variances : array_like, shapes (q, d) and (q,), optional
        With an array of loadings only: the encoder ``V`` and its variances ``D`` (not
        log-variances). Without them the optimal encoder of ``W`` is used, so the KL per latent
        and the ELBO are those of the best encoder for this decoder.

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

    A decoder trained elsewhere, as an array (here the optimum itself, with fixed sigma2):

    >>> W = np.array([[2.0, 0.0], [0.0, np.sqrt(2.0)], [0.0, 0.0], [0.0, 0.0]])
    >>> a = compare_with_ppca(W, cov, sigma2=1.0, classify=False)
    >>> a.passed, a.classification is None, a.rtol
    (True, True, 0.02)
    """
    t, S, rtol, classify = _compare_with_ppca_iv(
        fit, cov, rtol, classify, sigma2, sigma2_learned, encoder_weights, encoder_variances
    )
    with limit_blas_threads():
        return _compare(t, S, rtol, classify)


def _compare(t: _Trained, S: np.ndarray, rtol: float, classify: bool | str) -> Agreement:
    """`compare_with_ppca` on validated input."""
    q = t.W.shape[1]
    spec = eigh_descending(S, vectors=True)  # serves both the reference and the alignment
    ref = mle_from_spectrum(spec, q, "learned" if t.learned else t.s)
    W, W_ref = t.W, ref.loadings
    target = W_ref @ W_ref.T
    scale = np.linalg.norm(target) if ref.n_active else np.linalg.norm(S)
    wwt_error = float(np.linalg.norm(W @ W.T - target) / scale)

    elbo, kl, _ = elbo_terms(t.V, np.log(t.D), W, S, t.s, float(np.trace(S)))
    switched_off = tuple(int(c) for c in np.flatnonzero(kl <= SWITCHED_OFF_KL))
    live = [c for c in range(q) if c not in switched_off]
    U = spec.vectors[:, : ref.n_active]
    norms = np.linalg.norm(W[:, live], axis=0)
    cosines = np.abs(U.T @ W[:, live]) / np.where(norms > 0, norms, 1.0)
    rows, cols = linear_sum_assignment(cosines, maximize=True)
    alignment = np.zeros(ref.n_active)
    alignment[rows] = cosines[rows, cols]
    matched = [-1] * ref.n_active
    for r, c in zip(rows, cols):
        matched[r] = live[c]

    kl_optimum = kl_at_optimum(ref.eigenvalues[:q], ref.sigma2, ref.n_active)
    classification, note = _classification(t, S, classify)
    return Agreement(
        wwt_error=wwt_error,
        alignment=alignment,
        matched_columns=tuple(matched),
        sigma2_error=abs(t.s - ref.sigma2) / ref.sigma2 if t.learned else None,
        elbo_gap=float((ref.log_likelihood - elbo) / abs(ref.log_likelihood)),
        kl_error=float(np.max(np.abs(np.sort(kl)[::-1] - kl_optimum))),
        switched_off=switched_off,
        n_collapsed_predicted=ref.n_collapsed,
        kl_per_latent=kl,
        classification=classification,
        classification_note=note,
        rtol=rtol,
        stochastic=t.stochastic,
    )
