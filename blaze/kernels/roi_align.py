"""RoIAlign forward and backward (Mask R-CNN, He et al. 2017; torchvision's ``roi_align`` semantics).

One program per (RoI, output cell, block of BLOCK_C channels). A cell averages gh x gw bilinear
samples of its bin (gh = sampling_ratio, or ceil(roi_h / PH) when sampling_ratio <= 0, so the
loop bounds are read from the RoI at run time). Each sample reads 4 pixels of BLOCK_C channels:
forward reads 4 * gh * gw * C values and writes C a cell; backward reads C and atomically adds
4 * gh * gw * C values into dx (float32, or float64 for float64 inputs: bins overlap, so the
adds race, and fp16 atomics would round every add).
Samples more than one pixel outside the image read 0; others clamp to the border pixel.
"""
from __future__ import annotations

import triton
import triton.language as tl

from blaze._env import interpret
from blaze.kernels.buffer import check_buffer
from blaze.kernels.registry import Tunable, config_for, launch_options, register

FLOATS = ("float32", "float16", "bfloat16", "float64")


@triton.jit
def _sample(y, x, H, W):
    """Bilinear corners and weights of one sample point (torchvision's ``bilinear_interpolate``)."""
    ok = (y >= -1.0) & (y <= H) & (x >= -1.0) & (x <= W)
    y = tl.maximum(y, 0.0)
    x = tl.maximum(x, 0.0)
    # clamped below too: a NaN or huge coordinate converts to an arbitrary int (its weight is 0 via ok or
    # the clamp, but the address must stay inside the plane)
    y_lo = tl.maximum(tl.minimum(y, H).to(tl.int32), 0)
    x_lo = tl.maximum(tl.minimum(x, W).to(tl.int32), 0)
    y_last = y_lo >= H - 1
    x_last = x_lo >= W - 1
    y_lo = tl.where(y_last, H - 1, y_lo)
    x_lo = tl.where(x_last, W - 1, x_lo)
    y_hi = tl.where(y_last, H - 1, y_lo + 1)
    x_hi = tl.where(x_last, W - 1, x_lo + 1)
    ly = tl.where(y_last, 0.0, y - y_lo)
    lx = tl.where(x_last, 0.0, x - x_lo)
    okf = tl.where(ok, 1.0, 0.0)
    return y_lo, y_hi, x_lo, x_hi, (1.0 - ly) * okf, ly * okf, 1.0 - lx, lx


@triton.jit
def _roi_geometry(r_ptr, k, stride_r, PH, PW, scale, SR, ALIGNED: tl.constexpr, F64: tl.constexpr):
    """(batch, y1, x1, bin_h, bin_w, gh, gw) of RoI k; float64 geometry for float64 inputs (F64)."""
    rp = r_ptr + k.to(tl.int64) * stride_r
    b = tl.load(rp).to(tl.int64)
    off = 0.5 if ALIGNED else 0.0
    x1 = tl.load(rp + 1).to(tl.float64 if F64 else tl.float32) * scale - off
    y1 = tl.load(rp + 2).to(tl.float64 if F64 else tl.float32) * scale - off
    rw = tl.load(rp + 3).to(tl.float64 if F64 else tl.float32) * scale - off - x1
    rh = tl.load(rp + 4).to(tl.float64 if F64 else tl.float32) * scale - off - y1
    if not ALIGNED:  # legacy: malformed RoIs are forced to 1x1
        rw = tl.maximum(rw, 1.0)
        rh = tl.maximum(rh, 1.0)
    bh = rh / PH
    bw = rw / PW
    if SR > 0:
        gh = SR + tl.zeros([], tl.int32)
        gw = SR + tl.zeros([], tl.int32)
    else:
        gh = tl.maximum(tl.ceil(bh), 0.0).to(tl.int32)
        gw = tl.maximum(tl.ceil(bw), 0.0).to(tl.int32)
    return b, y1, x1, bh, bw, gh, gw


