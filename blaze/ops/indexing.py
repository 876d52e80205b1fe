"""Indexing: ``__getitem__``/``__setitem__``, gather/scatter, index_select/index_add, masked ops,
sort/topk and multinomial.

Basic indexing (ints, slices with steps, None, Ellipsis) makes views; integer-array and
boolean-mask indexing makes copies whose backward accumulates into zeros (duplicate
indices add up, as in PyTorch).
"""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from .. import dtypes as _dt
from ..autograd.function import Function
from ..devices.cuda.memory import reporting_as
from ..random import default_generator
from ._util import Tensor, broadcast_error, make, same_device, unbroadcast
from .shape import slice_view

sort_result = namedtuple("sort", ["values", "indices"])
topk_result = namedtuple("topk", ["values", "indices"])


def _is_basic(k) -> bool:
    return k is None or k is Ellipsis or isinstance(k, slice) or (isinstance(k, (int, np.integer)) and
                                                                   not isinstance(k, bool))


def _index_error(e: IndexError, x) -> IndexError:
    msg = str(e).replace("axis", "dimension")
    if "out of bounds" in msg:
        return IndexError(msg)
    return IndexError(f"{msg} (indexing a tensor of shape {list(x.shape)})")


def _to_key(key, x):
    """Convert a user key to the backend's form (tensors -> arrays), checking devices."""
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if isinstance(k, Tensor):
            if k._device is not x._device and k._device.type != "cpu":
                raise RuntimeError(f"indices should be either on {x._device} or on cpu")
            if not (k._dtype.category <= 1):
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            # a cpu index stays on the host: the cuda backend checks its range there before uploading
            out.append(k._data if k._device is x._device else k.numpy())
        elif isinstance(k, (list, range, np.ndarray)):
            arr = np.asarray(k)
            if arr.size == 0 and not isinstance(k, np.ndarray):
                arr = arr.astype(np.int64)  # PyTorch reads an empty list or range as an empty long index
            if arr.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            out.append(arr)
        elif isinstance(k, bool):
            out.append(k)
        elif isinstance(k, type(x._data)) and not _is_basic(k):  # a key converted once already (setitem)
            out.append(k)
        elif _is_basic(k):
            out.append(int(k) if isinstance(k, np.integer) else k)
        else:
            raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
                             f"valid indices (got {type(k).__name__})")
    return tuple(out)


class IndexGet(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, key):
        try:
            data = x._device.backend.getitem(x._data, key)
        except IndexError as e:
            raise _index_error(e, x) from None
        ctx.in_shape, ctx.key = x.shape, key
        return make(data, x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        return IndexAccumulate.apply(g, ctx.in_shape, ctx.key), None


class IndexAccumulate(Function):
    """Zeros of ``shape`` with ``g`` added at ``key`` (duplicates add); backward is ``gg[key]``."""
    _internal = True

    @staticmethod
    def forward(ctx, g, shape, key):
        be = g._device.backend
        out = be.full(tuple(shape), 0, g._dtype)
        be.index_put(out, key, g._data, True)
        ctx.key = key
        return make(out, g._device, g._dtype)

    @staticmethod
    def backward(ctx, gg):
        return IndexGet.apply(gg, ctx.key), None, None


def getitem(x, key):
    """``x[key]``: a view for basic keys, a copy for integer-array / boolean-mask keys."""
    if x.ndim == 0 and not isinstance(key, (tuple, type(None), type(Ellipsis))) and not isinstance(key, Tensor):
        raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in "
                         "C++ to convert a 0-dim tensor to a number")
    k = _to_key(key, x)
    if all(_is_basic(i) for i in k):
        _check_basic(x, k)
        return slice_view(x, k if len(k) != 1 else k[0])
    return IndexGet.apply(x, k if len(k) != 1 else k[0])


