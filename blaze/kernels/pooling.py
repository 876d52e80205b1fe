"""2-D pooling over (N, C, H, W) buffers of any strides: max (with PyTorch's argmax
indices), average (count_include_pad, divisor_override, ceil_mode) and adaptive average.

Forward: one program handles BLOCK output elements and walks its KH x KW window
(read N*C*OH*OW*KH*KW elements, mostly cache hits; write N*C*OH*OW).

Backward is written as a *gather* over input pixels rather than a scatter over windows:
each dx element visits the <= KH*KW windows that can contain it and sums their grads
(max: only where the saved index points at this pixel). No atomics, no zero-filled fp32
buffer, deterministic even where windows overlap (stride < kernel), and dx is written in
x's dtype directly. Reads N*C*H*W*KH*KW/(SH*SW) (dy, idx) pairs on average.
"""
from __future__ import annotations

import triton
import triton.language as tl

from blaze.kernels.buffer import check_buffer
from blaze.kernels.index import numel
from blaze.kernels.registry import Tunable, config_for, launch_options, register

FLOATS = ("float32", "float16", "bfloat16")


@triton.jit
def _split(lin, C, A, B):
    # flat index over (N, C, A, B) -> n, c, a, b
    b = lin % B
    t = lin // B
    a = t % A
    t = t // A
    return t // C, t % C, a, b


@triton.jit
def _max_pool_fwd_kernel(x_ptr, out_ptr, idx_ptr, total, C, H, W, OH, OW,
                         xs0, xs1, xs2, xs3, os0, os1, os2, os3, is0, is1, is2, is3,
                         SH, SW, PH, PW, DH, DW,
                         KH: tl.constexpr, KW: tl.constexpr, BLOCK: tl.constexpr):
    lin = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = lin < total
    n, c, oh, ow = _split(lin, C, OH, OW)
    base = x_ptr + n * xs0 + c * xs1
    best = tl.full((BLOCK,), float("-inf"), tl.float32)
    arg = tl.full((BLOCK,), -1, tl.int64)
    for kh in tl.static_range(KH):
        h = oh * SH - PH + kh * DH
        for kw in tl.static_range(KW):
            w = ow * SW - PW + kw * DW
            ok = m & (h >= 0) & (h < H) & (w >= 0) & (w < W)
            v = tl.load(base + h * xs2 + w * xs3, mask=ok, other=float("-inf")).to(tl.float32)
            # PyTorch: first maximum wins; NaN propagates; an all -inf window points at its first pixel
            take = ok & ((v > best) | (v != v) | (arg < 0))
            best = tl.where(take, v, best)
            arg = tl.where(take, h * W + w, arg)
    tl.store(out_ptr + n * os0 + c * os1 + oh * os2 + ow * os3, best.to(out_ptr.dtype.element_ty), mask=m)
    tl.store(idx_ptr + n * is0 + c * is1 + oh * is2 + ow * is3, arg, mask=m)


@triton.jit
def _window_start(o, S, P, D, k):
    # the output index whose window holds this pixel at tap k, and whether there is one
    num = o + P - k * D
    q = tl.where(num >= 0, num, 0) // S
    return q, (num >= 0) & (num == q * S)


@triton.jit
def _max_pool_bwd_kernel(dy_ptr, idx_ptr, dx_ptr, total, C, H, W, OH, OW,
                         gs0, gs1, gs2, gs3, is0, is1, is2, is3, ds0, ds1, ds2, ds3,
                         SH, SW, PH, PW, DH, DW,
                         KH: tl.constexpr, KW: tl.constexpr, BLOCK: tl.constexpr):
    lin = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = lin < total
    n, c, h, w = _split(lin, C, H, W)
    acc = tl.zeros((BLOCK,), tl.float32)
    for kh in tl.static_range(KH):
        oh, okh = _window_start(h, SH, PH, DH, kh)
        for kw in tl.static_range(KW):
            ow, okw = _window_start(w, SW, PW, DW, kw)
            ok = m & okh & okw & (oh < OH) & (ow < OW)
            i = tl.load(idx_ptr + n * is0 + c * is1 + oh * is2 + ow * is3, mask=ok, other=-1)
            hit = ok & (i == h * W + w)
            acc += tl.load(dy_ptr + n * gs0 + c * gs1 + oh * gs2 + ow * gs3, mask=hit, other=0).to(tl.float32)
    tl.store(dx_ptr + n * ds0 + c * ds1 + h * ds2 + w * ds3, acc.to(dx_ptr.dtype.element_ty), mask=m)


