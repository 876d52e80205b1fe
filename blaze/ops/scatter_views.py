"""Writes into positions of a copy: diagonal/select/slice/as_strided scatter, index_copy,
masked_scatter, put; and the gathers take, as_strided, Tensor.unfold, nonzero_static.

Each is a clone followed by an indexed write (``setitem`` / ``index_put``), so the gradient
reaches both ``input`` (zero at the written positions) and ``src`` through the existing nodes.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from . import creation as C
from . import shape as S
from .indexing import getitem, index_put


def _dim_key(input, dim, index):
    return (slice(None),) * input._wrap_dim(dim) + (index,)


def _write(input, key, src):
    out = input.clone()
    out[key] = src
    return out


def select_scatter(input, src, dim, index):
    d = input._wrap_dim(dim)
    want = tuple(s for i, s in enumerate(input.shape) if i != d)
    if tuple(src.shape) != want:
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = {list(src.shape)}, "
                           f"slice size = {list(want)}")
    return _write(input, _dim_key(input, d, index), src)


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    key = _dim_key(input, dim, slice(start, end, step))
    want = tuple(input[key].shape)
    if tuple(src.shape) != want:
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = {list(src.shape)}, "
                           f"slice size = {list(want)}")
    return _write(input, key, src)


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    want = tuple(S.diagonal(input.detach(), offset, dim1, dim2).shape)
    if tuple(src.shape) != want:
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = {list(src.shape)}, "
                           f"slice size = {list(want)}")
    d1, d2 = input._wrap_dim(dim1), input._wrap_dim(dim2)
    n = want[-1]
    rows = C.arange(n, device=input.device) + max(0, -offset)
    cols = C.arange(n, device=input.device) + max(0, offset)
    planes = S.movedim(input, (d1, d2), (-2, -1))          # (..., rows, cols)
    out = _write(planes, (Ellipsis, rows, cols), src)
    return S.movedim(out, (-2, -1), (d1, d2))


def index_copy(input, dim, index, source):
    if index.dtype is not _dt.int64:
        raise RuntimeError(f"index_copy_(): Expected a long tensor for index, but got {index.dtype}")
    if index.ndim > 1:
        raise RuntimeError("index_copy_(): Index should have dimension 1 or 0")
    d = input._wrap_dim(dim)
    src = source if source.ndim else source.reshape(1)
    if input.ndim and (src.ndim != input.ndim or index.numel() != src.shape[d] or any(
            a != b for k, (a, b) in enumerate(zip(src.shape, input.shape)) if k != d)):
        raise RuntimeError("index_copy_(): Source/destination tensor must have same slice shapes. Destination "
                           f"slice shape: {tuple(input.shape)} at dimension {d} and source slice shape: "
                           f"{tuple(src.shape)} at dimension {d}.")
    return _write(input, _dim_key(input, dim, index.reshape(-1)), source)


def index_copy_(input, dim, index, source):
    return input._inplace_apply(index_copy, dim, index, source)


def masked_scatter(input, mask, source):
    """``input`` with its ``mask`` positions filled, in order, from the leading elements of ``source``."""
    if mask.dtype is not _dt.bool_:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype {mask.dtype}")
    shape = np.broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    m = mask.expand(*shape)
    count = int(m.sum().item())
    if count > source.numel():
        raise RuntimeError("masked_scatter: expected source to have at least as many elements as ones in mask "
                           f"({source.numel()} < {count})")
    return _write(input.expand(*shape), m, source.reshape(-1)[:count])


def masked_scatter_(input, mask, source):
    return input._inplace_apply(masked_scatter, mask, source)


def _flat_index(input, index, op):
    n = input.numel()
    if index.dtype is not _dt.int64:
        raise RuntimeError(f"{op}(): Expected a long tensor for index, but got {index.dtype}")
    if index.numel():
        lo, hi = int(index.min().item()), int(index.max().item())
        bad = hi if hi >= n else lo if lo < -n else None
        if bad is not None:
            raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
    return index % n if n else index


def take(input, index):
    return getitem(input.reshape(-1), _flat_index(input, index, "take"))


def put(input, index, source, accumulate=False):
    if index.numel() != source.numel():
        raise RuntimeError(f"put_(): Expected source and index to have the same number of elements, but got "
                           f"source.numel() = {source.numel()}, index.numel() = {index.numel()}")
    flat = index_put(input.reshape(-1), (_flat_index(input, index, "put_").reshape(-1),), source.reshape(-1),
                     accumulate)
    return flat.reshape(input.shape)


def put_(input, index, source, accumulate=False):
    return input._inplace_apply(put, index, source, accumulate)


def _strided_index(input, size, stride, storage_offset):
    """Flat positions (over ``input``'s contiguous order) of the elements of an as_strided view."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"as_strided: Negative strides are not supported at the moment, got strides: "
                           f"{list(stride)}")
    idx = np.full(size, int(storage_offset), dtype=np.int64)
    for d, (n, st) in enumerate(zip(size, stride)):
        idx += (np.arange(n, dtype=np.int64) * st).reshape((1,) * d + (n,) + (1,) * (len(size) - d - 1))
    need = int(idx.max()) + 1 if idx.size else 0
    if need > input.numel():
        raise RuntimeError(f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset "
                           f"{storage_offset}, and itemsize {input.element_size()} requiring a storage size of "
                           f"{need * input.element_size()} are out of bounds for storage of size "
                           f"{input.numel() * input.element_size()}")
    return C.tensor(idx, device=input.device)


