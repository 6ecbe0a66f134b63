"""The VAE toolkit: linear-VAE training, agreement with pPCA, beta <-> sigma2, collapse diagnostics
of any encoder.
"""
