"""Counter-based random numbers (Philox4x32-10): uniform, normal, bernoulli, randint fills
and dropout (alone, or fused as residual + dropout(x + bias)) whose keep-mask is regenerated
from (seed, offset) instead of stored.

Element i (row-major logical order, whatever the buffer's strides) uses Philox counter
``offset + i`` under key ``seed``: the same (seed, offset) always gives the same numbers, on
the GPU and in the interpreter. A call consumes ``numel`` counters, so a generator advances
its offset by numel (rounded up as it likes) between calls; overlapping ranges repeat numbers.

The 64-bit counter is split into two 32-bit Philox words here rather than through
``tl.rand(seed, int64_offsets)``, whose handling of 64-bit offsets changed between Triton
releases; ``tl.philox`` itself is the same in every release blaze supports (>= 3.4).
"""
from __future__ import annotations

import triton
import triton.language as tl

from blaze.kernels.buffer import check_buffer
from blaze.kernels.index import _unravel, coalesce, move_heuristic, numel
from blaze.kernels.registry import Tunable, config_for, launch_options, register

FLOATS = ("float32", "float16", "bfloat16")
INTS = ("int64", "int32", "int16", "int8", "uint8")
UNIFORM, NORMAL, BERNOULLI, RANDINT = 0, 1, 2, 3


@triton.jit
def _philox(seed, ctr):
    # ctr: int64 block -> four uint32 blocks
    lo = ctr.to(tl.uint32)
    hi = (ctr >> 32).to(tl.uint32)
    zero = lo * 0
    return tl.philox(seed, lo, hi, zero, zero)


@triton.jit
def _random_kernel(out_ptr, N, D1, D2, D3, D4, D5, os0, os1, os2, os3, os4, os5,
                   seed, offset, a, b, DIST: tl.constexpr, BLOCK: tl.constexpr):
    # write N elements; no reads
    lin = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = lin < N
    r0, r1, r2, r3 = _philox(seed, offset + lin)
    if DIST == 0:      # uniform [a, b)
        v = a + (b - a) * tl.uint_to_uniform_float(r0)
    elif DIST == 1:    # normal(mean=a, std=b), Box-Muller on two words of one counter
        z, _ = tl.pair_uniform_to_normal(tl.uint_to_uniform_float(r0), tl.uint_to_uniform_float(r1))
        v = a + b * z
    elif DIST == 2:    # bernoulli(p=a)
        v = tl.where(tl.uint_to_uniform_float(r0) < a, 1, 0)
    else:              # integers in [a, a + b): 64 random bits mod the range (bias < b / 2**64)
        bits = (r1.to(tl.uint64) << 32) | r0.to(tl.uint64)
        rng = (b + lin * 0).to(tl.uint64)  # via int64: b may arrive as i32 or as the constant 1
        v = a + (bits % rng).to(tl.int64)
    i0, i1, i2, i3, i4, i5 = _unravel(lin, D1, D2, D3, D4, D5)
    d = i0 * os0 + i1 * os1 + i2 * os2 + i3 * os3 + i4 * os4 + i5 * os5
    tl.store(out_ptr + d, v.to(out_ptr.dtype.element_ty), mask=m)


