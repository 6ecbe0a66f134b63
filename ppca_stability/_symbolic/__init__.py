"""Private modules of `ppca_stability.symbolic` (which is the public import path).

``_exact``: exact inputs, the closed-form Hessian spectrum in exact arithmetic and the exact maps;
``_expressions``: the likelihood, gradient and Hessian as sympy expressions; ``_proof``: the
symbolic proof of the closed form. Every module here imports sympy; nothing imports them from
``ppca_stability/__init__``, so ``import ppca_stability`` stays free of sympy.
"""
