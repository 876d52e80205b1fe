"""Softmax and log-softmax along the last dim of a 2-D view, forward and backward.

Callers flatten leading dims: ``x`` is (M, N) = (rows, cols). Rows may be strided apart
(a view of a wider buffer); the last dim must be contiguous.

Two code paths, chosen by the launcher:

- one pass (N <= BLOCK_N): a (BLOCK_M, BLOCK_N) tile holds whole rows; read MN, write MN.
- online loop (N > BLOCK_N): pass 1 keeps a running max and a sum rescaled by
  exp(old_max - new_max) (read MN), pass 2 normalises (read MN, write MN). Rows of any
  length run in O(BLOCK_N) registers.
"""
from __future__ import annotations

import triton
import triton.language as tl

from blaze._env import interpret
from blaze.kernels.buffer import check_buffer
from blaze.kernels.registry import Tunable, config_for, launch_options, register

FLOATS = ("float32", "float16", "bfloat16")


@triton.jit
def _softmax_fwd_kernel(x_ptr, y_ptr, M, N, stride_xm, stride_ym,
                        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                        LOG: tl.constexpr, ONE_PASS: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < M
    rows64 = rows.to(tl.int64)  # M * stride can pass 2**31 for big activations
    cols = tl.arange(0, BLOCK_N)
    x_rows = x_ptr + rows64[:, None] * stride_xm
    y_rows = y_ptr + rows64[:, None] * stride_ym
    if ONE_PASS:
        # read MN, write MN
        mask = row_ok[:, None] & (cols[None, :] < N)
        x = tl.load(x_rows + cols[None, :], mask=mask, other=-float("inf")).to(tl.float32)
        m = tl.max(x, axis=1)
        # an all -inf row would give exp(-inf - -inf) = NaN in every lane; shifting by 0
        # instead keeps the NaN only in the final 0/0, as in PyTorch and NumPy
        m = tl.where(m == -float("inf"), 0.0, m)
        e = tl.exp(x - m[:, None])
        s = tl.sum(e, axis=1)
        if LOG:
            y = x - m[:, None] - tl.log(s)[:, None]
        else:
            y = e * (1.0 / s)[:, None]
        tl.store(y_rows + cols[None, :], y.to(y_ptr.dtype.element_ty), mask=mask)
    else:
        # pass 1, online: read MN
        m = tl.full([BLOCK_M], -float("inf"), tl.float32)
        s = tl.zeros([BLOCK_M], tl.float32)
        for start in range(0, N, BLOCK_N):
            c = start + cols
            mask = row_ok[:, None] & (c[None, :] < N)
            x = tl.load(x_rows + c[None, :], mask=mask, other=-float("inf")).to(tl.float32)
            m_new = tl.maximum(m, tl.max(x, axis=1))
            # a row whose first chunks are all -inf (masked logits) must not turn into NaN
            m_safe = tl.where(m_new == -float("inf"), 0.0, m_new)
            s = s * tl.exp(m - m_safe) + tl.sum(tl.exp(x - m_safe[:, None]), axis=1)
            m = m_new
        m = tl.where(m == -float("inf"), 0.0, m)
        shift = m + tl.log(s)  # log-sum-exp per row
        # pass 2: read MN, write MN
        for start in range(0, N, BLOCK_N):
            c = start + cols
            mask = row_ok[:, None] & (c[None, :] < N)
            x = tl.load(x_rows + c[None, :], mask=mask, other=-float("inf")).to(tl.float32)
            y = x - shift[:, None]
            if not LOG:
                y = tl.exp(y)
            tl.store(y_rows + c[None, :], y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _softmax_bwd_kernel(dy_ptr, y_ptr, dx_ptr, M, N, stride_dym, stride_ym, stride_dxm,
                        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                        LOG: tl.constexpr, ONE_PASS: tl.constexpr):
    # softmax:     dx = y * (dy - sum(dy * y))
    # log_softmax: dx = dy - exp(y) * sum(dy)
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < M
    rows64 = rows.to(tl.int64)
    cols = tl.arange(0, BLOCK_N)
    dy_rows = dy_ptr + rows64[:, None] * stride_dym
    y_rows = y_ptr + rows64[:, None] * stride_ym
    dx_rows = dx_ptr + rows64[:, None] * stride_dxm
    if ONE_PASS:
        # read 2MN, write MN
        mask = row_ok[:, None] & (cols[None, :] < N)
        dy = tl.load(dy_rows + cols[None, :], mask=mask, other=0.0).to(tl.float32)
        y = tl.load(y_rows + cols[None, :], mask=mask, other=0.0).to(tl.float32)
        if LOG:
            dx = dy - tl.exp(y) * tl.sum(dy, axis=1)[:, None]
        else:
            dx = y * (dy - tl.sum(dy * y, axis=1)[:, None])
        tl.store(dx_rows + cols[None, :], dx.to(dx_ptr.dtype.element_ty), mask=mask)
    else:
        # pass 1: read 2MN (MN for log_softmax, which only needs sum(dy))
        acc = tl.zeros([BLOCK_M], tl.float32)
        for start in range(0, N, BLOCK_N):
            c = start + cols
            mask = row_ok[:, None] & (c[None, :] < N)
            dy = tl.load(dy_rows + c[None, :], mask=mask, other=0.0).to(tl.float32)
            if LOG:
                acc += tl.sum(dy, axis=1)
            else:
                y = tl.load(y_rows + c[None, :], mask=mask, other=0.0).to(tl.float32)
                acc += tl.sum(dy * y, axis=1)
        # pass 2: read 2MN, write MN
        for start in range(0, N, BLOCK_N):
            c = start + cols
            mask = row_ok[:, None] & (c[None, :] < N)
            dy = tl.load(dy_rows + c[None, :], mask=mask, other=0.0).to(tl.float32)
            y = tl.load(y_rows + c[None, :], mask=mask, other=0.0).to(tl.float32)
            if LOG:
                dx = dy - tl.exp(y) * acc[:, None]
            else:
                dx = y * (dy - acc[:, None])
            tl.store(dx_rows + c[None, :], dx.to(dx_ptr.dtype.element_ty), mask=mask)


# ---------------------------------------------------------------------------------------
# launchers

def _check_rows(name: str, buf, dtypes=FLOATS) -> tuple[int, int]:
    """Check a 2-D (rows, cols) float buffer whose last dim is contiguous; return (M, N)."""
    check_buffer(name, buf, ndim=2, dtypes=dtypes)
    M, N = buf.shape
    if M > 0 and N > 1 and buf.strides[1] != 1:  # empty arrays may report stride 0
        raise ValueError(f"{name}: the last dim must be contiguous (stride 1), got strides {tuple(buf.strides)}")
    return M, N


def _check_out(name: str, out, shape, dtype) -> None:
    check_buffer(name, out, ndim=len(shape))
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(out.shape)}")
    if str(out.dtype) != str(dtype):
        raise TypeError(f"{name}: expected dtype {dtype}, got {out.dtype}")
    if len(shape) == 2 and shape[0] > 0 and shape[1] > 1 and out.strides[1] != 1:
        raise ValueError(f"{name}: the last dim must be contiguous (stride 1), got strides {tuple(out.strides)}")


def _launch(kernel, M: int, N: int, args: tuple, log: bool, dtype, config: dict | None) -> None:
    cfg = config or config_for("softmax", {"M": M, "N": N, "dtype": str(dtype)})
    meta, opts = launch_options(cfg)
    one_pass = N <= meta["BLOCK_N"]
    grid = (triton.cdiv(M, meta["BLOCK_M"]),)
    kernel[grid](*args, M, N, *_strides(args), BLOCK_M=meta["BLOCK_M"], BLOCK_N=meta["BLOCK_N"],
                 LOG=bool(log), ONE_PASS=one_pass, **opts)


def _strides(bufs: tuple) -> tuple:
    return tuple(b.strides[0] for b in bufs)


def softmax(x, log: bool = False, out=None, config: dict | None = None):
    """Softmax (or log-softmax with ``log=True``) of each row of ``x``.

    Args:
        x: (M, N) float32/float16/bfloat16 buffer; rows may be strided, cols contiguous.
        out: optional preallocated (M, N) output of x's dtype.
        config: optional ``dict(BLOCK_M=, BLOCK_N=, num_warps=)`` overriding the heuristic.
    Returns:
        y: (M, N) buffer of x's dtype.
    """
    M, N = _check_rows("softmax: x", x)
    if out is None:
        out = x.new((M, N), x.dtype)
    _check_out("softmax: out", out, (M, N), x.dtype)
    if M == 0 or N == 0:
        return out
    _launch(_softmax_fwd_kernel, M, N, (x, out), log, x.dtype, config)
    return out


def softmax_backward(grad_out, y, log: bool = False, out=None, config: dict | None = None):
    """Gradient of softmax / log-softmax w.r.t. its input, from the saved output ``y``.

    Args:
        grad_out: (M, N) upstream gradient.
        y: (M, N) forward output (softmax probabilities, or log-probabilities if ``log``).
        out: optional preallocated (M, N) grad-input buffer of grad_out's dtype.
    Returns:
        dx: (M, N) buffer of grad_out's dtype.
    """
    M, N = _check_rows("softmax_backward: grad_out", grad_out)
    if _check_rows("softmax_backward: y", y) != (M, N):
        raise ValueError(f"softmax_backward: grad_out shape {tuple(grad_out.shape)} "
                         f"and y shape {tuple(y.shape)} differ")
    if out is None:
        out = grad_out.new((M, N), grad_out.dtype)
    _check_out("softmax_backward: out", out, (M, N), grad_out.dtype)
    if M == 0 or N == 0:
        return out
    _launch(_softmax_bwd_kernel, M, N, (grad_out, y, out), log, grad_out.dtype, config)
    return out


# ---------------------------------------------------------------------------------------
# heuristic and registry

# Tiles of up to 8192 fp32 values keep a row in registers without spilling at 8-16 warps;
# longer rows take the online loop.
MAX_BLOCK_N = 8192
# The interpreter runs one NumPy op per tile op, so fewer, larger programs run faster.
INTERPRET_TILE = 1 << 16

SOFTMAX_CONFIGS = [
    dict(BLOCK_M=bm, BLOCK_N=bn, num_warps=w, num_stages=1)
    for bn, bm, w in [
        (128, 16, 4), (128, 32, 4), (256, 8, 4), (256, 16, 4), (512, 4, 4), (512, 8, 8),
        (1024, 2, 4), (1024, 4, 8), (2048, 1, 4), (2048, 2, 8), (4096, 1, 8), (4096, 1, 16),
        (8192, 1, 16), (8192, 1, 32),
    ]
]


def softmax_heuristic(problem: dict) -> dict:
    """Whole rows in one tile up to 8192 cols; ~2048-4096 elements per program on a GPU."""
    N = max(int(problem["N"]), 1)
    bn = min(triton.next_power_of_2(N), MAX_BLOCK_N)
    if interpret():
        bm = max(1, min(triton.next_power_of_2(max(int(problem["M"]), 1)), INTERPRET_TILE // bn))
        return dict(BLOCK_M=bm, BLOCK_N=bn, num_warps=4, num_stages=1)
    bm = max(1, min(16, 2048 // bn))
    warps = 4 if bn * bm <= 2048 else 8 if bn * bm <= 4096 else 16
    return dict(BLOCK_M=bm, BLOCK_N=bn, num_warps=warps, num_stages=1)


def make_softmax_problem(problem: dict, new_buffer):
    """run(config): forward then backward on random (M, N) inputs (log_softmax if problem['log'])."""
    M, N, dtype = int(problem["M"]), int(problem["N"]), problem["dtype"]
    log = bool(problem.get("log", False))
    x, dy = new_buffer((M, N), dtype), new_buffer((M, N), dtype)
    y, dx = x.new((M, N), x.dtype), x.new((M, N), x.dtype)

    def run(config):
        softmax(x, log=log, out=y, config=config)
        softmax_backward(dy, y, log=log, out=dx, config=config)
    return run


SOFTMAX = register(Tunable(
    name="softmax",
    configs=SOFTMAX_CONFIGS,
    heuristic=softmax_heuristic,
    make_problem=make_softmax_problem,
    doc="softmax / log_softmax over the last dim, forward + backward",
    problem_keys=("M", "N", "dtype"),
))
