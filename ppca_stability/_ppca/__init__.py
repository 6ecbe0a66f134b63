"""The pPCA likelihood pipeline: objective, Hessian, stationary points, closed-form classification,
maps and phase diagrams.
"""
