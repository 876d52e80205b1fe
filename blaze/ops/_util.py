"""Small helpers shared by the op modules."""
from __future__ import annotations

import numpy as np

from ..device import CPU
from .._tensor import Tensor

make = Tensor._make


def same_device(*ts) -> None:
    """Raise PyTorch's error if tensors live on different devices."""
    dev = None
    for t in ts:
        if isinstance(t, Tensor):
            if dev is None:
                dev = t._device
            elif t._device is not dev and t._data.ndim != 0:
                raise RuntimeError("Expected all tensors to be on the same device, but found at least two "
                                   f"devices, {dev} and {t._device}!")


def dims_of(t: Tensor, dim, allow_none=True):
    """Normalize ``dim`` (int, sequence or None) to a sorted tuple of non-negative axes."""
    n = t._data.ndim
    if dim is None:
        return tuple(range(n)) if allow_none else None
    if n == 0:  # a 0-dim tensor accepts dim 0 / -1 and reduces over nothing, as PyTorch
        for d in (dim if isinstance(dim, (list, tuple)) else (dim,)):
            t._wrap_dim(d)
        return ()
    if isinstance(dim, (list, tuple)):
        if not dim:
            return tuple(range(n))
        axes = [t._wrap_dim(d) for d in dim]
        if len(set(axes)) != len(axes):
            dup = next(a for i, a in enumerate(axes) if a in axes[:i])
            raise RuntimeError(f"dim {dup} appears multiple times in the list of dims")
        return tuple(sorted(axes))
    return (t._wrap_dim(dim),)


def unbroadcast(g: Tensor, shape) -> Tensor:
    """Sum ``g`` down to ``shape``: undo the broadcasting a binary op applied to an input."""
    gshape = g._data.shape
    if gshape == tuple(shape):
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and gshape[i + lead] != 1)
    if axes:
        g = g.sum(dim=axes, keepdim=True)
    if lead:
        g = g.reshape(shape)
    return g


def broadcast_error(a_shape, b_shape) -> RuntimeError:
    """PyTorch's message for shapes that do not broadcast, naming the first mismatching dim."""
    n = max(len(a_shape), len(b_shape))
    pa = (1,) * (n - len(a_shape)) + tuple(a_shape)
    pb = (1,) * (n - len(b_shape)) + tuple(b_shape)
    for i in range(n - 1, -1, -1):
        if pa[i] != pb[i] and pa[i] != 1 and pb[i] != 1:
            return RuntimeError(f"The size of tensor a ({pa[i]}) must match the size of tensor b ({pb[i]}) "
                                f"at non-singleton dimension {i}")
    return RuntimeError(f"shapes {list(a_shape)} and {list(b_shape)} cannot be broadcast")


def broadcast_shapes_error(*shapes) -> RuntimeError:
    """PyTorch's message for several shapes that do not broadcast: it folds them left to right,
    so "tensor a" is the shape broadcast so far and "tensor b" the first one that does not fit."""
    out = tuple(shapes[0])
    for s in shapes[1:]:
        try:
            out = np.broadcast_shapes(out, tuple(s))
        except ValueError:
            return broadcast_error(out, s)
    return broadcast_error(shapes[0], shapes[-1])


__all__ = ["make", "same_device", "dims_of", "unbroadcast", "broadcast_error", "broadcast_shapes_error", "Tensor", "CPU"]