@triton.jit
def _dropout_kernel(x_ptr, b_ptr, r_ptr, y_ptr, N, D1, D2, D3, D4, D5, xs0, xs1, xs2, xs3, xs4, xs5,
                    bs0, bs1, bs2, bs3, bs4, bs5, rs0, rs1, rs2, rs3, rs4, rs5,
                    ys0, ys1, ys2, ys3, ys4, ys5, seed, offset, p, scale, BLOCK: tl.constexpr,
                    HAS_B: tl.constexpr, HAS_R: tl.constexpr, DROP: tl.constexpr):
    # y = r + dropout(x + b): read N elements (+ N for r), write N; the mask is recomputed, never
    # stored. Each step is rounded to y's dtype as the unfused ops round it, so without DROP this
    # is exactly r + (x + b), and with it the unfused ops' values bit for bit.
    lin = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = lin < N
    i0, i1, i2, i3, i4, i5 = _unravel(lin, D1, D2, D3, D4, D5)
    keep = m
    if DROP:
        r0, r1, r2, r3 = _philox(seed, offset + lin)
        keep = m & (tl.uint_to_uniform_float(r0) >= p)
    x = tl.load(x_ptr + i0 * xs0 + i1 * xs1 + i2 * xs2 + i3 * xs3 + i4 * xs4 + i5 * xs5, mask=keep, other=0)
    v = x.to(tl.float32)
    if HAS_B:
        b = tl.load(b_ptr + i0 * bs0 + i1 * bs1 + i2 * bs2 + i3 * bs3 + i4 * bs4 + i5 * bs5, mask=keep, other=0)
        v = (v + b.to(tl.float32)).to(y_ptr.dtype.element_ty).to(tl.float32)
    if DROP:
        v = tl.where(keep, v * scale, 0.0)
    if HAS_R:
        res = tl.load(r_ptr + i0 * rs0 + i1 * rs1 + i2 * rs2 + i3 * rs3 + i4 * rs4 + i5 * rs5, mask=m, other=0)
        v = v.to(y_ptr.dtype.element_ty).to(tl.float32) + res.to(tl.float32)
    d = i0 * ys0 + i1 * ys1 + i2 * ys2 + i3 * ys3 + i4 * ys4 + i5 * ys5
    tl.store(y_ptr + d, v.to(y_ptr.dtype.element_ty), mask=m)


def _check_seed(seed, offset):
    if not (isinstance(seed, int) and 0 <= seed < 2 ** 63):
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
    if not (isinstance(offset, int) and 0 <= offset < 2 ** 62):
        raise ValueError(f"offset must be an int in [0, 2**62), got {offset!r}")


def _fill(out, dist, a, b, seed, offset, config):
    _check_seed(seed, offset)
    n = numel(out.shape)
    if n == 0:
        return out
    sizes, (os_,) = coalesce(list(out.shape), list(out.strides))
    cfg = config or config_for("random", dict(numel=n, dtype=str(out.dtype)))
    meta, opts = launch_options(cfg)
    _random_kernel[(triton.cdiv(n, meta["BLOCK"]),)](out, n, *sizes[1:], *os_, seed, offset, a, b,
                                                     DIST=dist, **meta, **opts)
    return out


def uniform_(out, low=0.0, high=1.0, seed=0, offset=0, config=None):
    """Fill ``out`` (float, any strides) with U[low, high) from Philox(seed, offset + i)."""
    check_buffer("out", out, dtypes=FLOATS)
    if not high >= low:
        raise ValueError(f"uniform_: expects low <= high, got low={low}, high={high}")
    return _fill(out, UNIFORM, float(low), float(high), seed, offset, config)


def normal_(out, mean=0.0, std=1.0, seed=0, offset=0, config=None):
    """Fill ``out`` (float, any strides) with N(mean, std**2) from Philox(seed, offset + i)."""
    check_buffer("out", out, dtypes=FLOATS)
    if not std >= 0:
        raise ValueError(f"normal_: expects std >= 0, got {std}")
    return _fill(out, NORMAL, float(mean), float(std), seed, offset, config)


def bernoulli_(out, p=0.5, seed=0, offset=0, config=None):
    """Fill ``out`` (float, int or bool) with 1 with probability p, else 0."""
    check_buffer("out", out, dtypes=FLOATS + INTS + ("bool",))
    if not 0 <= p <= 1:
        raise ValueError(f"bernoulli_: p must be in [0, 1], got {p}")
    return _fill(out, BERNOULLI, float(p), 0.0, seed, offset, config)


def randint_(out, low, high, seed=0, offset=0, config=None):
    """Fill ``out`` (int or float) with integers uniform in [low, high)."""
    check_buffer("out", out, dtypes=FLOATS + INTS)
    low, high = int(low), int(high)
    if not low < high:
        raise ValueError(f"randint_: expects low < high, got low={low}, high={high}")
    if high - low >= 2 ** 63:
        raise ValueError(f"randint_: range [{low}, {high}) is wider than 2**63")
    return _fill(out, RANDINT, low, high - low, seed, offset, config)


