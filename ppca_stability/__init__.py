"""ppca_stability: stationary points of the pPCA likelihood and their stability in sigma^2.

The pipeline is covariance -> spectrum -> stationary points -> Hessian -> stability -> maps and
phase diagrams, with the linear VAE beside it and `ppca_stability.symbolic` (sympy, imported
explicitly) as an independent oracle. Heavy optional pieces (sympy, matplotlib) load only when used.
"""

from ._elbo_derivatives import (LinearVAEFullParams, linear_vae_elbo_flat_gradient, linear_vae_elbo_hessian,
                                linear_vae_elbo_hessian_vector_product)
from ._elbo_landscape import (ElboStabilityMap, ElboStationaryPoint, VAEPointClassification, classify_vae_point,
                              elbo_stability_map)
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
    "CollapsePrediction",
    "ConvergenceWarning",
    "DegeneracyWarning",
    "ElboStabilityMap",
    "ElboStationaryPoint",
    "LinearVAEFit",
    "LinearVAEFullParams",
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
    "VAEPointClassification",
    "VerificationReport",
    "beta_from_sigma2",
    "classify_point",
    "classify_vae_point",
    "compare_with_ppca",
    "covariance",
    "elbo_stability_map",
    "fit_linear_vae",
    "hessian_vector_product",
    "linear_vae_elbo",
    "linear_vae_elbo_flat_gradient",
    "linear_vae_elbo_gradient",
    "linear_vae_elbo_hessian",
    "linear_vae_elbo_hessian_vector_product",
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
