"""Reductions (sum, prod, max, min, mean, argmax, argmin, any, all, var, std, logsumexp) over
any set of axes of a strided input, and cumulative sum / product along one axis.

The launcher views the input as M independent rows of length R without copying: kept dims
and reduced dims are each collapsed (size-1 dims dropped, contiguous neighbours merged) and
passed to the kernel as sizes + strides, so "the reduced axes last" is purely logical. Each
program owns BLOCK_M rows and walks R in BLOCK_R chunks, so R may be large (1 x 1,000,000).
fp16/bf16 accumulate in fp32; integer and bool sums/products in int64 (torch's rule).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
import triton
import triton.language as tl

from blaze._env import interpret
from blaze.kernels.elementwise import _TL, _is_float, _np_dtype, _span, check_dtype, collapse
from blaze.kernels.ew_math import _max_nan, _min_nan
from blaze.kernels.registry import Tunable, config_for, launch_options, register

MAX_RANK = 4  # per side (kept / reduced) after collapsing

# name -> (constexpr id, out-dtype rule); "acc": sums/products (int -> int64), "float": float
# result (int -> float32), "same": input dtype, "index": int64, "bool": bool.
Red = namedtuple("Red", "id rule")
REDUCE_OPS = {"sum": Red(0, "acc"), "prod": Red(1, "acc"), "max": Red(2, "same"), "min": Red(3, "same"),
              "mean": Red(4, "float"), "argmax": Red(5, "index"), "argmin": Red(6, "index"),
              "any": Red(7, "bool"), "all": Red(8, "bool"), "var": Red(9, "float"), "std": Red(10, "float"),
              "logsumexp": Red(11, "float")}
SCAN_OPS = {"cumsum": 0, "cumprod": 1}
_NEEDS_ELEMENTS = ("max", "min", "argmax", "argmin")  # no identity: empty rows are an error


@triton.jit
def _offset(idx, n0, n1, n2, s0, s1, s2, s3, RANK: tl.constexpr):
    # linear index -> element offset over up to 4 collapsed dims (dim 0 innermost)
    if RANK == 1:
        off = idx * s0
    else:
        off = (idx % n0) * s0
        rem = idx // n0
        if RANK == 2:
            off += rem * s1
        else:
            off += (rem % n1) * s1
            rem = rem // n1
            if RANK == 3:
                off += rem * s2
            else:
                off += (rem % n2) * s2 + (rem // n2) * s3
    return off


@triton.jit
def _mul(a, b):
    return a * b


@triton.jit
def _row_extreme(acc, IS_MIN: tl.constexpr, FLOAT: tl.constexpr):
    # tl.max/min may drop NaN on the GPU (maxnum); put it back: torch.max propagates NaN.
    if IS_MIN:
        m = tl.min(acc, 1)
    else:
        m = tl.max(acc, 1)
    if FLOAT:
        m = tl.where(tl.max((acc != acc).to(tl.int32), 1) > 0, float("nan"), m)
    return m


@triton.jit
def _reduce_kernel(x_ptr, out_ptr, M, R, ident, scale, divisor,
                   m0, m1, m2, xm0, xm1, xm2, xm3, om0, om1, om2, om3,
                   r0, r1, r2, xr0, xr1, xr2, xr3,
                   OP: tl.constexpr, ACC: tl.constexpr, CMP: tl.constexpr, FLOAT: tl.constexpr,
                   M_RANK: tl.constexpr, R_RANK: tl.constexpr, INT64: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_R: tl.constexpr):
    # Reads M*R elements (twice for var/std/logsumexp), writes M.
    pid = tl.program_id(0)
    rows = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_R)
    if INT64:
        rows = rows.to(tl.int64)
        cols = cols.to(tl.int64)
    row_ok = rows < M
    x_row = _offset(rows, m0, m1, m2, xm0, xm1, xm2, xm3, M_RANK)
    acc = tl.full((BLOCK_M, BLOCK_R), ident, ACC)
    if OP == 5 or OP == 6:
        acc_i = tl.full((BLOCK_M, BLOCK_R), R, cols.dtype)
    for start in range(0, R, BLOCK_R):
        r = start + cols
        mask = row_ok[:, None] & (r < R)[None, :]
        ptrs = x_ptr + x_row[:, None] + _offset(r, r0, r1, r2, xr0, xr1, xr2, xr3, R_RANK)[None, :]
        raw = tl.load(ptrs, mask=mask, other=0)
        if OP == 7 or OP == 8:
            # test != 0 before any float -> int cast; in the widened type (bf16 compares
            # are mis-converted by the interpreter)
            x = tl.where(mask, (raw.to(CMP) != 0).to(ACC), ident)
        else:
            x = tl.where(mask, raw.to(ACC), ident)
        if OP == 0 or OP == 4 or OP == 9 or OP == 10:
            acc += x
        elif OP == 1:
            acc *= x
        elif OP == 2 or OP == 11:
            acc = _max_nan(acc, x)
        elif OP == 3:
            acc = _min_nan(acc, x)
        elif OP == 5 or OP == 6:
            # keep the first occurrence per lane: r grows, so ties only replace the initial R
            rb = r[None, :] + acc_i * 0
            if OP == 5:
                better = x > acc
            else:
                better = x < acc
            take = mask & (better | ((x == acc) & (rb < acc_i)) | ((x != x) & (acc == acc)))
            acc = tl.where(take, x, acc)
            acc_i = tl.where(take, rb, acc_i)
        elif OP == 7:
            acc = tl.maximum(acc, x)
        else:  # 8 all
            acc = tl.minimum(acc, x)

    if OP == 0:
        res = tl.sum(acc, 1)
    elif OP == 1:
        res = tl.reduce(acc, 1, _mul)
    elif OP == 2 or OP == 3:
        res = _row_extreme(acc, OP == 3, FLOAT)
    elif OP == 4:
        res = tl.sum(acc, 1) * scale
    elif OP == 5 or OP == 6:
        m = _row_extreme(acc, OP == 6, FLOAT)
        hit = (acc == m[:, None]) | ((acc != acc) & (m != m)[:, None])
        res = tl.min(tl.where(hit, acc_i, R), 1)
    elif OP == 7:
        res = tl.max(acc, 1)
    elif OP == 8:
        res = tl.min(acc, 1)
    elif OP == 9 or OP == 10:
        # second pass around the mean: no cancellation of sum(x^2) - n*mean^2
        mean = tl.sum(acc, 1) * scale
        ss = tl.zeros((BLOCK_M, BLOCK_R), ACC)
        for start in range(0, R, BLOCK_R):
            r = start + cols
            mask = row_ok[:, None] & (r < R)[None, :]
            ptrs = x_ptr + x_row[:, None] + _offset(r, r0, r1, r2, xr0, xr1, xr2, xr3, R_RANK)[None, :]
            d = tl.where(mask, tl.load(ptrs, mask=mask, other=0).to(ACC) - mean[:, None], 0.0)
            ss += d * d
        res = tl.sum(ss, 1) / divisor
        if OP == 10:
            res = tl.sqrt(res)
    else:  # 11 logsumexp: max first, then sum of exp(x - max); +-inf rows shift by 0
        m = _row_extreme(acc, False, FLOAT)
        ms = tl.where(tl.abs(m) == float("inf"), 0.0, m)
        se = tl.zeros((BLOCK_M, BLOCK_R), ACC)
        for start in range(0, R, BLOCK_R):
            r = start + cols
            mask = row_ok[:, None] & (r < R)[None, :]
            ptrs = x_ptr + x_row[:, None] + _offset(r, r0, r1, r2, xr0, xr1, xr2, xr3, R_RANK)[None, :]
            x = tl.load(ptrs, mask=mask, other=0).to(ACC)
            se += tl.where(mask, tl.exp(x - ms[:, None]), 0.0)
        res = ms + tl.log(tl.sum(se, 1))
    o_row = _offset(rows, m0, m1, m2, om0, om1, om2, om3, M_RANK)
    tl.store(out_ptr + o_row, res.to(out_ptr.dtype.element_ty), mask=row_ok)


@triton.jit
def _scan_kernel(x_ptr, out_ptr, M, R, m0, m1, m2, xm0, xm1, xm2, xm3, om0, om1, om2, om3, xr, orr,
                 OP: tl.constexpr, ACC: tl.constexpr, M_RANK: tl.constexpr, INT64: tl.constexpr,
                 BLOCK_M: tl.constexpr, BLOCK_R: tl.constexpr):
    # Reads M*R elements, writes M*R; a per-row carry links the BLOCK_R chunks.
    pid = tl.program_id(0)
    rows = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_R)
    if INT64:
        rows = rows.to(tl.int64)
        cols = cols.to(tl.int64)
    row_ok = rows < M
    x_row = _offset(rows, m0, m1, m2, xm0, xm1, xm2, xm3, M_RANK)
    o_row = _offset(rows, m0, m1, m2, om0, om1, om2, om3, M_RANK)
    carry = tl.full((BLOCK_M,), OP, ACC)  # 0 for sums, 1 for products
    for start in range(0, R, BLOCK_R):
        r = start + cols
        mask = row_ok[:, None] & (r < R)[None, :]
        x = tl.load(x_ptr + x_row[:, None] + (r * xr)[None, :], mask=mask, other=OP).to(ACC)
        if OP == 0:
            c = tl.cumsum(x, 1) + carry[:, None]
            # Not `carry += tl.sum(x, 1)`: Triton 3.6's OptimizeThreadLocality pass asserts
            # (loopResult.hasOneUse) on a reduce-accumulating loop whose result is unused after it.
            carry = tl.where(row_ok, carry + tl.sum(x, 1), carry)
        else:
            c = tl.cumprod(x, 1) * carry[:, None]
            carry = tl.where(row_ok, carry * tl.reduce(x, 1, _mul), carry)
        tl.store(out_ptr + o_row[:, None] + (r * orr)[None, :], c.to(out_ptr.dtype.element_ty), mask=mask)


# -- dtypes, configs ---------------------------------------------------------------------------
def _acc(name: str, op: str) -> str:
    """Accumulator dtype: fp32 (fp64 stays), int64 for integer sums/products, float32 for
    integer means/variances, int32/int64 for integer extremes and any/all."""
    if _is_float(name):
        return "float64" if name == "float64" else "float32"
    if op in ("sum", "prod", "cumsum", "cumprod"):
        return "int64"
    if op in ("mean", "var", "std", "logsumexp"):
        return "float32"
    return "int64" if name == "int64" else "int32"


def _ident(op: str, acc: str):
    if op in ("prod", "all", "cumprod"):
        return 1
    if op in ("max", "argmax", "logsumexp"):
        return float("-inf") if _is_float(acc) else int(np.iinfo(acc).min)
    if op in ("min", "argmin"):
        return float("inf") if _is_float(acc) else int(np.iinfo(acc).max)
    return 0.0 if _is_float(acc) else 0


def reduce_heuristic(problem: dict) -> dict:
    """Row layout (R contiguous): wide BLOCK_R. Column layout (M contiguous): wide BLOCK_M so
    loads coalesce along the kept dim. The interpreter gets ~64K-element tiles (cost per program)."""
    p2 = lambda n: triton.next_power_of_2(max(int(n), 1))  # noqa: E731
    tile = 1 << 16 if interpret() else 4096
    if problem.get("layout", "row") == "row":
        br = min(p2(problem["R"]), tile, 1 << 14 if interpret() else 1024)
        bm = min(p2(problem["M"]), max(1, tile // br))
    else:
        bm = min(p2(problem["M"]), tile, 256 if not interpret() else tile)
        br = min(p2(problem["R"]), max(1, tile // bm))
    return dict(BLOCK_M=bm, BLOCK_R=br, num_warps=8 if bm * br >= 4096 else 4)


def _pad(t, fill, n=MAX_RANK):
    return list(reversed(t)) + [fill] * (n - len(t))  # innermost first


def _normalize_axes(axes, ndim):
    if axes is None:
        return tuple(range(ndim))
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    norm = []
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a {ndim}-d input")
        norm.append(a % max(ndim, 1))
    if len(set(norm)) != len(norm):
        raise ValueError(f"axes {axes} repeat an axis")
    return tuple(sorted(norm))


def _out_strides(name, out, full, kept_shape, keep):
    """Strides of ``out`` over the kept dims; ``out`` may have the kept or the keepdim shape."""
    shape = tuple(out.shape)
    if shape == kept_shape:
        return tuple(out.strides)
    if shape == full:
        return tuple(s for d, s in enumerate(out.strides) if d in keep)
    raise ValueError(f"{name}: out has shape {shape}, expected {kept_shape} (or keepdim {full})")


def reduce(op: str, x, axes=None, out=None, correction=1, out_dtype=None, config=None):
    """Reduce ``x`` over ``axes`` (int, tuple, or None = all) with ``op`` (see ``REDUCE_OPS``).

    Returns a buffer of the kept dims' shape (``out`` may also have the keepdim shape).
    argmax/argmin give the first occurrence as int64, flat over the reduced axes in order.
    ``correction`` is var/std's Bessel correction (divisor ``max(R - correction, 0)``).
    Example: ``reduce("sum", x, axes=(0, 2))``.
    """
    if op not in REDUCE_OPS:
        raise ValueError(f"unknown reduction {op!r}; known: {', '.join(REDUCE_OPS)}")
    name = check_dtype(f"{op} input", x.dtype)
    spec = REDUCE_OPS[op]
    shape = tuple(x.shape)
    axes = _normalize_axes(axes, len(shape))
    keep = [d for d in range(len(shape)) if d not in axes]
    kept_shape = tuple(shape[d] for d in keep)
    full = tuple(1 if d in axes else n for d, n in enumerate(shape))
    M = int(np.prod(kept_shape, dtype=np.int64))
    R = int(np.prod([shape[d] for d in axes], dtype=np.int64))
    if R == 0 and op in _NEEDS_ELEMENTS and M > 0:
        raise ValueError(f"{op}: cannot reduce over an empty dimension (shape {shape}, axes {axes})")
    if op in ("var", "std", "logsumexp", "mean") and not _is_float(name):
        float_out = "float32"
    else:
        float_out = name
    default = {"acc": name if _is_float(name) else "int64", "float": float_out, "same": name,
               "index": "int64", "bool": "bool"}[spec.rule]
    out_name = check_dtype(f"{op} out_dtype", out_dtype if out_dtype is not None else
                           (out.dtype if out is not None else default))
    if out is None:
        out = x.new(kept_shape, _np_dtype(out_name))
    elif str(out.dtype) != out_name:
        raise TypeError(f"{op}: out has dtype {out.dtype}, expected {out_name}")
    o_strides = _out_strides(op, out, full, kept_shape, keep)
    if M == 0:
        return out
    acc = _acc(name, op)
    xs = tuple(x.strides)
    mshape, (xm, om) = collapse(kept_shape, tuple(xs[d] for d in keep), o_strides)
    rshape, (xr,) = collapse(tuple(shape[d] for d in axes), tuple(xs[d] for d in axes))
    if len(mshape) > MAX_RANK or len(rshape) > MAX_RANK:
        raise ValueError(f"{op}: shape {shape} over axes {axes} leaves more than {MAX_RANK} "
                         f"kept or reduced dims after collapsing")
    layout = "row" if abs(xr[-1]) <= abs(xm[-1]) else "col"
    problem = dict(op=op, M=M, R=R, dtype=name, layout=layout)
    cfg = config or config_for("reduce", problem)
    meta, opts = launch_options(cfg)
    int64 = max(M, R) * 2 >= 2**31 or max(_span(shape, xs), _span(kept_shape, o_strides)) >= 2**31
    divisor = float(max(R - correction, 0))
    scale = 1.0 / R if R else float("nan")
    grid = (triton.cdiv(M, meta["BLOCK_M"]),)
    _reduce_kernel[grid](x, out, M, R, _ident(op, acc), scale, divisor,
                         *_pad(mshape, 1)[:3], *_pad(xm, 0), *_pad(om, 0),
                         *_pad(rshape, 1)[:3], *_pad(xr, 0),
                         OP=spec.id, ACC=_TL[acc], CMP=_TL[_acc(name, 'sum')], FLOAT=_is_float(acc), M_RANK=len(mshape),
                         R_RANK=len(rshape), INT64=int64, **meta, **opts)
    return out


def scan(op: str, x, axis: int, out=None, out_dtype=None, config=None):
    """Cumulative ``op`` ("cumsum" / "cumprod") of ``x`` along ``axis``; same shape as ``x``.

    Ints and bool accumulate and return int64 (torch's rule); fp16/bf16 accumulate in fp32.
    """
    if op not in SCAN_OPS:
        raise ValueError(f"unknown scan {op!r}; known: {', '.join(SCAN_OPS)}")
    name = check_dtype(f"{op} input", x.dtype)
    shape = tuple(x.shape)
    (axis,) = _normalize_axes(axis, len(shape))
    out_name = check_dtype(f"{op} out_dtype", out_dtype if out_dtype is not None else
                           (out.dtype if out is not None else (name if _is_float(name) else "int64")))
    if out is None:
        out = x.new(shape, _np_dtype(out_name))
    elif tuple(out.shape) != shape:
        raise ValueError(f"{op}: out has shape {tuple(out.shape)}, expected {shape}")
    elif str(out.dtype) != out_name:
        raise TypeError(f"{op}: out has dtype {out.dtype}, expected {out_name}")
    if int(np.prod(shape, dtype=np.int64)) == 0:
        return out
    if not shape:  # 0-d: the scan of one element
        shape, axis = (1,), 0
    keep = [d for d in range(len(shape)) if d != axis]
    xs, os_ = tuple(x.strides) or (1,), tuple(out.strides) or (1,)
    kept_shape = tuple(shape[d] for d in keep)
    mshape, (xm, om) = collapse(kept_shape, tuple(xs[d] for d in keep), tuple(os_[d] for d in keep))
    if len(mshape) > MAX_RANK:
        raise ValueError(f"{op}: shape {shape} leaves more than {MAX_RANK} dims after collapsing")
    M, R = int(np.prod(kept_shape, dtype=np.int64)), shape[axis]
    problem = dict(op=op, M=M, R=R, dtype=name, layout="row" if abs(xs[axis]) <= abs(xm[-1]) else "col")
    cfg = config or config_for("reduce", problem)
    meta, opts = launch_options(cfg)
    int64 = M * R >= 2**31 or max(_span(shape, xs), _span(shape, os_)) >= 2**31
    _scan_kernel[(triton.cdiv(M, meta["BLOCK_M"]),)](
        x, out, M, R, *_pad(mshape, 1)[:3], *_pad(xm, 0), *_pad(om, 0), xs[axis], os_[axis],
        OP=SCAN_OPS[op], ACC=_TL[_acc(name, op)], M_RANK=len(mshape), INT64=int64, **meta, **opts)
    return out


def cumsum(x, axis: int, out=None, out_dtype=None, config=None):
    """Cumulative sum along ``axis`` (see :func:`scan`)."""
    return scan("cumsum", x, axis, out, out_dtype, config)


def cumprod(x, axis: int, out=None, out_dtype=None, config=None):
    """Cumulative product along ``axis`` (see :func:`scan`)."""
    return scan("cumprod", x, axis, out, out_dtype, config)


def make_reduce_problem(problem: dict, new_buffer):
    """Tuner hook: ``run(config)`` reduces a fresh (M, R) row- or (R, M) column-layout input."""
    M, R = problem["M"], problem["R"]
    row = problem.get("layout", "row") == "row"
    x = new_buffer((M, R) if row else (R, M), problem["dtype"])
    axis = 1 if row else 0
    op = problem.get("op", "sum")
    if op in SCAN_OPS:
        return lambda config: scan(op, x, axis, config=config)
    return lambda config: reduce(op, x, axis, config=config)


REDUCE = register(Tunable(
    name="reduce",
    configs=[dict(BLOCK_M=bm, BLOCK_R=br, num_warps=w)
             for bm, br in [(1, 1024), (1, 4096), (4, 512), (16, 256), (64, 64), (256, 16), (128, 32),
                            (32, 128), (256, 4), (64, 16), (512, 8)]
             for w in (4, 8)],
    heuristic=reduce_heuristic,
    make_problem=make_reduce_problem,
    doc="reductions and scans: rows of length R for M outputs (BLOCK_M x BLOCK_R tiles)",
    problem_keys=("op", "M", "R", "dtype", "layout"),
))
