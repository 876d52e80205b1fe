"""Pooling and resampling: max/avg pool (1-D, 2-D), adaptive avg pool, interpolate.

Every op here except max pool's argmax is a *linear* map A of its input (max pool is
linear once the argmax indices are fixed), so one Function serves all of them: it applies
A (or its adjoint A^T) through backend primitives, and its backward applies the other one.
That keeps gradients of gradients exact for free (A^T^T = A).
"""
from __future__ import annotations

import math

from ... import dtypes as _dt
from ...autograd.function import Function
from ...ops._util import make

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]


def _pair(v, name):
    t = (v, v) if isinstance(v, int) else tuple(int(i) for i in v)
    if len(t) == 1:
        t = t * 2
    if len(t) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return t


class _LinearMap:
    """A linear map between (N, C, H, W) arrays given by a forward and an adjoint primitive call."""

    def __init__(self, in_shape, out_shape, fwd, adj):
        self.in_shape, self.out_shape, self.fwd, self.adj = tuple(in_shape), tuple(out_shape), fwd, adj


class _Apply(Function):
    """y = A x (transpose False) or A^T x (transpose True); the backward applies the other."""
    _internal = True

    @staticmethod
    def forward(ctx, x, op, transpose):
        ctx.op, ctx.transpose = op, transpose
        be = x._device.backend
        y = op.adj(be, x._data) if transpose else op.fwd(be, x._data)
        return make(y, x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        return _Apply.apply(g, ctx.op, not ctx.transpose), None, None


class _MaxPool2d(Function):
    """Forward picks the argmax; the backward is the adjoint of "gather at those indices"."""
    _internal = True

    @staticmethod
    def forward(ctx, x, geo):
        k, s, p, d, ceil = geo
        be = x._device.backend
        out, idx = be.max_pool2d(x._data, k, s, p, d, ceil)
        in_shape, out_shape = tuple(x.shape), tuple(out.shape)
        N, C = in_shape[:2]
        flat_idx = be.reshape(idx, (N, C, -1))

        def gather(be, a):       # (N, C, H, W) -> values at the argmax positions
            return be.reshape(be.gather(be.reshape(a, (N, C, -1)), 2, flat_idx), out_shape)

        def scatter(be, g):      # (N, C, OH, OW) -> dx, overlapping windows accumulate
            return be.max_pool2d_backward(g, idx, in_shape, k, s, p, d, ceil)

        ctx.op = _LinearMap(in_shape, out_shape, gather, scatter)
        indices = make(idx, x._device, _dt.int64)
        ctx.mark_non_differentiable(indices)
        return make(out, x._device, x._dtype), indices

    @staticmethod
    def backward(ctx, g, _gi=None):
        return _Apply.apply(g, ctx.op, True), None


def _batched(input, nd, what):
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{what}: Expected {nd + 1}D or {nd + 2}D input, but got input of size {list(input.shape)}")
    return (input.unsqueeze(0), True) if input.ndim == nd + 1 else (input, False)


def _out_size(size, k, s, p, d, ceil_mode):
    o = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (o - 1) * s >= size + p:   # the last window must start inside input or left pad
        o -= 1
    return o


def _check_geometry(k, s, p, d, what):
    if min(k) <= 0 or min(s) <= 0 or min(d) <= 0:
        raise RuntimeError(f"{what}: kernel_size {k}, stride {s} and dilation {d} must be greater than zero")
    for pi, ki in zip(p, k):
        if pi < 0 or pi > ki // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={pi}, "
                               f"kernel_size={ki}")


def _pool_args(x, kernel_size, stride, padding, dilation, ceil_mode, what):
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair(stride, "stride")
    p, d = _pair(padding, "padding"), _pair(dilation, "dilation")
    _check_geometry(k, s, p, d, what)
    oh = _out_size(x.shape[2], k[0], s[0], p[0], d[0], ceil_mode)
    ow = _out_size(x.shape[3], k[1], s[1], p[1], d[1], ceil_mode)
    if oh <= 0 or ow <= 0:
        raise RuntimeError(f"Given input size: ({'x'.join(map(str, x.shape[1:]))}). Calculated output size: "
                           f"({x.shape[1]}x{oh}x{ow}). Output size is too small")
    return k, s, p, d, (x.shape[0], x.shape[1], oh, ow)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``; indices are flat h*W + w per plane."""
    x, unbatched = _batched(input, 2, "max_pool2d")
    k, s, p, d, _ = _pool_args(x, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    out, idx = _MaxPool2d.apply(x, (k, s, p, d, bool(ceil_mode)))
    if unbatched:
        out, idx = out.squeeze(0), idx.squeeze(0)
    return (out, idx) if return_indices else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d`` (same divisor rules)."""
    x, unbatched = _batched(input, 2, "avg_pool2d")
    k, s, p, _, out_shape = _pool_args(x, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    args = (k, s, p, bool(ceil_mode), bool(count_include_pad), divisor_override)
    in_shape = tuple(x.shape)
    op = _LinearMap(in_shape, out_shape, lambda be, a: be.avg_pool2d(a, *args),
                    lambda be, g: be.avg_pool2d_backward(g, in_shape, *args))
    y = _Apply.apply(x, op, False)
    return y.squeeze(0) if unbatched else y


def _adaptive_size(output_size, x):
    if isinstance(output_size, int):
        return (output_size, output_size)
    return tuple(x.shape[2 + i] if o is None else int(o) for i, o in enumerate(output_size))


def adaptive_avg_pool2d(input, output_size):
    """Adaptive 2-D average pooling: window i spans floor(i*H/OH) .. ceil((i+1)*H/OH)."""
    x, unbatched = _batched(input, 2, "adaptive_avg_pool2d")
    osz = _adaptive_size(output_size, x)
    if min(osz) <= 0:
        raise RuntimeError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size}")
    in_shape = tuple(x.shape)
    op = _LinearMap(in_shape, in_shape[:2] + osz, lambda be, a: be.adaptive_avg_pool2d(a, osz),
                    lambda be, g: be.adaptive_avg_pool2d_backward(g, in_shape))
    y = _Apply.apply(x, op, False)
    return y.squeeze(0) if unbatched else y


