"""Small helpers the group defaults share: dtypes of device arrays, the accumulation dtype, axes."""
from __future__ import annotations

import numpy as np


def dtype_of(x):
    """The ``blaze.dtypes`` object of a device array (its ``.dtype`` is a NumPy dtype on both devices)."""
    from ...dtypes import from_numpy_dtype
    return from_numpy_dtype(x.dtype)


def is_half(x) -> bool:
    return x.dtype.itemsize == 2 and x.dtype.kind not in "iub"


def acc(be, x):
    """``x`` in its accumulation dtype: float16/bfloat16 compute in float32 (their 8-11 bit mantissas
    lose a row sum of a few hundred terms), float32/float64 as they are."""
    if x is None or not is_half(x):
        return x
    from ...dtypes import float32
    return be.cast(x, float32)


def back(be, y, like):
    """``y`` cast to ``like``'s dtype when they differ (results leave in the caller's dtype)."""
    return y if y.dtype == like.dtype else be.cast(y, dtype_of(like))


def axes(ndim: int, axis) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    return tuple(a % ndim for a in ((axis,) if isinstance(axis, (int, np.integer)) else axis))


def drop(shape, axis) -> tuple:
    gone = set(axes(len(shape), axis))
    return tuple(s for i, s in enumerate(shape) if i not in gone)


def last(x) -> tuple:
    return (x.ndim - 1,)


def col(be, v):
    """(M,) -> (M, 1), to broadcast a per-row statistic over a row."""
    return be.reshape(v, (-1, 1))


def swap_last(be, x):
    """The transpose of the last two dims, as a view."""
    n = x.ndim
    return be.permute(x, tuple(range(n - 2)) + (n - 1, n - 2))


def upload(be, a):
    """A host array whose values depend on shapes alone (index maps, masks), on the device."""
    return be.from_numpy(np.ascontiguousarray(a))
