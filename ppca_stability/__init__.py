"""ppca_stability: stationary points of the pPCA likelihood and their stability in sigma^2.

The pipeline is covariance -> spectrum -> stationary points -> Hessian -> stability -> maps and
phase diagrams, with the linear VAE beside it and `ppca_stability.symbolic` (sympy, imported
explicitly) as an independent oracle. Heavy optional pieces (sympy, matplotlib) load only when used.
"""

from ._diagnostics import CollapseComparison, CollapseDiagnostics, collapse_diagnostics, compare_collapse
from .agreement import Agreement, compare_with_ppca
from .beta import CollapsePrediction, beta_from_sigma2, predict_collapse, sigma2_from_beta
from .exceptions import ConvergenceWarning, DegeneracyWarning
from .hessian import hessian_vector_product, log_likelihood_hessian
from .likelihood import log_likelihood, log_likelihood_gradient
from .linear_vae import (LinearVAEFit, LinearVAEParams, TrainingHistory, fit_linear_vae, linear_vae_elbo,
                         linear_vae_elbo_gradient, optimal_encoder)
from .mle import PPCAResult, ppca_mle
from .phase import PhaseDiagram, phase_diagram
from .results import PointClassification, StabilityMap, StationaryPoint
from .covariance import SampleMoments, covariance, sample_moments
from .spectrum import Spectrum, spectrum
from .stability import Stability, classify_point, stability_map
from .verify import VerificationReport, verify

__version__ = "0.1.0"

__all__ = [
    "Agreement",
    "CollapseComparison",
    "CollapseDiagnostics",
    "CollapsePrediction",
    "ConvergenceWarning",
    "DegeneracyWarning",
    "LinearVAEFit",
    "LinearVAEParams",
    "PPCAResult",
    "PhaseDiagram",
    "SampleMoments",
    "PointClassification",
    "Spectrum",
    "Stability",
    "StabilityMap",
    "StationaryPoint",
    "TrainingHistory",
    "VerificationReport",
    "beta_from_sigma2",
    "classify_point",
    "collapse_diagnostics",
    "compare_collapse",
    "compare_with_ppca",
    "covariance",
    "fit_linear_vae",
    "hessian_vector_product",
    "linear_vae_elbo",
    "linear_vae_elbo_gradient",
    "log_likelihood",
    "log_likelihood_gradient",
    "log_likelihood_hessian",
    "optimal_encoder",
    "phase_diagram",
    "ppca_mle",
    "predict_collapse",
    "sample_moments",
    "sigma2_from_beta",
    "spectrum",
    "stability_map",
    "verify",
]
