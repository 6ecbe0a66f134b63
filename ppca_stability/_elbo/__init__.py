"""The linear VAE's ELBO pipeline: objective, derivatives, numeric classifier, equal-norm clusters
and its landscape map.
"""
