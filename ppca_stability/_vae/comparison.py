"""The measured collapse of a Gaussian-encoder VAE (`collapse_diagnostics`) beside the linear
VAE's optimum at the same ``sigma2``: `compare_collapse` and its one-line verdict.

`compare_collapse()` puts these beside the linear VAE's optimum at the same ``sigma2``
(`ppca_stability.beta.predict_collapse`, theory.md §4 and §6): latent ``c`` (sorted by eigenvalue)
keeps ``KL_c = 1/2 log max(1, lam_c / sigma2)`` and its posterior mean has variance
``Var_x(mu_c) = max(0, 1 - sigma2 / lam_c)`` (the optimal encoder ``V* = M^-1 W^T`` applied to the
data), which is what the active-unit count measures. Measured latents have no natural order, so
they are compared rank by rank: the measured latent with the ``r``-th largest KL beside the
``r``-th eigenvalue.

`CollapseComparison.verdict` sums the comparison up in one line. The measurement *agrees* with the
linear prediction at a noise variance ``s`` when both hold:

* the active units match: within ``1 + n_near`` of the prediction, ``n_near`` being the top
  eigenvalues within a factor `NEAR_FACTOR` of ``s`` (near a threshold the curvature that switches
  a unit on or off vanishes, and a unit counts as active on a variance of 0.01: counts there are
  loose);
* the total KL matches: within a factor `KL_FACTOR` of the prediction, both offset by `KL_FLOOR`
  nats (so that 0.001 against 0 matches).

When ``beta`` was given and the total KL does not match at its ``sigma2`` (the count alone can
miss a mistake: it saturates at 0 and at ``latent_dim``), but both match at the ``sigma2`` of
another convention (``reconstruction`` or ``kl_reduction``: factors of 2, ``d`` and ``q`` apart),
the verdict says "check the loss convention" and `compare_collapse()` warns: that is the signature
of a loss written in one convention and converted in another. Otherwise a measurement that does
not agree "differs from the linear theory".
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._base import persist
from .._base.frames import data_frame
from .._base.html import render, repr_rows, split_repr
from .._base.validation import check_cov
from .beta import KL_REDUCTIONS, RECONSTRUCTIONS, predict_collapse, sigma2_from_beta
from .diagnostics import REPR_ROWS, CollapseDiagnostics

__all__ = ["CollapseComparison", "compare_collapse"]

# The verdict (module docstring): eigenvalues within this factor of sigma2 loosen the active-unit
# count by one each; total KL agrees within this factor, both sides offset by KL_FLOOR nats. The
# deep VAE of docs/deep_vae.md sits inside these on the digits (+24 % KL at most, 5-7 weakly
# active units against 2 within a factor 1.5 of four eigenvalues); convention mistakes move sigma2
# by factors of 2, d and q.
NEAR_FACTOR = 1.5
KL_FACTOR = 1.5
KL_FLOOR = 0.05
# How the verdict begins, one per outcome.
CONSISTENT = "consistent with the linear theory"
CONVENTION = "far from the linear theory - check the loss convention"
DIFFERENT = "differs from the linear theory"


@dataclass(frozen=True, eq=False, slots=True)
class CollapseComparison:
    """Measured collapse beside the linear VAE's optimum at the same ``sigma2``.

    Build it with `compare_collapse()`. Row ``r`` of the per-rank arrays pairs the ``r``-th largest
    eigenvalue with the measured latent of ``r``-th largest KL (`order`).

    Attributes
    ----------
    measured : CollapseDiagnostics
    sigma2 : float
        The decoder noise variance (converted from ``beta`` when that was given).
    beta : float or None
    reconstruction : str or None
    eigenvalues : ndarray, shape (latent_dim,)
        Top ``latent_dim`` eigenvalues of the data covariance, descending.
    predicted_kl : ndarray, shape (latent_dim,)
        ``1/2 log max(1, lam_c / sigma2)``.
    predicted_mean_variance : ndarray, shape (latent_dim,)
        ``Var_x(mu_c) = max(0, 1 - sigma2 / lam_c)`` at the linear optimum.
    order : ndarray of int, shape (latent_dim,)
        Measured latent indices by decreasing KL.
    """

    measured: CollapseDiagnostics
    sigma2: float
    beta: float | None
    reconstruction: str | None
    eigenvalues: np.ndarray
    predicted_kl: np.ndarray
    predicted_mean_variance: np.ndarray
    order: np.ndarray
    kl_reduction: str | None = None
    n_features: int | None = None

    @property
    def latent_dim(self) -> int:
        return int(self.eigenvalues.size)

    @property
    def verdict(self) -> str:
        """One line: whether the measurement is consistent with the linear prediction, far from it
        in the way a loss-convention mistake would be, or different (module docstring).

        Examples
        --------
        ``"consistent with the linear theory: 24 active units measured vs 23 predicted, total KL
        12.3 vs 11.1 nats (+11 %)"``.
        """
        return _verdict(self)[0]

    @property
    def suspected_convention(self) -> tuple[str, str] | None:
        """``(reconstruction, kl_reduction)`` under which ``beta`` would explain the measurement
        when its own convention does not (the verdict's "check the loss convention"), else
        None."""
        return _verdict(self)[1]

    @property
    def predicted_live(self) -> np.ndarray:
        """Latents live at the linear optimum, by rank: ``lam_c > sigma2``."""
        return self.eigenvalues > self.sigma2

    @property
    def predicted_active_units(self) -> int:
        """Active units the linear optimum shows under the same threshold: ``1 - sigma2/lam_c >
        au_threshold``.

        Equal to the number of live latents except for eigenvalues in
        ``(sigma2, sigma2 / (1 - au_threshold)]``, whose mean barely moves.
        """
        return int(np.count_nonzero(self.predicted_mean_variance > self.measured.au_threshold))

    @property
    def measured_kl(self) -> np.ndarray:
        """Measured KL per latent, by rank (descending)."""
        return self.measured.kl_per_latent[self.order]

    @property
    def kl_difference(self) -> np.ndarray:
        """Measured minus predicted KL, by rank (nats)."""
        return self.measured_kl - self.predicted_kl

    def __repr__(self) -> str:
        m = self.measured
        mean = ", KL mean over latents" if self.kl_reduction == "mean" else ""
        src = f" (beta={self.beta:g}, {self.reconstruction}{mean})" if self.beta is not None else ""
        collapsed = set(m.collapsed)
        rows = [
            f"CollapseComparison(sigma2={self.sigma2:.6g}{src}, latent_dim={self.latent_dim}, "
            f"n_samples={m.n_samples})",
            f"  {'':<24} {'linear':>10} {'measured':>10}",
            f"  {'active units':<24} {self.predicted_active_units:>10} {m.active_units:>10}",
            f"  {'live / not collapsed':<24} {int(np.count_nonzero(self.predicted_live)):>10} "
            f"{self.latent_dim - len(collapsed):>10}",
            f"  {'total KL [nats]':<24} {float(np.sum(self.predicted_kl)):>10.4g} "
            f"{m.total_kl:>10.4g}",
            f"  verdict: {self.verdict}",
            f"  {'rank':>4} {'eigenvalue':>11} {'KL lin':>8} {'Var lin':>8} | {'latent':>6} "
            f"{'KL':>8} {'Var_x(mu)':>9}  state",
        ]
        for r in range(min(self.latent_dim, REPR_ROWS)):
            i = int(self.order[r])
            state = "active" if m.active[i] else ("collapsed" if i in collapsed else "inactive")
            rows.append(
                f"  {r:>4} {self.eigenvalues[r]:>11.5g} {self.predicted_kl[r]:>8.4f} "
                f"{self.predicted_mean_variance[r]:>8.4f} | {i:>6} {m.kl_per_latent[i]:>8.4f} "
                f"{m.mean_variance[i]:>9.4f}  {state}"
            )
        if self.latent_dim > REPR_ROWS:
            rows.append(f"  ... {self.latent_dim - REPR_ROWS} more")
        return "\n".join(rows)

    # ------------------------------------------------------------------ keeping and showing
    # JSON text and a file that `ppca_stability.load` reads back (docs/saving.md).
    to_json = persist.to_json
    save = persist.save

    def to_frame(self) -> Any:
        """One row per rank ``r`` (the ``r``-th eigenvalue beside the measured latent of
        ``r``-th largest KL): ``eigenvalue``, ``predicted_kl``, ``predicted_mean_variance``,
        ``predicted_live``, ``latent``, ``measured_kl``, ``measured_mean_variance``,
        ``measured_active``. Needs pandas (the ``pandas`` extra)."""
        columns = {
            "eigenvalue": self.eigenvalues,
            "predicted_kl": self.predicted_kl,
            "predicted_mean_variance": self.predicted_mean_variance,
            "predicted_live": self.predicted_live,
            "latent": self.order,
            "measured_kl": self.measured_kl,
            "measured_mean_variance": self.measured.mean_variance[self.order],
            "measured_active": self.measured.active[self.order],
        }
        return data_frame(columns, "CollapseComparison.to_frame()", index_name="rank")

    def _repr_html_(self) -> str:
        title, above, table = split_repr(repr(self), "rank")
        # Above the per-rank table: a header ("linear", "measured") and rows "label  a  b".
        summary = [line.strip().rsplit(None, 2) for line in above[1:]]
        rows, notes = repr_rows(table)
        header = ("rank", "eigenvalue", "KL lin", "Var lin", "latent", "KL", "Var_x(mu)", "state")
        tables = [(("", "linear", "measured"), summary), (header, rows)]
        return render(title, (), tables, notes)


def _linear_at(lam: np.ndarray, s: float, au: float) -> tuple[int, float]:
    """Active units (``1 - s/lam_c > au``) and total KL of the linear optimum at ``s``, from the
    top ``latent_dim`` eigenvalues (theory.md §4 and §6)."""
    live = lam > s
    var = np.where(live, 1.0 - s / np.where(live, lam, 1.0), 0.0)
    kl = 0.5 * np.log(np.maximum(lam / s, 1.0))
    return int(np.count_nonzero(var > au)), float(np.sum(kl))


def _kl_change(measured: float, predicted: float) -> str:
    both = f"total KL {measured:.3g} vs {predicted:.3g} nats"
    if predicted <= 0:
        return both
    return f"{both} ({round(100.0 * (measured / predicted - 1.0)):+d} %)"  # an int: no "-0"


def _n_near(lam: np.ndarray, s: float) -> int:
    """Eigenvalues within a factor `NEAR_FACTOR` of ``s``."""
    return int(np.count_nonzero((lam >= s / NEAR_FACTOR) & (lam <= s * NEAR_FACTOR)))


def _matches(cmp: CollapseComparison, s: float, active: int, kl: float) -> tuple[bool, bool]:
    """Whether the measured active units and total KL each match the linear optimum at ``s``."""
    m = cmp.measured
    counts = abs(m.active_units - active) <= 1 + _n_near(cmp.eigenvalues, s)
    rates = abs(np.log((m.total_kl + KL_FLOOR) / (kl + KL_FLOOR))) <= np.log(KL_FACTOR)
    return bool(counts), bool(rates)


def _verdict(cmp: CollapseComparison) -> tuple[str, tuple[str, str] | None]:
    """The verdict line and the convention that explains the measurement, if one does."""
    m = cmp.measured
    predicted_kl = float(np.sum(cmp.predicted_kl))
    summary = (
        f"{m.active_units} active units measured vs {cmp.predicted_active_units} predicted, "
        f"{_kl_change(m.total_kl, predicted_kl)}"
    )
    matches = _matches(cmp, cmp.sigma2, cmp.predicted_active_units, predicted_kl)
    if all(matches):
        return f"{CONSISTENT}: {summary}", None
    if not matches[1] and cmp.beta is not None and cmp.n_features is not None:
        # Every other convention whose prediction matches, the closest total KL first.
        found = []
        for rec, red in itertools.product(RECONSTRUCTIONS, KL_REDUCTIONS):
            if (rec, red) == (cmp.reconstruction, cmp.kl_reduction):
                continue
            s = sigma2_from_beta(
                cmp.beta,
                reconstruction=rec,
                n_features=cmp.n_features,
                kl_reduction=red,
                latent_dim=cmp.latent_dim,
            )
            active, kl = _linear_at(cmp.eigenvalues, s, m.au_threshold)
            if all(_matches(cmp, s, active, kl)):
                gap = abs(np.log((m.total_kl + KL_FLOOR) / (kl + KL_FLOOR)))
                found.append((gap, rec, red, s, active, kl))
        if found:
            _, rec, red, s, active, kl = min(found)
            other = f"reconstruction={rec!r}" + (
                f", kl_reduction={red!r}" if red != cmp.kl_reduction else ""
            )
            return (
                f"{CONVENTION}: {summary}; beta={cmp.beta:g} with {other} (sigma2 = {s:.4g}) "
                f"predicts {active} active units, {_kl_change(m.total_kl, kl)}",
                (rec, red),
            )
    n_near = _n_near(cmp.eigenvalues, cmp.sigma2)
    near = (
        f"; sigma2 is within a factor {NEAR_FACTOR:g} of {n_near} eigenvalue(s), where training "
        "is slow and active-unit counts loose: trust the KL"
        if n_near
        else ""
    )
    return f"{DIFFERENT}: {summary}{near}", None


def _compare_collapse_iv(
    diagnostics: Any, cov: ArrayLike, beta: Any, reconstruction: Any
) -> tuple[Any, ...]:
    if not isinstance(diagnostics, CollapseDiagnostics):
        raise TypeError(
            f"`diagnostics` must be a CollapseDiagnostics from collapse_diagnostics(); "
            f"got {type(diagnostics).__name__}."
        )
    S = check_cov(cov)
    if diagnostics.latent_dim > S.shape[0]:
        raise ValueError(
            f"`diagnostics` has latent_dim = {diagnostics.latent_dim}, more than the "
            f"{S.shape[0]} features of `cov`; the linear theory has at most d latents."
        )
    if beta is not None and reconstruction is None:
        warnings.warn(
            "compare_collapse(beta=...) without `reconstruction` assumes reconstruction='mse' "
            "(sigma2 = beta d / 2); from version 0.3 `reconstruction` is required with `beta`. "
            "Pass the convention of your loss: 'sse', 'half_sse' or 'mse' (docs/sigma2.md).",
            FutureWarning,
            stacklevel=3,
        )
        reconstruction = "mse"
    return S, reconstruction


def compare_collapse(
    diagnostics: CollapseDiagnostics,
    cov: ArrayLike,
    sigma2: float | None = None,
    *,
    beta: float | None = None,
    reconstruction: str | None = None,
    kl_reduction: str = "sum",
) -> CollapseComparison:
    """The linear VAE's collapse at ``sigma2`` (or ``beta``) beside measured `CollapseDiagnostics`.

    Parameters
    ----------
    diagnostics : CollapseDiagnostics
        From `collapse_diagnostics()` on your encoder's outputs.
    cov : array_like, shape (d, d)
        Covariance (ddof=0) of the data the VAE was trained on, in the units the decoder sees:
        if you scale pixels to [0, 1] before training, scale them before `covariance()` too.
    sigma2 : float, optional
        The decoder's noise variance. Give this or `beta`.
    beta : float, optional
        KL weight of a beta-VAE loss ``Rec + beta KL``, converted as in `sigma2_from_beta()` with
        ``n_features = d`` (see docs/sigma2.md for the conventions).
    reconstruction : {"sse", "half_sse", "mse"}, optional
        How the reconstruction term is written; used only with `beta`, and needed with it: the
        conventions differ by factors of 2 and ``d``. Omitted with `beta`, it is "mse" with a
        `FutureWarning` (an error from version 0.3).
    kl_reduction : {"sum", "mean"}, default "sum"
        How `beta`'s loss reduces the KL over the latents: summed (the ELBO's KL) or averaged
        (e.g. ``.mean()`` over a (batch, q) array, which divides beta by ``q``); used only with
        `beta`. ``q`` is `diagnostics`' latent dimension.

    Returns
    -------
    CollapseComparison
        With a one-line `CollapseComparison.verdict`.

    Warns
    -----
    UserWarning
        When ``beta`` was given, the measurement is far from the prediction at its sigma2, and
        another ``reconstruction``/``kl_reduction`` convention explains it.
    FutureWarning
        When ``beta`` is given without ``reconstruction``.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import collapse_diagnostics, compare_collapse
    >>> rng = np.random.default_rng(0)
    >>> cov = np.diag([4.0, 2.0, 1.0])
    >>> x = rng.normal(size=(4000, 3)) * np.sqrt([4.0, 2.0, 1.0])
    >>> # encoder outputs of the linear VAE's optimum at sigma2 = 1.5 (theory.md §6): W = diag(w)
    >>> w = np.sqrt(np.maximum(np.array([4.0, 2.0, 1.0]) - 1.5, 0.0))
    >>> mu = x * w / (w**2 + 1.5)
    >>> logvar = np.broadcast_to(np.log(1.5 / (w**2 + 1.5)), mu.shape)
    >>> cmp = compare_collapse(collapse_diagnostics(mu, logvar), cov, sigma2=1.5)
    >>> cmp.predicted_active_units, cmp.measured.active_units, cmp.measured.collapsed
    (2, 2, (2,))
    >>> bool(np.allclose(cmp.measured_kl, cmp.predicted_kl, atol=0.02))
    True
    >>> print(cmp.verdict)
    consistent with the linear theory: 2 active units measured vs 2 predicted, total KL 0.641 vs
    0.634 nats (+1 %)
    """
    S, reconstruction = _compare_collapse_iv(diagnostics, cov, beta, reconstruction)
    pred = predict_collapse(
        S,
        latent_dim=diagnostics.latent_dim,
        sigma2=sigma2,
        beta=beta,
        reconstruction=reconstruction,
        kl_reduction=kl_reduction,
    )
    lam, s = pred.eigenvalues, pred.sigma2
    live = ~pred.collapsed
    predicted_var = np.zeros_like(lam)
    predicted_var[live] = 1.0 - s / lam[live]
    order = np.argsort(-diagnostics.kl_per_latent, kind="stable")
    cmp = CollapseComparison(
        diagnostics,
        s,
        pred.beta,
        pred.reconstruction,
        lam,
        pred.kl_per_latent,
        predicted_var,
        order,
        pred.kl_reduction,
        S.shape[0],
    )
    suspect = cmp.suspected_convention
    if suspect is not None:
        warnings.warn(
            f"compare_collapse: {cmp.verdict}. Is your loss written with "
            f"reconstruction={suspect[0]!r}, kl_reduction={suspect[1]!r}?",
            UserWarning,
            stacklevel=2,
        )
    return cmp
