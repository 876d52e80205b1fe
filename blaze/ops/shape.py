"""Shape and movement ops. Views (reshape, permute, expand, slicing, ...) share memory and a
version counter with their base; copies (cat, flip, pad, ...) make new memory.

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
    sizes = _infer_shape(sizes, n, None) if -1 in sizes or True else sizes
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
        from .. import dtypes as _dt
        out = be.full(tuple(shape), 0, g._dtype)
        be.setitem(out, key, g._data)
        ctx.key = key
        _ = _dt
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
    d1, d2 = input._wrap_dim(dim1), input._wrap_dim(dim2)
    eye_mask = _diag_mask(input, offset, d1, d2)
    # diagonal as a masked sum over dim2: a copy, differentiable through ops
    return (input * eye_mask).sum(d2).movedim(d1 if d1 < d2 else d1 - 1, -1).narrow(
        -1, builtins.max(0, -offset), _diag_len(input.shape[d1], input.shape[d2], offset))


def _diag_len(n, m, offset):
    return builtins.max(0, builtins.min(n + builtins.min(offset, 0), m - builtins.max(offset, 0)))


def _diag_mask(input, offset, d1, d2):
    from .creation import eye
    n, m = input.shape[d1], input.shape[d2]
    e = eye(n, m + builtins.abs(offset), dtype=input.dtype, device=input.device)
    e = e[:, builtins.abs(offset):] if offset >= 0 else eye(n + builtins.abs(offset), m, dtype=input.dtype,
                                                                 device=input.device)[builtins.abs(offset):, :]
    shape = [1] * input.ndim
    shape[d1], shape[d2] = n, m
    return e.reshape(shape)


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
    base = view._base
    view_fn = _view_chain(view)
    shell = Tensor._make(base._data, base._device, base._dtype)
    shell._rg, shell._grad_fn, shell._out_idx, shell._acc = base._rg, base._grad_fn, base._out_idx, base._acc
    out = CopySlices.apply(shell, result, view_fn)
    base._set_grad_fn(out._grad_fn, 0)
    fresh = view_fn(base)
    view._set_grad_fn(fresh._grad_fn, fresh._out_idx)


# ---------------------------------------------------------------------------- copies
class Contiguous(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x):
        return make(x._device.backend.contiguous(x._data) if not x.is_contiguous() else
                    x._device.backend.copy(x._data), x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        return g


def contiguous(input, memory_format=None):
    return input if input.is_contiguous() else Contiguous.apply(input)


def clone(input, *, memory_format=None):
    return Contiguous.apply(input)


class Cat(Function):
    _internal = True

    @staticmethod
    def forward(ctx, axis, *xs):
        ctx.axis, ctx.sizes = axis, [x.shape[axis] for x in xs]
        return make(xs[0]._device.backend.cat([x._data for x in xs], axis), xs[0]._device, xs[0]._dtype)

    @staticmethod
    def backward(ctx, g):
        return (None,) + split(g, ctx.sizes, ctx.axis)


def cat(tensors, dim=0, *, out=None):
    """Concatenate along ``dim``, as ``torch.cat`` (dtypes promote; shapes must agree off ``dim``)."""
    tensors = [t for t in tensors]
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    from .. import dtypes as _dt
    from ._util import same_device
    same_device(*tensors)
    # legacy: 1-D empty tensors are skipped
    nonempty = [t for t in tensors if not (t.ndim == 1 and t.numel() == 0)] or tensors[:1]
    ref = nonempty[0]
    d = ref._wrap_dim(dim)
    for i, t in enumerate(nonempty):
        if t.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}")
        for k in range(ref.ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected size "
                                   f"{ref.shape[k]} but got size {t.shape[k]} for tensor number {i} in the list.")
    dt = nonempty[0].dtype
    for t in nonempty[1:]:
        dt = _dt.promote_types(dt, t.dtype)
    nonempty = [t if t.dtype is dt else t.to(dt) for t in nonempty]
    r = Cat.apply(d, *nonempty)
    return r if out is None else out.copy_(r)


concat = concatenate = cat


def stack(tensors, dim=0, *, out=None):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 and "
                               f"{list(t.shape)} at entry {i}")
    d = tensors[0]._wrap_dim(dim, tensors[0].ndim + 1)
    r = cat([unsqueeze(t, d) for t in tensors], d)
    return r if out is None else out.copy_(r)


def hstack(tensors):
    tensors = list(tensors)
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([t.reshape(1, -1) if t.ndim == 1 else t for t in tensors], 0)


class Flip(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return make(x._device.backend.flip(x._data, axes), x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        return g.flip(ctx.axes), None


def flip(input, *dims):
    dims = _shape_arg(dims)
    return Flip.apply(input, tuple(input._wrap_dim(d) for d in dims))


def fliplr(input):
    return flip(input, 1)


def flipud(input):
    return flip(input, 0)


class Roll(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, shifts, axes):
        ctx.shifts, ctx.axes = shifts, axes
        return make(x._device.backend.roll(x._data, shifts, axes), x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        neg = tuple(-s for s in ctx.shifts) if isinstance(ctx.shifts, tuple) else -ctx.shifts
        return Roll.apply(g, neg, ctx.axes), None, None


def roll(input, shifts, dims=None):
    if dims is None:
        return Roll.apply(input.reshape(-1), shifts, None).reshape(input.shape)
    if isinstance(shifts, int):
        shifts, dims = (shifts,), (dims,) if isinstance(dims, int) else tuple(dims)
    dims = tuple(input._wrap_dim(d) for d in (dims if isinstance(dims, (tuple, list)) else (dims,)))
    if len(tuple(shifts)) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(tuple(shifts))}, dims:{len(dims)}")
    return Roll.apply(input, tuple(shifts), dims)


class Tri(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, k, upper):
        if x.ndim < 2:
            raise RuntimeError(f"{'triu' if upper else 'tril'}: input tensor must have at least 2 dimensions")
        ctx.k, ctx.upper = k, upper
        be = x._device.backend
        return make((be.triu if upper else be.tril)(x._data, k), x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        return Tri.apply(g, ctx.k, ctx.upper), None, None


def tril(input, diagonal=0):
    return Tri.apply(input, diagonal, False)


def triu(input, diagonal=0):
    return Tri.apply(input, diagonal, True)


class Pad(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, pad_width, value):
        ctx.pad_width = pad_width
        be = x._device.backend
        crop = any(lo < 0 or hi < 0 for lo, hi in pad_width)
        data = x._data
        if crop:  # negative padding crops
            key = tuple(slice(-lo if lo < 0 else 0, (s + hi) if hi < 0 else None)
                        for (lo, hi), s in zip(pad_width, x.shape))
            data = be.getitem(data, key)
            pad_width = tuple((builtins.max(lo, 0), builtins.max(hi, 0)) for lo, hi in pad_width)
        return make(be.pad(data, pad_width, value), x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        return Pad.apply(g, tuple((-lo, -hi) for lo, hi in ctx.pad_width), 0), None, None


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dims, as ``torch.nn.functional.pad`` (constant mode here)."""
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.ndim}")
    width = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        width[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if mode != "constant":
        from .indexing import pad_nonconstant
        return pad_nonconstant(input, tuple(width), mode)
    return Pad.apply(input, tuple(width), 0 if value is None else value)


class Repeat(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, reps):
        ctx.in_shape, ctx.reps = x.shape, reps
        data = x._device.backend.reshape(x._data, (1,) * (len(reps) - x.ndim) + tuple(x.shape)) \
            if len(reps) > x.ndim else x._data
        return make(x._device.backend.repeat(data, reps), x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        shape = (1,) * (len(ctx.reps) - len(ctx.in_shape)) + tuple(ctx.in_shape)
        split_shape = []
        for r, s in zip(ctx.reps, shape):
            split_shape += [r, s]
        g = g.reshape(split_shape).sum(dim=tuple(range(0, 2 * len(shape), 2)))  # (r0, s0, r1, s1, ...) -> (s...)
        return g.reshape(ctx.in_shape), None


def repeat(input, *sizes):
    reps = _shape_arg(sizes)
    if len(reps) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           "tensor")
    return Repeat.apply(input, reps)


def tile(input, dims):
    dims = tuple(dims)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, dims)


