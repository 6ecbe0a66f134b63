"""From data to eigenpairs: the covariance, the (possibly partial) spectrum and the partial
eigensolvers.
"""
