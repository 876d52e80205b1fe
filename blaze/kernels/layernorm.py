"""LayerNorm and RMSNorm over the last dim of a 2-D view, forward and backward.

``x`` is (M, N) = (rows, normalised features); callers flatten leading dims. Rows may be
strided apart; the last dim must be contiguous. Statistics are fp32 whatever the input.

One kernel pair serves both norms: ``CENTER`` subtracts the mean (LayerNorm) or not (RMSNorm,
whose "variance" is then the mean square). The weight/bias gradients are reduced in two
stages so no atomics are needed and the sum order is deterministic:

1. each of G programs walks its share of row tiles and writes its partial column sums of
   ``dy * xhat`` (and ``dy``) to a (G, N) fp32 buffer;
2. a second kernel sums those G rows into (N,) and casts to the weight's dtype.
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from blaze._env import interpret
from blaze.kernels.buffer import check_buffer
from blaze.kernels.registry import Tunable, config_for, launch_options, register
from blaze.kernels.softmax import FLOATS, _check_out, _check_rows

F32 = np.dtype(np.float32)


@triton.jit
def _norm_fwd_kernel(x_ptr, r_ptr, h_ptr, w_ptr, b_ptr, y_ptr, mean_ptr, rstd_ptr, M, N, eps,
                     stride_xm, stride_rm, stride_hm, stride_ym,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, CENTER: tl.constexpr,
                     HAS_W: tl.constexpr, HAS_B: tl.constexpr, HAS_RES: tl.constexpr, ONE_PASS: tl.constexpr):
    # HAS_RES: normalise h = x + r and store h too (the next residual of a pre-norm block). h is
    # rounded to x's dtype before the statistics, so the result is the unfused add's, bit for bit
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < M
    rows64 = rows.to(tl.int64)
    cols = tl.arange(0, BLOCK_N)
    x_rows = x_ptr + rows64[:, None] * stride_xm
    y_rows = y_ptr + rows64[:, None] * stride_ym
    r_rows = r_ptr + rows64[:, None] * stride_rm
    h_rows = h_ptr + rows64[:, None] * stride_hm
    if ONE_PASS:
        # read MN (2MN with a residual), write MN + 2M (2MN + 2M)
        mask = row_ok[:, None] & (cols[None, :] < N)
        x = tl.load(x_rows + cols[None, :], mask=mask, other=0.0).to(tl.float32)
        if HAS_RES:
            h = (x + tl.load(r_rows + cols[None, :], mask=mask, other=0.0).to(tl.float32)).to(h_ptr.dtype.element_ty)
            tl.store(h_rows + cols[None, :], h, mask=mask)
            x = h.to(tl.float32)
        if CENTER:
            mean = tl.sum(x, axis=1) / N
            x = tl.where(mask, x - mean[:, None], 0.0)
        var = tl.sum(x * x, axis=1) / N
        rstd = 1.0 / tl.sqrt(var + eps)
        y = x * rstd[:, None]
        if HAS_W:
            y = y * tl.load(w_ptr + cols, mask=cols < N, other=0.0).to(tl.float32)[None, :]
        if HAS_B:
            y = y + tl.load(b_ptr + cols, mask=cols < N, other=0.0).to(tl.float32)[None, :]
        tl.store(y_rows + cols[None, :], y.to(y_ptr.dtype.element_ty), mask=mask)
    else:
        # rows longer than a tile: mean, then the centred second moment (two-pass variance
        # instead of E[x^2] - E[x]^2, which cancels catastrophically when |mean| >> std),
        # then the output. read 3MN, write MN + 2M. With a residual the first pass writes h
        # (+ MN read, + MN write) and the later passes read h instead of x
        total = tl.zeros([BLOCK_M], tl.float32)
        if CENTER or HAS_RES:
            for start in range(0, N, BLOCK_N):
                c = start + cols
                mask = row_ok[:, None] & (c[None, :] < N)
                x = tl.load(x_rows + c[None, :], mask=mask, other=0.0).to(tl.float32)
                if HAS_RES:
                    h = (x + tl.load(r_rows + c[None, :], mask=mask, other=0.0).to(tl.float32))
                    h = h.to(h_ptr.dtype.element_ty)
                    tl.store(h_rows + c[None, :], h, mask=mask)
                    x = h.to(tl.float32)
                total += tl.sum(x, axis=1)
        mean = tl.zeros([BLOCK_M], tl.float32)
        if CENTER:
            mean = total / N
        src_rows = x_rows
        if HAS_RES:
            src_rows = h_rows
            # later passes may read an h element another thread stored: make the stores visible
            tl.debug_barrier()
        var = tl.zeros([BLOCK_M], tl.float32)
        for start in range(0, N, BLOCK_N):
            c = start + cols
            mask = row_ok[:, None] & (c[None, :] < N)
            x = tl.load(src_rows + c[None, :], mask=mask, other=0.0).to(tl.float32)
            x = tl.where(mask, x - mean[:, None], 0.0)
            var += tl.sum(x * x, axis=1)
        rstd = 1.0 / tl.sqrt(var / N + eps)
        for start in range(0, N, BLOCK_N):
            c = start + cols
            mask = row_ok[:, None] & (c[None, :] < N)
            x = tl.load(src_rows + c[None, :], mask=mask, other=0.0).to(tl.float32)
            y = (x - mean[:, None]) * rstd[:, None]
            if HAS_W:
                y = y * tl.load(w_ptr + c, mask=c < N, other=0.0).to(tl.float32)[None, :]
            if HAS_B:
                y = y + tl.load(b_ptr + c, mask=c < N, other=0.0).to(tl.float32)[None, :]
            tl.store(y_rows + c[None, :], y.to(y_ptr.dtype.element_ty), mask=mask)
    if CENTER:
        tl.store(mean_ptr + rows, mean, mask=row_ok)
    tl.store(rstd_ptr + rows, rstd, mask=row_ok)


@triton.jit
def _norm_bwd_kernel(dy_ptr, x_ptr, w_ptr, mean_ptr, rstd_ptr, dres_ptr, dx_ptr, dw_part_ptr, db_part_ptr,
                     M, N, stride_dym, stride_xm, stride_drm, stride_dxm,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, CENTER: tl.constexpr,
                     HAS_W: tl.constexpr, DW: tl.constexpr, DB: tl.constexpr, HAS_DRES: tl.constexpr,
                     ONE_PASS: tl.constexpr):
    # xhat = (x - mean) * rstd, g = w * dy:
    #   dx = rstd * (g - xhat * mean(g * xhat) - mean(g))      (mean(g) term only if CENTER)
    #   (+ dres: the gradient x receives from its other uses, added here instead of in a launch)
    #   dw = sum_rows dy * xhat,  db = sum_rows dy   -> this program's partial row of (G, N)
    # Program `pid` takes row tiles pid, pid + G, pid + 2G, ...
    pid = tl.program_id(0)
    n_groups = tl.num_programs(0)
    n_tiles = tl.cdiv(M, BLOCK_M)
    cols = tl.arange(0, BLOCK_N)
    part = pid.to(tl.int64) * N
    if ONE_PASS:
        # read 2MN (+N), write MN (+ G*N per partial)
        col_ok = cols < N
        if HAS_W:
            w = tl.load(w_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)
        dw_acc = tl.zeros([BLOCK_N], tl.float32)
        db_acc = tl.zeros([BLOCK_N], tl.float32)
        for tile in range(pid, n_tiles, n_groups):
            rows = tile * BLOCK_M + tl.arange(0, BLOCK_M)
            row_ok = rows < M
            rows64 = rows.to(tl.int64)
            mask = row_ok[:, None] & col_ok[None, :]
            x = tl.load(x_ptr + rows64[:, None] * stride_xm + cols[None, :], mask=mask, other=0.0).to(tl.float32)
            dy = tl.load(dy_ptr + rows64[:, None] * stride_dym + cols[None, :], mask=mask, other=0.0).to(tl.float32)
            rstd = tl.load(rstd_ptr + rows, mask=row_ok, other=0.0)
            if CENTER:
                x = x - tl.load(mean_ptr + rows, mask=row_ok, other=0.0)[:, None]
            xhat = tl.where(mask, x * rstd[:, None], 0.0)
            g = dy
            if HAS_W:
                g = dy * w[None, :]
            c1 = tl.sum(g * xhat, axis=1) / N
            dx = g - xhat * c1[:, None]
            if CENTER:
                dx = dx - (tl.sum(g, axis=1) / N)[:, None]
            dx = dx * rstd[:, None]
            if HAS_DRES:
                dx += tl.load(dres_ptr + rows64[:, None] * stride_drm + cols[None, :], mask=mask, other=0.0).to(tl.float32)
            tl.store(dx_ptr + rows64[:, None] * stride_dxm + cols[None, :],
                     dx.to(dx_ptr.dtype.element_ty), mask=mask)
            if DW:
                dw_acc += tl.sum(dy * xhat, axis=0)
            if DB:
                db_acc += tl.sum(dy, axis=0)
        if DW:
            tl.store(dw_part_ptr + part + cols, dw_acc, mask=col_ok)
        if DB:
            tl.store(db_part_ptr + part + cols, db_acc, mask=col_ok)
    else:
        # rows longer than a tile: this program's partial row lives in the (G, N) buffer and
        # is updated in place (only this program touches it). read 4MN, write MN
        for start in range(0, N, BLOCK_N):
            c = start + cols
            if DW:
                tl.store(dw_part_ptr + part + c, tl.zeros([BLOCK_N], tl.float32), mask=c < N)
            if DB:
                tl.store(db_part_ptr + part + c, tl.zeros([BLOCK_N], tl.float32), mask=c < N)
        # the read-modify-writes below may pair a store by one thread with a later load of
        # the same address by another: a CTA barrier makes the store visible first
        tl.debug_barrier()
        for tile in range(pid, n_tiles, n_groups):
            rows = tile * BLOCK_M + tl.arange(0, BLOCK_M)
            row_ok = rows < M
            rows64 = rows.to(tl.int64)
            rstd = tl.load(rstd_ptr + rows, mask=row_ok, other=0.0)
            mean = tl.zeros([BLOCK_M], tl.float32)
            if CENTER:
                mean = tl.load(mean_ptr + rows, mask=row_ok, other=0.0)
            c1 = tl.zeros([BLOCK_M], tl.float32)
            c2 = tl.zeros([BLOCK_M], tl.float32)
            for start in range(0, N, BLOCK_N):
                c = start + cols
                mask = row_ok[:, None] & (c[None, :] < N)
                x = tl.load(x_ptr + rows64[:, None] * stride_xm + c[None, :], mask=mask, other=0.0).to(tl.float32)
                g = tl.load(dy_ptr + rows64[:, None] * stride_dym + c[None, :], mask=mask, other=0.0).to(tl.float32)
                if HAS_W:
                    g = g * tl.load(w_ptr + c, mask=c < N, other=0.0).to(tl.float32)[None, :]
                xhat = tl.where(mask, (x - mean[:, None]) * rstd[:, None], 0.0)
                c1 += tl.sum(g * xhat, axis=1)
                c2 += tl.sum(g, axis=1)
            c1 = c1 / N
            c2 = c2 / N
            for start in range(0, N, BLOCK_N):
                c = start + cols
                mask = row_ok[:, None] & (c[None, :] < N)
                x = tl.load(x_ptr + rows64[:, None] * stride_xm + c[None, :], mask=mask, other=0.0).to(tl.float32)
                dy = tl.load(dy_ptr + rows64[:, None] * stride_dym + c[None, :], mask=mask, other=0.0).to(tl.float32)
                g = dy
                if HAS_W:
                    g = dy * tl.load(w_ptr + c, mask=c < N, other=0.0).to(tl.float32)[None, :]
                xhat = tl.where(mask, (x - mean[:, None]) * rstd[:, None], 0.0)
                dx = g - xhat * c1[:, None]
                if CENTER:
                    dx = dx - c2[:, None]
                dx = dx * rstd[:, None]
                if HAS_DRES:
                    dx += tl.load(dres_ptr + rows64[:, None] * stride_drm + c[None, :], mask=mask,
                                  other=0.0).to(tl.float32)
                tl.store(dx_ptr + rows64[:, None] * stride_dxm + c[None, :],
                         dx.to(dx_ptr.dtype.element_ty), mask=mask)
                if DW:
                    p = dw_part_ptr + part + c
                    tl.store(p, tl.load(p, mask=c < N, other=0.0) + tl.sum(dy * xhat, axis=0), mask=c < N)
                if DB:
                    p = db_part_ptr + part + c
                    tl.store(p, tl.load(p, mask=c < N, other=0.0) + tl.sum(dy, axis=0), mask=c < N)
                tl.debug_barrier()


@triton.jit
def _sum_partials_kernel(part_ptr, out_ptr, G, N, stride_out,
                         BLOCK_G: tl.constexpr, BLOCK_N: tl.constexpr):
    # (G, N) fp32 -> (N,): read GN, write N
    cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = cols < N
    acc = tl.zeros([BLOCK_N], tl.float32)
    for start in range(0, G, BLOCK_G):
        g = start + tl.arange(0, BLOCK_G)
        mask = (g[:, None] < G) & col_ok[None, :]
        acc += tl.sum(tl.load(part_ptr + g[:, None].to(tl.int64) * N + cols[None, :], mask=mask, other=0.0), axis=0)
    tl.store(out_ptr + cols * stride_out, acc.to(out_ptr.dtype.element_ty), mask=col_ok)


# ---------------------------------------------------------------------------------------
# launchers

def _check_vec(name: str, buf, N: int) -> None:
    if buf is None:
        return
    check_buffer(name, buf, ndim=1, dtypes=FLOATS)
    if tuple(buf.shape) != (N,):
        raise ValueError(f"{name}: expected shape ({N},) to match the last dim of x, got {tuple(buf.shape)}")
    if N > 1 and buf.strides[0] != 1:
        raise ValueError(f"{name}: must be contiguous, got strides {tuple(buf.strides)}")


def _check_stat(name: str, buf, M: int) -> None:
    check_buffer(name, buf, ndim=1, dtypes=("float32",))
    if tuple(buf.shape) != (M,):
        raise ValueError(f"{name}: expected shape ({M},) (one per row of x), got {tuple(buf.shape)}")
    if M > 1 and buf.strides[0] != 1:
        raise ValueError(f"{name}: must be contiguous, got strides {tuple(buf.strides)}")


def _config(M: int, N: int, dtype, config):
    cfg = config or config_for("layer_norm", {"M": M, "N": N, "dtype": str(dtype)})
    return launch_options(cfg)


def _check_same(fn, name, buf, x):
    if _check_rows(f"{fn}: {name}", buf) != tuple(x.shape):
        raise ValueError(f"{fn}: {name} shape {tuple(buf.shape)} and x shape {tuple(x.shape)} differ")
    if str(buf.dtype) != str(x.dtype):
        raise ValueError(f"{fn}: {name} dtype {buf.dtype} differs from x's {x.dtype}")


def _norm_forward(fn, x, weight, bias, eps, out, mean_out, rstd_out, center, config, residual=None, h_out=None):
    M, N = _check_rows(f"{fn}: x", x)
    _check_vec(f"{fn}: weight", weight, N)
    _check_vec(f"{fn}: bias", bias, N)
    h = None
    if residual is not None:
        _check_same(fn, "residual", residual, x)
        h = x.new((M, N), x.dtype) if h_out is None else h_out
        _check_out(f"{fn}: h_out", h, (M, N), x.dtype)
    if out is None:
        out = x.new((M, N), x.dtype)
    _check_out(f"{fn}: out", out, (M, N), x.dtype)
    mean = None
    if center:
        mean = x.new((M,), F32) if mean_out is None else mean_out
        _check_stat(f"{fn}: mean_out", mean, M)
    rstd = x.new((M,), F32) if rstd_out is None else rstd_out
    _check_stat(f"{fn}: rstd_out", rstd, M)
    if M == 0:
        return out, mean, rstd, h
    if N == 0:
        raise ValueError(f"{fn}: cannot normalise over an empty last dim (x shape {tuple(x.shape)})")
    meta, opts = _config(M, N, x.dtype, config)
    grid = (triton.cdiv(M, meta["BLOCK_M"]),)
    r, hh = (x, out) if h is None else (residual, h)     # stand-ins the kernel never touches
    _norm_fwd_kernel[grid](
        x, r, hh, weight if weight is not None else x, bias if bias is not None else x, out,
        mean if center else rstd, rstd, M, N, float(eps), x.strides[0], r.strides[0], hh.strides[0], out.strides[0],
        BLOCK_M=meta["BLOCK_M"], BLOCK_N=meta["BLOCK_N"], CENTER=center,
        HAS_W=weight is not None, HAS_B=bias is not None, HAS_RES=h is not None, ONE_PASS=N <= meta["BLOCK_N"],
        **opts)
    return out, mean, rstd, h


def _norm_backward(fn, dy, x, weight, mean, rstd, center, need_dw, need_db, out, config, dres=None):
    M, N = _check_rows(f"{fn}: x", x)
    if _check_rows(f"{fn}: dy", dy) != (M, N):
        raise ValueError(f"{fn}: dy shape {tuple(dy.shape)} and x shape {tuple(x.shape)} differ")
    if dres is not None:
        _check_same(fn, "dres", dres, dy)
    _check_vec(f"{fn}: weight", weight, N)
    if center:
        _check_stat(f"{fn}: mean", mean, M)
    _check_stat(f"{fn}: rstd", rstd, M)
    if N == 0:
        raise ValueError(f"{fn}: cannot normalise over an empty last dim (x shape {tuple(x.shape)})")
    dx = dy.new((M, N), dy.dtype) if out is None else out
    _check_out(f"{fn}: out", dx, (M, N), dy.dtype)
    vec_dtype = weight.dtype if weight is not None else x.dtype
    dw = x.new((N,), vec_dtype) if need_dw else None
    db = x.new((N,), vec_dtype) if need_db else None
    meta, opts = _config(M, N, x.dtype, config)
    # M == 0: no row programs; stage 2 over G = 0 partial rows writes the zero gradients
    n_groups = min(triton.cdiv(M, meta["BLOCK_M"]), meta["GROUPS"])
    dw_part = x.new((n_groups, N), F32) if need_dw else None
    db_part = x.new((n_groups, N), F32) if need_db else None
    if n_groups > 0:
        dr = dy if dres is None else dres
        _norm_bwd_kernel[(n_groups,)](
            dy, x, weight if weight is not None else x, mean if center else rstd, rstd, dr, dx,
            dw_part if need_dw else rstd, db_part if need_db else rstd,
            M, N, dy.strides[0], x.strides[0], dr.strides[0], dx.strides[0],
            BLOCK_M=meta["BLOCK_M"], BLOCK_N=meta["BLOCK_N"], CENTER=center, HAS_W=weight is not None,
            DW=need_dw, DB=need_db, HAS_DRES=dres is not None, ONE_PASS=N <= meta["BLOCK_N"], **opts)
    # stage 2: 64 x 256 fp32 tiles read the (G, N) partials once
    for part, res in ((dw_part, dw), (db_part, db)):
        if part is not None:
            _sum_partials_kernel[(triton.cdiv(N, 256),)](part if n_groups else res, res, n_groups, N,
                                                         res.strides[0], BLOCK_G=64, BLOCK_N=256)
    return dx, dw, db


def layer_norm(x, weight, bias, eps: float = 1e-5, out=None, mean_out=None, rstd_out=None,
               config: dict | None = None):
    """LayerNorm of each row of ``x``: (x - mean) * rstd * weight + bias.

    Args:
        x: (M, N) float32/float16/bfloat16; rows may be strided, cols contiguous.
        weight, bias: (N,) or None.
        out, mean_out, rstd_out: optional preallocated outputs.
    Returns:
        (y, mean, rstd): y (M, N) of x's dtype; mean and rstd (M,) float32, saved for backward.
    """
    return _norm_forward("layer_norm", x, weight, bias, eps, out, mean_out, rstd_out, True, config)[:3]


def layer_norm_backward(dy, x, weight, mean, rstd, need_weight_grad: bool = True, out=None,
                        config: dict | None = None):
    """Gradients of :func:`layer_norm`.

    Returns:
        (dx, dw, db): dx (M, N) of dy's dtype; dw and db (N,) in weight's dtype (x's dtype if
        weight is None). dw is None when weight is None or ``need_weight_grad`` is False;
        db is None when ``need_weight_grad`` is False (it is sum(dy) over rows whether or not
        the forward had a bias; the caller drops it if there was none).
    """
    return _norm_backward("layer_norm_backward", dy, x, weight, mean, rstd, True,
                          need_weight_grad and weight is not None, need_weight_grad, out, config)


def add_layer_norm(x, residual, weight, bias, eps: float = 1e-5, out=None, h_out=None, config: dict | None = None):
    """h = x + residual and LayerNorm(h) in one pass over the rows (the pre-norm block's pattern).

    Args:
        x, residual: (M, N) of one float dtype; rows may be strided, cols contiguous.
        weight, bias: (N,) or None.
    Returns:
        (y, h, mean, rstd): y and h (M, N) of x's dtype (h rounded to it before it is normalised,
        as the unfused add would); mean and rstd (M,) float32 for :func:`add_layer_norm_backward`.
    """
    y, mean, rstd, h = _norm_forward("add_layer_norm", x, weight, bias, eps, out, None, None, True, config,
                                     residual=residual, h_out=h_out)
    return y, h, mean, rstd


def add_layer_norm_backward(dy, dh, h, weight, mean, rstd, need_weight_grad: bool = True, out=None,
                            config: dict | None = None):
    """Gradients of :func:`add_layer_norm`: dx = LayerNorm's input gradient at h, plus ``dh`` (the
    gradient of h's other uses, or None), added in the same kernel; x and residual both get dx.

    Returns:
        (dx, dw, db) as :func:`layer_norm_backward`.
    """
    return _norm_backward("add_layer_norm_backward", dy, h, weight, mean, rstd, True,
                          need_weight_grad and weight is not None, need_weight_grad, out, config, dres=dh)


def rms_norm(x, weight, eps: float = 1e-6, out=None, rstd_out=None, config: dict | None = None):
    """RMSNorm of each row of ``x``: x * rsqrt(mean(x^2) + eps) * weight.

    Returns:
        (y, rstd): y (M, N) of x's dtype; rstd (M,) float32.
    """
    y, _, rstd, _ = _norm_forward("rms_norm", x, weight, None, eps, out, None, rstd_out, False, config)
    return y, rstd


def rms_norm_backward(dy, x, weight, rstd, need_weight_grad: bool = True, out=None,
                      config: dict | None = None):
    """Gradients of :func:`rms_norm`: (dx, dw); dw is None when weight is None."""
    dx, dw, _ = _norm_backward("rms_norm_backward", dy, x, weight, None, rstd, False,
                               need_weight_grad and weight is not None, False, out, config)
    return dx, dw


# ---------------------------------------------------------------------------------------
# heuristic and registry

MAX_BLOCK_N = 8192  # whole rows in registers up to 8192 features (LLM hidden sizes fit)
INTERPRET_TILE = 1 << 16
# GROUPS: programs of the backward, each writing one (N,) fp32 partial; ~2 per SM on a
# 132-SM H100 keeps the (G, N) partial buffer small (256 x 8192 x 4 B = 8 MiB at most).
LAYER_NORM_CONFIGS = [
    dict(BLOCK_M=bm, BLOCK_N=bn, GROUPS=g, num_warps=w, num_stages=1)
    for bn, bm, w in [
        (128, 16, 4), (256, 8, 4), (512, 4, 4), (1024, 2, 4), (1024, 4, 8), (2048, 1, 4),
        (2048, 2, 8), (4096, 1, 8), (8192, 1, 8), (8192, 1, 16),
    ]
    for g in (128, 256)
]


def layer_norm_heuristic(problem: dict) -> dict:
    """Whole rows in one tile; ~2048 elements per program on a GPU."""
    N = max(int(problem["N"]), 1)
    bn = min(triton.next_power_of_2(N), MAX_BLOCK_N)
    if interpret():
        bm = max(1, min(triton.next_power_of_2(max(int(problem["M"]), 1)), INTERPRET_TILE // bn))
        return dict(BLOCK_M=bm, BLOCK_N=bn, GROUPS=4, num_warps=4, num_stages=1)
    bm = max(1, min(16, 2048 // bn))
    warps = 4 if bn * bm <= 2048 else 8 if bn * bm <= 4096 else 16
    return dict(BLOCK_M=bm, BLOCK_N=bn, GROUPS=256, num_warps=warps, num_stages=1)


def make_layer_norm_problem(problem: dict, new_buffer):
    """run(config): LayerNorm forward + backward with weight and bias on random inputs."""
    M, N, dtype = int(problem["M"]), int(problem["N"]), problem["dtype"]
    x, dy = new_buffer((M, N), dtype), new_buffer((M, N), dtype)
    w, b = new_buffer((N,), dtype), new_buffer((N,), dtype)

    def run(config):
        y, mean, rstd = layer_norm(x, w, b, 1e-5, config=config)
        layer_norm_backward(dy, x, w, mean, rstd, config=config)
    return run


LAYER_NORM = register(Tunable(
    name="layer_norm",
    configs=LAYER_NORM_CONFIGS,
    heuristic=layer_norm_heuristic,
    make_problem=make_layer_norm_problem,
    doc="layer_norm / rms_norm over the last dim, forward + backward (two-stage dw/db)",
    problem_keys=("M", "N", "dtype"),
))