def repeat_interleave(input, repeats, dim=None):
    if dim is None:
        input, dim = input.reshape(-1), 0
    d = input._wrap_dim(dim)
    if isinstance(repeats, int):
        shape = list(input.shape)
        x = unsqueeze(input, d + 1)
        exp = list(x.shape)
        exp[d + 1] = repeats
        shape[d] *= repeats
        return x.expand(exp).reshape(shape)
    from .indexing import index_select
    from .creation import arange
    idx = make(input._device.backend.repeat_interleave(arange(input.shape[d])._data, repeats._data
                                                       if isinstance(repeats, Tensor) else repeats, 0))
    return index_select(input, d, idx)


def meshgrid(*tensors, indexing="ij"):
    tensors = _shape_arg_tensors(tensors)
    shape = [t.numel() for t in tensors]
    out = []
    for i, t in enumerate(tensors):
        s = [1] * len(tensors)
        s[i] = -1
        out.append(t.reshape(s).expand(shape))
    if indexing == "xy" and len(tensors) >= 2:
        out = [o.transpose(0, 1) for o in out]
    return tuple(out)


def _shape_arg_tensors(ts):
    return tuple(ts[0]) if len(ts) == 1 and isinstance(ts[0], (list, tuple)) else ts


def atleast_1d(input):
    return input.reshape(1) if input.ndim == 0 else input


def atleast_2d(input):
    return input.reshape(1, -1) if input.ndim < 2 else input