def _one_d(fn, input, *args):
    """Run a 2-D pooling op on (N, C, L) as (N, C, 1, L)."""
    return fn(input.unsqueeze(-2), *args).squeeze(-2)


def _first(v):
    return v if isinstance(v, int) or v is None else int(v[0])


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling over (N, C, L); indices index into L."""
    st = None if stride is None or (not isinstance(stride, int) and len(stride) == 0) else (1, _first(stride))
    r = max_pool2d(input.unsqueeze(-2), (1, _first(kernel_size)), st, (0, _first(padding)), (1, _first(dilation)),
                   ceil_mode, return_indices)
    if return_indices:
        return r[0].squeeze(-2), r[1].squeeze(-2)
    return r.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling over (N, C, L)."""
    st = None if stride is None or (not isinstance(stride, int) and len(stride) == 0) else (1, _first(stride))
    return _one_d(avg_pool2d, input, (1, _first(kernel_size)), st, (0, _first(padding)), ceil_mode,
                  count_include_pad)


def adaptive_avg_pool1d(input, output_size):
    return _one_d(adaptive_avg_pool2d, input, (1, _first(output_size)))


_INTERP_MODES = ("nearest", "nearest-exact", "linear", "bilinear")


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize (N, C, H, W) images, as ``torch.nn.functional.interpolate``.

    Modes: 'nearest', 'nearest-exact', 'bilinear' (4-D), 'linear' / nearest (3-D (N, C, L));
    align_corners False/True for the linear modes. Give either
    ``size`` or ``scale_factor``; with scale_factor the output is floor(H * scale) and the
    source coordinates use 1/scale, as PyTorch (unless recompute_scale_factor=True).
    """
    if mode not in _INTERP_MODES:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported (supported: {_INTERP_MODES})")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if input.ndim == 3 and mode in ("nearest", "nearest-exact", "linear"):   # (N, C, L) as (N, C, 1, L)
        one = lambda v: None if v is None else (1, v if isinstance(v, (int, float)) else v[0])  # noqa: E731
        return interpolate(input.unsqueeze(2), one(size), one(scale_factor) if scale_factor is None else
                           (1.0, float(scale_factor if isinstance(scale_factor, (int, float)) else scale_factor[0])),
                           "bilinear" if mode == "linear" else mode, align_corners,
                           recompute_scale_factor).squeeze(2)
    if input.ndim != 4 or mode == "linear":
        raise NotImplementedError(f"Input Error: Only 4D input Tensors are supported for {mode} (got "
                                  f"{input.ndim}D; 'linear' takes 3D input)")
    if align_corners is not None and mode.startswith("nearest"):
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear | "
                         "bicubic | trilinear")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    H, W = input.shape[2:]
    scales = None
    if size is not None:
        osz = _pair(size, "size")
    else:
        sf = (float(scale_factor),) * 2 if isinstance(scale_factor, (int, float)) else tuple(map(float, scale_factor))
        osz = (int(math.floor(H * sf[0])), int(math.floor(W * sf[1])))
        scales = None if recompute_scale_factor else sf
    if min(osz) <= 0:
        raise ValueError(f"interpolate: output size {osz} must be positive")
    in_shape = tuple(input.shape)
    ac = bool(align_corners)
    op = _LinearMap(in_shape, in_shape[:2] + osz, lambda be, a: be.interpolate2d(a, osz, mode, ac, scales),
                    lambda be, g: be.interpolate2d_backward(g, in_shape, mode, ac, scales))
    return _Apply.apply(input, op, False)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