@triton.jit
def _roi_align_fwd_kernel(x_ptr, r_ptr, y_ptr, C, H, W, PH, PW, scale, SR,
                          sxn, sxc, sxh, sxw, stride_r,
                          ALIGNED: tl.constexpr, BLOCK_C: tl.constexpr):
    cell = tl.program_id(0)          # k * PH * PW + ph * PW + pw
    k = cell // (PH * PW)
    ph = (cell // PW) % PH
    pw = cell % PW
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    cok = c < C
    b, y1, x1, bh, bw, gh, gw = _roi_geometry(r_ptr, k, stride_r, PH, PW, scale, SR, ALIGNED, x_ptr.dtype.element_ty == tl.float64)
    base = x_ptr + b * sxn + c.to(tl.int64) * sxc
    acc = tl.zeros([BLOCK_C], tl.float32 if x_ptr.dtype.element_ty != tl.float64 else tl.float64)
    for iy in range(0, gh):
        yy = y1 + ph * bh + (iy + 0.5) * bh / gh
        for ix in range(0, gw):
            xx = x1 + pw * bw + (ix + 0.5) * bw / gw
            y_lo, y_hi, x_lo, x_hi, wy_lo, wy_hi, wx_lo, wx_hi = _sample(yy, xx, H, W)
            v = (wy_lo * wx_lo) * tl.load(base + y_lo * sxh + x_lo * sxw, mask=cok, other=0.0)
            v += (wy_lo * wx_hi) * tl.load(base + y_lo * sxh + x_hi * sxw, mask=cok, other=0.0)
            v += (wy_hi * wx_lo) * tl.load(base + y_hi * sxh + x_lo * sxw, mask=cok, other=0.0)
            v += (wy_hi * wx_hi) * tl.load(base + y_hi * sxh + x_hi * sxw, mask=cok, other=0.0)
            acc += v
    count = tl.maximum(gh * gw, 1)
    out = acc / count
    tl.store(y_ptr + (k.to(tl.int64) * C + c) * (PH * PW) + ph * PW + pw,  # out is contiguous (K, C, PH, PW)
             out.to(y_ptr.dtype.element_ty), mask=cok)


@triton.jit
def _roi_align_bwd_kernel(g_ptr, r_ptr, dx_ptr, C, H, W, PH, PW, scale, SR,
                          sgk, sgc, sgh, sgw, stride_r,
                          ALIGNED: tl.constexpr, BLOCK_C: tl.constexpr):
    cell = tl.program_id(0)
    k = cell // (PH * PW)
    ph = (cell // PW) % PH
    pw = cell % PW
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    cok = c < C
    b, y1, x1, bh, bw, gh, gw = _roi_geometry(r_ptr, k, stride_r, PH, PW, scale, SR, ALIGNED,
                                               dx_ptr.dtype.element_ty == tl.float64)
    count = tl.maximum(gh * gw, 1)
    g = tl.load(g_ptr + k.to(tl.int64) * sgk + c * sgc + ph * sgh + pw * sgw, mask=cok, other=0.0)
    g = g.to(dx_ptr.dtype.element_ty) / count
    base = dx_ptr + (b * C + c.to(tl.int64)) * (H * W)   # dx is contiguous (N, C, H, W)
    for iy in range(0, gh):
        yy = y1 + ph * bh + (iy + 0.5) * bh / gh
        for ix in range(0, gw):
            xx = x1 + pw * bw + (ix + 0.5) * bw / gw
            y_lo, y_hi, x_lo, x_hi, wy_lo, wy_hi, wx_lo, wx_hi = _sample(yy, xx, H, W)
            tl.atomic_add(base + y_lo * W + x_lo, g * (wy_lo * wx_lo), mask=cok)
            tl.atomic_add(base + y_lo * W + x_hi, g * (wy_lo * wx_hi), mask=cok)
            tl.atomic_add(base + y_hi * W + x_lo, g * (wy_hi * wx_lo), mask=cok)
            tl.atomic_add(base + y_hi * W + x_hi, g * (wy_hi * wx_hi), mask=cok)


# ---------------------------------------------------------------------------------------
# launchers

def _check_rois(rois, dtypes):
    check_buffer("roi_align: rois", rois, ndim=2, dtypes=dtypes)
    if rois.shape[1] != 5:
        raise ValueError(f"roi_align: rois must have shape (K, 5), got {tuple(rois.shape)}")
    if rois.shape[0] > 0 and rois.strides[1] != 1:
        raise ValueError(f"roi_align: the last dim of rois must be contiguous, got strides {tuple(rois.strides)}")


def roi_align(x, rois, output_size, spatial_scale: float = 1.0, sampling_ratio: int = -1,
              aligned: bool = False, out=None, config: dict | None = None):
    """RoIAlign of ``x`` over ``rois``.

    Args:
        x: (N, C, H, W) float buffer, any strides.
        rois: (K, 5) buffer of (batch index, x1, y1, x2, y2) in input coordinates, rows contiguous;
            batch indices must lie in [0, N) (the caller checks).
        output_size: (PH, PW).
        out: optional contiguous (K, C, PH, PW) output of x's dtype.
    Returns:
        y: (K, C, PH, PW) buffer of x's dtype.
    """
    check_buffer("roi_align: x", x, ndim=4, dtypes=FLOATS)
    _check_rois(rois, FLOATS)
    n, c, h, w = x.shape
    ph, pw = (int(v) for v in output_size)
    k = rois.shape[0]
    if out is None:
        out = x.new((k, c, ph, pw), x.dtype)
    check_buffer("roi_align: out", out, ndim=4)
    _launch(_roi_align_fwd_kernel, x, rois, out, (k, c, h, w, ph, pw), spatial_scale, sampling_ratio, aligned,
            config)
    return out


def _launch(kernel, src, rois, dst, dims, spatial_scale, sampling_ratio, aligned, config) -> None:
    """One program per (RoI, output cell, channel block); ``src`` is x (forward) or grad (backward)."""
    k, c, h, w, ph, pw = dims
    if k == 0 or c == 0 or ph * pw == 0:
        return
    meta, opts = launch_options(config or config_for("roi_align", {"C": c, "dtype": str(src.dtype)}))
    grid = (k * ph * pw, triton.cdiv(c, meta["BLOCK_C"]))
    kernel[grid](src, rois, dst, c, h, w, ph, pw, float(spatial_scale), int(sampling_ratio), *src.strides,
                 rois.strides[0], ALIGNED=bool(aligned), BLOCK_C=meta["BLOCK_C"], **opts)


def roi_align_backward(grad, rois, input_shape, spatial_scale: float = 1.0, sampling_ratio: int = -1,
                       aligned: bool = False, config: dict | None = None):
    """dx of :func:`roi_align` from ``grad`` (K, C, PH, PW).

    Returns:
        dx: contiguous (N, C, H, W) buffer, float64 for float64 grad, else float32 (cast by the caller).
    """
    check_buffer("roi_align_backward: grad", grad, ndim=4, dtypes=FLOATS)
    _check_rois(rois, FLOATS)
    k, c, ph, pw = grad.shape
    n, _, h, w = (int(v) for v in input_shape)
    acc = "float64" if str(grad.dtype) == "float64" else "float32"
    dx = grad.new((n, c, h, w), acc)
    from blaze.kernels.elementwise import fill  # noqa: PLC0415  (elementwise is large; only here)
    fill(dx, 0.0)
    _launch(_roi_align_bwd_kernel, grad, rois, dx, (k, c, h, w, ph, pw), spatial_scale, sampling_ratio, aligned,
            config)
    return dx


# ---------------------------------------------------------------------------------------
# heuristic and registry

ROI_ALIGN_CONFIGS = [dict(BLOCK_C=bc, num_warps=w, num_stages=1) for bc, w in
                     [(32, 1), (64, 2), (128, 4), (256, 4), (256, 8)]]


def roi_align_heuristic(problem: dict) -> dict:
    """All channels of a cell in one program up to 256 (FPN levels have C = 256): one warp per 64."""
    bc = min(triton.next_power_of_2(max(int(problem["C"]), 1)), 256 if not interpret() else 1024)
    return dict(BLOCK_C=bc, num_warps=max(1, min(8, bc // 64)), num_stages=1)


def make_roi_align_problem(problem: dict, new_buffer):
    """run(config): forward and backward of 7x7 RoIAlign, 128 RoIs, 2x2 samples a bin, on a (2, C, 64, 64) map."""
    from blaze.kernels.elementwise import fill  # noqa: PLC0415
    c, dtype = int(problem["C"]), problem["dtype"]
    x = new_buffer((2, c, 64, 64), dtype)
    rois = new_buffer((128, 5), dtype)
    # random batch indices would read outside x; all-zero RoIs are 1x1 (legacy mode) and cost what any
    # RoI with sampling_ratio=2 costs: 4 samples a cell
    fill(rois, 0.0)

    def run(config):
        y = roi_align(x, rois, (7, 7), 1.0, 2, False, config=config)
        roi_align_backward(y, rois, x.shape, 1.0, 2, False, config=config)
    return run


ROI_ALIGN = register(Tunable(
    name="roi_align",
    configs=ROI_ALIGN_CONFIGS,
    heuristic=roi_align_heuristic,
    make_problem=make_roi_align_problem,
    doc="RoIAlign forward + backward, channels vectorised per output cell",
    problem_keys=("C", "dtype"),
))
