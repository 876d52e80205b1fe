"""View ops: reshape, permute, expand, squeeze/unsqueeze, slicing, split/chunk. A view shares
memory and a version counter with its base (copies live in ``movement.py``).

Each view records how to rebuild itself from its parent (``_view_op``), which lets an
in-place op on a view re-point the base's graph through a CopySlices node (``rebase_view``).
"""
from __future__ import annotations

import builtins

from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from ._util import Tensor, make


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _infer_shape(shape, numel, src_shape):
    shape = list(shape)
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"invalid shape dimension {s}")
            known *= s
    if neg:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape[neg[0]] = numel // known
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return tuple(shape)


# ---------------------------------------------------------------------------- view ops
class _View(Function):
    """Base of view ops: the output aliases the input (same memory, same version counter)."""
    _internal = True


class Reshape(_View):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x._make_view(x._device.backend.view(x._data, shape), lambda t: reshape(t, shape))

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.in_shape), None


def reshape(input, *shape):
    """Same data in a new shape: a view when the strides allow, else a copy, as ``torch.reshape``."""
    shape = _infer_shape(_shape_arg(shape), input.numel(), input.shape)
    if input._device.backend.view(input._data, shape) is None:
        return Reshape.apply(contiguous(input), shape)
    return Reshape.apply(input, shape)


def view(input, *shape):
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int)):
        return input.to(shape[0])  # view(dtype) is not supported as a reinterpretation; see README
    shape = _infer_shape(_shape_arg(shape), input.numel(), input.shape)
    if input._device.backend.view(input._data, shape) is None:
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one dimension "
                           "spans across two contiguous subspaces). Use .reshape(...) instead.")
    return reshape(input, shape)


class Permute(_View):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x._make_view(x._device.backend.permute(x._data, dims), lambda t: permute(t, dims))

    @staticmethod
    def backward(ctx, g):
        inv = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inv[d] = i
        return g.permute(inv), None


