"""NumPy likelihood layer: kernels, routes and entry points of the exact two-level likelihood.

No PyTensor, no PyMC: ``graph/`` wraps these kernels as Ops; ``ml/`` and ``bayes/`` use them
directly.
"""
