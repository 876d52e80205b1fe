"""CPU primitives for convolution, pooling, resampling and attention (NumPy)."""
from __future__ import annotations


class NumpyConvPrimitives:
    pass