def permute(input, *dims):
    dims = _shape_arg(dims)
    if len(dims) != input.ndim:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the length "
                           f"of the desired ordering of dimensions i.e. input.dim() = {input.ndim} is not equal to "
                           f"len(dims) = {len(dims)}")
    dims = tuple(input._wrap_dim(d) for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return Permute.apply(input, dims)


def transpose(input, dim0, dim1):
    n = input.ndim
    if n == 0:
        return input
    d0, d1 = input._wrap_dim(dim0), input._wrap_dim(dim1)
    dims = list(range(n))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(input, dims)


swapaxes = swapdims = transpose


def t(input):
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return transpose(input, 0, 1) if input.ndim == 2 else input


def movedim(input, source, destination):
    src = [input._wrap_dim(s) for s in (source if isinstance(source, (list, tuple)) else [source])]
    dst = [input._wrap_dim(d) for d in (destination if isinstance(destination, (list, tuple)) else [destination])]
    order = [i for i in range(input.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(input, order)


class Expand(_View):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x._make_view(x._device.backend.expand(x._data, shape), lambda t: expand(t, shape))

    @staticmethod
    def backward(ctx, g):
        from ._util import unbroadcast
        return unbroadcast(g, ctx.in_shape), None


def expand(input, *sizes):
    sizes = list(_shape_arg(sizes))
    n = len(sizes)
    if n < input.ndim:
        raise RuntimeError(f"expand: the number of sizes provided ({n}) must be greater or equal to the number of "
                           f"dimensions in the tensor ({input.ndim})")
    src = (1,) * (n - input.ndim) + tuple(input.shape)
    for i, s in enumerate(sizes):
        if s == -1:
            if i < n - input.ndim:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            sizes[i] = src[i]
        elif src[i] != 1 and src[i] != s:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({src[i]}) at "
                               f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                               f"{list(input.shape)}")
    shape = tuple(sizes)
    if shape == input._data.shape:
        return input
    return Expand.apply(input, shape)


def expand_as(input, other):
    return expand(input, other.shape)


def broadcast_to(input, shape):
    return expand(input, shape)


def squeeze(input, dim=None):
    if dim is None:
        shape = tuple(s for s in input.shape if s != 1)
    else:
        dims = {input._wrap_dim(d) for d in (dim if isinstance(dim, (tuple, list)) else [dim])}
        shape = tuple(s for i, s in enumerate(input.shape) if not (i in dims and s == 1))
    return reshape(input, shape)


def unsqueeze(input, dim):
    d = input._wrap_dim(dim, input.ndim + 1)
    shape = list(input.shape)
    shape.insert(d, 1)
    return reshape(input, shape)


def flatten(input, start_dim=0, end_dim=-1):
    if input.ndim == 0:
        return reshape(input, (1,))
    s, e = input._wrap_dim(start_dim), input._wrap_dim(end_dim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = input.shape
    n = 1
    for v in shape[s:e + 1]:
        n *= v
    return reshape(input, tuple(shape[:s]) + (n,) + tuple(shape[e + 1:]))


def unflatten(input, dim, sizes):
    d = input._wrap_dim(dim)
    sizes = tuple(sizes)
    n = input.shape[d]
    sizes = _infer_shape(sizes, n, None)
    return reshape(input, tuple(input.shape[:d]) + sizes + tuple(input.shape[d + 1:]))


def ravel(input):
    return reshape(input, (-1,))


# ---------------------------------------------------------------------------- slicing views
class Slice(_View):
    """Basic indexing (ints, slices with steps, None, Ellipsis): a view."""

    @staticmethod
    def forward(ctx, x, key):
        ctx.in_shape, ctx.key = x.shape, key
        return x._make_view(x._device.backend.getitem(x._data, key), lambda t: slice_view(t, key))

    @staticmethod
    def backward(ctx, g):
        return SliceBackward.apply(g, ctx.in_shape, ctx.key), None


class SliceBackward(Function):
    """Zeros of the input's shape with ``g`` written at ``key``; its own backward is ``g[key]``."""
    _internal = True

    @staticmethod
    def forward(ctx, g, shape, key):
        be = g._device.backend
        out = be.full(tuple(shape), 0, g._dtype)
        be.setitem(out, key, g._data)
        ctx.key = key
        return make(out, g._device, g._dtype)

    @staticmethod
    def backward(ctx, gg):
        return slice_view(gg, ctx.key), None, None


def slice_view(input, key):
    return Slice.apply(input, key)


def narrow(input, dim, start, length):
    d = input._wrap_dim(dim)
    size = input.shape[d]
    if isinstance(start, Tensor):
        start = int(start.item())
    if start < 0:
        start += size
    if not (0 <= start <= size and 0 <= length and start + length <= size):
        raise IndexError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    key = (slice(None),) * d + (slice(start, start + length),)
    return slice_view(input, key)


def select(input, dim, index):
    d = input._wrap_dim(dim)
    size = input.shape[d]
    if not -size <= index < size:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(input.shape)} at "
                         f"dimension {d}")
    return slice_view(input, (slice(None),) * d + (index,))


def split(input, split_size_or_sections, dim=0):
    d = input._wrap_dim(dim)
    n = input.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        sizes = [builtins.min(step, n - i) for i in range(0, n, step)] if n else [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                               f"dimension {d}), but got split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(input, d, start, s))
        start += s
    return tuple(out)


def tensor_split(input, sections, dim=0):
    d = input._wrap_dim(dim)
    n = input.shape[d]
    q, r = divmod(n, sections)
    return split(input, [q + 1] * r + [q] * (sections - r), d)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0")
    d = input._wrap_dim(dim)
    n = input.shape[d]
    step = -(-n // chunks) if n else 1
    return split(input, step, d)


def unbind(input, dim=0):
    d = input._wrap_dim(dim)
    return tuple(select(input, d, i) for i in range(input.shape[d]))


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal of the (dim1, dim2) planes, as a new last dim (a copy; see README)."""
    d1, d2 = input._wrap_dim(dim1), input._wrap_dim(dim2)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n, m = input.shape[d1], input.shape[d2]
    length = builtins.max(0, builtins.min(n + builtins.min(offset, 0), m - builtins.max(offset, 0)))
    from .creation import arange
    rows = arange(length, device=input.device) + builtins.max(0, -offset)
    cols = arange(length, device=input.device) + builtins.max(0, offset)
    planes = movedim(input, (d1, d2), (-2, -1))  # (..., n, m)
    return planes[..., rows, cols]                # (..., length)


# ---------------------------------------------------------------------------- in-place on views
class CopySlices(Function):
    """The base's new node after an in-place op on one of its views.

    ``view_fn(base)`` re-creates the view; gradient flowing into the base splits into the
    part under the view (goes to the new view value) and the rest (goes to the old base).
    """
    _internal = True

    @staticmethod
    def forward(ctx, base, new_view, view_fn):
        ctx.view_fn = view_fn
        return base  # data was already written in place

    @staticmethod
    def backward(ctx, g):
        with no_grad():
            g_base = g.clone()
            ctx.view_fn(g_base).zero_()
        g_view = ctx.view_fn(g)
        return g_base, g_view, None


def _view_chain(v):
    ops = []
    while v._base is not None and v is not v._base:
        ops.append(v._view_op)
        v = v._view_parent
    ops.reverse()

    def view_fn(t):
        for op in ops:
            t = op(t)
        return t
    return view_fn


def rebase_view(view, result):
    """After writing ``result`` into ``view`` in place, record it in the graph of view's base."""
    base = view if view._base is None else view._base  # no base: a constant written over all of it
    view_fn = _view_chain(view)
    out = CopySlices.apply(base._graph_alias(), result, view_fn)
    base._set_grad_fn(out._grad_fn, 0)
    fresh = view_fn(base)
    view._set_grad_fn(fresh._grad_fn, fresh._out_idx)


def contiguous(input, memory_format=None):
    """``input`` itself if contiguous, else a contiguous copy (see ``movement.Contiguous``)."""
    from .movement import contiguous as _contiguous
    return _contiguous(input, memory_format)


def atleast_1d(input):
    return input.reshape(1) if input.ndim == 0 else input


def atleast_2d(input):
    return input.reshape(1, -1) if input.ndim < 2 else input
