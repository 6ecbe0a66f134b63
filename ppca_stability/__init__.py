"""ppca_stability: stationary points of the pPCA likelihood and their stability in sigma^2.

This module is the public face: every public name is imported here and listed in ``__all__``.
The modules behind it are internal (underscored) and follow the pipeline

    covariance -> spectrum -> stationary points -> Hessian -> stability -> maps, phase diagrams

with the linear VAE beside it (docs/architecture.md says which module owns what). Four public
submodules load only when imported: `ppca_stability.symbolic` (sympy, an independent oracle),
`ppca_stability.strategies` (Hypothesis strategies for your own tests), `ppca_stability.datasets`
(MNIST from local files) and `ppca_stability.deep` (PyTorch, the ``deep`` extra). Figures need
matplotlib (the ``plot`` extra).
"""

from ._base.classification import Stability
from ._base.persist import from_json, json_header, load
from ._base.tolerance import SYMMETRY_RTOL
from ._elbo.classify import VAEPointClassification, classify_vae_point
from ._elbo.clusters import ElboClusterPoint
from ._elbo.derivatives import (
    linear_vae_elbo_flat_gradient,
    linear_vae_elbo_hessian,
    linear_vae_elbo_hessian_vector_product,
)
from ._elbo.landscape import ElboStabilityMap, ElboStationaryPoint, elbo_stability_map
from ._elbo.objective import (
    LinearVAEFullParams,
    LinearVAEParams,
    linear_vae_elbo,
    linear_vae_elbo_gradient,
    optimal_encoder,
)
from ._plotting.limits import MAX_PLOTTED_POINTS
from ._ppca.classify import PointClassification, classify_point
from ._ppca.hessian import hessian_vector_product, log_likelihood_hessian
from ._ppca.likelihood import log_likelihood, log_likelihood_gradient
from ._ppca.mle import PPCAResult, ppca_mle
from ._ppca.phase import PhaseDiagram, phase_diagram, phase_grid
from ._ppca.route import uses_partial_spectrum
from ._ppca.stability import StabilityMap, StationaryPoint, stability_map
from ._spectra.container import Spectrum
from ._spectra.covariance import SampleMoments, covariance, sample_moments
from ._spectra.spectrum import spectrum
from ._vae.agreement import Agreement, compare_with_ppca
from ._vae.beta import (
    KL_REDUCTIONS,
    RECONSTRUCTIONS,
    BetaInterval,
    CollapsePrediction,
    beta_for_latents,
    beta_from_sigma2,
    predict_collapse,
    sigma2_from_beta,
)
from ._vae.comparison import CollapseComparison, compare_collapse
from ._vae.diagnostics import CollapseDiagnostics, collapse_diagnostics
from ._vae.linear_vae import LinearVAEFit, TrainingHistory, fit_linear_vae
from ._verify.verify import TheoremResult, VerificationReport, theorem_names, verify
from .exceptions import ConvergenceWarning, DegeneracyWarning, PrecisionWarning

__version__ = "0.1.0"

__all__ = [
    "KL_REDUCTIONS",
    "MAX_PLOTTED_POINTS",
    "SYMMETRY_RTOL",
    "RECONSTRUCTIONS",
    "Agreement",
    "BetaInterval",
    "CollapseComparison",
    "CollapseDiagnostics",
    "CollapsePrediction",
    "ConvergenceWarning",
    "DegeneracyWarning",
    "ElboClusterPoint",
    "ElboStabilityMap",
    "ElboStationaryPoint",
    "LinearVAEFit",
    "LinearVAEFullParams",
    "LinearVAEParams",
    "PPCAResult",
    "PhaseDiagram",
    "PrecisionWarning",
    "PointClassification",
    "SampleMoments",
    "Spectrum",
    "Stability",
    "StabilityMap",
    "StationaryPoint",
    "TheoremResult",
    "TrainingHistory",
    "VAEPointClassification",
    "VerificationReport",
    "beta_for_latents",
    "beta_from_sigma2",
    "classify_point",
    "collapse_diagnostics",
    "compare_collapse",
    "classify_vae_point",
    "compare_with_ppca",
    "covariance",
    "elbo_stability_map",
    "fit_linear_vae",
    "from_json",
    "json_header",
    "hessian_vector_product",
    "linear_vae_elbo",
    "load",
    "linear_vae_elbo_flat_gradient",
    "linear_vae_elbo_gradient",
    "linear_vae_elbo_hessian",
    "linear_vae_elbo_hessian_vector_product",
    "log_likelihood",
    "log_likelihood_gradient",
    "log_likelihood_hessian",
    "optimal_encoder",
    "phase_diagram",
    "phase_grid",
    "ppca_mle",
    "predict_collapse",
    "sample_moments",
    "sigma2_from_beta",
    "spectrum",
    "stability_map",
    "theorem_names",
    "uses_partial_spectrum",
    "verify",
]
