"""Movement ops that copy: contiguous/clone, cat/stack, flip, roll, tril/triu, pad, repeat.

Views (reshape, permute, expand, slicing, ...) live in ``shape.py``; everything here makes
new memory, and each backward is again one of these ops or a view.
"""
from __future__ import annotations

import builtins

from ..autograd.function import Function
from ._util import Tensor, make
from .shape import _shape_arg, split, unsqueeze


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
    if any(r < 0 for r in reps):
        padded = (1,) * (len(reps) - input.ndim) + tuple(input.shape)
        out = [r * s for r, s in zip(reps, padded)]
        bad = next((s for s in out if s < 0), None)
        if bad is not None:
            raise RuntimeError(f"Trying to create tensor with negative dimension {bad}: {out}")
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