@triton.jit
def _avg_divisor(oh, ow, H, W, SH, SW, PH, PW, KH: tl.constexpr, KW: tl.constexpr,
                 COUNT_PAD: tl.constexpr, HAS_DIV: tl.constexpr, divisor):
    # PyTorch's avg_pool2d: the window is clipped to the padded input for count_include_pad,
    # to the input itself otherwise; divisor_override replaces both
    hs = oh * SH - PH
    ws = ow * SW - PW
    he = tl.minimum(hs + KH, H + PH)
    we = tl.minimum(ws + KW, W + PW)
    if COUNT_PAD:
        area = (he - hs) * (we - ws)
    else:
        area = (tl.minimum(he, H) - tl.maximum(hs, 0)) * (tl.minimum(we, W) - tl.maximum(ws, 0))
    if HAS_DIV:
        area = area * 0 + divisor   # stays a block even when divisor arrives as the constant 1
    return area.to(tl.float32)


@triton.jit
def _avg_pool_fwd_kernel(x_ptr, out_ptr, total, C, H, W, OH, OW,
                         xs0, xs1, xs2, xs3, os0, os1, os2, os3, SH, SW, PH, PW, divisor,
                         KH: tl.constexpr, KW: tl.constexpr, COUNT_PAD: tl.constexpr, HAS_DIV: tl.constexpr,
                         BLOCK: tl.constexpr):
    lin = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = lin < total
    n, c, oh, ow = _split(lin, C, OH, OW)
    base = x_ptr + n * xs0 + c * xs1
    acc = tl.zeros((BLOCK,), tl.float32)
    for kh in tl.static_range(KH):
        h = oh * SH - PH + kh
        for kw in tl.static_range(KW):
            w = ow * SW - PW + kw
            ok = m & (h >= 0) & (h < H) & (w >= 0) & (w < W)
            acc += tl.load(base + h * xs2 + w * xs3, mask=ok, other=0).to(tl.float32)
    div = _avg_divisor(oh, ow, H, W, SH, SW, PH, PW, KH, KW, COUNT_PAD, HAS_DIV, divisor)
    tl.store(out_ptr + n * os0 + c * os1 + oh * os2 + ow * os3, (acc / div).to(out_ptr.dtype.element_ty), mask=m)


@triton.jit
def _avg_pool_bwd_kernel(dy_ptr, dx_ptr, total, C, H, W, OH, OW,
                         gs0, gs1, gs2, gs3, ds0, ds1, ds2, ds3, SH, SW, PH, PW, divisor,
                         KH: tl.constexpr, KW: tl.constexpr, COUNT_PAD: tl.constexpr, HAS_DIV: tl.constexpr,
                         BLOCK: tl.constexpr):
    lin = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = lin < total
    n, c, h, w = _split(lin, C, H, W)
    acc = tl.zeros((BLOCK,), tl.float32)
    for kh in tl.static_range(KH):
        oh, okh = _window_start(h, SH, PH, 1, kh)
        for kw in tl.static_range(KW):
            ow, okw = _window_start(w, SW, PW, 1, kw)
            ok = m & okh & okw & (oh < OH) & (ow < OW)
            g = tl.load(dy_ptr + n * gs0 + c * gs1 + oh * gs2 + ow * gs3, mask=ok, other=0).to(tl.float32)
            acc += g / _avg_divisor(oh, ow, H, W, SH, SW, PH, PW, KH, KW, COUNT_PAD, HAS_DIV, divisor)
    tl.store(dx_ptr + n * ds0 + c * ds1 + h * ds2 + w * ds3, acc.to(dx_ptr.dtype.element_ty), mask=m)


