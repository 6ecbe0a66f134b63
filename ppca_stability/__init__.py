"""ppca_stability: stationary points of the pPCA likelihood and their stability in sigma^2.

The pipeline is covariance -> spectrum -> stationary points -> Hessian -> stability -> maps and
phase diagrams, with the linear VAE beside it and :mod:`ppca_stability.symbolic` (sympy, imported
explicitly) as an independent oracle. Heavy optional pieces (sympy, matplotlib) load only when used.
"""

from .exceptions import ConvergenceWarning, DegeneracyWarning
from .hessian import hessian_vector_product, log_likelihood_hessian
from .likelihood import log_likelihood, log_likelihood_gradient
from .mle import PPCAResult, ppca_mle
from .phase import PhaseDiagram, phase_diagram
from .results import PointClassification, StabilityMap, StationaryPoint
from .covariance import SampleMoments, covariance, sample_moments
from .spectrum import Spectrum, spectrum
from .stability import Stability, classify_point, stability_map
from .verify import VerificationReport, verify

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "DegeneracyWarning",
    "PPCAResult",
    "PhaseDiagram",
    "SampleMoments",
    "PointClassification",
    "Spectrum",
    "Stability",
    "StabilityMap",
    "StationaryPoint",
    "VerificationReport",
    "classify_point",
    "covariance",
    "hessian_vector_product",
    "log_likelihood",
    "log_likelihood_gradient",
    "log_likelihood_hessian",
    "phase_diagram",
    "ppca_mle",
    "sample_moments",
    "spectrum",
    "stability_map",
    "verify",
]
