"""Fused cross-entropy (log-softmax + NLL) over logits (N, V) and class-index targets (N,).

Matches PyTorch's ``CrossEntropyLoss(weight, ignore_index, label_smoothing)`` with
``reduction='none'`` per row; with class weights w and smoothing eps (C = V classes):

    loss_r = (1 - eps) * w[t] * (lse - x[t]) + eps / C * sum_c w[c] * (lse - x[c])

and ``reduction='mean'`` is sum(loss_r) / sum(row_weight) with row_weight = w[t] (1 without
weights), 0 on ignored rows: the forward returns row_weight so the caller can do that.

The class dim is walked in BLOCK_V chunks with an online log-sum-exp, so nothing of size
(N, V) besides the logits and their gradient ever touches memory: forward reads NV,
backward reads NV and writes NV. With V = 50k-250k vocabularies the fp32 (N, V)
log-probabilities an unfused version would write are 2-4x the bf16 logits.
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from blaze._env import interpret
from blaze.kernels.buffer import check_buffer
from blaze.kernels.index import error_word, flag_error
from blaze.kernels.registry import Tunable, config_for, launch_options, register
from blaze.kernels.softmax import FLOATS, _check_rows

F32 = np.dtype(np.float32)
TARGET_DTYPES = ("int64", "int32")


@triton.jit(do_not_specialize=["code"])
def _ce_fwd_kernel(logits_ptr, target_ptr, weight_ptr, loss_ptr, lse_ptr, row_w_ptr, err_ptr, code,
                   M, V, ignore_index, smoothing, stride_lm, stride_t,
                   BLOCK_M: tl.constexpr, BLOCK_V: tl.constexpr,
                   HAS_WEIGHT: tl.constexpr, SMOOTH: tl.constexpr):
    # read NV logits (+ V weights per program when smoothing with weights), write 3N
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < M
    rows64 = rows.to(tl.int64)
    t = tl.load(target_ptr + rows64 * stride_t, mask=row_ok, other=ignore_index).to(tl.int64)
    valid = row_ok & (t != ignore_index)
    # an out-of-range target never reads past the row: its loss is NaN and the device error is raised
    in_range = (t >= 0) & (t < V)
    flag_error(err_ptr, code, valid & ~in_range)
    x_rows = logits_ptr + rows64[:, None] * stride_lm
    cols = tl.arange(0, BLOCK_V)
    m = tl.full([BLOCK_M], -float("inf"), tl.float32)
    s = tl.zeros([BLOCK_M], tl.float32)
    sx = tl.zeros([BLOCK_M], tl.float32)   # sum_c w[c] * x[c]  (smoothing term)
    sw = tl.zeros([BLOCK_V], tl.float32)   # lane sums of w[c]  (smoothing term)
    for start in range(0, V, BLOCK_V):
        c = start + cols
        col_ok = c < V
        mask = row_ok[:, None] & col_ok[None, :]
        x = tl.load(x_rows + c[None, :], mask=mask, other=-float("inf")).to(tl.float32)
        m_new = tl.maximum(m, tl.max(x, axis=1))
        # rows whose first chunks are all -inf (masked vocab) must not turn into NaN
        m_safe = tl.where(m_new == -float("inf"), 0.0, m_new)
        s = s * tl.exp(m - m_safe) + tl.sum(tl.exp(x - m_safe[:, None]), axis=1)
        m = m_new
        if SMOOTH:
            if HAS_WEIGHT:
                wc = tl.load(weight_ptr + c, mask=col_ok, other=0.0).to(tl.float32)
                sw += wc
                sx += tl.sum(tl.where(mask, x * wc[None, :], 0.0), axis=1)
            else:
                sx += tl.sum(tl.where(mask, x, 0.0), axis=1)
    lse = tl.where(m == -float("inf"), 0.0, m) + tl.log(s)
    hit = valid & in_range
    x_t = tl.load(logits_ptr + rows64 * stride_lm + t, mask=hit, other=0.0).to(tl.float32)
    w_t = tl.full([BLOCK_M], 1.0, tl.float32)
    if HAS_WEIGHT:
        w_t = tl.load(weight_ptr + t, mask=hit, other=0.0).to(tl.float32)
    loss = (lse - x_t) * w_t
    if SMOOTH:
        total_w = V * 1.0
        if HAS_WEIGHT:
            total_w = tl.sum(sw, axis=0)
        loss = (1.0 - smoothing) * loss + smoothing / V * (lse * total_w - sx)
    loss = tl.where(valid, loss, 0.0)
    loss = tl.where(valid & ~in_range, float("nan"), loss)
    tl.store(loss_ptr + rows, loss, mask=row_ok)
    tl.store(lse_ptr + rows, lse, mask=row_ok)
    tl.store(row_w_ptr + rows, tl.where(valid, w_t, 0.0), mask=row_ok)


@triton.jit
def _ce_bwd_kernel(dlogits_ptr, grad_ptr, logits_ptr, target_ptr, weight_ptr, lse_ptr,
                   M, V, ignore_index, smoothing, stride_dm, stride_g, stride_lm, stride_t,
                   BLOCK_M: tl.constexpr, BLOCK_V: tl.constexpr,
                   HAS_WEIGHT: tl.constexpr, SMOOTH: tl.constexpr):
    # d loss_r / d x[c] = p[c] * ((1-eps) w[t] + eps/C * sum(w)) - (1-eps) w[t] [c == t] - eps/C * w[c]
    # read NV, write NV (+ V weights per program when smoothing with weights)
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < M
    rows64 = rows.to(tl.int64)
    t = tl.load(target_ptr + rows64 * stride_t, mask=row_ok, other=ignore_index).to(tl.int64)
    valid = row_ok & (t != ignore_index)
    in_range = (t >= 0) & (t < V)
    g = tl.load(grad_ptr + rows64 * stride_g, mask=valid, other=0.0).to(tl.float32)
    g = tl.where(valid & ~in_range, float("nan"), g)
    lse = tl.load(lse_ptr + rows, mask=row_ok, other=0.0)
    cols = tl.arange(0, BLOCK_V)
    w_t = tl.full([BLOCK_M], 1.0, tl.float32)
    if HAS_WEIGHT:
        w_t = tl.load(weight_ptr + t, mask=valid & in_range, other=0.0).to(tl.float32)
    coef_t = (1.0 - smoothing) * w_t
    coef_p = w_t
    if SMOOTH:
        total_w = V * 1.0
        if HAS_WEIGHT:
            sw = tl.zeros([BLOCK_V], tl.float32)
            for start in range(0, V, BLOCK_V):
                sw += tl.load(weight_ptr + start + cols, mask=start + cols < V, other=0.0).to(tl.float32)
            total_w = tl.sum(sw, axis=0)
        coef_p = coef_t + smoothing / V * total_w
    for start in range(0, V, BLOCK_V):
        c = start + cols
        col_ok = c < V
        mask = row_ok[:, None] & col_ok[None, :]
        x = tl.load(logits_ptr + rows64[:, None] * stride_lm + c[None, :], mask=mask, other=0.0).to(tl.float32)
        p = tl.exp(x - lse[:, None])
        d = p * coef_p[:, None] - tl.where(c[None, :] == t[:, None], coef_t[:, None], 0.0)
        if SMOOTH:
            if HAS_WEIGHT:
                d -= smoothing / V * tl.load(weight_ptr + c, mask=col_ok, other=0.0).to(tl.float32)[None, :]
            else:
                d -= smoothing / V
        # ignored rows get exact zeros even when their logits are inf / their lse is NaN
        d = tl.where(valid[:, None], d * g[:, None], 0.0)
        tl.store(dlogits_ptr + rows64[:, None] * stride_dm + c[None, :],
                 d.to(dlogits_ptr.dtype.element_ty), mask=mask)


# ---------------------------------------------------------------------------------------
# launchers

def _check_target(fn: str, target, M: int) -> None:
    check_buffer(f"{fn}: target", target, ndim=1, dtypes=TARGET_DTYPES)
    if tuple(target.shape) != (M,):
        raise ValueError(f"{fn}: target shape {tuple(target.shape)} does not match logits rows ({M},)")


def _check_weight(fn: str, weight, V: int) -> None:
    if weight is None:
        return
    check_buffer(f"{fn}: weight", weight, ndim=1, dtypes=FLOATS)
    if tuple(weight.shape) != (V,):
        raise ValueError(f"{fn}: weight shape {tuple(weight.shape)} does not match the number of classes ({V},)")
    if V > 1 and weight.strides[0] != 1:
        raise ValueError(f"{fn}: weight must be contiguous, got strides {tuple(weight.strides)}")


def _check_vec_out(name: str, buf, M: int) -> None:
    check_buffer(name, buf, ndim=1, dtypes=("float32",))
    if tuple(buf.shape) != (M,):
        raise ValueError(f"{name}: expected shape ({M},), got {tuple(buf.shape)}")
    if M > 1 and buf.strides[0] != 1:
        raise ValueError(f"{name}: must be contiguous, got strides {tuple(buf.strides)}")


def _check_smoothing(fn: str, label_smoothing: float) -> float:
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    return eps


def _meta(M: int, V: int, dtype, config):
    cfg = config or config_for("cross_entropy", {"M": M, "V": V, "dtype": str(dtype)})
    return launch_options(cfg)


def cross_entropy(logits, target, ignore_index: int = -100, label_smoothing: float = 0.0, weight=None,
                  loss_out=None, lse_out=None, row_weight_out=None, config: dict | None = None):
    """Per-row cross-entropy of ``logits`` against class indices ``target``.

    Args:
        logits: (N, V) float32/float16/bfloat16; rows may be strided, classes contiguous.
        target: (N,) int64 (or int32) class indices; rows equal to ``ignore_index`` give 0.
        label_smoothing: eps in [0, 1], PyTorch's definition.
        weight: optional (V,) class weights.
    Returns:
        (loss_rows, lse, row_weight), all (N,) float32: the per-row loss (reduction='none'),
        the per-row log-sum-exp saved for backward, and w[target] (1 without weights, 0 on
        ignored rows): reduction='mean' is sum(loss_rows) / sum(row_weight).
    Out-of-range targets read no memory, give NaN and raise ``fn``'s device-side error at the
    next synchronisation.
    """
    fn = "cross_entropy"
    M, V = _check_rows(f"{fn}: logits", logits)
    _check_target(fn, target, M)
    _check_weight(fn, weight, V)
    eps = _check_smoothing(fn, label_smoothing)
    outs = []
    for name, buf in (("loss_out", loss_out), ("lse_out", lse_out), ("row_weight_out", row_weight_out)):
        buf = logits.new((M,), F32) if buf is None else buf
        _check_vec_out(f"{fn}: {name}", buf, M)
        outs.append(buf)
    if M == 0:
        return tuple(outs)
    if V == 0:
        raise ValueError(f"{fn}: logits have no classes (shape {tuple(logits.shape)})")
    meta, opts = _meta(M, V, logits.dtype, config)
    grid = (triton.cdiv(M, meta["BLOCK_M"]),)
    err, code = error_word(fn, logits)
    _ce_fwd_kernel[grid](logits, target, weight if weight is not None else logits, *outs, err, code,
                         M, V, int(ignore_index), eps, logits.strides[0], target.strides[0],
                         BLOCK_M=meta["BLOCK_M"], BLOCK_V=meta["BLOCK_V"],
                         HAS_WEIGHT=weight is not None, SMOOTH=eps > 0.0, **opts)
    return tuple(outs)


def cross_entropy_backward(grad_rows, logits, target, lse, ignore_index: int = -100,
                           label_smoothing: float = 0.0, weight=None, out=None, config: dict | None = None):
    """d loss / d logits = grad_row * ((softmax - smoothed one-hot) scaled by the class weights).

    Args:
        grad_rows: (N,) float upstream gradient per row (any stride; stride 0 broadcasts one
            value, e.g. 1 / sum(row_weight) for reduction='mean').
        lse: (N,) float32 from :func:`cross_entropy`.
        out: optional (N, V) buffer of the logits' dtype (may be strided by rows).
    Returns:
        dlogits: (N, V) in the logits' dtype; zero on ignored rows.
    """
    fn = "cross_entropy_backward"
    M, V = _check_rows(f"{fn}: logits", logits)
    _check_target(fn, target, M)
    _check_weight(fn, weight, V)
    eps = _check_smoothing(fn, label_smoothing)
    check_buffer(f"{fn}: grad_rows", grad_rows, ndim=1, dtypes=FLOATS)
    if tuple(grad_rows.shape) != (M,):
        raise ValueError(f"{fn}: grad_rows shape {tuple(grad_rows.shape)} does not match logits rows ({M},)")
    check_buffer(f"{fn}: lse", lse, ndim=1, dtypes=("float32",))
    if tuple(lse.shape) != (M,) or (M > 1 and lse.strides[0] != 1):
        raise ValueError(f"{fn}: lse must be a contiguous ({M},) float32 buffer, got shape {tuple(lse.shape)}")
    if out is None:
        out = logits.new((M, V), logits.dtype)
    if _check_rows(f"{fn}: out", out) != (M, V) or str(out.dtype) != str(logits.dtype):
        raise ValueError(f"{fn}: out must be ({M}, {V}) {logits.dtype}, got {tuple(out.shape)} {out.dtype}")
    if M == 0 or V == 0:
        return out
    meta, opts = _meta(M, V, logits.dtype, config)
    grid = (triton.cdiv(M, meta["BLOCK_M"]),)
    _ce_bwd_kernel[grid](out, grad_rows, logits, target, weight if weight is not None else logits, lse,
                         M, V, int(ignore_index), eps, out.strides[0], grad_rows.strides[0],
                         logits.strides[0], target.strides[0],
                         BLOCK_M=meta["BLOCK_M"], BLOCK_V=meta["BLOCK_V"],
                         HAS_WEIGHT=weight is not None, SMOOTH=eps > 0.0, **opts)
    return out


# ---------------------------------------------------------------------------------------
# heuristic and registry

MAX_BLOCK_V = 4096     # chunk of the online log-sum-exp: 4096 fp32 = 16 KiB of registers per row
INTERPRET_TILE = 1 << 16

CROSS_ENTROPY_CONFIGS = [
    dict(BLOCK_M=bm, BLOCK_V=bv, num_warps=w, num_stages=1)
    for bv, bm, w in [
        (128, 16, 4), (256, 8, 4), (512, 4, 4), (1024, 2, 4), (1024, 1, 4), (2048, 1, 4),
        (2048, 1, 8), (4096, 1, 8), (4096, 1, 16), (8192, 1, 16),
    ]
]


def cross_entropy_heuristic(problem: dict) -> dict:
    """One row per program for big vocabularies (4096-class chunks), several for small ones."""
    V = max(int(problem["V"]), 1)
    bv = min(triton.next_power_of_2(V), MAX_BLOCK_V)
    if interpret():
        bv = min(triton.next_power_of_2(V), INTERPRET_TILE)
        bm = max(1, min(triton.next_power_of_2(max(int(problem["M"]), 1)), INTERPRET_TILE // bv))
        return dict(BLOCK_M=bm, BLOCK_V=bv, num_warps=4, num_stages=1)
    bm = max(1, min(16, 2048 // bv))
    return dict(BLOCK_M=bm, BLOCK_V=bv, num_warps=4 if bv * bm <= 2048 else 8, num_stages=1)


def make_cross_entropy_problem(problem: dict, new_buffer):
    """run(config): forward + backward on random logits and targets drawn in [0, V) (raw bits
    would be out of range: NaN rows and a device-side error left for the user's next sync)."""
    from blaze.kernels.random import randint_
    M, V, dtype = int(problem["M"]), int(problem["V"]), problem["dtype"]
    logits, target, grad = new_buffer((M, V), dtype), new_buffer((M,), "int64"), new_buffer((M,), "float32")
    randint_(target, 0, V, seed=0)
    dlogits = logits.new((M, V), logits.dtype)
    smoothing = float(problem.get("label_smoothing", 0.0))

    def run(config):
        _, lse, _ = cross_entropy(logits, target, label_smoothing=smoothing, config=config)
        cross_entropy_backward(grad, logits, target, lse, label_smoothing=smoothing, out=dlogits, config=config)
    return run


CROSS_ENTROPY = register(Tunable(
    name="cross_entropy",
    configs=CROSS_ENTROPY_CONFIGS,
    heuristic=cross_entropy_heuristic,
    make_problem=make_cross_entropy_problem,
    doc="fused log-softmax + NLL over (N, V) logits, forward + backward",
    problem_keys=("M", "V", "dtype"),
))