@triton.jit
def _adaptive_fwd_kernel(x_ptr, out_ptr, total, C, H, W, OH, OW,
                         xs0, xs1, xs2, xs3, os0, os1, os2, os3,
                         KH_MAX: tl.constexpr, KW_MAX: tl.constexpr, BLOCK: tl.constexpr):
    lin = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = lin < total
    n, c, oh, ow = _split(lin, C, OH, OW)
    hs = (oh * H) // OH                       # floor(oh * H / OH)
    he = ((oh + 1) * H + OH - 1) // OH        # ceil((oh + 1) * H / OH)
    ws = (ow * W) // OW
    we = ((ow + 1) * W + OW - 1) // OW
    base = x_ptr + n * xs0 + c * xs1
    acc = tl.zeros((BLOCK,), tl.float32)
    for kh in tl.static_range(KH_MAX):
        for kw in tl.static_range(KW_MAX):
            ok = m & (hs + kh < he) & (ws + kw < we)
            acc += tl.load(base + (hs + kh) * xs2 + (ws + kw) * xs3, mask=ok, other=0).to(tl.float32)
    area = ((he - hs) * (we - ws)).to(tl.float32)
    tl.store(out_ptr + n * os0 + c * os1 + oh * os2 + ow * os3, (acc / area).to(out_ptr.dtype.element_ty), mask=m)


@triton.jit
def _adaptive_bwd_kernel(dy_ptr, dx_ptr, total, C, H, W, OH, OW,
                         gs0, gs1, gs2, gs3, ds0, ds1, ds2, ds3,
                         TH_MAX: tl.constexpr, TW_MAX: tl.constexpr, BLOCK: tl.constexpr):
    lin = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = lin < total
    n, c, h, w = _split(lin, C, H, W)
    # pixel h lies in windows oh = floor(h*OH/H) .. ceil((h+1)*OH/H) - 1
    oh0 = (h * OH) // H
    oh1 = ((h + 1) * OH + H - 1) // H
    ow0 = (w * OW) // W
    ow1 = ((w + 1) * OW + W - 1) // W
    acc = tl.zeros((BLOCK,), tl.float32)
    for th in tl.static_range(TH_MAX):
        oh = oh0 + th
        area_h = ((oh + 1) * H + OH - 1) // OH - (oh * H) // OH
        for tw in tl.static_range(TW_MAX):
            ow = ow0 + tw
            area_w = ((ow + 1) * W + OW - 1) // OW - (ow * W) // OW
            ok = m & (oh < oh1) & (ow < ow1)
            g = tl.load(dy_ptr + n * gs0 + c * gs1 + oh * gs2 + ow * gs3, mask=ok, other=0).to(tl.float32)
            acc += g / (area_h * area_w).to(tl.float32)
    tl.store(dx_ptr + n * ds0 + c * ds1 + h * ds2 + w * ds3, acc.to(dx_ptr.dtype.element_ty), mask=m)


# ---------------------------------------------------------------------------------------
# launchers
# ---------------------------------------------------------------------------------------
def _pair(v, name):
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 2 or not all(isinstance(i, int) for i in t):
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return t


def out_size(size, k, s, p, d=1, ceil_mode=False):
    """PyTorch's pooling output size along one dim."""
    o = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (o - 1) * s >= size + p:   # the last window must start inside input or left pad
        o -= 1
    return o


def _window(x_shape, kernel_size, stride, padding, dilation, ceil_mode, half_of):
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or stride == () or stride == [] else _pair(stride, "stride")
    p, d = _pair(padding, "padding"), _pair(dilation, "dilation")
    if min(k) <= 0 or min(s) <= 0 or min(d) <= 0 or min(p) < 0:
        raise ValueError(f"pooling: kernel_size {k}, stride {s}, dilation {d} must be positive and padding {p} >= 0")
    for pi, ki, di in zip(p, k, d):
        if pi > half_of(ki, di) // 2:
            raise ValueError(f"pad should be at most half of effective kernel size, got padding {p} for kernel {k}")
    H, W = x_shape[2], x_shape[3]
    OH, OW = out_size(H, k[0], s[0], p[0], d[0], ceil_mode), out_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    if OH <= 0 or OW <= 0:
        raise ValueError(f"pooling: output size {(OH, OW)} is too small for input {tuple(x_shape)} and kernel {k}")
    return k, s, p, d, (x_shape[0], x_shape[1], OH, OW)


