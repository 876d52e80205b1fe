"""Debug mode (BLAZE_DEBUG_CHECKS=1): every Tensor an op makes must agree with its storage.

A Tensor keeps its own dtype and device beside its storage (a ``numpy.ndarray`` on "cpu",
a ``DeviceArray`` on "cuda"). A kernel that picks its output dtype by itself can drift
from what the op promised — ``tril`` on a bool tensor once gave int64 storage under a bool
Tensor, and attention then refused its mask. With the mode on, ``Tensor._make`` (which
every op's result passes through) checks the storage's kind, dtype, shape and strides;
off, the cost is one flag test per Tensor made.

The flag is read from the environment once, at import; tests flip ``ON`` directly.
"""
from __future__ import annotations

import sys

import numpy as np

from . import _env

ON = _env.debug_checks()


def _maker() -> str:
    f = sys._getframe(4)  # _maker <- _fail <- check <- Tensor._make <- the op that made the tensor
    return f"{f.f_code.co_qualname} ({f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_lineno})"


def _fail(t, what):
    raise RuntimeError(f"BLAZE_DEBUG_CHECKS: storage disagrees with its Tensor ({what}); made by {_maker()}")


def check(t) -> None:
    """Raise if ``t``'s storage is not what ``t`` claims (dtype, shape, strides, device kind)."""
    from .devices.cuda.memory import DeviceArray
    data, dt = t._data, t._dtype
    cuda = t._device.type == "cuda"
    kind = DeviceArray if cuda else np.ndarray
    if not isinstance(data, kind):
        _fail(t, f"a {t._device.type} Tensor holds a {type(data).__name__}")
    if dt.np is not None and np.dtype(data.dtype) != dt.np:
        _fail(t, f"dtype {dt} but storage dtype {data.dtype}")
    shape, strides = tuple(data.shape), tuple(data.strides)
    if len(shape) != len(strides) or any(not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
        _fail(t, f"shape {shape} with strides {strides}")
    if not cuda or 0 in shape:
        return
    # a cuda view must lie inside its allocation: offset + every reachable element, in bytes
    lo = data.offset + sum((n - 1) * s for n, s in zip(shape, strides) if s < 0)
    hi = data.offset + sum((n - 1) * s for n, s in zip(shape, strides) if s > 0)
    if lo < 0 or (hi + 1) * data.dtype.itemsize > data.alloc.nbytes:
        _fail(t, f"shape {shape}, strides {strides}, offset {data.offset} reach elements [{lo}, {hi}] "
                 f"of a {data.alloc.nbytes}-byte allocation")
