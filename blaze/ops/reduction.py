"""Reductions: sum, mean, prod, max/min (with indices), amax/amin, arg*, var/std, logsumexp, norm, cumsum, all/any."""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from .. import dtypes as _dt
from ..autograd.function import _TRACING, Function
from ._util import Tensor, dims_of, make

values_indices = namedtuple("values_indices", ["values", "indices"])


def _axis(axes, ndim):
    """Backend axis argument: None for a full reduction (cheaper in NumPy), else a tuple."""
    return None if len(axes) == ndim else axes


def _expand_back(g, shape, axes, keepdim):
    """Broadcast a reduced gradient back to the input's shape."""
    if not keepdim and axes and len(axes) != len(shape):
        kshape = [1 if i in axes else s for i, s in enumerate(shape)]
        g = g.reshape(kshape)
    return g.expand(shape)


def _count(shape, axes) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


class Sum(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, axes, keepdim, dtype):
        be = x._device.backend
        if dtype is None:
            dtype = _dt.int64 if x._dtype.category < 2 else x._dtype
        ax = _axis(axes, x.ndim)
        if dtype is x._dtype:
            data = be.reduce("sum", x._data, ax, keepdim)
        else:
            data = be.sum_to_dtype(x._data, ax, keepdim, dtype)
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return make(data, x._device, dtype)

    @staticmethod
    def backward(ctx, g):
        return _expand_back(g, ctx.shape, ctx.axes, ctx.keepdim), None, None, None


def sum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over ``dim`` (all dims when None), as ``torch.sum``."""
    return Sum.apply(input, dims_of(input, dim), keepdim, _dt.to_dtype(dtype) if dtype is not None else None)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating point "
                           f"or complex dtype. Got: {_dt.type_label(input.dtype)}")
    axes = dims_of(input, dim)
    n = _count(input.shape, axes)
    return Sum.apply(input, axes, keepdim, None) / builtins.max(n, 1) if n else \
        Sum.apply(input, axes, keepdim, None) * float("nan")


class Prod(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        be = x._device.backend
        dt = _dt.int64 if x._dtype.category < 2 else x._dtype
        data = x._data if dt is x._dtype else be.cast(x._data, dt)
        out = make(be.reduce("prod", data, _axis(axes, x.ndim), keepdim), x._device, dt)
        ctx.save_for_backward(x, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    def backward(ctx, g):
        # d prod / d x_i = prod / x_i; exact for inputs without zeros (see README: differences)
        x, out = ctx.saved_tensors
        return _expand_back(g * out, x.shape, ctx.axes, ctx.keepdim) / x, None, None


def prod(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return Prod.apply(input, dims_of(input, dim), keepdim)


class AMax(Function):
    _internal = True
    op = "amax"

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        if x.numel() == 0:
            raise RuntimeError(f"{ctx.op}(): Expected reduction dim to be specified for input.numel() == 0. "
                               "Specify the reduction dim with the 'dim' argument.")
        out = make(x._device.backend.reduce(ctx.op, x._data, _axis(axes, x.ndim), keepdim), x._device, x._dtype)
        ctx.save_for_backward(x, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    def backward(ctx, g):
        # ties share the gradient evenly, as PyTorch's amax/amin
        x, out = ctx.saved_tensors
        mask = (x == _expand_back(out, x.shape, ctx.axes, ctx.keepdim)).to(g.dtype)
        count = _expand_back(mask.sum(dim=ctx.axes, keepdim=ctx.keepdim), x.shape, ctx.axes, ctx.keepdim)
        return _expand_back(g, x.shape, ctx.axes, ctx.keepdim) * mask / count, None, None


class AMin(AMax):
    op = "amin"


def amax(input, dim=(), keepdim=False):
    return AMax.apply(input, dims_of(input, dim if dim != () else None), keepdim)


def amin(input, dim=(), keepdim=False):
    return AMin.apply(input, dims_of(input, dim if dim != () else None), keepdim)


def _arg(op, input, dim, keepdim):
    be = input._device.backend
    if dim is None:
        data = be.argreduce(op, input._data, None, keepdim)
    else:
        data = be.argreduce(op, input._data, input._wrap_dim(dim), keepdim)
    out = make(data, input._device, _dt.int64)
    if _TRACING[0] is not None:  # not a Function: tell blaze.onnx's tracer directly
        _TRACING[0].op(op, (input, dim, keepdim), out)
    return out


def argmax(input, dim=None, keepdim=False):
    return _arg("argmax", input, dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    return _arg("argmin", input, dim, keepdim)


def _max_min(op, input, dim, keepdim, other):
    if isinstance(dim, Tensor):
        other, dim = dim, None
    if other is not None:
        from . import pointwise
        return (pointwise.maximum if op == "argmax" else pointwise.minimum)(input, other)
    if dim is None:
        return (amax if op == "argmax" else amin)(input)
    d = input._wrap_dim(dim)
    idx = _arg(op, input, d, True)
    values = input.gather(d, idx)
    if not keepdim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return values_indices(values, idx)


def max(input, dim=None, keepdim=False, *, other=None):
    """``max(x)`` -> value; ``max(x, dim)`` -> (values, indices); ``max(x, y)`` -> elementwise."""
    return _max_min("argmax", input, dim, keepdim, other)


def min(input, dim=None, keepdim=False, *, other=None):
    return _max_min("argmin", input, dim, keepdim, other)


class Var(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, axes, correction, keepdim):
        out = make(x._device.backend.var(x._data, _axis(axes, x.ndim), correction, keepdim), x._device, x._dtype)
        ctx.save_for_backward(x)
        ctx.axes, ctx.correction, ctx.keepdim = axes, correction, keepdim
        return out

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        n = _count(x.shape, ctx.axes)
        centered = x - x.mean(dim=ctx.axes, keepdim=True)
        return _expand_back(g, x.shape, ctx.axes, ctx.keepdim) * centered * (2.0 / (n - ctx.correction)), \
            None, None, None


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance with Bessel's ``correction`` (default 1), as ``torch.var``."""
    if isinstance(dim, bool):
        unbiased, dim = dim, None
    return Var.apply(input, dims_of(input, dim), _correction(unbiased, correction), keepdim)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(input, dim, unbiased, keepdim, correction=correction).sqrt()


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