def _check4(name, buf, dtypes=FLOATS):
    check_buffer(name, buf, ndim=4, dtypes=dtypes)


def _out(out, like, shape, dtype, name="out"):
    if out is None:
        return like.new(shape, dtype)
    check_buffer(name, out, ndim=4, dtypes=(str(dtype),))
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(out.shape)}")
    return out


def _grid_meta(total, dtype, config):
    cfg = config or config_for("pooling", dict(numel=total, dtype=str(dtype)))
    meta, opts = launch_options(cfg)
    return (triton.cdiv(total, meta["BLOCK"]),), meta, opts


def _check_dy(dy, want):
    _check4("dy", dy)
    if tuple(dy.shape) != tuple(want):
        raise ValueError(f"dy: expected the forward's output shape {tuple(want)}, got {tuple(dy.shape)}")


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               out=None, indices=None, config=None):
    """``F.max_pool2d(..., return_indices=True)``: returns (out, indices).

    indices are int64 flat positions h * W + w inside each (n, c) plane.
    """
    _check4("x", x)
    k, s, p, d, oshape = _window(x.shape, kernel_size, stride, padding, dilation, ceil_mode,
                                 lambda ki, di: (ki - 1) * di + 1)
    out = _out(out, x, oshape, x.dtype)
    indices = _out(indices, x, oshape, "int64", "indices")
    total = numel(oshape)
    if total:
        grid, meta, opts = _grid_meta(total, x.dtype, config)
        _max_pool_fwd_kernel[grid](x, out, indices, total, x.shape[1], x.shape[2], x.shape[3], oshape[2], oshape[3],
                                   *x.strides, *out.strides, *indices.strides, *s, *p, *d,
                                   KH=k[0], KW=k[1], **meta, **opts)
    return out, indices


def max_pool2d_backward(dy, indices, input_shape, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False, out=None, config=None):
    """dx for :func:`max_pool2d` from dy and the saved indices (dy's dtype, input_shape)."""
    k, s, p, d, oshape = _window(tuple(input_shape), kernel_size, stride, padding, dilation, ceil_mode,
                                 lambda ki, di: (ki - 1) * di + 1)
    _check_dy(dy, oshape)
    _check4("indices", indices, ("int64",))
    if tuple(indices.shape) != tuple(oshape):
        raise ValueError(f"indices: expected shape {tuple(oshape)}, got {tuple(indices.shape)}")
    dx = _out(out, dy, input_shape, dy.dtype)
    total = numel(input_shape)
    if total:
        grid, meta, opts = _grid_meta(total, dy.dtype, config)
        _max_pool_bwd_kernel[grid](dy, indices, dx, total, input_shape[1], input_shape[2], input_shape[3],
                                   oshape[2], oshape[3], *dy.strides, *indices.strides, *dx.strides,
                                   *s, *p, *d, KH=k[0], KW=k[1], **meta, **opts)
    return dx


def _avg_args(x_shape, kernel_size, stride, padding, ceil_mode, divisor_override):
    k, s, p, _, oshape = _window(x_shape, kernel_size, stride, padding, 1, ceil_mode, lambda ki, di: ki)
    if divisor_override is not None and divisor_override <= 0:
        raise ValueError(f"divisor must be not zero, got divisor_override={divisor_override}")
    return k, s, p, oshape, int(divisor_override or 0)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, out=None, config=None):
    """``F.avg_pool2d`` with PyTorch's divisor rules."""
    _check4("x", x)
    k, s, p, oshape, div = _avg_args(x.shape, kernel_size, stride, padding, ceil_mode, divisor_override)
    out = _out(out, x, oshape, x.dtype)
    total = numel(oshape)
    if total:
        grid, meta, opts = _grid_meta(total, x.dtype, config)
        _avg_pool_fwd_kernel[grid](x, out, total, x.shape[1], x.shape[2], x.shape[3], oshape[2], oshape[3],
                                   *x.strides, *out.strides, *s, *p, div,
                                   KH=k[0], KW=k[1], COUNT_PAD=bool(count_include_pad), HAS_DIV=div > 0, **meta, **opts)
    return out