def _check_basic(x, key):
    """Raise PyTorch's IndexError for an int index out of range (NumPy's message says 'axis')."""
    dim = 0
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_real > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    for k in key:
        if k is Ellipsis:
            dim += x.ndim - n_real
            continue
        if k is None:
            continue
        if isinstance(k, int):
            size = x.shape[dim]
            if not -size <= k < size:
                raise IndexError(f"index {k} is out of bounds for dimension {dim} with size {size}")
        dim += 1


def setitem(x, key, value):
    """``x[key] = value`` in place (value broadcasts and casts to x's dtype)."""
    k = _to_key(key, x)
    if all(_is_basic(i) for i in k):
        _check_basic(x, k)
        slice_view(x, k if len(k) != 1 else k[0]).copy_(value)
    else:
        index_put_(x, k if len(k) != 1 else k[0], value)


class IndexPut(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, key, v, accumulate):
        be = x._device.backend
        out = be.copy(x._data)
        vd = v._data if isinstance(v, Tensor) else v
        if isinstance(v, Tensor) and v._dtype is not x._dtype:
            vd = be.cast(vd, x._dtype)
        try:
            be.index_put(out, key, vd, accumulate)
        except IndexError as e:
            raise _index_error(e, x) from None
        except ValueError as e:
            raise RuntimeError(f"shape mismatch: value tensor of shape {list(getattr(v, 'shape', ()))} cannot be "
                               f"broadcast to indexing result ({e})") from None
        ctx.key, ctx.accumulate = key, accumulate
        ctx.v_shape = v.shape if isinstance(v, Tensor) else None
        return make(out, x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        gx = g if ctx.accumulate else IndexPut.apply(g, ctx.key, 0.0, False)
        gv = None
        if ctx.v_shape is not None and ctx.needs_input_grad[2]:
            gv = IndexGet.apply(g, ctx.key)
            gv = unbroadcast(gv, ctx.v_shape) if tuple(gv.shape) != tuple(ctx.v_shape) else gv
        return gx, None, gv, None


def index_put(input, indices, values, accumulate=False):
    key = _to_key(tuple(indices) if isinstance(indices, list) else indices, input)
    return IndexPut.apply(input, key if len(key) != 1 else key[0], values, accumulate)


def index_put_(input, indices, values, accumulate=False):
    return input._inplace_apply(index_put, indices, values, accumulate)


# ---------------------------------------------------------------------------- gather / scatter
def _check_index(op, x, dim, index, need_same_rank=True, src=None):
    if not isinstance(index, Tensor) or index.dtype is not _dt.int64:
        raise RuntimeError(f"{op}(): Expected dtype int64 for index")
    same_device(x, src)  # a cpu index with a cuda input is accepted (moved), as for x[idx]
    if need_same_rank and index.ndim != x.ndim and not (index.ndim == 0 or x.ndim == 0):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    size = x.shape[dim] if x.ndim else 1
    if index.device.type == "cpu" and index.numel():
        lo, hi = int(index._data.min()), int(index._data.max())
        if lo < -size or hi >= size:
            bad = hi if hi >= size else lo
            raise IndexError(f"index {bad} is out of bounds for dimension {dim} with size {size}")


class Gather(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.dim, ctx.shape = dim, x.shape
        ctx.save_for_backward(index)
        return make(x._device.backend.gather(x._data, dim, index._data), x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        from .creation import zeros
        return scatter_add(zeros(ctx.shape, dtype=g.dtype, device=g.device), ctx.dim, index, g), None, None


def gather(input, dim, index, *, sparse_grad=False):
    d = input._wrap_dim(dim)
    _check_index("gather", input, d, index)
    return Gather.apply(input, d, index)


def take_along_dim(input, indices, dim=None):
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    return gather(input, dim, indices)


class Scatter(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, dim, index, src, reduce):
        be = x._device.backend
        s = src._data if isinstance(src, Tensor) else be.full(tuple(index.shape), src, x._dtype)
        if isinstance(src, Tensor) and src._dtype is not x._dtype:
            s = be.cast(s, x._dtype)
        if isinstance(src, Tensor) and tuple(src.shape) != tuple(index.shape):
            key = tuple(slice(0, n) for n in index.shape)
            s = be.getitem(s, key)
        ctx.dim, ctx.reduce = dim, reduce
        ctx.save_for_backward(index)
        return make(be.scatter(x._data, dim, index._data, s, reduce), x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        gx = g if ctx.reduce == "add" else Scatter.apply(g, ctx.dim, index, 0.0, None)
        gs = g.gather(ctx.dim, index) if ctx.needs_input_grad[3] else None
        return gx, None, None, gs, None


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """Out-of-place ``scatter``: ``out[index[i][j]][j] = src[i][j]`` for dim 0, as ``torch.scatter``."""
    d = input._wrap_dim(dim)
    _check_index("scatter", input, d, index, src=src)
    if src is None:
        src = value
    if reduce not in (None, "add"):
        raise RuntimeError(f"scatter(): reduce argument must be either add or None, got {reduce}")
    return Scatter.apply(input, d, index, src, reduce)


def scatter_add(input, dim, index, src):
    d = input._wrap_dim(dim)
    _check_index("scatter_add", input, d, index, src=src)
    return Scatter.apply(input, d, index, src, "add")


def scatter_(input, dim, index, src=None, *, value=None, reduce=None):
    return input._inplace_apply(scatter, dim, index, src, value=value, reduce=reduce)


def scatter_add_(input, dim, index, src):
    return input._inplace_apply(scatter_add, dim, index, src)


class ScatterReduce(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, dim, index, src, reduce, include_self):
        be = x._device.backend
        s = src._data if src._dtype is x._dtype else be.cast(src._data, x._dtype)
        out = make(be.scatter_reduce(x._data, dim, index._data, s, reduce, include_self), x._device, x._dtype)
        ctx.save_for_backward(x, index, src, out)
        ctx.dim, ctx.reduce, ctx.include_self = dim, reduce, include_self
        return out

    @staticmethod
    def backward(ctx, g):
        x, index, src, out = ctx.saved_tensors
        d, reduce = ctx.dim, ctx.reduce
        src = src.narrow(d, 0, index.shape[d]) if src.shape[d] != index.shape[d] else src
        from .creation import zeros_like
        hit = scatter_add(zeros_like(x), d, index, _ones_like(src, x.dtype))  # how many src land on each slot
        keep_self = (hit == 0) if not ctx.include_self else None          # slots whose own value takes part
        if reduce == "sum":
            gx = g if keep_self is None else g * keep_self
            gs = g.gather(d, index)
        elif reduce == "mean":
            count = hit + (1 if keep_self is None else keep_self.to(hit.dtype))
            gm = g / count.clamp(min=1)
            gx = gm if keep_self is None else gm * keep_self
            gs = gm.gather(d, index)
        elif reduce == "prod":  # out / value: exact for inputs without zeros, like prod's gradient
            gx = g * out / x if keep_self is None else g * keep_self
            gs = (g * out).gather(d, index) / src
        else:  # amax / amin: the winners share the gradient evenly, as PyTorch
            self_tie = (x == out).to(g.dtype)
            # PyTorch counts a tying self value even when include_self=False (it then gets no gradient)
            self_win = self_tie if keep_self is None else self_tie * keep_self
            src_win = (src == out.gather(d, index)).to(g.dtype)
            count = self_tie + scatter_add(zeros_like(out), d, index, src_win)
            share = g / count.clamp(min=1)
            gx = share * self_win
            gs = share.gather(d, index) * src_win
        return gx, None, None, gs, None, None


def _ones_like(t, dtype):
    from .creation import ones
    return ones(tuple(t.shape), dtype=dtype, device=t.device)


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """Fold ``src`` into ``input`` at ``index`` with ``reduce`` in sum/prod/mean/amax/amin, as PyTorch."""
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    d = input._wrap_dim(dim)
    _check_index("scatter_reduce", input, d, index, src=src)
    return ScatterReduce.apply(input, d, index, src, reduce, include_self)


def scatter_reduce_(input, dim, index, src, reduce, *, include_self=True):
    return input._inplace_apply(scatter_reduce, dim, index, src, reduce, include_self=include_self)


def index_select(input, dim, index):
    d = input._wrap_dim(dim)
    if not isinstance(index, Tensor) or index.dtype.category != 1 or index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector of dtype int64/int32")
    _check_index("index_select", input, d, index, need_same_rank=False)
    key = (slice(None),) * d + (index._device.backend.reshape(index._data, (-1,)),)
    with reporting_as("index_select"):
        return IndexGet.apply(input, key)


def index_add(input, dim, index, source, *, alpha=1):
    d = input._wrap_dim(dim)
    _check_index("index_add", input, d, index, need_same_rank=False, src=source)
    key = (slice(None),) * d + (index._device.backend.reshape(index._data, (-1,)),)
    with reporting_as("index_add"):
        return IndexPut.apply(input, key, source * alpha if alpha != 1 else source, True)


def index_add_(input, dim, index, source, *, alpha=1):
    return input._inplace_apply(index_add, dim, index, source, alpha=alpha)


def index_fill(input, dim, index, value):
    """``input`` with ``value`` at ``index`` along ``dim``; no gradient reaches the filled positions."""
    d = input._wrap_dim(dim)
    _check_index("index_fill_", input, d, index, need_same_rank=False)
    if index.ndim > 1:
        raise IndexError("Index has to be a vector/scalar")
    key = (slice(None),) * d + (index._device.backend.reshape(index._data, (-1,)),)
    with reporting_as("index_fill"):
        if not isinstance(value, Tensor):
            return IndexPut.apply(input, key, value, False)
        if value.ndim != 0:
            raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        # a tensor value's gradient counts each filled element once, even for a repeated index
        from .creation import zeros
        mask = IndexPut.apply(zeros(input.shape, dtype=_dt.bool_, device=input.device), key, True, False)
        return masked_fill(input, mask, value)


def index_fill_(input, dim, index, value):
    return input._inplace_apply(index_fill, dim, index, value)


def masked_fill(input, mask, value):
    """Fill where ``mask`` is True with ``value`` (a number or a 0-dim tensor)."""
    if not isinstance(mask, Tensor) or mask.dtype is not _dt.bool_:
        raise RuntimeError("masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{getattr(mask, 'dtype', type(mask).__name__)}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        value = value.to(input.dtype)
    elif isinstance(value, float) and not input.dtype.is_floating_point:
        value = int(value)
    from .pointwise import where
    out = where(mask, value, input)
    return out if tuple(out.shape) == tuple(input.shape) else out.expand(input.shape)


def masked_fill_(input, mask, value):
    if isinstance(mask, Tensor) and tuple(mask.shape) != tuple(input.shape):
        try:
            shape = np.broadcast_shapes(tuple(input.shape), tuple(mask.shape))
        except ValueError:
            raise broadcast_error(input.shape, mask.shape) from None
        if shape != tuple(input.shape):
            raise RuntimeError(f"output with shape {list(input.shape)} doesn't match the broadcast shape "
                               f"{list(shape)}")
    return input._inplace_apply(masked_fill, mask, value)


def masked_select(input, mask):
    shape = np.broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    return getitem(input.expand(shape), mask.expand(shape))


def nonzero(input, *, as_tuple=False):
    idx = make(input._device.backend.nonzero(input._data), input._device, _dt.int64)
    if as_tuple:
        return tuple(idx[:, i] for i in range(idx.shape[1])) if input.ndim else (idx.reshape(-1),)
    return idx


def argwhere(input):
    return nonzero(input)


# ---------------------------------------------------------------------------- sort / topk
def sort(input, dim=-1, descending=False, stable=False):
    """Sorted values and their indices along ``dim``; values are a gather, so gradients flow."""
    if input.ndim == 0:
        from .creation import zeros
        return sort_result(input.clone(), zeros((), dtype=_dt.int64, device=input.device))
    d = input._wrap_dim(dim)
    _, idx = input._device.backend.sort(input._data, d, descending, stable)
    indices = make(idx, input._device, _dt.int64)
    return sort_result(Gather.apply(input, d, indices), indices)


def argsort(input, dim=-1, descending=False, stable=False):
    return sort(input, dim, descending, stable).indices


def msort(input):
    return sort(input, 0).values


def topk(input, k, dim=-1, largest=True, sorted=True):
    if input.ndim == 0:
        input._wrap_dim(dim)
        if k not in (0, 1):
            raise RuntimeError(f"selected index k out of range (k={k}, a 0-dim tensor has 1 element)")
        from .creation import zeros
        return topk_result(input.clone(), zeros((), dtype=_dt.int64, device=input.device))
    d = input._wrap_dim(dim)
    n = input.shape[d] if input.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"selected index k out of range (k={k}, size along dim {d} is {n})")
    _, idx = input._device.backend.topk(input._data, k, d, largest, sorted)
    indices = make(idx, input._device, _dt.int64)
    return topk_result(Gather.apply(input, d, indices), indices)


def kthvalue(input, k, dim=-1, keepdim=False):
    d = input._wrap_dim(dim)
    vals, idx = sort(input, d)
    v, i = vals.narrow(d, k - 1, 1), idx.narrow(d, k - 1, 1)
    if not keepdim:
        v, i = v.squeeze(d), i.squeeze(d)
    return sort_result(v, i)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Draw category indices with probabilities proportional to ``input``'s rows."""
    if input.ndim not in (1, 2):
        raise RuntimeError(f"prob_dist must be 1 or 2 dim, got {input.ndim}")
    n = input.shape[-1]
    if not replacement and num_samples > n:
        raise RuntimeError(f"cannot sample n_sample > prob_dist.size(-1) samples without replacement "
                           f"(n_sample={num_samples}, categories={n})")
    p = input.detach().cpu().numpy().astype(np.float64)
    if (p < 0).any() or not np.isfinite(p).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (p.sum(-1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    gen = generator or default_generator
    from ..devices import get_backend
    from ..device import CPU
    out = get_backend(CPU).multinomial(p, num_samples, replacement, gen)
    return make(out).to(input.device)


def bucketize(input, boundaries, *, right=False):
    side = "left" if not right else "right"
    return make(np.searchsorted(boundaries.numpy(), input.numpy(), side=side).astype(np.int64))


def searchsorted(sorted_sequence, values, *, right=False, side=None):
    side = side or ("right" if right else "left")
    return make(np.searchsorted(sorted_sequence.numpy(), values.numpy(), side=side).astype(np.int64))


# ---------------------------------------------------------------------------- non-constant pad
def pad_nonconstant(input, width, mode):
    """Reflect / replicate / circular padding as index_select per dim (differentiable)."""
    out = input
    for d, (lo, hi) in enumerate(width):
        if lo < 0 or hi < 0:  # negative padding crops before the rest is padded
            n = out.shape[d]
            start, stop = builtins.max(-lo, 0), n - builtins.max(-hi, 0)
            out = out.narrow(d, start, builtins.max(stop - start, 0))
            lo, hi = builtins.max(lo, 0), builtins.max(hi, 0)
        if lo == 0 and hi == 0:
            continue
        n = out.shape[d]
        i = np.arange(-lo, n + hi)
        if mode == "reflect":
            if lo >= n or hi >= n:
                raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input "
                                   f"dimension, but got: padding ({lo}, {hi}) at dimension {d} of input "
                                   f"{list(input.shape)}")
            period = 2 * (n - 1)
            i = np.abs(i) % period if period else np.zeros_like(i)
            i = np.where(i >= n, period - i, i)
        elif mode == "replicate":
            i = np.clip(i, 0, n - 1)
        elif mode == "circular":
            i = i % n
        else:
            raise NotImplementedError(f"padding mode {mode!r}")
        idx = make(i.astype(np.int64))
        out = index_select(out, d, idx.to(input.device))
    return out