def as_strided(input, size, stride, storage_offset=0):
    """The elements an as_strided view would see, over ``input``'s contiguous order (a copy; README)."""
    return getitem(input.reshape(-1), _strided_index(input, size, stride, storage_offset))


def as_strided_scatter(input, src, size, stride, storage_offset=0):
    idx = _strided_index(input, size, stride, storage_offset)
    if tuple(src.shape) != tuple(idx.shape):
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = {list(src.shape)}, "
                           f"slice size = {list(idx.shape)}")
    return index_put(input.reshape(-1), (idx.reshape(-1),), src.reshape(-1)).reshape(input.shape)


def unfold(input, dimension, size, step):
    """``Tensor.unfold``: windows of ``size`` every ``step`` along ``dimension``, as a new last dim."""
    d = input._wrap_dim(dimension) if input.ndim else 0
    n = input.shape[d] if input.ndim else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if input.ndim == 0:
        return input.reshape(1)
    count = (n - size) // step + 1
    idx = (np.arange(count)[:, None] * step + np.arange(size)[None, :]).reshape(-1)
    picked = input.index_select(d, C.tensor(idx, device=input.device))   # (..., count * size, ...)
    picked = picked.unflatten(d, (count, size))                           # (..., count, size, ...)
    return S.movedim(picked, d + 1, -1)                                   # (..., count, ..., size)


def nonzero_static(input, *, size, fill_value=-1):
    """``nonzero`` padded with ``fill_value`` (or cut) to exactly ``size`` rows."""
    if size < 0:
        raise RuntimeError(f"nonzero_static: 'size' must be an non-negative integer, but got {size}")
    nz = input.nonzero()[:size]
    if nz.shape[0] < size:
        pad = C.full((size - nz.shape[0], input.ndim), fill_value, dtype=_dt.int64, device=input.device)
        from .movement import cat
        nz = cat([nz, pad], 0)
    return nz


def fill_diagonal_(input, fill_value, wrap=False):
    """Fill the main diagonal (all dims equal for ndim > 2; ``wrap`` restarts it below a tall matrix)."""
    if input.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    if input.ndim > 2 and len(set(input.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    mask = np.zeros(tuple(input.shape), dtype=bool)
    np.fill_diagonal(mask, True, wrap=wrap)
    return input.masked_fill_(C.tensor(mask, device=input.device), fill_value)


__all__ = ["select_scatter", "slice_scatter", "diagonal_scatter", "index_copy", "masked_scatter", "take",
           "as_strided", "as_strided_scatter", "nonzero_static"]