class LogSumExp(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        out = make(x._device.backend.logsumexp(x._data, axes, keepdim), x._device, x._dtype)
        ctx.save_for_backward(x, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        return _expand_back(g, x.shape, ctx.axes, ctx.keepdim) * \
            (x - _expand_back(out, x.shape, ctx.axes, ctx.keepdim)).exp(), None, None


def logsumexp(input, dim, keepdim=False):
    if not input.dtype.is_floating_point:
        input = input.to(_dt.get_default_dtype())
    return LogSumExp.apply(input, dims_of(input, dim), keepdim)


class Norm2(Function):
    """Euclidean norm; its gradient x / ||x|| is taken as 0 where the norm is 0, as PyTorch does."""
    _internal = True

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        with_grad = ctx.needs_input_grad[0]
        from ..autograd.grad_mode import no_grad
        with no_grad():
            out = (x * x).sum(dim=axes, keepdim=keepdim).sqrt()
        if with_grad:
            ctx.save_for_backward(x, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        safe = out.masked_fill(out == 0, 1.0)
        scale = (g / safe).masked_fill(out == 0, 0.0)
        return x * _expand_back(scale, x.shape, ctx.axes, ctx.keepdim), None, None


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector p-norm over ``dim`` (all elements when None), as ``torch.norm``."""
    if dtype is not None:
        input = input.to(dtype)
    if p in ("fro", 2, 2.0):
        return Norm2.apply(input, dims_of(input, dim), keepdim)
    if p in (float("inf"), "inf"):
        return input.abs().amax(dim=dim if dim is not None else (), keepdim=keepdim)
    if p in (float("-inf"), "-inf"):
        return input.abs().amin(dim=dim if dim is not None else (), keepdim=keepdim)
    if p == 1:
        return input.abs().sum(dim=dim, keepdim=keepdim)
    if p == 0:
        return (input != 0).to(input.dtype).sum(dim=dim, keepdim=keepdim)
    if isinstance(p, (int, float)):
        return (input.abs() ** p).sum(dim=dim, keepdim=keepdim) ** (1.0 / p)
    raise ValueError(f"norm: unsupported p={p!r}")


class CumSum(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, axis, dtype):
        if dtype is None:
            dtype = _dt.int64 if x._dtype.category < 2 else x._dtype
        ctx.axis = axis
        data = x._device.backend.cumsum(x._data, axis, dtype)
        if x.ndim == 0:  # NumPy's cumsum of a 0-d array has shape (1,)
            data = x._device.backend.reshape(data, ())
        return make(data, x._device, dtype)

    @staticmethod
    def backward(ctx, g):
        return g.flip(ctx.axis).cumsum(ctx.axis).flip(ctx.axis), None, None


def cumsum(input, dim, *, dtype=None):
    return CumSum.apply(input, input._wrap_dim(dim), _dt.to_dtype(dtype) if dtype is not None else None)


class CumProd(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, axis):
        dt = x._dtype if x._dtype.category == 2 else _dt.int64
        data = x._device.backend.cumprod(x._data, axis, dt)
        if x.ndim == 0:
            data = x._device.backend.reshape(data, ())
        out = make(data, x._device, dt)
        ctx.save_for_backward(x, out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        # d out_j / d x_i = prod_{k<=j, k!=i} x_k, so grad_i = out_{i-1} * S_i with
        # S_i = g_i + x_{i+1} * S_{i+1} (a reverse scan). Exact with zeros, unlike out / x.
        x, out = ctx.saved_tensors
        if x.ndim == 0:
            return g, None
        d = ctx.axis
        n = x.shape[d]
        if n == 0:
            return g, None
        from .movement import cat
        from .creation import ones
        s = [None] * n
        s[n - 1] = g.narrow(d, n - 1, 1)
        for i in range(n - 2, -1, -1):
            s[i] = g.narrow(d, i, 1) + x.narrow(d, i + 1, 1) * s[i + 1]
        shape = list(x.shape)
        shape[d] = 1
        excl = cat([ones(shape, dtype=out.dtype, device=out.device), out.narrow(d, 0, n - 1)], d)
        return excl * cat(s, d), None


def cumprod(input, dim, *, dtype=None):
    """Cumulative product along ``dim``; its gradient is exact also when the input has zeros."""
    if dtype is not None:
        input = input.to(dtype)
    return CumProd.apply(input, input._wrap_dim(dim))


def all(input, dim=None, keepdim=False):
    be = input._device.backend
    return make(be.reduce("all", input._data, _axis(dims_of(input, dim), input.ndim) if dim is not None else None,
                          keepdim), input._device, _dt.bool_)


def any(input, dim=None, keepdim=False):
    be = input._device.backend
    return make(be.reduce("any", input._data, _axis(dims_of(input, dim), input.ndim) if dim is not None else None,
                          keepdim), input._device, _dt.bool_)


def count_nonzero(input, dim=None):
    return (input != 0).sum(dim=dim)


def aminmax(input, *, dim=None, keepdim=False):
    return namedtuple("aminmax", ["min", "max"])(amin(input, dim if dim is not None else (), keepdim),
                                                 amax(input, dim if dim is not None else (), keepdim))


def median(input, dim=None, keepdim=False):
    """Lower median, as ``torch.median``."""
    if dim is None:
        flat = input.reshape(-1)
        if flat.numel() == 0:  # PyTorch returns NaN (cast to the dtype); the sum keeps the graph
            if flat.dtype.is_floating_point:
                return flat.sum() * float("nan")
            with np.errstate(invalid="ignore"):  # NaN -> int64 is INT64_MIN, as PyTorch's cast gives
                return flat.sum().to(_dt.float64).mul(float("nan")).to(flat.dtype)
        k = (flat.numel() - 1) // 2
        value = flat.detach().sort().values[k]
        # PyTorch spreads the gradient evenly over every element equal to the median
        tie = (flat == value).to(flat.dtype)
        return (flat * tie).sum() / tie.sum()
    d = input._wrap_dim(dim)
    if input.ndim and input.shape[d] == 0:
        raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size.")
    vals, idx = input.sort(dim=d)
    k = (input.shape[d] - 1) // 2
    v, i = vals.narrow(d, k, 1), idx.narrow(d, k, 1)
    if not keepdim:
        v, i = v.squeeze(d), i.squeeze(d)
    return values_indices(v, i)

