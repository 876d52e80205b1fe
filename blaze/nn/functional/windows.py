"""Sliding and adaptive windows over the spatial dims of (N, C, *spatial), composed from index_select.

A window op is described per spatial dim by an index table (O, K): output position o reads
input positions table[o, :]. ``gather_windows`` applies the tables one dim at a time with
``index_select`` and returns (N, C, *O, K1*...*Kn); max/mean/sum over the last dim then gives
max-, avg-, lp- and adaptive pooling, and unfold. The gradient is index_select's scatter-add,
so overlapping windows accumulate exactly, on every device, with no kernel of its own.
Memory: prod(K) copies of the output grid, e.g. 27x for a 3x3x3 pool.
"""
from __future__ import annotations

import math

import numpy as np

from ..._tensor import Tensor
from ...ops.creation import tensor as _tensor


def ntuple(v, n, name):
    t = (v,) * n if isinstance(v, int) else tuple(int(i) for i in v)
    if len(t) == 1:
        t = t * n
    if len(t) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {v!r}")
    return t


def sliding_table(o, k, s, d):
    """(O, K) positions o*s + j*d in padded coordinates."""
    return np.arange(o)[:, None] * s + np.arange(k)[None, :] * d


def adaptive_table(size, o):
    """(O, Kmax) table of window floor(i*L/O) .. ceil((i+1)*L/O); short windows repeat their last
    position, which changes neither a max nor its first-argmax."""
    start = (np.arange(o) * size) // o
    end = -((-(np.arange(o) + 1) * size) // o)
    kmax = int((end - start).max())
    t = start[:, None] + np.arange(kmax)[None, :]
    return np.minimum(t, end[:, None] - 1), end - start


def gather_windows(x: Tensor, tables) -> Tensor:
    """(N, C, *L) -> (N, C, *O, K) with K = prod(K_i); tables[i] is an (O_i, K_i) index array."""
    n = len(tables)
    lead = tuple(x.shape[:x.ndim - n])
    for i, tab in enumerate(tables):
        axis = len(lead) + 2 * i
        if np.array_equal(tab.reshape(-1), np.arange(tab.size)):
            # non-overlapping windows (stride == kernel, no dilation): a slice instead of a gather and
            # its scatter-add; MaxPool3d(2) fwd+bwd on (4, 8, 8, 16, 16): 31 -> 17 ms (1 CPU thread)
            x = x.narrow(axis, 0, tab.size)
        else:
            idx = _tensor(np.ascontiguousarray(tab.reshape(-1), dtype=np.int64), device=x.device)
            x = x.index_select(axis, idx)
        x = x.reshape(tuple(x.shape[:axis]) + tab.shape + tuple(x.shape[axis + 1:]))  # split O_i*K_i
    b = len(lead)
    x = x.permute(*range(b), *(b + 2 * i for i in range(n)), *(b + 2 * i + 1 for i in range(n)))
    outs = tuple(t.shape[0] for t in tables)
    return x.reshape(lead + outs + (math.prod(t.shape[1] for t in tables),))  # (.., *O, K)


def flat_positions(tables, shifts, sizes):
    """(*O, K) flat input index (unpadded coordinates) of every window element, as max_pool's indices."""
    n = len(tables)
    flat = np.zeros(tuple(t.shape[0] for t in tables) + tuple(t.shape[1] for t in tables), np.int64)
    stride = 1
    for i in reversed(range(n)):
        pos = tables[i] - shifts[i]                                   # (O_i, K_i)
        shape = [1] * (2 * n)
        shape[i], shape[n + i] = pos.shape
        flat = flat + pos.reshape(shape) * stride
        stride *= sizes[i]
    return flat.reshape(flat.shape[:n] + (-1,))
