"""Shape, split and creation helpers composed from existing ops: rot90, h/v/dsplit, dstack,
block_diag, cartesian_prod, combinations, diag family, tri indices, vander, broadcasting helpers,
strided construction, and the ``*_copy`` forms of the view ops.
"""
from __future__ import annotations

import builtins
import itertools

import numpy as np

from .. import dtypes as _dt
from .._tensor import Size
from ._util import Tensor, broadcast_shapes_error
from . import creation as C
from . import movement as M
from . import shape as S
from .scatter_views import as_strided, unfold


def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane ``dims`` (from the first towards the second)."""
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.ndim}")
    d0, d1 = input._wrap_dim(dims[0]), input._wrap_dim(dims[1])
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k %= 4
    if k == 1:
        return M.flip(input, d1).transpose(d0, d1)
    if k == 2:
        return M.flip(input, d0, d1)
    if k == 3:
        return M.flip(input, d0).transpose(d0, d1)
    return input.clone()


def _split_at(input, indices_or_sections, dim):
    """``tensor_split`` with an int (sections) or a list of split indices."""
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {indices_or_sections}")
        return S.tensor_split(input, indices_or_sections, dim)
    d = input._wrap_dim(dim)
    n = input.shape[d]
    bounds = [builtins.min(builtins.max(int(i) if i >= 0 else int(i) + n, 0), n) for i in indices_or_sections]
    starts = [0] + bounds
    ends = bounds + [n]
    return tuple(S.narrow(input, d, s, builtins.max(e - s, 0)) for s, e in zip(starts, ends))


def _split_dim(fn, input, sections, dim, need):
    if input.ndim < need:
        raise RuntimeError(f"torch.{fn} requires a tensor with at least {need} dimension, but got a tensor with "
                           f"{input.ndim} dimensions!")
    if isinstance(sections, int) and input.shape[dim] % sections:
        raise RuntimeError(f"torch.{fn} attempted to split along dimension {dim}, but the size of the dimension "
                           f"{input.shape[dim]} is not divisible by the split_size {sections}!")
    return _split_at(input, sections, dim)


def hsplit(input, sections):
    return _split_dim("hsplit", input, sections, 1 if input.ndim > 1 else 0, 1)


def vsplit(input, sections):
    return _split_dim("vsplit", input, sections, 0, 2)


def dsplit(input, sections):
    return _split_dim("dsplit", input, sections, 2, 3)


def split_with_sizes(input, split_sizes, dim=0):
    return S.split(input, list(split_sizes), dim)


def unsafe_split(input, split_size, dim=0):
    return S.split(input, split_size, dim)


def unsafe_chunk(input, chunks, dim=0):
    return S.chunk(input, chunks, dim)


def atleast_3d(*tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(atleast_3d(t) for t in tensors[0])
    if len(tensors) > 1:
        return tuple(atleast_3d(t) for t in tensors)
    t = tensors[0]
    if t.ndim == 0:
        return t.reshape(1, 1, 1)
    if t.ndim == 1:
        return t.reshape(1, -1, 1)   # (1, n, 1), as NumPy
    if t.ndim == 2:
        return t.unsqueeze(-1)       # (m, n, 1)
    return t


def dstack(tensors):
    return M.cat([atleast_3d(t) for t in tensors], 2)


def column_stack(tensors):
    return M.cat([t.reshape(-1, 1) if t.ndim < 2 else t for t in tensors], 1)


def row_stack(tensors):
    return M.vstack(tensors)


def adjoint(input):
    """The conjugate transpose of the last two dims (a transpose: blaze has no complex dtypes)."""
    if input.ndim < 2:
        raise RuntimeError(f"tensor.adjoint() is only supported on matrices or batches of matrices. Got "
                           f"{input.ndim}-D tensor.")
    return input.transpose(-2, -1)


def moveaxis(input, source, destination):
    return S.movedim(input, source, destination)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """The last dim of ``input`` on the ``offset`` diagonal of new (dim1, dim2) planes."""
    n = input.shape[-1] + builtins.abs(offset)
    nd = input.ndim + 1
    d1, d2 = dim1 % nd, dim2 % nd
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    eye = C.eye(input.shape[-1], dtype=input.dtype, device=input.device)
    sq = input.unsqueeze(-1) * eye                      # (..., k, k)
    k = builtins.abs(offset)
    sq = M.pad(sq, (k, 0, 0, k) if offset >= 0 else (0, k, k, 0))  # (..., n, n): shifted right or down
    assert sq.shape[-1] == n
    order = [d for d in builtins.range(nd) if d not in (d1, d2)]
    perm = [0] * nd
    for src, d in enumerate(order):
        perm[d] = src
    perm[d1], perm[d2] = nd - 2, nd - 1
    return sq.permute(*perm)


def diag(input, diagonal=0):
    """1-D -> a square matrix with it on the ``diagonal``; 2-D -> that diagonal as 1-D."""
    if input.ndim == 1:
        return diag_embed(input, diagonal)
    if input.ndim == 2:
        return S.diagonal(input, diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


def diagflat(input, offset=0):
    return diag_embed(input.reshape(-1), offset)


def block_diag(*tensors):
    mats = [t.reshape(1, -1) if t.ndim < 2 else t for t in (x.reshape(1, 1) if x.ndim == 0 else x for x in tensors)]
    for t in mats:
        if t.ndim != 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input has "
                               f"{t.ndim} dimensions")
    if not mats:
        return C.empty(1, 0)
    dtype = mats[0].dtype
    for t in mats[1:]:
        dtype = _dt.promote_types(dtype, t.dtype)
    cols = builtins.sum(t.shape[1] for t in mats)
    rows, left = [], 0
    for t in mats:
        rows.append(M.pad(t.to(dtype), (left, cols - left - t.shape[1])))
        left += t.shape[1]
    return M.cat(rows, 0)


def cartesian_prod(*tensors):
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    grids = M.meshgrid(*tensors, indexing="ij")
    return M.stack([g.reshape(-1) for g in grids], 1)


def combinations(input, r=2, with_replacement=False):
    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    n = input.shape[0]
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = np.array(list(pick(builtins.range(n), r)), dtype=np.int64).reshape(-1, r) if r else np.zeros((0, 0))
    if r == 0 or idx.shape[0] == 0:
        return C.empty(0, dtype=input.dtype, device=input.device) if r <= 1 else \
            C.empty(0, r, dtype=input.dtype, device=input.device)
    out = input[C.tensor(idx, device=input.device)]   # (count, r)
    return out.reshape(-1) if r == 1 else out


def _tri_indices(row, col, offset, dtype, device, upper):
    r, c = np.triu_indices(row, offset, col) if upper else np.tril_indices(row, offset, col)
    return C.tensor(np.stack([r, c]).astype(np.int64), dtype=dtype or _dt.int64, device=device)


def tril_indices(row, col, offset=0, *, dtype=None, device="cpu", layout=None):
    return _tri_indices(row, col, offset, dtype, device, False)


def triu_indices(row, col, offset=0, *, dtype=None, device="cpu", layout=None):
    return _tri_indices(row, col, offset, dtype, device, True)


def vander(x, N=None, increasing=False):
    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    if n == 0:
        return C.empty(x.shape[0], 0, dtype=x.dtype, device=x.device)
    cols = [C.ones_like(x)]
    for _ in builtins.range(n - 1):
        cols.append(cols[-1] * x)
    out = M.stack(cols, 1)                       # (len, n): x^0 ... x^(n-1)
    if not x.dtype.is_floating_point:
        out = out.to(_dt.int64)
    return out if increasing else M.flip(out, 1)


def unravel_index(indices, shape):
    idx = indices if isinstance(indices, Tensor) else C.tensor(indices)
    if idx.dtype.is_floating_point or idx.dtype is _dt.bool_:
        raise TypeError(f"expected 'indices' to be integer dtype, but got {idx.dtype}")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    total = int(np.prod(shape))
    if idx.numel() and (bool((idx >= total).any()) or bool((idx < -total).any())):
        raise RuntimeError(f"'indices' must be in range [-{total}, {total})")
    rest = idx % total if total else idx
    out = []
    for s in reversed(shape):
        out.append(rest % s)
        rest = rest.div(s, rounding_mode="floor")
    return tuple(reversed(out))


def broadcast_shapes(*shapes):
    shapes = [(s,) if isinstance(s, int) else tuple(s) for s in shapes]
    try:
        return Size(np.broadcast_shapes(*shapes))
    except ValueError:
        raise broadcast_shapes_error(*shapes) from None


def broadcast_tensors(*tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    shape = broadcast_shapes(*[t.shape for t in tensors])
    return tuple(t.expand(*shape) for t in tensors)


def empty_strided(size, stride, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    """A new tensor of ``size``; blaze tensors are laid out by their own storage, so ``stride`` is
    checked (one per dim) but the memory is contiguous."""
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    return C.empty(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_permuted(size, physical_layout, *, dtype=None, device=None, requires_grad=False, layout=None,
                   pin_memory=False):
    if sorted(physical_layout) != list(builtins.range(len(size))):
        raise RuntimeError(f"Number of dimensions in size does not match the length of the physical_layout; "
                           f"or physical_layout is not a permutation: {list(physical_layout)}")
    phys = C.empty(*[size[d] for d in physical_layout], dtype=dtype, device=device)
    inv = [list(physical_layout).index(d) for d in builtins.range(len(size))]
    out = phys.permute(*inv)
    return out.requires_grad_(requires_grad) if requires_grad else out


def frombuffer(buffer, *, dtype, count=-1, offset=0, requires_grad=False):
    """A 1-D tensor over the bytes of ``buffer`` (copied: blaze tensors own their storage)."""
    d = _dt.to_dtype(dtype)
    mv = memoryview(buffer)
    nbytes = mv.nbytes
    if offset < 0 or offset > nbytes:
        raise ValueError(f"both buffer length ({nbytes}) and offset ({offset}) must be non-negative and offset "
                         f"must be less than buffer length")
    item = np.dtype(d.np).itemsize
    if count == 0 or (count < 0 and (nbytes - offset) % item):
        raise ValueError(f"buffer length ({nbytes - offset} after offset) must be a multiple of element size "
                         f"({item})" if count < 0 else f"both buffer length ({nbytes}) and count ({count}) must "
                         f"not be 0")
    if count > 0 and offset + count * item > nbytes:
        raise ValueError(f"requested buffer length ({count} * {item} bytes) after offset ({offset}) must not be "
                         f"greater than actual buffer length ({nbytes})")
    arr = np.frombuffer(mv, dtype=d.np, count=count, offset=offset).copy()
    return C.from_numpy(arr).requires_grad_(requires_grad) if requires_grad else C.from_numpy(arr)


def range(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False):  # noqa: A001
    """Deprecated in PyTorch: ``end`` is included (``arange`` up to ``end + step``)."""
    if end is None:
        start, end = 0, start
    n = int(np.floor((end - start) / step)) + 1
    d = _dt.to_dtype(dtype) if dtype is not None else _dt.get_default_dtype()
    out = C.arange(n, dtype=_dt.float64, device=device) * step + start
    out = out.to(d)
    return out.requires_grad_(requires_grad) if requires_grad else out


# ``*_copy``: the view op, then a copy that owns its memory (PyTorch's functionalization ops)
def _copy_of(view):
    def fn(input, *args, **kwargs):
        r = view(input, *args, **kwargs)
        return tuple(x.clone() for x in r) if isinstance(r, tuple) else r.clone()
    fn.__name__ = view.__name__ + "_copy"
    fn.__doc__ = f"``{view.__name__}`` as a new tensor with its own memory."
    return fn


COPIES = {
    "alias_copy": lambda input: input.clone(),
    "detach_copy": lambda input: input.detach().clone(),
    "expand_copy": _copy_of(lambda input, size, *, implicit=False: S.expand(input, *size)),
    "narrow_copy": _copy_of(S.narrow), "permute_copy": _copy_of(S.permute), "select_copy": _copy_of(S.select),
    "diagonal_copy": _copy_of(S.diagonal), "squeeze_copy": _copy_of(S.squeeze),
    "unsqueeze_copy": _copy_of(S.unsqueeze), "t_copy": _copy_of(S.t), "transpose_copy": _copy_of(S.transpose),
    "split_copy": _copy_of(S.split), "split_with_sizes_copy": _copy_of(split_with_sizes),
    "unbind_copy": _copy_of(S.unbind), "view_copy": _copy_of(S.view),
    "slice_copy": _copy_of(lambda input, dim=0, start=None, end=None, step=1:
                           input[(slice(None),) * input._wrap_dim(dim) + (slice(start, end, step),)]),
    "unfold_copy": _copy_of(unfold),
    "as_strided_copy": _copy_of(as_strided),
}


__all__ = ["rot90", "hsplit", "vsplit", "dsplit", "split_with_sizes", "unsafe_split", "unsafe_chunk", "atleast_3d",
           "dstack", "column_stack", "row_stack", "adjoint", "moveaxis", "diag_embed", "diag", "diagflat", "block_diag",
           "cartesian_prod", "combinations", "tril_indices", "triu_indices", "vander", "unravel_index",
           "broadcast_shapes", "broadcast_tensors", "empty_strided", "empty_permuted", "frombuffer", "range"]
