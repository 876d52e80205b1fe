"""Ops with no kernel (LAPACK-style factorizations, data-dependent shapes): NumPy on the host.

On the cpu device ``host`` calls NumPy on the tensors' own arrays. On the cuda device it
downloads the inputs, runs the same NumPy code and uploads the results: one host round trip,
counted in ``blaze.devices.cuda.backend.FALLBACKS`` under the op's name (README lists them).
"""
from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from .._flags import FALLBACKS
from ._util import Tensor, make


def host_arrays(name, *tensors):
    """The tensors' values as NumPy arrays (counted once per call on a non-cpu device)."""
    dev = next(t._device for t in tensors if isinstance(t, Tensor))
    if dev.type != "cpu":
        FALLBACKS[name] += 1
    return [t._device.backend.to_numpy(t._data) if isinstance(t, Tensor) else t for t in tensors]


def upload(a, device, dtype=None) -> Tensor:
    a = np.asarray(a) if dtype is None else np.asarray(a).astype(dtype.np, copy=False)
    if not a.flags.c_contiguous:  # (np.ascontiguousarray would turn a 0-d result into 1-d)
        a = a.copy()
    return make(device.backend.from_numpy(a), device, dtype if dtype is not None else _dt.from_numpy_dtype(a.dtype))


def host(name, fn, *tensors, dtype=None):
    """``fn`` over the tensors' NumPy values; its array result(s) come back on the first tensor's device.

    ``dtype`` casts every floating result (the ops compute in float64 and return the input's dtype).
    """
    dev = next(t._device for t in tensors if isinstance(t, Tensor))
    r = fn(*host_arrays(name, *tensors))

    def back(a):
        a = np.asarray(a)
        return upload(a, dev, dtype if dtype is not None and a.dtype.kind == "f" else None)
    return tuple(back(x) for x in r) if isinstance(r, tuple) else back(r)


def f64(a):
    return np.asarray(a, dtype=np.float64)
