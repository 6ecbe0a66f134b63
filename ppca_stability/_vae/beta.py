"""What sigma^2 is in your loss: beta-VAE weights and MSE losses as Gaussian-VAE noise variances.

For a fixed observation noise ``s = sigma^2`` the Gaussian-decoder ELBO is

    ELBO = -(d/2) log(2 pi s) - E||x - f(z)||^2 / (2 s) - KL(q(z|x) || p(z)),

so maximising it is the same as minimising ``E||x - f(z)||^2 + 2 s KL``. A beta-VAE loss
``Rec + beta KL`` is therefore a Gaussian VAE whose noise variance depends on how ``Rec`` is
written (theory.md §7):

=====================  ==============================  ==================
reconstruction         ``Rec``                         ``sigma^2``
=====================  ==============================  ==================
``"sse"``              ``sum_i (x_i - f_i)^2``         ``beta / 2``
``"half_sse"``         ``1/2 sum_i (x_i - f_i)^2``     ``beta``
``"mse"``              ``1/d sum_i (x_i - f_i)^2``     ``beta d / 2``
=====================  ==============================  ==================

A KL averaged over the ``q`` latents (``kl_reduction="mean"``, e.g. ``.mean()`` over a
``(batch, q)`` array of per-latent KL terms) weighs it ``beta / q``: sigma^2 is divided by ``q``.

For a linear VAE, latent ``c`` collapses exactly when ``lam_c <= sigma^2`` (Lucas et al. 2019;
Wang & Ziyin 2022 state it as ``lam_c <= beta eta^2``): the equivalent sigma^2 is the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._base import persist
from .._base.frames import data_frame
from .._base.html import render, repr_facts, repr_rows, split_repr
from .._base.tolerance import DEFAULT_RTOL, eigen_floor, n_above, tie_sign
from .._base.validation import (
    check_choice,
    check_cov,
    check_positive_float,
    check_positive_int,
    check_sigma2,
)
from .._ppca.mle import kl_at_optimum
from .._spectra.spectrum import eigh_descending

__all__ = [
    "KL_REDUCTIONS",
    "RECONSTRUCTIONS",
    "BetaInterval",
    "CollapsePrediction",
    "beta_for_latents",
    "beta_from_sigma2",
    "predict_collapse",
    "sigma2_from_beta",
]

RECONSTRUCTIONS = ("sse", "half_sse", "mse")
"""How a loss writes its reconstruction term (the `reconstruction` argument of
`sigma2_from_beta`, `beta_from_sigma2` and `predict_collapse`): ``sse`` the sum of squared errors,
``half_sse`` half of it, ``mse`` the mean over the d coordinates."""
KL_REDUCTIONS = ("sum", "mean")
"""How a loss reduces its KL term over the latents (the `kl_reduction` argument): ``sum`` (the
ELBO's KL) or ``mean`` (averaged over the q latents, which weighs it beta / q)."""


def _factor(reconstruction: Any, n_features: Any, kl_reduction: Any, latent_dim: Any) -> float:
    """``sigma^2 / beta`` for a reconstruction convention and a KL reduction."""
    rec = check_choice(reconstruction, "reconstruction", RECONSTRUCTIONS)
    per_latent = check_choice(kl_reduction, "kl_reduction", KL_REDUCTIONS) == "mean"
    if per_latent and latent_dim is None:
        raise ValueError(
            '`latent_dim` is required when kl_reduction="mean" (the mean divides the KL by it).'
        )
    q = check_positive_int(latent_dim, "latent_dim") if per_latent else 1
    if rec == "mse":
        if n_features is None:
            raise ValueError(
                '`n_features` is required when reconstruction="mse" (the mean divides by it).'
            )
        return check_positive_int(n_features, "n_features") / 2.0 / q
    return (0.5 if rec == "sse" else 1.0) / q


def _converted(value: float, what: str, name: str, given: float) -> float:
    """`value` if float64 holds it as a positive finite number, else a ValueError naming it."""
    if not (np.isfinite(value) and value > 0.0):
        raise ValueError(
            f"`{name}` = {given:g} gives {what} = {value:g}, outside the positive float64 range; "
            f"pass a {name} between about 1e-300 and 1e300."
        )
    return value


def sigma2_from_beta(
    beta: float,
    *,
    reconstruction: str = "mse",
    n_features: int | None = None,
    kl_reduction: str = "sum",
    latent_dim: int | None = None,
) -> float:
    """The Gaussian-VAE noise variance equivalent to a beta-VAE loss ``Rec + beta KL``.

    Parameters
    ----------
    beta : float
        Weight of the KL term, positive.
    reconstruction : {"sse", "half_sse", "mse"}
        How the reconstruction term is written: summed squared error, half of it, or the mean
        over the ``n_features`` coordinates (``torch.nn.MSELoss()`` per sample).
    n_features : int, optional
        Data dimension ``d``; required for ``"mse"``.
    kl_reduction : {"sum", "mean"}, default "sum"
        How the KL term is reduced over the latents: summed (the ELBO's KL), or averaged over
        them (a ``.mean()`` over a ``(batch, latent_dim)`` array), which weighs it
        ``beta / latent_dim``.
    latent_dim : int, optional
        Number of latents ``q``; required for ``kl_reduction="mean"``.

    Returns
    -------
    float
        ``beta / 2``, ``beta`` or ``beta d / 2``; divided by ``q`` for ``kl_reduction="mean"``.

    Examples
    --------
    >>> from ppca_stability import sigma2_from_beta
    >>> sigma2_from_beta(1.0, reconstruction="sse")
    0.5
    >>> sigma2_from_beta(1.0, reconstruction="mse", n_features=784)  # MNIST with MSELoss
    392.0
    >>> sigma2_from_beta(  # and the KL averaged over 16 latents
    ...     1.0, reconstruction="mse", n_features=784, kl_reduction="mean", latent_dim=16
    ... )
    24.5
    """
    b = check_positive_float(beta, "beta")
    factor = _factor(reconstruction, n_features, kl_reduction, latent_dim)
    return _converted(b * factor, "sigma2", "beta", b)


def beta_from_sigma2(
    sigma2: float,
    *,
    reconstruction: str = "mse",
    n_features: int | None = None,
    kl_reduction: str = "sum",
    latent_dim: int | None = None,
) -> float:
    """The beta-VAE weight equivalent to a Gaussian VAE with noise variance ``sigma2``.

    The inverse of `sigma2_from_beta()`, with the same conventions.

    Examples
    --------
    >>> from ppca_stability import beta_from_sigma2
    >>> beta_from_sigma2(1.0, reconstruction="mse", n_features=64)
    0.03125
    >>> beta_from_sigma2(1.0, reconstruction="sse", kl_reduction="mean", latent_dim=8)
    16.0
    """
    s = check_sigma2(sigma2)
    factor = _factor(reconstruction, n_features, kl_reduction, latent_dim)
    return _converted(s / factor, "beta", "sigma2", s)


@dataclass(frozen=True, eq=False, slots=True)
class CollapsePrediction:
    """Which latents a linear VAE collapses at a given sigma^2 (or beta), and the KL each keeps.

    Attributes
    ----------
    sigma2 : float
        The noise variance (converted from ``beta`` when that was given).
    beta : float or None
        The beta it was converted from, if any.
    reconstruction : str or None
        The reconstruction convention of ``beta``, if any.
    eigenvalues : ndarray, shape (latent_dim,)
        The top ``latent_dim`` eigenvalues of the covariance, descending.
    n_active : int
        Latents that stay live: those with ``lam_c > sigma2`` beyond the tie tolerance of
        `stability_map()` (an eigenvalue within ``rtol`` of ``sigma2`` collapses).
    kl_per_latent : ndarray, shape (latent_dim,)
        ``1/2 log(lam_c / sigma2)`` for live latents, 0 for collapsed ones, at the optimum
        (theory.md §4), in nats.
    kl_reduction : str or None
        How the KL term of ``beta``'s loss is reduced over the latents, if ``beta`` was given.
    """

    sigma2: float
    beta: float | None
    reconstruction: str | None
    eigenvalues: np.ndarray
    n_active: int
    kl_reduction: str | None = None

    @property
    def collapsed(self) -> np.ndarray:
        """Boolean mask: latent ``c`` collapses (``lam_c <= sigma2``)."""
        return np.arange(self.latent_dim) >= self.n_active

    @property
    def latent_dim(self) -> int:
        return int(self.eigenvalues.size)

    @property
    def kl_per_latent(self) -> np.ndarray:
        return kl_at_optimum(self.eigenvalues, self.sigma2, self.n_active)

    @property
    def largest_sigma2_without_collapse(self) -> float:
        """Collapse starts once sigma2 reaches the smallest of the top ``latent_dim``
        eigenvalues."""
        return float(self.eigenvalues[-1])

    def __repr__(self) -> str:
        mean = ", KL mean over latents" if self.kl_reduction == "mean" else ""
        src = f" (beta={self.beta:g}, {self.reconstruction}{mean})" if self.beta is not None else ""
        rows = [
            f"CollapsePrediction(sigma2={self.sigma2:.6g}{src}, latent_dim={self.latent_dim}, "
            f"active={self.n_active}, collapsed={self.latent_dim - self.n_active})",
            f"  {'latent':>6} {'eigenvalue':>12} {'KL [nats]':>10}  state",
        ]
        shown = min(self.latent_dim, 12)
        for c in range(shown):
            state = "collapsed" if self.collapsed[c] else "active"
            rows.append(
                f"  {c:>6} {self.eigenvalues[c]:>12.5g} {self.kl_per_latent[c]:>10.4f}  {state}"
            )
        if shown < self.latent_dim:
            rows.append(f"  ... {self.latent_dim - shown} more")
        return "\n".join(rows)

    # ------------------------------------------------------------------ keeping and showing
    # JSON text and a file that `ppca_stability.load` reads back (docs/saving.md).
    to_json = persist.to_json
    save = persist.save

    def to_frame(self) -> Any:
        """One row per latent (by eigenvalue, descending): ``eigenvalue``, ``kl_per_latent``,
        ``collapsed``. Needs pandas (the ``pandas`` extra)."""
        columns = {
            "eigenvalue": self.eigenvalues,
            "kl_per_latent": self.kl_per_latent,
            "collapsed": self.collapsed,
        }
        return data_frame(columns, "CollapsePrediction.to_frame()", index_name="latent")

    def _repr_html_(self) -> str:
        title, facts, table = split_repr(repr(self), "latent")
        rows, notes = repr_rows(table)
        header = ("latent", "eigenvalue", "KL [nats]", "state")
        return render(title, repr_facts(facts), [(header, rows)], notes)


def _predict_collapse_iv(
    cov: ArrayLike,
    latent_dim: Any,
    sigma2: Any,
    beta: Any,
    reconstruction: Any,
    kl_reduction: Any,
) -> tuple[Any, ...]:
    S = check_cov(cov)
    q = check_positive_int(
        latent_dim, "latent_dim", upper=S.shape[0], upper_name="the number of features"
    )
    if (sigma2 is None) == (beta is None):
        raise ValueError("give exactly one of `sigma2` and `beta`.")
    if beta is not None:
        s = sigma2_from_beta(
            beta,
            reconstruction=reconstruction,
            n_features=S.shape[0],
            kl_reduction=kl_reduction,
            latent_dim=q,
        )
        return S, q, s, float(beta)
    check_choice(kl_reduction, "kl_reduction", KL_REDUCTIONS)
    return S, q, check_sigma2(sigma2), None


def predict_collapse(
    cov: ArrayLike,
    *,
    latent_dim: int,
    sigma2: float | None = None,
    beta: float | None = None,
    reconstruction: str = "mse",
    kl_reduction: str = "sum",
) -> CollapsePrediction:
    """Predict which latents a linear VAE collapses, from ``sigma2`` or from a beta-VAE weight.

    Parameters
    ----------
    cov : array_like, shape (d, d)
        Data covariance (ddof=0).
    latent_dim : int
    sigma2 : float, optional
        Gaussian-decoder noise variance. Give this or `beta`.
    beta : float, optional
        KL weight of a beta-VAE loss ``Rec + beta KL``, converted with `sigma2_from_beta()`
        using `reconstruction` and ``n_features = d``.
    reconstruction : {"sse", "half_sse", "mse"}, default "mse"
    kl_reduction : {"sum", "mean"}, default "sum"
        How `beta`'s loss reduces the KL over the ``latent_dim`` latents (see
        `sigma2_from_beta()`).

    Returns
    -------
    CollapsePrediction

    See Also
    --------
    beta_for_latents : the inverse question, which beta keeps exactly ``k`` latents.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import predict_collapse
    >>> cov = np.diag([4.0, 2.0, 1.0, 0.5])
    >>> pred = predict_collapse(cov, latent_dim=3, beta=1.0)  # mse, d = 4: sigma2 = 2
    >>> pred.sigma2, pred.collapsed.tolist()
    (2.0, [False, True, True])
    >>> np.round(pred.kl_per_latent, 4).tolist()
    [0.3466, 0.0, 0.0]
    """
    S, q, s, b = _predict_collapse_iv(cov, latent_dim, sigma2, beta, reconstruction, kl_reduction)
    lam = eigh_descending(S, vectors=False).eigenvalues
    k = min(q, n_above(lam, s, DEFAULT_RTOL, eigen_floor(lam)))
    given = b is not None
    return CollapsePrediction(
        s,
        b,
        reconstruction if given else None,
        lam[:q],
        k,
        kl_reduction if given else None,
    )


@dataclass(frozen=True, eq=False, slots=True)
class BetaInterval:
    """The beta (and sigma^2) for which a linear VAE keeps exactly `keep` latents.

    Build it with `beta_for_latents()`. The upper end is always open (at ``beta = high`` latent
    `keep` collapses); the lower end is closed (``low_closed``) when it is the next eigenvalue,
    open when it is 0 (every smaller beta keeps the same latents).

    Attributes
    ----------
    keep : int
        Number of live latents.
    low, high : float
        Ends of the beta interval; ``high`` is ``inf`` for ``keep = 0``, ``low`` is 0 when no beta
        is too small.
    low_closed : bool
        Whether ``low`` itself keeps `keep` latents.
    sigma2_low, sigma2_high : float
        The same interval in sigma^2: ``[lam_{keep+1}, lam_keep)``.
    reconstruction, kl_reduction : str
        The loss conventions of beta (see `sigma2_from_beta()`).
    n_features : int
    latent_dim : int or None
    """

    keep: int
    low: float
    high: float
    low_closed: bool
    sigma2_low: float
    sigma2_high: float
    reconstruction: str
    kl_reduction: str
    n_features: int
    latent_dim: int | None

    def __contains__(self, beta: float) -> bool:
        above_low = beta >= self.low if self.low_closed else beta > self.low
        return bool(above_low and beta < self.high)

    def __repr__(self) -> str:
        k, bra = self.keep, "[" if self.low_closed else "("
        lam_low = f"lam_{k + 1}" if self.low_closed else "0"
        lam_high = f"lam_{k}" if k else "inf"
        q = f", latent_dim={self.latent_dim}" if self.latent_dim is not None else ""
        live = f"latents 1-{k} live" if k > 1 else "latent 1 lives"
        if k == 0:
            kept = "every latent collapses"
        elif self.low_closed:
            kept = f"{live}, the rest collapse"
        else:
            kept = f"all {k} latents live" if k > 1 else live
        return (
            f"BetaInterval(keep={k}: beta in {bra}{self.low:.5g}, {self.high:.5g}) with "
            f"reconstruction={self.reconstruction!r}, kl_reduction={self.kl_reduction!r}, "
            f"n_features={self.n_features}{q})\n"
            f"  sigma2 in {bra}{self.sigma2_low:.5g}, {self.sigma2_high:.5g}) = "
            f"{bra}{lam_low}, {lam_high}): {kept}"
        )


def _beta_for_latents_iv(
    cov: ArrayLike, keep: Any, reconstruction: Any, kl_reduction: Any, latent_dim: Any
) -> tuple[np.ndarray, int, int | None]:
    S = check_cov(cov)
    k = check_positive_int(keep, "keep", allow_zero=True)
    q = None
    if latent_dim is not None:
        q = check_positive_int(
            latent_dim, "latent_dim", upper=S.shape[0], upper_name="the number of features"
        )
    # Validates both conventions (and that "mean" has its latent_dim) before any eigenvalue.
    _factor(reconstruction, S.shape[0], kl_reduction, q)
    return S, k, q


def beta_for_latents(
    cov: ArrayLike,
    keep: int,
    *,
    reconstruction: str,
    kl_reduction: str = "sum",
    latent_dim: int | None = None,
) -> BetaInterval:
    """Which beta (in your loss convention) makes a linear VAE keep exactly `keep` latents.

    The inverse of `predict_collapse()`: latent ``c`` stays live iff ``lam_c > sigma2``, so
    exactly ``k`` latents live iff ``lam_k > sigma2 >= lam_{k+1}`` (theory.md §4), converted to
    beta with `beta_from_sigma2()`.

    Parameters
    ----------
    cov : array_like, shape (d, d)
        Data covariance (ddof=0), in the units the decoder sees.
    keep : int
        Number of latents to keep live, from 0 (everything collapses) to the number of
        eigenvalues above round-off (and at most `latent_dim`).
    reconstruction : {"sse", "half_sse", "mse"}
        How the reconstruction term of ``Rec + beta KL`` is written (see `sigma2_from_beta()`);
        required, since the answers differ by a factor up to ``d``.
    kl_reduction : {"sum", "mean"}, default "sum"
        How the KL term is reduced over the latents.
    latent_dim : int, optional
        The model's number of latents ``q``; required for ``kl_reduction="mean"``. With
        ``keep = q`` every beta below ``beta(lam_q)`` keeps all ``q`` (the interval starts at 0).

    Returns
    -------
    BetaInterval
        ``[beta(lam_{k+1}), beta(lam_k))``; ``[beta(lam_1), inf)`` for ``keep = 0``;
        ``(0, beta(lam_k))`` when no smaller beta keeps more latents.

    Raises
    ------
    ValueError
        If `keep` exceeds `latent_dim` or the number of eigenvalues above round-off, or if
        ``lam_k`` and ``lam_{k+1}`` are tied (no beta separates them).

    Notes
    -----
    The ends are the eigenvalues themselves. `predict_collapse()` treats a sigma2 within its tie
    tolerance (relative 1e-9) of an eigenvalue as equal to it, which is what makes the lower end
    closed and the upper end open.

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import beta_for_latents
    >>> cov = np.diag([4.0, 2.0, 1.0, 0.5])
    >>> beta_for_latents(cov, 2, reconstruction="mse")  # sigma2 = beta d / 2 with d = 4
    BetaInterval(keep=2: beta in [0.5, 1) with reconstruction='mse', kl_reduction='sum',
    n_features=4)
      sigma2 in [1, 2) = [lam_3, lam_2): latents 1-2 live, the rest collapse
    >>> interval = beta_for_latents(cov, 0, reconstruction="sse")
    >>> interval.low, interval.high, 8.0 in interval
    (8.0, inf, True)
    """
    S, k, q = _beta_for_latents_iv(cov, keep, reconstruction, kl_reduction, latent_dim)
    lam = eigh_descending(S, vectors=False).eigenvalues
    floor = eigen_floor(lam)
    # Eigenvalues that a small enough sigma2 keeps live (those at round-off never are).
    resolved = n_above(lam, 0.0, DEFAULT_RTOL, floor)
    top = resolved if q is None else min(q, resolved)
    if k > top:
        limits = [f"{resolved} eigenvalues of `cov` above round-off"]
        if q is not None:
            limits.append(f"latent_dim = {q}")
        raise ValueError(
            f"`keep` = {k} latents is more than a linear VAE can keep here: at most {top} "
            f"({' and '.join(limits)})."
        )
    if 0 < k < top and tie_sign(lam[k - 1], lam[k], DEFAULT_RTOL, floor) == 0:
        raise ValueError(
            f"`keep` = {k}: no beta keeps exactly {k} latents, because lam_{k} = {lam[k - 1]:.6g} "
            f"and lam_{k + 1} = {lam[k]:.6g} are tied: those latents live or collapse together."
        )
    s_high = float(lam[k - 1]) if k else np.inf
    s_low = float(lam[k]) if k < top else 0.0
    conventions = {
        "reconstruction": reconstruction,
        "n_features": S.shape[0],
        "kl_reduction": kl_reduction,
        "latent_dim": q,
    }
    return BetaInterval(
        keep=k,
        low=beta_from_sigma2(s_low, **conventions) if s_low > 0 else 0.0,
        high=beta_from_sigma2(s_high, **conventions) if k else np.inf,
        low_closed=s_low > 0,
        sigma2_low=s_low,
        sigma2_high=s_high,
        reconstruction=reconstruction,
        kl_reduction=kl_reduction,
        n_features=S.shape[0],
        latent_dim=q,
    )