def avg_pool2d_backward(dy, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None, out=None, config=None):
    """dx for :func:`avg_pool2d` (dy's dtype, input_shape)."""
    k, s, p, oshape, div = _avg_args(tuple(input_shape), kernel_size, stride, padding, ceil_mode, divisor_override)
    _check_dy(dy, oshape)
    dx = _out(out, dy, input_shape, dy.dtype)
    total = numel(input_shape)
    if total:
        grid, meta, opts = _grid_meta(total, dy.dtype, config)
        _avg_pool_bwd_kernel[grid](dy, dx, total, input_shape[1], input_shape[2], input_shape[3], oshape[2], oshape[3],
                                   *dy.strides, *dx.strides, *s, *p, div,
                                   KH=k[0], KW=k[1], COUNT_PAD=bool(count_include_pad), HAS_DIV=div > 0, **meta, **opts)
    return dx


def _max_span(size, osize):
    """Largest adaptive window along one dim: max over i of ceil((i+1)*size/osize) - floor(i*size/osize)."""
    return max(-(-(i + 1) * size // osize) - (i * size) // osize for i in range(osize))


def adaptive_avg_pool2d(x, output_size, out=None, config=None):
    """``F.adaptive_avg_pool2d``: window i spans floor(i*H/OH) .. ceil((i+1)*H/OH)."""
    _check4("x", x)
    OH, OW = _pair(output_size, "output_size")
    if OH <= 0 or OW <= 0 or x.shape[2] <= 0 or x.shape[3] <= 0:
        raise ValueError(f"adaptive_avg_pool2d: output_size {(OH, OW)} and input {tuple(x.shape)} must be non-empty")
    oshape = (x.shape[0], x.shape[1], OH, OW)
    out = _out(out, x, oshape, x.dtype)
    total = numel(oshape)
    if total:
        grid, meta, opts = _grid_meta(total, x.dtype, config)
        _adaptive_fwd_kernel[grid](x, out, total, x.shape[1], x.shape[2], x.shape[3], OH, OW,
                                   *x.strides, *out.strides, KH_MAX=_max_span(x.shape[2], OH),
                                   KW_MAX=_max_span(x.shape[3], OW), **meta, **opts)
    return out


def adaptive_avg_pool2d_backward(dy, input_shape, out=None, config=None):
    """dx for :func:`adaptive_avg_pool2d` (dy's dtype, input_shape)."""
    _check4("dy", dy)
    N, C, H, W = input_shape
    if tuple(dy.shape[:2]) != (N, C):
        raise ValueError(f"dy: shape {tuple(dy.shape)} does not match input {tuple(input_shape)} in N, C")
    OH, OW = dy.shape[2], dy.shape[3]
    dx = _out(out, dy, input_shape, dy.dtype)
    total = numel(input_shape)
    if total:
        grid, meta, opts = _grid_meta(total, dy.dtype, config)
        _adaptive_bwd_kernel[grid](dy, dx, total, C, H, W, OH, OW, *dy.strides, *dx.strides,
                                   TH_MAX=_max_span(OH, H), TW_MAX=_max_span(OW, W), **meta, **opts)
    return dx


def pooling_heuristic(problem: dict) -> dict:
    n = problem["numel"]
    block = 512 if n >= 512 else max(16, triton.next_power_of_2(n))
    return dict(BLOCK=block, num_warps=4 if block >= 256 else 1)


def _make_pooling_problem(problem, new_buffer):
    # stand-in with the problem's element count: a 2x2/2 max pool of (1, 1, 2, 2*numel) -> numel outputs
    x = new_buffer((1, 1, 2, 2 * problem["numel"]), problem.get("dtype", "float32"))
    return lambda config: max_pool2d(x, 2, config=config)


POOLING = register(Tunable(
    name="pooling",
    configs=[dict(BLOCK=b, num_warps=w) for b in (128, 256, 512, 1024) for w in (1, 2, 4, 8)],
    heuristic=pooling_heuristic,
    make_problem=_make_pooling_problem,
    doc="max/avg/adaptive-avg pool2d forward and gather-form backward",
    problem_keys=("numel", "dtype"),
))
