"""3-D and adaptive-max pooling, LP pooling and max-unpooling, composed over ``windows.gather_windows``.

The 1-D/2-D max/avg pools keep their backend primitives (pooling.py); everything here is a
max/sum over gathered windows, so forward and backward run unchanged on every device.
"""
from __future__ import annotations

import math

import numpy as np

from ...ops.creation import tensor as _tensor
from ...ops.movement import pad as _pad
from .activation import relu
from .pooling import _batched, _check_geometry, _out_size, avg_pool1d, avg_pool2d
from .windows import adaptive_table, flat_positions, gather_windows, ntuple, sliding_table

__all__ = ["max_pool3d", "avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
           "adaptive_avg_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_unpool1d", "max_unpool2d",
           "max_unpool3d"]


def _sliding(x, nd, kernel_size, stride, padding, dilation, ceil_mode, what):
    """Validated (k, s, p, d) tuples, output sizes and (O, K) tables in padded coordinates."""
    k = ntuple(kernel_size, nd, "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else ntuple(stride, nd, "stride")
    p, d = ntuple(padding, nd, "padding"), ntuple(dilation, nd, "dilation")
    _check_geometry(k, s, p, d, what)
    sizes = tuple(x.shape[2:])
    outs = tuple(_out_size(L, *a, ceil_mode) for L, a in zip(sizes, zip(k, s, p, d)))
    if min(outs) <= 0:
        raise RuntimeError(f"Given input size: ({'x'.join(map(str, x.shape[1:]))}). Calculated output size: "
                           f"({'x'.join(map(str, (x.shape[1],) + outs))}). Output size is too small")
    tables = [sliding_table(o, *a) for o, a in zip(outs, zip(k, s, d))]
    return k, s, p, sizes, outs, tables


def _pad_for(x, tables, p, sizes, value):
    """Pad left by p and right so that every table position (a ceil_mode window too) is in range."""
    width = []
    for tab, pi, L in zip(reversed(tables), reversed(p), reversed(sizes)):
        width += [pi, max(int(tab.max()) + 1 - (L + pi), 0)]
    return _pad(x, width, "constant", value) if any(width) else x


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3-D max pooling over (N, C, D, H, W), as ``torch.nn.functional.max_pool3d``.

    Indices are flat d*H*W + h*W + w per plane (MaxUnpool3d's input); ties go to the first
    window element in (kd, kh, kw) order, as PyTorch.
    """
    x, unbatched = _batched(input, 3, "max_pool3d")
    k, s, p, sizes, outs, tables = _sliding(x, 3, kernel_size, stride, padding, dilation, ceil_mode, "max_pool3d")
    w = gather_windows(_pad_for(x, tables, p, sizes, float("-inf")), tables)   # (N, C, *O, K)
    out, arg = w.max(-1)
    if unbatched:
        out = out.squeeze(0)
    if not return_indices:
        return out
    idx = _indices_at(arg, tables, p, sizes)
    return out, (idx.squeeze(0) if unbatched else idx)


def _indices_at(arg, tables, shifts, sizes):
    """Window-local argmax (N, C, *O) -> flat input index (N, C, *O)."""
    flat = _tensor(flat_positions(tables, shifts, sizes), device=arg.device)          # (*O, K)
    full = flat.expand(tuple(arg.shape) + (flat.shape[-1],))
    return full.gather(-1, arg.unsqueeze(-1)).squeeze(-1)


def _avg_divisor(L, o, k, s, p, count_include_pad):
    start = np.arange(o) * s - p
    end = np.minimum(start + k, L + p)
    pool = end - start
    cnt = np.minimum(end, L) - np.maximum(start, 0)
    return pool if count_include_pad else cnt


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """3-D average pooling, as ``torch.nn.functional.avg_pool3d`` (same divisor rules as avg_pool2d)."""
    x, unbatched = _batched(input, 3, "avg_pool3d")
    k, s, p, sizes, outs, tables = _sliding(x, 3, kernel_size, stride, padding, 1, ceil_mode, "avg_pool3d")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    total = gather_windows(_pad_for(x, tables, p, sizes, 0.0), tables).sum(-1)      # (N, C, *O)
    if divisor_override is not None:
        y = total / float(divisor_override)
    else:
        divs = [_avg_divisor(L, o, ki, si, pi, count_include_pad) for L, o, ki, si, pi in zip(sizes, outs, k, s, p)]
        div = divs[0][:, None, None] * divs[1][None, :, None] * divs[2][None, None, :]   # (OD, OH, OW)
        y = total / _tensor(div.astype(np.float64), dtype=x.dtype, device=x.device)
    return y.squeeze(0) if unbatched else y


def _adaptive_sizes(output_size, x, nd):
    o = ntuple(output_size, nd, "output_size") if not isinstance(output_size, (list, tuple)) or \
        None not in output_size else tuple(output_size)
    if len(o) != nd:
        raise ValueError(f"output_size must be an int or a tuple of {nd} ints, got {output_size!r}")
    o = tuple(int(x.shape[2 + i]) if v is None else int(v) for i, v in enumerate(o))
    if min(o) < 0 or (min(o) == 0 and x.numel()):
        raise RuntimeError(f"adaptive pooling: output_size must be positive, got {output_size}")
    return o


def _adaptive_max(input, output_size, return_indices, nd, what):
    x, unbatched = _batched(input, nd, what)
    if any(L == 0 for L in x.shape[2:]):
        raise RuntimeError(f"{what}(): Expected input to have non-zero size for non-batch dimensions, but input "
                           f"has sizes {list(input.shape)} with dimension {input.ndim - nd} being empty")
    osz = _adaptive_sizes(output_size, x, nd)
    sizes = tuple(x.shape[2:])
    tables = [adaptive_table(L, o)[0] for L, o in zip(sizes, osz)]
    out, arg = gather_windows(x, tables).max(-1)
    if unbatched:
        out = out.squeeze(0)
    if not return_indices:
        return out
    idx = _indices_at(arg, tables, (0,) * nd, sizes)
    return out, (idx.squeeze(0) if unbatched else idx)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max over window floor(i*L/O) .. ceil((i+1)*L/O) of (N, C, L), as PyTorch's; indices into L."""
    return _adaptive_max(input, output_size, return_indices, 1, "adaptive_max_pool1d")


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Adaptive 2-D max pooling; output_size int, pair, or None entries (keep that size)."""
    return _adaptive_max(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Adaptive 3-D max pooling of (N, C, D, H, W); indices flat over D*H*W."""
    return _adaptive_max(input, output_size, return_indices, 3, "adaptive_max_pool3d")


def adaptive_avg_pool3d(input, output_size):
    """Adaptive 3-D average pooling: a weighted sum over each window (weights 1/len, 0 on repeats)."""
    x, unbatched = _batched(input, 3, "adaptive_avg_pool3d")
    osz = _adaptive_sizes(output_size, x, 3)
    tabs = [adaptive_table(L, o) for L, o in zip(x.shape[2:], osz)]
    ws = [(np.arange(t.shape[1])[None, :] < n[:, None]) / n[:, None] for t, n in tabs]   # (O_i, K_i)
    wt = ws[0][:, None, None, :, None, None] * ws[1][None, :, None, None, :, None] * ws[2][None, None, :, None, None, :]
    wt = _tensor(wt.reshape(osz + (-1,)), dtype=x.dtype, device=x.device)               # (*O, K)
    y = (gather_windows(x, [t for t, _ in tabs]) * wt).sum(-1)
    return y.squeeze(0) if unbatched else y


def _lp(out, norm_type, k):
    # PyTorch's formula: sign(out) * relu(|out|) keeps a negative mean (odd p) from reaching pow
    return (out.sign() * relu(out.abs())).mul(float(math.prod(k))).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over window of x^p)^(1/p), as ``torch.nn.functional.lp_pool1d`` (an avg_pool times K)."""
    st = kernel_size if stride is None else stride
    out = avg_pool1d(input.pow(norm_type), kernel_size, st, 0, ceil_mode)
    return _lp(out, norm_type, ntuple(kernel_size, 1, "kernel_size"))


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """2-D power-average pooling, as ``torch.nn.functional.lp_pool2d``."""
    st = kernel_size if stride is None else stride
    out = avg_pool2d(input.pow(norm_type), kernel_size, st, 0, ceil_mode)
    return _lp(out, norm_type, ntuple(kernel_size, 2, "kernel_size"))


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """3-D power-average pooling, as ``torch.nn.functional.lp_pool3d``."""
    out = avg_pool3d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return _lp(out, norm_type, ntuple(kernel_size, 3, "kernel_size"))


def _max_unpool(input, indices, kernel_size, stride, padding, output_size, nd, what):
    k = ntuple(kernel_size, nd, "kernel_size")
    s = k if stride is None else ntuple(stride, nd, "stride")
    p = ntuple(padding, nd, "padding")
    x, unbatched = _batched(input, nd, what)
    idx = indices.unsqueeze(0) if unbatched else indices
    if tuple(idx.shape) != tuple(x.shape):
        raise RuntimeError(f"Expected shape of indices to be same as that of the input tensor ({list(input.shape)}) "
                           f"but got indices tensor with shape: {list(indices.shape)}")
    if idx.dtype.is_floating_point:
        raise RuntimeError(f"elements in indices should be type int64 but got: {idx.dtype}")
    default = tuple((x.shape[2 + i] - 1) * s[i] - 2 * p[i] + k[i] for i in range(nd))
    if output_size is None:
        osz = default
    else:
        osz = tuple(int(v) for v in output_size)
        osz = osz[-nd:] if len(osz) in (nd + 1, nd + 2) else osz
        if len(osz) != nd:
            raise ValueError(f"output_size should be a sequence containing {nd} or {nd + 2} elements, but it has a "
                             f"length of '{len(output_size)}'")
        for i in range(nd):
            lo, hi = default[i] - s[i], default[i] + s[i]
            if not lo < osz[i] < hi:
                raise ValueError(f"invalid output_size \"{list(osz)}\" (dim {i} must be between {lo} and {hi})")
    total = math.prod(osz)
    N, C = x.shape[:2]
    flat_idx = idx.reshape(N, C, -1)
    if flat_idx.device.type == "cpu" and flat_idx.numel():
        # a host check is free on the CPU (on cuda it would be a sync per call)
        lo, hi = int(flat_idx._data.min()), int(flat_idx._data.max())
        if lo < 0 or hi >= total:
            bad = lo if lo < 0 else hi
            raise RuntimeError(f"Found an invalid max index: {bad} (output volumes are of size "
                               f"{'x'.join(map(str, osz))}")
    out = x.new_zeros((N, C, total)).scatter(2, flat_idx, x.reshape(N, C, -1))
    out = out.reshape((N, C) + osz)
    return out.squeeze(0) if unbatched else out


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool1d: input values placed at ``indices``, zeros elsewhere."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d")


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool2d, as ``torch.nn.functional.max_unpool2d``."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d")


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool3d, as ``torch.nn.functional.max_unpool3d``."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 3, "max_unpool3d")