def dropout(x, p, seed, offset, out=None, config=None):
    """y = x * keep / (1 - p) with keep = U(seed, offset + i) >= p (zeros everywhere at p=1).

    Args:
        x: float32/float16/bfloat16, any strides. p: drop probability in [0, 1].
    Returns:
        y, contiguous, x's dtype. Keep (seed, offset) to call :func:`dropout_backward`.
    """
    return _dropout(x, None, None, p, seed, offset, out, config, "x")


def dropout_backward(dy, p, seed, offset, out=None, config=None):
    """dx = dy * keep / (1 - p) with the forward's mask, regenerated from (seed, offset)."""
    return _dropout(dy, None, None, p, seed, offset, out, config, "dy")


def bias_dropout_add(x, bias, residual, p, seed=0, offset=0, out=None, config=None):
    """out = residual + dropout(x + bias) in one pass; the mask is :func:`dropout`'s for the same
    (seed, offset), so :func:`dropout_backward` gives x's gradient and residual's is dy itself.

    Args:
        x: (..., N) float, any strides. bias: (N,) or None. residual: x's shape and dtype, or None.
        p: drop probability in [0, 1]; 0 skips the random numbers: out is exactly residual + (x + bias).
    Returns:
        out, contiguous, x's dtype.
    """
    if bias is not None:
        check_buffer("bias", bias, ndim=1, dtypes=(str(x.dtype),))
        if x.ndim == 0 or tuple(bias.shape) != (x.shape[-1],):
            raise ValueError(f"bias: expected shape ({x.shape[-1] if x.ndim else 1},) to match the last dim of x, "
                             f"got {tuple(bias.shape)}")
    if residual is not None:
        check_buffer("residual", residual, dtypes=(str(x.dtype),))
        if tuple(residual.shape) != tuple(x.shape):
            raise ValueError(f"residual: expected shape {tuple(x.shape)}, got {tuple(residual.shape)}")
    return _dropout(x, bias, residual, p, seed, offset, out, config, "x")


def _dropout(x, bias, residual, p, seed, offset, out, config, name):
    check_buffer(name, x, dtypes=FLOATS)
    _check_seed(seed, offset)
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if out is not None:
        check_buffer("out", out, dtypes=(str(x.dtype),))
        if tuple(out.shape) != tuple(x.shape):
            raise ValueError(f"out: expected shape {tuple(x.shape)}, got {tuple(out.shape)}")
    else:
        out = x.new(x.shape, x.dtype)
    n = numel(x.shape)
    if n == 0:
        return out
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    b, r = (x if bias is None else bias), (x if residual is None else residual)   # stand-ins when absent
    b_strides = list(x.strides) if bias is None else [0] * (x.ndim - 1) + [bias.strides[0]]   # bias: over rows
    sizes, (xs, bs, rs, ys) = coalesce(list(x.shape), list(x.strides), b_strides, list(r.strides),
                                       list(out.strides))
    cfg = config or config_for("random", dict(numel=n, dtype=str(x.dtype)))
    meta, opts = launch_options(cfg)
    _dropout_kernel[(triton.cdiv(n, meta["BLOCK"]),)](x, b, r, out, n, *sizes[1:], *xs, *bs, *rs, *ys, seed, offset,
                                                      float(p), scale, HAS_B=bias is not None,
                                                      HAS_R=residual is not None, DROP=p > 0, **meta, **opts)
    return out


def _make_random_problem(problem, new_buffer):
    out = new_buffer((problem["numel"],), problem.get("dtype", "float32"))
    return lambda config: uniform_(out, config=config)


RANDOM = register(Tunable(
    name="random",
    configs=[dict(BLOCK=b, num_warps=w) for b in (256, 512, 1024, 2048, 4096) for w in (2, 4, 8)],
    heuristic=move_heuristic,
    make_problem=_make_random_problem,
    doc="Philox fills (uniform/normal/bernoulli/randint) and mask-free dropout",
    problem_keys=("numel", "dtype"),
))
