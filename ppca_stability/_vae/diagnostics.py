"""Collapse diagnostics for any Gaussian-encoder VAE, and the linear prediction beside them.

The encoder of a Gaussian VAE outputs, for every sample ``x``, a mean ``mu(x)`` and a log-variance
``log sigma_enc^2(x)`` per latent; nothing else is needed to say which latents collapsed. For latent
``i`` and sample ``x`` the KL divergence to the prior ``N(0, 1)`` is

    KL_i(x) = 1/2 [mu_i(x)^2 + sigma_i(x)^2 - 1 - log sigma_i(x)^2],

computed as ``1/2 [mu^2 + expm1(v) - v]`` with ``v = log sigma^2`` so that a collapsed latent
(``mu ~ 0``, ``v ~ 0``) has no cancellation error. Three standard summaries:

* ``kl_per_latent``: the mean of ``KL_i(x)`` over the samples (nats), the "rate" of latent ``i``;
* active units (Burda, Grosse & Salakhutdinov 2016): latent ``i`` is active when
  ``Var_x(mu_i(x)) > au_threshold`` (0.01 in that paper) - its mean moves with the input;
* ``(epsilon, delta)``-collapse (Lucas et al. 2019, Definition 1): latent ``i`` is collapsed when
  ``KL_i(x) < epsilon`` for at least a ``1 - delta`` fraction of the samples. The fraction is
  compared exactly (rational arithmetic, ``delta`` read as the decimal it prints as), so
  ``delta = 0.01`` on 100 samples allows one sample out and ``delta = 0.03`` three.
* the mutual information ``I(x; z)`` between data and code under the encoder (He et al. 2019's
  estimator, see `_vae/mutual_information.py`): the part of the rate ``E_x KL(q(z|x) || p(z)) =
  I(x; z) + KL(q(z) || p(z))`` that tells inputs apart. It is near 0 for a collapsed encoder and at
  most ``log n`` (n samples), reached by a deterministic encoder that separates every sample.

`_vae.comparison.compare_collapse()` puts these beside the linear VAE's optimum.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .._base import persist
from .._base.frames import data_frame
from .._base.html import render, repr_facts, repr_rows, split_repr
from .._base.validation import as_real_array, check_positive_int, check_rng
from .mutual_information import mutual_information

__all__ = ["CollapseDiagnostics", "collapse_diagnostics", "check_threshold"]

# Rows of a table that ``repr`` shows before eliding the rest.
REPR_ROWS = 16
# Samples the mutual-information estimate uses by default at most: its cost grows as n^2 (2 000
# samples of 10 latents 0.1-0.2 s on one core, 10 000 2-5 s); its upper bound is the log of it.
MI_MAX_SAMPLES = 2_000


@dataclass(frozen=True, eq=False, slots=True)
class CollapseDiagnostics:
    """Which latents of a Gaussian-encoder VAE carry information, measured from encoder outputs.

    Build it with `collapse_diagnostics()`.

    Attributes
    ----------
    kl_per_latent : ndarray, shape (latent_dim,)
        Mean over samples of ``KL(q(z_i | x) || N(0, 1))``, in nats.
    mean_variance : ndarray, shape (latent_dim,)
        ``Var_x(mu_i(x))`` (ddof=0), the activity statistic of Burda et al. (2016).
    active : ndarray of bool, shape (latent_dim,)
        ``mean_variance > au_threshold``.
    collapsed_fraction : ndarray, shape (latent_dim,)
        Fraction of samples with ``KL_i(x) < epsilon``.
    collapsed : tuple of int
        Latents that are ``(epsilon, delta)``-collapsed: ``collapsed_fraction >= 1 - delta``.
    n_samples : int
    epsilon, delta, au_threshold : float
        The thresholds used.
    mutual_information : float
        Estimate of ``I(x; z)`` under the encoder (nats; He et al. 2019), at most ``log
        mi_samples`` up to Monte-Carlo error. NaN when built without it.
    mi_samples : int
        Samples (mixture components) the estimate used: all of them, or a random subset of
        `MI_MAX_SAMPLES` by default when there are more.
    """

    kl_per_latent: np.ndarray
    mean_variance: np.ndarray
    active: np.ndarray
    collapsed_fraction: np.ndarray
    collapsed: tuple[int, ...]
    n_samples: int
    epsilon: float
    delta: float
    au_threshold: float
    mutual_information: float = math.nan
    mi_samples: int = 0

    @property
    def latent_dim(self) -> int:
        return int(self.kl_per_latent.size)

    @property
    def active_units(self) -> int:
        """Number of active units (Burda et al. 2016)."""
        return int(np.count_nonzero(self.active))

    @property
    def total_kl(self) -> float:
        """Sum of `kl_per_latent`: the mean KL of the whole posterior (the rate), in nats."""
        return float(np.sum(self.kl_per_latent))

    def __repr__(self) -> str:
        q = self.latent_dim
        collapsed = set(self.collapsed)
        rows = [
            f"CollapseDiagnostics(n_samples={self.n_samples}, latent_dim={q}, "
            f"active_units={self.active_units}, collapsed={len(collapsed)}, "
            f"total_kl={self.total_kl:.4g})",
            f"  I(x; z) = {self.mutual_information:.4g} nats (He et al. 2019, over "
            f"{self.mi_samples} samples; at most log {self.mi_samples} = "
            f"{math.log(max(self.mi_samples, 1)):.4g})",
            f"  thresholds: active if Var_x(mu) > {self.au_threshold:g}; collapsed if KL < "
            f"{self.epsilon:g} on >= {1 - self.delta:.4g} of samples",
            f"  {'latent':>6} {'KL [nats]':>10} {'Var_x(mu)':>10} {'KL<eps':>7}  {'active':<6}  "
            "collapsed",
        ]
        for i in range(min(q, REPR_ROWS)):
            rows.append(
                f"  {i:>6} {self.kl_per_latent[i]:>10.4g} {self.mean_variance[i]:>10.4g} "
                f"{self.collapsed_fraction[i]:>7.1%}  {'yes' if self.active[i] else 'no':<6}  "
                f"{'yes' if i in collapsed else 'no'}"
            )
        if q > REPR_ROWS:
            rows.append(f"  ... {q - REPR_ROWS} more")
        return "\n".join(rows)

    # ------------------------------------------------------------------ keeping and showing
    # JSON text and a file that `ppca_stability.load` reads back (docs/saving.md).
    to_json = persist.to_json
    save = persist.save

    def to_frame(self) -> Any:
        """One row per latent: ``kl_per_latent``, ``mean_variance``, ``active``,
        ``collapsed_fraction``, ``collapsed``. Needs pandas (the ``pandas`` extra)."""
        collapsed = np.zeros(self.latent_dim, dtype=bool)
        collapsed[list(self.collapsed)] = True
        columns = {
            "kl_per_latent": self.kl_per_latent,
            "mean_variance": self.mean_variance,
            "active": self.active,
            "collapsed_fraction": self.collapsed_fraction,
            "collapsed": collapsed,
        }
        return data_frame(columns, "CollapseDiagnostics.to_frame()", index_name="latent")

    def _repr_html_(self) -> str:
        title, facts, table = split_repr(repr(self), "latent")
        rows, notes = repr_rows(table)
        header = ("latent", "KL [nats]", "Var_x(mu)", "KL<eps", "active", "collapsed")
        return render(title, repr_facts(facts), [(header, rows)], notes)


def check_threshold(value: Any, name: str, *, upper: float | None = None) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a non-negative float; got {type(value).__name__} {value!r}."
        )
    out = float(value)
    if not np.isfinite(out) or out < 0.0 or (upper is not None and out > upper):
        allowed = f"in [0, {upper:g}]" if upper is not None else "non-negative and finite"
        raise ValueError(f"`{name}` must be {allowed}; got {out!r}.")
    return out


def _check_encoder_output(value: Any, name: str) -> np.ndarray:
    arr = as_real_array(value, name)
    if arr.ndim != 2:
        hint = " For a single latent, pass shape (n_samples, 1)." if arr.ndim == 1 else ""
        raise ValueError(
            f"`{name}` must be a 2-D (n_samples, latent_dim) array; got shape {arr.shape}.{hint}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"`{name}` must have at least one sample and one latent; got shape {arr.shape}."
        )
    return arr


def _collapse_diagnostics_iv(
    means: Any,
    log_variances: Any,
    epsilon: Any,
    delta: Any,
    au_threshold: Any,
    rng: Any,
    mi_max_samples: Any,
) -> tuple[Any, ...]:
    mu = _check_encoder_output(means, "means")
    logvar = _check_encoder_output(log_variances, "log_variances")
    if logvar.shape != mu.shape:
        raise ValueError(
            f"`log_variances` must have the shape of `means` {mu.shape}; got {logvar.shape}."
            + (" Did you pass its transpose?" if logvar.shape == mu.shape[::-1] else "")
        )
    return (
        mu,
        logvar,
        check_threshold(epsilon, "epsilon"),
        check_threshold(delta, "delta", upper=1.0),
        check_threshold(au_threshold, "au_threshold"),
        check_rng(rng),
        check_positive_int(mi_max_samples, "mi_max_samples"),
    )


def _column_variance(a: np.ndarray) -> np.ndarray:
    """``Var`` (ddof=0) of each column without cancellation or spurious overflow.

    Shifting by a sample of the column makes the deviations of nearly equal values exact (Sterbenz),
    where ``mean`` of the raw values would lose them (means ~1e8 moving by ~1e-3 is an ordinary
    encoder); scaling by the largest deviation keeps the sums finite. Only a variance that itself
    exceeds the float range is ``inf``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        dev = a - a[:1]
        scale = np.max(np.abs(dev), axis=0)
        scale[(scale == 0.0) | ~np.isfinite(scale)] = 1.0
        var = np.var(dev / scale, axis=0) * scale**2
    # A column whose values span more than the float range: its deviations overflowed.
    var[~np.all(np.isfinite(dev), axis=0)] = np.inf
    return var


