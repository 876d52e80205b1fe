"""Fused neural-network primitives of the CPU backend (conv, pooling, softmax, norms, attention, losses).

Kept apart from the generic primitives in ``numpy_backend.py``: these mirror the Triton
kernel families in ``blaze/kernels/`` one for one.
"""
from __future__ import annotations


class NumpyNNPrimitives:
    pass