def collapse_diagnostics(
    means: Any,
    log_variances: Any,
    *,
    epsilon: float = 0.01,
    delta: float = 0.01,
    au_threshold: float = 0.01,
    rng: np.random.Generator | int | None = 0,
    mi_max_samples: int = MI_MAX_SAMPLES,
) -> CollapseDiagnostics:
    """KL per latent, active units, ``(epsilon, delta)``-collapse and the mutual information
    ``I(x; z)`` from a Gaussian encoder's outputs.

    Parameters
    ----------
    means : array_like, shape (n_samples, latent_dim)
        Encoder means ``mu(x)``, one row per sample. Anything `numpy.asarray` accepts: a NumPy
        array, a CPU ``torch.Tensor`` (detach it first), a JAX array.
    log_variances : array_like, shape (n_samples, latent_dim)
        Encoder log-variances ``log sigma_enc^2(x)`` (natural log). If your encoder outputs standard
        deviations, pass ``2 * log(std)``.
    epsilon : float, default 0.01
        KL level (nats) below which a latent counts as collapsed on a sample.
    delta : float, default 0.01
        Fraction of samples allowed above `epsilon`, in [0, 1].
    au_threshold : float, default 0.01
        A latent is active when the variance of its mean over the samples exceeds this.
    rng : numpy.random.Generator or int or None, default 0
        The Monte-Carlo draw of the mutual-information estimate (the rest is exact). The default
        seed makes the diagnostics a deterministic function of the encoder outputs.
    mi_max_samples : int, default 2 000
        The estimate's cost grows as ``n_samples^2``; above this many samples it uses a random
        subset of this size (its upper bound becomes ``log mi_max_samples``). Pass
        ``n_samples`` to use them all.

    Returns
    -------
    CollapseDiagnostics

    Notes
    -----
    A KL beyond the float range (means beyond ~1e154, log-variances beyond ~709) is reported as
    ``inf``: such a latent is active and far from collapsed, which is the right answer.

    The mutual information is He et al. (2019)'s estimate (``calc_mi`` in their code),

        I(x; z) ~ -1/2 mean_i sum_k (log 2 pi + 1 + v_ik) - mean_i log (1/m) sum_j q(z_i | x_j)

    with ``v = log sigma^2``, the aggregate posterior ``q(z)`` taken as the mixture of the ``m``
    posteriors and one draw ``z_i = mu_i + exp(v_i / 2) eps_i`` per sample; both sides of the
    identity ``E_x KL(q(z|x) || p(z)) - KL(q(z) || p(z))`` give the same number in expectation.
    The draw is ``g = numpy.random.default_rng(rng)``, then, only when ``n_samples >
    mi_max_samples``, ``rows = numpy.sort(g.choice(n_samples, mi_max_samples, replace=False))``,
    then ``eps = g.standard_normal((m, latent_dim))``. Its Monte-Carlo error is about
    ``sqrt(latent_dim / (2 m))`` nats for an encoder at the prior. Memory stays bounded (blocks of
    about 10^6 mixture entries; 28 MiB at 10 000 samples), time is 0.1-0.2 s for 2 000 samples and
    2-5 s for 10 000 (10 latents, one core), up to 5-10 times more for posteriors far narrower
    than the spread of their means (benchmarks/bench_mutual_information.py). Log-variances below
    -1400 are treated as -1400 (a point mass at float64 resolution).

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import collapse_diagnostics
    >>> rng = np.random.default_rng(0)
    >>> mu = np.column_stack([rng.normal(size=500), np.zeros(500)])      # latent 1 ignores x
    >>> logvar = np.column_stack([np.full(500, np.log(0.1)), np.zeros(500)])
    >>> diag = collapse_diagnostics(mu, logvar)
    >>> diag.active_units, diag.collapsed
    (1, (1,))
    >>> diag.kl_per_latent.round(3)                  # 1/2 (E mu^2 + 0.1 - 1 - log 0.1) and 0
    array([1.215, 0.   ])
    >>> round(diag.mutual_information, 2)   # for Gaussian x: 1/2 log(1 + 1/0.1) = 1.20, less a bias
    1.18
    """
    mu, logvar, eps, dlt, au, gen, mi_max = _collapse_diagnostics_iv(
        means, log_variances, epsilon, delta, au_threshold, rng, mi_max_samples
    )
    n = mu.shape[0]
    with np.errstate(over="ignore"):
        kl = 0.5 * (np.square(mu) + np.expm1(logvar) - logvar)
    below = np.count_nonzero(kl < eps, axis=0)
    # (epsilon, delta)-collapsed: n_above / n <= delta, compared exactly, with delta read as the
    # decimal it prints as: 0.03 is 3/100, not the double just below it (which would refuse 3
    # samples of 100).
    allowed = Fraction(repr(dlt)) * n
    collapsed = tuple(int(i) for i in np.flatnonzero([n - b <= allowed for b in below.tolist()]))
    var_mu = _column_variance(mu)
    rows = np.sort(gen.choice(n, mi_max, replace=False)) if n > mi_max else slice(None)
    mi = mutual_information(mu[rows], logvar[rows], gen)
    return CollapseDiagnostics(
        kl_per_latent=np.mean(kl, axis=0),
        mean_variance=var_mu,
        active=var_mu > au,
        collapsed_fraction=below / n,
        collapsed=collapsed,
        n_samples=n,
        epsilon=eps,
        delta=dlt,
        au_threshold=au,
        mutual_information=mi,
        mi_samples=min(n, mi_max),
    )
